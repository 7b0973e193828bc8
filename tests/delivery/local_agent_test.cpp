// Tests for src/delivery/local_agent.cpp: spooled messages reach their Maildirs, and the spool entry
// is finished (recipients marked done, message removed) only after the Maildir write succeeded.
// The spool is tests/support's MemorySpool; the configuration is inline YAML through the real loader.
// The message trace events the agent and its tracker record are checked with a RecordingSink.
#include "config/config.hpp"
#include "delivery/local_agent.hpp"
#include "recording_sink.hpp"
#include "support/memory_spool.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <algorithm>
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

// --- Message trace (SPEC §6) -------------------------------------------------------------------

using test::RecordingSink;
using trace::EventType;

// The configuration of load() plus mail flow rules for the trace tests.
std::shared_ptr<const config::Snapshot> load_with_rules(const fs::path& store) {
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
      - {type: mailbox, address: walt@contoso.test}
      - {type: mailbox, address: legal@contoso.test}
      - {type: group, address: team@contoso.test, members: [david@contoso.test, julie@contoso.test]}
    transport_rules:
      - name: Walt away
        priority: 0
        conditions: {sent_to: [walt@contoso.test]}
        actions: {redirect_to: [legal@contoso.test]}
      - name: Drop spam
        priority: 1
        conditions: {subject_contains: ["viagra"]}
        actions: {delete: true}
      - name: Would tag
        priority: 2
        mode: audit
        conditions: {sent_to: [julie@contoso.test]}
        actions: {set_header: {name: X-Audit, value: "yes"}}
)";
  auto loaded = config::load_string(yaml, "/tmp/local_agent_trace_test.yaml");
  for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  return loaded.snapshot;
}

spool::StoredMessage traced_message(const std::string& id, std::vector<std::string> rcpts,
                                    const std::string& subject = "hello") {
  spool::StoredMessage m = message(id, std::move(rcpts));
  m.data = "Message-ID: <" + id + "@client.example>\r\nSubject: " + subject + "\r\n\r\nbody\r\n";
  return m;
}

// Every event carries the message's id, its Message-ID and sender, and the attributed organization.
void expect_message_fields(const std::vector<trace::Event>& events, const std::string& id) {
  for (const auto& e : events) {
    EXPECT_EQ(e.message_id, id) << trace::to_string(e.type);
    EXPECT_EQ(e.internet_message_id, id + "@client.example") << trace::to_string(e.type);
    EXPECT_EQ(e.sender, "sender@example.org") << trace::to_string(e.type);
    EXPECT_EQ(e.organization, "contoso") << trace::to_string(e.type);
    EXPECT_GT(e.time_us, 0) << trace::to_string(e.type);
  }
}

TEST_F(LocalAgentTest, TracePlainLocalDeliveryIsOneDeliverEvent) {
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(traced_message("TR1", {"julie@contoso.test"}));
  RecordingSink sink;
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; }, sink);
  agent.submit(entry("TR1"));
  run_until(agent, io, [&] { return !spool_.contains("TR1"); });

  const auto events = sink.events();
  ASSERT_EQ(RecordingSink::types(events), std::vector<std::string>{"DELIVER"});
  const auto& d = events[0];
  EXPECT_EQ(d.recipient, "julie@contoso.test");
  EXPECT_EQ(d.next_hop, "local");
  EXPECT_EQ(d.copy_id, "") << "a message that is not split has no copy id";
  EXPECT_EQ(d.detail, "mailbox julie@contoso.test");
  expect_message_fields(events, "TR1");
}

TEST_F(LocalAgentTest, TraceGroupExpansionAndProxyResolution) {
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(traced_message("TR2", {"dave@contoso.test", "team@contoso.test"}));
  RecordingSink sink;
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; }, sink);
  agent.submit(entry("TR2"));
  run_until(agent, io, [&] { return !spool_.contains("TR2"); });
  expect_message_fields(sink.events(), "TR2");

  const auto dave = sink.about("dave@contoso.test");
  ASSERT_EQ(RecordingSink::types(dave), (std::vector<std::string>{"RESOLVE", "DELIVER"}));
  EXPECT_EQ(dave[0].detail, "dave@contoso.test resolved to david@contoso.test");
  EXPECT_EQ(dave[1].detail, "mailbox david@contoso.test");

  // The group: one EXPAND naming its members, then one DELIVER per member mailbox (david's file is
  // shared with dave@'s delivery: one file, both recipients traced).
  const auto team = sink.about("team@contoso.test");
  ASSERT_EQ(RecordingSink::types(team), (std::vector<std::string>{"EXPAND", "DELIVER", "DELIVER"}));
  EXPECT_EQ(team[0].detail, "group team@contoso.test expanded to david@contoso.test, julie@contoso.test");
  std::vector<std::string> mailboxes{team[1].detail, team[2].detail};
  std::sort(mailboxes.begin(), mailboxes.end());
  EXPECT_EQ(mailboxes, (std::vector<std::string>{"mailbox david@contoso.test", "mailbox julie@contoso.test"}));
  EXPECT_EQ(files_in(store / "contoso" / "david@contoso.test" / "new"), 1u);
  EXPECT_EQ(sink.count(EventType::BIFURCATE), 0u) << "one local copy is no split";
}

