// Tests for submission in src/smtp/server_session.cpp (R-SUB-1, R-SUB-2; RFC 4954): the AUTH PLAIN /
// LOGIN state machine, the TLS and AUTH gates in front of MAIL, the sender rules, and that neither
// pipelining nor SASL lines can smuggle commands. The Policy is a fake with two mailboxes.
#include "smtp/server_session.hpp"

#include "auth/sasl.hpp"
#include "smtp/session_harness.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>

namespace mf::smtp {
namespace {

using namespace std::string_literals;
using auth::base64_encode;

// david@contoso.test (proxy dave@contoso.test) with password "s3cret"; julie@contoso.test with "j-pass".
class AuthPolicy : public test::FakePolicy {
 public:
  struct Mailbox {
    std::string primary;
    std::string password;
  };
  std::map<std::string, Mailbox> users{
      {"david@contoso.test", {"david@contoso.test", "s3cret"}},
      {"dave@contoso.test", {"david@contoso.test", "s3cret"}},
      {"julie@contoso.test", {"julie@contoso.test", "j-pass"}},
  };
  std::map<std::string, std::set<std::string>> owned{
      {"david@contoso.test", {"david@contoso.test", "dave@contoso.test"}},
      {"julie@contoso.test", {"julie@contoso.test"}},
  };
  bool rate_limited = false;
  int auth_calls = 0;
  std::string last_user, last_password;
  std::string mail_seen_user;  // conn.authenticated_user as check_mail saw it

  AuthResult authenticate(const ConnectionFacts&, std::string_view user, std::string_view password) override {
    ++auth_calls;
    last_user = user;
    last_password = password;
    if (rate_limited) return {AuthResult::Status::rate_limited, {}};
    std::string key(user);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = users.find(key);
    if (it == users.end() || it->second.password != password) return {};
    return {AuthResult::Status::ok, it->second.primary};
  }

