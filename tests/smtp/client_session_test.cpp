// Tests for src/smtp/client_session.cpp against a scripted fake server (strings in, strings out): the
// pure helpers (xtext, dot-stuffing) and reply parsing first, then one table row per transaction
// outcome of the contract, then connection set-up (greeting, EHLO/HELO, STARTTLS), reuse and the
// failure paths a table row cannot show.
#include "smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <ostream>

namespace mf::smtp {
namespace {

using Action = ClientSession::Action;
using Tls = ClientOptions::Tls;

const std::string kGreeting = "220 mx.test.example ESMTP\r\n";
const std::string kEhlo = "EHLO client.example\r\n";
const std::string kFull = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
                          "250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n";
const std::string kPlain = "250-mx.test.example\r\n250 SIZE\r\n";  // no PIPELINING, SIZE without limit
const std::string kMail = "MAIL FROM:<a@s.example>";
const std::string kMailSized = "MAIL FROM:<a@s.example> SIZE=18\r\n";
const std::string kBody = "Subject: x\r\n\r\nhi\r\n.\r\n";
const std::string kBatch2 = kMailSized + "RCPT TO:<b@t.example>\r\nRCPT TO:<c@t.example>\r\nDATA\r\n";
const std::vector<std::string> kTwo = {"b@t.example", "c@t.example"};
const std::vector<std::string> kThree = {"b@t.example", "c@t.example", "d@t.example"};

ClientOptions options(Tls tls = Tls::never) {
  ClientOptions o;
  o.helo_name = "client.example";
  o.tls = tls;
  return o;
}

Address addr(std::string_view s) { return Address::parse(s, true).value(); }

OutboundMessage message(std::vector<std::string> rcpts = {"b@t.example"}, std::string data = "Subject: x\r\n\r\nhi\r\n") {
  OutboundMessage m;
  m.envelope.sender = addr("a@s.example");
  for (const auto& r : rcpts) m.envelope.recipients.push_back(EnvelopeRecipient{addr(r), notify_none, {}});
  m.data = std::move(data);
  return m;
}

// Feeds `server` and returns what the client wrote in response.
std::string talk(ClientSession& s, std::string_view server) {
  s.feed(server);
  return s.take_output();
}

// Greeting + EHLO with `ehlo_reply`; the session is ready afterwards.
void connect(ClientSession& s, const std::string& ehlo_reply) {
  ASSERT_EQ(s.take_output(), "");
  ASSERT_EQ(s.action(), Action::read);
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  ASSERT_EQ(talk(s, ehlo_reply), "");
  ASSERT_EQ(s.action(), Action::ready);
}

const char* name(RcptStatus st) {
  switch (st) {
    case RcptStatus::pending: return "pending";
    case RcptStatus::delivered: return "delivered";
    case RcptStatus::transient: return "transient";
    case RcptStatus::permanent: return "permanent";
  }
  return "?";
}

// "delivered 250 2.0.0 end of data" for each recipient: status, code, enhanced code, phase.
std::vector<std::string> summary(const ClientSession& s) {
  std::vector<std::string> out;
  for (const auto& r : s.results()) {
    out.push_back(std::string(name(r.status)) + " " + std::to_string(r.reply.code) + " " + r.reply.enhanced + " " +
                  r.phase);
  }
  return out;
}

// ---- pure helpers -------------------------------------------------------------------------------

TEST(EncodeXtext, Table) {
  const std::pair<std::string, std::string> rows[] = {
      {"abc", "abc"},
      {"a+b=c", "a+2Bb+3Dc"},
      {"a b", "a+20b"},
      {"x\x01\x7F", "x+01+7F"},
      {"\xC3\xBC", "+C3+BC"},
      {"rfc822;u@e", "rfc822;u@e"},
      {"", ""},
  };
  for (const auto& [in, want] : rows) EXPECT_EQ(encode_xtext(in), want) << in;
}

TEST(StuffMessage, Table) {
  const std::pair<std::string, std::string> rows[] = {
      {"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
      {".a\r\n", "..a\r\n.\r\n"},                // a line starting with '.'
      {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},  // ".\r\n" inside the data
      {"a\r\n..b\r\n", "a\r\n...b\r\n.\r\n"},
      {"a.b\r\n", "a.b\r\n.\r\n"},               // '.' not at a line start
      {"abc", "abc\r\n.\r\n"},                   // not ending in CRLF
      {"abc\r\n.", "abc\r\n..\r\n.\r\n"},
      {"", ".\r\n"},
      {"a\nb\rc\r\n", "a\r\nb\r\nc\r\n.\r\n"},   // bare LF / CR normalised
      {"a\n.\n", "a\r\n..\r\n.\r\n"},           // no LF.LF smuggling downstream
      {"a\r", "a\r\n.\r\n"},
  };
  for (const auto& [in, want] : rows) EXPECT_EQ(stuff_message(in), want) << in;
}

// Security catalogue B07/B08: the memchr-based runs against a byte-at-a-time model on random mixes
// of CR, LF, '.' and text.
TEST(StuffMessage, MatchesAByteAtATimeModel) {
  auto model = [](std::string_view d) {
    std::string out;
    bool line_start = true;
    for (std::size_t i = 0; i < d.size(); ++i) {
      const char c = d[i];
      if (c == '\r' || c == '\n') {
        out += "\r\n";
        if (c == '\r' && i + 1 < d.size() && d[i + 1] == '\n') ++i;
        line_start = true;
        continue;
      }
      if (line_start && c == '.') out += '.';
      out += c;
      line_start = false;
    }
    if (!line_start) out += "\r\n";
    return out + ".\r\n";
  };
  std::uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7FFF; };
  const char alphabet[] = {'\r', '\n', '.', 'a', 'b', ' '};
  for (int round = 0; round < 2000; ++round) {
    std::string in;
    const std::size_t n = next() % 200;
    for (std::size_t i = 0; i < n; ++i) in += alphabet[next() % sizeof(alphabet)];
    ASSERT_EQ(stuff_message(in), model(in)) << "round " << round;
  }
}

// Security catalogue B07/B09: a 1 MB line of bare CRs is canonicalised to CRLF in linear time.
TEST(StuffMessage, LongRunOfBareCarriageReturns) {
  const std::string in(1 << 20, '\r');
  const std::string out = stuff_message(in);
  EXPECT_EQ(out.size(), in.size() * 2 + 3);
}

// ---- reply parsing ------------------------------------------------------------------------------

TEST(Replies, MultiLineByteByByte) {
  ClientSession s(options());
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  const std::string reply = "250-mx.test.example hi\r\n250-pipelining\r\n250-SIZE 1000\r\n250 DSN\r\n";
  for (char c : reply) {
    EXPECT_EQ(s.action(), Action::read);
    s.feed(std::string_view(&c, 1));
  }
  EXPECT_EQ(s.action(), Action::ready);
  EXPECT_EQ(s.ehlo_keywords(), (std::vector<std::string>{"PIPELINING", "SIZE 1000", "DSN"}));
  s.send(message());
  EXPECT_EQ(s.take_output(), "MAIL FROM:<a@s.example> SIZE=18\r\nRCPT TO:<b@t.example>\r\nDATA\r\n");
  // The replies to the pipelined batch, split one byte at a time, with enhanced codes on every line.
  const std::string replies = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";
  for (char c : replies) s.feed(std::string_view(&c, 1));
  EXPECT_EQ(s.take_output(), "Subject: x\r\n\r\nhi\r\n.\r\n");
  for (char c : std::string("250-2.0.0 queued\r\n250 2.0.0 as X1\r\n")) s.feed(std::string_view(&c, 1));
  ASSERT_EQ(s.action(), Action::ready);
  ASSERT_EQ(s.results().size(), 1u);
  EXPECT_EQ(s.results()[0].status, RcptStatus::delivered);
  EXPECT_EQ(s.results()[0].reply.enhanced, "2.0.0");
  EXPECT_EQ(s.results()[0].reply.text, "queued\nas X1");
  EXPECT_EQ(s.results()[0].phase, "end of data");
}

TEST(Replies, EnhancedCodeSynthesizedOrParsed) {
  struct Row { std::string reply; int code; std::string enhanced; std::string text; };
  const Row rows[] = {
      {"550 5.1.1 no such user\r\n", 550, "5.1.1", "no such user"},
      {"550 no such user\r\n", 550, "5.0.0", "no such user"},
      {"450 try later\r\n", 450, "4.0.0", "try later"},
      {"550 4.1.1 wrong class\r\n", 550, "5.0.0", "4.1.1 wrong class"},  // class must match the code
      {"550 5.1.1234 x\r\n", 550, "5.0.0", "5.1.1234 x"},               // detail over 3 digits
      {"550 5.7.1\r\n", 550, "5.7.1", ""},
      {"550\r\n", 550, "5.0.0", ""},
      {"550-5.7.1 a\r\n550-b\r\n550 5.7.1 c\r\n", 550, "5.7.1", "a\nb\nc"},
      {"550 5.1.1 bare LF tolerated\n", 550, "5.1.1", "bare LF tolerated"},
  };
  for (const auto& row : rows) {
    ClientSession s(options());
    connect(s, kPlain);
    s.send(message());
    ASSERT_EQ(s.take_output(), kMailSized);
    ASSERT_EQ(talk(s, "250 ok\r\n"), "RCPT TO:<b@t.example>\r\n");
    s.feed(row.reply);
    ASSERT_EQ(s.action(), Action::ready) << row.reply;
    const Reply& r = s.results()[0].reply;
    EXPECT_EQ(r.code, row.code) << row.reply;
    EXPECT_EQ(r.enhanced, row.enhanced) << row.reply;
    EXPECT_EQ(r.text, row.text) << row.reply;
  }
}

struct MalformedCase {
  const char* name;
  std::string reply;  // fed instead of the EHLO reply
  std::function<void(ClientOptions&)> options = {};
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class Malformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(Malformed, ProtocolErrorCloses) {
  const auto& c = GetParam();
  ClientOptions o = options();
  if (c.options) c.options(o);
  ClientSession s(o);
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  EXPECT_EQ(talk(s, c.reply), "");  // no QUIT into a desynchronised stream
  EXPECT_EQ(s.action(), Action::close);
  ASSERT_TRUE(s.session_failure());
  EXPECT_EQ(s.session_failure()->code, 421);
  EXPECT_EQ(s.session_failure()->enhanced, "4.5.0");
  EXPECT_EQ(s.session_failure()->text.rfind("protocol error", 0), 0u) << s.session_failure()->text;
  s.send(message());  // a send on the closed session reports the failure
  EXPECT_EQ(summary(s), (std::vector<std::string>{"transient 421 4.5.0 connect"}));
  EXPECT_EQ(s.take_output(), "");
}

INSTANTIATE_TEST_SUITE_P(
    Contract, Malformed,
    ::testing::Values(
        MalformedCase{"letters", "abc\r\n"},
        MalformedCase{"two_digits", "25\r\n"},
        MalformedCase{"bad_separator", "250x\r\n"},
        MalformedCase{"code_out_of_range", "650 hi\r\n"},
        MalformedCase{"second_digit_out_of_range", "260 hi\r\n"},
        MalformedCase{"empty_line", "\r\n"},
        MalformedCase{"mixed_codes", "250-a\r\n251 b\r\n"},
        MalformedCase{"overlong_line", "250 " + std::string(100, 'x') + "\r\n",
                      [](ClientOptions& o) { o.max_reply_line = 64; }},
        MalformedCase{"overlong_incomplete_line", "250 " + std::string(100, 'x'),
                      [](ClientOptions& o) { o.max_reply_line = 64; }},
        MalformedCase{"too_many_lines", "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
                      [](ClientOptions& o) { o.max_reply_lines = 3; }},
        MalformedCase{"extra_reply", "250 mx\r\n250 surprise\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Replies, LimitsAreInclusive) {
  ClientOptions o = options();
  o.max_reply_line = 8;  // "250 abc\r\n" is 9 octets
  o.max_reply_lines = 2;
  ClientSession s(o);
  o.max_reply_line = 9;
  ClientSession t(o);
  ASSERT_EQ(talk(t, "220 ab\r\n"), kEhlo);
  EXPECT_EQ(talk(t, "250-abc\r\n250 abc\r\n"), "");
  EXPECT_EQ(t.action(), Action::ready);
  s.feed("220 abc\r\n");
  EXPECT_EQ(s.action(), Action::close);
}

TEST(Replies, Unsolicited421WhileReadyCloses) {
  ClientSession s(options());
  connect(s, kFull);
  EXPECT_EQ(talk(s, "421 4.3.2 shutting down\r\n"), "");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(s.session_failure()->one_line(), "421 4.3.2 shutting down");
}

// ---- transactions -------------------------------------------------------------------------------

struct Step {
  std::string server;  // bytes fed
  std::string client;  // what the client must write in response
};

struct TxnCase {
  const char* name;
  std::string ehlo;                 // EHLO reply (PIPELINING or not)
  std::vector<std::string> rcpts;
  std::string first;                // written by send()
  std::vector<Step> steps;
  std::vector<std::string> want;    // summary() afterwards
  Action action = Action::ready;
  std::function<void(OutboundMessage&)> edit = {};
};

void PrintTo(const TxnCase& c, std::ostream* os) { *os << c.name; }

class Transactions : public ::testing::TestWithParam<TxnCase> {};

TEST_P(Transactions, Table) {
  const auto& c = GetParam();
  ClientSession s(options());
  connect(s, c.ehlo);
  OutboundMessage m = message(c.rcpts);
  if (c.edit) c.edit(m);
  s.send(std::move(m));
  EXPECT_EQ(s.take_output(), c.first);
  for (const auto& step : c.steps) {
    ASSERT_EQ(s.action(), Action::read) << "before feeding " << step.server;
    EXPECT_EQ(talk(s, step.server), step.client) << "after " << step.server;
  }
  EXPECT_EQ(s.action(), c.action);
  EXPECT_EQ(summary(s), c.want);
  for (const auto& r : s.results()) EXPECT_NE(r.status, RcptStatus::pending);
}


INSTANTIATE_TEST_SUITE_P(
    Contract, Transactions,
    ::testing::Values(
        TxnCase{"pipelined_happy", kFull, kTwo, kBatch2,
                {{"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n", kBody}, {"250 2.0.0 queued\r\n", ""}},
                {"delivered 250 2.0.0 end of data", "delivered 250 2.0.0 end of data"}},
        TxnCase{"pipelined_replies_in_separate_segments", kFull, kTwo, kBatch2,
                {{"250 2.1.0 ok\r\n", ""}, {"250 2.1.5 ok\r\n", ""}, {"250 2.1.5 ok\r\n", ""}, {"354 go\r\n", kBody},
                 {"250 2.0.0 queued\r\n", ""}},
                {"delivered 250 2.0.0 end of data", "delivered 250 2.0.0 end of data"}},
        TxnCase{"lockstep_happy", kPlain, kTwo, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"},
                 {"250 ok\r\n", "RCPT TO:<c@t.example>\r\n"},
                 {"250 ok\r\n", "DATA\r\n"},
                 {"354 go\r\n", kBody},
                 {"250 queued\r\n", ""}},
                {"delivered 250 2.0.0 end of data", "delivered 250 2.0.0 end of data"}},
        TxnCase{"pipelined_rcpt_mix", kFull, kThree,
                kMailSized + "RCPT TO:<b@t.example>\r\nRCPT TO:<c@t.example>\r\nRCPT TO:<d@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n450 4.2.1 busy\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n", kBody},
                 {"250 2.0.0 queued\r\n", ""}},
                {"transient 450 4.2.1 RCPT TO", "permanent 550 5.1.1 RCPT TO", "delivered 250 2.0.0 end of data"}},
        TxnCase{"lockstep_rcpt_mix", kPlain, kThree, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"},
                 {"550 5.1.1 unknown\r\n", "RCPT TO:<c@t.example>\r\n"},
                 {"250 ok\r\n", "RCPT TO:<d@t.example>\r\n"},
                 {"452 4.5.3 too many\r\n", "DATA\r\n"},
                 {"354 go\r\n", kBody},
                 {"250 queued\r\n", ""}},
                {"permanent 550 5.1.1 RCPT TO", "delivered 250 2.0.0 end of data", "transient 452 4.5.3 RCPT TO"}},
        TxnCase{"pipelined_mail_5xx", kFull, kTwo, kBatch2,
                {{"550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n", ""}},
                {"permanent 550 5.7.1 MAIL FROM", "permanent 550 5.7.1 MAIL FROM"}},
        TxnCase{"lockstep_mail_5xx", kPlain, kTwo, kMailSized,
                {{"553 5.1.8 bad sender\r\n", ""}},
                {"permanent 553 5.1.8 MAIL FROM", "permanent 553 5.1.8 MAIL FROM"}},
        TxnCase{"lockstep_mail_4xx", kPlain, kTwo, kMailSized,
                {{"451 4.3.0 later\r\n", ""}},
                {"transient 451 4.3.0 MAIL FROM", "transient 451 4.3.0 MAIL FROM"}},
        TxnCase{"pipelined_data_4xx", kFull, kTwo, kBatch2,
                {{"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n451 4.3.0 no data now\r\n", ""}},
                {"transient 451 4.3.0 DATA", "permanent 550 5.1.1 RCPT TO"}},
        TxnCase{"lockstep_data_5xx", kPlain, {"b@t.example"}, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"250 ok\r\n", "DATA\r\n"}, {"554 5.5.1 no\r\n", ""}},
                {"permanent 554 5.5.1 DATA"}},
        TxnCase{"end_of_data_5xx", kFull, kTwo, kBatch2,
                {{"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", kBody}, {"554 5.7.1 spam\r\n", ""}},
                {"permanent 554 5.7.1 end of data", "permanent 554 5.7.1 end of data"}},
        TxnCase{"end_of_data_4xx", kFull, kTwo, kBatch2,
                {{"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n", kBody}, {"451 4.3.0 disk\r\n", ""}},
                {"transient 451 4.3.0 end of data", "permanent 550 5.1.1 RCPT TO"}},
        TxnCase{"pipelined_no_rcpt_accepted", kFull, kTwo, kBatch2,
                {{"250 ok\r\n550 5.1.1 a\r\n550 5.1.1 b\r\n554 5.5.1 no valid recipients\r\n", ""}},
                {"permanent 550 5.1.1 RCPT TO", "permanent 550 5.1.1 RCPT TO"}},
        TxnCase{"pipelined_no_rcpt_but_354", kFull, kTwo, kBatch2,  // RFC 2920 §3.1: a lone dot
                {{"250 ok\r\n550 5.1.1 a\r\n450 4.1.1 b\r\n354 go\r\n", ".\r\n"}, {"250 2.0.0 empty\r\n", ""}},
                {"permanent 550 5.1.1 RCPT TO", "transient 450 4.1.1 RCPT TO"}},
        TxnCase{"lockstep_no_rcpt_accepted_no_data", kPlain, {"b@t.example"}, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"550 5.1.1 unknown\r\n", ""}},
                {"permanent 550 5.1.1 RCPT TO"}},
        TxnCase{"rcpt_421_closes", kFull, kTwo, kBatch2,
                {{"250 ok\r\n250 ok\r\n421 4.3.2 bye\r\n", ""}},
                {"transient 421 4.3.2 RCPT TO", "transient 421 4.3.2 RCPT TO"}, Action::close},
        TxnCase{"end_of_data_421_closes", kFull, {"b@t.example"},
                kMailSized + "RCPT TO:<b@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n354 go\r\n", kBody}, {"421 4.4.2 timeout\r\n", ""}},
                {"transient 421 4.4.2 end of data"}, Action::close},
        TxnCase{"dot_stuffing_on_the_wire", kFull, {"b@t.example"},
                "MAIL FROM:<a@s.example> SIZE=11\r\nRCPT TO:<b@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n354 go\r\n", "..a\r\n..\r\nb\r\nc\r\n.\r\n"}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.data = ".a\r\n.\r\nb\r\nc"; }},
        TxnCase{"null_sender_8bit", kFull, {"b@t.example"},
                "MAIL FROM:<> SIZE=18 BODY=8BITMIME\r\nRCPT TO:<b@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n354 go\r\n", kBody}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.envelope.sender.reset(); m.envelope.body = BodyType::eight_bit_mime; }},
        TxnCase{"8bit_without_8bitmime_no_body_param", kPlain, {"b@t.example"}, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"250 ok\r\n", "DATA\r\n"}, {"354 go\r\n", kBody},
                 {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.envelope.body = BodyType::eight_bit_mime; }},
        TxnCase{"smtputf8_offered", kFull, {"b@t.example"},
                "MAIL FROM:<\xC3\xBC@s.example> SIZE=18 SMTPUTF8\r\nRCPT TO:<b@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n354 go\r\n", kBody}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.envelope.sender = addr("\xC3\xBC@s.example"); }},
        TxnCase{"smtputf8_missing_flag", kPlain, {"b@t.example"}, "", {},
                {"permanent 553 5.6.7 MAIL FROM"}, Action::ready,
                [](OutboundMessage& m) { m.envelope.smtputf8 = true; }},
        TxnCase{"smtputf8_missing_non_ascii_rcpt", kPlain, kTwo, "", {},
                {"permanent 553 5.6.7 MAIL FROM", "permanent 553 5.6.7 MAIL FROM"}, Action::ready,
                [](OutboundMessage& m) { m.envelope.recipients[1].address = addr("\xC3\xBC@t.example"); }},
        TxnCase{"size_over_limit", kFull, kTwo, "", {},
                {"permanent 552 5.3.4 MAIL FROM", "permanent 552 5.3.4 MAIL FROM"}, Action::ready,
                [](OutboundMessage& m) { m.data = std::string(1001, 'x'); }},
        TxnCase{"size_at_limit", kFull, {"b@t.example"},
                "MAIL FROM:<a@s.example> SIZE=1000\r\nRCPT TO:<b@t.example>\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n354 go\r\n", std::string(1000, 'x') + "\r\n.\r\n"}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.data = std::string(1000, 'x'); }},
        TxnCase{"size_unlimited", kPlain, {"b@t.example"}, "MAIL FROM:<a@s.example> SIZE=5000\r\n",
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"250 ok\r\n", "DATA\r\n"},
                 {"354 go\r\n", std::string(5000, 'x') + "\r\n.\r\n"}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) { m.data = std::string(5000, 'x'); }},
        TxnCase{"dsn_params", kFull, kTwo,
                "MAIL FROM:<a@s.example> SIZE=18 RET=HDRS ENVID=id+2B1+3D2+20x+01\r\n"
                "RCPT TO:<b@t.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;b+2Bx@t.example\r\n"
                "RCPT TO:<c@t.example> NOTIFY=NEVER\r\nDATA\r\n",
                {{"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", kBody}, {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data", "delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) {
                  m.envelope.ret = "HDRS";
                  m.envelope.envid = "id+1=2 x\x01";
                  m.envelope.recipients[0].notify = notify_success | notify_failure | notify_delay;
                  m.envelope.recipients[0].orcpt = "rfc822;b+x@t.example";
                  m.envelope.recipients[1].notify = notify_never;
                }},
        TxnCase{"dsn_params_dropped_without_dsn", kPlain, {"b@t.example"}, kMailSized,
                {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"250 ok\r\n", "DATA\r\n"}, {"354 go\r\n", kBody},
                 {"250 ok\r\n", ""}},
                {"delivered 250 2.0.0 end of data"}, Action::ready,
                [](OutboundMessage& m) {
                  m.envelope.ret = "FULL";
                  m.envelope.envid = "x";
                  m.envelope.recipients[0].notify = notify_failure;
                  m.envelope.recipients[0].orcpt = "rfc822;b@t.example";
                }}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- greeting, EHLO / HELO ----------------------------------------------------------------------

