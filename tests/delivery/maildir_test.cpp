// Tests for delivery/maildir.hpp: the tree and file layout, unique names, path-escape attempts from
// hostile local parts and organization names, and write failures that must leave nothing in new/.
#include "delivery/maildir.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>

namespace mf::delivery {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

Address addr(std::string_view text) { return Address::parse(text, /*allow_utf8=*/true).value(); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::size_t count_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// Every entry below `store` resolves (symlinks included) to a path inside it.
void expect_all_inside(const fs::path& store) {
  const std::string root = fs::canonical(store).string() + "/";
  for (const auto& e : fs::recursive_directory_iterator(store)) {
    const std::string p = fs::weakly_canonical(e.path()).string();
    EXPECT_EQ(p.rfind(root, 0), 0u) << "outside the store: " << p;
  }
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(MaildirTest, DeliveryCreatesTheTreeAndAFileInNew) {
  TempDir tmp;
  const fs::path store = tmp.path() / "store" / "mailboxes";  // missing levels are created
  MaildirTarget target{store.string(), "contoso", addr("John.Doe@Contoso.COM")};
  const std::string message = "Received: from a\r\nSubject: test\r\n\r\nline 1\r\n.dot\r\n\x01\xfe binary\r\n";
  auto path = deliver_to_maildir(target, "sender@example.net", "john.doe@contoso.com", message);
  ASSERT_TRUE(path) << path.error().message;

  const fs::path box = store / "contoso" / "john.doe@contoso.com";
  for (const char* sub : {"tmp", "new", "cur"}) {
    EXPECT_TRUE(fs::is_directory(box / sub)) << sub;
    EXPECT_EQ(mode_of(box / sub), 0700u) << sub;
  }
  EXPECT_EQ(mode_of(box), 0700u);
  EXPECT_EQ(mode_of(store / "contoso"), 0700u);
  EXPECT_EQ(fs::path(*path).parent_path(), box / "new");
  EXPECT_EQ(count_files(box / "new"), 1u);
  EXPECT_EQ(count_files(box / "tmp"), 0u);
  EXPECT_EQ(count_files(box / "cur"), 0u);
  EXPECT_EQ(mode_of(*path), 0600u);
  EXPECT_EQ(read_file(*path),
            "Return-Path: <sender@example.net>\r\nDelivered-To: john.doe@contoso.com\r\n" + message);

  // The directory helper names the same place, with no I/O.
  EXPECT_EQ(maildir_directory(target).value(), box.string());
}

TEST(MaildirTest, NullSenderAndHeaderInjectionAttempts) {
  TempDir tmp;
  MaildirTarget target{tmp.path().string(), "org", addr("a@example.com")};
  auto null_sender = deliver_to_maildir(target, "", "a@example.com", "body\r\n");
  ASSERT_TRUE(null_sender);
  EXPECT_EQ(read_file(*null_sender), "Return-Path: <>\r\nDelivered-To: a@example.com\r\nbody\r\n");
  // Control characters never reach the header block (they cannot start a new header line).
  auto injected = deliver_to_maildir(target, "x@y\r\nBcc: evil@example.net", "a@example.com\n\0X", "b\r\n");
  ASSERT_TRUE(injected);
  EXPECT_EQ(read_file(*injected), "Return-Path: <x@yBcc: evil@example.net>\r\nDelivered-To: a@example.com\r\nb\r\n");
}

TEST(MaildirTest, NamesAreUniqueAcrossAThousandDeliveries) {
  TempDir tmp;
  MaildirTarget target{tmp.path().string(), "org", addr("many@example.com")};
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    auto path = deliver_to_maildir(target, "s@example.com", "many@example.com", "n=" + std::to_string(i) + "\r\n");
    ASSERT_TRUE(path) << path.error().message;
    const std::string name = fs::path(*path).filename().string();
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    // "<sec>.M<usec>P<pid>Q<counter>.<host>"; no '/' or ':' in a name.
    EXPECT_NE(name.find(".M"), std::string::npos) << name;
    EXPECT_NE(name.find("P" + std::to_string(::getpid()) + "Q"), std::string::npos) << name;
    EXPECT_EQ(name.find(':'), std::string::npos) << name;
  }
  EXPECT_EQ(count_files(tmp.path() / "org" / "many@example.com" / "new"), 1000u);
  EXPECT_EQ(count_files(tmp.path() / "org" / "many@example.com" / "tmp"), 0u);
}

TEST(MaildirTest, ComponentEncodingTable) {
  struct Case {
    std::string raw;
    std::string encoded;
  };
  const Case cases[] = {
      {"john.doe@contoso.com", "john.doe@contoso.com"},
      {"a+b=c_d-e@x.example", "a+b=c_d-e@x.example"},
      {"../../etc", "%2E.%2F..%2Fetc"},
      {"a/b", "a%2Fb"},
      {".hidden", "%2Ehidden"},
      {"..", "%2E."},
      {".", "%2E"},
      {"Org", "%4Frg"},
      {"\"odd local\"", "%22odd%20local%22"},
      {"100%", "100%25"},  // '%' itself is escaped, so the encoding is one-to-one
      {std::string("a\0b", 3), "a%00b"},
      {"j\xC3\xB6ran", "j\xC3\xB6ran"},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(maildir_component(c.raw), c.encoded) << c.raw;
}

TEST(MaildirTest, HostileLocalPartsStayInsideTheStore) {  // security catalogue A21, A22, D02
  TempDir tmp;
  const fs::path store = tmp.path() / "store";
  fs::create_directories(store);
  struct Case {
    std::string address;    // as the client wrote it (Address::parse normalises the quoting)
    std::string directory;  // the mailbox directory it must land in
  };
  const Case cases[] = {
      {"\"../../etc\"@example.com", "%22..%2F..%2Fetc%22@example.com"},
      {"\"a/b\"@example.com", "a%2Fb@example.com"},  // "a/b" is a valid dot-string: quotes dropped
      {"a/b@example.com", "a%2Fb@example.com"},
      {"\".hidden\"@example.com", "%22.hidden%22@example.com"},
      {"\"..\"@example.com", "%22..%22@example.com"},
      {"\"x y\\\\z\\\"q\"@example.com", "%22x%20y%5C%5Cz%5C%22q%22@example.com"},
      {"x%victim.example@example.com", "x%25victim.example@example.com"},
      {"${run{/bin/true}}@example.com", "%24%7Brun%7B%2Fbin%2Ftrue%7D%7D@example.com"},
      {"Mixed.Case@EXAMPLE.com", "mixed.case@example.com"},
      {"j\xC3\xB6ran@example.com", "j\xC3\xB6ran@example.com"},
      {"user@[192.0.2.1]", "user@%5B192.0.2.1%5D"},
  };
  for (const auto& c : cases) {
    auto a = Address::parse(c.address, /*allow_utf8=*/true);
    ASSERT_TRUE(a) << c.address << ": " << a.error().message;
    MaildirTarget target{store.string(), "tenant", *a};
    auto path = deliver_to_maildir(target, "", a->str(), "x\r\n");
    ASSERT_TRUE(path) << c.address << ": " << path.error().message;
    const fs::path file(*path);
    EXPECT_EQ(file.parent_path().filename(), "new") << c.address;
    EXPECT_EQ(file.parent_path().parent_path(), store / "tenant" / c.directory) << c.address;
    EXPECT_TRUE(fs::is_regular_file(store / "tenant" / c.directory / "new" / file.filename())) << c.address;
  }
  // Organizations are escaped the same way.
  struct OrgCase {
    std::string org;
    std::string directory;
  };
  const OrgCase orgs[] = {{"../outside", "%2E.%2Foutside"}, {"/abs", "%2Fabs"}, {".", "%2E"}, {"..", "%2E."},
                          {"Contoso Ltd", "%43ontoso%20%4Ctd"}};
  for (const auto& c : orgs) {
    MaildirTarget target{store.string(), c.org, addr("o@example.com")};
    auto path = deliver_to_maildir(target, "", "o@example.com", "x\r\n");
    ASSERT_TRUE(path) << c.org << ": " << path.error().message;
    EXPECT_EQ(fs::path(*path).parent_path().parent_path(), store / c.directory / "o@example.com") << c.org;
  }
  expect_all_inside(store);
  // Nothing was created next to the store or above it.
  EXPECT_EQ(count_files(tmp.path()), 1u);
  EXPECT_FALSE(fs::exists(tmp.path() / "outside"));
  EXPECT_FALSE(fs::exists(tmp.path() / "etc"));
}

TEST(MaildirTest, EmptyComponentsAreRejected) {
  TempDir tmp;
  MaildirTarget target{tmp.path().string(), "", addr("a@example.com")};
  auto r = deliver_to_maildir(target, "", "a@example.com", "x\r\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("empty organization"), std::string::npos) << r.error().message;
  EXPECT_FALSE(maildir_directory(target));
  MaildirTarget no_root{"", "org", addr("a@example.com")};
  EXPECT_FALSE(deliver_to_maildir(no_root, "", "a@example.com", "x\r\n"));
  MaildirTarget too_long{tmp.path().string(), std::string(100, '/'), addr("a@example.com")};  // 300 octets escaped
  auto long_result = deliver_to_maildir(too_long, "", "a@example.com", "x\r\n");
  ASSERT_FALSE(long_result);
  EXPECT_NE(long_result.error().message.find("too long"), std::string::npos);
  EXPECT_EQ(count_files(tmp.path()), 0u);
}

TEST(MaildirTest, AFileWhereADirectoryIsExpectedFailsCleanly) {  // security catalogue F08
  // Tests run as root, so permissions do not stop writes: a regular file in the way does.
  struct Case {
    const char* name;
    const char* blocker;  // relative to the mailbox directory ("" = the mailbox itself)
  };
  const Case cases[] = {{"mailbox", ""}, {"tmp", "tmp"}, {"new", "new"}, {"cur", "cur"}};
  for (const auto& c : cases) {
    TempDir tmp;
    MaildirTarget target{tmp.path().string(), "org", addr("blocked@example.com")};
    const fs::path box = tmp.path() / "org" / "blocked@example.com";
    fs::create_directories(std::string(c.blocker).empty() ? box.parent_path() : box);
    std::ofstream(std::string(c.blocker).empty() ? box : box / c.blocker) << "not a directory";
    auto r = deliver_to_maildir(target, "", "blocked@example.com", "x\r\n");
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find("Not a directory"), std::string::npos) << c.name << ": " << r.error().message;
    if (fs::is_directory(box / "new")) {
      EXPECT_EQ(count_files(box / "new"), 0u) << c.name;
    }
    if (fs::is_directory(box / "tmp")) {
      EXPECT_EQ(count_files(box / "tmp"), 0u) << c.name;
    }
  }
}

TEST(MaildirTest, SymlinkedDirectoriesInsideTheStoreAreNotFollowed) {
  TempDir tmp;
  const fs::path store = tmp.path() / "store";
  const fs::path outside = tmp.path() / "outside";
  fs::create_directories(outside);
  struct Case {
    const char* name;
    fs::path link;  // replaced by a symlink to `outside`
  };
  const Case cases[] = {{"organization", store / "org"},
                        {"mailbox", store / "org2" / "s@example.com"},
                        {"new", store / "org3" / "s@example.com" / "new"}};
  const char* orgs[] = {"org", "org2", "org3"};
  for (std::size_t i = 0; i < 3; ++i) {
    fs::create_directories(cases[i].link.parent_path());
    fs::create_directory_symlink(outside, cases[i].link);
    MaildirTarget target{store.string(), orgs[i], addr("s@example.com")};
    auto r = deliver_to_maildir(target, "", "s@example.com", "x\r\n");
    EXPECT_FALSE(r) << cases[i].name;
    EXPECT_EQ(count_files(outside), 0u) << cases[i].name;  // nothing created through the link
  }
}

// A write that fails half-way (EFBIG from a file-size limit, like ENOSPC from a full disk) returns an
// error, removes the tmp file and leaves nothing in new/ (security catalogue F05, F06).
TEST(MaildirTest, AShortWriteFailureLeavesNoFileBehind) {
  TempDir tmp;
  MaildirTarget target{tmp.path().string(), "org", addr("big@example.com")};
  const fs::path box = tmp.path() / "org" / "big@example.com";
  ASSERT_TRUE(deliver_to_maildir(target, "", "big@example.com", "small\r\n"));  // tree exists now
  ASSERT_EQ(count_files(box / "new"), 1u);

  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of a signal
  struct rlimit small = old;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = deliver_to_maildir(target, "", "big@example.com", std::string(5000, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("write"), std::string::npos) << r.error().message;
  EXPECT_EQ(count_files(box / "tmp"), 0u);
  EXPECT_EQ(count_files(box / "new"), 1u);  // only the earlier delivery
}

}  // namespace
}  // namespace mf::delivery