  // Like ServicePolicy: an authenticated user may only send as its own addresses.
  std::optional<Reply> check_mail(const ConnectionFacts& conn, const Envelope& env) override {
    mail_seen_user = conn.authenticated_user;
    if (!conn.authenticated_user.empty()) {
      const auto& mine = owned[conn.authenticated_user];
      if (!env.sender || !mine.contains(env.sender->key())) {
        return make_reply(553, "5.7.1", "Sender address rejected: not owned by user");
      }
    }
    return test::FakePolicy::check_mail(conn, env);
  }
};

std::string plain(std::string_view authzid, std::string_view user, std::string_view password) {
  return base64_encode(std::string(authzid) + '\0' + std::string(user) + '\0' + std::string(password));
}

const std::string kEhlo = "EHLO client.example\r\n";
const std::string kPlainDavid = plain("", "david@contoso.test", "s3cret");
const std::string kAuthDavid = "AUTH PLAIN " + kPlainDavid + "\r\n";
const std::string kAuthWrong = "AUTH PLAIN " + plain("", "david@contoso.test", "wrong") + "\r\n";
const std::string kMailDavid = "MAIL FROM:<david@contoso.test>\r\n";
const std::string kOk235 = "235 2.7.0 Authentication successful\n";
const std::string kBad535 = "535 5.7.8 Authentication credentials invalid\n";
const std::string kNeedTls = "530 5.7.0 Must issue a STARTTLS command first\n";
const std::string kNeedAuth = "530 5.7.0 Authentication required\n";
const std::string kSync = "554 5.5.0 Error: SMTP protocol synchronization\n[close]\n";
const std::string kEhloBase =
    "250-mx.test.example Hello client.example [192.0.2.10]\n250-PIPELINING\n250-SIZE 36700160\n"
    "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n";

// Drives a session like test::Harness (which is bound to FakePolicy), with an AuthPolicy. By default
// the password check is deferred to the driver (ServerOptions::deferred_auth, as the server runs it)
// and completed at once; `Check::manual` stops at Action::authenticate instead ("[authenticate]").
enum class Check { deferred, manual, inline_ };

class AuthSession {
 public:
  explicit AuthSession(bool submission = true, Check check = Check::deferred) : check_(check) {
    ServerOptions o = test::test_options();
    o.submission = submission;
    o.deferred_auth = check != Check::inline_;
    ConnectionFacts f = test::test_facts();
    f.listener = submission ? "submission" : "inbound";
    session_ = std::make_unique<ServerSession>(o, policy, test::fixed_env(ids_), f);
    session_->start();
    drive();
  }
  // Plaintext EHLO, STARTTLS, handshake: ready for the EHLO inside TLS.
  AuthSession& tls() {
    send(kEhlo);
    EXPECT_EQ(send("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\n[starttls]\n");
    return *this;
  }
  AuthSession& tls_ehlo() {
    tls();
    send(kEhlo);
    return *this;
  }
  AuthSession& logged_in() {
    tls_ehlo();
    EXPECT_EQ(send(kAuthDavid), kOk235);
    return *this;
  }
  std::string send(std::string_view bytes) {
    if (closed) return "";
    session_->feed(bytes);
    return drive();
  }
  std::string drive() {
    std::string t;
    while (!closed) {
      t += test::format_output(session_->take_output());
      switch (session_->action()) {
        case ServerSession::Action::read:
          return t;
        case ServerSession::Action::commit: {
          AcceptedMessage m = session_->take_message();
          t += "[commit " + m.id + "]\n";
          committed.push_back(std::move(m));
          session_->commit_done(Result<void>());
          break;
        }
        case ServerSession::Action::start_tls:
          t += "[starttls]\n";
          session_->tls_started(test::test_tls_info());
          break;
        case ServerSession::Action::close:
          t += "[close]\n";
          closed = true;
          break;
        case ServerSession::Action::authenticate: {
          if (check_ == Check::manual) return t + "[authenticate]\n";
          Credentials c = session_->take_credentials();
          ++deferred_checks;
          session_->auth_done(policy.authenticate(session_->facts(), c.user, c.password));
          break;
        }
      }
    }
    return t;
  }
  const ConnectionFacts& facts() const { return session_->facts(); }
  ServerSession& session() { return *session_; }
  int deferred_checks = 0;

  AuthPolicy policy;
  bool closed = false;
  std::vector<AcceptedMessage> committed;

 private:
  Check check_;
  std::shared_ptr<int> ids_ = std::make_shared<int>(0);
  std::unique_ptr<ServerSession> session_;
};

// -- R-SUB-1: nothing before TLS, AUTH required after it

TEST(R_SUB_1_SessionAuth, MxListenerKeepsAuthUnsupported) {
  AuthSession s(/*submission=*/false);
  s.tls();
  EXPECT_EQ(s.send(kEhlo), kEhloBase + "250 DSN\n");  // no AUTH keyword
  EXPECT_EQ(s.send(kAuthDavid), "502 5.5.1 Error: command not implemented\n");
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "502 5.5.1 Error: command not implemented\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
  EXPECT_EQ(s.send(kMailDavid), "250 2.1.0 Sender OK\n");  // mx: no AUTH gate
  EXPECT_EQ(s.facts().authenticated_user, "");
}

TEST(R_SUB_1_SessionAuth, BeforeStarttlsNoAuthIsOfferedAndMailAndAuthGet530) {
  AuthSession s;
  EXPECT_EQ(s.send(kEhlo), kEhloBase + "250-DSN\n250 STARTTLS\n");
  EXPECT_EQ(s.send(kMailDavid), kNeedTls);
  EXPECT_EQ(s.send(kAuthDavid), kNeedTls);
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), kNeedTls);
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), kNeedTls);  // no 334: no plaintext credentials are solicited
  EXPECT_EQ(s.policy.auth_calls, 0);
  EXPECT_EQ(s.policy.mail_calls, 0);
}

