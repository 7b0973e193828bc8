// cli/validate_connector.cpp — `mailflow validate-connector NAME --to ADDR [--send]` (R-OUT-10).
//
// Finds the outbound connector by name (case-insensitive, across organizations; a disabled one is
// validated too and says so), builds its next hop for the recipient exactly as routing does
// (routing::next_hop_via), and hands it to delivery/probe: DNS as the engine resolves it, then per
// host the engine's own SMTP client and TLS policy, up to RCPT (DATA only with --send). Prints the
// report host by host (or one JSON object with --json). Advisory: nothing is queued, nothing in the
// configuration changes.
// Exit codes: 0 at least one host accepted the recipient (and the test message with --send): the
// connector can deliver; 1 no host did, or a user/configuration error (unknown connector, bad
// address, unreadable config or certificate).
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "core/domain.hpp"
#include "core/message_id.hpp"
#include "delivery/probe.hpp"
#include "dns/resolver.hpp"
#include "routing/outbound.hpp"
#include "tls/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace mf::cli {

namespace {

using json = nlohmann::ordered_json;
namespace asio = boost::asio;

int user_error(const std::string& message) {
  std::cerr << "mailflow validate-connector: " << message << "\n";
  return 1;
}

std::string strip_brackets(std::string s) {
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') return s.substr(1, s.size() - 2);
  return s;
}

std::string host_port_text(const config::HostPort& h) {
  if (h.port == 0) return h.host;
  if (h.host.find(':') != std::string::npos) return "[" + h.host + "]:" + std::to_string(h.port);
  return h.host + ":" + std::to_string(h.port);
}

json reply_json(const Reply& r) { return json{{"code", r.code}, {"enhanced", r.enhanced}, {"text", r.text}}; }

json steps_json(const std::vector<delivery::ProbeStep>& steps) {
  json out = json::array();
  for (const auto& s : steps) out.push_back({{"step", s.name}, {"status", delivery::to_string(s.status)}, {"detail", s.detail}});
  return out;
}

json host_json(const delivery::ProbeHost& h) {
  json j;
  j["label"] = h.label();
  j["name"] = h.target.name;
  j["ip"] = h.target.ip.str();
  j["port"] = h.target.port;
  j["passed"] = h.passed;
  j["reason"] = h.reason;
  j["connected"] = h.connected;
  j["extensions"] = h.extensions;
  j["starttls_offered"] = h.starttls_offered;
  j["tls_active"] = h.tls;
  j["tls_policy"] = h.tls_policy;
  if (h.tls_attempt) {
    const auto& a = *h.tls_attempt;
    json t;
    t["handshake_ok"] = a.handshake_ok;
    t["handshake_error"] = a.handshake_error;
    t["version"] = a.peer.version;
    t["cipher"] = a.peer.cipher;
    t["certificate"] = a.peer.cert_presented ? json{{"subject", a.peer.subject},
                                                    {"issuer", a.peer.issuer},
                                                    {"names", a.peer.names},
                                                    {"reference_names", a.peer.reference_names},
                                                    {"trusted", a.peer.cert_verified},
                                                    {"verify_error", a.peer.verify_error}}
                                             : json(nullptr);
    const char* verdict = a.outcome.verdict == routing::TlsVerdict::proceed_tls     ? "proceed_tls"
                          : a.outcome.verdict == routing::TlsVerdict::proceed_plain ? "proceed_plain"
                                                                                    : "fail_host";
    t["verdict"] = verdict;
    t["reason"] = a.outcome.reason;
    j["tls"] = std::move(t);
  } else {
    j["tls"] = nullptr;
  }
  j["rcpt_accepted"] = h.rcpt_accepted;
  j["data_sent"] = h.data_sent;
  j["message_accepted"] = h.message_accepted;
  json replies = json::array();
  for (const auto& r : h.replies) {
    json one = reply_json(r.reply);
    one["command"] = r.command;
    one["lines"] = r.lines;  // as received (reply_json's enhanced code may be synthesized)
    replies.push_back(std::move(one));
  }
  j["replies"] = std::move(replies);
  j["steps"] = steps_json(h.steps);
  return j;
}

json report_json(const delivery::ProbeReport& r, int exit_code) {
  json j;
  j["connector"] = r.connector;
  j["organization"] = r.organization;
  j["enabled"] = r.enabled;
  j["destination"] = r.destination;
  j["tls_settings"] = delivery::tls_settings_name(r.tls);
  j["tls_domain"] = r.tls_domain;
  j["from"] = r.sender;
  j["to"] = r.recipient;
  j["send"] = r.send;
  j["notes"] = r.notes;
  json targets = json::array();
  for (const auto& t : r.resolution.targets) targets.push_back({{"name", t.name}, {"ip", t.ip.str()}, {"port", t.port}});
  j["resolution"] = {{"steps", steps_json(r.resolution.steps)}, {"targets", std::move(targets)}};
  json hosts = json::array();
  json passed = json::array();
  for (const auto& h : r.hosts) {
    hosts.push_back(host_json(h));
    if (h.passed) passed.push_back(h.label());
  }
  j["hosts"] = std::move(hosts);
  j["passed_hosts"] = std::move(passed);
  j["can_deliver"] = r.can_deliver();
  j["exit_code"] = exit_code;
  return j;
}

}  // namespace

