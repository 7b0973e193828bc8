// Tests for src/smtp/server_session.cpp: one row per reply of the contract (table), then the actions,
// state queries and bounds that a table row cannot show.
#include "smtp/server_session.hpp"

#include "smtp/session_harness.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace mf::smtp {
namespace {

using test::Harness;

const std::string kEhlo = "EHLO client.example\r\n";
const std::string kMail = "MAIL FROM:<a@s.example>\r\n";
const std::string kRcpt = "RCPT TO:<b@t.example>\r\n";
const std::string kEhloReply =
    "250-mx.test.example Hello client.example [192.0.2.10]\n250-PIPELINING\n250-SIZE 36700160\n"
    "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250-DSN\n";

struct SessionCase {
  const char* name;
  std::vector<std::string> before;  // segments sent first (their output is not checked)
  std::string send;                 // the segment under test
  std::string want;                 // transcript of its output
  std::function<void(ServerOptions&)> options = {};
  std::function<void(test::FakePolicy&)> policy = {};
};

void PrintTo(const SessionCase& c, std::ostream* os) { *os << c.name; }

class Replies : public ::testing::TestWithParam<SessionCase> {};

TEST_P(Replies, Table) {
  const auto& c = GetParam();
  ServerOptions o = test::test_options();
  if (c.options) c.options(o);
  Harness h(o);
  if (c.policy) c.policy(h.policy());
  h.start();
  for (const auto& s : c.before) h.send(s);
  EXPECT_EQ(h.send(c.send), c.want);
}

void reject_b(test::FakePolicy& p) { p.reject_rcpt["b@t.example"] = test::policy_rejection("b@t.example"); }

INSTANTIATE_TEST_SUITE_P(
    Contract, Replies,
    ::testing::Values(
        // EHLO / HELO
        SessionCase{"ehlo", {}, kEhlo, kEhloReply + "250 STARTTLS\n"},
        SessionCase{"ehlo_without_starttls", {}, kEhlo,
                    "250-mx.test.example Hello client.example [192.0.2.10]\n250-PIPELINING\n250-SIZE 1000\n"
                    "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 DSN\n",
                    [](ServerOptions& o) { o.starttls_available = false; o.max_message_size = 1000; }},
        SessionCase{"ehlo_sanitised", {}, "EHLO a(b)\r\n",  // catalogue A27
                    "250-mx.test.example Hello unknown [192.0.2.10]\n250-PIPELINING\n250-SIZE 36700160\n"
                    "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250-DSN\n250 STARTTLS\n"},
        SessionCase{"helo", {}, "HELO client.example\r\n", "250 mx.test.example\n"},
        SessionCase{"ehlo_no_arg", {}, "EHLO\r\n", "501 5.5.4 Syntax: EHLO hostname\n"},   // A27
        SessionCase{"ehlo_blank_arg", {}, "EHLO   \r\n", "501 5.5.4 Syntax: EHLO hostname\n"},
        SessionCase{"helo_no_arg", {}, "HELO\r\n", "501 5.5.4 Syntax: HELO hostname\n"},
        SessionCase{"ehlo_resets_transaction", {kEhlo, kMail, kEhlo}, kRcpt, "503 5.5.1 Error: need MAIL command\n"},
        // MAIL (catalogue A08, A09, A12-A15, A23)
        SessionCase{"mail_before_ehlo", {}, kMail, "503 5.5.1 Error: send HELO/EHLO first\n"},
        SessionCase{"mail_nested", {kEhlo, kMail}, kMail, "503 5.5.1 Error: nested MAIL command\n"},
        SessionCase{"mail_bad_syntax", {kEhlo}, "MAIL FROM:<a@@s.example>\r\n", "501 5.1.7 Bad sender address syntax\n"},
        SessionCase{"mail_ok", {kEhlo}, kMail, "250 2.1.0 Sender OK\n"},
        SessionCase{"mail_after_helo", {"HELO c.example\r\n"}, kMail, "250 2.1.0 Sender OK\n"},
        SessionCase{"mail_null_sender", {kEhlo}, "MAIL FROM:<>\r\n", "250 2.1.0 Sender OK\n"},
        SessionCase{"mail_utf8_undeclared", {kEhlo}, "MAIL FROM:<\xC3\xBC@s.example>\r\n",
                    "553 5.6.7 Must declare SMTPUTF8 to send Unicode address\n"},
        SessionCase{"mail_utf8_declared", {kEhlo}, "MAIL FROM:<\xC3\xBC@s.example> SMTPUTF8\r\n", "250 2.1.0 Sender OK\n"},
        SessionCase{"mail_size_syntax", {kEhlo}, "MAIL FROM:<a@s.example> SIZE=12x\r\n", "501 5.5.4 Bad message size syntax\n"},
        SessionCase{"mail_size_over", {kEhlo}, "MAIL FROM:<a@s.example> SIZE=1001\r\n",
                    "552 5.3.4 Message size exceeds fixed limit\n", [](ServerOptions& o) { o.max_message_size = 1000; }},
        SessionCase{"mail_size_at_limit", {kEhlo}, "MAIL FROM:<a@s.example> SIZE=1000\r\n", "250 2.1.0 Sender OK\n",
                    [](ServerOptions& o) { o.max_message_size = 1000; }},
        SessionCase{"mail_unknown_param", {kEhlo}, "MAIL FROM:<a@s.example> XFOO=1\r\n", "555 5.5.4 Unsupported option: XFOO\n"},
        SessionCase{"mail_duplicate_param", {kEhlo}, "MAIL FROM:<a@s.example> RET=FULL RET=HDRS\r\n",
                    "501 5.5.4 Duplicate option: RET\n"},
        SessionCase{"mail_policy_reject", {kEhlo}, kMail, "550 5.7.1 <a@s.example>: Sender address rejected\n", {},
                    [](test::FakePolicy& p) { p.reject_mail["a@s.example"] = test::sender_rejection("a@s.example"); }},
        SessionCase{"mail_policy_reject_leaves_no_transaction", {kEhlo, kMail}, kRcpt, "503 5.5.1 Error: need MAIL command\n", {},
                    [](test::FakePolicy& p) { p.reject_mail["a@s.example"] = test::sender_rejection("a@s.example"); }},
        // RCPT (catalogue A10, A12)
        SessionCase{"rcpt_before_mail", {kEhlo}, kRcpt, "503 5.5.1 Error: need MAIL command\n"},
        SessionCase{"rcpt_bad_syntax", {kEhlo, kMail}, "RCPT TO:b@t.example\r\n", "501 5.1.3 Bad recipient address syntax\n"},
        SessionCase{"rcpt_null", {kEhlo, kMail}, "RCPT TO:<>\r\n", "501 5.1.3 Bad recipient address syntax\n"},
        SessionCase{"rcpt_ok", {kEhlo, kMail}, kRcpt, "250 2.1.5 Recipient OK\n"},
        SessionCase{"rcpt_utf8_undeclared", {kEhlo, kMail}, "RCPT TO:<\xC3\xBC@t.example>\r\n",
                    "553 5.6.7 Must declare SMTPUTF8 to send Unicode address\n"},
        SessionCase{"rcpt_too_many", {kEhlo, kMail, "RCPT TO:<1@t.example>\r\n", "RCPT TO:<2@t.example>\r\n"}, kRcpt,
                    "452 4.5.3 Error: too many recipients\n", [](ServerOptions& o) { o.max_recipients = 2; }},
        SessionCase{"rcpt_policy_reject", {kEhlo, kMail}, kRcpt, "550 5.7.1 <b@t.example>: Recipient address rejected\n", {},
                    reject_b},
        SessionCase{"rcpt_unknown_param", {kEhlo, kMail}, "RCPT TO:<b@t.example> SIZE=1\r\n",
                    "555 5.5.4 Unsupported option: SIZE\n"},
        // DATA (catalogue A10, A11)
        SessionCase{"data_without_mail", {kEhlo}, "DATA\r\n", "503 5.5.1 Error: need RCPT command\n"},
        SessionCase{"data_without_rcpt", {kEhlo, kMail}, "DATA\r\n", "503 5.5.1 Error: need RCPT command\n"},
        SessionCase{"data_no_valid_rcpt", {kEhlo, kMail, kRcpt}, "DATA\r\n", "554 5.5.1 Error: no valid recipients\n", {},
                    reject_b},
        SessionCase{"data_start", {kEhlo, kMail, kRcpt}, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\n"},
        SessionCase{"data_hop_count", {kEhlo, kMail, kRcpt, "DATA\r\n"},
                    "Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n",
                    "554 5.4.14 Hop count exceeded - possible mail loop\n", [](ServerOptions& o) { o.max_hop_count = 2; }},
        SessionCase{"data_hop_count_under", {kEhlo, kMail, kRcpt, "DATA\r\n"}, "Received: a\r\n\r\nReceived: b\r\n.\r\n",
                    "[commit ID0001]\n[from <a@s.example>]\n[to <b@t.example>]\n"
                    "| Received: from client.example ([192.0.2.10])\n"
                    "| \tby mx.test.example (mailflow) with ESMTP id ID0001\n"
                    "| \tfor <b@t.example>; Tue, 02 Jan 2024 03:04:05 +0000\n"
                    "| Received: a\n|\n| Received: b\n250 2.0.0 Ok: queued as ID0001\n",
                    [](ServerOptions& o) { o.max_hop_count = 2; }},
        SessionCase{"data_too_big", {kEhlo, kMail, kRcpt, "DATA\r\n"}, std::string(20, 'x') + "\r\n.\r\n",
                    "552 5.3.4 Error: message file too big\n", [](ServerOptions& o) { o.max_message_size = 21; }},
        SessionCase{"data_bare_lf", {kEhlo, kMail, kRcpt, "DATA\r\n"}, "a\nb\r\n.\r\n",
                    "550 5.6.11 Error: bare <CR> or <LF> in message content\n"},
        SessionCase{"data_resets_after_reject", {kEhlo, kMail, kRcpt, "DATA\r\n", "a\rb\r\n.\r\n"}, kRcpt,
                    "503 5.5.1 Error: need MAIL command\n"},
        // Other commands
        SessionCase{"rset", {kEhlo, kMail}, "RSET\r\n", "250 2.0.0 Ok\n"},
        SessionCase{"rset_clears", {kEhlo, kMail, "RSET\r\n"}, kRcpt, "503 5.5.1 Error: need MAIL command\n"},
        SessionCase{"noop", {}, "NOOP\r\n", "250 2.0.0 Ok\n"},
        SessionCase{"quit", {}, "QUIT\r\n", "221 2.0.0 Bye\n[close]\n"},
        SessionCase{"vrfy", {}, "VRFY root\r\n", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\n"},
        SessionCase{"expn", {}, "EXPN staff\r\n", "502 5.5.1 Error: command not implemented\n"},   // A28
        SessionCase{"help", {}, "HELP\r\n", "214 2.0.0 See RFC 5321\n"},
        SessionCase{"bdat", {kEhlo, kMail, kRcpt}, "BDAT 0 LAST\r\n", "502 5.5.1 Error: command not implemented\n"},
        SessionCase{"auth", {kEhlo}, "AUTH PLAIN\r\n", "502 5.5.1 Error: command not implemented\n"},
        // STARTTLS (catalogue C04, C05)
        SessionCase{"starttls_unavailable", {kEhlo}, "STARTTLS\r\n", "502 5.5.1 Error: command not implemented\n",
                    [](ServerOptions& o) { o.starttls_available = false; }},
        SessionCase{"starttls_arg", {kEhlo}, "STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS\n"},
        SessionCase{"starttls_twice", {kEhlo, "STARTTLS\r\n", kEhlo}, "STARTTLS\r\n", "554 5.5.1 Error: TLS already active\n"},
        SessionCase{"starttls_ok", {kEhlo}, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\n[starttls]\n"},
        // Bad lines (catalogue A01-A07, A29)
        SessionCase{"unknown_verb", {}, "XYZZY\r\n", "500 5.5.2 Error: command not recognized\n"},
        SessionCase{"empty_line", {}, "\r\n", "500 5.5.2 Error: command not recognized\n"},
        SessionCase{"too_long", {}, "NOOP " + std::string(1020, 'x') + "\r\n", "500 5.5.2 Error: command too long\n"},
        SessionCase{"at_the_limit", {}, "NOOP " + std::string(1017, 'x') + "\r\n", "250 2.0.0 Ok\n"},  // 1024 octets
        SessionCase{"nul", {}, std::string("NO\0OP\r\n", 7), "501 5.5.2 Error: NUL characters are not allowed\n"},
        SessionCase{"bare_lf", {}, "NOOP\nNOOP\r\n", "501 5.5.2 Error: bare <CR> or <LF> received\n"},
        SessionCase{"bare_cr", {kEhlo}, "MAIL FROM:<a@s.example>\rRCPT TO:<b@t.example>\r\n",
                    "501 5.5.2 Error: bare <CR> or <LF> received\n"},
        SessionCase{"bad_utf8", {}, "NOOP \x80\x81\r\n", "500 5.5.2 Error: bad UTF-8 syntax\n"},
        SessionCase{"http", {}, "GET / HTTP/1.1\r\n", "221 2.7.0 Error: this is an SMTP server, goodbye\n[close]\n"},
        SessionCase{"header_like", {kEhlo}, "Subject: hi\r\n", "221 2.7.0 Error: this is an SMTP server, goodbye\n[close]\n"},
        SessionCase{"too_many_errors", {"XYZZY\r\n", "XYZZY\r\n"}, "XYZZY\r\n",
                    "500 5.5.2 Error: command not recognized\n421 4.7.0 mx.test.example Error: too many errors\n[close]\n",
                    [](ServerOptions& o) { o.max_errors = 3; }},
        SessionCase{"policy_rejects_count", {kEhlo, kMail, kRcpt}, kRcpt,
                    "550 5.7.1 <b@t.example>: Recipient address rejected\n"
                    "421 4.7.0 mx.test.example Error: too many errors\n[close]\n",
                    [](ServerOptions& o) { o.max_errors = 2; }, reject_b},
        // Pipelining synchronisation (security catalogue §2.4)
        SessionCase{"sync_ehlo", {}, kEhlo + "NOOP\r\n", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_helo", {}, "HELO c.example\r\nN", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_data", {kEhlo, kMail, kRcpt}, "DATA\r\nSubject: x\r\n",
                    "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_vrfy", {}, "VRFY x\r\nNOOP\r\n", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_expn", {}, "EXPN x\r\nNOOP\r\n", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_noop", {}, "NOOP\r\nNOOP\r\n", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"sync_help", {}, "HELP\r\nQUIT\r\n", "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n"},
        SessionCase{"pipelined_group", {kEhlo}, kMail + kRcpt + "RCPT TO:<c@t.example>\r\nDATA\r\n",
                    "250 2.1.0 Sender OK\n250 2.1.5 Recipient OK\n250 2.1.5 Recipient OK\n"
                    "354 End data with <CR><LF>.<CR><LF>\n"},
        SessionCase{"pipelined_rset_quit", {kEhlo}, "RSET\r\nQUIT\r\n", "250 2.0.0 Ok\n221 2.0.0 Bye\n[close]\n"}),
    [](const ::testing::TestParamInfo<SessionCase>& i) { return std::string(i.param.name); });

TEST(ServerSession, Greeting) {
  Harness h;
  EXPECT_EQ(h.start(), "220 mx.test.example ESMTP mailflow\n");
  EXPECT_EQ(h.session().action(), ServerSession::Action::read);
}

TEST(ServerSession, WireFormatIsCrlf) {
  Harness h;
  h.session().start();
  EXPECT_EQ(h.session().take_output(), "220 mx.test.example ESMTP mailflow\r\n");
  EXPECT_EQ(h.session().take_output(), "");
  h.session().feed("HELO x\r\n");
  EXPECT_EQ(h.session().take_output(), "250 mx.test.example\r\n");
}

TEST(ServerSession, CommitHandsOverTheMessage) {
  Harness h;
  h.start();
  h.send(kEhlo);
  h.send("MAIL FROM:<a@s.example> BODY=8BITMIME\r\n");
  h.send("RCPT TO:<b@t.example> NOTIFY=FAILURE\r\n");
  h.send("DATA\r\n");
  EXPECT_TRUE(h.session().in_data());
  EXPECT_TRUE(h.session().in_transaction());
  h.session().feed("Subject: x\r\n\r\n..dot\r\n.\r\n");
  ASSERT_EQ(h.session().action(), ServerSession::Action::commit);
  EXPECT_FALSE(h.session().in_data());
  EXPECT_TRUE(h.session().in_transaction());
  EXPECT_EQ(h.session().take_output(), "");  // nothing said before the commit
  AcceptedMessage m = h.session().take_message();
  EXPECT_EQ(m.id, "ID0001");
  ASSERT_TRUE(m.envelope.sender);
  EXPECT_EQ(m.envelope.sender->str(), "a@s.example");
  EXPECT_EQ(m.envelope.body, BodyType::eight_bit_mime);
  ASSERT_EQ(m.envelope.recipients.size(), 1u);
  EXPECT_EQ(m.envelope.recipients[0].notify, notify_failure);
  EXPECT_EQ(m.connection.helo, "client.example");
  EXPECT_EQ(m.data,
            "Received: from client.example ([192.0.2.10])\r\n"
            "\tby mx.test.example (mailflow) with ESMTP id ID0001\r\n"
            "\tfor <b@t.example>; Tue, 02 Jan 2024 03:04:05 +0000\r\n"
            "Subject: x\r\n\r\n.dot\r\n");
  EXPECT_TRUE(h.session().take_message().id.empty());  // valid once
  h.session().commit_done(Result<void>());
  EXPECT_EQ(h.session().take_output(), "250 2.0.0 Ok: queued as ID0001\r\n");
  EXPECT_EQ(h.session().action(), ServerSession::Action::read);
  EXPECT_FALSE(h.session().in_transaction());
  EXPECT_EQ(h.send(kRcpt), "503 5.5.1 Error: need MAIL command\n");  // transaction reset, EHLO kept
  EXPECT_EQ(h.send(kMail), "250 2.1.0 Sender OK\n");
}

TEST(ServerSession, CommitFailureIs451) {
  Harness h;
  h.start();
  h.send(kEhlo);
  h.send(kMail + kRcpt + "DATA\r\n");
  h.commit_fails = true;
  std::string t = h.send("x\r\n.\r\n");
  EXPECT_NE(t.find("[commit ID0001]"), std::string::npos);
  EXPECT_EQ(t.substr(t.rfind("| x")), "| x\n451 4.3.0 Error: queue file write error\n");
  EXPECT_FALSE(h.session().in_transaction());
}

TEST(ServerSession, PipelinedCommandsWaitForTheCommit) {
  // RFC 2920: the end of data may be followed by the next group; it runs only after commit_done.
  Harness h;
  h.start();
  h.send(kEhlo);
  h.send(kMail + kRcpt + "DATA\r\n");
  h.session().feed("x\r\n.\r\n" + kMail + kRcpt);
  ASSERT_EQ(h.session().action(), ServerSession::Action::commit);
  EXPECT_EQ(h.session().take_output(), "");
  h.session().take_message();
  h.session().commit_done(Result<void>());
  EXPECT_EQ(h.session().take_output(),
            "250 2.0.0 Ok: queued as ID0001\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n");
  EXPECT_TRUE(h.session().in_transaction());
}

TEST(ServerSession, StartTlsDiscardsBufferedPlaintext) {
  // security catalogue C01 / C03: injected commands are dropped, the EHLO state is forgotten.
  Harness h;
  h.start();
  h.send(kEhlo);
  h.session().feed("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n");
  EXPECT_EQ(h.session().take_output(), "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_EQ(h.session().action(), ServerSession::Action::start_tls);
  h.session().feed("RSET\r\n");  // still plaintext, still discarded
  TlsInfo info{"TLSv1.3", "TLS_AES_128_GCM_SHA256", true, {"client.example"}};
  h.session().tls_started(info);
  EXPECT_EQ(h.session().take_output(), "");
  EXPECT_EQ(h.session().action(), ServerSession::Action::read);
  const ConnectionFacts& f = h.session().facts();
  EXPECT_TRUE(f.tls);
  EXPECT_EQ(f.tls_version, "TLSv1.3");
  EXPECT_EQ(f.tls_cipher, "TLS_AES_128_GCM_SHA256");
  EXPECT_TRUE(f.client_cert_verified);
  EXPECT_EQ(f.client_cert_names, std::vector<std::string>{"client.example"});
  EXPECT_TRUE(f.helo.empty());
  EXPECT_EQ(h.send(kMail), "503 5.5.1 Error: send HELO/EHLO first\n");
  EXPECT_EQ(h.send(kEhlo), kEhloReply.substr(0, kEhloReply.size() - 8) + "250 DSN\n");  // no STARTTLS
}

TEST(ServerSession, TlsFailureCloses) {
  Harness h;
  h.start();
  h.session().feed("STARTTLS\r\n");
  h.session().take_output();
  h.session().tls_failed();
  EXPECT_EQ(h.session().action(), ServerSession::Action::close);
  h.session().feed("NOOP\r\n");
  EXPECT_EQ(h.session().take_output(), "");
}

TEST(ServerSession, TimeoutAndShutdown) {
  for (bool during_data : {false, true}) {
    Harness h;
    h.start();
    if (during_data) {
      h.send(kEhlo);
      h.send(kMail + kRcpt + "DATA\r\n");
      h.send("partial");
      EXPECT_TRUE(h.session().in_data());
    }
    h.session().timeout();
    EXPECT_EQ(h.drive(), "421 4.4.2 mx.test.example Error: timeout exceeded\n[close]\n");
    EXPECT_FALSE(h.session().in_data());
    h.session().timeout();  // idempotent once closed
    EXPECT_EQ(h.session().take_output(), "");
  }
  Harness h;
  h.start();
  h.session().shutdown();
  EXPECT_EQ(h.drive(), "421 4.3.2 mx.test.example Service shutting down\n[close]\n");
}

TEST(ServerSession, HugeLineWithoutNewlineStaysBounded) {
  // security catalogue A02/A03: 10 MB without LF is skipped in 4 KB reads, answered once at the LF.
  Harness h;
  h.start();
  std::string chunk(4096, 'A');
  for (int i = 0; i < 2560; ++i) {
    h.session().feed(chunk);
    ASSERT_EQ(h.session().take_output(), "");
    ASSERT_EQ(h.session().action(), ServerSession::Action::read);
  }
  EXPECT_EQ(h.send("AAA\r\n"), "500 5.5.2 Error: command too long\n");
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 Ok\n");  // in sync again
}

TEST(ServerSession, LinesSplitAcrossReads) {
  Harness h;
  h.start();
  EXPECT_EQ(h.send("EH"), "");
  EXPECT_EQ(h.send("LO client.example\r"), "");
  EXPECT_EQ(h.send("\n"), kEhloReply + "250 STARTTLS\n");
}

TEST(ServerSession, FeedAfterCloseIsIgnored) {
  Harness h;
  h.start();
  h.send("QUIT\r\n");
  h.session().feed("NOOP\r\n");
  EXPECT_EQ(h.session().take_output(), "");
  EXPECT_EQ(h.session().action(), ServerSession::Action::close);
}

TEST(ServerSession, PolicySeesSyntacticallyValidCommandsOnly) {
  Harness h;
  h.start();
  h.send(kEhlo);
  h.send("MAIL FROM:<bad\r\n");
  EXPECT_EQ(h.policy().mail_calls, 0);
  h.send(kMail);
  EXPECT_EQ(h.policy().mail_calls, 1);
  h.send("RCPT TO:<>\r\n");
  EXPECT_EQ(h.policy().rcpt_calls, 0);
  h.send(kRcpt);
  EXPECT_EQ(h.policy().rcpt_calls, 1);
}

}  // namespace
}  // namespace mf::smtp
