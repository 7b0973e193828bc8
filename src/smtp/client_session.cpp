// The SMTP client state machine (contract in client_session.hpp). `expect` is the queue of replies
// awaited, in the order the commands were written; each complete reply pops its front. Input is kept
// in `in` only while it is an incomplete reply line, bounded by max_reply_line.
#include "smtp/client_session.hpp"

#include <cstring>
#include <deque>
#include <utility>

namespace mf::smtp {

namespace {

enum class Expect { greeting, ehlo, helo, starttls, rset, mail, rcpt, data, end_of_data, lone_dot, quit };

const char* phase_of(Expect e) {
  switch (e) {
    case Expect::rset: return "RSET";
    case Expect::mail: return "MAIL FROM";
    case Expect::rcpt: return "RCPT TO";
    case Expect::data: return "DATA";
    case Expect::end_of_data: case Expect::lone_dot: return "end of data";
    default: return "connect";
  }
}

// The command a reply answers, as ClientOptions::on_reply names it.
const char* command_of(Expect e) {
  switch (e) {
    case Expect::greeting: return "greeting";
    case Expect::ehlo: return "EHLO";
    case Expect::helo: return "HELO";
    case Expect::starttls: return "STARTTLS";
    case Expect::quit: return "QUIT";
    default: return phase_of(e);
  }
}

std::chrono::seconds timeout_of(Expect e) {
  using std::chrono::minutes;
  switch (e) {
    case Expect::data: return minutes(2);
    case Expect::end_of_data: case Expect::lone_dot: return minutes(10);
    default: return minutes(5);
  }
}

RcptStatus status_of(const Reply& r) {
  if (r.code >= 200 && r.code < 300) return RcptStatus::delivered;
  return r.permanent() ? RcptStatus::permanent : RcptStatus::transient;
}

// Failure of a command that has a positive answer other than delivery: 5xx permanent, else transient.
RcptStatus failure_of(const Reply& r) { return r.permanent() ? RcptStatus::permanent : RcptStatus::transient; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Length of an RFC 3463 code "c.sss.ddd" of class `cls` at the start of `s`, followed by SP or the
// end; 0 if there is none.
std::size_t enhanced_length(std::string_view s, char cls) {
  if (s.size() < 5 || s[0] != cls || s[1] != '.') return 0;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i]) && i - start < 4) ++i;
    if (i == start || i - start > 3) return 0;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return 0;
      ++i;
    }
  }
  if (i < s.size() && s[i] != ' ') return 0;
  return i;
}

Reply protocol_error(std::string what) { return make_reply(421, "4.5.0", "protocol error: " + what); }

bool needs_smtputf8(const Envelope& e) {
  if (e.smtputf8) return true;
  if (e.sender && e.sender->has_non_ascii()) return true;
  for (const auto& r : e.recipients) {
    if (r.address.has_non_ascii()) return true;
  }
  return false;
}

std::string notify_value(unsigned n) {
  if (n & notify_never) return "NEVER";
  std::string v;
  auto add = [&v](const char* s) { v += v.empty() ? s : std::string(",") + s; };
  if (n & notify_success) add("SUCCESS");
  if (n & notify_failure) add("FAILURE");
  if (n & notify_delay) add("DELAY");
  return v;
}

}  // namespace

std::string encode_xtext(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string stuff_message(std::string_view data) {
  std::string out;
  append_stuffed(out, data);
  return out;
}

void append_stuffed(std::string& out, std::string_view data) {
  out.reserve(out.size() + data.size() + data.size() / 64 + 8);
  // Runs between line ends are found with memchr (vectorised: this loop is on every relayed byte).
  // `next_lf` is kept across runs, so a line full of bare CRs is still scanned once (linear).
  const char* p = data.data();
  const char* const end = p + data.size();
  const char* next_lf = nullptr;  // the first LF at or after p, or end; recomputed once p passes it
  bool line_start = true;
  while (p < end) {
    if (next_lf == nullptr || next_lf < p) {
      next_lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (next_lf == nullptr) next_lf = end;
    }
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(next_lf - p)));
    const char* j = cr != nullptr ? cr : next_lf;  // the first CR or LF: the end of this run
    if (j > p) {
      if (line_start && *p == '.') out += '.';
      out.append(p, static_cast<std::size_t>(j - p));
      line_start = false;
    }
    if (j == end) break;
    out += "\r\n";  // CRLF, a bare CR or a bare LF: one CRLF line end
    p = (*j == '\r' && j + 1 < end && j[1] == '\n') ? j + 2 : j + 1;
    line_start = true;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
}

