// Connector validation (contract in probe.hpp). The transaction itself is the delivery engine's:
// ClientConnection + smtp::ClientSession; this file only watches it (ClientOptions::on_reply, the
// connection's TlsAttempt) and writes down what it saw.
#include "delivery/probe.hpp"

#include "delivery/host_resolution.hpp"
#include "smtp/client_session.hpp"
#include "smtp/received.hpp"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <sstream>

namespace mf::delivery {

namespace asio = boost::asio;

namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::string ip_port(const IpAddress& ip, std::uint16_t port) {
  return (ip.v6 ? "[" + ip.str() + "]" : ip.str()) + ":" + std::to_string(port);
}


// Watches one host's connections and turns replies and the handshake into report steps.
class Recorder {
 public:
  Recorder(ProbeHost& host, const ProbeSettings& settings, const routing::TlsRequirement& req)
      : host_(host), settings_(settings), req_(req) {}

  // A new connection (the first, or the plain-text retry after a failed opportunistic handshake).
  void start(const ClientConnection* conn) {
    conn_ = conn;
    starttls_sent_ = false;
    tls_reported_ = false;
    first_hello_ = true;
    connect_reported_ = false;
  }

  void step(std::string name, StepStatus status, std::string detail) {
    host_.steps.push_back(ProbeStep{std::move(name), status, std::move(detail)});
  }
  bool last_failed() const { return !host_.steps.empty() && host_.steps.back().status == StepStatus::failed; }

  void connected(const Target& t) {
    if (connect_reported_) return;
    connect_reported_ = true;
    host_.connected = true;
    std::string detail = ip_port(t.ip, t.port);
    if (settings_.source_address) detail += " from " + settings_.source_address->str();
    step("connect", StepStatus::ok, std::move(detail));
  }

  void reply(std::string_view command, const Reply& r, const std::vector<std::string>& lines) {
    host_.replies.push_back(ProbeReply{std::string(command), r, lines});
    const bool good = r.code >= 200 && r.code < 400;
    const StepStatus st = good ? StepStatus::ok : StepStatus::failed;
    // The reply as the server wrote it (the session synthesizes enhanced codes it did not send).
    std::string text = std::to_string(r.code);
    for (const auto& l : lines) {
      if (!l.empty()) text += " " + l;
    }
    if (command == "greeting") {
      connected(host_.target);
      return step("banner", st, std::move(text));
    }
    if (command == "EHLO" || command == "HELO") {
      if (starttls_sent_ && !tls_reported_) tls_steps();
      hello(command, r.code, lines, st);
      return;
    }
    if (command == "STARTTLS") {
      starttls_sent_ = r.code == 220;
      return step("STARTTLS", st, std::move(text));
    }
    if (command == "RCPT TO" && r.code / 100 == 2) host_.rcpt_accepted = true;
    if (command == "DATA") host_.data_sent = true;
    if (command == "end of data" && r.code / 100 == 2) host_.message_accepted = true;
    step(std::string(command), command == "QUIT" ? StepStatus::info : st, std::move(text));
  }

  // The STARTTLS handshake and the policy verdict, once the connection knows them.
  void tls_steps() {
    tls_reported_ = true;
    if (conn_ == nullptr || !conn_->tls_attempt()) return;
    const TlsAttempt& a = *conn_->tls_attempt();
    host_.tls_attempt = a;
    if (!a.handshake_ok) {
      step("TLS", StepStatus::failed, "handshake failed: " + (a.handshake_error.empty() ? "unknown error" : a.handshake_error));
    } else {
      step("TLS", StepStatus::ok, a.peer.version + ", " + a.peer.cipher);
      std::string cert;
      if (!a.peer.cert_presented) {
        cert = "none presented";
      } else {
        cert = "subject " + a.peer.subject;
        if (!a.peer.names.empty()) cert += "; names " + join(a.peer.names, ", ");
        cert += "; issuer " + a.peer.issuer;
        cert += a.peer.cert_verified ? "; chain trusted" : "; chain not trusted (" + a.peer.verify_error + ")";
      }
      step("certificate", StepStatus::info, std::move(cert));
    }
    host_.tls_policy = describe_tls(settings_.tls, settings_.tls_domain, req_, true, a);
    const bool ok = a.outcome.verdict == routing::TlsVerdict::proceed_tls;
    if (ok) host_.tls = true;
    step("TLS policy", ok ? StepStatus::ok : (a.outcome.reconnect ? StepStatus::info : StepStatus::failed),
         host_.tls_policy);
  }

