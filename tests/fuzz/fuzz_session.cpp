// libFuzzer target: a whole smtp::ServerSession driven like server/connection.cpp does (security
// catalogue J01, J02, A45), completing every action: commit (succeeding or failing), STARTTLS
// handshake (succeeding or failing), timeout, shutdown.
//
// Input: an 8-octet header, then client bytes.
//   [0] max_command_line = 64 + 8 * v      [1] max_recipients = 1 + v % 8
//   [2][3] max_message_size = v % 8193     [4] max_errors = v % 31      [5] max_hop_count = v % 6
//   [6] bit 0: STARTTLS offered
//   [7] < 128: line mode — each LF-terminated line is one read, except driver directives: a line
//       "\xFF" "P" <digit n> makes the next n lines one read (a pipelined group); "\xFF" "T" timeout,
//       "\xFF" "S" shutdown, "\xFF" "C" next commit fails, "\xFF" "F" next handshake fails.
//       >= 128: chunk mode — reads of (v - 127) octets, split anywhere.
// tests/fuzz/corpus/make_seeds.py turns the golden transcripts into seeds of this form.
//
// Invariants checked after every step:
//  - every reply line is CRLF-terminated, starts with three digits and is at most 512 octets;
//  - a committed message has recipients (at most max_recipients), an id, and data of at most
//    max_message_size + a header allowance, ending in CRLF with no bare CR or LF (strict mode: the
//    smuggling sequences of catalogue B01-B05 can never reach the spool);
//  - in_data() implies in_transaction(); after close nothing more is said;
//  - heap in use stays bounded by a function of the limits, not of the input (catalogue A03, B10).
#include "smtp/server_session.hpp"

#include <sanitizer/allocator_interface.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace mf;
using namespace mf::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

class AcceptAll : public Policy {
 public:
  std::optional<Reply> check_mail(const ConnectionFacts&, const Envelope& env) override {
    if (env.sender && env.sender->local() == "reject") return make_reply(550, "5.7.1", "rejected");
    return std::nullopt;
  }
  std::optional<Reply> check_rcpt(const ConnectionFacts&, const Envelope&, const EnvelopeRecipient& r) override {
    if (r.address.local() == "reject") return make_reply(550, "5.7.1", "rejected");
    return std::nullopt;
  }
};

void check_output(std::string_view out) {
  while (!out.empty()) {
    const std::size_t eol = out.find("\r\n");
    check(eol != std::string_view::npos);
    const std::string_view line = out.substr(0, eol);
    check(line.size() >= 3 && line.size() <= 510);
    for (int i = 0; i < 3; ++i) check(line[i] >= '0' && line[i] <= '9');
    check(line.size() == 3 || line[3] == ' ' || line[3] == '-');
    check(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos);
    out.remove_prefix(eol + 2);
  }
}

void check_message(const AcceptedMessage& m, const ServerOptions& o) {
  check(!m.id.empty());
  check(!m.envelope.recipients.empty());
  check(m.envelope.recipients.size() <= o.max_recipients);
  check(m.data.size() <= o.max_message_size + 4096);
  check(m.data.size() >= 2 && m.data.compare(m.data.size() - 2, 2, "\r\n") == 0);
  for (std::size_t i = 0; i < m.data.size(); ++i) {
    if (m.data[i] == '\r') check(i + 1 < m.data.size() && m.data[i + 1] == '\n');
    if (m.data[i] == '\n') check(i > 0 && m.data[i - 1] == '\r');
  }
}


class Driver {
 public:
  Driver(const ServerOptions& o, std::size_t bound) : o_(o), bound_(bound), s_(o, policy_, env(), facts()) {
    baseline_ = __sanitizer_get_current_allocated_bytes();
    s_.start();
    drive();
  }
  bool closed() const { return closed_; }