TEST(Greeting, MultiLine220) {
  ClientSession s(options());
  EXPECT_EQ(talk(s, "220-mx.test.example\r\n220 welcome\r\n"), kEhlo);
}

TEST(Greeting, Refused) {
  struct Row { std::string greeting; std::string output; RcptStatus later; };
  const Row rows[] = {
      {"421 4.3.2 busy\r\n", "", RcptStatus::transient},
      {"554 5.7.1 go away\r\n", "QUIT\r\n", RcptStatus::permanent},
      {"450 not now\r\n", "QUIT\r\n", RcptStatus::transient},
  };
  for (const auto& row : rows) {
    ClientSession s(options());
    EXPECT_EQ(talk(s, row.greeting), row.output) << row.greeting;
    EXPECT_EQ(s.action(), Action::close);
    ASSERT_TRUE(s.session_failure());
    EXPECT_EQ(s.session_failure()->code, std::stoi(row.greeting.substr(0, 3)));
    s.send(message(kTwo));
    ASSERT_EQ(s.results().size(), 2u);
    for (const auto& r : s.results()) {
      EXPECT_EQ(r.status, row.later) << row.greeting;
      EXPECT_EQ(r.phase, "connect");
      EXPECT_EQ(r.reply.code, s.session_failure()->code);
    }
    EXPECT_EQ(s.take_output(), "");
  }
}