TEST(R_SUB_1_SessionAuth, AfterStarttlsAuthIsOfferedAndMailNeedsAuth) {
  AuthSession s;
  s.tls();
  EXPECT_EQ(s.send(kEhlo), kEhloBase + "250-DSN\n250 AUTH PLAIN LOGIN\n");
  EXPECT_EQ(s.send(kMailDavid), kNeedAuth);
  EXPECT_EQ(s.send("RCPT TO:<x@example.org>\r\n"), "503 5.5.1 Error: need MAIL command\n");
  EXPECT_EQ(s.policy.mail_calls, 0);
}

TEST(R_SUB_1_SessionAuth, AuthBeforeEhloInsideTls) {
  AuthSession s;
  s.tls();
  EXPECT_EQ(s.send(kAuthDavid), "503 5.5.1 Error: send HELO/EHLO first\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
}

// -- PLAIN

TEST(R_SUB_1_SessionAuth, PlainWithInitialResponse) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send(kAuthDavid), kOk235);
  EXPECT_EQ(s.policy.last_user, "david@contoso.test");
  EXPECT_EQ(s.policy.last_password, "s3cret");
  EXPECT_EQ(s.facts().authenticated_user, "david@contoso.test");
  EXPECT_EQ(s.send(kMailDavid), "250 2.1.0 Sender OK\n");
  EXPECT_EQ(s.policy.mail_seen_user, "david@contoso.test");
  EXPECT_EQ(s.send("RCPT TO:<someone@example.org>\r\n"), "250 2.1.5 Recipient OK\n");
  EXPECT_EQ(s.send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\n");
  EXPECT_EQ(s.send("Subject: hi\r\n\r\nbody\r\n.\r\n"), "[commit ID0001]\n250 2.0.0 Ok: queued as ID0001\n");
  ASSERT_EQ(s.committed.size(), 1u);
  EXPECT_EQ(s.committed[0].connection.authenticated_user, "david@contoso.test");  // persisted with the message
}

TEST(R_SUB_1_SessionAuth, PlainWithEmptyInitialChallenge) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send(kPlainDavid + "\r\n"), kOk235);
  EXPECT_EQ(s.facts().authenticated_user, "david@contoso.test");
}

TEST(R_SUB_1_SessionAuth, PlainMechanismNameIsCaseInsensitive) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("auth plain " + kPlainDavid + "\r\n"), kOk235);
}

TEST(R_SUB_1_SessionAuth, PlainEqualsSignIsAnEmptyResponse) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH PLAIN =\r\n"), kBad535);  // an empty PLAIN message is malformed
  EXPECT_EQ(s.policy.auth_calls, 0);
}

TEST(R_SUB_1_SessionAuth, PlainAuthzid) {
  AuthSession s;
  s.tls_ehlo();
  // Acting as another user: refused without asking the policy.
  EXPECT_EQ(s.send("AUTH PLAIN " + plain("julie@contoso.test", "david@contoso.test", "s3cret") + "\r\n"), kBad535);
  EXPECT_EQ(s.policy.auth_calls, 0);
  // authzid equal to authcid (case-insensitively) is fine.
  EXPECT_EQ(s.send("AUTH PLAIN " + plain("David@Contoso.test", "david@contoso.test", "s3cret") + "\r\n"), kOk235);
  EXPECT_EQ(s.facts().authenticated_user, "david@contoso.test");
}

TEST(R_SUB_1_SessionAuth, PlainMalformedMessages) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH PLAIN " + base64_encode("david@contoso.test s3cret") + "\r\n"), kBad535);  // no NULs
  EXPECT_EQ(s.send("AUTH PLAIN " + base64_encode("\0david@contoso.test\0s3cret\0"s) + "\r\n"), kBad535);
  EXPECT_EQ(s.policy.auth_calls, 0);
}

// -- LOGIN