TEST_F(LocalAgentTest, TraceRuleRedirectAuditAndDrop) {
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load_with_rules(store);
  ASSERT_TRUE(snap);
  commit(traced_message("TR3", {"walt@contoso.test", "julie@contoso.test"}));
  commit(traced_message("TR4", {"david@contoso.test"}, "cheap viagra"));
  RecordingSink sink;
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; }, sink);
  agent.submit(entry("TR3"));
  agent.submit(entry("TR4"));
  run_until(agent, io, [&] { return !spool_.contains("TR3") && !spool_.contains("TR4"); });

  // walt: the rule fires, redirects him to legal, legal's mailbox gets the message.
  const auto walt = sink.about("walt@contoso.test");
  ASSERT_EQ(RecordingSink::types(walt), (std::vector<std::string>{"TRANSPORT_RULE", "REDIRECT", "DELIVER"}));
  EXPECT_EQ(walt[0].detail, "rule 'Walt away': redirect_to:legal@contoso.test");
  EXPECT_EQ(walt[1].detail, "rule 'Walt away' redirected walt@contoso.test to legal@contoso.test");
  EXPECT_EQ(walt[2].detail, "mailbox legal@contoso.test");
  EXPECT_EQ(files_in(store / "contoso" / "legal@contoso.test" / "new"), 1u);
  EXPECT_EQ(files_in(store / "contoso" / "walt@contoso.test" / "new"), 0u);

  // julie: an audit rule is traced (marked as not applied); she is delivered as usual.
  const auto julie = sink.about("julie@contoso.test");
  ASSERT_EQ(RecordingSink::types(julie), (std::vector<std::string>{"TRANSPORT_RULE", "DELIVER"}));
  EXPECT_NE(julie[0].detail.find("rule 'Would tag' (audit: not applied)"), std::string::npos) << julie[0].detail;

  // TR4: deleted by a rule: TRANSPORT_RULE then DROP, no delivery, no NDR.
  std::vector<trace::Event> tr4;
  for (const auto& e : sink.events())
    if (e.message_id == "TR4") tr4.push_back(e);
  ASSERT_EQ(RecordingSink::types(tr4), (std::vector<std::string>{"TRANSPORT_RULE", "DROP"}));
  EXPECT_EQ(tr4[1].recipient, "david@contoso.test");
  EXPECT_EQ(tr4[1].detail, "deleted by rule 'Drop spam'");
  EXPECT_EQ(sink.count(EventType::NDR), 0u);
}

TEST_F(LocalAgentTest, TraceMaildirFailureIsADeferThenTheRetryDelivers) {
  const fs::path store = tmp_.path() / "mailboxes";
  std::ofstream(store) << "not a directory";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(traced_message("TR5", {"julie@contoso.test"}));
  RecordingSink sink;
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; }, sink);
  agent.submit(entry("TR5"));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (agent.stats().deferred.load() == 0 && std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(agent.stats().deferred.load(), 1u);
  fs::remove(store);
  run_until(agent, io, [&] { return !spool_.contains("TR5"); });

  const auto julie = sink.about("julie@contoso.test");
  ASSERT_EQ(RecordingSink::types(julie), (std::vector<std::string>{"DEFER", "DELIVER"}));
  EXPECT_EQ(julie[0].next_hop, "local");
  EXPECT_FALSE(julie[0].reply.empty()) << "the reason of the failed write";
  expect_message_fields(julie, "TR5");
}

TEST_F(LocalAgentTest, TraceUnknownRecipientFailsWithAnNdr) {
  const fs::path store = tmp_.path() / "mailboxes";
  auto snap = load(store);
  ASSERT_TRUE(snap);
  commit(traced_message("TR6", {"gone@contoso.test", "julie@contoso.test"}));
  RecordingSink sink;
  asio::io_context io;
  LocalDeliveryAgent agent(io.get_executor(), spool_, [snap] { return snap; }, sink);
  agent.submit(entry("TR6"));
  run_until(agent, io, [&] { return !spool_.contains("TR6"); });

  const auto gone = sink.about("gone@contoso.test");
  ASSERT_EQ(RecordingSink::types(gone), std::vector<std::string>{"FAIL"});
  EXPECT_EQ(gone[0].reply.substr(0, 10), "550 5.1.10");
  EXPECT_EQ(gone[0].detail, "status 5.1.10");
  EXPECT_EQ(RecordingSink::types(sink.about("julie@contoso.test")), std::vector<std::string>{"DELIVER"});

  // The NDR: recorded on the original message, naming the new message (committed to the spool).
  const auto ndrs = sink.of(EventType::NDR);
  ASSERT_EQ(ndrs.size(), 1u);
  EXPECT_EQ(ndrs[0].message_id, "TR6");
  EXPECT_EQ(ndrs[0].recipient, "");
  auto report = spool_.recover();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->entries.size(), 1u) << "the NDR waits in the spool (no submit hook here)";
  EXPECT_EQ(ndrs[0].detail, "NDR " + report->entries[0].id + " to sender@example.org for gone@contoso.test");
  // FAIL comes before the NDR it caused.
  const auto all = sink.events();
  const auto fail_at = std::find_if(all.begin(), all.end(), [](const auto& e) { return e.type == EventType::FAIL; });
  const auto ndr_at = std::find_if(all.begin(), all.end(), [](const auto& e) { return e.type == EventType::NDR; });
  EXPECT_LT(fail_at, ndr_at);
}

}  // namespace
}  // namespace mf::delivery