  void feed(std::string_view bytes) {
    if (closed_) return;
    s_.feed(bytes);
    drive();
  }
  void directive(char d) {
    if (closed_) return;
    switch (d) {
      case 'T': s_.timeout(); break;
      case 'S': if (!s_.in_transaction()) s_.shutdown(); break;  // the driver's rule
      case 'C': commit_fails_ = true; break;
      case 'F': tls_fails_ = true; break;
      default: break;
    }
    drive();
  }
  void finish() {
    if (!closed_) return;
    s_.feed("NOOP\r\n");
    check(s_.take_output().empty());
  }

 private:
  SessionEnv env() {
    return SessionEnv{[] { return std::chrono::system_clock::time_point(std::chrono::seconds(1704164645)); },
                      [this] { return "ID" + std::to_string(++ids_); }};
  }
  static ConnectionFacts facts() {
    ConnectionFacts f;
    f.client_ip = "192.0.2.1";
    return f;
  }
  // Completes what the session asks for, as server/connection.cpp does.
  void drive() {
    while (!closed_) {
      check_output(s_.take_output());
      switch (s_.action()) {
        case ServerSession::Action::read:
          check(!s_.in_data() || s_.in_transaction());
          check(__sanitizer_get_current_allocated_bytes() <= baseline_ + bound_);
          return;
        case ServerSession::Action::commit: {
          AcceptedMessage m = s_.take_message();
          check_message(m, o_);
          check(s_.in_transaction());
          s_.commit_done(commit_fails_ ? Result<void>(make_error("fuzz")) : Result<void>());
          commit_fails_ = false;
          break;
        }
        case ServerSession::Action::start_tls:
          if (tls_fails_) {
            s_.tls_failed();
          } else {
            s_.tls_started(TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256", false, {}});
            check(s_.facts().tls && s_.facts().helo.empty() && !s_.in_transaction());
          }
          tls_fails_ = false;
          break;
        case ServerSession::Action::close:
          closed_ = true;
          break;
        case ServerSession::Action::authenticate: {  // deferred_auth is off here; complete it anyway
          Credentials c = s_.take_credentials();
          s_.auth_done(policy_.authenticate(s_.facts(), c.user, c.password));
          break;
        }
      }
    }
  }

  ServerOptions o_;
  std::size_t bound_;
  std::size_t baseline_ = 0;
  AcceptAll policy_;
  int ids_ = 0;
  bool commit_fails_ = false;
  bool tls_fails_ = false;
  bool closed_ = false;
  ServerSession s_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  ServerOptions o;
  o.hostname = "mx.fuzz.example";
  o.max_command_line = 64 + 8 * std::size_t{data[0]};
  o.max_recipients = 1 + data[1] % 8;
  o.max_message_size = ((std::uint64_t{data[2]} << 8) | data[3]) % 8193;
  o.max_errors = data[4] % 31;
  o.max_hop_count = data[5] % 6;
  o.starttls_available = (data[6] & 1) != 0;
  const std::uint8_t mode = data[7];
  std::string_view text(reinterpret_cast<const char*>(data) + 8, size - 8);
  // Buffers may hold one read, one command line, one message and the replies to one read.
  const std::size_t bound = 4 * size + 4 * (o.max_command_line + o.max_message_size) + (64 << 10);

  Driver d(o, bound);
  if (mode >= 128) {
    const std::size_t chunk = mode - 127;
    while (!text.empty() && !d.closed()) {
      d.feed(text.substr(0, chunk));
      text.remove_prefix(std::min(chunk, text.size()));
    }
  } else {
    auto next_line = [&text] {
      const std::size_t lf = text.find('\n');
      std::string_view line = text.substr(0, lf == std::string_view::npos ? text.size() : lf + 1);
      text.remove_prefix(line.size());
      return line;
    };
    while (!text.empty() && !d.closed()) {
      std::string_view line = next_line();
      if (line.size() >= 2 && static_cast<unsigned char>(line[0]) == 0xFF) {
        if (line[1] == 'P' && line.size() >= 3 && line[2] >= '1' && line[2] <= '9') {
          std::string group;
          for (int n = line[2] - '0'; n > 0 && !text.empty(); --n) group += next_line();
          d.feed(group);
        } else {
          d.directive(line[1]);
        }
        continue;
      }
      d.feed(line);
    }
  }
  d.finish();
  return 0;
}