TEST(R_SUB_1_SessionAuth, LoginTwoChallenges) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send(base64_encode("dave@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send(base64_encode("s3cret") + "\r\n"), kOk235);
  EXPECT_EQ(s.policy.last_user, "dave@contoso.test");
  EXPECT_EQ(s.facts().authenticated_user, "david@contoso.test");  // the primary address, not the proxy
  EXPECT_EQ(s.send("MAIL FROM:<dave@contoso.test>\r\n"), "250 2.1.0 Sender OK\n");  // a proxy is owned
}

TEST(R_SUB_1_SessionAuth, LoginWithInitialUsername) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH LOGIN " + base64_encode("julie@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send(base64_encode("j-pass") + "\r\n"), kOk235);
  EXPECT_EQ(s.facts().authenticated_user, "julie@contoso.test");
}

TEST(R_SUB_1_SessionAuth, LoginWrongPassword) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send(base64_encode("julie@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send(base64_encode("s3cret") + "\r\n"), kBad535);
  EXPECT_EQ(s.facts().authenticated_user, "");
  EXPECT_EQ(s.send(kMailDavid), kNeedAuth);
}

// -- outcomes

TEST(R_SUB_1_SessionAuth, WrongPasswordAndUnknownUser) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send(kAuthWrong), kBad535);
  EXPECT_EQ(s.send("AUTH PLAIN " + plain("", "nobody@contoso.test", "s3cret") + "\r\n"), kBad535);
  EXPECT_EQ(s.policy.auth_calls, 2);
  EXPECT_EQ(s.facts().authenticated_user, "");
  EXPECT_EQ(s.send(kMailDavid), kNeedAuth);
  EXPECT_EQ(s.send(kAuthDavid), kOk235);  // two failures: still allowed to succeed
}

TEST(R_SUB_1_SessionAuth, RepliesNeverEchoCredentials) {
  AuthSession s;
  s.tls_ehlo();
  std::string all = s.send(kAuthWrong) + s.send("AUTH LOGIN\r\n") + s.send(base64_encode("julie@contoso.test") + "\r\n") +
                    s.send("!!!\r\n");
  EXPECT_EQ(all.find("wrong"), std::string::npos);
  EXPECT_EQ(all.find(plain("", "david@contoso.test", "wrong")), std::string::npos);
  EXPECT_EQ(all.find(base64_encode("julie@contoso.test")), std::string::npos);
  EXPECT_EQ(all.find("!!!"), std::string::npos);
}

TEST(R_SUB_1_SessionAuth, RateLimited454WithoutSuccess) {
  AuthSession s;
  s.tls_ehlo();
  s.policy.rate_limited = true;
  EXPECT_EQ(s.send(kAuthDavid), "454 4.7.0 Too many authentication failures, try again later\n");
  EXPECT_EQ(s.facts().authenticated_user, "");
  EXPECT_EQ(s.send(kMailDavid), kNeedAuth);
  // A 454 is not a credentials failure: it does not count toward the per-session limit.
  EXPECT_EQ(s.send(kAuthDavid), "454 4.7.0 Too many authentication failures, try again later\n");
  EXPECT_EQ(s.send(kAuthDavid), "454 4.7.0 Too many authentication failures, try again later\n");
  EXPECT_FALSE(s.closed);
  s.policy.rate_limited = false;
  EXPECT_EQ(s.send(kAuthDavid), kOk235);
}

