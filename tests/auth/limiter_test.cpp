// Tests for src/auth/limiter.cpp: failed AUTH is rate-limited per client IP (R-SUB-1).
#include "auth/limiter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace mf::auth {
namespace {

using std::chrono::seconds;
using Clock = FailureLimiter::Clock;
const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1000);

TEST(R_SUB_1_AuthLimiter, BlocksAfterMaxFailuresWithinTheWindow) {
  FailureLimiter l(5, seconds(300));
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(l.blocked("192.0.2.1", t0 + seconds(i))) << i;
    l.record_failure("192.0.2.1", t0 + seconds(i));
  }
  EXPECT_FALSE(l.blocked("192.0.2.1", t0 + seconds(10)));
  l.record_failure("192.0.2.1", t0 + seconds(10));
  EXPECT_TRUE(l.blocked("192.0.2.1", t0 + seconds(11)));
  EXPECT_TRUE(l.blocked("192.0.2.1", t0 + seconds(299)));
  // Other IPs are not affected.
  EXPECT_FALSE(l.blocked("192.0.2.2", t0 + seconds(11)));
  EXPECT_FALSE(l.blocked("2001:db8::1", t0 + seconds(11)));
}

TEST(R_SUB_1_AuthLimiter, UnblocksWhenTheOldestFailureLeavesTheWindow) {
  FailureLimiter l(5, seconds(300));
  for (int i = 0; i < 5; ++i) l.record_failure("192.0.2.1", t0 + seconds(i * 10));  // 0, 10 .. 40
  EXPECT_TRUE(l.blocked("192.0.2.1", t0 + seconds(299)));
  EXPECT_FALSE(l.blocked("192.0.2.1", t0 + seconds(300)));  // the one at 0 has left the window
  // One more failure at 300: the last five are 10..40 and 300, so blocked until 310.
  l.record_failure("192.0.2.1", t0 + seconds(300));
  EXPECT_TRUE(l.blocked("192.0.2.1", t0 + seconds(309)));
  EXPECT_FALSE(l.blocked("192.0.2.1", t0 + seconds(310)));
}

TEST(R_SUB_1_AuthLimiter, FailuresSpreadOverMoreThanTheWindowDoNotBlock) {
  FailureLimiter l(5, seconds(300));
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(l.blocked("192.0.2.1", t0 + seconds(i * 80))) << i;
    l.record_failure("192.0.2.1", t0 + seconds(i * 80));  // 4 per 320 s
  }
}

TEST(R_SUB_1_AuthLimiter, MemoryIsBounded) {
  FailureLimiter l(2, seconds(300), 3);
  l.record_failure("a", t0);
  l.record_failure("a", t0);
  l.record_failure("b", t0 + seconds(1));
  l.record_failure("c", t0 + seconds(2));
  EXPECT_EQ(l.tracked(), 3u);
  l.record_failure("d", t0 + seconds(3));  // full of recent entries: "a" (oldest) is forgotten
  EXPECT_EQ(l.tracked(), 3u);
  EXPECT_FALSE(l.blocked("a", t0 + seconds(4)));
  l.record_failure("d", t0 + seconds(4));
  EXPECT_TRUE(l.blocked("d", t0 + seconds(5)));
  // Expired entries go first when a new IP arrives.
  l.record_failure("e", t0 + seconds(1000));
  EXPECT_EQ(l.tracked(), 1u);
}

TEST(R_SUB_1_AuthLimiter, ConcurrentUseIsSafe) {
  FailureLimiter l(5, seconds(300), 100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&l, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string ip = "198.51.100." + std::to_string((i + t) % 150);
        l.blocked(ip, t0 + seconds(i));
        l.record_failure(ip, t0 + seconds(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(l.tracked(), 100u);
}

}  // namespace
}  // namespace mf::auth
