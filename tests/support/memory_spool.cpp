#include "support/memory_spool.hpp"

namespace mf::test {

namespace asio = boost::asio;

asio::awaitable<Result<void>> MemorySpool::commit(spool::StoredMessage msg) {
  if (msg.id.empty()) co_return make_error("invalid message id");
  if (msg.envelope.recipients.empty()) co_return make_error("message without recipients");
  std::lock_guard lock(mutex_);
  if (messages_.count(msg.id) != 0) co_return make_error("duplicate message id " + msg.id);
  const std::size_t n = msg.envelope.recipients.size();
  std::string id = msg.id;
  messages_.emplace(std::move(id), Stored{std::move(msg), std::vector<bool>(n, false), {}});
  ++commits_;
  co_return Result<void>{};
}

asio::awaitable<Result<void>> MemorySpool::mark_done(std::string id, std::vector<std::size_t> indexes,
                                                     std::string reason) {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(id);
  if (it == messages_.end()) co_return make_error("no such message in the spool: " + id);
  for (std::size_t index : indexes) {
    if (index >= it->second.done.size()) {
      co_return make_error("recipient index " + std::to_string(index) + " out of range for message " + id);
    }
  }
  for (std::size_t index : indexes) {
    it->second.done[index] = true;
    it->second.reasons[index] = reason;
  }
  ++marks_;
  co_return Result<void>{};
}

asio::awaitable<Result<void>> MemorySpool::remove(std::string id) {
  std::lock_guard lock(mutex_);
  if (messages_.erase(id) != 0) ++removes_;
  co_return Result<void>{};
}

Result<std::string> MemorySpool::load_data(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(id);
  if (it == messages_.end()) return make_error("no such message in the spool: " + id);
  return it->second.msg.data;
}

Result<spool::RecoveryReport> MemorySpool::recover() {
  std::lock_guard lock(mutex_);
  spool::RecoveryReport report;
  for (const auto& [id, stored] : messages_) {
    spool::SpoolEntry entry;
    entry.id = id;
    entry.envelope = stored.msg.envelope;
    entry.connection = stored.msg.connection;
    entry.received_at = stored.msg.received_at;
    entry.size = stored.msg.data.size();
    entry.done = stored.done;
    report.entries.push_back(std::move(entry));
  }
  return report;
}

std::uint64_t MemorySpool::free_bytes() const {
  std::lock_guard lock(mutex_);
  return free_bytes_;
}

void MemorySpool::set_free_bytes(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  free_bytes_ = bytes;
}

std::size_t MemorySpool::size() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

bool MemorySpool::contains(const std::string& id) const {
  std::lock_guard lock(mutex_);
  return messages_.count(id) != 0;
}

std::optional<spool::StoredMessage> MemorySpool::message(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(id);
  if (it == messages_.end()) return std::nullopt;
  return it->second.msg;
}

std::optional<std::vector<bool>> MemorySpool::done(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(id);
  if (it == messages_.end()) return std::nullopt;
  return it->second.done;
}

std::optional<std::string> MemorySpool::done_reason(const std::string& id, std::size_t index) const {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(id);
  if (it == messages_.end()) return std::nullopt;
  auto r = it->second.reasons.find(index);
  if (r == it->second.reasons.end()) return std::nullopt;
  return r->second;
}

std::size_t MemorySpool::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::size_t MemorySpool::marks() const {
  std::lock_guard lock(mutex_);
  return marks_;
}

std::size_t MemorySpool::removes() const {
  std::lock_guard lock(mutex_);
  return removes_;
}

}  // namespace mf::test