  bool starttls_sent() const { return starttls_sent_; }
  bool tls_reported() const { return tls_reported_; }

 private:
  void hello(std::string_view command, int code, const std::vector<std::string>& lines, StepStatus st) {
    std::vector<std::string> keywords;
    for (std::size_t i = 1; i < lines.size(); ++i) keywords.push_back(ascii_upper_copy(lines[i]));
    std::string detail = std::to_string(code);
    if (!lines.empty() && !lines[0].empty()) detail += " " + lines[0];
    if (command == "EHLO" && st == StepStatus::ok) {
      host_.extensions = keywords;
      detail += keywords.empty() ? "; no extensions" : "; extensions: " + join(keywords, ", ");
    } else {
      for (const auto& k : keywords) detail += " " + k;
    }
    if (host_.tls && !first_hello_) detail += " (after STARTTLS)";
    step(std::string(command), st, std::move(detail));
    if (!first_hello_ || st != StepStatus::ok) return;
    first_hello_ = false;
    if (settings_.tls == config::TlsSettings::opportunistic && conn_ != nullptr && host_.tls_attempt &&
        host_.tls_attempt->outcome.reconnect) {
      // The plain-text retry after a failed opportunistic handshake: STARTTLS is not tried again.
      step("TLS policy", StepStatus::info, "opportunistic: no STARTTLS on the retry: plain text, no TLS");
      return;
    }
    const bool offered = std::any_of(keywords.begin(), keywords.end(), [](const std::string& k) {
      return k == "STARTTLS" || k.starts_with("STARTTLS ");
    });
    host_.starttls_offered = offered;
    if (!offered) {
      host_.tls_policy = describe_tls(settings_.tls, settings_.tls_domain, req_, false, std::nullopt);
      step("TLS policy", req_.starttls_required ? StepStatus::failed : StepStatus::ok, host_.tls_policy);
    }
  }

  static std::string ascii_upper_copy(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
  }

  ProbeHost& host_;
  const ProbeSettings& settings_;
  const routing::TlsRequirement& req_;
  const ClientConnection* conn_ = nullptr;
  bool starttls_sent_ = false;
  bool tls_reported_ = false;
  bool first_hello_ = true;
  bool connect_reported_ = false;
};

}  // namespace

const char* to_string(StepStatus s) {
  switch (s) {
    case StepStatus::ok: return "ok";
    case StepStatus::failed: return "failed";
    case StepStatus::info: return "info";
  }
  return "info";
}

const char* tls_settings_name(config::TlsSettings s) {
  switch (s) {
    case config::TlsSettings::opportunistic: return "opportunistic";
    case config::TlsSettings::encryption_only: return "encryption_only";
    case config::TlsSettings::certificate_validation: return "certificate_validation";
    case config::TlsSettings::domain_validation: return "domain_validation";
  }
  return "opportunistic";
}

std::string ProbeHost::label() const {
  if (target.name.empty() || target.name == target.ip.str()) return ip_port(target.ip, target.port);
  return target.name + "[" + target.ip.str() + "]:" + std::to_string(target.port);
}

bool ProbeReport::can_deliver() const {
  return std::any_of(hosts.begin(), hosts.end(), [](const ProbeHost& h) { return h.passed; });
}

// ---------------------------------------------------------------------------------------------------
// Name resolution: the engine's own core (host_resolution.hpp), walked as OutboundEngine::Impl::targets() does.

