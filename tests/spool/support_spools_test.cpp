// Tests for the test doubles in tests/support/: MemorySpool keeps the Spool contract, FaultySpool
// fails exactly the calls its plan names (security catalogue F05, F08) and forwards the rest.
#include "support/faulty_spool.hpp"
#include "support/memory_spool.hpp"

#include "spool/rocks_spool.hpp"
#include "spool_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::test {
namespace {

using namespace mf::spool::testing;
using spool::StoredMessage;

TEST(MemorySpoolTest, KeepsTheSpoolContract) {
  MemorySpool spool;
  const StoredMessage msg = full_message("M2", 3);
  ASSERT_TRUE(run_awaitable(spool.commit(msg)));
  ASSERT_TRUE(run_awaitable(spool.commit(small_message("M1"))));
  EXPECT_FALSE(run_awaitable(spool.commit(small_message("M1"))));  // duplicate id
  StoredMessage none = small_message("M3");
  none.envelope.recipients.clear();
  EXPECT_FALSE(run_awaitable(spool.commit(none)));

  ASSERT_TRUE(run_awaitable(spool.mark_done("M2", {0, 2}, "delivered")));
  EXPECT_FALSE(run_awaitable(spool.mark_done("M2", {3}, "x")));   // out of range
  EXPECT_FALSE(run_awaitable(spool.mark_done("NONE", {0}, "x")));  // unknown
  EXPECT_EQ(spool.done("M2"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(spool.done_reason("M2", 2), "delivered");
  EXPECT_EQ(spool.done_reason("M2", 1), std::nullopt);

  auto report = spool.recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 2u);
  EXPECT_EQ(report->entries[0].id, "M1");  // sorted by id
  expect_entry_matches(report->entries[1], msg);
  EXPECT_EQ(report->entries[1].done, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(spool.load_data("M2").value(), msg.data);

  ASSERT_TRUE(run_awaitable(spool.remove("M2")));
  ASSERT_TRUE(run_awaitable(spool.remove("M2")));  // idempotent
  EXPECT_FALSE(spool.contains("M2"));
  EXPECT_FALSE(spool.load_data("M2"));
  EXPECT_EQ(spool.size(), 1u);
  EXPECT_EQ(spool.commits(), 2u);
  EXPECT_EQ(spool.marks(), 1u);
  EXPECT_EQ(spool.removes(), 1u);

  spool.set_free_bytes(1234);
  EXPECT_EQ(spool.free_bytes(), 1234u);
}

TEST(FaultySpoolTest, FailsTheNthCommitOnly) {
  MemorySpool inner;
  FaultPlan plan;
  plan.fail_commit = 3;
  plan.message = "disk on fire";
  FaultySpool spool(inner, plan);
  std::vector<bool> outcomes;
  for (int i = 1; i <= 5; ++i) {
    auto r = run_awaitable(spool.commit(small_message("F" + std::to_string(i))));
    outcomes.push_back(static_cast<bool>(r));
    if (!r) {
      EXPECT_EQ(r.error().message, "disk on fire");
    }
  }
  EXPECT_EQ(outcomes, (std::vector<bool>{true, true, false, true, true}));
  EXPECT_FALSE(inner.contains("F3"));  // the failed commit never reached the inner spool
  EXPECT_EQ(inner.size(), 4u);
  EXPECT_EQ(spool.commit_calls(), 5u);
  EXPECT_EQ(spool.injected_faults(), 1u);
}

TEST(FaultySpoolTest, PlanTable) {
  struct Case {
    const char* name;
    FaultPlan plan;
    std::vector<bool> commits;  // outcome of 4 commits
    std::vector<bool> marks;    // outcome of 3 mark_done calls (on the first message)
    std::vector<bool> removes;  // outcome of 2 removes
  };
  auto plan = [](std::size_t c, std::size_t m, std::size_t r, bool sticky) {
    FaultPlan p;
    p.fail_commit = c;
    p.fail_mark_done = m;
    p.fail_remove = r;
    p.sticky = sticky;
    return p;
  };
  const Case cases[] = {
      {"no faults", plan(0, 0, 0, false), {1, 1, 1, 1}, {1, 1, 1}, {1, 1}},
      {"first commit", plan(1, 0, 0, false), {0, 1, 1, 1}, {1, 1, 1}, {1, 1}},
      {"sticky from the second commit", plan(2, 0, 0, true), {1, 0, 0, 0}, {1, 1, 1}, {1, 1}},
      {"second mark_done", plan(0, 2, 0, false), {1, 1, 1, 1}, {1, 0, 1}, {1, 1}},
      {"sticky mark_done", plan(0, 1, 0, true), {1, 1, 1, 1}, {0, 0, 0}, {1, 1}},
      {"first remove", plan(0, 0, 1, false), {1, 1, 1, 1}, {1, 1, 1}, {0, 1}},
  };
  for (const auto& c : cases) {
    MemorySpool inner;
    FaultySpool spool(inner, c.plan);
    std::vector<bool> commits, marks, removes;
    for (int i = 0; i < 4; ++i) commits.push_back(bool(run_awaitable(spool.commit(full_message("P" + std::to_string(i), 3)))));
    const std::string first = inner.contains("P0") ? "P0" : "P3";
    for (std::size_t i = 0; i < 3; ++i) marks.push_back(bool(run_awaitable(spool.mark_done(first, {i}, "ok"))));
    for (int i = 0; i < 2; ++i) removes.push_back(bool(run_awaitable(spool.remove(first))));
    EXPECT_EQ(commits, c.commits) << c.name;
    EXPECT_EQ(marks, c.marks) << c.name;
    EXPECT_EQ(removes, c.removes) << c.name;
  }
}

TEST(FaultySpoolTest, ReadsAndFreeSpaceFollowThePlan) {
  MemorySpool inner;
  inner.set_free_bytes(1u << 30);
  FaultySpool spool(inner, FaultPlan{});
  ASSERT_TRUE(run_awaitable(spool.commit(small_message("R1"))));
  EXPECT_TRUE(spool.load_data("R1"));
  EXPECT_TRUE(spool.recover());
  EXPECT_EQ(spool.free_bytes(), 1u << 30);

  FaultPlan broken;
  broken.fail_load_data = true;
  broken.fail_recover = true;
  broken.free_bytes = 10;  // disk nearly full: the server must answer 452 4.3.1 (catalogue F04)
  spool.set_plan(broken);
  EXPECT_FALSE(spool.load_data("R1"));
  EXPECT_FALSE(spool.recover());
  EXPECT_EQ(spool.free_bytes(), 10u);
  EXPECT_EQ(spool.injected_faults(), 2u);
}

TEST(FaultySpoolTest, WrapsTheRocksDbSpool) {
  TempDir dir;
  auto rocks = spool::open_rocks_spool({dir.str()});
  ASSERT_TRUE(rocks);
  FaultPlan plan;
  plan.fail_commit = 2;
  FaultySpool spool(std::move(*rocks), plan);
  EXPECT_TRUE(run_awaitable(spool.commit(small_message("W1"))));
  EXPECT_FALSE(run_awaitable(spool.commit(small_message("W2"))));
  EXPECT_TRUE(run_awaitable(spool.commit(small_message("W3"))));
  auto report = spool.recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 2u);
  EXPECT_EQ(report->entries[0].id, "W1");
  EXPECT_EQ(report->entries[1].id, "W3");
  EXPECT_GT(spool.free_bytes(), 0u);
}

}  // namespace
}  // namespace mf::test
