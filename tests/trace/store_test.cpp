// Tests for src/trace/store.cpp (and event.cpp): the SQLite message trace store. Time is a FakeClock;
// nothing waits on wall time: flush() makes the writer's work visible.
#include "support/fake_clock.hpp"
#include "support/temp_dir.hpp"
#include "trace/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace mf::trace {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Event make(EventType type, const std::string& id, std::int64_t time_us, const std::string& rcpt = "") {
  Event e;
  e.type = type;
  e.message_id = id;
  e.time_us = time_us;
  e.sender = "alice@contoso.test";
  e.recipient = rcpt;
  return e;
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open(std::size_t buffer = 1000, std::chrono::seconds retention = 7 * 24h,
                              bool paused = false) {
    StoreOptions o;
    o.start_paused = paused;
    o.path = path();
    o.retention = retention;
    o.buffer_events = buffer;
    o.clock = &clock_;
    auto s = Store::open(o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  std::string path() const { return (tmp_.path() / "trace.sqlite").string(); }
  std::int64_t now_us() const { return unix_us(clock_.now()); }
  // Marks the database as written by a future schema version.
  void sqlite_bump_version() {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  test::TempDir tmp_;
  test::FakeClock clock_;
};

TEST(EventTest, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(EventType::NDR); ++i) {
    const auto t = static_cast<EventType>(i);
    EXPECT_EQ(event_type_from_string(to_string(t)), t) << to_string(t);
  }
  EXPECT_EQ(event_type_from_string("transport_rule"), EventType::TRANSPORT_RULE);
  EXPECT_FALSE(event_type_from_string("SENDX"));
  EXPECT_FALSE(event_type_from_string(""));
}

TEST(EventTest, InternetMessageIdIsReadFromTheHeaderSection) {
  EXPECT_EQ(internet_message_id("Subject: x\r\nMessage-ID: <abc@host.test>\r\n\r\nbody"), "abc@host.test");
  EXPECT_EQ(internet_message_id("message-id:\r\n  <folded@host.test>\r\nX: y\r\n\r\n"), "folded@host.test");
  EXPECT_EQ(internet_message_id("Message-Id : <a@b>\n\n"), "a@b");
  EXPECT_EQ(internet_message_id("Subject: x\r\n\r\nMessage-ID: <in-body@host>\r\n"), "");
  EXPECT_EQ(internet_message_id("Message-IDs: <no@host>\r\n\r\n"), "");
  EXPECT_EQ(internet_message_id(""), "");
}

TEST_F(StoreTest, EveryFieldRoundTrips) {
  auto store = open();
  ASSERT_TRUE(store);
  Event e;
  e.time_us = 1'700'000'000'123'456;
  e.message_id = "0ABCDEFGHIJKLMNOPQRS";
  e.copy_id = "2";
  e.internet_message_id = "unique@contoso.test";
  e.type = EventType::SEND;
  e.organization = "contoso";
  e.sender = "alice@contoso.test";
  e.recipient = "bob@fabrikam.test";
  e.connector = "To fabrikam";
  e.next_hop = "smart:relay.fabrikam.test";
  e.remote_host = "relay.fabrikam.test[192.0.2.7]:25";
  e.reply = "250 2.0.0 Ok: queued as X";
  e.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  e.detail = "caf\xC3\xA9 — any UTF-8";
  store->record(e);
  auto got = store->query(Query{});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 1u);
  const Event& g = got->front();
  EXPECT_EQ(g.time_us, e.time_us);
  EXPECT_EQ(g.message_id, e.message_id);
  EXPECT_EQ(g.copy_id, e.copy_id);
  EXPECT_EQ(g.internet_message_id, e.internet_message_id);
  EXPECT_EQ(g.type, e.type);
  EXPECT_EQ(g.organization, e.organization);
  EXPECT_EQ(g.sender, e.sender);
  EXPECT_EQ(g.recipient, e.recipient);
  EXPECT_EQ(g.connector, e.connector);
  EXPECT_EQ(g.next_hop, e.next_hop);
  EXPECT_EQ(g.remote_host, e.remote_host);
  EXPECT_EQ(g.reply, e.reply);
  EXPECT_EQ(g.tls, e.tls);
  EXPECT_EQ(g.detail, e.detail);
}

