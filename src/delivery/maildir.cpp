#include "delivery/maildir.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <atomic>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

namespace mf::delivery {

namespace {

constexpr std::size_t kMaxComponent = 255;  // NAME_MAX on Linux file systems

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  // Closes and reports the result (after fsync a failing close still means a failed write: NFS).
  int close() {
    int fd = fd_;
    fd_ = -1;
    return fd < 0 ? 0 : ::close(fd);  // never retried on EINTR: Linux has released the fd
  }

 private:
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

Error errno_error(const std::string& what, int err) { return make_error("maildir: " + what + ": " + std::strerror(err)); }

bool allowed(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' || c == '=' ||
         c == '-' || c == '@' || c >= 0x80;  // bytes of UTF-8 characters (SMTPUTF8 mailboxes)
}

int fsync_retry(int fd) {
  int r;
  do {
    r = ::fsync(fd);
  } while (r != 0 && errno == EINTR);
  return r;
}

// Writes all of `data`, across EINTR and short writes.
Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", errno);
    }
    if (n == 0) return errno_error("write", EIO);  // no progress: do not spin
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Opens directory `name` below `parent` (creating it 0700 when missing). `created` is set when
// this call made it; `follow` allows a symlink (only for the configured store root).
Result<Fd> open_dir(int parent, const std::string& name, const std::string& shown, bool& created, bool follow = false) {
  created = false;
  if (::mkdirat(parent, name.c_str(), 0700) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    return errno_error("cannot create " + shown, errno);
  }
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  int fd;
  do {
    fd = ::openat(parent, name.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error("cannot open directory " + shown, errno);
  return Fd(fd);
}

// Opens (creating as needed, like mkdir -p, mode 0700) the store root.
Result<Fd> open_store_root(const std::string& root) {
  if (root.empty()) return make_error("maildir: the mailbox store path is empty");
  // Create every missing level; the ones that exist (possibly symlinks set up by the admin) are
  // simply passed.
  for (std::size_t pos = root.find('/', 1); ; pos = root.find('/', pos + 1)) {
    const std::string prefix = root.substr(0, pos);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return errno_error("cannot create " + prefix, errno);
    }
    if (pos == std::string::npos) break;
  }
  int fd;
  do {
    fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error("cannot open directory " + root, errno);
  return Fd(fd);
}

const std::string& host_part() {
  static const std::string host = [] {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return std::string("localhost");
    std::string out;
    for (const char* p = buf; *p; ++p) {  // Maildir convention: '/' and ':' are written as octal
      if (*p == '/') {
        out += "\\057";
      } else if (*p == ':') {
        out += "\\072";
      } else {
        out.push_back(*p);
      }
    }
    return out;
  }();
  return host;
}

std::string unique_name() {
  static std::atomic<std::uint64_t> counter{0};
  struct timeval tv {};
  ::gettimeofday(&tv, nullptr);
  return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" + std::to_string(::getpid()) + "Q" +
         std::to_string(counter.fetch_add(1) + 1) + "." + host_part();
}

// A header value: control characters (CR, LF, NUL, ...) cannot reach the file.
std::string header_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) out.push_back(c);
  }
  return out;
}

Result<std::string> checked_component(std::string_view raw, const char* what) {
  std::string c = maildir_component(raw);
  if (c.empty()) return make_error(std::string("maildir: empty ") + what);
  if (c.size() > kMaxComponent) return make_error(std::string("maildir: ") + what + " too long for a directory name");
  return c;
}

// Moves tmp/name to new/name without ever replacing an existing file.
int rename_noreplace(int from_dir, const std::string& name, int to_dir) {
  int r = ::renameat2(from_dir, name.c_str(), to_dir, name.c_str(), RENAME_NOREPLACE);
  if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {  // file system without RENAME_NOREPLACE
    if (::faccessat(to_dir, name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
      errno = EEXIST;
      return -1;
    }
    r = ::renameat(from_dir, name.c_str(), to_dir, name.c_str());
  }
  return r;
}

}  // namespace

std::string maildir_component(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (allowed(c) && !(i == 0 && c == '.')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::string> maildir_directory(const MaildirTarget& target) {
  auto org = checked_component(target.organization, "organization");
  if (!org) return org.error();
  auto box = checked_component(target.mailbox.key(), "mailbox");
  if (!box) return box.error();
  std::string root = target.store_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root + "/" + *org + "/" + *box;
}

Result<std::string> deliver_to_maildir(const MaildirTarget& target, std::string_view return_path,
                                       std::string_view delivered_to, std::string_view message) {
  auto org = checked_component(target.organization, "organization");
  if (!org) return org.error();
  auto box = checked_component(target.mailbox.key(), "mailbox");
  if (!box) return box.error();
  auto dir = maildir_directory(target);
  if (!dir) return dir.error();

  // Open (and create) the tree through directory descriptors; fsync the parent of anything created.
  auto root = open_store_root(target.store_root);
  if (!root) return root.error();
  bool created = false;
  auto org_fd = open_dir(root->get(), *org, *org, created);
  if (!org_fd) return org_fd.error();
  if (created && fsync_retry(root->get()) != 0) return errno_error("fsync " + target.store_root, errno);
  auto box_fd = open_dir(org_fd->get(), *box, *dir, created);
  if (!box_fd) return box_fd.error();
  if (created && fsync_retry(org_fd->get()) != 0) return errno_error("fsync of the organization directory", errno);
  bool any_created = false;
  Fd sub[3];
  const char* names[3] = {"tmp", "new", "cur"};
  for (int i = 0; i < 3; ++i) {
    auto fd = open_dir(box_fd->get(), names[i], *dir + "/" + names[i], created);
    if (!fd) return fd.error();
    any_created = any_created || created;
    sub[i] = std::move(*fd);
  }
  if (any_created && fsync_retry(box_fd->get()) != 0) return errno_error("fsync " + *dir, errno);
  const int tmp_dir = sub[0].get();
  const int new_dir = sub[1].get();

  // Create the file under a fresh unique name.
  std::string name;
  Fd file;
  for (int attempt = 0; attempt < 5 && file.get() < 0; ++attempt) {
    name = unique_name();
    int fd;
    do {
      fd = ::openat(tmp_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      file = Fd(fd);
    } else if (errno != EEXIST) {
      return errno_error("cannot create " + *dir + "/tmp/" + name, errno);
    }
  }
  if (file.get() < 0) return make_error("maildir: no unique file name in " + *dir + "/tmp");

  const std::string headers = "Return-Path: <" + header_value(return_path) + ">\r\nDelivered-To: " +
                              header_value(delivered_to) + "\r\n";
  auto fail = [&](Error e) -> Result<std::string> {
    file.close();
    ::unlinkat(tmp_dir, name.c_str(), 0);  // best effort: nothing half-written stays behind
    return e;
  };
  if (auto r = write_all(file.get(), headers); !r) return fail(r.error());
  if (auto r = write_all(file.get(), message); !r) return fail(r.error());
  if (fsync_retry(file.get()) != 0) return fail(errno_error("fsync of the message file", errno));
  if (file.close() != 0) return fail(errno_error("close of the message file", errno));

  // Publish: the complete, synced file appears in new/ atomically.
  if (rename_noreplace(tmp_dir, name, new_dir) != 0) return fail(errno_error("rename into " + *dir + "/new", errno));
  if (fsync_retry(new_dir) != 0) {
    const int err = errno;
    ::unlinkat(new_dir, name.c_str(), 0);  // not durable: report failure and let the caller retry
    return errno_error("fsync " + *dir + "/new", err);
  }
  return *dir + "/new/" + name;
}

}  // namespace mf::delivery
