// smtp/server_session.hpp — the SMTP server protocol (RFC 5321 + ESMTP extensions) as a sans-I/O
// state machine. It never sees a socket, a clock or a disk: the driver in server/ feeds it the bytes
// it reads, writes out what take_output() returns, and performs the one pending Action at a time
// (spool commit, TLS handshake, close), reporting the outcome back.
//
// Invariants:
//  - Only <CRLF>.<CRLF> ends DATA; bare CR / bare LF are never line or data terminators (SMTP
//    smuggling, security catalogue B01–B05). DATA content with a bare CR or LF is rejected after the
//    end of data with 550 5.6.11 (strict mode), the session goes on.
//  - Every reply carries an RFC 3463 enhanced status code (RFC 2034), except the 220 greeting and
//    the 334 SASL challenges (RFC 4954 §4).
//  - After any rejected command the transaction state is what it was before that command; RSET,
//    EHLO/HELO and STARTTLS reset the transaction (catalogue A34, A45).
//  - tls_started() discards every byte received before the handshake (CVE-2011-0411, catalogue C01).
//  - Memory is bounded: the input buffer by max_command_line (commands) and the message by
//    max_message_size plus a small header allowance; oversized input is skipped, never stored.
//  - Submission (ServerOptions::submission, R-SUB-1/2): AUTH PLAIN/LOGIN is offered and accepted only
//    inside TLS (no plaintext credentials, RFC 4954 §4); MAIL needs TLS and then a successful AUTH.
//    Every line of a SASL exchange obeys max_command_line; the session decodes the responses but never
//    checks a password itself (Policy::authenticate) and never puts a credential into a reply. With
//    ServerOptions::deferred_auth the check is the driver's Action::authenticate, so a slow password
//    hash (argon2, yescrypt: tens of ms) runs off the connection's thread.
// Thread: one session belongs to one connection's coroutine; not thread-safe.
#pragma once

#include "core/envelope.hpp"
#include "core/reply.hpp"
#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mf::smtp {

struct ServerOptions {
  std::string hostname = "localhost";       // banner, Received:, 421 texts
  std::size_t max_command_line = 1024;      // octets including CRLF (RFC 5321 minimum 512; DSN params need more)
  std::size_t max_recipients = 500;         // beyond: 452 4.5.3 Error: too many recipients
  std::uint64_t max_message_size = 36700160;  // SIZE advertised; SIZE= over it: 552 5.3.4 at MAIL
  std::uint32_t max_errors = 20;            // then 421 4.7.0 Error: too many errors, close
  std::uint32_t max_hop_count = 30;         // Received: headers over it: 554 5.4.14 Hop count exceeded
  bool starttls_available = false;          // advertise STARTTLS (a certificate is configured)
  bool submission = false;                  // listener role submission: AUTH after STARTTLS required
  // Told every 4xx/5xx reply to a client command (the service counts them by reason in
  // mailflow_rejects_total); empty = nobody listens. Called on the session's thread.
  std::function<void(const Reply&)> on_refusal;
  // false: Policy::authenticate is called inside feed(). true: a complete AUTH becomes
  // Action::authenticate — take_credentials(), check them anywhere, then auth_done().
  bool deferred_auth = false;
};

// The credentials of an AUTH exchange awaiting its check (Action::authenticate). The driver wipes
// `password` (auth::wipe) once it is checked.
struct Credentials {
  std::string user;
  std::string password;
};

// The outcome of Policy::authenticate.
struct AuthResult {
  enum class Status {
    ok,            // 235 2.7.0; `user` becomes ConnectionFacts::authenticated_user
    failed,        // 535 5.7.8 (unknown user, wrong password, mailbox without password_hash)
    rate_limited,  // 454 4.7.0: too many failures from this client IP; the password was not checked
  };
  Status status = Status::failed;
  std::string user;  // on ok: the mailbox's primary address
};

// Synchronous policy questions, answered by the server over the configuration snapshot and routing
// (pure decisions; the disk-space check reads a cached number). nullopt = accept.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::optional<Reply> check_mail(const ConnectionFacts& conn, const Envelope& env) = 0;
  virtual std::optional<Reply> check_rcpt(const ConnectionFacts& conn, const Envelope& env,
                                          const EnvelopeRecipient& rcpt) = 0;
  // SMTP AUTH on a submission listener: `user` is the authentication identity as the client sent it,
  // `password` the decoded password (never log it). May block for the cost of one password hash.
  // With conn.authenticated_user set, check_mail() is where the sender's ownership (R-SUB-2) is
  // enforced. The default refuses everyone (policies without submission support).
  virtual AuthResult authenticate(const ConnectionFacts& conn, std::string_view user, std::string_view password) {
    return {};
  }
};

// Injected environment: time and ids come from outside so that transcripts are deterministic.
struct SessionEnv {
  std::function<std::chrono::system_clock::time_point()> now;
  std::function<std::string()> new_message_id;
};

// A message ready to be made durable (Action::commit).
struct AcceptedMessage {
  std::string id;
  Envelope envelope;
  ConnectionFacts connection;
  std::string data;  // dot-unstuffed, CRLF line ends, "Received:" header prepended
};

// What the peer presented in the TLS handshake.
struct TlsInfo {
  std::string version;
  std::string cipher;
  bool client_cert_verified = false;
  std::vector<std::string> client_cert_names;
};

class ServerSession {
 public:
  enum class Action {
    read,       // nothing pending: read more bytes and feed() them
    commit,     // take_message(), make it durable, then commit_done()
    start_tls,  // write the pending output (220 Ready), run the handshake, then tls_started()/tls_failed()
    close,      // write the pending output, then close the connection
    authenticate,  // (deferred_auth) take_credentials(), Policy::authenticate them, then auth_done()
  };

  ServerSession(ServerOptions options, Policy& policy, SessionEnv env, ConnectionFacts facts);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Queue the 220 greeting.
  void start();
  // Consume bytes from the peer. Processing stops at the first command that needs an action; the
  // remaining bytes stay buffered and are processed when the action completes.
  void feed(std::string_view bytes);
  // Replies produced so far (wire format); clears the output buffer.
  std::string take_output();
  Action action() const;

  Credentials take_credentials();           // valid once when action() == authenticate
  // The outcome of the check: 235, 535 or 454 as the synchronous path answers; input buffered
  // meanwhile (PLAIN with an initial response may be followed by pipelined commands) runs after it.
  // Ignored unless action() == authenticate (a timeout or shutdown closed the session meanwhile).
  void auth_done(const AuthResult& result);
  AcceptedMessage take_message();           // valid once when action() == commit
  void commit_done(const Result<void>& r);  // 250 2.0.0 Ok: queued as ID, or 451 4.3.0 + reason
  void tls_started(const TlsInfo& info);    // clears buffered plaintext and all EHLO/transaction state
  void tls_failed();                        // the connection must be closed (action() == close)
  // The driver's deadline expired (command or DATA timeout): queues 421 4.4.2 and closes.
  void timeout();
  // Service shutdown: 421 4.3.2 Service shutting down, close (only between transactions).
  void shutdown();

  bool in_data() const;             // reading message content (the driver uses the DATA timeout)
  bool in_transaction() const;      // MAIL given and not finished
  const ConnectionFacts& facts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::smtp
