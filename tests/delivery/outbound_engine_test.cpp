// Tests for src/delivery/outbound.cpp (OutboundEngine) with its outside world injected (STYLE habit 5):
// a FakeClock decides when retries and expiry happen, a FakeResolver answers MX and A questions, the
// spool is a MemorySpool, and the remote SMTP servers are TestSmtpPeers listening on loopback
// addresses of a /24 private to this test and process (tests/support/test_smtp_peer.hpp), so the
// engine runs its real sockets and its real smtp::ClientSession. The engine and the peers share one
// io_context, pumped with run_for() until a condition holds (bounded; a bound is never an assertion
// of speed). The Tracker is the real one: permanent failures become NDRs committed to the spool.
// Every test records the message trace into a RecordingSink; the Trace* tests check it.
#include "config/config.hpp"
#include "delivery/local_agent.hpp"
#include "delivery/outbound.hpp"
#include "delivery/tracker.hpp"
#include "recording_sink.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_resolver.hpp"
#include "support/memory_spool.hpp"
#include "support/temp_dir.hpp"
#include "support/test_smtp_peer.hpp"
#include "tls/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace mf::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::PeerGroup;
using test::TestSmtpPeer;

const char* const kSender = "alice@contoso.test";

TestSmtpPeer::Script good() { return {}; }
TestSmtpPeer::Script refusing() {
  TestSmtpPeer::Script s;
  s.mode = TestSmtpPeer::Mode::refuse;
  return s;
}
TestSmtpPeer::Script rcpt_says(std::string reply) {
  TestSmtpPeer::Script s;
  s.rcpt_reply = std::move(reply);
  return s;
}

class OutboundEngineTest : public ::testing::Test {
 protected:
  // The current test's name: seeds the loopback /24 and names the test's domains.
  static std::string test_name() {
    std::string n = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n;
  }
  // Names under a domain of this test ("relay1" → "relay1.<testname>.test").
  static std::string name(const std::string& label) { return label + "." + test_name() + ".test"; }

  void make_peers(std::vector<TestSmtpPeer::Script> scripts) {
    peers_ = std::make_unique<PeerGroup>(io_.get_executor(), test_name(), std::move(scripts));
    ASSERT_TRUE(peers_->ok()) << peers_->error();
  }
  TestSmtpPeer& peer(std::size_t i) { return (*peers_)[i]; }

