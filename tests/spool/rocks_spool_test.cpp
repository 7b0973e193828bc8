// Tests for spool/rocks_spool.hpp and spool/group_writer.hpp: round trips, done marks, removal,
// group commit under concurrency, failed writes, draining on destruction, locking.
#include "spool/rocks_spool.hpp"

#include "core/message_id.hpp"
#include "spool/record.hpp"
#include "spool_test_util.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>

namespace mf::spool {
namespace {

namespace asio = boost::asio;
using namespace testing;

std::unique_ptr<RocksSpool> open_spool(const TempDir& dir, const RocksSpoolTuning& tuning = {}) {
  auto spool = RocksSpool::open({dir.str()}, tuning);
  if (!spool) {
    ADD_FAILURE() << spool.error().message;
    return nullptr;
  }
  return std::move(*spool);
}

TEST(RocksSpoolTest, CommitThenRecoverAfterReopenRoundTripsEveryField) {
  TempDir dir;
  const StoredMessage msg = full_message(new_message_id(), 4);
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    auto r = run_awaitable(spool->commit(msg));
    ASSERT_TRUE(r) << r.error().message;
    // Visible at once to the synchronous reader.
    auto data = spool->load_data(msg.id);
    ASSERT_TRUE(data);
    EXPECT_EQ(*data, msg.data);
    EXPECT_EQ(spool->stats().commits.load(), 1u);
  }
  auto spool = open_spool(dir);  // the previous object was destroyed: the lock is free again
  ASSERT_TRUE(spool);
  auto report = spool->recover();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->quarantined, 0u);
  ASSERT_EQ(report->entries.size(), 1u);
  const SpoolEntry& e = report->entries[0];
  expect_entry_matches(e, msg);
  EXPECT_EQ(e.done, std::vector<bool>(4, false));
  auto data = spool->load_data(msg.id);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, msg.data);  // byte for byte, including NUL and 8-bit octets
}

TEST(RocksSpoolTest, NullSenderAndAbsentSizeRoundTrip) {
  TempDir dir;
  StoredMessage msg = full_message("NULLSENDER", 1);
  msg.envelope.sender.reset();
  msg.envelope.declared_size.reset();
  msg.envelope.body = BodyType::binary_mime;
  msg.data.clear();  // an empty body is legal and must survive too
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(run_awaitable(spool->commit(msg)));
  }
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  auto report = spool->recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 1u);
  expect_entry_matches(report->entries[0], msg);
  EXPECT_EQ(spool->load_data("NULLSENDER").value(), "");
}

TEST(RocksSpoolTest, MarkDoneIsRecoveredAsDoneFlags) {
  TempDir dir;
  const StoredMessage msg = full_message("MARKS", 4);
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(run_awaitable(spool->commit(msg)));
    ASSERT_TRUE(run_awaitable(spool->mark_done("MARKS", {0, 2}, "250 2.0.0 delivered")));
    ASSERT_TRUE(run_awaitable(spool->mark_done("MARKS", {3}, "550 5.1.1 unknown user")));
    ASSERT_TRUE(run_awaitable(spool->mark_done("MARKS", {}, "nothing")));  // no-op
    EXPECT_EQ(spool->stats().marks.load(), 2u);
  }
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    auto report = spool->recover();
    ASSERT_TRUE(report);
    ASSERT_EQ(report->entries.size(), 1u);
    EXPECT_EQ(report->entries[0].done, (std::vector<bool>{true, false, true, true}));
  }
  auto keys = dump_db(dir.str());
  EXPECT_EQ(keys["r/MARKS/0"], "250 2.0.0 delivered");
  EXPECT_EQ(keys["r/MARKS/3"], "550 5.1.1 unknown user");
  EXPECT_EQ(keys.count("r/MARKS/1"), 0u);
}