TEST_F(StoreTest, EventsWithoutATimeAreStampedWithTheClock) {
  auto store = open();
  ASSERT_TRUE(store);
  store->record(make(EventType::RECEIVE, "M1", 0));
  auto got = store->query(Query{});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().time_us, now_us());
}

TEST_F(StoreTest, FiltersOrderAndLimit) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::int64_t t = now_us();
  // Recorded out of time order on purpose; M1 and M2 share a time stamp.
  store->record(make(EventType::DELIVER, "M1", t + 30, "Bob@Contoso.test"));
  Event r1 = make(EventType::RECEIVE, "M1", t + 10);
  r1.internet_message_id = "m1@client.test";
  store->record(r1);
  store->record(make(EventType::RECEIVE, "M2", t + 10));
  Event other = make(EventType::SEND, "M2", t + 20, "carol@fabrikam.test");
  other.sender = "dave@fabrikam.test";
  store->record(other);
  store->record(make(EventType::FAIL, "M3", t + 40, "bob@contoso.test"));

  auto all = store->query(Query{});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  std::vector<std::string> order;
  for (const auto& e : *all) order.push_back(e.message_id + ":" + to_string(e.type));
  // Time order; same time → insertion order (M1's RECEIVE was recorded before M2's).
  EXPECT_EQ(order, (std::vector<std::string>{"M1:RECEIVE", "M2:RECEIVE", "M2:SEND", "M1:DELIVER", "M3:FAIL"}));

  Query by_sender;
  by_sender.sender = "DAVE@fabrikam.TEST";
  auto s = store->query(by_sender);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ(s->front().type, EventType::SEND);

  // A recipient: its own events, case-insensitively, plus the message-wide events of its messages.
  Query by_rcpt;
  by_rcpt.recipient = "bob@CONTOSO.test";
  auto r = store->query(by_rcpt);
  ASSERT_TRUE(r);
  order.clear();
  for (const auto& e : *r) order.push_back(e.message_id + ":" + to_string(e.type));
  EXPECT_EQ(order, (std::vector<std::string>{"M1:RECEIVE", "M1:DELIVER", "M3:FAIL"}));

  // The service's id, or the Message-ID header (with or without <>): the whole message.
  Query by_id;
  by_id.message_id = "M2";
  auto i = store->query(by_id);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->size(), 2u);
  by_id.message_id = "<m1@client.test>";
  i = store->query(by_id);
  ASSERT_TRUE(i);
  ASSERT_EQ(i->size(), 2u);
  EXPECT_EQ(i->at(0).type, EventType::RECEIVE);
  EXPECT_EQ(i->at(1).type, EventType::DELIVER);

  Query since;
  since.since_us = t + 20;
  auto sn = store->query(since);
  ASSERT_TRUE(sn);
  EXPECT_EQ(sn->size(), 3u);

  Query limited;
  limited.limit = 2;
  auto l = store->query(limited);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ(l->at(1).message_id, "M2");
}

TEST_F(StoreTest, AFullBufferDropsAndCountsInsteadOfBlocking) {
  // The writer is held back until flush(): the buffer of 2 fills and the rest is dropped, counted.
  auto store = open(/*buffer=*/2, 7 * 24h, /*paused=*/true);
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) store->record(make(EventType::RECEIVE, "M" + std::to_string(i), now_us() + i));
  auto st = store->stats();
  EXPECT_EQ(st.recorded, 2u);
  EXPECT_EQ(st.dropped, 3u);
  EXPECT_EQ(st.buffered, 2u);
  EXPECT_EQ(st.written, 0u);
  store->flush();
  st = store->stats();
  EXPECT_EQ(st.written, 2u);
  EXPECT_EQ(st.buffered, 0u);
  // Room again: the next event is kept.
  store->record(make(EventType::RECEIVE, "M9", now_us() + 9));
  auto got = store->query(Query{});
  ASSERT_TRUE(got);
  std::vector<std::string> ids;
  for (const auto& e : *got) ids.push_back(e.message_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"M0", "M1", "M9"}));
  EXPECT_EQ(store->stats().dropped, 3u);
}