namespace {

asio::awaitable<void> resolve_name(dns::Resolver& resolver, const std::string& name, std::uint16_t port,
                                   std::mt19937& rng, ProbeResolution& out) {
  auto r = co_await resolve_host_name(resolver, name, /*via_mx=*/true, rng);
  switch (r.mx_status) {
    case dns::Status::ok: {
      std::vector<std::string> shown;
      for (const auto& h : r.hosts) shown.push_back(std::to_string(h.preference) + " " + h.name);
      out.steps.push_back(ProbeStep{"MX", StepStatus::ok, name + ": " + join(shown, ", ")});
      break;
    }
    case dns::Status::nodata:
      out.steps.push_back(ProbeStep{"MX", StepStatus::info, name + ": no MX records: its A/AAAA records are used"});
      break;
    case dns::Status::null_mx:
      out.steps.push_back(ProbeStep{"MX", StepStatus::failed,
                                    name + ": null MX (RFC 7505): the domain accepts no mail (delivery fails with 5.1.10)"});
      co_return;
    case dns::Status::nxdomain:
      out.steps.push_back(ProbeStep{"MX", StepStatus::failed, name + ": NXDOMAIN: the name does not exist"});
      co_return;
    case dns::Status::temp_fail:
      out.steps.push_back(ProbeStep{"MX", StepStatus::failed, name + ": lookup failed: " + r.mx_error});
      co_return;
  }
  for (const auto& h : r.hosts) {
    const std::string& n = h.name;
    const dns::AddressAnswer& a = h.answer;
    if (a.status == dns::Status::ok) {
      std::vector<std::string> ips;
      for (const auto& ip : a.addresses) {
        ips.push_back(ip.str());
        out.targets.push_back(Target{n, ip, port});
      }
      out.steps.push_back(ProbeStep{"A/AAAA", StepStatus::ok, n + ": " + join(ips, ", ")});
    } else {
      std::string why = dns::to_string(a.status);
      if (!a.error.empty() && a.error != why) why += " (" + a.error + ")";
      out.steps.push_back(ProbeStep{"A/AAAA", StepStatus::failed, n + ": no address: " + why});
    }
  }
}

}  // namespace

asio::awaitable<ProbeResolution> resolve_hosts(dns::Resolver& resolver, const routing::NextHop& hop,
                                               std::uint16_t default_port, std::mt19937& rng) {
  ProbeResolution out;
  if (hop.kind == routing::NextHop::Kind::smart_hosts) {
    for (const auto& c : routing::smart_host_candidates(hop.smart_hosts, default_port)) {
      if (c.is_ip) {
        if (auto ip = IpAddress::parse(c.name)) {
          out.targets.push_back(Target{c.name, *ip, c.port});
          out.steps.push_back(ProbeStep{"IP", StepStatus::ok, c.name + ": an IP address, used as is"});
        }
        continue;
      }
      co_await resolve_name(resolver, c.name, c.port, rng, out);
    }
  } else {
    co_await resolve_name(resolver, hop.mx_domain, default_port, rng, out);
  }
  co_return out;
}

// ---------------------------------------------------------------------------------------------------
// One host.

asio::awaitable<ProbeHost> probe_host(const asio::any_io_executor& executor,
                                      const std::shared_ptr<asio::ssl::context>& tls_client, const Target& target,
                                      const ProbeSettings& settings) {
  ProbeHost host;
  host.target = target;
  const routing::TlsRequirement req = routing::tls_requirement(settings.tls, settings.tls_domain, target.name);
  Recorder rec(host, settings, req);

  smtp::ClientOptions opts;
  opts.helo_name = settings.helo_name;
  opts.tls = client_tls(req);
  opts.on_reply = [&rec](std::string_view command, const Reply& r, const std::vector<std::string>& lines) {
    rec.reply(command, r, lines);
  };

  auto conn = std::make_unique<ClientConnection>(executor, tls_client, settings.reply_timeout);
  rec.start(conn.get());
  std::string error;
  bool ok = co_await conn->open(target, settings.source_address, settings.connect_timeout, opts, req, error);
  if (!ok && conn->tls_reconnect()) {
    // Opportunistic TLS whose handshake failed: delivery connects again without STARTTLS; so do we.
    if (!rec.tls_reported()) rec.tls_steps();
    rec.step("reconnect", StepStatus::info, "opportunistic TLS failed: connecting again without STARTTLS");
    co_await conn->quit();
    conn = std::make_unique<ClientConnection>(executor, tls_client, settings.reply_timeout);
    rec.start(conn.get());
    opts.tls = smtp::ClientOptions::Tls::never;
    error.clear();
    ok = co_await conn->open(target, settings.source_address, settings.connect_timeout, opts, req, error);
  }
  if (!ok) {
    if (!conn->connected()) {
      rec.step("connect", StepStatus::failed, ip_port(target.ip, target.port) + ": " + error);
    } else {
      rec.connected(target);
      if (rec.starttls_sent() && !rec.tls_reported()) rec.tls_steps();
      if (!rec.last_failed()) rec.step("connection", StepStatus::failed, error);
    }
  } else {
    smtp::OutboundMessage msg;
    msg.envelope.sender = settings.sender;
    msg.envelope.recipients.push_back(EnvelopeRecipient{settings.recipient, notify_none, {}});
    if (settings.send) {
      msg.data = settings.message;
    } else {
      msg.stop_after_rcpt = true;
    }
    co_await conn->send(std::move(msg));
    const auto& results = conn->session().results();
    if (!results.empty() && results[0].status != smtp::RcptStatus::delivered && !rec.last_failed()) {
      // Refused before anything was sent (SIZE, SMTPUTF8) or lost without a reply.
      const std::string phase = results[0].phase.empty() ? std::string("transaction") : results[0].phase;
      rec.step(phase, StepStatus::failed, results[0].reply.one_line());
    }
    if (!settings.send) {
      rec.step("DATA", StepStatus::info, "not sent: validation stops after RCPT TO (--send sends a test message)");
    }
  }
  co_await conn->quit();
  judge_host(host, settings.send);
  co_return host;
}