struct ClientSession::Impl {
  explicit Impl(ClientOptions o) : opt(std::move(o)) {}

  ClientOptions opt;
  std::string in;   // unparsed input (an incomplete reply line)
  std::string out;  // commands not yet taken
  Action action = Action::read;
  std::deque<Expect> expect{Expect::greeting};
  bool quitting = false;

  // The reply being assembled.
  std::vector<std::string> lines;  // text after "ddd-" / "ddd " of each line
  int code = 0;

  bool tls = false;
  std::vector<std::string> keywords;
  std::optional<Reply> failure;

  // Transaction.
  OutboundMessage msg;
  std::vector<RecipientResult> results;
  std::vector<bool> accepted;
  std::size_t rcpt_replies = 0;  // RCPT replies received
  bool pipelined = false;
  bool mail_ok = false;
  bool need_rset = false;  // the server may hold an open transaction

  void write(std::string_view command) {
    out += command;
    out += "\r\n";
  }
  void command(std::string_view line, Expect e) {
    write(line);
    expect.push_back(e);
  }

  // Extension keyword lookup: the first word of a keyword line; `param` receives the rest.
  bool offers(std::string_view kw, std::string* param = nullptr) const {
    for (const auto& k : keywords) {
      std::string_view line = k;
      if (line.size() < kw.size() || line.substr(0, kw.size()) != kw) continue;
      if (line.size() > kw.size() && line[kw.size()] != ' ') continue;
      if (param) *param = std::string(line.substr(std::min(line.size(), kw.size() + 1)));
      return true;
    }
    return false;
  }

  void resolve(std::size_t i, RcptStatus st, const Reply& r, std::string_view phase) {
    if (i >= results.size() || results[i].status != RcptStatus::pending) return;
    results[i] = RecipientResult{st, r, std::string(phase)};
  }
  void resolve_all(RcptStatus st, const Reply& r, std::string_view phase) {
    for (std::size_t i = 0; i < results.size(); ++i) resolve(i, st, r, phase);
  }
  // The connection is over: pending recipients transient, close.
  void fail(const Reply& r, bool send_quit) {
    const char* phase = expect.empty() ? "connect" : phase_of(expect.front());
    resolve_all(RcptStatus::transient, r, phase);
    if (!quitting) failure = r;
    if (send_quit && !quitting) write("QUIT");
    expect.clear();
    in.clear();
    action = Action::close;
  }

  void process();
  void take_line(std::string_view line);
  void on_reply(Reply r, std::vector<std::string> raw);
  void on_greeting(const Reply& r);
  void on_ehlo(const Reply& r, std::vector<std::string> raw);
  void on_helo(const Reply& r);
  void after_hello();
  void on_starttls(const Reply& r);
  void begin_transaction();
  std::string mail_command() const;
  std::string rcpt_command(const EnvelopeRecipient& r) const;
  void on_mail(const Reply& r);
  void on_rcpt(const Reply& r);
  void on_data(const Reply& r);
  void on_end_of_data(const Reply& r);
  void next_step();  // non-pipelined: the next command after a MAIL / RCPT reply
  void finish_transaction();
};

