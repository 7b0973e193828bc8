// Tests for the connector-validation hooks of src/smtp/client_session.cpp (R-OUT-10):
// OutboundMessage::stop_after_rcpt (no DATA, pipelined or not; the next transaction starts with RSET)
// and ClientOptions::on_reply (every reply, with the command it answers).
#include "smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mf::smtp {
namespace {

using Action = ClientSession::Action;

const std::string kGreeting = "220 mx.test.example ESMTP\r\n";
const std::string kPipelining = "250-mx.test.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
const std::string kPlain = "250-mx.test.example\r\n250 ENHANCEDSTATUSCODES\r\n";

Address addr(std::string_view s) { return Address::parse(s, true).value(); }

OutboundMessage probe(std::vector<std::string> rcpts = {"b@t.example"}) {
  OutboundMessage m;
  m.envelope.sender = addr("a@s.example");
  for (const auto& r : rcpts) m.envelope.recipients.push_back(EnvelopeRecipient{addr(r), notify_none, {}});
  m.stop_after_rcpt = true;
  return m;
}

struct Seen {
  std::vector<std::string> lines;              // "command code"
  std::vector<std::vector<std::string>> raw;   // each reply's lines as received
};

ClientOptions observed(Seen& seen) {
  ClientOptions o;
  o.helo_name = "client.example";
  o.tls = ClientOptions::Tls::never;
  o.on_reply = [&seen](std::string_view command, const Reply& r, const std::vector<std::string>& lines) {
    seen.lines.push_back(std::string(command) + " " + std::to_string(r.code));
    seen.raw.push_back(lines);
  };
  return o;
}

std::string talk(ClientSession& s, std::string_view server) {
  s.feed(server);
  return s.take_output();
}

TEST(StopAfterRcpt, PipelinedBatchHasNoData) {
  Seen seen;
  ClientSession s(observed(seen));
  ASSERT_EQ(talk(s, kGreeting), "EHLO client.example\r\n");
  ASSERT_EQ(talk(s, kPipelining), "");
  ASSERT_EQ(s.action(), Action::ready);
  s.send(probe({"b@t.example", "c@t.example"}));
  EXPECT_EQ(s.take_output(), "MAIL FROM:<a@s.example>\r\nRCPT TO:<b@t.example>\r\nRCPT TO:<c@t.example>\r\n");
  EXPECT_EQ(s.action(), Action::read);
  EXPECT_EQ(talk(s, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "");
  EXPECT_EQ(s.action(), Action::read);  // the second RCPT reply is still awaited
  EXPECT_EQ(talk(s, "550 5.1.1 no such user\r\n"), "");
  ASSERT_EQ(s.action(), Action::ready);
  ASSERT_EQ(s.results().size(), 2u);
  EXPECT_EQ(s.results()[0].status, RcptStatus::delivered);
  EXPECT_EQ(s.results()[0].reply.code, 250);
  EXPECT_EQ(s.results()[0].phase, "RCPT TO");
  EXPECT_EQ(s.results()[1].status, RcptStatus::permanent);
  EXPECT_EQ(s.results()[1].reply.enhanced, "5.1.1");
  EXPECT_EQ(seen.lines, (std::vector<std::string>{"greeting 220", "EHLO 250", "MAIL FROM 250", "RCPT TO 250",
                                                  "RCPT TO 550"}));
  // Lines as received: no enhanced code synthesized for the greeting, none removed from the others.
  EXPECT_EQ(seen.raw[0], (std::vector<std::string>{"mx.test.example ESMTP"}));
  EXPECT_EQ(seen.raw[1], (std::vector<std::string>{"mx.test.example", "PIPELINING", "ENHANCEDSTATUSCODES"}));
  EXPECT_EQ(seen.raw[4], (std::vector<std::string>{"5.1.1 no such user"}));
  // The server may hold the open transaction: the next one starts with RSET; QUIT is observed too.
  s.send(probe());
  EXPECT_EQ(s.take_output(), "RSET\r\n");
  EXPECT_EQ(talk(s, "250 2.0.0 Ok\r\n"), "MAIL FROM:<a@s.example>\r\nRCPT TO:<b@t.example>\r\n");
  EXPECT_EQ(talk(s, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "");
  s.quit();
  EXPECT_EQ(s.take_output(), "QUIT\r\n");
  s.feed("221 2.0.0 Bye\r\n");
  EXPECT_EQ(s.action(), Action::close);
  EXPECT_EQ(seen.lines.back(), "QUIT 221");
}

TEST(StopAfterRcpt, OneCommandAtATime) {
  Seen seen;
  ClientSession s(observed(seen));
  talk(s, kGreeting);
  talk(s, kPlain);
  s.send(probe());
  EXPECT_EQ(s.take_output(), "MAIL FROM:<a@s.example>\r\n");
  EXPECT_EQ(talk(s, "250 2.1.0 Ok\r\n"), "RCPT TO:<b@t.example>\r\n");
  EXPECT_EQ(talk(s, "250 2.1.5 Ok\r\n"), "");  // no DATA
  ASSERT_EQ(s.action(), Action::ready);
  EXPECT_EQ(s.results()[0].status, RcptStatus::delivered);
  EXPECT_EQ(s.results()[0].phase, "RCPT TO");
}

TEST(StopAfterRcpt, MailRefused) {
  Seen seen;
  ClientSession s(observed(seen));
  talk(s, kGreeting);
  talk(s, kPlain);
  s.send(probe());
  EXPECT_EQ(s.take_output(), "MAIL FROM:<a@s.example>\r\n");
  EXPECT_EQ(talk(s, "553 5.7.1 sender refused\r\n"), "");
  ASSERT_EQ(s.action(), Action::ready);
  EXPECT_EQ(s.results()[0].status, RcptStatus::permanent);
  EXPECT_EQ(s.results()[0].phase, "MAIL FROM");
  EXPECT_EQ(seen.lines.back(), "MAIL FROM 553");
}

TEST(OnReply, NamesStartTlsAndData) {
  Seen seen;
  ClientOptions o = observed(seen);
  o.tls = ClientOptions::Tls::opportunistic;
  ClientSession s(o);
  talk(s, kGreeting);
  EXPECT_EQ(talk(s, "250-mx.test.example\r\n250 STARTTLS\r\n"), "STARTTLS\r\n");
  s.feed("220 2.0.0 go ahead\r\n");
  ASSERT_EQ(s.action(), Action::start_tls);
  s.tls_started();
  EXPECT_EQ(s.take_output(), "EHLO client.example\r\n");
  talk(s, kPlain);
  OutboundMessage m = probe();
  m.stop_after_rcpt = false;
  m.data = "Subject: x\r\n\r\nhi\r\n";
  s.send(std::move(m));
  s.take_output();
  talk(s, "250 2.1.0 Ok\r\n");
  talk(s, "250 2.1.5 Ok\r\n");
  talk(s, "354 go\r\n");
  talk(s, "250 2.0.0 queued\r\n");
  EXPECT_EQ(seen.lines, (std::vector<std::string>{"greeting 220", "EHLO 250", "STARTTLS 220", "EHLO 250",
                                                  "MAIL FROM 250", "RCPT TO 250", "DATA 354", "end of data 250"}));
  EXPECT_EQ(s.results()[0].status, RcptStatus::delivered);
  EXPECT_EQ(s.results()[0].phase, "end of data");
}

}  // namespace
}  // namespace mf::smtp