TEST(Hello, EhloRefusedFallsBackToHelo) {
  for (std::string refusal : {"500 5.5.1 what\r\n", "502 no\r\n", "504 x\r\n", "550 no\r\n"}) {
    ClientSession s(options(Tls::opportunistic));
    ASSERT_EQ(talk(s, kGreeting), kEhlo);
    EXPECT_EQ(talk(s, refusal), "HELO client.example\r\n") << refusal;
    EXPECT_EQ(talk(s, "250 mx.test.example\r\n"), "");
    EXPECT_EQ(s.action(), Action::ready);
    EXPECT_TRUE(s.ehlo_keywords().empty());
    // No extensions: one command at a time, no SIZE=.
    s.send(message());
    EXPECT_EQ(s.take_output(), kMail + "\r\n");
  }
}

TEST(Hello, HeloRefusedOrEhlo4xxCloses) {
  {
    ClientSession s(options());
    ASSERT_EQ(talk(s, kGreeting), kEhlo);
    ASSERT_EQ(talk(s, "502 no\r\n"), "HELO client.example\r\n");
    EXPECT_EQ(talk(s, "550 5.7.1 go away\r\n"), "QUIT\r\n");
    EXPECT_EQ(s.action(), Action::close);
    EXPECT_EQ(s.session_failure()->one_line(), "550 5.7.1 go away");
  }
  {
    ClientSession s(options());
    ASSERT_EQ(talk(s, kGreeting), kEhlo);
    EXPECT_EQ(talk(s, "451 4.3.0 later\r\n"), "QUIT\r\n");
    EXPECT_EQ(s.action(), Action::close);
    EXPECT_EQ(s.session_failure()->one_line(), "451 4.3.0 later");
  }
  {
    ClientSession s(options());
    ASSERT_EQ(talk(s, kGreeting), kEhlo);
    EXPECT_EQ(talk(s, "421 4.3.2 bye\r\n"), "");
    EXPECT_EQ(s.action(), Action::close);
    EXPECT_EQ(s.session_failure()->code, 421);
  }
}