TEST_F(StoreTest, ManyEventsFromSeveralThreadsAreAllWrittenOrCounted) {
  auto store = open(/*buffer=*/64);
  ASSERT_TRUE(store);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) store->record(make(EventType::DEFER, "T" + std::to_string(t), now_us() + i));
    });
  }
  for (auto& th : threads) th.join();
  store->flush();
  const auto st = store->stats();
  EXPECT_EQ(st.recorded + st.dropped, 2000u);
  EXPECT_EQ(st.written, st.recorded);
  Query all;
  all.limit = 5000;
  auto got = store->query(all);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), st.recorded);
}

TEST_F(StoreTest, AClosedStoreRefusesAndCountsEvents) {
  auto store = open(/*buffer=*/1);
  ASSERT_TRUE(store);
  store->close();  // after close every record is refused and counted
  store->record(make(EventType::RECEIVE, "M1", now_us()));
  EXPECT_EQ(store->stats().dropped, 1u);
  EXPECT_EQ(store->stats().recorded, 0u);
  EXPECT_FALSE(store->query(Query{}));
}

TEST_F(StoreTest, RetentionDeletesOnlyExpiredEventsUsingTheInjectedClock) {
  auto store = open(1000, /*retention=*/std::chrono::hours(24));
  ASSERT_TRUE(store);
  store->record(make(EventType::RECEIVE, "OLD", now_us() - unix_us(SysTime{std::chrono::hours(25)})));
  store->record(make(EventType::RECEIVE, "NEW", now_us() - unix_us(SysTime{std::chrono::hours(23)})));
  store->flush();
  auto n = store->purge_expired();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  auto got = store->query(Query{});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().message_id, "NEW");

  // Two hours later NEW has expired too: the purge at open (the writer's first one) removes it.
  store.reset();
  clock_.advance(std::chrono::hours(2));
  store = open(1000, std::chrono::hours(24));
  ASSERT_TRUE(store);
  got = store->query(Query{});
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(store->stats().purged, 1u);
}

TEST_F(StoreTest, ReopenAfterCloseKeepsEventsAndCloseWritesTheBuffer) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 10; ++i) store->record(make(EventType::DEFER, "M1", now_us() + i, "bob@contoso.test"));
    // No flush: the destructor writes what is buffered.
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto got = store->query(Query{});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 10u);
  store->record(make(EventType::DELIVER, "M1", now_us() + 100, "bob@contoso.test"));
  got = store->query(Query{});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 11u);
}

TEST_F(StoreTest, ACorruptFileIsAClearErrorAtOpen) {
  std::ofstream(path(), std::ios::binary) << std::string(8192, 'x');
  StoreOptions o;
  o.path = path();
  o.clock = &clock_;
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(path()), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("not a database"), std::string::npos) << s.error().message;
}

TEST_F(StoreTest, AnUnwritablePathIsAClearErrorAtOpen) {
  // data_dir is a regular file: <data_dir>/trace.sqlite cannot be created (true even for root).
  const fs::path not_dir = tmp_.path() / "data";
  std::ofstream(not_dir) << "file";
  StoreOptions o;
  o.path = (not_dir / "trace.sqlite").string();
  o.clock = &clock_;
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot open the trace store"), std::string::npos) << s.error().message;
}

TEST_F(StoreTest, ANewerSchemaIsRefused) {
  {
    auto store = open();
    ASSERT_TRUE(store);
  }
  sqlite_bump_version();
  StoreOptions o;
  o.path = path();
  o.clock = &clock_;
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace mf::trace