void ClientSession::Impl::process() {
  std::size_t pos = 0;
  // While ready nothing is awaited, but a reply arriving then must still be seen (421, or junk that
  // would otherwise be taken for the answer to the next command).
  while ((action == Action::read || action == Action::ready) && pos < in.size()) {
    const std::size_t lf = in.find('\n', pos);
    if (lf == std::string::npos) {
      if (in.size() - pos >= opt.max_reply_line) return fail(protocol_error("reply line too long"), false);
      break;
    }
    if (lf + 1 - pos > opt.max_reply_line) return fail(protocol_error("reply line too long"), false);
    std::string_view line(in.data() + pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = lf + 1;
    take_line(line);
    if (action == Action::start_tls) {
      in.clear();  // what followed the 220 is never used (RFC 3207 §6, STARTTLS injection)
      return;
    }
  }
  if (action == Action::close) {
    in.clear();
  } else {
    in.erase(0, pos);
  }
}

void ClientSession::Impl::take_line(std::string_view line) {
  const bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                       line[1] <= '5' && is_digit(line[2]);
  if (!code_ok || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    return fail(protocol_error("malformed reply line"), false);
  }
  const int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!lines.empty() && c != code) return fail(protocol_error("reply code changed within a reply"), false);
  if (lines.size() >= opt.max_reply_lines) return fail(protocol_error("too many reply lines"), false);
  code = c;
  lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
  if (line.size() > 3 && line[3] == '-') return;

  // Complete: split off the RFC 2034 code carried by the first line (and repeated by the others).
  std::vector<std::string> raw = std::exchange(lines, {});
  const char cls = static_cast<char>('0' + code / 100);
  Reply r{code, "", ""};
  if (const std::size_t n = enhanced_length(raw.front(), cls)) r.enhanced = raw.front().substr(0, n);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::string_view t = raw[i];
    if (!r.enhanced.empty() && t.substr(0, r.enhanced.size()) == r.enhanced &&
        enhanced_length(t, cls) == r.enhanced.size()) {
      t.remove_prefix(r.enhanced.size());
      if (!t.empty()) t.remove_prefix(1);
    }
    if (i > 0) r.text += '\n';
    r.text += t;
  }
  if (r.enhanced.empty()) r.enhanced = std::string(1, code >= 400 ? cls : '2') + ".0.0";
  on_reply(std::move(r), std::move(raw));
}

void ClientSession::Impl::on_reply(Reply r, std::vector<std::string> raw) {
  if (expect.empty()) {
    if (r.code == 421) return fail(r, false);
    return fail(protocol_error("unexpected reply: " + r.one_line()), false);
  }
  const Expect e = expect.front();
  expect.pop_front();
  if (opt.on_reply) opt.on_reply(command_of(e), r, raw);
  if (e == Expect::quit) {
    action = Action::close;
    return;
  }
  if (r.code == 421) {
    expect.push_front(e);  // for the phase of the failure
    return fail(r, false);
  }
  switch (e) {
    case Expect::greeting: return on_greeting(r);
    case Expect::ehlo: return on_ehlo(r, std::move(raw));
    case Expect::helo: return on_helo(r);
    case Expect::starttls: return on_starttls(r);
    case Expect::rset:
      if (r.code / 100 != 2) {
        expect.push_front(e);
        return fail(protocol_error("RSET refused: " + r.one_line()), true);
      }
      need_rset = false;
      return begin_transaction();
    case Expect::mail: return on_mail(r);
    case Expect::rcpt: return on_rcpt(r);
    case Expect::data: return on_data(r);
    case Expect::end_of_data: return on_end_of_data(r);
    case Expect::lone_dot:
      need_rset = true;
      return finish_transaction();
    case Expect::quit: return;
  }
}

void ClientSession::Impl::on_greeting(const Reply& r) {
  if (r.code != 220) return fail(r, true);
  command("EHLO " + opt.helo_name, Expect::ehlo);
}

void ClientSession::Impl::on_ehlo(const Reply& r, std::vector<std::string> raw) {
  if (r.code / 100 == 5) return command("HELO " + opt.helo_name, Expect::helo);
  if (r.code / 100 != 2) return fail(r, true);
  keywords.clear();
  for (std::size_t i = 1; i < raw.size(); ++i) keywords.push_back(upper(raw[i]));
  after_hello();
}

void ClientSession::Impl::on_helo(const Reply& r) {
  if (r.code / 100 != 2) return fail(r, true);
  keywords.clear();
  after_hello();
}

void ClientSession::Impl::after_hello() {
  if (!tls && opt.tls != ClientOptions::Tls::never) {
    if (offers("STARTTLS")) return command("STARTTLS", Expect::starttls);
    if (opt.tls == ClientOptions::Tls::required) {
      return fail(make_reply(421, "4.4.317", "STARTTLS not offered"), true);
    }
  }
  action = Action::ready;
}