  struct Settings {
    std::uint16_t port = 25;       // service.remote_smtp_port
    std::string listener = "127.0.0.1:2525";
    std::string retry = "[60s]";
    std::string expiration = "1h";
    std::chrono::seconds reply_timeout_cap{0};  // OutboundEngine::Options::reply_timeout_cap
    // OutboundEngine::Options::idle_time; 0 here (connections close when their queue is empty) so
    // that "finished" can include "no connection open" without waiting for the idle time.
    std::chrono::milliseconds idle_time{0};
    std::string service_extra;  // more service keys (indented by two spaces)
    std::string organizations;  // an `organizations:` section, or ""
  };
  // Loads the snapshot from inline YAML and starts the engine (and the tracker) on io_.
  void start_engine(const Settings& s) {
    const std::string yaml = R"(
service:
  hostname: mailflow.test
  listeners: [{name: mx, address: ")" + s.listener + R"("}]
  remote_smtp_port: )" + std::to_string(s.port) + R"(
  queue: {retry_intervals: )" + s.retry + R"(, message_expiration: )" + s.expiration + R"(}
)" + s.service_extra + s.organizations;
    auto loaded = config::load_string(yaml, "/tmp/outbound_engine_test.yaml");
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
    ASSERT_TRUE(loaded.snapshot);
    snapshot_ = loaded.snapshot;
    SnapshotSource source = [snap = snapshot_] { return snap; };
    tracker_ = std::make_unique<Tracker>(spool_, source, clock_, sink_);
    auto tls = tls::make_client_context(nullptr);
    ASSERT_TRUE(tls);
    OutboundEngine::Options options;
    options.reply_timeout_cap = s.reply_timeout_cap;
    options.idle_time = s.idle_time;
    engine_ = std::make_unique<OutboundEngine>(io_.get_executor(), spool_, *tracker_, source, resolver_, clock_, *tls,
                                               options, sink_);
  }
  void start_engine_on_peers() { start_engine_on_peers(Settings()); }
  void start_engine_on_peers(Settings s) {
    s.port = peers_->port();
    start_engine(s);
  }

  // A host name that resolves (no MX of its own: nodata, then A) to that peer's address.
  std::string host_for(std::size_t peer_index, const std::string& label) {
    const std::string host = name(label);
    resolver_.set_mx(host, dns::MxAnswer{dns::Status::nodata, {}, "NODATA"});
    resolver_.set_addresses(host, std::vector<std::string>{peer(peer_index).address()});
    return host;
  }
  // A connector's smart hosts, one per peer, in peer order ("relay1", "relay2"...), port from
  // service.remote_smtp_port.
  routing::NextHop smart_hop() {
    routing::NextHop hop;
    hop.kind = routing::NextHop::Kind::smart_hosts;
    hop.connector = "relay";
    for (std::size_t i = 0; i < peers_->size(); ++i) {
      config::HostPort hp;
      hp.host = host_for(i, "relay" + std::to_string(i + 1));
      hop.smart_hosts.push_back(hp);
    }
    return hop;
  }
  static routing::NextHop mx_hop(const std::string& domain) {
    routing::NextHop hop;
    hop.kind = routing::NextHop::Kind::mx;
    hop.mx_domain = domain;
    return hop;
  }

  // Commits a message to the spool, tells the tracker (one part per recipient) and hands the
  // recipients `handed` (default: all) to the engine for `hop`. Returns the message id.
  std::string submit(const std::string& id, const std::vector<std::string>& rcpts, const routing::NextHop& hop,
                     std::optional<std::vector<std::size_t>> handed = std::nullopt) {
    spool::StoredMessage m;
    m.id = id;
    m.envelope.sender = *Address::parse(kSender);
    for (const auto& r : rcpts) m.envelope.recipients.push_back({*Address::parse(r), notify_none, ""});
    m.received_at = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
    m.data = "From: <" + std::string(kSender) + ">\r\nSubject: test " + id + "\r\n\r\nbody of " + id + "\r\n";
    {
      asio::io_context io;
      auto f = asio::co_spawn(io, spool_.commit(m), asio::use_future);
      io.run();
      EXPECT_TRUE(f.get());
    }
    spool::SpoolEntry entry;
    entry.id = m.id;
    entry.envelope = m.envelope;
    entry.connection = m.connection;
    entry.received_at = m.received_at;
    entry.size = m.data.size();
    entry.done.assign(rcpts.size(), false);
    tracker_->begin(entry, std::vector<std::size_t>(rcpts.size(), 1));
    stored_[id] = m;
    if (!handed) {
      handed.emplace();
      for (std::size_t i = 0; i < rcpts.size(); ++i) handed->push_back(i);
    }
    if (!handed->empty()) hand_over(id, *handed, hop);  // empty: the test hands over itself
    return id;
  }
  // Hands recipients `indexes` of a submitted message to the engine (again) for `hop`.
  // `aliases`: recipients sharing the delivery of one of `indexes` (routing::CopyRecipient::also).
  void hand_over(const std::string& id, const std::vector<std::size_t>& indexes, const routing::NextHop& hop,
                 std::vector<OutboundWork::Alias> aliases = {}) {
    const spool::StoredMessage& m = stored_.at(id);
    OutboundWork w;
    w.message_id = id;
    w.envelope = m.envelope;
    w.hop = hop;
    w.aliases = std::move(aliases);
    for (std::size_t i : indexes) w.recipients.push_back({i, m.envelope.recipients.at(i).address});
    w.received_at = m.received_at;
    engine_->enqueue(std::move(w));
  }

  // Pumps io_ until `done()` holds or `limit` (wall time) passes; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      io_.run_for(10ms);
      if (io_.stopped()) io_.restart();
    }
    return done();
  }
  // Pumps io_ for `d` of wall time (used only to show that something does NOT happen).
  void run_for(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
      io_.run_for(10ms);
      if (io_.stopped()) io_.restart();
    }
  }
  bool open_connections() const { return peers_ && peers_->open_connections() > 0; }
  // The message is finished (gone from the spool and the tracker) and no peer connection is open.
  bool finished(const std::string& id) {
    return !spool_.contains(id) && tracker_->active() == 0 && !open_connections();
  }

  // Messages in the spool other than `except` (the NDRs the tracker committed).
  std::vector<spool::StoredMessage> others(const std::vector<std::string>& except) {
    std::vector<spool::StoredMessage> out;
    auto report = spool_.recover();
    if (!report) return out;
    for (const auto& e : report->entries) {
      if (std::find(except.begin(), except.end(), e.id) != except.end()) continue;
      if (auto m = spool_.message(e.id)) out.push_back(std::move(*m));
    }
    return out;
  }
  // Checks that exactly one NDR for kSender was committed, and returns its text.
  std::string the_ndr(const std::vector<std::string>& except) {
    auto ndrs = others(except);
    EXPECT_EQ(ndrs.size(), 1u);
    if (ndrs.empty()) return {};
    const auto& n = ndrs.front();
    EXPECT_FALSE(n.envelope.sender) << "an NDR has the null sender";
    EXPECT_EQ(n.envelope.recipients.size(), 1u);
    if (!n.envelope.recipients.empty()) {
      EXPECT_EQ(n.envelope.recipients[0].address.str(), kSender);
    }
    return n.data;
  }

  void TearDown() override {
    if (engine_) engine_->stop();
    if (peers_) peers_->stop();
    // Let the coroutines see the stop and the closed sockets, then end (bounded).
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (!io_.stopped() && std::chrono::steady_clock::now() < until) io_.run_for(10ms);
  }

  // Declaration order matters: the engine and the peers go first (their sockets and timers belong
  // to io_), then io_ destroys what is left of the coroutine frames, which may still refer to the
  // tracker, spool, resolver and clock declared before it.
  test::FakeClock clock_;
  test::FakeResolver resolver_;
  test::MemorySpool spool_;
  test::RecordingSink sink_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  std::unique_ptr<Tracker> tracker_;
  std::map<std::string, spool::StoredMessage> stored_;  // submitted messages by id
  asio::io_context io_;
  std::unique_ptr<PeerGroup> peers_;
  std::unique_ptr<OutboundEngine> engine_;
};