TEST(Hello, KeywordsUpperCased) {
  ClientSession s(options());
  connect(s, "250-mx\r\n250-size 100\r\n250 8bitmime\r\n");
  EXPECT_EQ(s.ehlo_keywords(), (std::vector<std::string>{"SIZE 100", "8BITMIME"}));
}

// ---- STARTTLS -----------------------------------------------------------------------------------

const std::string kTlsEhlo = "250-mx.test.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n";

TEST(StartTls, OfferedOpportunistic) {
  ClientSession s(options(Tls::opportunistic));
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  EXPECT_EQ(talk(s, kTlsEhlo), "STARTTLS\r\n");
  EXPECT_EQ(s.action(), Action::read);
  EXPECT_EQ(talk(s, "220 2.0.0 go ahead\r\n"), "");
  EXPECT_EQ(s.action(), Action::start_tls);
  EXPECT_FALSE(s.tls_active());
  s.tls_started();
  EXPECT_TRUE(s.tls_active());
  EXPECT_TRUE(s.ehlo_keywords().empty());  // forgotten until the new EHLO
  EXPECT_EQ(s.take_output(), kEhlo);
  EXPECT_EQ(talk(s, "250-mx.test.example\r\n250 PIPELINING\r\n"), "");  // no STARTTLS loop
  EXPECT_EQ(s.action(), Action::ready);
  EXPECT_EQ(s.ehlo_keywords(), (std::vector<std::string>{"PIPELINING"}));
  EXPECT_FALSE(s.session_failure());
}