int validate_connector(const ValidateConnectorOptions& opt) {
  auto loaded = config::load_file(opt.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
    return user_error(opt.config_path + ": " + std::to_string(loaded.errors.size()) + " configuration error" +
                      (loaded.errors.size() == 1 ? "" : "s"));
  }
  const config::Snapshot& snap = *loaded.snapshot;

  // The connector, by name, case-insensitively, in every organization.
  const config::OutboundConnector* connector = nullptr;
  std::size_t org = 0;
  std::vector<std::string> known, others;
  for (std::size_t o = 0; o < snap.organizations.size(); ++o) {
    for (const auto& c : snap.organizations[o].outbound_connectors) {
      known.push_back(c.name + " (" + snap.organizations[o].name + ")");
      if (!iequals(c.name, opt.connector)) continue;
      if (connector == nullptr) {
        connector = &c;
        org = o;
      } else {
        others.push_back(snap.organizations[o].name);
      }
    }
  }
  if (connector == nullptr) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return user_error("no outbound connector named \"" + opt.connector + "\"; outbound connectors: " +
                      (list.empty() ? std::string("none") : list));
  }

  auto to = Address::parse(strip_brackets(opt.to), /*allow_utf8=*/true);
  if (!to) return user_error("--to " + opt.to + ": not a valid address (" + to.error().message + ")");
  std::optional<Address> from;
  if (opt.from.empty()) {
    auto a = Address::parse("postmaster@" + snap.service.hostname, true);
    if (a) from = *a;
  } else if (opt.from != "<>") {
    auto a = Address::parse(strip_brackets(opt.from), true);
    if (!a) return user_error("--from " + opt.from + ": not a valid address (" + a.error().message + ")");
    from = *a;
  }

  const routing::NextHop hop = routing::next_hop_via(org, *connector, to->domain());

  delivery::ProbeReport report;
  report.connector = connector->name;
  report.organization = snap.organizations[org].name;
  report.enabled = connector->enabled;
  report.tls = connector->tls_settings;
  report.tls_domain = connector->tls_domain;
  report.sender = from ? from->str() : std::string();
  report.recipient = to->str();
  report.send = opt.send;
  if (hop.kind == routing::NextHop::Kind::smart_hosts) {
    std::string hosts;
    for (const auto& h : connector->smart_hosts) hosts += (hosts.empty() ? "" : ", ") + host_port_text(h);
    report.destination = "smart hosts " + hosts + " (default port " + std::to_string(snap.service.remote_smtp_port) + ")";
    if (connector->smart_hosts.size() > 1)
      report.notes.push_back("every smart host is validated in config order; delivery starts round robin (R-OUT-4)");
  } else {
    report.destination = "MX of " + hop.mx_domain + " (use_mx_record), port " + std::to_string(snap.service.remote_smtp_port);
  }
  if (!connector->enabled) report.notes.push_back("the connector is disabled: validated anyway, mail does not use it");
  if (connector->is_transport_rule_scoped)
    report.notes.push_back("the connector is rule-scoped: only mail a mail flow rule routes to it uses it");
  bool covered = false;
  for (const auto& p : connector->recipient_domains) covered = covered || p.matches(to->domain());
  if (!covered && !connector->is_transport_rule_scoped)
    report.notes.push_back(to->domain().str() + " is not in the connector's recipient_domains: mail to it does not use this connector");
  if (!others.empty()) {
    std::string list;
    for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
    report.notes.push_back("a connector of the same name also exists in " + list + "; the one of " +
                           report.organization + " is validated");
  }
  if (snap.service.source_address) report.notes.push_back("connections bind to source address " + snap.service.source_address->str());
  if (snap.service.tls && !snap.service.tls->certificate.empty())
    report.notes.push_back("the service certificate " + snap.service.tls->certificate + " is offered as client certificate");

  delivery::ProbeSettings settings;
  settings.helo_name = snap.service.hostname;
  settings.source_address = snap.service.source_address;
  settings.tls = hop.tls;
  settings.tls_domain = hop.tls_domain;
  settings.sender = from;
  settings.recipient = *to;
  settings.send = opt.send;
  if (opt.send) {
    settings.message = delivery::test_message(from, *to, snap.service.hostname, connector->name, system_clock().now(),
                                              new_message_id() + ".validate");
  }

  auto client_ctx = tls::make_client_context(snap.service.tls ? &*snap.service.tls : nullptr);
  if (!client_ctx) return user_error("outbound TLS: " + client_ctx.error().message);

  spdlog::set_level(spdlog::level::warn);
  asio::io_context io;
  std::exception_ptr failure;
  {
    auto resolver = dns::make_unbound_resolver(io.get_executor(), snap.service.dns, system_clock());
    const asio::any_io_executor ex = io.get_executor();
    asio::co_spawn(io, delivery::probe_next_hop(ex, *resolver, *client_ctx, snap, hop, settings, report),
                   [&failure](std::exception_ptr e) { failure = e; });
    io.run();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return user_error(std::string("internal error: ") + e.what());
    }
  }

  const int code = report.can_deliver() ? 0 : 1;
  if (opt.json) {
    std::cout << report_json(report, code).dump(2) << "\n";
  } else {
    std::cout << delivery::render_text(report);
  }
  return code;
}

}  // namespace mf::cli