TEST_F(OutboundEngineTest, DeliversThroughASmartHostAndFinishesTheMessage) {
  make_peers({good()});
  start_engine_on_peers();
  const auto hop = smart_hop();
  const auto id = submit("MSG1", {"bob@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  const auto tx = peer(0).transactions();
  ASSERT_EQ(tx.size(), 1u);
  EXPECT_EQ(tx[0].mail_from, kSender);
  EXPECT_EQ(tx[0].rcpts, std::vector<std::string>{"bob@example.com"});
  EXPECT_NE(tx[0].data.find("Subject: test MSG1\r\n"), std::string::npos) << tx[0].data;
  EXPECT_NE(tx[0].data.find("body of MSG1\r\n"), std::string::npos) << tx[0].data;
  EXPECT_TRUE(tx[0].accepted);
  EXPECT_EQ(peer(0).count_commands("QUIT"), 1u);
  EXPECT_EQ(spool_.size(), 0u);
  EXPECT_EQ(spool_.removes(), 1u);
  EXPECT_EQ(tracker_->active(), 0u);
  EXPECT_EQ(engine_->stats().delivered.load(), 1u);
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
}

TEST_F(OutboundEngineTest, RoundRobinAlternatesBetweenTwoSmartHosts) {  // R-OUT-4
  make_peers({good(), good()});
  start_engine_on_peers();
  const auto hop = smart_hop();
  for (int i = 0; i < 4; ++i) {
    const auto id = submit("MSG" + std::to_string(i), {"bob@example.com"}, hop);
    ASSERT_TRUE(run_until([&] { return finished(id); })) << "message " << i;
  }
  const auto a = peer(0).transactions();
  const auto b = peer(1).transactions();
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  // Each attempt starts at the host after the one the previous attempt started with.
  EXPECT_NE(a[0].data.find("Subject: test MSG0\r\n"), std::string::npos);
  EXPECT_NE(b[0].data.find("Subject: test MSG1\r\n"), std::string::npos);
  EXPECT_NE(a[1].data.find("Subject: test MSG2\r\n"), std::string::npos);
  EXPECT_NE(b[1].data.find("Subject: test MSG3\r\n"), std::string::npos);
  EXPECT_EQ(engine_->stats().delivered.load(), 4u);
}

// Connection cache (OutboundEngine::Options::idle_time): a connection whose queue ran empty waits for
// the hop's next job instead of closing, then closes after the idle time with a QUIT.
TEST_F(OutboundEngineTest, IdleConnectionCarriesTheNextMessageThenClosesAfterTheIdleTime) {
  make_peers({good()});
  Settings s;
  s.idle_time = 300ms;
  start_engine_on_peers(s);
  const auto hop = smart_hop();
  const auto first = submit("MSG1", {"bob@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return !spool_.contains(first) && tracker_->active() == 0; }));
  EXPECT_EQ(peer(0).open_connections(), 1u) << "kept open for the next job";
  const auto second = submit("MSG2", {"carol@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return !spool_.contains(second) && tracker_->active() == 0; }));
  EXPECT_EQ(peer(0).connections(), 1u) << "the second message must reuse the idle connection";
  ASSERT_EQ(peer(0).transactions().size(), 2u);
  ASSERT_TRUE(run_until([&] { return !open_connections(); }, 5s)) << "closed after the idle time";
  EXPECT_EQ(peer(0).count_commands("QUIT"), 1u);
  EXPECT_EQ(peer(0).count_commands("EHLO"), 1u);
}

// R-OUT-4 holds with the cache on: a connector with several smart hosts keeps no idle connection,
// so a trickle of messages still alternates between the hosts.
TEST_F(OutboundEngineTest, SeveralSmartHostsKeepNoIdleConnectionAndStillAlternate) {
  make_peers({good(), good()});
  Settings s;
  s.idle_time = 10s;
  start_engine_on_peers(s);
  const auto hop = smart_hop();
  for (int i = 0; i < 4; ++i) {
    const auto id = submit("MSG" + std::to_string(i), {"bob@example.com"}, hop);
    ASSERT_TRUE(run_until([&] { return finished(id); })) << "message " << i;
  }
  EXPECT_EQ(peer(0).transactions().size(), 2u);
  EXPECT_EQ(peer(1).transactions().size(), 2u);
}

// Catalogue G17: the smart host closed the cached connection while it was idle. The next message
// goes over a fresh connection, once, without a deferral.
TEST_F(OutboundEngineTest, IdleConnectionDroppedByThePeerIsReplacedWithoutADeferral) {
  make_peers({good()});
  Settings s;
  s.idle_time = 10s;
  start_engine_on_peers(s);
  const auto hop = smart_hop();
  const auto first = submit("MSG1", {"bob@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return !spool_.contains(first) && tracker_->active() == 0; }));
  peer(0).drop_connections();
  run_for(50ms);
  const auto second = submit("MSG2", {"carol@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return !spool_.contains(second) && tracker_->active() == 0; }));
  EXPECT_EQ(peer(0).connections(), 2u);
  const auto tx = peer(0).transactions();
  ASSERT_EQ(tx.size(), 2u);
  EXPECT_EQ(tx[1].rcpts, std::vector<std::string>{"carol@example.com"});
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
  EXPECT_EQ(engine_->stats().delivered.load(), 2u);
}

// stop() ends idle connections at once (with QUIT), not after the idle time.
TEST_F(OutboundEngineTest, StopClosesIdleConnections) {
  make_peers({good()});
  Settings s;
  s.idle_time = 600s;
  start_engine_on_peers(s);
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return !spool_.contains(id) && tracker_->active() == 0; }));
  ASSERT_EQ(peer(0).open_connections(), 1u);
  engine_->stop();
  ASSERT_TRUE(run_until([&] { return !open_connections(); }, 5s));
  EXPECT_EQ(peer(0).count_commands("QUIT"), 1u);
}

TEST_F(OutboundEngineTest, RefusedFirstSmartHostFailsOverToTheSecondAtOnce) {  // R-OUT-5
  make_peers({refusing(), good()});
  start_engine_on_peers();
  const auto start = clock_.now();
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  EXPECT_EQ(clock_.now(), start) << "the fake clock never moved: the failover did not wait for a retry";
  EXPECT_EQ(peer(0).connections(), 0u);
  ASSERT_EQ(peer(1).transactions().size(), 1u);
  EXPECT_EQ(peer(1).transactions()[0].rcpts, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
  EXPECT_EQ(engine_->stats().delivered.load(), 1u);
  // relay1 was tried (and resolved) before relay2.
  const auto& q = resolver_.queries();
  const auto a1 = std::find(q.begin(), q.end(), "A " + name("relay1"));
  const auto a2 = std::find(q.begin(), q.end(), "A " + name("relay2"));
  EXPECT_TRUE(a1 < a2);
}

TEST_F(OutboundEngineTest, TransientRcptFailureMovesThatRecipientToTheNextHostInTheSameAttempt) {  // R-OUT-5
  auto busy = good();
  busy.rcpt_replies["carol@example.com"] = "451 4.2.1 <carol@example.com>: mailbox busy";
  make_peers({busy, good()});
  start_engine_on_peers();
  const auto id = submit("MSG1", {"bob@example.com", "carol@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  const auto a = peer(0).transactions();
  const auto b = peer(1).transactions();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].rcpts, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(b[0].rcpts, std::vector<std::string>{"carol@example.com"});
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
  EXPECT_EQ(engine_->stats().delivered.load(), 2u);
  EXPECT_EQ(spool_.commits(), 1u) << "no NDR";
}

TEST_F(OutboundEngineTest, PermanentRcptFailureBouncesAndTriesNoOtherHost) {  // R-OUT-6, R-NDR-1
  make_peers({rcpt_says("550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"), good()});
  start_engine_on_peers();
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  EXPECT_EQ(peer(1).connections(), 0u) << "a 5xx must not be retried elsewhere";
  EXPECT_TRUE(peer(0).transactions().empty());
  const std::string ndr = the_ndr({id});
  EXPECT_NE(ndr.find("5.1.1"), std::string::npos) << ndr;
  EXPECT_NE(ndr.find("User unknown"), std::string::npos) << ndr;
  EXPECT_EQ(engine_->stats().failed.load(), 1u);
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
}

TEST_F(OutboundEngineTest, AllHostsTemporaryFailureDefersAndRetriesOnTheInjectedClock) {  // R-NDR-2
  make_peers({rcpt_says("451 4.3.0 try again later"), rcpt_says("451 4.3.0 try again later")});
  start_engine_on_peers();  // retry_intervals [60s]
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));

  // Deferred: nothing done in the spool, no NDR, still tracked.
  EXPECT_TRUE(spool_.contains(id));
  EXPECT_EQ(spool_.done(id), std::vector<bool>{false});
  EXPECT_EQ(spool_.marks(), 0u);
  EXPECT_EQ(spool_.commits(), 1u);
  EXPECT_EQ(tracker_->active(), 1u);
  EXPECT_EQ(peer(0).connections(), 1u);
  EXPECT_EQ(peer(1).connections(), 1u);

  // Wall time alone does not bring the retry (the wait loop re-checks at least every second).
  run_for(1500ms);
  EXPECT_EQ(peer(0).connections() + peer(1).connections(), 2u);

  // The fake clock passes retry_intervals[0]: the job is retried, and now both hosts accept.
  peer(0).script().rcpt_reply = "250 2.1.5 Ok";
  peer(1).script().rcpt_reply = "250 2.1.5 Ok";
  clock_.advance(61s);
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_GT(peer(0).connections() + peer(1).connections(), 2u);
  EXPECT_EQ(peer(0).transactions().size() + peer(1).transactions().size(), 1u);
  EXPECT_EQ(spool_.commits(), 1u) << "no NDR";
  EXPECT_EQ(engine_->stats().delivered.load(), 1u);
}

TEST_F(OutboundEngineTest, ExpiryBouncesWith447AndTheLastError) {  // R-NDR-2
  make_peers({rcpt_says("451 4.3.0 mailbox-busy-zq7")});
  Settings s;
  s.port = peers_->port();
  s.expiration = "120s";
  start_engine(s);
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
  EXPECT_TRUE(spool_.contains(id));
  EXPECT_EQ(spool_.commits(), 1u);

  clock_.advance(121s);  // past received_at + message_expiration
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(peer(0).connections(), 2u) << "a last attempt at expiry, then the NDR";
  const std::string ndr = the_ndr({id});
  EXPECT_NE(ndr.find("4.4.7"), std::string::npos) << ndr;
  EXPECT_NE(ndr.find("mailbox-busy-zq7"), std::string::npos) << ndr;
  EXPECT_EQ(engine_->stats().failed.load(), 1u);
}

TEST_F(OutboundEngineTest, MxHostsAreTriedInPreferenceOrder) {  // R-OUT-7
  make_peers({refusing(), good()});
  start_engine_on_peers();
  const std::string domain = name("dest");
  // Listed by the server with the less preferred record first: the engine must sort.
  resolver_.set_mx(domain, std::vector<dns::MxRecord>{{20, host_for(1, "mx20")}, {10, host_for(0, "mx10")}});
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  ASSERT_EQ(peer(1).transactions().size(), 1u);
  EXPECT_EQ(peer(1).transactions()[0].rcpts, std::vector<std::string>{"bob@" + domain});
  // MX once to find the queue (the MX host set), once by the connection (a resolver cache hit in
  // production; the fake has no cache).
  EXPECT_EQ(resolver_.queries(), (std::vector<std::string>{"MX " + domain, "MX " + domain, "A " + name("mx10"),
                                                          "A " + name("mx20")}));
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
}

// Two envelope recipients that reach one address (a group member named again, routing's
// CopyRecipient::also): one RCPT, and its outcome finishes both.
TEST_F(OutboundEngineTest, AnOutcomeAlsoFinishesTheRecipientsSharingTheDelivery) {
  make_peers({good()});
  start_engine_on_peers();
  const auto id = submit("MSG1", {"bob@example.com", "team@example.com"}, smart_hop(), std::vector<std::size_t>{});
  hand_over(id, {0}, smart_hop(), {OutboundWork::Alias{0, *Address::parse("bob@example.com"), 1}});
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  ASSERT_EQ(peer(0).transactions().size(), 1u);
  EXPECT_EQ(peer(0).transactions()[0].rcpts, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(engine_->stats().delivered.load(), 1u);
}

TEST_F(OutboundEngineTest, DomainsWithTheSameMxHostsShareOneQueueAndOneTransaction) {  // issue 3, §1
  make_peers({good()});
  start_engine_on_peers();
  const std::string a = name("first"), b = name("second");
  const std::string mx = host_for(0, "shared-mx");
  resolver_.set_mx(a, std::vector<dns::MxRecord>{{10, mx}});
  resolver_.set_mx(b, std::vector<dns::MxRecord>{{5, mx}});
  // One message, one recipient in each domain, handed over as two next hops (two domains).
  const auto id = submit("MSG1", {"x@" + a, "y@" + b}, mx_hop(a), std::vector<std::size_t>{0});
  hand_over(id, {1}, mx_hop(b));
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  std::size_t rcpts = 0;
  for (const auto& t : peer(0).transactions()) rcpts += t.rcpts.size();
  EXPECT_EQ(rcpts, 2u);
  EXPECT_EQ(peer(0).connections(), 1u);  // the two domains share the queue's connection
}

TEST_F(OutboundEngineTest, TarpitWithoutBannerTimesOutAndTheNextHostGetsIt) {  // catalogue G01
  TestSmtpPeer::Script tarpit;
  tarpit.mode = TestSmtpPeer::Mode::silent;
  make_peers({tarpit, good()});
  Settings s;
  s.reply_timeout_cap = std::chrono::seconds(1);  // stands for the 5-minute banner timeout
  start_engine_on_peers(s);
  const auto id = submit("MSG1", {"bob@example.test"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(peer(0).connections(), 1u);
  ASSERT_EQ(peer(1).transactions().size(), 1u);
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
}

TEST_F(OutboundEngineTest, SlowDripGreetingHitsTheWholeReplyDeadline) {  // catalogue G07
  TestSmtpPeer::Script drip;
  drip.mode = TestSmtpPeer::Mode::drip;  // ~30 octets, one every 200 ms: ~6 s for the greeting
  make_peers({drip, good()});
  Settings s;
  s.reply_timeout_cap = std::chrono::seconds(1);  // each read comes in time; the whole reply does not
  start_engine_on_peers(s);
  const auto id = submit("MSG1", {"bob@example.test"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }, std::chrono::seconds(4)));
  ASSERT_EQ(peer(1).transactions().size(), 1u);
  EXPECT_TRUE(peer(0).transactions().empty());
}

TEST_F(OutboundEngineTest, NoReplyAfterTheDotDefersWithoutBouncing) {  // catalogue G05, G06
  auto slow = good();
  slow.hold_end_of_data = true;  // the 250 never comes within the (capped) end-of-data timeout
  make_peers({slow});
  Settings s;
  s.reply_timeout_cap = std::chrono::seconds(1);
  start_engine_on_peers(s);
  const auto id = submit("MSG1", {"bob@example.test"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1; }));
  EXPECT_TRUE(spool_.contains(id));  // kept for a retry (a duplicate is possible, a loss is not)
  EXPECT_EQ(spool_.done(id), std::vector<bool>{false});
  EXPECT_EQ(spool_.size(), 1u);  // no NDR
}

TEST_F(OutboundEngineTest, NullMxBouncesWith5110AtOnce) {  // RFC 7505
  start_engine(Settings{});
  const std::string domain = name("nomail");
  resolver_.set_mx(domain, dns::MxAnswer{dns::Status::null_mx, {}, ""});
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  const std::string ndr = the_ndr({id});
  EXPECT_NE(ndr.find("5.1.10"), std::string::npos) << ndr;
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
  EXPECT_EQ(engine_->stats().connections.load(), 1u);  // one connection coroutine, no socket
}

TEST_F(OutboundEngineTest, NxdomainBouncesWith544) {
  start_engine(Settings{});
  const std::string domain = name("nowhere");  // the FakeResolver knows nothing: NXDOMAIN
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  const std::string ndr = the_ndr({id});
  EXPECT_NE(ndr.find("5.4.4"), std::string::npos) << ndr;
  EXPECT_EQ(engine_->stats().deferred.load(), 0u);
}

TEST_F(OutboundEngineTest, DnsTemporaryFailureDefersWithoutBouncing) {
  start_engine(Settings{});
  const std::string domain = name("servfail");
  resolver_.set_mx(domain, dns::MxAnswer{dns::Status::temp_fail, {}, "SERVFAIL"});
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1; }));
  EXPECT_TRUE(spool_.contains(id));
  EXPECT_EQ(spool_.done(id), std::vector<bool>{false});
  EXPECT_EQ(spool_.commits(), 1u) << "no NDR";
  EXPECT_EQ(spool_.marks(), 0u);
  EXPECT_EQ(tracker_->active(), 1u);
  EXPECT_EQ(engine_->stats().failed.load(), 0u);
}

TEST_F(OutboundEngineTest, OwnListenerAsNextHopBouncesWith535WithoutConnecting) {  // R-LOOP-1
  make_peers({good()});
  Settings s;
  s.port = peers_->port();
  s.listener = peer(0).address() + ":" + std::to_string(peers_->port());  // "we" listen where the MX points
  start_engine(s);
  const std::string domain = name("loop");
  resolver_.set_mx(domain, std::vector<dns::MxRecord>{{10, host_for(0, "mx")}});
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(peer(0).connections(), 0u);
  const std::string ndr = the_ndr({id});
  EXPECT_NE(ndr.find("5.3.5"), std::string::npos) << ndr;
}

TEST_F(OutboundEngineTest, JobsOfOneHopEnqueuedTogetherReuseConnections) {
  make_peers({good()});
  start_engine_on_peers();
  const auto hop = smart_hop();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit("MSG" + std::to_string(i), {"bob@example.com"}, hop));
  ASSERT_TRUE(run_until([&] {
    for (const auto& id : ids)
      if (spool_.contains(id)) return false;
    return tracker_->active() == 0 && !open_connections();
  }));
  EXPECT_EQ(peer(0).transactions().size(), 3u);
  EXPECT_LE(peer(0).connections(), 2u);
  EXPECT_LT(peer(0).connections(), ids.size());
  EXPECT_EQ(engine_->stats().delivered.load(), 3u);
}

TEST_F(OutboundEngineTest, ConnectionDroppedAtEndOfDataDefersWithoutBouncing) {
  // No reply to the end of data: the outcome is unknown, so the recipient is retried later (a
  // possible duplicate, never a loss), not bounced.
  auto dropping = good();
  dropping.mode = TestSmtpPeer::Mode::drop_at_end_of_data;
  make_peers({dropping});
  start_engine_on_peers();
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
  ASSERT_EQ(peer(0).transactions().size(), 1u);
  EXPECT_FALSE(peer(0).transactions()[0].accepted);
  EXPECT_TRUE(spool_.contains(id));
  EXPECT_EQ(spool_.done(id), std::vector<bool>{false});
  EXPECT_EQ(spool_.commits(), 1u) << "no NDR";
  EXPECT_EQ(engine_->stats().delivered.load(), 0u);
  EXPECT_EQ(engine_->stats().failed.load(), 0u);
}

TEST_F(OutboundEngineTest, RecipientsMergedIntoAJobInFlightAreDeliveredToo) {
  // outbound.hpp/.cpp: "The same message and hop again (a repeated submit): merge the recipients."
  // Here the second hand-over arrives while the first transaction of that job is in flight: it must
  // be tried right after that transaction, not dropped (a bug found by this test, now fixed).
  auto holding = good();
  holding.hold_end_of_data = true;
  make_peers({holding});
  start_engine_on_peers();
  const auto hop = smart_hop();
  const auto id = submit("MSG1", {"bob@example.com", "carol@example.com"}, hop, std::vector<std::size_t>{0});
  ASSERT_TRUE(run_until([&] { return peer(0).held() == 1; }));
  hand_over(id, {1}, hop);  // carol, same message, same hop
  run_for(50ms);            // the engine merges her into the job in flight
  peer(0).release();
  EXPECT_TRUE(run_until([&] { return finished(id); }, 5s)) << "carol was never delivered";
  std::vector<std::string> got;
  for (const auto& t : peer(0).transactions()) got.insert(got.end(), t.rcpts.begin(), t.rcpts.end());
  EXPECT_EQ(got, (std::vector<std::string>{"bob@example.com", "carol@example.com"}));
}

// --- Message trace (SPEC §6) -------------------------------------------------------------------

using test::RecordingSink;
using trace::EventType;

TEST_F(OutboundEngineTest, TraceDeferThenSendCarriesHostReplyAndNextHop) {
  make_peers({rcpt_says("451 4.3.0 try again later")});
  start_engine_on_peers();
  const auto hop = smart_hop();
  const auto id = submit("MSG1", {"bob@example.com"}, hop);
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
  peer(0).script().rcpt_reply = "250 2.1.5 Ok";
  clock_.advance(61s);
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  const auto bob = sink_.about("bob@example.com");
  ASSERT_EQ(RecordingSink::types(bob), (std::vector<std::string>{"DEFER", "SEND"}));
  const std::string host = name("relay1") + "[" + peer(0).address() + "]:" + std::to_string(peers_->port());
  for (const auto& e : bob) {
    EXPECT_EQ(e.message_id, id);
    EXPECT_EQ(e.sender, kSender);
    EXPECT_EQ(e.connector, "relay");
    EXPECT_EQ(e.next_hop, hop.key());
    EXPECT_EQ(e.remote_host, host);
    EXPECT_EQ(e.tls, "") << "the test peer offers no STARTTLS";
  }
  EXPECT_NE(bob[0].reply.find("451 4.3.0 try again later"), std::string::npos) << bob[0].reply;
  EXPECT_EQ(bob[0].detail, "attempt 1");
  EXPECT_EQ(bob[1].reply, "250 2.0.0 Ok: queued");
  EXPECT_LT(bob[0].time_us, bob[1].time_us) << "the fake clock moved 61 s between them";
}

TEST_F(OutboundEngineTest, TracePermanentFailureThenItsNdr) {
  make_peers({rcpt_says("550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown")});
  start_engine_on_peers();
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return finished(id); }));

  const auto events = sink_.events();
  ASSERT_EQ(RecordingSink::types(events), (std::vector<std::string>{"FAIL", "NDR"}));
  EXPECT_EQ(events[0].recipient, "bob@example.com");
  EXPECT_EQ(events[0].reply, "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown");
  EXPECT_EQ(events[0].detail, "status 5.1.1");
  EXPECT_FALSE(events[0].remote_host.empty());
  auto ndrs = others({id});
  ASSERT_EQ(ndrs.size(), 1u);
  EXPECT_EQ(events[1].message_id, id);
  EXPECT_EQ(events[1].detail, "NDR " + ndrs[0].id + " to " + std::string(kSender) + " for bob@example.com");
}

// A message for a local mailbox and for two remote next hops (a connector's smart host and an MX)
// is split into three copies: every step of every copy is traced under one message id, each copy
// with its own copy id, and every recipient ends with exactly one final event.
TEST_F(OutboundEngineTest, TraceBifurcatedMessageIsCompleteAcrossItsCopies) {
  make_peers({good(), good()});
  test::TempDir tmp;
  const std::string partner = name("partner");
  const std::string dest = name("dest");
  const std::string relay = host_for(0, "relay1");
  resolver_.set_mx(dest, std::vector<dns::MxRecord>{{10, host_for(1, "mx")}});
  Settings s;
  s.service_extra = "  mailbox_store: " + (tmp.path() / "mailboxes").string() + "\n";
  s.organizations = R"(organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.test}
      - {type: mail_contact, address: carol@contoso.test, target_address: carol@)" + dest + R"(}
    outbound_connectors:
      - {name: To partner, recipient_domains: [)" + partner + R"(], smart_hosts: [)" + relay + R"(]}
)";
  start_engine_on_peers(s);
  LocalDeliveryAgent agent(io_.get_executor(), spool_, [snap = snapshot_] { return snap; }, *tracker_, engine_.get(),
                           sink_);

  spool::StoredMessage m;
  m.id = "SPLIT1";
  m.envelope.sender = *Address::parse(kSender);
  for (const auto& r : std::vector<std::string>{"david@contoso.test", "bob@" + partner, "carol@contoso.test"})
    m.envelope.recipients.push_back({*Address::parse(r), notify_none, ""});
  m.received_at = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  m.data = "Message-ID: <split1@contoso.test>\r\nSubject: three ways\r\n\r\nbody\r\n";
  {
    asio::io_context io;
    auto f = asio::co_spawn(io, spool_.commit(m), asio::use_future);
    io.run();
    ASSERT_TRUE(f.get());
  }
  spool::SpoolEntry entry;
  entry.id = m.id;
  entry.envelope = m.envelope;
  entry.received_at = m.received_at;
  entry.size = m.data.size();
  entry.done.assign(3, false);
  agent.submit(std::move(entry), m.data);
  ASSERT_TRUE(run_until([&] { return finished("SPLIT1"); }));
  agent.stop();

  const auto events = sink_.events();
  for (const auto& e : events) {
    EXPECT_EQ(e.message_id, "SPLIT1") << trace::to_string(e.type);
    EXPECT_EQ(e.internet_message_id, "split1@contoso.test") << trace::to_string(e.type);
    EXPECT_EQ(e.organization, "contoso") << trace::to_string(e.type);
    EXPECT_EQ(e.sender, kSender) << trace::to_string(e.type);
  }
  // One BIFURCATE per copy, distinct copy ids, the local copy first.
  const auto copies = sink_.of(EventType::BIFURCATE);
  ASSERT_EQ(copies.size(), 3u);
  std::map<std::string, trace::Event> by_hop;  // next hop → its BIFURCATE
  std::set<std::string> ids;
  for (const auto& c : copies) {
    ids.insert(c.copy_id);
    by_hop[c.next_hop] = c;
  }
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2", "3"}));
  EXPECT_EQ(copies[0].next_hop, "local");
  EXPECT_EQ(copies[0].detail, "copy 1 of 3 for david@contoso.test");

  // carol is a mail contact: RESOLVE to her target, then one SEND through the MX, on her copy.
  const auto carol = sink_.about("carol@contoso.test");
  ASSERT_EQ(RecordingSink::types(carol), (std::vector<std::string>{"RESOLVE", "SEND"}));
  EXPECT_EQ(carol[0].detail, "carol@contoso.test resolved to carol@" + dest);

  // Exactly one final event per recipient, on the copy that carried it, from the right host.
  struct Want {
    std::string rcpt;
    EventType type;
    std::string connector;
    std::size_t peer;  // index of the peer that got it (unused for local)
  };
  const std::vector<Want> wants = {{"david@contoso.test", EventType::DELIVER, "", 0},
                                   {"bob@" + partner, EventType::SEND, "To partner", 0},
                                   {"carol@contoso.test", EventType::SEND, "", 1}};
  std::set<std::string> final_copies;
  for (const auto& w : wants) {
    std::vector<trace::Event> finals;
    for (const auto& e : sink_.about(w.rcpt))
      if (RecordingSink::is_final(e.type)) finals.push_back(e);
    ASSERT_EQ(finals.size(), 1u) << w.rcpt;
    const auto& f = finals[0];
    EXPECT_EQ(f.type, w.type) << w.rcpt;
    EXPECT_EQ(f.connector, w.connector) << w.rcpt;
    ASSERT_TRUE(by_hop.count(f.next_hop)) << w.rcpt << " went through " << f.next_hop << ", no copy for it";
    EXPECT_EQ(f.copy_id, by_hop[f.next_hop].copy_id) << w.rcpt;
    final_copies.insert(f.copy_id);
    if (w.type == EventType::SEND) {
      EXPECT_NE(f.remote_host.find("[" + peer(w.peer).address() + "]"), std::string::npos) << f.remote_host;
      EXPECT_EQ(f.reply, "250 2.0.0 Ok: queued") << w.rcpt;
    } else {
      EXPECT_EQ(f.next_hop, "local");
    }
  }
  EXPECT_EQ(final_copies.size(), 3u) << "each copy ended in its own final event";
  EXPECT_EQ(sink_.count(EventType::DEFER) + sink_.count(EventType::FAIL) + sink_.count(EventType::NDR), 0u);
  EXPECT_EQ(peer(0).transactions().size(), 1u);
  EXPECT_EQ(peer(1).transactions().size(), 1u);
}

}  // namespace
}  // namespace mf::delivery

