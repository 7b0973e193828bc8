// server/held.cpp — see held.hpp.
#include "server/held.hpp"

#include "core/message_id.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace mf::server {

namespace {

Result<void> fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return make_error("cannot fsync " + path + ": " + std::strerror(err));
  return {};
}

}  // namespace

HeldMessages::HeldMessages(std::string directory, std::set<std::string> ids)
    : dir_(std::move(directory)), ids_(std::move(ids)) {}

Result<std::unique_ptr<HeldMessages>> HeldMessages::open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return make_error("cannot create " + directory + ": " + ec.message());
  std::set<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_valid_message_id(name)) ids.insert(name);
  }
  if (ec) return make_error("cannot read " + directory + ": " + ec.message());
  return std::unique_ptr<HeldMessages>(new HeldMessages(directory, std::move(ids)));
}

Result<void> HeldMessages::add(const std::string& id) {
  if (!is_valid_message_id(id)) return make_error("not a message id: " + id);
  std::lock_guard lock(mu_);
  if (ids_.contains(id)) return {};
  const std::string path = dir_ + "/" + id;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot create " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  Result<void> synced = rc == 0 ? fsync_path(dir_, O_RDONLY | O_DIRECTORY)
                                : Result<void>(make_error("cannot fsync " + path + ": " + std::strerror(err)));
  if (!synced) {
    ::unlink(path.c_str());  // not durable: leave no marker that would hold it after a restart
    return synced;
  }
  ids_.insert(id);
  return {};
}

Result<void> HeldMessages::remove(const std::string& id) {
  if (!is_valid_message_id(id)) return make_error("not a message id: " + id);
  std::lock_guard lock(mu_);
  const std::string path = dir_ + "/" + id;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error("cannot remove " + path + ": " + std::strerror(errno));
  }
  ids_.erase(id);
  return fsync_path(dir_, O_RDONLY | O_DIRECTORY);
}

void HeldMessages::retain(const std::set<std::string>& live) {
  for (const auto& id : ids()) {
    if (!live.contains(id)) (void)remove(id);
  }
}

bool HeldMessages::contains(const std::string& id) const {
  std::lock_guard lock(mu_);
  return ids_.contains(id);
}

std::vector<std::string> HeldMessages::ids() const {
  std::lock_guard lock(mu_);
  return {ids_.begin(), ids_.end()};
}

}  // namespace mf::server
