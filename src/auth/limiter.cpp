#include "auth/limiter.hpp"

#include <algorithm>

namespace mf::auth {

FailureLimiter::FailureLimiter(std::size_t max_failures, Clock::duration window, std::size_t max_tracked)
    : max_failures_(std::max<std::size_t>(max_failures, 1)), window_(window),
      max_tracked_(std::max<std::size_t>(max_tracked, 1)) {}

bool FailureLimiter::blocked(std::string_view ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(std::string(ip));
  if (it == failures_.end()) return false;
  const auto& times = it->second;
  if (times.size() < max_failures_) return false;
  return now - times.front() < window_;  // the oldest of the last max_failures is still in the window
}

void FailureLimiter::record_failure(std::string_view ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(std::string(ip));
  if (it == failures_.end()) {
    if (failures_.size() >= max_tracked_) prune_locked(now);
    it = failures_.emplace(std::string(ip), std::vector<Clock::time_point>{}).first;
  }
  auto& times = it->second;
  if (times.size() >= max_failures_) times.erase(times.begin());
  times.push_back(now);
}

std::size_t FailureLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return failures_.size();
}

void FailureLimiter::prune_locked(Clock::time_point now) {
  std::erase_if(failures_, [&](const auto& entry) { return now - entry.second.back() >= window_; });
  if (failures_.size() < max_tracked_) return;
  // Still full of recent failures (many attacking IPs): forget the one that failed longest ago.
  auto oldest = std::min_element(failures_.begin(), failures_.end(),
                                 [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); });
  failures_.erase(oldest);
}

}  // namespace mf::auth
