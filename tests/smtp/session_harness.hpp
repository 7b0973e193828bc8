// tests/smtp/session_harness.hpp — drives smtp::ServerSession the way server/connection.cpp does, with a
// fake Policy and a fixed SessionEnv, and records what happens as a readable transcript.
//
// Transcript lines: each server reply line without its CRLF (control octets shown as \xHH), plus
// markers for the actions the driver completed:
//   [commit ID0001]                       a message was handed over (then its envelope and data:)
//   [from <a@b.example> size=10 ...]      sender and MAIL parameters
//   [to <c@d.example> notify=... ...]     one line per recipient
//   | <data line>                         the stored message, one line per CRLF-terminated line
//   [starttls]                            the TLS handshake was run (tls_started or tls_failed)
//   [close]                               the session asked to close the connection
//
// Script format (.in files, see tests/golden/smtp/README.md): "C: text" starts a new segment (one
// feed() call), "+: text" appends a line to the current segment; CRLF is added to each line unless it
// ends with "\c". Escapes: \r \n \0 \t \\ \xHH, \{N:c} = N copies of c. Directives: "!timeout",
// "!shutdown", "!commit-fail", "!tls-fail"; options before the first segment: "@max_errors 3",
// "@max_command_line N", "@max_recipients N", "@max_message_size N", "@max_hop_count N",
// "@starttls on|off", "@reject-mail addr", "@reject-rcpt addr", "@tls-active".
#pragma once

#include "core/result.hpp"
#include "smtp/server_session.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mf::smtp::test {

// Accepts everything except the listed addresses (by Address::key()).
class FakePolicy : public Policy {
 public:
  std::map<std::string, Reply> reject_mail;
  std::map<std::string, Reply> reject_rcpt;
  int mail_calls = 0;
  int rcpt_calls = 0;

  std::optional<Reply> check_mail(const ConnectionFacts& conn, const Envelope& env) override;
  std::optional<Reply> check_rcpt(const ConnectionFacts& conn, const Envelope& env,
                                  const EnvelopeRecipient& rcpt) override;
};

Reply policy_rejection(std::string_view address);  // 550 5.7.1 <addr>: Recipient address rejected
Reply sender_rejection(std::string_view address);  // 550 5.7.1 <addr>: Sender address rejected

ServerOptions test_options();      // hostname mx.test.example, STARTTLS offered, other defaults
ConnectionFacts test_facts();      // client 192.0.2.10:40000 on listener "inbound"
TlsInfo test_tls_info();           // TLSv1.3 / TLS_AES_256_GCM_SHA384

// 2024-01-02 03:04:05 UTC; ids "ID0001", "ID0002", ...
SessionEnv fixed_env(std::shared_ptr<int> counter);

class Harness {
 public:
  explicit Harness(ServerOptions options = test_options(), ConnectionFacts facts = test_facts());

  // start() and return the greeting transcript.
  std::string start();
  // One segment (one feed() call), then complete every action; returns the transcript produced.
  std::string send(std::string_view bytes);
  // Completes pending actions (commit, start_tls, close) and returns the transcript produced.
  std::string drive();

  ServerSession& session() { return *session_; }
  FakePolicy& policy() { return policy_; }

  bool commit_fails = false;  // the next commit_done() reports an error
  bool tls_fails = false;     // the next handshake fails
  bool closed = false;
  std::vector<AcceptedMessage> committed;

 private:
  FakePolicy policy_;
  std::shared_ptr<int> ids_ = std::make_shared<int>(0);
  std::unique_ptr<ServerSession> session_;
};

// Server output (CRLF-terminated lines) as transcript lines.
std::string format_output(std::string_view wire);
// Transcript markers and data lines for one accepted message.
std::string format_message(const AcceptedMessage& m);

// Parses and runs a script; the transcript, or an error for a malformed script.
Result<std::string> run_script(std::string_view script);

}  // namespace mf::smtp::test
