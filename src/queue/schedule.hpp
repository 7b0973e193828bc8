// queue/schedule.hpp — the retry schedule as pure functions (R-NDR-2). Thread-safe, no clock.
//
// After the n-th failed attempt (n = attempts_done ≥ 1) the next one is retry_intervals[min(n-1,
// size-1)] later (default 1m, 5m, 15m, 30m, then every hour), but never later than expires_at()
// (received_at + message_expiration, default 24h). Expiry check after a temporary failure at t:
// expired(q, received_at, t) → the message is failed with an NDR (4.4.7); otherwise it waits until
// next_attempt(). An empty retry_intervals list means the default schedule.
#pragma once

#include "config/snapshot.hpp"
#include "core/clock.hpp"

#include <chrono>
#include <cstddef>

namespace mf::queue {

// intervals[min(n-1, size-1)]; n == 0 → 0 (the first attempt is immediate).
std::chrono::seconds retry_delay(const config::QueueSettings& q, std::size_t attempts_done);
// received_at + message_expiration.
SysTime expires_at(const config::QueueSettings& q, SysTime received_at);
// now >= expires_at(): no attempt after this one; a temporary failure now is final.
bool expired(const config::QueueSettings& q, SysTime received_at, SysTime now);
// The next attempt after a temporary failure at `last_attempt`:
// min(last_attempt + retry_delay(attempts_done), expires_at) — at expiry time the message gets its
// final attempt, then its NDR.
SysTime next_attempt(const config::QueueSettings& q, SysTime received_at, std::size_t attempts_done,
                     SysTime last_attempt);

}  // namespace mf::queue