namespace mf::delivery {
namespace {

// Queue control for the admin API (issue 7: retry, hold, release, delete). The engine's blocking
// calls run on its executor, so they are made from another thread while this one pumps io_.
class QueueControlTest : public OutboundEngineTest {
 protected:
  template <typename F>
  auto admin(F f) -> decltype(f()) {
    auto fut = std::async(std::launch::async, std::move(f));
    EXPECT_TRUE(run_until([&] { return fut.wait_for(0s) == std::future_status::ready; }));
    return fut.get();
  }
  // Submits MSG1 to a peer that answers 451 to RCPT and waits until it is deferred.
  std::string deferred_message() {
    make_peers({rcpt_says("451 4.3.0 try again later")});
    start_engine_on_peers();  // retry_intervals [60s]
    const auto id = submit("MSG1", {"bob@example.com", "carol@example.com"}, smart_hop());
    EXPECT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
    return id;
  }
};

TEST_F(QueueControlTest, EntriesShowADeferredJobWithItsAttemptsDueTimeAndLastError) {
  const auto id = deferred_message();
  auto entries = admin([&] { return engine_->queue_entries(); });
  ASSERT_EQ(entries.size(), 1u);
  const auto& e = entries[0];
  EXPECT_EQ(e.message_id, id);
  EXPECT_EQ(e.sender, kSender);
  EXPECT_EQ(e.hop.connector, "relay");
  ASSERT_EQ(e.recipients.size(), 2u);
  EXPECT_EQ(e.recipients[0].str(), "bob@example.com");
  EXPECT_EQ(e.attempts, 1u);
  ASSERT_TRUE(e.due);
  EXPECT_EQ(*e.due, clock_.now() + 60s);
  EXPECT_FALSE(e.held);
  EXPECT_FALSE(e.active);
  EXPECT_NE(e.last_error.find("451 4.3.0 try again later"), std::string::npos) << e.last_error;
}

TEST_F(QueueControlTest, RetryMakesADeferredMessageDueNowWithoutWaitingForTheClock) {
  const auto id = deferred_message();
  peer(0).script().rcpt_reply = "250 2.1.5 Ok";
  auto c = admin([&] { return engine_->retry(id); });
  EXPECT_EQ(c.jobs, 1u);
  ASSERT_TRUE(run_until([&] { return finished(id); }));  // the fake clock never moved
  EXPECT_EQ(peer(0).transactions().size(), 1u);
  EXPECT_EQ(admin([&] { return engine_->retry(""); }).jobs, 0u);  // nothing left to retry
}

TEST_F(QueueControlTest, RetryWithoutAnIdRetriesEveryWaitingJob) {
  make_peers({rcpt_says("451 4.3.0 later")});
  start_engine_on_peers();
  submit("MSG1", {"bob@example.com"}, smart_hop());
  submit("MSG2", {"carol@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 2 && !open_connections(); }));
  peer(0).script().rcpt_reply = "250 2.1.5 Ok";
  EXPECT_EQ(admin([&] { return engine_->retry(""); }).jobs, 2u);
  ASSERT_TRUE(run_until([&] { return finished("MSG1") && finished("MSG2"); }));
}

TEST_F(QueueControlTest, AHeldMessageIsNotRetriedUntilReleased) {
  const auto id = deferred_message();
  auto c = admin([&] { return engine_->hold(id); });
  EXPECT_EQ(c.jobs, 1u);
  EXPECT_EQ(c.active, 0u);
  auto entries = admin([&] { return engine_->queue_entries(); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].held);
  EXPECT_FALSE(entries[0].due);
  // Past the retry time, and even an explicit retry: no new connection.
  peer(0).script().rcpt_reply = "250 2.1.5 Ok";
  clock_.advance(61s);
  EXPECT_EQ(admin([&] { return engine_->retry(id); }).jobs, 0u);
  run_for(1500ms);
  EXPECT_EQ(peer(0).connections(), 1u);
  EXPECT_TRUE(spool_.contains(id));
  // Released: delivered at once.
  EXPECT_EQ(admin([&] { return engine_->release(id); }).jobs, 1u);
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(peer(0).transactions().size(), 1u);
}

TEST_F(QueueControlTest, AHoldMadeBeforeTheWorkArrivesAppliesToIt) {
  // Start-up re-applies holds before recovered messages are handed over.
  make_peers({good()});
  start_engine_on_peers();
  EXPECT_EQ(admin([&] { return engine_->hold("MSG1"); }).jobs, 0u);
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  run_for(1000ms);
  EXPECT_EQ(peer(0).connections(), 0u);
  auto entries = admin([&] { return engine_->queue_entries(); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].held);
  EXPECT_EQ(entries[0].attempts, 0u);
  admin([&] { return engine_->release(id); });
  ASSERT_TRUE(run_until([&] { return finished(id); }));
}

TEST_F(QueueControlTest, DeleteFinishesTheRecipientsWithoutAnNdrAndTracesADrop) {
  const auto id = deferred_message();
  auto c = admin([&] { return engine_->remove(id); });
  EXPECT_EQ(c.jobs, 1u);
  EXPECT_EQ(c.active, 0u);
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(spool_.commits(), 1u) << "no NDR for a deleted message";
  EXPECT_TRUE(admin([&] { return engine_->queue_entries(); }).empty());
  std::size_t drops = 0;
  for (const auto& e : sink_.events()) {
    if (e.type == trace::EventType::DROP && e.message_id == id) {
      ++drops;
      EXPECT_NE(e.detail.find("deleted by administrator"), std::string::npos) << e.detail;
    }
  }
  EXPECT_EQ(drops, 2u);  // bob and carol
  // Clock past the retry time: nothing is tried again.
  clock_.advance(61s);
  run_for(1500ms);
  EXPECT_EQ(peer(0).connections(), 1u);
}

TEST_F(QueueControlTest, DeleteWhileTheMessageIsOnAConnectionRemovesNothing) {
  TestSmtpPeer::Script tarpit;
  tarpit.mode = TestSmtpPeer::Mode::silent;
  make_peers({tarpit});
  Settings s;
  s.reply_timeout_cap = std::chrono::seconds(2);
  start_engine_on_peers(s);
  const auto id = submit("MSG1", {"bob@example.com"}, smart_hop());
  ASSERT_TRUE(run_until([&] { return open_connections(); }));
  auto c = admin([&] { return engine_->remove(id); });
  EXPECT_EQ(c.active, 1u);
  EXPECT_EQ(c.jobs, 0u);
  EXPECT_TRUE(spool_.contains(id));
  auto entries = admin([&] { return engine_->queue_entries(); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].active);
}

TEST_F(QueueControlTest, DeleteAlsoFinishesTheRecipientsSharingTheDelivery) {
  make_peers({rcpt_says("451 4.3.0 try again later")});
  start_engine_on_peers();  // retry_intervals [60s]
  const auto id = submit("MSG1", {"bob@example.com", "team@example.com"}, smart_hop(), std::vector<std::size_t>{});
  hand_over(id, {0}, smart_hop(), {OutboundWork::Alias{0, *Address::parse("bob@example.com"), 1}});
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
  EXPECT_EQ(admin([&] { return engine_->remove(id); }).jobs, 1u);
  ASSERT_TRUE(run_until([&] { return finished(id); }));  // index 1 got its outcome too
}

// A copy routed by MX is in no queue while its MX answer is pending: a delete then must not report
// success and let the copy be delivered a moment later.
TEST_F(QueueControlTest, DeleteWhileTheMxAnswerIsPendingRemovesNothing) {
  make_peers({good()});
  start_engine_on_peers();
  const std::string domain = name("slowdns");
  resolver_.set_mx(domain, std::vector<dns::MxRecord>{{10, host_for(0, "mx10")}});
  resolver_.pause_mx(domain);
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  run_for(50ms);
  auto c = admin([&] { return engine_->remove(id); });
  EXPECT_EQ(c.active, 1u);
  EXPECT_EQ(c.jobs, 0u);
  EXPECT_TRUE(spool_.contains(id));
  // The answer comes: the copy is queued and delivered; once it is queued, a delete works.
  resolver_.resume_mx(domain);
  ASSERT_TRUE(run_until([&] { return finished(id); }));
  EXPECT_EQ(peer(0).transactions().size(), 1u);
}

TEST_F(QueueControlTest, DeleteAfterTheMxAnswerRemovesTheQueuedCopy) {
  make_peers({rcpt_says("451 4.3.0 try again later")});
  start_engine_on_peers();  // retry_intervals [60s]
  const std::string domain = name("slowdns");
  resolver_.set_mx(domain, std::vector<dns::MxRecord>{{10, host_for(0, "mx10")}});
  resolver_.pause_mx(domain);
  const auto id = submit("MSG1", {"bob@" + domain}, mx_hop(domain));
  run_for(50ms);
  EXPECT_EQ(admin([&] { return engine_->remove(id); }).active, 1u);
  resolver_.resume_mx(domain);
  ASSERT_TRUE(run_until([&] { return engine_->stats().deferred.load() >= 1 && !open_connections(); }));
  auto c = admin([&] { return engine_->remove(id); });
  EXPECT_EQ(c.active, 0u);
  EXPECT_EQ(c.jobs, 1u);
  ASSERT_TRUE(run_until([&] { return finished(id); }));
}

}  // namespace
}  // namespace mf::delivery
