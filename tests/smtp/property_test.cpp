// Property test for src/smtp/server_session.cpp (security catalogue A45): random command sequences from
// fixed seeds. Property: a rejected command leaves the session exactly as it was. Checked two ways:
//  - in_transaction() is unchanged by every reject;
//  - replaying only the accepted commands on a fresh session gives the very same replies and the same
//    committed messages, so no reject left a trace (stale sender, recipient, size or flag).
#include "smtp/session_harness.hpp"

#include <gtest/gtest.h>

#include <random>

namespace mf::smtp {
namespace {

using test::Harness;

struct Unit {
  std::string command;  // one line, CRLF added
  std::string content;  // for DATA: sent after a 354
};

const std::vector<Unit>& pool() {
  static const std::vector<Unit> units = {
      {"EHLO c.example", ""},
      {"HELO c.example", ""},
      {"EHLO", ""},
      {"MAIL FROM:<a@s.example>", ""},
      {"MAIL FROM:<>", ""},
      {"MAIL FROM:<x@s.example> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=e+2B1", ""},
      {"MAIL FROM:<u\xC3\xBC@s.example> SMTPUTF8", ""},
      {"MAIL FROM:<bad", ""},
      {"MAIL FROM:<a@s.example> FOO=1", ""},
      {"MAIL FROM:<a@s.example> SIZE=1 SIZE=2", ""},
      {"MAIL FROM:<\xC3\xBC@s.example>", ""},
      {"MAIL FROM:<rejected@s.example>", ""},
      {"MAIL FROM:<a@s.example> SIZE=999999999", ""},
      {"MAIL FROM:<a@s.example> ENVID=+0D+0A", ""},
      {"RCPT TO:<b@t.example>", ""},
      {"RCPT TO:<c@t.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c+40t.example", ""},
      {"RCPT TO:<d\xC3\xBC@t.example>", ""},
      {"RCPT TO:<>", ""},
      {"RCPT TO:<nobody@t.example>", ""},
      {"RCPT TO:<e@t.example> ORCPT=rfc822;+0A", ""},
      {"RCPT TO:<f@t.example> NOTIFY=NEVER,SUCCESS", ""},
      {"DATA", "Subject: a\r\n\r\nbody\r\n..dot\r\n.\r\n"},
      {"DATA", "Subject: b\r\n\r\n.\r\n"},
      {"MAIL FROM:<m@s.example>", ""},
      {"RCPT TO:<r1@t.example>", ""},
      {"RCPT TO:<r2@t.example>", ""},
      {"DATA", "a\nb\r\n.\r\n"},                                  // bare LF: 550 at the end
      {"DATA", std::string(300, 'x') + "\r\n.\r\n"},              // too big: 552 at the end
      {"DATA", "Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n"},   // hop count: 554 at the end
      {"RSET", ""},
      {"NOOP", ""},
      {"VRFY x", ""},
      {"EXPN x", ""},
      {"HELP", ""},
      {"XYZZY", ""},
      {"STARTTLS", ""},
      {"STARTTLS x", ""},
      {"BDAT 1", ""},
      {"AUTH PLAIN", ""},
      {"NOOP \x80", ""},
      {std::string("NO\0OP", 5), ""},
      {"NOOP\rx", ""},
      {"NOOP " + std::string(2000, 'y'), ""},
  };
  return units;
}

ServerOptions property_options() {
  ServerOptions o = test::test_options();
  o.max_recipients = 3;
  o.max_message_size = 200;
  o.max_hop_count = 2;
  o.max_errors = 0;  // never disconnect: the sequence must run to its end
  return o;
}

void setup_policy(test::FakePolicy& p) {
  p.reject_mail["rejected@s.example"] = test::sender_rejection("rejected@s.example");
  p.reject_rcpt["nobody@t.example"] = test::policy_rejection("nobody@t.example");
}

bool is_reject(const std::string& transcript) {
  return !transcript.empty() && (transcript[0] == '4' || transcript[0] == '5');
}

// Sends one unit; returns its transcript and whether the command itself was rejected.
std::pair<std::string, bool> run_unit(Harness& h, const Unit& u) {
  std::string t = h.send(u.command + "\r\n");
  const bool rejected = is_reject(t);
  if (!rejected && !u.content.empty() && t.starts_with("354")) t += h.send(u.content);
  return {t, rejected};
}

// Runs one seed; returns the number of messages committed.
std::size_t check_seed(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, pool().size() - 1);
  std::vector<Unit> sequence;
  for (int i = 0; i < 400; ++i) sequence.push_back(pool()[pick(rng)]);

  Harness a(property_options());
  setup_policy(a.policy());
  std::string accepted_transcript = a.start();
  std::vector<Unit> accepted;
  int rejects = 0;
  for (const Unit& u : sequence) {
    const bool before = a.session().in_transaction();
    auto [t, rejected] = run_unit(a, u);
    EXPECT_FALSE(a.closed) << "unit " << testing::PrintToString(u.command) << " closed the session";
    EXPECT_EQ(a.session().action(), ServerSession::Action::read);
    EXPECT_FALSE(a.session().in_data()) << testing::PrintToString(u.command);
    if (a.closed) return 0;
    if (rejected) {
      ++rejects;
      EXPECT_EQ(a.session().in_transaction(), before) << "after reject of " << testing::PrintToString(u.command);
      EXPECT_EQ(t.find("[commit"), std::string::npos);
    } else {
      accepted.push_back(u);
      accepted_transcript += t;
    }
  }
  EXPECT_GT(rejects, 50);  // the sequence really exercises rejects

  Harness b(property_options());
  setup_policy(b.policy());
  std::string replay = b.start();
  for (const Unit& u : accepted) {
    auto [t, rejected] = run_unit(b, u);
    EXPECT_FALSE(rejected) << "accepted before, rejected on replay: " << testing::PrintToString(u.command);
    replay += t;
  }
  EXPECT_EQ(replay, accepted_transcript);
  EXPECT_EQ(b.committed.size(), a.committed.size());
  for (std::size_t i = 0; i < a.committed.size() && i < b.committed.size(); ++i) {
    EXPECT_EQ(test::format_message(b.committed[i]), test::format_message(a.committed[i]));
  }
  return a.committed.size();
}

TEST(RandomSequences, RejectsLeaveNoTrace) {
  std::size_t commits = 0;
  for (unsigned seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    commits += check_seed(seed);
  }
  EXPECT_GE(commits, 20u);  // the sequences really reach accepted messages too
}

TEST(RandomBytes, NeverCrashAndStayBounded) {
  // Unstructured input split at random points: no crash, bounded input buffer (checked through the
  // public surface: the session keeps answering and never asks for anything but read/close).
  std::mt19937 rng(4242);
  const std::string alphabet = "EHLOMAILFROMRCPTTODATA:<>@. \r\n\r\n\n\r.\0\x80xyz=";
  for (int round = 0; round < 200; ++round) {
    Harness h(property_options());
    h.start();
    h.send("EHLO c.example\r\n");
    for (int i = 0; i < 200 && !h.closed; ++i) {
      std::string chunk;
      std::size_t len = rng() % 64;
      for (std::size_t k = 0; k < len; ++k) chunk += alphabet[rng() % alphabet.size()];
      h.send(chunk);
      ASSERT_TRUE(h.closed || h.session().action() == ServerSession::Action::read);
    }
  }
}

}  // namespace
}  // namespace mf::smtp