TEST(R_SUB_1_SessionAuth, ThreeFailuresCloseTheSession) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send(kAuthWrong), kBad535);
  EXPECT_EQ(s.send("AUTH LOGIN " + base64_encode("david@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send(base64_encode("nope") + "\r\n"), kBad535);
  EXPECT_EQ(s.send(kAuthWrong), kBad535 + "421 4.7.0 Too many authentication failures\n[close]\n");
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(s.policy.auth_calls, 3);
}

TEST(R_SUB_1_SessionAuth, SecondAuthAfterSuccess) {
  AuthSession s;
  s.logged_in();
  EXPECT_EQ(s.send(kAuthDavid), "503 5.5.1 Already authenticated\n");
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "503 5.5.1 Already authenticated\n");
  EXPECT_EQ(s.policy.auth_calls, 1);
  // EHLO and RSET keep the authentication (RFC 4954 does not reset it).
  s.send(kEhlo);
  EXPECT_EQ(s.send("RSET\r\n"), "250 2.0.0 Ok\n");
  EXPECT_EQ(s.send(kMailDavid), "250 2.1.0 Sender OK\n");
}

TEST(R_SUB_1_SessionAuth, AuthDuringATransaction) {
  AuthSession s;
  s.logged_in();
  EXPECT_EQ(s.send(kMailDavid), "250 2.1.0 Sender OK\n");
  EXPECT_EQ(s.send(kAuthDavid), "503 5.5.1 Error: MAIL transaction in progress\n");
  EXPECT_EQ(s.send("RCPT TO:<x@example.org>\r\n"), "250 2.1.5 Recipient OK\n");  // the transaction goes on
}

TEST(R_SUB_1_SessionAuth, Cancel) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send("*\r\n"), "501 5.7.0 Authentication cancelled\n");
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send("*\r\n"), "501 5.7.0 Authentication cancelled\n");
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send(base64_encode("david@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send("*\r\n"), "501 5.7.0 Authentication cancelled\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
  // Cancelling is not a failure, and the session is back in command mode.
  EXPECT_EQ(s.send("NOOP\r\n"), "250 2.0.0 Ok\n");
  EXPECT_EQ(s.send(kAuthDavid), kOk235);
}

TEST(R_SUB_1_SessionAuth, BadBase64) {
  AuthSession s;
  s.tls_ehlo();
  const std::string cannot = "501 5.5.2 Cannot decode response\n";
  EXPECT_EQ(s.send("AUTH PLAIN !!!!\r\n"), cannot);
  EXPECT_EQ(s.send("AUTH PLAIN AGRhdmlk=AHMzY3JldA==\r\n"), cannot);
  EXPECT_EQ(s.send("AUTH LOGIN Zg\r\n"), cannot);
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send("not base64\r\n"), cannot);
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send(base64_encode("david@contoso.test") + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send("czNjcmV0\nAA==\r\n"), cannot);  // a bare LF inside the response line
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send("\r\n"), kBad535);  // an empty line is valid base64 for an empty (malformed) message
  EXPECT_EQ(s.policy.auth_calls, 0);
  EXPECT_FALSE(s.closed);
}