TEST(RocksSpoolTest, RequestsWithBadArgumentsFailWithoutWriting) {
  TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  ASSERT_TRUE(run_awaitable(spool->commit(full_message("KNOWN", 2))));
  StoredMessage no_rcpt = small_message("NORCPT");
  no_rcpt.envelope.recipients.clear();
  struct Case {
    const char* name;
    std::function<asio::awaitable<Result<void>>()> call;
    const char* error;
  };
  const Case cases[] = {
      {"empty id", [&] { return spool->commit(small_message("")); }, "invalid message id"},
      {"id with slash", [&] { return spool->commit(small_message("a/b")); }, "invalid message id"},
      {"no recipients", [&] { return spool->commit(no_rcpt); }, "without recipients"},
      {"mark unknown id", [&] { return spool->mark_done("NOPE", {0}, "x"); }, "no such message"},
      {"mark index out of range", [&] { return spool->mark_done("KNOWN", {0, 2}, "x"); }, "out of range"},
      {"remove invalid id", [&] { return spool->remove("../x"); }, "invalid message id"},
  };
  for (const auto& c : cases) {
    auto r = run_awaitable(c.call());
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.name << ": " << r.error().message;
  }
  EXPECT_EQ(spool->stats().batches.load(), 1u);  // only the first commit reached the disk
  auto report = spool->recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 1u);
  EXPECT_EQ(report->entries[0].done, (std::vector<bool>{false, false}));  // the bad mark wrote nothing
  EXPECT_FALSE(spool->load_data("NOPE"));
  EXPECT_FALSE(spool->load_data("../x"));
}

TEST(RocksSpoolTest, RemoveDeletesEveryRecordOfTheMessageAndIsIdempotent) {
  TempDir dir;
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(run_awaitable(spool->commit(full_message("GONE", 3))));
    ASSERT_TRUE(run_awaitable(spool->commit(full_message("KEPT", 2))));
    ASSERT_TRUE(run_awaitable(spool->mark_done("GONE", {0, 1, 2}, "done")));
    ASSERT_TRUE(run_awaitable(spool->mark_done("KEPT", {1}, "done")));
    ASSERT_TRUE(run_awaitable(spool->remove("GONE")));
    EXPECT_FALSE(spool->load_data("GONE"));
    ASSERT_TRUE(run_awaitable(spool->remove("GONE")));    // again: nothing left, still fine
    ASSERT_TRUE(run_awaitable(spool->remove("NEVER")));   // never existed
    auto report = spool->recover();
    ASSERT_TRUE(report);
    ASSERT_EQ(report->entries.size(), 1u);
    EXPECT_EQ(report->entries[0].id, "KEPT");
    EXPECT_EQ(report->entries[0].done, (std::vector<bool>{false, true}));
  }
  for (const auto& [key, value] : dump_db(dir.str())) {
    EXPECT_EQ(key.find("GONE"), std::string::npos) << "left behind: " << key;
  }
}

// remove() and mark_done() take the recipient count from memory for messages this object committed
// or recovered, and from the "m/" record otherwise: every path must delete every "r/" mark.
TEST(RocksSpoolTest, RecipientCountsComeFromCommitRecoveryOrTheRecord) {
  TempDir dir;
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(run_awaitable(spool->commit(full_message("RECOVERED", 3))));
    ASSERT_TRUE(run_awaitable(spool->commit(full_message("UNREAD", 4))));
    ASSERT_TRUE(run_awaitable(spool->mark_done("RECOVERED", {2}, "done")));
    ASSERT_TRUE(run_awaitable(spool->mark_done("UNREAD", {3}, "done")));
  }
  {
    auto spool = open_spool(dir);  // no recover(): nothing is known in memory
    ASSERT_TRUE(spool);
    EXPECT_FALSE(run_awaitable(spool->mark_done("UNREAD", {4}, "x")));  // out of range, read from "m/"
    ASSERT_TRUE(run_awaitable(spool->mark_done("UNREAD", {1}, "done")));
    ASSERT_TRUE(run_awaitable(spool->remove("UNREAD")));
  }
  {
    auto spool = open_spool(dir);
    ASSERT_TRUE(spool);
    auto report = spool->recover();  // remembers RECOVERED's three recipients
    ASSERT_TRUE(report);
    ASSERT_EQ(report->entries.size(), 1u);
    EXPECT_FALSE(run_awaitable(spool->mark_done("RECOVERED", {3}, "x")));
    ASSERT_TRUE(run_awaitable(spool->mark_done("RECOVERED", {0}, "done")));
    ASSERT_TRUE(run_awaitable(spool->remove("RECOVERED")));
    EXPECT_FALSE(run_awaitable(spool->mark_done("RECOVERED", {1}, "x")));  // gone: no such message
  }
  EXPECT_TRUE(dump_db(dir.str()).empty()) << "records left behind";
}

