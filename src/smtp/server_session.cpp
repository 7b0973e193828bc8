// The SMTP server state machine (contract in server_session.hpp). Input is kept in `in` only while it
// is an incomplete command line (bounded by max_command_line) or while an action is pending; DATA
// content goes straight into the DataReader, which bounds what it stores. A SASL exchange (AUTH on a
// submission listener) reads its response lines like command lines, so the same bounds apply.
#include "smtp/server_session.hpp"

#include "auth/sasl.hpp"
#include "core/domain.hpp"
#include "smtp/command.hpp"
#include "smtp/data_reader.hpp"
#include "smtp/path.hpp"
#include "smtp/received.hpp"

#include <utility>

namespace mf::smtp {

namespace {

// RFC 2920 §3.1: commands after which the client must wait for the reply. Input already buffered
// behind them is a synchronisation error (security catalogue §2.4, B06).
bool ends_group(Verb v) {
  switch (v) {
    case Verb::ehlo: case Verb::helo: case Verb::data: case Verb::vrfy: case Verb::expn:
    case Verb::noop: case Verb::help:
      return true;
    default:
      return false;
  }
}

Reply ok() { return make_reply(250, "2.0.0", "Ok"); }
// RFC 5321 §4.2.4 502 for verbs this server recognises but does not offer: EXPN (directory contents
// are not disclosed), BDAT (CHUNKING is not advertised), AUTH outside a submission listener, and
// STARTTLS without a certificate. The reply text is Postfix's.
Reply unsupported_command() { return make_reply(502, "5.5.1", "Error: command not implemented"); }
Reply sync_error() { return make_reply(554, "5.5.0", "Error: SMTP protocol synchronization"); }

// Submission (R-SUB-1, R-SUB-2; RFC 4954 §4, §6 for the codes).
// Failed AUTH attempts after which the session is closed (421): a password guesser has to reconnect,
// and the per-IP limit in the Policy (server/policy.cpp) counts across its connections.
constexpr std::uint32_t kMaxAuthFailuresPerSession = 3;
Reply need_starttls() { return make_reply(530, "5.7.0", "Must issue a STARTTLS command first"); }
Reply need_auth() { return make_reply(530, "5.7.0", "Authentication required"); }
Reply auth_ok() { return make_reply(235, "2.7.0", "Authentication successful"); }
Reply auth_invalid() { return make_reply(535, "5.7.8", "Authentication credentials invalid"); }
Reply auth_rate_limited() {
  return make_reply(454, "4.7.0", "Too many authentication failures, try again later");
}
Reply auth_cancelled() { return make_reply(501, "5.7.0", "Authentication cancelled"); }
Reply cannot_decode() { return make_reply(501, "5.5.2", "Cannot decode response"); }
Reply sender_not_owned() { return make_reply(553, "5.7.1", "Sender address rejected: not owned by user"); }
// 334 challenges carry base64 text and no enhanced status code (RFC 4954 §4).
Reply challenge(std::string text) { return make_reply(334, "", std::move(text)); }
const char* const kLoginUser = "VXNlcm5hbWU6";      // "Username:"
const char* const kLoginPassword = "UGFzc3dvcmQ6";  // "Password:"

}  // namespace

struct ServerSession::Impl {
  enum class Mode { command, skipping, data };
  // The SASL response awaited after a 334 challenge.
  enum class Sasl { none, plain, login_user, login_password };

  Impl(ServerOptions o, Policy& p, SessionEnv e, ConnectionFacts f)
      : opt(std::move(o)), policy(p), env(std::move(e)), facts(std::move(f)) {}

  ServerOptions opt;
  Policy& policy;
  SessionEnv env;
  ConnectionFacts facts;