TEST(R_SUB_1_SessionAuth, SyntaxAndUnknownMechanism) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH\r\n"), "501 5.5.4 Syntax: AUTH mechanism [initial-response]\n");
  EXPECT_EQ(s.send("AUTH PLAIN a b\r\n"), "501 5.5.4 Syntax: AUTH mechanism [initial-response]\n");
  EXPECT_EQ(s.send("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\n");
  EXPECT_EQ(s.send("AUTH XOAUTH2 " + kPlainDavid + "\r\n"), "504 5.5.4 Unrecognized authentication type\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
}

TEST(R_SUB_1_SessionAuth, ExchangeLinesCountTowardTheCommandLineLimit) {
  AuthSession s;
  s.tls_ehlo();
  const std::string too_long = "500 5.5.2 Error: command too long\n";
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send(std::string(2000, 'A') + "\r\n"), too_long);
  // The overlong response ended the exchange: this line is a command again, not a response.
  EXPECT_EQ(s.send("NOOP\r\n"), "250 2.0.0 Ok\n");
  // An initial response longer than the line limit.
  EXPECT_EQ(s.send("AUTH PLAIN " + std::string(1100, 'A') + "\r\n"), too_long);
  // Just within the limit (1024 octets with CRLF) is decoded and fails as a credential.
  EXPECT_EQ(s.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\n");
  EXPECT_EQ(s.send(std::string(1020, 'A') + "\r\n"), "334 UGFzc3dvcmQ6\n");
  EXPECT_EQ(s.send("*\r\n"), "501 5.7.0 Authentication cancelled\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
}

// -- pipelining cannot smuggle commands into or out of an exchange (RFC 4954 §4, catalogue B06)

TEST(R_SUB_1_SessionAuth, AuthWithChallengeMustEndAPipelinedGroup) {
  {
    AuthSession s;
    s.tls_ehlo();
    EXPECT_EQ(s.send("AUTH PLAIN\r\n" + kMailDavid), kSync);
  }
  {
    AuthSession s;
    s.tls_ehlo();
    EXPECT_EQ(s.send("AUTH LOGIN\r\n" + base64_encode("david@contoso.test") + "\r\n" + base64_encode("s3cret") + "\r\n"),
              kSync);
    EXPECT_EQ(s.policy.auth_calls, 0);
    EXPECT_EQ(s.facts().authenticated_user, "");
  }
  {
    AuthSession s;
    s.tls_ehlo();
    EXPECT_EQ(s.send("AUTH LOGIN " + base64_encode("david@contoso.test") + "\r\n" + base64_encode("s3cret") + "\r\n"),
              kSync);
    EXPECT_EQ(s.policy.auth_calls, 0);
  }
}

TEST(R_SUB_1_SessionAuth, ResponseLineMustNotBeFollowedByPipelinedCommands) {
  AuthSession s;
  s.tls_ehlo();
  EXPECT_EQ(s.send("AUTH PLAIN\r\n"), "334 \n");
  EXPECT_EQ(s.send(kPlainDavid + "\r\n" + kMailDavid + "RCPT TO:<x@example.org>\r\n"), kSync);
  EXPECT_EQ(s.policy.auth_calls, 0);
  EXPECT_EQ(s.policy.mail_calls, 0);
}

TEST(R_SUB_1_SessionAuth, PlainInitialResponseMayBePipelined) {
  // The one-round-trip exception of RFC 4954 §4: the commands behind it run after the outcome.
  AuthSession ok;
  ok.tls_ehlo();
  EXPECT_EQ(ok.send(kAuthDavid + kMailDavid + "RCPT TO:<x@example.org>\r\n"),
            kOk235 + "250 2.1.0 Sender OK\n250 2.1.5 Recipient OK\n");
  AuthSession bad;
  bad.tls_ehlo();
  EXPECT_EQ(bad.send(kAuthWrong + kMailDavid + "RCPT TO:<x@example.org>\r\n"),
            kBad535 + kNeedAuth + "503 5.5.1 Error: need MAIL command\n");
  EXPECT_EQ(bad.policy.mail_calls, 0);
}

TEST(R_SUB_1_SessionAuth, PlaintextBufferedBeforeTlsIsNotTakenAsAuth) {
  AuthSession s;
  s.send(kEhlo);
  // CVE-2011-0411 style: AUTH injected behind STARTTLS in the plaintext phase is discarded.
  EXPECT_EQ(s.send("STARTTLS\r\n" + kAuthDavid), "220 2.0.0 Ready to start TLS\n[starttls]\n");
  EXPECT_EQ(s.policy.auth_calls, 0);
  s.send(kEhlo);
  EXPECT_EQ(s.send(kMailDavid), kNeedAuth);
}

// -- R-SUB-2: the sender must be the user's own address

TEST(R_SUB_2_SessionSender, NullSenderRefusedOnSubmission) {
  AuthSession s;
  s.logged_in();
  EXPECT_EQ(s.send("MAIL FROM:<>\r\n"), "553 5.7.1 Sender address rejected: not owned by user\n");
}

TEST(R_SUB_2_SessionSender, AnotherUsersAddressRefused) {
  AuthSession s;
  s.logged_in();
  EXPECT_EQ(s.send("MAIL FROM:<julie@contoso.test>\r\n"), "553 5.7.1 Sender address rejected: not owned by user\n");
  EXPECT_EQ(s.policy.mail_seen_user, "david@contoso.test");
  EXPECT_EQ(s.send("MAIL FROM:<DAVID@contoso.test>\r\n"), "250 2.1.0 Sender OK\n");  // case-insensitive
}

// -- Deferred password checks (ServerOptions::deferred_auth): the server runs Policy::authenticate on
// a worker pool so a slow hash never stalls the io thread.

TEST(R_SUB_1_DeferredAuth, TheCheckWaitsForTheDriverAndPipelinedCommandsRunAfterIt) {
  AuthSession s(true, Check::manual);
  s.tls_ehlo();
  // RFC 4954 §4: AUTH PLAIN with an initial response may be followed by pipelined commands.
  EXPECT_EQ(s.send(kAuthDavid + kMailDavid), "[authenticate]\n");
  EXPECT_EQ(s.session().action(), ServerSession::Action::authenticate);
  EXPECT_EQ(s.facts().authenticated_user, "");
  s.session().feed("RCPT TO:<julie@contoso.test>\r\n");  // buffered too: nothing is answered yet
  EXPECT_EQ(s.session().take_output(), "");
  Credentials c = s.session().take_credentials();
  EXPECT_EQ(c.user, "david@contoso.test");
  EXPECT_EQ(c.password, "s3cret");
  EXPECT_EQ(s.session().take_credentials().user, "") << "handed out once";
  s.session().auth_done(s.policy.authenticate(s.facts(), c.user, c.password));
  const std::string out = test::format_output(s.session().take_output());
  EXPECT_EQ(out.substr(0, kOk235.size()), kOk235) << out;
  EXPECT_NE(out.find("250 2.1.0"), std::string::npos) << "the pipelined MAIL runs after the 235: " << out;
  EXPECT_NE(out.find("250 2.1.5"), std::string::npos) << out;
  EXPECT_EQ(s.facts().authenticated_user, "david@contoso.test");
  EXPECT_EQ(s.policy.mail_seen_user, "david@contoso.test");
}

TEST(R_SUB_1_DeferredAuth, FailuresAreAnsweredAndCountedAsInline) {
  AuthSession s(true, Check::manual);
  s.tls_ehlo();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.send(kAuthWrong), "[authenticate]\n");
    Credentials c = s.session().take_credentials();
    s.session().auth_done(s.policy.authenticate(s.facts(), c.user, c.password));
    const std::string out = s.drive();
    EXPECT_EQ(out.substr(0, kBad535.size()), kBad535) << "attempt " << i << ": " << out;
  }
  EXPECT_TRUE(s.closed) << "the third failure closes the session, as without deferral";
}

