// tests/support/memory_spool.hpp — an in-memory spool::Spool for unit tests of other modules.
//
// Same observable contract as the RocksDB spool (commit/mark_done/remove/recover/load_data), minus
// durability: everything lives in a map guarded by a mutex, so it is thread-safe, and every
// awaitable completes at once on the awaiting coroutine's executor. Validation mirrors RocksSpool:
// empty id or no recipients → error on commit, unknown id or an out-of-range index → error on
// mark_done; remove of an unknown id succeeds (idempotent). Test helpers let a test look inside
// and set the free space reported to the 452 check.
#pragma once

#include "spool/spool.hpp"

#include <map>
#include <mutex>
#include <optional>

namespace mf::test {

class MemorySpool : public spool::Spool {
 public:
  boost::asio::awaitable<Result<void>> commit(spool::StoredMessage msg) override;
  boost::asio::awaitable<Result<void>> mark_done(std::string id, std::vector<std::size_t> indexes,
                                                 std::string reason) override;
  boost::asio::awaitable<Result<void>> remove(std::string id) override;
  Result<std::string> load_data(const std::string& id) override;
  Result<spool::RecoveryReport> recover() override;
  std::uint64_t free_bytes() const override;

  // Test helpers.
  void set_free_bytes(std::uint64_t bytes);
  std::size_t size() const;                                // messages stored
  bool contains(const std::string& id) const;
  std::optional<spool::StoredMessage> message(const std::string& id) const;
  std::optional<std::vector<bool>> done(const std::string& id) const;
  std::optional<std::string> done_reason(const std::string& id, std::size_t index) const;
  std::size_t commits() const;  // successful commit() calls so far
  std::size_t marks() const;    // successful mark_done() calls so far
  std::size_t removes() const;  // successful remove() calls of an existing message so far

 private:
  struct Stored {
    spool::StoredMessage msg;
    std::vector<bool> done;
    std::map<std::size_t, std::string> reasons;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Stored> messages_;  // GUARDED_BY(mutex_), ordered by id like the real spool
  std::uint64_t free_bytes_ = std::uint64_t{1} << 40;
  std::size_t commits_ = 0;
  std::size_t marks_ = 0;
  std::size_t removes_ = 0;
};

}  // namespace mf::test