TEST(StartTls, InjectionIsDiscarded) {
  ClientSession s(options(Tls::required));
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  ASSERT_EQ(talk(s, kTlsEhlo), "STARTTLS\r\n");
  // The 220 and an injected reply arrive in one segment; more plaintext comes before the handshake.
  EXPECT_EQ(talk(s, "220 ready\r\n250 fake\r\n"), "");
  EXPECT_EQ(s.action(), Action::start_tls);
  s.feed("250-also fake\r\n");
  EXPECT_EQ(s.action(), Action::start_tls);
  s.tls_started();
  EXPECT_EQ(s.take_output(), kEhlo);
  EXPECT_EQ(s.action(), Action::read);  // "250 fake" was not taken as the EHLO reply
  EXPECT_EQ(talk(s, "250-mx.test.example\r\n250 DSN\r\n"), "");
  EXPECT_EQ(s.action(), Action::ready);
  EXPECT_EQ(s.ehlo_keywords(), (std::vector<std::string>{"DSN"}));
  EXPECT_FALSE(s.session_failure());
}

TEST(StartTls, Table) {
  struct Row {
    const char* name;
    Tls tls;
    std::string ehlo;
    std::vector<Step> steps;      // after the EHLO reply
    std::string after_ehlo;       // written in response to the EHLO reply
    Action action;
    std::string failure;          // session_failure()->one_line(), or empty
  };
  const Row rows[] = {
      {"required_not_offered", Tls::required, kPlain, {}, "QUIT\r\n", Action::close, "421 4.4.317 STARTTLS not offered"},
      {"opportunistic_not_offered", Tls::opportunistic, kPlain, {}, "", Action::ready, ""},
      {"never_offered", Tls::never, kTlsEhlo, {}, "", Action::ready, ""},
      {"opportunistic_refused_4xx", Tls::opportunistic, kTlsEhlo, {{"454 4.7.0 TLS not available\r\n", ""}},
       "STARTTLS\r\n", Action::ready, ""},
      {"opportunistic_refused_5xx", Tls::opportunistic, kTlsEhlo, {{"502 5.5.1 no\r\n", ""}}, "STARTTLS\r\n",
       Action::ready, ""},
      {"required_refused", Tls::required, kTlsEhlo, {{"454 4.7.0 TLS not available\r\n", "QUIT\r\n"}}, "STARTTLS\r\n",
       Action::close, "421 4.4.317 STARTTLS refused: 454 4.7.0 TLS not available"},
      {"opportunistic_421", Tls::opportunistic, kTlsEhlo, {{"421 4.3.2 bye\r\n", ""}}, "STARTTLS\r\n",
       Action::close, "421 4.3.2 bye"},
  };
  for (const auto& row : rows) {
    ClientSession s(options(row.tls));
    ASSERT_EQ(talk(s, kGreeting), kEhlo);
    EXPECT_EQ(talk(s, row.ehlo), row.after_ehlo) << row.name;
    for (const auto& step : row.steps) EXPECT_EQ(talk(s, step.server), step.client) << row.name;
    EXPECT_EQ(s.action(), row.action) << row.name;
    EXPECT_EQ(s.session_failure() ? s.session_failure()->one_line() : "", row.failure) << row.name;
    EXPECT_FALSE(s.tls_active());
  }
}