asio::awaitable<void> probe_next_hop(const asio::any_io_executor& executor, dns::Resolver& resolver,
                                     const std::shared_ptr<asio::ssl::context>& tls_client,
                                     const config::Snapshot& snapshot, const routing::NextHop& hop,
                                     const ProbeSettings& settings, ProbeReport& report) {
  std::mt19937 rng{std::random_device{}()};
  const std::uint16_t default_port = snapshot.service.remote_smtp_port;
  report.resolution = co_await resolve_hosts(resolver, hop, default_port, rng);
  const std::vector<IpAddress> local = interface_addresses();
  for (const auto& t : report.resolution.targets) {
    if (routing::is_own_listener(snapshot, t.ip, t.port, local)) {
      ProbeHost h;
      h.target = t;
      h.steps.push_back(ProbeStep{"loop check", StepStatus::failed,
                                  ip_port(t.ip, t.port) +
                                      " is this service's own listener: delivery refuses it (R-LOOP-1, 5.3.5); not contacted"});
      judge_host(h, settings.send);
      report.hosts.push_back(std::move(h));
      continue;
    }
    ProbeHost h = co_await probe_host(executor, tls_client, t, settings);
    report.hosts.push_back(std::move(h));
  }
}

// ---------------------------------------------------------------------------------------------------
// Pure pieces.

std::string describe_tls(config::TlsSettings settings, const std::string& tls_domain,
                         const routing::TlsRequirement& req, bool starttls_offered,
                         const std::optional<TlsAttempt>& attempt) {
  std::string out = std::string(tls_settings_name(settings)) + ": ";
  if (!starttls_offered || !attempt) {
    const auto o = routing::tls_decide(req, false, false, "", false, {});
    if (o.verdict == routing::TlsVerdict::proceed_plain) return out + "STARTTLS not offered: plain text, no TLS: ok";
    return out + "STARTTLS not offered but TLS is required: failed (" + o.reason + ")";
  }
  const TlsAttempt& a = *attempt;
  if (!a.handshake_ok) {
    out += "TLS handshake failed";
    if (!a.handshake_error.empty()) out += " (" + a.handshake_error + ")";
    if (a.outcome.verdict == routing::TlsVerdict::proceed_plain) return out + ": delivery connects again in plain text";
    return out + ": failed (" + a.outcome.reason + ")";
  }
  std::vector<std::string> facts;
  if (!req.verify_chain) facts.push_back(a.peer.version + ", certificate not checked");
  if (req.verify_chain) {
    facts.push_back(a.peer.cert_verified ? "certificate chain trusted"
                                         : "certificate not trusted (" +
                                               (a.peer.verify_error.empty() ? std::string("no certificate") : a.peer.verify_error) +
                                               ")");
  }
  if (req.verify_name) {
    const std::string what = tls_domain.empty() ? "host name" : "tls_domain";
    if (req.acceptable_names.empty()) {
      facts.push_back("no name to check: the host is an IP address and tls_domain is not set");
    } else {
      std::string matched_cert, matched_want;
      for (const auto& want : req.acceptable_names) {
        for (const auto& cert : a.peer.reference_names) {
          if (matched_cert.empty() && routing::certificate_name_matches({cert}, {want})) {
            matched_cert = cert;
            matched_want = want;
          }
        }
      }
      if (!matched_cert.empty()) {
        facts.push_back("certificate name " + matched_cert + " matches " + what + " " + matched_want);
      } else {
        const std::string names = a.peer.reference_names.empty() ? std::string("none") : join(a.peer.reference_names, ", ");
        facts.push_back("no certificate name (" + names + ") matches " + what + " " + join(req.acceptable_names, ", "));
      }
    }
  }
  out += join(facts, "; ");
  if (a.outcome.verdict == routing::TlsVerdict::proceed_tls) return out + ": ok";
  return out + ": failed (" + a.outcome.reason + ")";
}