TEST(RocksSpoolTest, ConcurrentCommitsCompleteAndShareSyncedBatches) {
  TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  constexpr int kLaunchers = 4;
  constexpr int kPerLauncher = 50;
  auto body = [](const std::string& id) { return "Subject: " + id + "\r\n\r\n" + std::string(2000, 'x') + "\r\n"; };

  asio::io_context io(2);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> resumed_elsewhere{0};
  std::mutex ids_mutex;
  std::vector<std::string> ids;
  for (int l = 0; l < kLaunchers; ++l) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          for (int i = 0; i < kPerLauncher; ++i) {
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                  const std::string id = new_message_id();
                  auto r = co_await spool->commit(small_message(id, body(id)));
                  // The completion must resume on the awaiting coroutine's executor.
                  if (!io.get_executor().running_in_this_thread()) ++resumed_elsewhere;
                  if (r) {
                    ++ok;
                    std::lock_guard lock(ids_mutex);
                    ids.push_back(id);
                  } else {
                    ++failed;
                  }
                },
                asio::detached);
          }
        },
        asio::detached);
  }
  std::thread second([&] { io.run(); });
  io.run();
  second.join();

  EXPECT_EQ(ok.load(), kLaunchers * kPerLauncher);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(resumed_elsewhere.load(), 0);
  const SpoolStats& stats = spool->stats();
  EXPECT_EQ(stats.commits.load(), 200u);
  EXPECT_GE(stats.batches.load(), 1u);
  EXPECT_LT(stats.batches.load(), 200u) << "group commit: several commits must share one synced batch";
  EXPECT_GT(stats.bytes.load(), 200u * 2000u);

  auto report = spool->recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 200u);
  std::sort(ids.begin(), ids.end());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(report->entries[i].id, ids[i]);  // sorted by id = arrival order
    EXPECT_EQ(spool->load_data(ids[i]).value(), body(ids[i]));
  }
}

// security catalogue F04, F05, F08: a write that did not reach the disk never completes with
// success; once the disk works again the spool heals by itself.
TEST(RocksSpoolTest, FailedBatchFailsEveryRequestInItAndTheSpoolHeals) {
  struct Case {
    const char* name;
    bool no_space;
  };
  for (const Case c : {Case{"I/O error", false}, Case{"disk full", true}}) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    auto fs = std::make_shared<FaultFs>();
    fs->no_space = c.no_space;
    auto env = rocksdb::NewCompositeEnv(fs);
    {
      auto spool = open_spool(dir, {env.get()});
      ASSERT_TRUE(spool);
      ASSERT_TRUE(run_awaitable(spool->commit(small_message("BEFORE"))));
      ASSERT_TRUE(run_awaitable(spool->mark_done("BEFORE", {0}, "kept")));

      fs->fail_writes = true;
      asio::io_context io;
      std::vector<Result<void>> results;
      for (int i = 0; i < 5; ++i) {
        asio::co_spawn(
            io,
            [&, i]() -> asio::awaitable<void> {
              results.push_back(co_await spool->commit(small_message("FAILED" + std::to_string(i))));
            },
            asio::detached);
      }
      io.run();
      auto removed = run_awaitable(spool->remove("BEFORE"));
      fs->fail_writes = false;

      ASSERT_EQ(results.size(), 5u);
      for (const auto& r : results) {
        ASSERT_FALSE(r) << "no commit may succeed when its batch was not written";
        EXPECT_NE(r.error().message.find("spool write failed"), std::string::npos) << r.error().message;
      }
      // The first failed batch carries RocksDB's own status text.
      EXPECT_NE(results[0].error().message.find("injected write fault"), std::string::npos)
          << results[0].error().message;
      EXPECT_FALSE(removed);
      EXPECT_GE(spool->stats().failed_batches.load(), 1u);
      EXPECT_GE(spool->stats().failed_requests.load(), 5u);
      EXPECT_GT(fs->failures.load(), 0);

      // The disk works again: no restart needed.
      auto after = run_awaitable(spool->commit(small_message("AFTER")));
      EXPECT_TRUE(after) << after.error().message;
      EXPECT_EQ(spool->load_data("AFTER").value(), small_message("AFTER").data);
      auto report = spool->recover();
      ASSERT_TRUE(report) << report.error().message;
    }
    auto spool = open_spool(dir);  // default file system
    ASSERT_TRUE(spool);
    auto report = spool->recover();
    ASSERT_TRUE(report);
    EXPECT_EQ(report->quarantined, 0u);
    // A batch that failed may still surface from the WAL after a reopen (the client got 451, so at
    // worst a duplicate); what must hold is that every acknowledged message is there, intact.
    std::map<std::string, std::vector<bool>> found;
    for (const auto& e : report->entries) found[e.id] = e.done;
    ASSERT_EQ(found.count("BEFORE"), 1u);
    EXPECT_EQ(found["BEFORE"], std::vector<bool>{true});
    ASSERT_EQ(found.count("AFTER"), 1u);
    for (const auto& [id, done] : found) {
      EXPECT_EQ(spool->load_data(id).value(), small_message(id).data) << id;
    }
  }
}

