// Tests for src/config/recipients.cpp: `recipients_file:` in YAML and CSV form — loading,
// indexing, and errors that carry the recipients file's own name, line and column.
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::config {
namespace {

using testing::has_error;
using testing::TempDir;

// The main config: line 7 is `recipients_file:`, the inline recipient is on line 9.
std::string main_config(const std::string& recipients_file) {
  return std::string(testing::kOrgs) +
         "  - name: contoso\n"                                          // 5
         "    accepted_domains: [{domain: contoso.com}]\n"              // 6
         "    recipients_file: " + recipients_file + "\n" +             // 7
         "    recipients:\n"                                            // 8
         "      - {address: inline@contoso.com}\n";                     // 9
}

TEST(RecipientsFile, Yaml) {
  TempDir dir;
  dir.write("dir/people.yaml",
            "- {address: alice@contoso.com, proxy_addresses: [a@contoso.com], password_hash: \"$y$j9T$abc$def\"}\n"
            "- type: mail_user\n"
            "  address: bob@contoso.com\n"
            "  target_address: bob@onprem.contoso.com\n"
            "- {type: group, address: team@contoso.com, members: [alice@contoso.com, bob@contoso.com]}\n");
  auto r = load_file(dir.write("mailflow.yaml", main_config("dir/people.yaml")));
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Organization& o = r.snapshot->organizations[0];
  ASSERT_EQ(o.recipients.size(), 4u);
  EXPECT_EQ(o.recipients[0].address.str(), "inline@contoso.com");  // inline ones first
  EXPECT_EQ(o.recipients[1].address.str(), "alice@contoso.com");
  EXPECT_EQ(o.recipients[1].password_hash, "$y$j9T$abc$def");
  EXPECT_EQ(o.recipients[2].type, RecipientType::mail_user);
  EXPECT_EQ(o.recipients[2].target_address->str(), "bob@onprem.contoso.com");
  EXPECT_EQ(o.recipients[3].members.size(), 2u);
  std::size_t org = 9;
  const Recipient* alice = r.snapshot->find_recipient(*Address::parse("A@Contoso.com"), &org);
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(org, 0u);
  EXPECT_EQ(alice->address.str(), "alice@contoso.com");
}

TEST(RecipientsFile, YamlErrorsCarryThatFilesNameAndLine) {
  TempDir dir;
  const std::string people = dir.write("people.yaml",
                                       "- {address: alice@contoso.com}\n"
                                       "- {address: INLINE@contoso.com}\n"
                                       "- {type: mail_contact, address: c@contoso.com}\n"
                                       "- {address: alice@contoso.com, colour: red}\n");
  const std::string main = dir.write("mailflow.yaml", main_config("people.yaml"));
  auto r = load_file(main);
  ASSERT_EQ(r.errors.size(), 4u) << testing::dump(r);
  for (const auto& e : r.errors) EXPECT_EQ(e.file, people) << e.str();
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[1].address", 2,
                        "address 'INLINE@contoso.com' is already used by organizations[0].recipients[0] (line 9)"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[2].target_address", 3, "needs 'target_address'"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[3].colour", 4, "unknown key 'colour'"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[3].address", 4,
                        "already used by organizations[0].recipients_file[0] (" + people + ":1)"));
}

TEST(RecipientsFile, YamlSyntaxAndShapeErrors) {
  TempDir dir;
  const std::string broken = dir.write("broken.yaml", "- {address: a@contoso.com\n- x\n");
  auto r = load_file(dir.write("a.yaml", main_config("broken.yaml")));
  ASSERT_EQ(r.errors.size(), 1u) << testing::dump(r);
  EXPECT_EQ(r.errors[0].file, broken);
  EXPECT_GT(r.errors[0].line, 0);

  const std::string map = dir.write("map.yaml", "address: a@contoso.com\n");
  auto m = load_file(dir.write("b.yaml", main_config("map.yaml")));
  EXPECT_TRUE(has_error(m, "organizations[0].recipients_file", 1, "expected a list of recipients, got a mapping"));
  EXPECT_EQ(m.errors[0].file, map);

  auto missing = load_file(dir.write("c.yaml", main_config("nope.yaml")));
  EXPECT_TRUE(has_error(missing, "organizations[0].recipients_file", 7,
                        "cannot read recipients file '" + dir.file("nope.yaml") + "': no such file"));
  EXPECT_EQ(missing.errors[0].file, dir.file("c.yaml"));

  auto empty = load_file(dir.write("d.yaml", main_config(dir.write("empty.yaml", "# nobody yet\n"))));
  EXPECT_TRUE(empty.ok()) << testing::dump(empty);  // absolute path, empty list
}

