// tests/support/faulty_spool.hpp — a spool::Spool that forwards to another spool and fails on cue
// (security catalogue F05/F08: a disk that fails a write must give 451, never a 250).
//
// FaultPlan counts calls per kind, 1-based: `fail_commit = 3` fails the third commit() with
// `message` (the inner spool never sees it); with `sticky`, that call and every later one of the same
// kind fail (a disk that stays broken). 0 means never. Reads (load_data, recover) are forwarded
// unless `fail_load_data` / `fail_recover` is set; free_bytes() may be overridden. Thread-safe; the
// plan may be replaced at any time (counters keep running).
#pragma once

#include "spool/spool.hpp"

#include <memory>
#include <mutex>
#include <optional>

namespace mf::test {

struct FaultPlan {
  std::size_t fail_commit = 0;
  std::size_t fail_mark_done = 0;
  std::size_t fail_remove = 0;
  bool sticky = false;
  bool fail_load_data = false;
  bool fail_recover = false;
  std::optional<std::uint64_t> free_bytes;
  std::string message = "injected spool fault";
};

class FaultySpool : public spool::Spool {
 public:
  FaultySpool(spool::Spool& inner, FaultPlan plan);                   // does not own `inner`
  FaultySpool(std::unique_ptr<spool::Spool> inner, FaultPlan plan);  // owns it

  boost::asio::awaitable<Result<void>> commit(spool::StoredMessage msg) override;
  boost::asio::awaitable<Result<void>> mark_done(std::string id, std::vector<std::size_t> indexes,
                                                 std::string reason) override;
  boost::asio::awaitable<Result<void>> remove(std::string id) override;
  Result<std::string> load_data(const std::string& id) override;
  Result<spool::RecoveryReport> recover() override;
  std::uint64_t free_bytes() const override;

  void set_plan(FaultPlan plan);
  std::size_t commit_calls() const;
  std::size_t mark_done_calls() const;
  std::size_t remove_calls() const;
  std::size_t injected_faults() const;

 private:
  // Counts one call of a kind; true when the plan says this call fails.
  bool should_fail(std::size_t& calls, std::size_t FaultPlan::*nth);
  std::string message() const;

  std::unique_ptr<spool::Spool> owned_;
  spool::Spool& inner_;
  mutable std::mutex mutex_;
  FaultPlan plan_;  // GUARDED_BY(mutex_), as are the counters
  std::size_t commits_ = 0;
  std::size_t marks_ = 0;
  std::size_t removes_ = 0;
  std::size_t injected_ = 0;
};

}  // namespace mf::test
