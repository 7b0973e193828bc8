// Tests for src/queue/schedule.cpp: the retry schedule and expiry (R-NDR-2), at exact boundaries.
#include "queue/queue.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

namespace mf::queue {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const SysTime kReceived = SysTime{seconds{1'700'000'000}};

struct DelayRow {
  std::size_t attempts_done;
  seconds delay;
};

TEST(RetryDelay, DefaultScheduleIsOneFiveFifteenThirtyMinutesThenHourly) {
  const config::QueueSettings q;  // the SPEC defaults
  const DelayRow rows[] = {
      {0, seconds{0}}, {1, minutes{1}}, {2, minutes{5}}, {3, minutes{15}}, {4, minutes{30}},
      {5, hours{1}},   {6, hours{1}},   {7, hours{1}},   {100, hours{1}},
  };
  for (const auto& r : rows) EXPECT_EQ(retry_delay(q, r.attempts_done), r.delay) << "attempts " << r.attempts_done;
}

TEST(RetryDelay, CustomScheduleRepeatsItsLastInterval) {
  config::QueueSettings q;
  q.retry_intervals = {seconds{10}, seconds{20}};
  const DelayRow rows[] = {{0, seconds{0}}, {1, seconds{10}}, {2, seconds{20}}, {3, seconds{20}}, {50, seconds{20}}};
  for (const auto& r : rows) EXPECT_EQ(retry_delay(q, r.attempts_done), r.delay) << "attempts " << r.attempts_done;

  config::QueueSettings one;
  one.retry_intervals = {seconds{7}};
  EXPECT_EQ(retry_delay(one, 1), seconds{7});
  EXPECT_EQ(retry_delay(one, 9), seconds{7});
}

TEST(RetryDelay, EmptyScheduleMeansTheDefault) {
  config::QueueSettings q;
  q.retry_intervals.clear();
  EXPECT_EQ(retry_delay(q, 1), minutes{1});
  EXPECT_EQ(retry_delay(q, 8), hours{1});
}

TEST(Expiry, DefaultIs24HoursAndExpiredAtTheExactInstant) {
  const config::QueueSettings q;
  EXPECT_EQ(expires_at(q, kReceived), kReceived + hours{24});
  EXPECT_FALSE(expired(q, kReceived, kReceived));
  EXPECT_FALSE(expired(q, kReceived, kReceived + hours{24} - seconds{1}));
  EXPECT_TRUE(expired(q, kReceived, kReceived + hours{24}));
  EXPECT_TRUE(expired(q, kReceived, kReceived + hours{25}));
}

TEST(Expiry, CustomExpiration) {
  config::QueueSettings q;
  q.message_expiration = minutes{10};
  EXPECT_EQ(expires_at(q, kReceived), kReceived + minutes{10});
  EXPECT_FALSE(expired(q, kReceived, kReceived + seconds{599}));
  EXPECT_TRUE(expired(q, kReceived, kReceived + seconds{600}));
}

TEST(NextAttempt, FollowsTheScheduleFromTheLastAttempt) {
  const config::QueueSettings q;
  struct Row {
    std::size_t attempts_done;
    seconds last_attempt;  // after received
    seconds expected;      // after received
  };
  const Row rows[] = {
      {1, seconds{0}, minutes{1}},
      {2, minutes{1}, minutes{6}},
      {3, minutes{6}, minutes{21}},
      {4, minutes{21}, minutes{51}},
      {5, minutes{51}, minutes{111}},
      {6, minutes{111}, minutes{171}},
      {1, seconds{30}, seconds{90}},  // a slow first attempt: counted from when it ended
  };
  for (const auto& r : rows)
    EXPECT_EQ(next_attempt(q, kReceived, r.attempts_done, kReceived + r.last_attempt), kReceived + r.expected)
        << "attempts " << r.attempts_done;
}

TEST(NextAttempt, IsCappedAtExpiryForAFinalAttempt) {
  const config::QueueSettings q;
  const SysTime expiry = kReceived + hours{24};
  // 23h30m: +1h would be 24h30m → capped at 24h.
  EXPECT_EQ(next_attempt(q, kReceived, 10, kReceived + hours{23} + minutes{30}), expiry);
  // Exactly one interval before expiry: lands on it.
  EXPECT_EQ(next_attempt(q, kReceived, 10, kReceived + hours{23}), expiry);
  // One second earlier: not capped.
  EXPECT_EQ(next_attempt(q, kReceived, 10, kReceived + hours{23} - seconds{1}), expiry - seconds{1});
  // The final attempt at expiry failed: the message is expired (NDR), next_attempt is not in the future.
  EXPECT_TRUE(expired(q, kReceived, expiry));
  EXPECT_LE(next_attempt(q, kReceived, 11, expiry), expiry);
}

TEST(NextAttempt, WalksTheWholeDefaultScheduleWithAFakeClock) {
  const config::QueueSettings q;
  test::FakeClock clock(kReceived);
  std::size_t attempts = 0;
  SysTime when = clock.now();
  // Every attempt fails temporarily until expiry.
  while (true) {
    clock.set(when);
    ++attempts;
    if (expired(q, kReceived, clock.now())) break;
    when = next_attempt(q, kReceived, attempts, clock.now());
    ASSERT_GT(when, clock.now());
  }
  // 0, 1m, 6m, 21m, 51m, then hourly: 1h51m ... 23h51m (23 attempts), and the final one at 24h.
  EXPECT_EQ(clock.now(), kReceived + hours{24});
  EXPECT_EQ(attempts, 5u + 23u + 1u);
}

}  // namespace
}  // namespace mf::queue