TEST(RecipientsFile, Csv) {
  TempDir dir;
  dir.write("people.CSV",
            "\xEF\xBB\xBFtype,address,proxy_addresses,target_address,members,password_hash\r\n"
            "# comment lines and blank lines are skipped\r\n"
            "\r\n"
            "mailbox,alice@contoso.com,a@contoso.com; al@contoso.com,,,$6$salt$hash\r\n"
            ",carol@contoso.com,,,,\r\n"
            "mail_user,bob@contoso.com,,bob@onprem.contoso.com,,\r\n"
            "group,team@contoso.com,,,alice@contoso.com;bob@contoso.com,\r\n"
            "mailbox,\"\"\"odd,name\"\"@contoso.com\",,,,\r\n");
  auto r = load_file(dir.write("mailflow.yaml", main_config("people.CSV")));
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const auto& rs = r.snapshot->organizations[0].recipients;
  ASSERT_EQ(rs.size(), 6u);
  EXPECT_EQ(rs[1].address.str(), "alice@contoso.com");
  ASSERT_EQ(rs[1].proxy_addresses.size(), 2u);
  EXPECT_EQ(rs[1].proxy_addresses[1].str(), "al@contoso.com");
  EXPECT_EQ(rs[1].password_hash, "$6$salt$hash");
  EXPECT_EQ(rs[2].type, RecipientType::mailbox);  // empty type cell: the default
  EXPECT_EQ(rs[3].type, RecipientType::mail_user);
  EXPECT_EQ(rs[3].target_address->str(), "bob@onprem.contoso.com");
  EXPECT_EQ(rs[4].type, RecipientType::group);
  ASSERT_EQ(rs[4].members.size(), 2u);
  EXPECT_EQ(rs[4].members[1].str(), "bob@contoso.com");
  EXPECT_EQ(rs[5].address.local(), "\"odd,name\"");  // a quoted cell holding a quoted local part
  EXPECT_NE(r.snapshot->find_recipient(*Address::parse("AL@contoso.com")), nullptr);
}

TEST(RecipientsFile, CsvColumnsInAnyOrder) {
  TempDir dir;
  dir.write("p.csv", "address,type,target_address\nx@contoso.com,mail_contact,x@elsewhere.example\n");
  auto r = load_file(dir.write("mailflow.yaml", main_config("p.csv")));
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->organizations[0].recipients[1].type, RecipientType::mail_contact);
}

TEST(RecipientsFile, CsvErrorsCarryThatFilesNameLineAndColumn) {
  TempDir dir;
  const std::string csv = dir.write("p.csv",
                                    "type,address,proxy_addresses,target_address,members,password_hash\n"
                                    "mailbox,alice@contoso.com,,,,\n"
                                    "mailbox,not-an-address,,,,\n"          // line 3
                                    "mailbox,b@contoso.com,ok@contoso.com;bad@,,,\n"  // line 4
                                    "robot,r@contoso.com,,,,\n"             // line 5
                                    "mailbox,c@contoso.com\n"              // line 6
                                    "mailbox,inline@contoso.com,,,,\n"     // line 7
                                    "group,g@contoso.com,,,,\n"            // line 8
                                    "mailbox,\"q@contoso.com,,,,\n");      // line 9
  auto r = load_file(dir.write("mailflow.yaml", main_config("p.csv")));
  ASSERT_EQ(r.errors.size(), 7u) << testing::dump(r);
  for (const auto& e : r.errors) EXPECT_EQ(e.file, csv);
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[1].address", 3, "invalid address 'not-an-address'"));
  EXPECT_EQ(r.errors[0].column, 9);
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[2].proxy_addresses[1]", 4, "invalid address 'bad@'"));
  EXPECT_EQ(r.errors[1].column, 38);
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[3].type", 5, "unknown value 'robot'"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[4]", 6, "expected 6 fields, got 2"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[5].address", 7,
                        "already used by organizations[0].recipients[0] (line 9)"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[6].members", 8, "a group needs at least one member"));
  EXPECT_TRUE(has_error(r, "organizations[0].recipients_file[7]", 9, "malformed quoted field"));
}

TEST(RecipientsFile, CsvHeaderErrors) {
  TempDir dir;
  struct Case {
    const char* csv;
    int column;
    const char* message;
  };
  const Case cases[] = {
      {"type,adress\n", 6, "unknown column 'adress' (did you mean 'address'?)"},
      {"type,members\n", 1, "the header line needs an 'address' column"},
      {"address,type,address\n", 14, "duplicate column 'address'"},
      {"\n# nothing\n", 1, "empty CSV file"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string name = "h" + std::to_string(n++) + ".csv";
    const std::string csv = dir.write(name, c.csv);
    auto r = load_file(dir.write("m.yaml", main_config(name)));
    ASSERT_FALSE(r.ok()) << c.csv;
    bool found = false;
    for (const auto& e : r.errors) {
      found = found || (e.file == csv && e.key_path == "organizations[0].recipients_file" && e.column == c.column &&
                        e.message.find(c.message) != std::string::npos);
    }
    EXPECT_TRUE(found) << c.csv << "\n" << testing::dump(r);
  }
}

}  // namespace
}  // namespace mf::config