void ClientSession::Impl::on_starttls(const Reply& r) {
  if (r.code == 220) {
    action = Action::start_tls;
    return;
  }
  if (opt.tls == ClientOptions::Tls::required) {
    return fail(make_reply(421, "4.4.317", "STARTTLS refused: " + r.one_line()), true);
  }
  action = Action::ready;  // opportunistic: go on in plaintext
}

std::string ClientSession::Impl::mail_command() const {
  const Envelope& e = msg.envelope;
  std::string c = "MAIL FROM:<" + (e.sender ? e.sender->str() : std::string()) + ">";
  if (offers("SIZE")) c += " SIZE=" + std::to_string(msg.bytes().size());
  if (e.body != BodyType::seven_bit && offers("8BITMIME")) c += " BODY=8BITMIME";
  if (needs_smtputf8(e)) c += " SMTPUTF8";
  if (offers("DSN")) {
    if (!e.ret.empty()) c += " RET=" + e.ret;
    if (!e.envid.empty()) c += " ENVID=" + encode_xtext(e.envid);
  }
  return c;
}

std::string ClientSession::Impl::rcpt_command(const EnvelopeRecipient& r) const {
  std::string c = "RCPT TO:<" + r.address.str() + ">";
  if (offers("DSN")) {
    if (r.notify != notify_none) c += " NOTIFY=" + notify_value(r.notify);
    const std::size_t semi = r.orcpt.find(';');
    if (semi != std::string::npos && semi > 0) {
      c += " ORCPT=" + r.orcpt.substr(0, semi) + ";" + encode_xtext(std::string_view(r.orcpt).substr(semi + 1));
    }
  }
  return c;
}

void ClientSession::Impl::begin_transaction() {
  mail_ok = false;
  rcpt_replies = 0;
  pipelined = offers("PIPELINING");
  command(mail_command(), Expect::mail);
  if (!pipelined) return;
  for (const auto& r : msg.envelope.recipients) command(rcpt_command(r), Expect::rcpt);
  if (!msg.stop_after_rcpt) command("DATA", Expect::data);
}

void ClientSession::Impl::on_mail(const Reply& r) {
  if (r.code / 100 == 2) {
    mail_ok = true;
    need_rset = true;  // until the end-of-data reply
  } else {
    resolve_all(failure_of(r), r, "MAIL FROM");
  }
  if (!pipelined) next_step();
}

void ClientSession::Impl::on_rcpt(const Reply& r) {
  const std::size_t i = rcpt_replies++;
  if (i < results.size() && results[i].status == RcptStatus::pending) {
    if (r.code / 100 == 2) {
      accepted[i] = true;
      if (msg.stop_after_rcpt) resolve(i, RcptStatus::delivered, r, "RCPT TO");
    } else {
      resolve(i, failure_of(r), r, "RCPT TO");
    }
  }
  if (!pipelined) return next_step();
  if (msg.stop_after_rcpt) finish_transaction();  // waits for the last RCPT reply
}

void ClientSession::Impl::next_step() {
  if (!mail_ok) return finish_transaction();
  const auto& rcpts = msg.envelope.recipients;
  if (rcpt_replies < rcpts.size()) return command(rcpt_command(rcpts[rcpt_replies]), Expect::rcpt);
  if (msg.stop_after_rcpt) return finish_transaction();
  for (bool a : accepted) {
    if (a) return command("DATA", Expect::data);
  }
  finish_transaction();  // no recipient accepted: need_rset stays set
}

void ClientSession::Impl::on_data(const Reply& r) {
  bool any = false;
  for (bool a : accepted) any = any || a;
  if (r.code == 354) {
    if (!any) {
      out += ".\r\n";  // RFC 2920 §3.1: DATA accepted without a recipient, end it at once
      expect.push_back(Expect::lone_dot);
      return;
    }
    append_stuffed(out, msg.bytes());
    msg.data.clear();
    msg.data.shrink_to_fit();
    msg.shared_data.reset();
    expect.push_back(Expect::end_of_data);
    return;
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (accepted[i]) resolve(i, failure_of(r), r, "DATA");
  }
  finish_transaction();
}

