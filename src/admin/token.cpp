// admin/token.cpp — load or create the admin bearer token (see token.hpp).
#include "admin/token.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mf::admin {

namespace {

constexpr std::size_t kMinTokenLength = 16;
constexpr std::size_t kMaxTokenLength = 4096;

std::string errno_text(int err) { return std::strerror(err); }

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Closes a file descriptor at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<std::string> check_contents(const std::string& path, std::string text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && blank(text.back())) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && blank(text[start])) ++start;
  text.erase(0, start);
  if (text.size() < kMinTokenLength || text.size() > kMaxTokenLength)
    return make_error("admin token file " + path + ": the token must be 16 to 4096 characters long");
  for (char c : text) {
    if (c < 0x21 || c > 0x7e)
      return make_error("admin token file " + path + ": the token must be visible ASCII without spaces");
  }
  return text;
}

// Reads an open file whole (the token is small: at most kMaxTokenLength plus some whitespace).
Result<std::string> read_all(int fd, const std::string& path) {
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot read admin token file " + path + ": " + errno_text(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 2 * kMaxTokenLength) return make_error("admin token file " + path + " is too large");
  }
  return text;
}

std::string new_token() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Creates `path` with a fresh token. Returns the token, or "" when the file appeared meanwhile
// (EEXIST: the caller reads that one), or an error.
Result<std::string> create_token_file(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return make_error("cannot create the folder of admin token file " + path + ": " + ec.message());
  }
  const std::string token = new_token();
  if (token.empty()) return make_error("cannot create admin token file " + path + ": RAND_bytes failed");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed start with the same pid
  Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (out.fd < 0) return make_error("cannot create admin token file " + tmp + ": " + errno_text(errno));
  const std::string text = token + "\n";
  const bool written = ::fchmod(out.fd, 0600) == 0 &&
                       ::write(out.fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(out.fd) == 0;
  const int err = errno;
  if (!written) {
    ::unlink(tmp.c_str());
    return make_error("cannot write admin token file " + tmp + ": " + errno_text(err));
  }
  // link(2) publishes the complete file under its name and fails if the name exists.
  const int rc = ::link(tmp.c_str(), path.c_str());
  const int link_err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (link_err == EEXIST) return std::string{};
    return make_error("cannot create admin token file " + path + ": " + errno_text(link_err));
  }
  if (p.has_parent_path()) {
    Fd dir{::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir.fd >= 0) ::fsync(dir.fd);
  }
  return token;
}

Result<std::string> open_and_read(const std::string& path, bool check_mode, int& open_errno) {
  Fd in{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  open_errno = in.fd < 0 ? errno : 0;
  if (in.fd < 0) return make_error("cannot open admin token file " + path + ": " + errno_text(open_errno));
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) return make_error("cannot stat admin token file " + path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return make_error("admin token file " + path + " is not a regular file");
  if (check_mode && (st.st_mode & 0027) != 0) {
    return make_error("admin token file " + path + " has mode " + mode_text(st.st_mode) +
                      ": others may read it or its group may write it; run `chmod 600 " + path + "`");
  }
  auto text = read_all(in.fd, path);
  if (!text) return text.error();
  return check_contents(path, std::move(*text));
}

}  // namespace

Result<std::string> load_or_create_token(const std::string& path) {
  if (path.empty()) return make_error("no admin token file configured (service.admin.token_file)");
  for (int attempt = 0; attempt < 2; ++attempt) {
    int open_errno = 0;
    auto token = open_and_read(path, true, open_errno);
    if (token || open_errno != ENOENT) return token;
    auto created = create_token_file(path);
    if (!created) return created.error();
    if (!created->empty()) return created;
    // Another process created it between our open and link: read theirs.
  }
  return make_error("cannot create admin token file " + path);
}

Result<std::string> read_token(const std::string& path) {
  int open_errno = 0;
  return open_and_read(path, false, open_errno);
}

bool token_equal(std::string_view presented, std::string_view expected) {
  unsigned char a[SHA256_DIGEST_LENGTH];
  unsigned char b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

}  // namespace mf::admin
