// Tests for src/queue/wait_queue.cpp: ordering by due time then message id, pop_due limits, removal.
#include "queue/queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mf::queue {
namespace {

using std::chrono::seconds;

const SysTime kT0 = SysTime{seconds{1'700'000'000}};

Job job(const std::string& id, seconds due, const std::string& hop = "mx:example.com") {
  Job j;
  j.message_id = id;
  j.hop_key = hop;
  j.recipients = {0};
  j.received_at = kT0;
  j.due = kT0 + due;
  return j;
}

std::vector<std::string> ids(const std::vector<Job>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) out.push_back(j.message_id + "@" + j.hop_key);
  return out;
}

TEST(WaitQueue, EmptyHasNoNextDue) {
  WaitQueue w;
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(w.next_due().has_value());
  EXPECT_TRUE(w.pop_due(kT0 + seconds{1'000'000}).empty());
  EXPECT_FALSE(w.remove_message("nope"));
}

TEST(WaitQueue, PopsByDueThenByMessageId) {
  WaitQueue w;
  w.push(job("m3", seconds{20}));
  w.push(job("m2", seconds{10}));
  w.push(job("b", seconds{5}));
  w.push(job("a", seconds{5}));
  w.push(job("m1", seconds{10}));
  EXPECT_EQ(w.size(), 5u);
  EXPECT_EQ(w.next_due(), kT0 + seconds{5});

  EXPECT_TRUE(w.pop_due(kT0 + seconds{4}).empty());  // nothing due yet
  EXPECT_EQ(ids(w.pop_due(kT0 + seconds{10})),
            (std::vector<std::string>{"a@mx:example.com", "b@mx:example.com", "m1@mx:example.com",
                                      "m2@mx:example.com"}));  // due == now is due
  EXPECT_EQ(w.next_due(), kT0 + seconds{20});
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(ids(w.pop_due(kT0 + seconds{20})), (std::vector<std::string>{"m3@mx:example.com"}));
  EXPECT_FALSE(w.next_due().has_value());
}

TEST(WaitQueue, SameMessageAndDueKeepsInsertionOrder) {
  WaitQueue w;
  w.push(job("m", seconds{1}, "mx:b.example"));
  w.push(job("m", seconds{1}, "mx:a.example"));
  EXPECT_EQ(ids(w.pop_due(kT0 + seconds{1})), (std::vector<std::string>{"m@mx:b.example", "m@mx:a.example"}));
}

TEST(WaitQueue, PopDueHonoursMax) {
  WaitQueue w;
  for (int i = 0; i < 5; ++i) w.push(job("m" + std::to_string(i), seconds{i}));
  EXPECT_EQ(ids(w.pop_due(kT0 + seconds{100}, 2)),
            (std::vector<std::string>{"m0@mx:example.com", "m1@mx:example.com"}));
  EXPECT_TRUE(w.pop_due(kT0 + seconds{100}, 0).empty());
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w.next_due(), kT0 + seconds{2});
  EXPECT_EQ(w.pop_due(kT0 + seconds{100}).size(), 3u);
}

TEST(WaitQueue, RemoveMessageDropsAllItsJobs) {
  WaitQueue w;
  w.push(job("keep", seconds{1}));
  w.push(job("drop", seconds{2}, "mx:a.example"));
  w.push(job("drop", seconds{0}, "mx:b.example"));
  EXPECT_TRUE(w.remove_message("drop"));
  EXPECT_FALSE(w.remove_message("drop"));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.next_due(), kT0 + seconds{1});
  EXPECT_EQ(ids(w.pop_due(kT0 + seconds{10})), (std::vector<std::string>{"keep@mx:example.com"}));
}

TEST(WaitQueue, PoppedMessageCanNoLongerBeRemovedButCanBePushedAgain) {
  WaitQueue w;
  w.push(job("m", seconds{0}));
  auto popped = w.pop_due(kT0);
  ASSERT_EQ(popped.size(), 1u);
  EXPECT_FALSE(w.remove_message("m"));
  popped[0].attempts = 1;
  popped[0].due = kT0 + seconds{60};
  w.push(popped[0]);
  EXPECT_EQ(w.next_due(), kT0 + seconds{60});
  EXPECT_TRUE(w.remove_message("m"));
  EXPECT_EQ(w.size(), 0u);
}

TEST(WaitQueue, ManyJobsComeOutSorted) {
  WaitQueue w;
  // A fixed permutation of due times 0..999.
  for (int i = 0; i < 1000; ++i) w.push(job("m" + std::to_string(i), seconds{(i * 617) % 1000}));
  auto all = w.pop_due(kT0 + seconds{1000});
  ASSERT_EQ(all.size(), 1000u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i - 1].due, all[i].due);
}

}  // namespace
}  // namespace mf::queue

namespace mf::queue {
namespace {

// Admin queue operations (issue 7): hold takes a message's jobs out, retry puts them back due now.
TEST(WaitQueue, TakeMessageReturnsItsJobsAndLeavesTheOthers) {
  WaitQueue w;
  Job a;
  a.message_id = "m1|hop";
  a.due = SysTime{} + seconds{30};
  a.attempts = 2;
  Job b = a;
  b.message_id = "m2|hop";
  b.due = SysTime{} + seconds{10};
  w.push(a);
  w.push(b);
  auto taken = w.take_message("m1|hop");
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].attempts, 2u);
  EXPECT_EQ(taken[0].due, SysTime{} + seconds{30});
  EXPECT_TRUE(w.take_message("m1|hop").empty());
  EXPECT_EQ(w.size(), 1u);
  auto all = w.jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].message_id, "m2|hop");
  taken[0].due = SysTime{};
  w.push(taken[0]);
  all = w.jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].message_id, "m1|hop");  // earliest due first
}

}  // namespace
}  // namespace mf::queue
