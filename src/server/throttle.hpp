// server/throttle.hpp — R-IN-7 IP throttling: messages per client IP in a sliding window.
//
// admit(ip, now) answers whether one more message (one MAIL FROM) from `ip` is within
// `max_messages` per `window`, and counts it when it is. Refused attempts are not counted, so a
// client that backs off gets through again as its rate falls (Exchange's 451 4.7.500 is temporary).
// The window slides: the count is this fixed window's messages plus the previous window's, weighted
// by how much of the previous window still overlaps the sliding one (the usual two-bucket estimate:
// exact for steady and bursty senders to within one window's share, O(1) memory per IP).
// Callers exempt connector-matched clients (R-IN-7); this class knows nothing of connectors.
// Memory is bounded: at most `max_tracked` IPs; idle entries (nothing for two windows) are dropped
// first, then the least recently seen.
// Thread-safe (one mutex; one short critical section per MAIL); time is passed in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mf::server {

class IpThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit IpThrottle(std::size_t max_tracked = 100000);

  // max_messages 0 = unlimited (always admitted, nothing tracked).
  bool admit(std::string_view ip, std::uint32_t max_messages, Clock::duration window, Clock::time_point now);
  std::size_t tracked() const;

 private:
  struct Entry {
    Clock::time_point window_start;
    std::uint32_t previous = 0;  // messages in the window before window_start
    std::uint32_t current = 0;   // messages since window_start
    Clock::time_point last_seen;
  };
  void prune_locked(Clock::duration window, Clock::time_point now);

  const std::size_t max_tracked_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace mf::server
