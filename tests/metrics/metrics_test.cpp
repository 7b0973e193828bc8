// Tests of metrics/metrics.hpp: counters, gauges, histograms, families and their concurrency.
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace mf::metrics {
namespace {

TEST(Counter, IncrementsByOneAndByN) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.inc();
  c.inc(41);
  EXPECT_EQ(c.value(), 42u);
}

TEST(Gauge, SetIncDec) {
  Gauge g;
  g.set(10);
  g.inc();
  g.dec(2.5);
  EXPECT_DOUBLE_EQ(g.value(), 8.5);
}

TEST(Histogram, CountsEachObservationInTheFirstBucketAtOrAboveIt) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 1.0, 5.0, 100.0}) h.observe(v);
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0.05, 0.1 (le is inclusive)
  EXPECT_EQ(s.cumulative[1], 4u);  // + 0.5, 1.0
  EXPECT_EQ(s.cumulative[2], 5u);  // + 5.0
  EXPECT_EQ(s.cumulative[3], 6u);  // + 100 (+Inf)
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 106.65);
}

TEST(Histogram, TrailingInfinityIsImplicit) {
  Histogram h({1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(h.snapshot().bounds.size(), 1u);
  EXPECT_EQ(h.snapshot().cumulative.size(), 2u);
}

TEST(Histogram, RejectsUnsortedBounds) {
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({2, 1}), std::invalid_argument);
}

TEST(Family, SameLabelValuesGiveTheSameChild) {
  Registry r;
  auto& f = r.counter_family("x_total", "x", {"org", "connector"});
  Counter& a = f.with({"fabrikam", "smarthost"});
  Counter& b = f.with({"fabrikam", "smarthost"});
  Counter& c = f.with({"contoso", "smarthost"});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  // Children never move when more are added.
  for (int i = 0; i < 1000; ++i) f.with({"org" + std::to_string(i), "c"});
  EXPECT_EQ(&a, &f.with({"fabrikam", "smarthost"}));
}

TEST(Family, WrongNumberOfLabelValuesThrows) {
  Registry r;
  auto& f = r.counter_family("x_total", "x", {"org"});
  EXPECT_THROW(f.with({}), std::invalid_argument);
  EXPECT_THROW(f.with({"a", "b"}), std::invalid_argument);
}

TEST(Registry, RejectsDuplicateAndInvalidNames) {
  Registry r;
  r.counter("a_total", "a");
  EXPECT_THROW(r.gauge("a_total", "again"), std::invalid_argument);
  EXPECT_THROW(r.counter("1abc", "bad"), std::invalid_argument);
  EXPECT_THROW(r.counter("a-b", "bad"), std::invalid_argument);
  EXPECT_THROW(r.counter_family("ok_total", "bad label", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("ok2_total", "reserved", {"__x"}), std::invalid_argument);
  EXPECT_THROW(r.histogram_family("h", "le is reserved", {"le"}, {1}), std::invalid_argument);
  EXPECT_NO_THROW(r.counter("ns:sub_total", "colons are allowed in metric names"));
}

TEST(Concurrency, IncrementsFromManyThreadsAreAllCounted) {
  Registry r;
  auto& family = r.counter_family("delivered_total", "d", {"org"});
  Histogram& hist = r.histogram("lat", "l", {1, 2});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& shared = family.with({"shared"});                 // the same child from every thread
      Counter& own = family.with({"org" + std::to_string(t)});  // and one per thread
      for (int i = 0; i < kPerThread; ++i) {
        shared.inc();
        own.inc();
        hist.observe(i % 3);
      }
    });
  }
  // Scraping while the increments run must be safe too.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(r.expose().empty());
  for (auto& t : threads) t.join();
  EXPECT_EQ(family.with({"shared"}).value(), std::uint64_t{kThreads} * kPerThread);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(family.with({"org" + std::to_string(t)}).value(), kPerThread + 0u);
  const auto s = hist.snapshot();
  EXPECT_EQ(s.count, std::uint64_t{kThreads} * kPerThread);
}

TEST(Concurrency, ChildCreationRacesYieldOneChild) {
  Registry r;
  auto& family = r.counter_family("c_total", "c", {"k"});
  std::vector<Counter*> seen(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back([&, t] { seen[t] = &family.with({"same"}); });
  for (auto& t : threads) t.join();
  for (auto* p : seen) EXPECT_EQ(p, seen[0]);
}

}  // namespace
}  // namespace mf::metrics
