// Tests of admin/api.hpp: JSON round trips of every type, times, query strings.
#include "admin/api.hpp"

#include <gtest/gtest.h>

namespace mf::admin {
namespace {

using nlohmann::json;

template <class T>
T round_trip(const T& v) {
  const json j = v;
  return json::parse(j.dump()).get<T>();
}

MessageInfo sample_message() {
  MessageInfo m;
  m.id = "1A2B3C4D";
  m.sender = "alice@contoso.com";
  m.organization = "contoso";
  m.received_at = 1700000000;
  m.size = 2048;
  m.held = true;
  m.recipients.push_back(RecipientInfo{"bob@fabrikam.com", RecipientState::deferred, "mx.fabrikam.com", "to-fabrikam",
                                       3, 1700003600, "451 4.7.1 try later"});
  m.recipients.push_back(RecipientInfo{"carol@fabrikam.com", RecipientState::held, "local", "", 0, 0, ""});
  return m;
}

TEST(ApiJson, MessageInfoRoundTripAndShape) {
  const MessageInfo m = sample_message();
  const json j = m;
  EXPECT_EQ(j["received_at"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(j["recipients"][0]["state"], "deferred");
  EXPECT_EQ(j["recipients"][0]["next_attempt"], "2023-11-14T23:13:20Z");
  EXPECT_TRUE(j["recipients"][1]["next_attempt"].is_null());
  const MessageInfo back = round_trip(m);
  EXPECT_EQ(back.id, m.id);
  EXPECT_EQ(back.sender, m.sender);
  EXPECT_EQ(back.organization, m.organization);
  EXPECT_EQ(back.received_at, m.received_at);
  EXPECT_EQ(back.size, m.size);
  EXPECT_EQ(back.held, m.held);
  ASSERT_EQ(back.recipients.size(), 2u);
  EXPECT_EQ(back.recipients[0].address, "bob@fabrikam.com");
  EXPECT_EQ(back.recipients[0].state, RecipientState::deferred);
  EXPECT_EQ(back.recipients[0].next_hop, "mx.fabrikam.com");
  EXPECT_EQ(back.recipients[0].connector, "to-fabrikam");
  EXPECT_EQ(back.recipients[0].attempts, 3u);
  EXPECT_EQ(back.recipients[0].next_attempt, 1700003600);
  EXPECT_EQ(back.recipients[0].last_error, "451 4.7.1 try later");
  EXPECT_EQ(back.recipients[1].state, RecipientState::held);
  EXPECT_EQ(back.recipients[1].next_attempt, 0);
}

TEST(ApiJson, QueueSummaryRoundTrip) {
  QueueSummary s;
  s.messages = 3;
  s.recipients = 4;
  s.oldest_age_seconds = 7200;
  s.by_next_hop = {{"mx.fabrikam.com", 1, 1, 7200}, {"example.net", 1, 2, 1200}};
  s.by_connector = {{"to-fabrikam", 1, 1, 7200}};
  s.by_organization = {{"contoso", 2, 3, 7200}, {"", 1, 1, 5}};
  const QueueSummary b = round_trip(s);
  EXPECT_EQ(b.messages, 3u);
  EXPECT_EQ(b.recipients, 4u);
  EXPECT_EQ(b.oldest_age_seconds, 7200);
  ASSERT_EQ(b.by_next_hop.size(), 2u);
  EXPECT_EQ(b.by_next_hop[1].key, "example.net");
  EXPECT_EQ(b.by_next_hop[1].recipients, 2u);
  EXPECT_EQ(b.by_next_hop[1].oldest_age_seconds, 1200);
  ASSERT_EQ(b.by_connector.size(), 1u);
  ASSERT_EQ(b.by_organization.size(), 2u);
  EXPECT_EQ(b.by_organization[1].key, "");
}

TEST(ApiJson, MessageFilterRoundTrip) {
  MessageFilter f;
  f.sender = "a@b.c";
  f.recipient = "d@e.f";
  f.organization = "contoso";
  f.connector = "c1";
  f.next_hop = "mx.e.f";
  f.state = RecipientState::held;
  f.limit = 7;
  const MessageFilter b = round_trip(f);
  EXPECT_EQ(b.sender, f.sender);
  EXPECT_EQ(b.recipient, f.recipient);
  EXPECT_EQ(b.organization, f.organization);
  EXPECT_EQ(b.connector, f.connector);
  EXPECT_EQ(b.next_hop, f.next_hop);
  EXPECT_EQ(b.state, RecipientState::held);
  EXPECT_EQ(b.limit, 7u);
  EXPECT_FALSE(round_trip(MessageFilter{}).state.has_value());
}

TEST(ApiJson, OpResultAndReloadResultRoundTrip) {
  for (OpStatus s : {OpStatus::ok, OpStatus::not_found, OpStatus::conflict}) {
    const OpResult b = round_trip(OpResult{s, "text", 2});
    EXPECT_EQ(b.status, s);
    EXPECT_EQ(b.message, "text");
    EXPECT_EQ(b.affected, 2u);
  }
  EXPECT_EQ(json(OpResult{OpStatus::not_found, "x", 0})["status"], "not_found");
  const ReloadResult r = round_trip(ReloadResult{false, {"a.yaml:3:5: service.hostname: required"}});
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "a.yaml:3:5: service.hostname: required");
}

TEST(ApiJson, TraceEventRoundTrip) {
  trace::Event e;
  e.time_us = 1700000000123456;
  e.message_id = "1A2B";
  e.copy_id = "1A2B.2";
  e.internet_message_id = "abc@contoso.com";
  e.type = trace::EventType::TRANSPORT_RULE;
  e.organization = "contoso";
  e.sender = "a@contoso.com";
  e.recipient = "b@fabrikam.com";
  e.connector = "c";
  e.next_hop = "mx";
  e.remote_host = "mx [192.0.2.1]:25";
  e.reply = "250 ok";
  e.tls = "TLSv1.3";
  e.detail = "rule X";
  const json j = e;
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(j["event"], "TRANSPORT_RULE");
  const trace::Event b = round_trip(e);
  EXPECT_EQ(b.time_us, e.time_us);
  EXPECT_EQ(b.message_id, e.message_id);
  EXPECT_EQ(b.copy_id, e.copy_id);
  EXPECT_EQ(b.internet_message_id, e.internet_message_id);
  EXPECT_EQ(b.type, e.type);
  EXPECT_EQ(b.organization, e.organization);
  EXPECT_EQ(b.sender, e.sender);
  EXPECT_EQ(b.recipient, e.recipient);
  EXPECT_EQ(b.connector, e.connector);
  EXPECT_EQ(b.next_hop, e.next_hop);
  EXPECT_EQ(b.remote_host, e.remote_host);
  EXPECT_EQ(b.reply, e.reply);
  EXPECT_EQ(b.tls, e.tls);
  EXPECT_EQ(b.detail, e.detail);
}

TEST(ApiJson, TraceQueryRoundTrip) {
  trace::Query q;
  q.sender = "a@b.c";
  q.recipient = "d@e.f";
  q.message_id = "X";
  q.since_us = 1700000000000000;
  q.limit = 5;
  const trace::Query b = round_trip(q);
  EXPECT_EQ(b.sender, q.sender);
  EXPECT_EQ(b.recipient, q.recipient);
  EXPECT_EQ(b.message_id, q.message_id);
  EXPECT_EQ(b.since_us, q.since_us);
  EXPECT_EQ(b.limit, 5u);
}

TEST(ApiJson, WrongShapeThrows) {
  EXPECT_ANY_THROW(json::parse(R"({"address":"a","state":"lost"})").get<RecipientInfo>());
  EXPECT_ANY_THROW(json::parse(R"({"status":"maybe"})").get<OpResult>());
  EXPECT_ANY_THROW(json::parse(R"({"messages":"many"})").get<QueueSummary>());
  EXPECT_ANY_THROW(json::parse(R"({"time_us":1,"message_id":"x","event":"EXPLODE"})").get<trace::Event>());
}

TEST(ApiTime, FormatAndParse) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time_us(1500000), "1970-01-01T00:00:01.500000Z");
  EXPECT_EQ(*parse_time_us("2023-11-14T22:13:20Z"), 1700000000LL * 1000000);
  EXPECT_EQ(*parse_time_us("2023-11-14T22:13:20.25Z"), 1700000000LL * 1000000 + 250000);
  EXPECT_EQ(*parse_time_us("2023-11-14 22:13:20"), 1700000000LL * 1000000);
  EXPECT_EQ(*parse_time_us("2023-11-14T22:13:20+00:00"), 1700000000LL * 1000000);
  EXPECT_EQ(*parse_time_us("2023-11-14"), 1699920000LL * 1000000);
  for (const char* bad : {"", "yesterday", "2023-11-14T22:13", "2023-02-30", "2023-11-14T22:13:20+01:00",
                          "2023-13-01", "2023-11-14T25:00:00Z", "2023-11-14T22:13:20.Z"}) {
    EXPECT_FALSE(parse_time_us(bad)) << bad;
  }
}

TEST(ApiQuery, EncodeAndDecode) {
  EXPECT_EQ(url_encode("a b@c/d?&=é"), "a%20b%40c%2Fd%3F%26%3D%C3%A9");
  auto q = parse_query("a=1&b=x%40y&c=hello+world&d=&e");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("a"), "1");
  EXPECT_EQ(q->at("b"), "x@y");
  EXPECT_EQ(q->at("c"), "hello world");
  EXPECT_EQ(q->at("d"), "");
  EXPECT_EQ(q->at("e"), "");
  EXPECT_FALSE(parse_query("a=%4"));
  EXPECT_FALSE(parse_query("a=%zz"));
  EXPECT_FALSE(parse_query("a=1&a=2"));
  EXPECT_TRUE(parse_query("")->empty());
}