TEST(StartTls, HandshakeFailed) {
  ClientSession s(options(Tls::opportunistic));
  ASSERT_EQ(talk(s, kGreeting), kEhlo);
  ASSERT_EQ(talk(s, kTlsEhlo), "STARTTLS\r\n");
  ASSERT_EQ(talk(s, "220 go\r\n"), "");
  s.tls_failed("certificate verify failed");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(s.take_output(), "");
  EXPECT_EQ(s.session_failure()->one_line(), "421 4.7.5 TLS handshake failed: certificate verify failed");
  EXPECT_FALSE(s.session_failure()->permanent());
}

// ---- connection loss, reuse, QUIT, timeouts -----------------------------------------------------

TEST(ConnectionLost, MidData) {
  ClientSession s(options());
  connect(s, kFull);
  s.send(message(kTwo));
  ASSERT_EQ(s.take_output(), kBatch2);
  ASSERT_EQ(talk(s, "250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"), kBody);
  EXPECT_EQ(s.timeout(), std::chrono::minutes(10));
  s.connection_lost("connection reset by peer");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(summary(s), (std::vector<std::string>{"transient 421 4.4.2 end of data", "permanent 550 5.1.1 RCPT TO"}));
  EXPECT_EQ(s.session_failure()->one_line(), "421 4.4.2 connection lost: connection reset by peer");
  s.feed("250 late\r\n");  // ignored once closed
  EXPECT_EQ(s.results()[0].status, RcptStatus::transient);
}

