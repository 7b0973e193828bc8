#include "smtp/session_harness.hpp"

#include "core/domain.hpp"

#include <charconv>
#include <cstdio>

namespace mf::smtp::test {

std::optional<Reply> FakePolicy::check_mail(const ConnectionFacts&, const Envelope& env) {
  ++mail_calls;
  if (!env.sender) return std::nullopt;
  auto it = reject_mail.find(env.sender->key());
  if (it == reject_mail.end()) return std::nullopt;
  return it->second;
}

std::optional<Reply> FakePolicy::check_rcpt(const ConnectionFacts&, const Envelope&, const EnvelopeRecipient& rcpt) {
  ++rcpt_calls;
  auto it = reject_rcpt.find(rcpt.address.key());
  if (it == reject_rcpt.end()) return std::nullopt;
  return it->second;
}

Reply policy_rejection(std::string_view address) {
  return make_reply(550, "5.7.1", "<" + std::string(address) + ">: Recipient address rejected");
}

Reply sender_rejection(std::string_view address) {
  return make_reply(550, "5.7.1", "<" + std::string(address) + ">: Sender address rejected");
}

ServerOptions test_options() {
  ServerOptions o;
  o.hostname = "mx.test.example";
  o.starttls_available = true;
  return o;
}

ConnectionFacts test_facts() {
  ConnectionFacts f;
  f.listener = "inbound";
  f.client_ip = "192.0.2.10";
  f.client_port = 40000;
  return f;
}

TlsInfo test_tls_info() { return TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384", false, {}}; }

SessionEnv fixed_env(std::shared_ptr<int> counter) {
  SessionEnv env;
  // 2024-01-02 03:04:05 UTC
  env.now = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1704164645)); };
  env.new_message_id = [counter] {
    char buf[16];
    std::snprintf(buf, sizeof buf, "ID%04d", ++*counter);
    return std::string(buf);
  };
  return env;
}

Harness::Harness(ServerOptions options, ConnectionFacts facts)
    : session_(std::make_unique<ServerSession>(std::move(options), policy_, fixed_env(ids_), std::move(facts))) {}

std::string Harness::start() {
  session_->start();
  return drive();
}

std::string Harness::send(std::string_view bytes) {
  if (closed) return "";
  session_->feed(bytes);
  return drive();
}

std::string Harness::drive() {
  std::string t;
  while (!closed) {
    t += format_output(session_->take_output());
    switch (session_->action()) {
      case ServerSession::Action::read:
        return t;
      case ServerSession::Action::commit: {
        AcceptedMessage m = session_->take_message();
        t += format_message(m);
        committed.push_back(std::move(m));
        if (commit_fails) {
          commit_fails = false;
          session_->commit_done(make_error("disk full"));
        } else {
          session_->commit_done(Result<void>());
        }
        break;
      }
      case ServerSession::Action::start_tls:
        t += "[starttls]\n";
        if (tls_fails) {
          tls_fails = false;
          session_->tls_failed();
        } else {
          session_->tls_started(test_tls_info());
        }
        break;
      case ServerSession::Action::close:
        t += "[close]\n";
        closed = true;
        break;
      case ServerSession::Action::authenticate: {  // only with ServerOptions::deferred_auth
        Credentials c = session_->take_credentials();
        t += "[authenticate]\n";
        session_->auth_done(policy_.authenticate(session_->facts(), c.user, c.password));
        break;
      }
    }
  }
  return t;
}

namespace {

void append_escaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += ch;
    }
  }
}

// CRLF-separated lines; a final piece without CRLF is marked.
std::string format_lines(std::string_view wire, std::string_view prefix) {
  std::string out;
  while (!wire.empty()) {
    std::size_t eol = wire.find("\r\n");
    std::string_view line = wire.substr(0, eol);
    // No trailing blank on an empty data line ("|"), so that editors cannot change the files.
    out += line.empty() && !prefix.empty() ? prefix.substr(0, prefix.size() - 1) : prefix;
    append_escaped(out, line);
    if (eol == std::string_view::npos) {
      out += " [no CRLF]\n";
      break;
    }
    out += '\n';
    wire.remove_prefix(eol + 2);
  }
  return out;
}

const char* body_name(BodyType b) {
  switch (b) {
    case BodyType::seven_bit: return "7BIT";
    case BodyType::eight_bit_mime: return "8BITMIME";
    case BodyType::binary_mime: return "BINARYMIME";
  }
  return "?";
}

std::string notify_names(unsigned n) {
  std::string s;
  auto add = [&](unsigned bit, const char* name) {
    if (n & bit) s += (s.empty() ? "" : ",") + std::string(name);
  };
  add(notify_never, "NEVER");
  add(notify_success, "SUCCESS");
  add(notify_failure, "FAILURE");
  add(notify_delay, "DELAY");
  return s;
}

}  // namespace

std::string format_output(std::string_view wire) { return format_lines(wire, ""); }