TEST(RocksSpoolTest, DestructionDrainsQueuedCommits) {
  TempDir dir;
  auto fs = std::make_shared<FaultFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  constexpr int kCommits = 10;
  std::vector<Result<void>> results;
  {
    fs->sync_delay_ms = 30;  // the first batch is still syncing while the others queue up
    auto spool = open_spool(dir, {env.get()});
    ASSERT_TRUE(spool);
    asio::io_context io;
    for (int i = 0; i < kCommits; ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            results.push_back(co_await spool->commit(small_message("DRAIN" + std::to_string(i))));
          },
          asio::detached);
    }
    io.poll();  // every coroutine has run up to its co_await: all requests are queued
    spool.reset();  // must write the queued requests, complete them, and stop the thread
    io.run();       // run the completions
  }
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kCommits));
  for (const auto& r : results) EXPECT_TRUE(r) << r.error().message;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  auto report = spool->recover();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->entries.size(), static_cast<std::size_t>(kCommits));
}

TEST(RocksSpoolTest, CommitsAreSyncedMarksAndRemovesRideOnTheNextSync) {
  TempDir dir;
  auto fs = std::make_shared<FaultFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  auto spool = open_spool(dir, {env.get()});
  ASSERT_TRUE(spool);
  int before = fs->syncs.load();
  ASSERT_TRUE(run_awaitable(spool->commit(small_message("SYNC1"))));
  EXPECT_GT(fs->syncs.load(), before) << "a commit must be synced before it completes (THE INVARIANT)";
  before = fs->syncs.load();
  ASSERT_TRUE(run_awaitable(spool->mark_done("SYNC1", {0}, "delivered")));
  ASSERT_TRUE(run_awaitable(spool->remove("SYNC1")));
  EXPECT_EQ(fs->syncs.load(), before) << "mark_done/remove need no fsync of their own";
  // Still effective (in the WAL): a reopened spool does not bring the message back.
  spool.reset();
  auto again = open_spool(dir);
  ASSERT_TRUE(again);
  auto report = again->recover();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->entries.empty());
}

// Lazy writes (group_writer.hpp): a remove queued before a commit rides in the commit's synced batch
// instead of waking the writer for a batch of its own.
TEST(RocksSpoolTest, LazyRemoveRidesInTheNextCommitsBatch) {
  TempDir dir;
  auto fs = std::make_shared<FaultFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  RocksSpoolTuning tuning;
  tuning.env = env.get();
  tuning.lazy_delay = std::chrono::seconds(600);  // only a commit can carry the remove
  auto spool = open_spool(dir, tuning);
  ASSERT_TRUE(spool);
  ASSERT_TRUE(run_awaitable(spool->commit(small_message("FIRST"))));
  const auto batches = spool->stats().batches.load();
  const int syncs = fs->syncs.load();
  asio::io_context io;
  bool removed = false;
  bool committed = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { removed = bool(co_await spool->remove("FIRST")); },
                 asio::detached);
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { committed = bool(co_await spool->commit(small_message("SECOND"))); },
      asio::detached);
  io.run();
  EXPECT_TRUE(removed);
  EXPECT_TRUE(committed);
  EXPECT_EQ(spool->stats().batches.load(), batches + 1) << "the remove must share the commit's batch";
  EXPECT_EQ(fs->syncs.load(), syncs + 1);
  EXPECT_FALSE(spool->load_data("FIRST"));
  EXPECT_TRUE(spool->load_data("SECOND"));
}