TEST(ConnectionLost, BeforeGreetingAndWhileIdle) {
  ClientSession s(options());
  s.connection_lost("timeout");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(s.session_failure()->code, 421);
  ClientSession t(options());
  connect(t, kFull);
  t.connection_lost("eof");
  EXPECT_EQ(t.action(), Action::close);
  ASSERT_TRUE(t.session_failure());
}

TEST(Reuse, SecondMessageWithoutRset) {
  ClientSession s(options());
  connect(s, kFull);
  s.send(message());
  ASSERT_EQ(s.take_output(), kMailSized + "RCPT TO:<b@t.example>\r\nDATA\r\n");
  ASSERT_EQ(talk(s, "250 ok\r\n250 ok\r\n354 go\r\n"), kBody);
  ASSERT_EQ(talk(s, "250 ok\r\n"), "");
  ASSERT_EQ(s.action(), Action::ready);
  s.send(message({"c@t.example"}));
  EXPECT_EQ(s.take_output(), kMailSized + "RCPT TO:<c@t.example>\r\nDATA\r\n");
  EXPECT_EQ(s.results()[0].status, RcptStatus::pending);
  ASSERT_EQ(talk(s, "250 ok\r\n250 ok\r\n354 go\r\n"), kBody);
  ASSERT_EQ(talk(s, "250 ok\r\n"), "");
  EXPECT_EQ(summary(s), (std::vector<std::string>{"delivered 250 2.0.0 end of data"}));
}

TEST(Reuse, RsetAfterAbortedTransaction) {
  struct Row { const char* name; std::string ehlo; std::vector<Step> steps; };
  const Row rows[] = {
      {"lockstep_no_rcpt", kPlain, {{"250 ok\r\n", "RCPT TO:<b@t.example>\r\n"}, {"550 no\r\n", ""}}},
      {"pipelined_data_refused", kFull, {{"250 ok\r\n250 ok\r\n451 4.3.0 no\r\n", ""}}},
      {"pipelined_lone_dot", kFull, {{"250 ok\r\n550 no\r\n354 go\r\n", ".\r\n"}, {"250 ok\r\n", ""}}},
  };
  for (const auto& row : rows) {
    ClientSession s(options());
    connect(s, row.ehlo);
    s.send(message());
    s.take_output();
    for (const auto& step : row.steps) ASSERT_EQ(talk(s, step.server), step.client) << row.name;
    ASSERT_EQ(s.action(), Action::ready) << row.name;
    s.send(message());
    EXPECT_EQ(s.take_output(), "RSET\r\n") << row.name;  // alone, then the transaction
    EXPECT_EQ(talk(s, "250 2.0.0 ok\r\n").rfind("MAIL FROM:<a@s.example>", 0), 0u) << row.name;
  }
}

TEST(Reuse, NoRsetAfterMailRefused) {
  ClientSession s(options());
  connect(s, kFull);
  s.send(message());
  s.take_output();
  ASSERT_EQ(talk(s, "550 no\r\n503 no\r\n503 no\r\n"), "");
  ASSERT_EQ(s.action(), Action::ready);
  s.send(message());
  EXPECT_EQ(s.take_output().rfind("MAIL FROM:", 0), 0u);
}

TEST(Reuse, RsetRefusedCloses) {
  ClientSession s(options());
  connect(s, kPlain);
  s.send(message());
  s.take_output();
  ASSERT_EQ(talk(s, "250 ok\r\n"), "RCPT TO:<b@t.example>\r\n");
  ASSERT_EQ(talk(s, "550 no\r\n"), "");
  s.send(message(kTwo));
  ASSERT_EQ(s.take_output(), "RSET\r\n");
  EXPECT_EQ(talk(s, "500 5.5.1 what\r\n"), "QUIT\r\n");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(summary(s), (std::vector<std::string>{"transient 421 4.5.0 RSET", "transient 421 4.5.0 RSET"}));
}