  std::string in;   // unprocessed input
  std::string out;  // replies not yet taken
  Action action = Action::read;
  Mode mode = Mode::command;
  bool helo_seen = false;
  bool esmtp = false;
  std::optional<Envelope> txn;     // set by an accepted MAIL
  std::size_t rcpt_commands = 0;   // RCPT commands in this transaction: 503 vs 554 at DATA
  std::uint32_t errors = 0;
  DataReader data;
  std::string message_id;          // of the message being read or committed
  std::optional<AcceptedMessage> pending;
  Sasl sasl = Sasl::none;
  std::string sasl_user;           // AUTH LOGIN: the decoded user name until the password arrives
  std::uint32_t auth_failures = 0;  // 535 replies in this session
  std::optional<Credentials> pending_auth;  // deferred_auth: awaiting take_credentials()
  bool more_input = false;         // input is buffered behind the command being handled

  void send(const Reply& r) { out += r.wire(); }
  ~Impl() {
    if (pending_auth) auth::wipe(pending_auth->password);
    auth::wipe(sasl_user);
  }
  void close_with(const Reply& r) {
    if (pending_auth) {  // a timeout or shutdown while the driver checks the password
      auth::wipe(pending_auth->password);
      pending_auth.reset();
    }
    send(r);
    action = Action::close;
    mode = Mode::command;
    in.clear();
  }
  // A reply to the client's command; 4xx/5xx count towards max_errors (catalogue A01).
  void answer(const Reply& r) {
    send(r);
    if (r.code < 400) return;
    if (opt.on_refusal) opt.on_refusal(r);
    ++errors;
    if (opt.max_errors > 0 && errors >= opt.max_errors) {
      close_with(make_reply(421, "4.7.0", opt.hostname + " Error: too many errors"));
    }
  }
  void reset_transaction() {
    txn.reset();
    rcpt_commands = 0;
  }
  void end_sasl() {
    sasl = Sasl::none;
    auth::wipe(sasl_user);
  }