TEST(R_SUB_1_DeferredAuth, ATimeoutWhileCheckingClosesAndTheLateResultIsIgnored) {
  AuthSession s(true, Check::manual);
  s.tls_ehlo();
  EXPECT_EQ(s.send(kAuthDavid), "[authenticate]\n");
  s.session().timeout();  // the connection's deadline passed while the pool was busy
  EXPECT_EQ(s.session().action(), ServerSession::Action::close);
  EXPECT_EQ(s.session().take_credentials().user, "") << "wiped and dropped at close";
  s.session().auth_done(AuthResult{AuthResult::Status::ok, "david@contoso.test"});
  EXPECT_EQ(s.facts().authenticated_user, "");
  EXPECT_EQ(s.session().action(), ServerSession::Action::close);
}

TEST(R_SUB_1_DeferredAuth, EveryAuthOfThisSuiteWentThroughTheDeferredPathAndInlineStillWorks) {
  AuthSession deferred;
  deferred.logged_in();
  EXPECT_EQ(deferred.deferred_checks, 1);
  AuthSession inline_check(true, Check::inline_);
  inline_check.logged_in();
  EXPECT_EQ(inline_check.deferred_checks, 0);
  EXPECT_EQ(inline_check.facts().authenticated_user, "david@contoso.test");
}

}  // namespace
}  // namespace mf::smtp
