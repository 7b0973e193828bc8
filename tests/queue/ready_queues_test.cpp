// Tests for src/queue/ready_queues.cpp: per-hop limits, connection reuse, fairness, full queues.
#include "queue/queue.hpp"
#include "routing/outbound.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace mf::queue {
namespace {

Job job(const std::string& hop, const std::string& id) {
  Job j;
  j.message_id = id;
  j.hop_key = hop;
  j.recipients = {0};
  return j;
}

TEST(ReadyQueues, EmptyStartsNothing) {
  ReadyQueues rq;
  EXPECT_FALSE(rq.start_connection().has_value());
  EXPECT_FALSE(rq.next_job("mx:a.example").has_value());
  EXPECT_EQ(rq.total_ready(), 0u);
  rq.connection_closed("mx:a.example");  // harmless
  EXPECT_EQ(rq.connections("mx:a.example"), 0u);
}

TEST(ReadyQueues, TwentyFirstConnectionToAHopIsRefused) {
  ReadyQueues rq;  // default: 20 connections per hop
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(rq.push(job("mx:a.example", "m" + std::to_string(i))));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rq.start_connection(), "mx:a.example") << i;
  EXPECT_FALSE(rq.start_connection().has_value());
  EXPECT_EQ(rq.connections("mx:a.example"), 20u);
  // Another hop is not affected by a.example's limit.
  ASSERT_TRUE(rq.push(job("mx:b.example", "x")));
  EXPECT_EQ(rq.start_connection(), "mx:b.example");
  // Closing one frees a slot.
  rq.connection_closed("mx:a.example");
  EXPECT_EQ(rq.connections("mx:a.example"), 19u);
  EXPECT_EQ(rq.start_connection(), "mx:a.example");
  EXPECT_FALSE(rq.start_connection().has_value());
}

TEST(ReadyQueues, CustomConnectionLimit) {
  ReadyQueues rq(100, 2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rq.push(job("h", std::to_string(i))));
  EXPECT_TRUE(rq.start_connection());
  EXPECT_TRUE(rq.start_connection());
  EXPECT_FALSE(rq.start_connection());
}

TEST(ReadyQueues, OneJobOpensOneConnection) {
  ReadyQueues rq;
  ASSERT_TRUE(rq.push(job("h", "m1")));
  EXPECT_EQ(rq.start_connection(), "h");
  EXPECT_FALSE(rq.start_connection().has_value());  // one connection is enough for one job
  ASSERT_TRUE(rq.push(job("h", "m2")));
  EXPECT_EQ(rq.start_connection(), "h");  // a backlog of 2 > 1 connection
}

TEST(ReadyQueues, ConnectionReuseTakesJobsInOrderUntilNoneLeft) {
  ReadyQueues rq;
  for (const char* id : {"m1", "m2", "m3"}) ASSERT_TRUE(rq.push(job("h", id)));
  EXPECT_EQ(rq.total_ready(), 3u);
  auto hop = rq.start_connection();
  ASSERT_EQ(hop, "h");
  std::string order;
  while (auto j = rq.next_job(*hop)) order += j->message_id + ",";
  EXPECT_EQ(order, "m1,m2,m3,");
  EXPECT_EQ(rq.ready("h"), 0u);
  EXPECT_EQ(rq.total_ready(), 0u);
  EXPECT_EQ(rq.connections("h"), 1u);
  rq.connection_closed("h");
  EXPECT_EQ(rq.connections("h"), 0u);
  EXPECT_FALSE(rq.start_connection().has_value());
}

TEST(ReadyQueues, StartConnectionIsRoundRobinAcrossHops) {
  ReadyQueues rq;
  for (const char* hop : {"c", "a", "b"})
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(rq.push(job(hop, std::to_string(i))));
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += *rq.start_connection();
  EXPECT_EQ(seq, "abcabca");

  // A hop that becomes eligible later is served in its turn, not after the others drain.
  ASSERT_TRUE(rq.push(job("bb", "x")));
  EXPECT_EQ(rq.start_connection(), "b");
  EXPECT_EQ(rq.start_connection(), "bb");
  EXPECT_EQ(rq.start_connection(), "c");
}

TEST(ReadyQueues, BusyHopDoesNotStarveOthers) {
  ReadyQueues rq(10000, 20);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rq.push(job("big", std::to_string(i))));
  ASSERT_TRUE(rq.push(job("small", "s")));
  std::map<std::string, int> started;
  for (int i = 0; i < 2; ++i) ++started[*rq.start_connection()];
  EXPECT_EQ(started["big"], 1);
  EXPECT_EQ(started["small"], 1);
}

TEST(ReadyQueues, FullHopQueueRefusesPush) {
  ReadyQueues rq(3, 20);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rq.push(job("h", std::to_string(i))));
  EXPECT_FALSE(rq.push(job("h", "overflow")));
  EXPECT_EQ(rq.ready("h"), 3u);
  EXPECT_TRUE(rq.push(job("other", "fine")));  // the limit is per hop
  EXPECT_EQ(rq.total_ready(), 4u);
  ASSERT_TRUE(rq.next_job("h"));
  EXPECT_TRUE(rq.push(job("h", "room again")));
}

TEST(ReadyQueues, ZeroCapacityRefusesAndForgetsTheHop) {
  ReadyQueues rq(0, 20);
  EXPECT_FALSE(rq.push(job("h", "m")));
  EXPECT_EQ(rq.ready("h"), 0u);
  EXPECT_FALSE(rq.start_connection());
}

TEST(ReadyQueues, WorksWithNextHopKeys) {
  ReadyQueues rq;
  routing::NextHop mx;
  mx.mx_domain = "fabrikam.example";
  routing::NextHop smart;
  smart.kind = routing::NextHop::Kind::smart_hosts;
  smart.connector = "To partner";
  smart.organization = 1;
  ASSERT_TRUE(rq.push(job(mx.key(), "m1")));
  ASSERT_TRUE(rq.push(job(smart.key(), "m1")));
  EXPECT_EQ(rq.ready("mx:fabrikam.example"), 1u);
  EXPECT_EQ(rq.ready("connector:1/To partner"), 1u);
}

}  // namespace
}  // namespace mf::queue
