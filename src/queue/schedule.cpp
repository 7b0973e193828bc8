// queue/schedule.cpp — see schedule.hpp.
#include "queue/schedule.hpp"

#include <algorithm>

namespace mf::queue {

std::chrono::seconds retry_delay(const config::QueueSettings& q, std::size_t attempts_done) {
  if (attempts_done == 0) return std::chrono::seconds{0};
  static const config::QueueSettings defaults;
  const auto& intervals = q.retry_intervals.empty() ? defaults.retry_intervals : q.retry_intervals;
  return intervals[std::min(attempts_done - 1, intervals.size() - 1)];
}

SysTime expires_at(const config::QueueSettings& q, SysTime received_at) {
  return received_at + q.message_expiration;
}

bool expired(const config::QueueSettings& q, SysTime received_at, SysTime now) {
  return now >= expires_at(q, received_at);
}

SysTime next_attempt(const config::QueueSettings& q, SysTime received_at, std::size_t attempts_done,
                     SysTime last_attempt) {
  return std::min(last_attempt + retry_delay(q, attempts_done), expires_at(q, received_at));
}

}  // namespace mf::queue
