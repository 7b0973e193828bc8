// auth/limiter.hpp — failed logins per client IP in a sliding window (R-SUB-1: "rate-limited per IP").
//
// blocked(ip) is true while `max_failures` failures of that IP lie within the last `window`; it
// becomes false again when the oldest of them is older than `window` (blocked attempts do not count
// as failures, so a client that waits gets through). Successful logins are not recorded.
// Memory is bounded: at most `max_tracked` IPs are remembered; when a new IP would exceed it, expired
// entries are dropped and then, if still full, the IP whose last failure is oldest.
// Thread-safe (one mutex); time is passed in, so tests need no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mf::auth {

class FailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  FailureLimiter(std::size_t max_failures, Clock::duration window, std::size_t max_tracked = 65536);

  bool blocked(std::string_view ip, Clock::time_point now);
  void record_failure(std::string_view ip, Clock::time_point now);
  std::size_t tracked() const;  // IPs remembered (for tests)

 private:
  void prune_locked(Clock::time_point now);

  const std::size_t max_failures_;
  const Clock::duration window_;
  const std::size_t max_tracked_;
  mutable std::mutex mu_;
  // ip → times of its most recent failures, oldest first, at most max_failures_ of them.
  std::unordered_map<std::string, std::vector<Clock::time_point>> failures_;
};

}  // namespace mf::auth
