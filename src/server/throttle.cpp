#include "server/throttle.hpp"

#include <algorithm>

namespace mf::server {

IpThrottle::IpThrottle(std::size_t max_tracked) : max_tracked_(std::max<std::size_t>(max_tracked, 1)) {}

bool IpThrottle::admit(std::string_view ip, std::uint32_t max_messages, Clock::duration window,
                       Clock::time_point now) {
  if (max_messages == 0) return true;
  if (window <= Clock::duration::zero()) window = std::chrono::seconds(1);
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(ip));
  if (it == entries_.end()) {
    if (entries_.size() >= max_tracked_) prune_locked(window, now);
    it = entries_.emplace(std::string(ip), Entry{now, 0, 0, now}).first;
  }
  Entry& e = it->second;
  // Move the fixed window forward to the one containing `now`.
  const auto elapsed = now - e.window_start;
  if (elapsed >= 2 * window) {
    e.previous = 0;
    e.current = 0;
    e.window_start = now;
  } else if (elapsed >= window) {
    e.previous = e.current;
    e.current = 0;
    e.window_start += window;
  }
  e.last_seen = now;
  // Share of the previous window still inside the sliding window [now - window, now].
  const double into = std::chrono::duration<double>(now - e.window_start) / std::chrono::duration<double>(window);
  const double estimate = e.previous * (1.0 - into) + e.current;
  if (estimate + 1.0 > static_cast<double>(max_messages)) return false;
  ++e.current;
  return true;
}

std::size_t IpThrottle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void IpThrottle::prune_locked(Clock::duration window, Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last_seen >= 2 * window; });
  if (entries_.size() < max_tracked_) return;
  auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.second.last_seen < b.second.last_seen;
  });
  entries_.erase(oldest);
}

}  // namespace mf::server
