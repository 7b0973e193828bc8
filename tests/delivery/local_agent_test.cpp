// Tests for src/delivery/local_agent.cpp: spooled messages reach their Maildirs, and the spool entry
// is finished (recipients marked done, message removed) only after the Maildir write succeeded.
// The spool is tests/support's MemorySpool; the configuration is inline YAML through the real loader.
#include "config/config.hpp"
#include "delivery/local_agent.hpp"
#include "support/memory_spool.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace mf::delivery {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

using test::TempDir;

std::shared_ptr<const config::Snapshot> load(const fs::path& store) {
  const std::string yaml = R"(
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
  mailbox_store: )" + store.string() + R"(
  queue: {retry_intervals: [1s], message_expiration: 1h}
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.test, proxy_addresses: [dave@contoso.test]}
      - {type: mailbox, address: julie@contoso.test}
      - {type: group, address: team@contoso.test, members: [david@contoso.test, julie@contoso.test]}
)";
  auto loaded = config::load_string(yaml, "/tmp/local_agent_test.yaml");
  for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  return loaded.snapshot;
}

spool::StoredMessage message(const std::string& id, std::vector<std::string> rcpts) {
  spool::StoredMessage m;
  m.id = id;
  m.envelope.sender = *Address::parse("sender@example.org");
  for (const auto& r : rcpts) m.envelope.recipients.push_back({*Address::parse(r), notify_none, ""});
  m.data = "Subject: test " + id + "\r\n\r\nbody\r\n";
  return m;
}

std::size_t files_in(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

class LocalAgentTest : public ::testing::Test {
 protected:
  void commit(const spool::StoredMessage& m) {
    asio::io_context io;
    auto f = asio::co_spawn(io, spool_.commit(m), asio::use_future);
    io.run();
    ASSERT_TRUE(f.get());
  }
  spool::SpoolEntry entry(const std::string& id) {
    auto report = spool_.recover();
    for (auto& e : report->entries)
      if (e.id == id) return e;
    ADD_FAILURE() << "no entry " << id;
    return {};
  }
  // Runs the agent on its own io_context until `done()` holds or `limit` passes.
  void run_until(LocalDeliveryAgent& agent, asio::io_context& io, const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      io.run_for(std::chrono::milliseconds(20));
      if (io.stopped()) io.restart();
    }
    agent.stop();
    io.run_for(std::chrono::milliseconds(20));
  }

  TempDir tmp_;
  test::MemorySpool spool_;
};

TEST_F(LocalAgentTest, MailboxProxyAndGroupAreDeliveredOnceEachThenTheEntryIsRemoved) {
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  // david directly, via his proxy and via the group: one copy for him; julie via the group.
  commit(message("MSG1", {"david@contoso.test", "dave@contoso.test", "team@contoso.test"}));
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; });
  agent.submit(entry("MSG1"));
  run_until(agent, io, [&] { return !spool_.contains("MSG1"); });

  EXPECT_FALSE(spool_.contains("MSG1"));
  EXPECT_EQ(spool_.removes(), 1u);
  EXPECT_EQ(files_in(store / "contoso" / "david@contoso.test" / "new"), 1u);
  EXPECT_EQ(files_in(store / "contoso" / "julie@contoso.test" / "new"), 1u);
  EXPECT_EQ(files_in(store / "contoso" / "david@contoso.test" / "tmp"), 0u);
  EXPECT_EQ(agent.stats().finished.load(), 1u);
}

TEST_F(LocalAgentTest, AFailedMaildirWriteKeepsTheEntryAndIsRetried) {
  // The mailbox store is a regular file: the Maildir cannot be created, nothing may be marked done.
  const fs::path store = tmp_.path() / "mailboxes";
  std::ofstream(store) << "not a directory";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(message("MSG2", {"david@contoso.test"}));
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; });
  agent.submit(entry("MSG2"));
  run_until(agent, io, [&] { return agent.stats().deferred.load() >= 1; });

  ASSERT_GE(agent.stats().deferred.load(), 1u);
  ASSERT_TRUE(spool_.contains("MSG2"));
  EXPECT_EQ(spool_.done("MSG2"), std::vector<bool>{false});
  EXPECT_EQ(spool_.marks(), 0u);

  // The disk is repaired; the retry (after the 1 s interval of the config) delivers and finishes.
  fs::remove(store);
  LocalDeliveryAgent agent2(io.get_executor(), spool_, [snap] { return snap; });
  agent2.submit(entry("MSG2"));
  run_until(agent2, io, [&] { return !spool_.contains("MSG2"); });
  EXPECT_FALSE(spool_.contains("MSG2"));
  EXPECT_EQ(files_in(store / "contoso" / "david@contoso.test" / "new"), 1u);
}

TEST_F(LocalAgentTest, RetryTimerDeliversWithoutResubmission) {
  const fs::path store = tmp_.path() / "mailboxes";
  std::ofstream(store) << "not a directory";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(message("MSG3", {"julie@contoso.test"}));
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; });
  agent.submit(entry("MSG3"));
  // First attempt fails; repair the store before the 1 s retry fires.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (agent.stats().deferred.load() == 0 && std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(agent.stats().deferred.load(), 1u);
  fs::remove(store);
  run_until(agent, io, [&] { return !spool_.contains("MSG3"); });
  EXPECT_FALSE(spool_.contains("MSG3"));
  EXPECT_EQ(files_in(store / "contoso" / "julie@contoso.test" / "new"), 1u);
}

TEST_F(LocalAgentTest, RecipientGoneAfterReloadIsFinishedAsFailed) {  // R-DOM-2: 5.1.10 after a reload
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(message("MSG4", {"gone@contoso.test", "julie@contoso.test"}));
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; });
  agent.submit(entry("MSG4"));
  run_until(agent, io, [&] { return !spool_.contains("MSG4"); });
  EXPECT_FALSE(spool_.contains("MSG4"));
  EXPECT_EQ(agent.stats().failed.load(), 1u);
  EXPECT_EQ(files_in(store / "contoso" / "julie@contoso.test" / "new"), 1u);
}

}  // namespace
}  // namespace mf::delivery