std::string format_message(const AcceptedMessage& m) {
  const Envelope& e = m.envelope;
  std::string t = "[commit " + m.id + "]\n";
  t += "[from <" + (e.sender ? e.sender->str() : std::string()) + ">";
  if (e.declared_size) t += " size=" + std::to_string(*e.declared_size);
  if (e.body != BodyType::seven_bit) t += std::string(" body=") + body_name(e.body);
  if (e.smtputf8) t += " smtputf8";
  if (!e.ret.empty()) t += " ret=" + e.ret;
  if (!e.envid.empty()) {
    t += " envid=";
    append_escaped(t, e.envid);
  }
  t += "]\n";
  for (const EnvelopeRecipient& r : e.recipients) {
    t += "[to <" + r.address.str() + ">";
    if (r.notify != notify_none) t += " notify=" + notify_names(r.notify);
    if (!r.orcpt.empty()) {
      t += " orcpt=";
      append_escaped(t, r.orcpt);
    }
    t += "]\n";
  }
  return t + format_lines(m.data, "| ");
}

namespace {

Result<std::string> unescape(std::string_view text) {
  std::string out;
  bool crlf = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i >= text.size()) return make_error("dangling backslash");
    switch (text[i]) {
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      case '0': out += '\0'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case 'c':
        if (i + 1 != text.size()) return make_error("\\c must end the line");
        crlf = false;
        break;
      case 'x': {
        if (i + 2 >= text.size()) return make_error("short \\x escape");
        unsigned v = 0;
        auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
        if (ec != std::errc() || p != text.data() + i + 3) return make_error("bad \\x escape");
        out += static_cast<char>(v);
        i += 2;
        break;
      }
      case '{': {  // \{N:c}
        std::size_t colon = text.find(':', i);
        if (colon == std::string_view::npos || colon + 2 >= text.size() || text[colon + 2] != '}') {
          return make_error("bad \\{N:c} escape");
        }
        std::size_t n = 0;
        auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + colon, n);
        if (ec != std::errc() || p != text.data() + colon) return make_error("bad repeat count");
        out.append(n, text[colon + 1]);
        i = colon + 2;
        break;
      }
      default:
        return make_error(std::string("unknown escape \\") + text[i]);
    }
  }
  if (crlf) out += "\r\n";
  return out;
}

Result<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return make_error("bad number: " + std::string(s));
  return v;
}

}  // namespace

Result<std::string> run_script(std::string_view script) {
  ServerOptions opt = test_options();
  ConnectionFacts facts = test_facts();
  std::vector<std::string> reject_mail, reject_rcpt;
  std::unique_ptr<Harness> h;
  std::string transcript;
  std::string segment;
  bool have_segment = false;

  auto flush = [&] {
    if (have_segment) transcript += h->send(segment);
    segment.clear();
    have_segment = false;
  };
  auto ensure_started = [&] {
    if (h) return;
    h = std::make_unique<Harness>(opt, facts);
    for (const auto& a : reject_mail) h->policy().reject_mail[a] = sender_rejection(a);
    for (const auto& a : reject_rcpt) h->policy().reject_rcpt[a] = policy_rejection(a);
    transcript += h->start();
  };

  while (!script.empty()) {
    std::size_t nl = script.find('\n');
    std::string_view line = script.substr(0, nl);
    script.remove_prefix(nl == std::string_view::npos ? script.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '@') {
      if (h) return make_error("options must come before the first segment");
      std::size_t sp = line.find(' ');
      std::string_view key = line.substr(1, sp == std::string_view::npos ? std::string_view::npos : sp - 1);
      std::string_view val = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
      if (key == "starttls") { opt.starttls_available = val == "on"; continue; }
      if (key == "tls-active") { facts.tls = true; facts.tls_version = "TLSv1.3"; facts.tls_cipher = "TLS_AES_256_GCM_SHA384"; continue; }
      if (key == "reject-mail") { reject_mail.emplace_back(val); continue; }
      if (key == "reject-rcpt") { reject_rcpt.emplace_back(val); continue; }
      auto n = number(val);
      if (!n) return n.error();
      if (key == "max_errors") opt.max_errors = static_cast<std::uint32_t>(*n);
      else if (key == "max_command_line") opt.max_command_line = *n;
      else if (key == "max_recipients") opt.max_recipients = *n;
      else if (key == "max_message_size") opt.max_message_size = *n;
      else if (key == "max_hop_count") opt.max_hop_count = static_cast<std::uint32_t>(*n);
      else return make_error("unknown option " + std::string(key));
      continue;
    }
    ensure_started();
    if (line.starts_with("C:") || line.starts_with("+:")) {
      if (line.front() == 'C') flush();
      std::string_view text = line.substr(2);
      if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
      auto bytes = unescape(text);
      if (!bytes) return bytes.error();
      segment += *bytes;
      have_segment = true;
      continue;
    }
    flush();
    if (line == "!timeout") {
      h->session().timeout();
      transcript += h->drive();
    } else if (line == "!shutdown") {
      h->session().shutdown();
      transcript += h->drive();
    } else if (line == "!commit-fail") {
      h->commit_fails = true;
    } else if (line == "!tls-fail") {
      h->tls_fails = true;
    } else {
      return make_error("unknown script line: " + std::string(line));
    }
  }
  ensure_started();
  flush();
  return transcript;
}

}  // namespace mf::smtp::test