TEST(ApiQuery, MessageFilterRoundTrip) {
  MessageFilter f;
  f.sender = "a+tag@b.c";
  f.recipient = "d@e.f";
  f.state = RecipientState::deferred;
  f.limit = 20;
  EXPECT_EQ(to_query(f), "sender=a%2Btag%40b.c&recipient=d%40e.f&state=deferred&limit=20");
  auto back = message_filter_from_query(*parse_query(to_query(f)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sender, f.sender);
  EXPECT_EQ(back->recipient, f.recipient);
  EXPECT_EQ(back->state, RecipientState::deferred);
  EXPECT_EQ(back->limit, 20u);
  EXPECT_EQ(to_query(MessageFilter{}), "");
  EXPECT_FALSE(message_filter_from_query({{"state", "gone"}}));
  EXPECT_FALSE(message_filter_from_query({{"limit", "0"}}));
  EXPECT_FALSE(message_filter_from_query({{"limit", "-1"}}));
  EXPECT_FALSE(message_filter_from_query({{"colour", "red"}}));
}

TEST(ApiQuery, TraceQueryRoundTrip) {
  trace::Query q;
  q.sender = "a@b.c";
  q.message_id = "<x@y>";
  q.since_us = 1700000000000000;
  auto back = trace_query_from_query(*parse_query(to_query(q)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sender, q.sender);
  EXPECT_EQ(back->message_id, q.message_id);
  EXPECT_EQ(back->since_us, q.since_us);
  EXPECT_EQ(back->limit, trace::Query{}.limit);
  auto secs = trace_query_from_query({{"since", "1700000000"}});
  ASSERT_TRUE(secs);
  EXPECT_EQ(secs->since_us, 1700000000000000);
  EXPECT_FALSE(trace_query_from_query({{"since", "last week"}}));
  EXPECT_FALSE(trace_query_from_query({{"limit", "many"}}));
  EXPECT_FALSE(trace_query_from_query({{"sendr", "a"}}));
}

}  // namespace
}  // namespace mf::admin