TEST(Quit, WaitsForReply) {
  ClientSession s(options());
  connect(s, kFull);
  s.quit();
  EXPECT_EQ(s.take_output(), "QUIT\r\n");
  EXPECT_EQ(s.action(), Action::read);
  EXPECT_EQ(talk(s, "221 2.0.0 bye\r\n"), "");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_FALSE(s.session_failure());
}

TEST(Quit, AnyReplyOrLossCloses) {
  ClientSession s(options());
  connect(s, kFull);
  s.quit();
  s.feed("500 whatever\r\n");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_FALSE(s.session_failure());
  ClientSession t(options());
  connect(t, kFull);
  t.quit();
  t.connection_lost("eof");
  EXPECT_EQ(t.action(), Action::close);
  EXPECT_FALSE(t.session_failure());
}

TEST(Quit, MidTransactionLeavesNothingPending) {
  ClientSession s(options());
  connect(s, kFull);
  s.send(message(kTwo));
  s.take_output();
  s.feed("250 ok\r\n250 ok\r\n");
  s.quit();
  EXPECT_EQ(s.take_output(), "QUIT\r\n");
  for (const auto& r : s.results()) EXPECT_EQ(r.status, RcptStatus::transient);
}

TEST(Timeouts, PerPhase) {
  using std::chrono::minutes;
  ClientSession s(options());
  EXPECT_EQ(s.timeout(), minutes(5));  // greeting
  s.feed(kGreeting);
  EXPECT_EQ(s.timeout(), minutes(5));  // EHLO
  s.feed(kPlain);
  s.send(message());
  EXPECT_EQ(s.timeout(), minutes(5));  // MAIL
  s.feed("250 ok\r\n");
  EXPECT_EQ(s.timeout(), minutes(5));  // RCPT
  s.feed("250 ok\r\n");
  EXPECT_EQ(s.timeout(), minutes(2));  // DATA
  s.feed("354 go\r\n");
  EXPECT_EQ(s.timeout(), minutes(10));  // end of data
}

// The outcome does not depend on how the server's bytes are split into segments.
TEST(Robustness, SplitAnywhere) {
  const std::string replies = "250-2.1.0 o\r\n250 2.1.0 k\r\n450 4.2.1 busy\r\n250 ok\r\n354 go\r\n250 2.0.0 queued\r\n";
  for (std::size_t cut = 0; cut <= replies.size(); ++cut) {
    ClientSession s(options());
    connect(s, kFull);
    s.send(message(kTwo));
    std::string wrote = s.take_output();
    wrote += talk(s, std::string_view(replies).substr(0, cut));
    wrote += talk(s, std::string_view(replies).substr(cut));
    EXPECT_EQ(wrote, kBatch2 + kBody) << cut;
    EXPECT_EQ(s.action(), Action::ready) << cut;
    EXPECT_EQ(summary(s), (std::vector<std::string>{"transient 450 4.2.1 RCPT TO", "delivered 250 2.0.0 end of data"}))
        << cut;
  }
}

// Arbitrary server bytes never crash the session, never grow its buffer past the bound, and every
// recipient has an outcome once the driver gives up.
TEST(Robustness, GarbageNeverLeavesRecipientsPending) {
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  const char alphabet[] = "0123456789- \r\n.ab2345";
  for (int round = 0; round < 300; ++round) {
    ClientOptions o = options();
    o.max_reply_line = 64;
    o.max_reply_lines = 4;
    ClientSession s(o);
    s.feed(kGreeting);
    s.feed(kFull);
    s.send(message(kThree));
    for (int i = 0; i < 40 && s.action() == Action::read; ++i) {
      std::string chunk;
      for (std::uint32_t n = next() % 16; n > 0; --n) chunk += alphabet[next() % (sizeof(alphabet) - 1)];
      if (next() % 4 == 0) chunk = (next() % 2 ? "250 ok\r\n" : "354 go\r\n");
      s.feed(chunk);
      s.take_output();
    }
    if (s.action() == Action::read) s.connection_lost("test gives up");
    EXPECT_NE(s.action(), Action::read);
    for (const auto& r : s.results()) EXPECT_NE(r.status, RcptStatus::pending) << round;
  }
}

TEST(Send, NoRecipientsIsANoOp) {
  ClientSession s(options());
  connect(s, kFull);
  OutboundMessage m = message({});
  s.send(std::move(m));
  EXPECT_EQ(s.take_output(), "");
  EXPECT_EQ(s.action(), Action::ready);
  EXPECT_TRUE(s.results().empty());
}

TEST(Send, SharedDataGoesOnTheWireLikeOwnData) {
  // The delivery driver passes the spooled body by shared pointer (no copy); the wire is the same.
  auto wire = [](bool shared) {
    ClientSession s(options());
    connect(s, kFull);
    OutboundMessage m = message({"b@t.example"}, "Subject: x\r\n\r\n.dot\r\nhi\r\n");
    if (shared) {
      m.shared_data = std::make_shared<const std::string>(std::move(m.data));
      m.data.clear();
    }
    s.send(std::move(m));
    std::string out = s.take_output();
    out += talk(s, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    return out;
  };
  const std::string own = wire(false);
  EXPECT_NE(own.find("SIZE=24"), std::string::npos) << own;
  EXPECT_NE(own.find("\r\n..dot\r\nhi\r\n.\r\n"), std::string::npos) << own;
  EXPECT_EQ(wire(true), own);
}

}  // namespace
}  // namespace mf::smtp