  void process();
  void handle_line(std::string_view line, bool more_buffered);
  void handle_command(const Command& c);
  void on_hello(const Command& c);
  void on_mail(const Command& c);
  void on_rcpt(const Command& c);
  void on_data();
  void on_starttls(const Command& c);
  void on_auth(const Command& c);
  void on_sasl_response(std::string_view line, bool more_buffered);
  void finish_plain(std::string& message);
  void verify(std::string_view user, std::string& password);
  void auth_outcome(const AuthResult& r);  // 235, or 454 / 535 (and the failure count)
  void auth_failed();
  void finish_data();
};

void ServerSession::Impl::process() {
  std::size_t pos = 0;
  while (action == Action::read && pos < in.size()) {
    if (mode == Mode::data) {
      pos += data.feed(std::string_view(in).substr(pos));
      if (data.done()) finish_data();
      continue;
    }
    // Only CRLF ends a command line: a bare LF (or CR) inside it makes the whole line one malformed
    // command, answered once, never two commands (catalogue A05, A06).
    const std::size_t crlf = in.find("\r\n", pos);
    const std::size_t lf = crlf == std::string::npos ? std::string::npos : crlf + 1;
    if (mode == Mode::skipping) {
      // Inside an overlong line: drop everything up to its CRLF, then answer once (catalogue A02, A03).
      if (lf == std::string::npos) {
        pos = in.size();
        if (in.back() == '\r') --pos;  // may be the CR of a CRLF split across reads
        break;
      }
      pos = lf + 1;
      mode = Mode::command;
      end_sasl();  // an overlong SASL response ends the exchange
      answer(make_reply(500, "5.5.2", "Error: command too long"));
      continue;
    }
    if (lf == std::string::npos) {
      if (in.size() - pos >= opt.max_command_line) {
        mode = Mode::skipping;
        pos = in.size();
      }
      break;
    }
    std::string_view line(in.data() + pos, lf + 1 - pos);
    pos = lf + 1;
    if (line.size() > opt.max_command_line) {
      end_sasl();
      answer(make_reply(500, "5.5.2", "Error: command too long"));
      continue;
    }
    handle_line(line, pos < in.size());
  }
  if (action == Action::close) {
    in.clear();
  } else {
    in.erase(0, pos);
  }
}

void ServerSession::Impl::handle_line(std::string_view line, bool more_buffered) {
  if (sasl != Sasl::none) return on_sasl_response(line, more_buffered);
  switch (check_line(line)) {
    case LineProblem::nul:
      return answer(make_reply(501, "5.5.2", "Error: NUL characters are not allowed"));
    case LineProblem::bare_cr_lf:
      return answer(make_reply(501, "5.5.2", "Error: bare <CR> or <LF> received"));
    case LineProblem::bad_utf8:
      return answer(make_reply(500, "5.5.2", "Error: bad UTF-8 syntax"));
    case LineProblem::none:
      break;
  }
  const Command c = parse_command(line.substr(0, line.size() - 2));
  if (ends_group(c.verb) && more_buffered) {
    return close_with(sync_error());
  }
  more_input = more_buffered;
  handle_command(c);
}

void ServerSession::Impl::handle_command(const Command& c) {
  switch (c.verb) {
    case Verb::ehlo:
    case Verb::helo:
      return on_hello(c);
    case Verb::mail:
      return on_mail(c);
    case Verb::rcpt:
      return on_rcpt(c);
    case Verb::data:
      return on_data();
    case Verb::rset:
      reset_transaction();
      return answer(ok());
    case Verb::noop:
      return answer(ok());
    case Verb::quit:
      return close_with(make_reply(221, "2.0.0", "Bye"));
    case Verb::vrfy:
      return answer(make_reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
    case Verb::help:
      return answer(make_reply(214, "2.0.0", "See RFC 5321"));
    case Verb::expn:
    case Verb::bdat:
      return answer(unsupported_command());
    case Verb::auth:
      return on_auth(c);
    case Verb::starttls:
      return on_starttls(c);
    case Verb::http:
    case Verb::header_like:  // cross-protocol or desynchronised client (catalogue A29)
      return close_with(make_reply(221, "2.7.0", "Error: this is an SMTP server, goodbye"));
    case Verb::unknown:
      return answer(make_reply(500, "5.5.2", "Error: command not recognized"));
  }
}

void ServerSession::Impl::on_hello(const Command& c) {
  const bool ehlo = c.verb == Verb::ehlo;
  if (c.arg.empty()) {
    return answer(make_reply(501, "5.5.4", ehlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
  }
  reset_transaction();
  helo_seen = true;
  esmtp = ehlo;
  facts.helo = sanitize_helo(c.arg);
  if (!ehlo) return answer(make_reply(250, "", opt.hostname));
  std::string text = opt.hostname + " Hello " + facts.helo + " [" + facts.client_ip + "]";
  text += "\nPIPELINING\nSIZE " + std::to_string(opt.max_message_size);
  text += "\n8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8\nDSN";
  if (opt.submission && facts.tls) text += "\nAUTH PLAIN LOGIN";  // never before TLS (RFC 4954 §4)
  if (opt.starttls_available && !facts.tls) text += "\nSTARTTLS";
  answer(make_reply(250, "", std::move(text)));
}

void ServerSession::Impl::on_mail(const Command& c) {
  if (!helo_seen) return answer(make_reply(503, "5.5.1", "Error: send HELO/EHLO first"));
  if (txn) return answer(make_reply(503, "5.5.1", "Error: nested MAIL command"));
  if (opt.submission) {
    if (!facts.tls) return answer(need_starttls());
    if (facts.authenticated_user.empty()) return answer(need_auth());
  }
  auto parsed = parse_mail(c.arg);
  if (!parsed) return answer(parsed.reply());
  // A mailbox user does not send bounces; whether a real sender is the user's own address is the
  // Policy's decision (check_mail sees facts.authenticated_user).
  if (opt.submission && !parsed->sender) return answer(sender_not_owned());
  if (parsed->declared_size && *parsed->declared_size > opt.max_message_size) {
    return answer(make_reply(552, "5.3.4", "Message size exceeds fixed limit"));  // catalogue A14
  }
  if (auto rejected = policy.check_mail(facts, *parsed)) return answer(*rejected);
  txn = std::move(*parsed);
  rcpt_commands = 0;
  answer(make_reply(250, "2.1.0", "Sender OK"));
}

void ServerSession::Impl::on_rcpt(const Command& c) {
  if (!txn) return answer(make_reply(503, "5.5.1", "Error: need MAIL command"));
  ++rcpt_commands;
  auto parsed = parse_rcpt(c.arg, txn->smtputf8, opt.hostname);
  if (!parsed) return answer(parsed.reply());
  if (txn->recipients.size() >= opt.max_recipients) {
    return answer(make_reply(452, "4.5.3", "Error: too many recipients"));
  }
  if (auto rejected = policy.check_rcpt(facts, *txn, *parsed)) return answer(*rejected);
  txn->recipients.push_back(std::move(*parsed));
  answer(make_reply(250, "2.1.5", "Recipient OK"));
}

void ServerSession::Impl::on_data() {
  if (!txn || (txn->recipients.empty() && rcpt_commands == 0)) {
    return answer(make_reply(503, "5.5.1", "Error: need RCPT command"));
  }
  if (txn->recipients.empty()) return answer(make_reply(554, "5.5.1", "Error: no valid recipients"));
  message_id = env.new_message_id();
  ReceivedFields f{opt.hostname, message_id, received_protocol(esmtp, facts.tls, !facts.authenticated_user.empty(), txn->smtputf8), env.now()};
  data.start(received_header(facts, *txn, f), opt.max_message_size);
  mode = Mode::data;
  answer(make_reply(354, "", "End data with <CR><LF>.<CR><LF>"));
}

void ServerSession::Impl::finish_data() {
  mode = Mode::command;
  std::optional<Reply> rejected;
  if (opt.max_hop_count > 0 && count_received_headers(data.content()) >= opt.max_hop_count) {
    rejected = make_reply(554, "5.4.14", "Hop count exceeded - possible mail loop");  // catalogue B11
  } else if (data.too_big()) {
    rejected = make_reply(552, "5.3.4", "Error: message file too big");  // catalogue B17
  } else if (data.bare_cr_lf()) {
    rejected = make_reply(550, "5.6.11", "Error: bare <CR> or <LF> in message content");  // B01-B05
  }
  if (rejected) {
    data.take();
    reset_transaction();
    return answer(*rejected);
  }
  pending = AcceptedMessage{message_id, std::move(*txn), facts, data.take()};
  reset_transaction();
  action = Action::commit;  // what follows in `in` waits for commit_done() (RFC 2920 allows it)
}

void ServerSession::Impl::on_starttls(const Command& c) {
  if (!opt.starttls_available && !facts.tls) return answer(unsupported_command());
  if (!c.arg.empty()) return answer(make_reply(501, "5.5.4", "Syntax: STARTTLS"));          // catalogue C04
  if (facts.tls) return answer(make_reply(554, "5.5.1", "Error: TLS already active"));     // catalogue C05
  reset_transaction();
  send(make_reply(220, "2.0.0", "Ready to start TLS"));
  action = Action::start_tls;  // the rest of `in` is discarded by tls_started() (catalogue C01, C02)
}

// AUTH (RFC 4954) on a submission listener. Checks in order: offered here, inside TLS, after EHLO,
// outside a transaction, not yet authenticated, syntax, mechanism.
void ServerSession::Impl::on_auth(const Command& c) {
  if (!opt.submission) return answer(unsupported_command());
  if (!facts.tls) return answer(need_starttls());
  if (!helo_seen) return answer(make_reply(503, "5.5.1", "Error: send HELO/EHLO first"));
  if (txn) return answer(make_reply(503, "5.5.1", "Error: MAIL transaction in progress"));
  if (!facts.authenticated_user.empty()) return answer(make_reply(503, "5.5.1", "Already authenticated"));
  auto args = parse_auth(c.arg);
  if (!args) return answer(make_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  const bool plain = iequals(args->mechanism, "PLAIN");
  if (!plain && !iequals(args->mechanism, "LOGIN")) {
    return answer(make_reply(504, "5.5.4", "Unrecognized authentication type"));
  }
  if (!args->initial_response) {
    // A challenge follows, so AUTH must be the last command of a pipelined group (RFC 4954 §4):
    // lines already buffered would be taken as SASL responses (or the other way round).
    if (more_input) return close_with(sync_error());
    sasl = plain ? Sasl::plain : Sasl::login_user;
    return answer(challenge(plain ? "" : kLoginUser));
  }
  std::string_view initial = *args->initial_response;
  if (initial == "=") initial = {};  // RFC 4954 §4: "=" is a zero-length initial response
  auto decoded = auth::base64_decode(initial);
  if (!decoded) return answer(cannot_decode());
  // PLAIN with an initial response completes in one round trip: the only AUTH that may be followed
  // by pipelined commands (RFC 4954 §4). They run after the outcome is known.
  if (plain) return finish_plain(*decoded);
  if (more_input) {
    auth::wipe(*decoded);
    return close_with(sync_error());
  }
  sasl_user = std::move(*decoded);  // AUTH LOGIN <user>: only the password is asked for
  sasl = Sasl::login_password;
  answer(challenge(kLoginPassword));
}

// One line answering a 334 challenge. `line` includes its CRLF; its content is a credential and is
// never echoed.
void ServerSession::Impl::on_sasl_response(std::string_view line, bool more_buffered) {
  const Sasl step = sasl;
  sasl = Sasl::none;  // the exchange ends here unless LOGIN asks for the password
  if (more_buffered) {  // the client did not wait for the challenge (RFC 4954 §4)
    end_sasl();
    return close_with(sync_error());
  }
  if (check_line(line) != LineProblem::none) {
    end_sasl();
    return answer(cannot_decode());
  }
  const std::string_view text = line.substr(0, line.size() - 2);
  if (text == "*") {
    end_sasl();
    return answer(auth_cancelled());
  }
  auto decoded = auth::base64_decode(text);
  if (!decoded) {
    end_sasl();
    return answer(cannot_decode());
  }
  switch (step) {
    case Sasl::plain:
      return finish_plain(*decoded);
    case Sasl::login_user:
      sasl_user = std::move(*decoded);
      sasl = Sasl::login_password;
      return answer(challenge(kLoginPassword));
    case Sasl::login_password: {
      std::string user = std::move(sasl_user);
      end_sasl();
      verify(user, *decoded);
      auth::wipe(user);
      return;
    }
    case Sasl::none:
      return;
  }
}

void ServerSession::Impl::finish_plain(std::string& message) {
  auto creds = auth::parse_plain(message);
  auth::wipe(message);
  if (!creds) return auth_failed();
  // Acting as another identity is not offered: authzid, if given, must name the user itself.
  if (!creds->authzid.empty() && !iequals(creds->authzid, creds->authcid)) {
    auth::wipe(creds->password);
    return auth_failed();
  }
  verify(creds->authcid, creds->password);
}

void ServerSession::Impl::verify(std::string_view user, std::string& password) {
  if (opt.deferred_auth) {
    pending_auth.emplace(Credentials{std::string(user), password});
    auth::wipe(password);
    action = Action::authenticate;  // what follows in `in` waits for auth_done()
    return;
  }
  AuthResult r = policy.authenticate(facts, user, password);
  auth::wipe(password);
  auth_outcome(r);
}

void ServerSession::Impl::auth_outcome(const AuthResult& r) {
  if (r.status == AuthResult::Status::ok && !r.user.empty()) {
    facts.authenticated_user = std::move(r.user);
    return answer(auth_ok());
  }
  if (r.status == AuthResult::Status::rate_limited) return answer(auth_rate_limited());
  auth_failed();
}

void ServerSession::Impl::auth_failed() {
  ++auth_failures;
  answer(auth_invalid());
  if (action != Action::close && auth_failures >= kMaxAuthFailuresPerSession) {
    close_with(make_reply(421, "4.7.0", "Too many authentication failures"));
  }
}

ServerSession::ServerSession(ServerOptions options, Policy& policy, SessionEnv env, ConnectionFacts facts)
    : impl_(std::make_unique<Impl>(std::move(options), policy, std::move(env), std::move(facts))) {}

ServerSession::~ServerSession() = default;

void ServerSession::start() { impl_->send(make_reply(220, "", impl_->opt.hostname + " ESMTP mailflow")); }

void ServerSession::feed(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.action == Action::close) return;
  if (s.action == Action::read && s.mode == Impl::Mode::data && s.in.empty()) {
    // Message content: hand it to the reader without copying it into `in` first.
    bytes.remove_prefix(s.data.feed(bytes));
    if (s.data.done()) s.finish_data();
    if (s.action == Action::close) return;
  }
  s.in.append(bytes);
  if (s.action == Action::read) s.process();
}

std::string ServerSession::take_output() { return std::exchange(impl_->out, std::string()); }

ServerSession::Action ServerSession::action() const { return impl_->action; }

Credentials ServerSession::take_credentials() {
  Impl& s = *impl_;
  if (s.action != Action::authenticate || !s.pending_auth) return {};
  Credentials c = std::move(*s.pending_auth);
  s.pending_auth.reset();
  return c;
}

void ServerSession::auth_done(const AuthResult& result) {
  Impl& s = *impl_;
  if (s.action != Action::authenticate) return;
  if (s.pending_auth) auth::wipe(s.pending_auth->password);
  s.pending_auth.reset();
  s.action = Action::read;
  s.auth_outcome(result);
  if (s.action == Action::read) s.process();  // commands pipelined behind AUTH PLAIN <response>
}

AcceptedMessage ServerSession::take_message() {
  Impl& s = *impl_;
  if (s.action != Action::commit || !s.pending) return {};
  AcceptedMessage m = std::move(*s.pending);
  s.pending.reset();
  return m;
}

void ServerSession::commit_done(const Result<void>& r) {
  Impl& s = *impl_;
  if (s.action != Action::commit) return;
  s.pending.reset();
  s.action = Action::read;
  if (r) {
    s.send(make_reply(250, "2.0.0", "Ok: queued as " + s.message_id));
  } else {
    s.send(make_reply(451, "4.3.0", "Error: queue file write error"));  // not the client's fault: not counted
  }
  s.process();  // commands pipelined behind the end of data
}

void ServerSession::tls_started(const TlsInfo& info) {
  Impl& s = *impl_;
  if (s.action != Action::start_tls) return;
  s.in.clear();  // plaintext received before the handshake is never executed (CVE-2011-0411)
  s.mode = Impl::Mode::command;
  s.helo_seen = false;
  s.esmtp = false;
  s.reset_transaction();
  s.facts.helo.clear();
  s.facts.tls = true;
  s.facts.tls_version = info.version;
  s.facts.tls_cipher = info.cipher;
  s.facts.client_cert_verified = info.client_cert_verified;
  s.facts.client_cert_names = info.client_cert_names;
  s.facts.authenticated_user.clear();  // AUTH is refused before TLS; cleared all the same
  s.end_sasl();
  s.action = Action::read;
}

void ServerSession::tls_failed() {
  Impl& s = *impl_;
  s.action = Action::close;
  s.in.clear();
}

void ServerSession::timeout() {
  Impl& s = *impl_;
  if (s.action == Action::close) return;
  s.data.take();
  s.reset_transaction();
  s.close_with(make_reply(421, "4.4.2", s.opt.hostname + " Error: timeout exceeded"));
}

void ServerSession::shutdown() {
  Impl& s = *impl_;
  if (s.action == Action::close) return;
  s.close_with(make_reply(421, "4.3.2", s.opt.hostname + " Service shutting down"));
}

bool ServerSession::in_data() const { return impl_->mode == Impl::Mode::data && impl_->action != Action::close; }

bool ServerSession::in_transaction() const {
  return impl_->txn.has_value() || impl_->action == Action::commit;
}

const ConnectionFacts& ServerSession::facts() const { return impl_->facts; }

}  // namespace mf::smtp