// With no commit coming, a lazy request is written on its own after the delay, and one still queued
// when the spool shuts down is written by the drain.
TEST(RocksSpoolTest, LazyRequestsAreWrittenAfterTheirDelayOrAtShutdown) {
  TempDir dir;
  {
    RocksSpoolTuning tuning;
    tuning.lazy_delay = std::chrono::milliseconds(20);
    auto spool = open_spool(dir, tuning);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(run_awaitable(spool->commit(small_message("ALONE"))));
    ASSERT_TRUE(run_awaitable(spool->mark_done("ALONE", {0}, "delivered")));  // completes after ~20 ms
    ASSERT_TRUE(run_awaitable(spool->commit(small_message("DRAINED"))));
  }
  bool removed = false;
  {
    RocksSpoolTuning tuning;
    tuning.lazy_delay = std::chrono::seconds(600);
    auto spool = open_spool(dir, tuning);
    ASSERT_TRUE(spool);
    auto report = spool->recover();
    ASSERT_TRUE(report);
    ASSERT_EQ(report->entries.size(), 2u);
    EXPECT_EQ(report->entries[0].id, "ALONE");
    EXPECT_EQ(report->entries[0].done, std::vector<bool>{true});
    // Queued, waiting for a commit that never comes; the destructor's drain writes it.
    asio::io_context io;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { removed = bool(co_await spool->remove("DRAINED")); },
                   asio::detached);
    io.poll();  // runs the coroutine until the remove is queued
    EXPECT_FALSE(removed);
    spool.reset();  // stop(): drains the queue
    io.restart();
    io.run();
  }
  EXPECT_TRUE(removed);
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  auto report = spool->recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 1u);
  EXPECT_EQ(report->entries[0].id, "ALONE");
}

TEST(RocksSpoolTest, OversizedBatchesAreSplitButEveryCommitCompletes) {
  TempDir dir;
  RocksSpoolTuning tuning;
  tuning.max_batch_bytes = 1;  // every request alone
  auto spool = open_spool(dir, tuning);
  ASSERT_TRUE(spool);
  asio::io_context io;
  int ok = 0;
  for (int i = 0; i < 8; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          if (co_await spool->commit(small_message("SPLIT" + std::to_string(i)))) ++ok;
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(spool->stats().batches.load(), 8u);
}

TEST(RocksSpoolTest, SecondOpenFailsWhileTheSpoolIsOpen) {
  TempDir dir;
  auto first = open_spool(dir);
  ASSERT_TRUE(first);
  auto second = open_rocks_spool({dir.str()});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("cannot open the spool"), std::string::npos);
  first.reset();
  auto third = open_rocks_spool({dir.str()});
  EXPECT_TRUE(third) << third.error().message;
}

TEST(RocksSpoolTest, OpenFailsCleanlyOnAnUnusablePath) {
  TempDir dir;
  EXPECT_FALSE(open_rocks_spool({""}));
  // A regular file where the spool directory should be.
  const std::string file = dir.str("file");
  { std::ofstream(file) << "x"; }
  auto r = open_rocks_spool({file});
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(RocksSpoolTest, FreeBytesIsTheFileSystemsAvailableSpace) {
  TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(dir.str().c_str(), &vfs), 0);
  const auto expected = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
  const auto got = static_cast<double>(spool->free_bytes());
  EXPECT_GT(got, 0.0);
  EXPECT_NEAR(got, expected, 256.0 * 1024 * 1024);  // other writers share the disk
  EXPECT_EQ(spool_stats(*spool), &spool->stats());
}

}  // namespace
}  // namespace mf::spool
