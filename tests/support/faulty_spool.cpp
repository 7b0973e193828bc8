#include "support/faulty_spool.hpp"

namespace mf::test {

namespace asio = boost::asio;

FaultySpool::FaultySpool(spool::Spool& inner, FaultPlan plan) : inner_(inner), plan_(std::move(plan)) {}

FaultySpool::FaultySpool(std::unique_ptr<spool::Spool> inner, FaultPlan plan)
    : owned_(std::move(inner)), inner_(*owned_), plan_(std::move(plan)) {}

bool FaultySpool::should_fail(std::size_t& calls, std::size_t FaultPlan::*nth) {
  std::lock_guard lock(mutex_);
  const std::size_t call = ++calls;
  const std::size_t target = plan_.*nth;
  const bool fail = target != 0 && (call == target || (plan_.sticky && call > target));
  if (fail) ++injected_;
  return fail;
}

std::string FaultySpool::message() const {
  std::lock_guard lock(mutex_);
  return plan_.message;
}

asio::awaitable<Result<void>> FaultySpool::commit(spool::StoredMessage msg) {
  if (should_fail(commits_, &FaultPlan::fail_commit)) co_return make_error(message());
  co_return co_await inner_.commit(std::move(msg));
}

asio::awaitable<Result<void>> FaultySpool::mark_done(std::string id, std::vector<std::size_t> indexes,
                                                     std::string reason) {
  if (should_fail(marks_, &FaultPlan::fail_mark_done)) co_return make_error(message());
  co_return co_await inner_.mark_done(std::move(id), std::move(indexes), std::move(reason));
}

asio::awaitable<Result<void>> FaultySpool::remove(std::string id) {
  if (should_fail(removes_, &FaultPlan::fail_remove)) co_return make_error(message());
  co_return co_await inner_.remove(std::move(id));
}

Result<std::string> FaultySpool::load_data(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (plan_.fail_load_data) {
      ++injected_;
      return make_error(plan_.message);
    }
  }
  return inner_.load_data(id);
}

Result<spool::RecoveryReport> FaultySpool::recover() {
  {
    std::lock_guard lock(mutex_);
    if (plan_.fail_recover) {
      ++injected_;
      return make_error(plan_.message);
    }
  }
  return inner_.recover();
}

std::uint64_t FaultySpool::free_bytes() const {
  {
    std::lock_guard lock(mutex_);
    if (plan_.free_bytes) return *plan_.free_bytes;
  }
  return inner_.free_bytes();
}

void FaultySpool::set_plan(FaultPlan plan) {
  std::lock_guard lock(mutex_);
  plan_ = std::move(plan);
}

std::size_t FaultySpool::commit_calls() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::size_t FaultySpool::mark_done_calls() const {
  std::lock_guard lock(mutex_);
  return marks_;
}

std::size_t FaultySpool::remove_calls() const {
  std::lock_guard lock(mutex_);
  return removes_;
}

std::size_t FaultySpool::injected_faults() const {
  std::lock_guard lock(mutex_);
  return injected_;
}

}  // namespace mf::test