void ClientSession::Impl::on_end_of_data(const Reply& r) {
  need_rset = false;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (accepted[i]) resolve(i, status_of(r), r, "end of data");
  }
  finish_transaction();
}

void ClientSession::Impl::finish_transaction() {
  if (!expect.empty()) return;  // pipelined replies still to come
  // Defensive: the contract says nothing is pending once the transaction is over.
  resolve_all(RcptStatus::transient, protocol_error("no reply for recipient"), "end of data");
  msg = OutboundMessage{};
  action = Action::ready;
}

ClientSession::ClientSession(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

ClientSession::~ClientSession() = default;

void ClientSession::feed(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.action == Action::close || s.action == Action::start_tls) return;  // start_tls: injection
  s.in.append(bytes);
  s.process();
}

std::string ClientSession::take_output() { return std::exchange(impl_->out, std::string()); }

ClientSession::Action ClientSession::action() const { return impl_->action; }

std::chrono::seconds ClientSession::timeout() const {
  const Impl& s = *impl_;
  if (s.action != Action::read || s.expect.empty()) return std::chrono::minutes(5);
  return timeout_of(s.expect.front());
}

void ClientSession::tls_started() {
  Impl& s = *impl_;
  if (s.action != Action::start_tls) return;
  s.in.clear();  // nothing received in plaintext is ever used (RFC 3207 §6)
  s.lines.clear();
  s.keywords.clear();
  s.tls = true;
  s.action = Action::read;
  s.command("EHLO " + s.opt.helo_name, Expect::ehlo);
}

void ClientSession::tls_failed(std::string reason) {
  Impl& s = *impl_;
  if (s.action == Action::close) return;
  s.fail(make_reply(421, "4.7.5", "TLS handshake failed: " + reason), false);
}

void ClientSession::send(OutboundMessage msg) {
  Impl& s = *impl_;
  s.results.assign(msg.envelope.recipients.size(), RecipientResult{});
  s.accepted.assign(msg.envelope.recipients.size(), false);
  if (s.action != Action::ready) {
    const Reply r = s.failure ? *s.failure : make_reply(421, "4.3.0", "SMTP session not ready");
    s.resolve_all(failure_of(r), r, "connect");
    return;
  }
  if (msg.envelope.recipients.empty()) return;
  if (needs_smtputf8(msg.envelope) && !s.offers("SMTPUTF8")) {
    return s.resolve_all(RcptStatus::permanent, make_reply(553, "5.6.7", "SMTPUTF8 not supported by server"),
                         "MAIL FROM");
  }
  std::string limit;
  if (s.offers("SIZE", &limit) && !limit.empty() && limit.size() <= 19 &&
      limit.find_first_not_of("0123456789") == std::string::npos) {
    const unsigned long long max = std::stoull(limit);
    if (max > 0 && msg.bytes().size() > max) {
      return s.resolve_all(RcptStatus::permanent,
                           make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size of server"),
                           "MAIL FROM");
    }
  }
  s.msg = std::move(msg);
  s.action = Action::read;
  if (s.need_rset) return s.command("RSET", Expect::rset);
  s.begin_transaction();
}

void ClientSession::quit() {
  Impl& s = *impl_;
  if (s.action == Action::close || s.quitting) return;
  s.resolve_all(RcptStatus::transient, make_reply(421, "4.3.0", "session ended by the client"),
                s.expect.empty() ? "connect" : phase_of(s.expect.front()));
  s.quitting = true;
  s.in.clear();
  s.expect.clear();
  s.command("QUIT", Expect::quit);
  s.action = Action::read;
}

void ClientSession::connection_lost(std::string reason) {
  Impl& s = *impl_;
  if (s.action == Action::close) return;
  if (s.quitting) {
    s.action = Action::close;
    return;
  }
  s.fail(make_reply(421, "4.4.2", "connection lost: " + reason), false);
}

const std::vector<RecipientResult>& ClientSession::results() const { return impl_->results; }

std::optional<Reply> ClientSession::session_failure() const { return impl_->failure; }

bool ClientSession::tls_active() const { return impl_->tls; }

const std::vector<std::string>& ClientSession::ehlo_keywords() const { return impl_->keywords; }

}  // namespace mf::smtp