void judge_host(ProbeHost& host, bool sent_message) {
  host.passed = host.rcpt_accepted && (!sent_message || host.message_accepted);
  host.reason.clear();
  if (host.passed) return;
  for (auto it = host.steps.rbegin(); it != host.steps.rend(); ++it) {
    if (it->status == StepStatus::failed) {
      host.reason = it->name + ": " + it->detail;
      return;
    }
  }
  host.reason = host.rcpt_accepted ? "the test message was not accepted" : "RCPT TO was not accepted";
}

std::string test_message(const std::optional<Address>& sender, const Address& recipient, const std::string& hostname,
                         const std::string& connector, SysTime now, const std::string& message_id) {
  std::string m;
  m += "From: <" + (sender ? sender->str() : "MAILER-DAEMON@" + hostname) + ">\r\n";
  m += "To: <" + recipient.str() + ">\r\n";
  m += "Subject: mailflow connector validation\r\n";
  m += "Date: " + smtp::rfc5322_date(now) + "\r\n";
  m += "Message-ID: <" + message_id + "@" + hostname + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  m += "This is a test message sent by \"mailflow validate-connector " + connector + " --send\" on " + hostname +
       "\r\n";
  m += "to check that the outbound connector can deliver. It needs no answer and can be deleted.\r\n";
  return m;
}

std::string render_text(const ProbeReport& r) {
  std::ostringstream os;
  os << "Outbound connector \"" << r.connector << "\" (organization " << r.organization << ")"
     << (r.enabled ? "" : " -- DISABLED: mail does not use it until it is enabled; validated anyway") << "\n";
  os << "  destination  " << r.destination << "\n";
  os << "  TLS          " << tls_settings_name(r.tls);
  if (!r.tls_domain.empty()) os << ", tls_domain " << r.tls_domain;
  os << "\n";
  os << "  envelope     MAIL FROM:<" << r.sender << "> RCPT TO:<" << r.recipient << ">\n";
  os << "  DATA         " << (r.send ? "a test message is sent to every host that accepts the recipient"
                                      : "not sent (--send sends a test message)")
     << "\n";
  for (const auto& n : r.notes) os << "  note         " << n << "\n";

  auto line = [&os](const ProbeStep& s) {
    const char* mark = s.status == StepStatus::ok ? "ok  " : s.status == StepStatus::failed ? "FAIL" : "-   ";
    std::string name = s.name;
    if (name.size() < 12) name.resize(12, ' ');
    os << "  " << mark << "  " << name << " " << s.detail << "\n";
  };
  os << "\nresolve\n";
  for (const auto& s : r.resolution.steps) line(s);
  if (r.resolution.targets.empty()) os << "  FAIL  no address to connect to\n";

  std::vector<std::string> passed;
  for (std::size_t i = 0; i < r.hosts.size(); ++i) {
    const ProbeHost& h = r.hosts[i];
    os << "\nhost " << i + 1 << " of " << r.hosts.size() << ": " << h.label() << "\n";
    for (const auto& s : h.steps) line(s);
    if (h.passed) {
      passed.push_back(h.label());
      os << "  => passed: " << (r.send ? "recipient and test message accepted" : "recipient accepted") << "\n";
    } else {
      os << "  => FAILED: " << h.reason << "\n";
    }
  }
  os << "\nsummary: " << passed.size() << " of " << r.hosts.size() << " host" << (r.hosts.size() == 1 ? "" : "s")
     << " passed";
  if (!passed.empty()) os << " (" << join(passed, ", ") << ")";
  if (r.can_deliver()) {
    os << "; the connector can deliver to " << r.recipient << "\n";
  } else {
    os << "; the connector cannot deliver to " << r.recipient
       << " now (validation is advisory: the connector is not changed)\n";
  }
  return os.str();
}

}  // namespace mf::delivery
