// cli/route.cpp — `mailflow route`: a dry run of the routing decision (SPEC §5).
//
// Loads the configuration, builds the ConnectionFacts a real session would have, and replays the
// transaction through the same pure functions the server uses: routing::check_recipient() for
// every RCPT (accepted recipients join the envelope before the next one, as in the session), then
// routing::plan_message() on a synthetic message. It prints the attribution, each recipient's
// resolution and the rules that fired, the copies with their next hops and TLS policy, NDRs and
// drops, and the SMTP replies. Nothing is sent: no DNS, no sockets, no spool.
// Exit codes: 0 the command ran (refused recipients are an answer, not an error); 1 user or
// configuration error.
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/address.hpp"
#include "core/envelope.hpp"
#include "core/ip.hpp"
#include "core/reply.hpp"
#include "routing/attribution.hpp"
#include "routing/outbound.hpp"
#include "routing/plan.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf::cli {

namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kDefaultClientIp = "192.0.2.1";

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// "<a@b>" → "a@b" (the form users copy from logs).
std::string strip_brackets(std::string s) {
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') return s.substr(1, s.size() - 2);
  return s;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto comma = s.find(',');
    out.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// The reply as the client would read it, without the final CRLF.
std::string reply_text(const Reply& r) {
  std::string w = r.wire();
  if (w.size() >= 2 && w.ends_with("\r\n")) w.resize(w.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] == '\r' && i + 1 < w.size() && w[i + 1] == '\n') continue;
    out += w[i];
  }
  return out;
}

const char* tls_settings_name(config::TlsSettings s) {
  switch (s) {
    case config::TlsSettings::opportunistic:
      return "opportunistic";
    case config::TlsSettings::encryption_only:
      return "encryption_only";
    case config::TlsSettings::certificate_validation:
      return "certificate_validation";
    case config::TlsSettings::domain_validation:
      return "domain_validation";
  }
  return "opportunistic";
}

// A smart host as written in the config: "host", "host:port", "[v6]:port".
std::string host_port_text(const config::HostPort& h) {
  if (h.port == 0) return h.host;
  if (h.host.find(':') != std::string::npos) return "[" + h.host + "]:" + std::to_string(h.port);
  return h.host + ":" + std::to_string(h.port);
}

std::string address_text(const std::optional<Address>& a) { return a ? a->str() : std::string(); }

// Everything the dry run found out, for either output format.
struct Rcpt {
  std::string address;              // as parsed (canonical)
  std::string reply;
  std::optional<std::size_t> index;  // the envelope recipient it became, when accepted
};

struct Outcome {
  ConnectionFacts conn;
  bool default_client_ip = false;
  Envelope env;
  std::string hostname;
  std::string mail_reply;
  bool mail_ok = true;
  std::vector<Rcpt> rcpts;
  std::optional<std::string> data_reply;  // nullopt: DATA never sent (MAIL refused)
  routing::Attribution attribution;
  std::optional<routing::Plan> plan;
};

// The TLS policy of a remote copy, as the outbound engine would apply it to the first host.
routing::TlsRequirement requirement_of(const routing::NextHop& hop) {
  std::string first_host;
  if (hop.kind == routing::NextHop::Kind::smart_hosts && !hop.smart_hosts.empty()) first_host = hop.smart_hosts.front().host;
  return routing::tls_requirement(hop.tls, hop.tls_domain, first_host);
}

json edits_json(const routing::HeaderEdits& e) {
  json set = json::array();
  for (const auto& h : e.set_headers) set.push_back(json{{"name", h.name}, {"value", h.value}});
  json remove = json::array();
  for (const auto& h : e.remove_headers) remove.push_back(h);
  return json{{"set_headers", set}, {"remove_headers", remove}, {"prepend_subject", e.prepend_subject}};
}

json to_json(const config::Snapshot& snap, const Outcome& o) {
  json out;
  const auto& a = o.attribution;
  json steps = json::array();
  for (const auto& s : a.steps) steps.push_back(s);
  out["attribution"] = json{
      {"organization", a.organization ? json(snap.organizations[*a.organization].name) : json(nullptr)},
      {"kind", routing::to_string(a.kind)},
      {"connector", a.connector.empty() ? json(nullptr) : json(a.connector)},
      {"on_premises", a.on_premises},
      {"originating", a.originating},
      {"steps", steps}};

  json rcpt = json::array();
  for (const auto& r : o.rcpts) rcpt.push_back(json{{"address", r.address}, {"reply", r.reply}});
  out["smtp"] = json{{"mail", o.mail_reply},
                     {"rcpt", rcpt},
                     {"data", o.data_reply ? json(*o.data_reply) : json(nullptr)}};

  json recipients = json::array();
  json copies = json::array();
  json ndrs = json::array();
  json dropped = json::array();
  if (o.plan) {
    const routing::Plan& p = *o.plan;
    for (const auto& ex : p.recipients) {
      json st = json::array();
      for (const auto& s : ex.steps) st.push_back(s);
      json rules = json::array();
      for (const auto& h : ex.rules) {
        json actions = json::array();
        for (const auto& act : h.actions) actions.push_back(act);
        rules.push_back(json{{"rule", h.rule}, {"audit", h.audit}, {"actions", actions}});
      }
      recipients.push_back(json{{"address", ex.address.str()}, {"steps", st}, {"rules", rules}});
    }
    for (const auto& c : p.copies) {
      json rs = json::array();
      for (const auto& r : c.recipients) {
        rs.push_back(json{{"address", r.address.str()},
                          {"envelope_recipient", o.env.recipients[r.index].address.str()}});
        // Other envelope recipients sharing this one delivery (one file per mailbox).
        for (auto j : r.also) {
          rs.push_back(json{{"address", r.address.str()},
                            {"envelope_recipient", o.env.recipients[j].address.str()},
                            {"shares_delivery_with", o.env.recipients[r.index].address.str()}});
        }
      }
      json copy{{"kind", c.kind == routing::Copy::Kind::local ? "local" : "remote"}, {"recipients", rs}};
      if (c.kind == routing::Copy::Kind::local) {
        copy["connector"] = nullptr;
        copy["next_hop"] = nullptr;
        copy["tls"] = nullptr;
      } else {
        const routing::NextHop& hop = c.hop;
        json hosts = json::array();
        for (const auto& h : hop.smart_hosts) hosts.push_back(host_port_text(h));
        const bool smart = hop.kind == routing::NextHop::Kind::smart_hosts;
        copy["connector"] = hop.connector.empty() ? json(nullptr) : json(hop.connector);
        copy["next_hop"] = json{{"kind", smart ? "smart_hosts" : "mx"},
                                {"hosts", hosts},
                                {"mx_domain", smart ? json(nullptr) : json(hop.mx_domain)}};
        const routing::TlsRequirement req = requirement_of(hop);
        json names = json::array();
        for (const auto& n : req.acceptable_names) names.push_back(n);
        copy["tls"] = json{{"settings", tls_settings_name(hop.tls)},
                           {"tls_domain", hop.tls_domain.empty() ? json(nullptr) : json(hop.tls_domain)},
                           {"starttls_required", req.starttls_required},
                           {"verify_chain", req.verify_chain},
                           {"verify_name", req.verify_name},
                           {"acceptable_names", names}};
      }
      copy["edits"] = edits_json(c.edits);
      copy["why"] = c.why;
      copies.push_back(std::move(copy));
    }
    for (const auto& f : p.failures) {
      ndrs.push_back(json{{"address", f.address.str()}, {"status", f.status}, {"diagnostic", f.diagnostic}});
    }
    for (const auto& d : p.drops) dropped.push_back(json{{"address", d.address.str()}, {"reason", d.reason}});
  }
  out["recipients"] = recipients;
  out["copies"] = copies;
  out["ndrs"] = ndrs;
  out["dropped"] = dropped;
  return out;
}

std::string edits_text(const routing::HeaderEdits& e) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : "; ") + part; };
  if (!e.prepend_subject.empty()) add("prepend subject \"" + e.prepend_subject + "\"");
  for (const auto& h : e.set_headers) add("set " + h.name + ": " + h.value);
  for (const auto& h : e.remove_headers) add("remove " + h);
  return s;
}

std::string tls_text(const routing::NextHop& hop) {
  const routing::TlsRequirement req = requirement_of(hop);
  std::string s = tls_settings_name(hop.tls);
  if (!hop.tls_domain.empty()) s += ", tls_domain " + hop.tls_domain;
  s += ": ";
  if (!req.starttls_required) return s + "STARTTLS if offered, plain text otherwise, no certificate check";
  s += "STARTTLS required";
  s += req.verify_chain ? ", certificate chain checked" : ", certificate not checked (self-signed accepted)";
  if (req.verify_name) {
    std::string names;
    for (const auto& n : req.acceptable_names) names += (names.empty() ? "" : ", ") + n;
    if (names.empty()) {
      names = hop.kind == routing::NextHop::Kind::mx ? "the MX host's name" : "none (IP smart host without tls_domain: fails)";
    }
    s += ", name must match " + names;
  }
  return s;
}

void print_human(std::ostream& os, const config::Snapshot& snap, const Outcome& o) {
  const auto& c = o.conn;
  os << "Connection (simulated, nothing is sent)\n";
  os << "  client IP:    " << c.client_ip << (o.default_client_ip ? " (default)" : "") << "\n";
  os << "  TLS:          " << (c.tls ? "yes" : "no") << "\n";
  if (!c.client_cert_names.empty()) os << "  certificate:  " << c.client_cert_names.front() << " (verified)\n";
  if (!c.authenticated_user.empty()) os << "  AUTH:         " << c.authenticated_user << " (submission)\n";

  const auto& a = o.attribution;
  os << "\nAttribution\n";
  os << "  organization: " << (a.organization ? snap.organizations[*a.organization].name : std::string("none")) << "\n";
  os << "  how:          " << routing::to_string(a.kind) << "\n";
  os << "  connector:    " << (a.connector.empty() ? std::string("none") : a.connector) << "\n";
  os << "  originating:  " << (a.originating ? "yes" : "no") << "\n";
  for (const auto& s : a.steps) os << "  - " << s << "\n";

  os << "\nRecipients\n";
  for (const auto& r : o.rcpts) {
    os << "  " << r.address << ": " << r.reply << "\n";
    if (!r.index || !o.plan) continue;
    for (const auto& ex : o.plan->recipients) {
      if (ex.index != *r.index) continue;
      for (const auto& s : ex.steps) os << "    - " << s << "\n";
      for (const auto& h : ex.rules) {
        std::string acts;
        for (const auto& act : h.actions) acts += (acts.empty() ? "" : ", ") + act;
        os << "    rule '" << h.rule << "'" << (h.audit ? " (audit: recorded only, not applied)" : "") << ": "
           << (acts.empty() ? std::string("no action") : acts) << "\n";
      }
    }
  }
  if (o.rcpts.empty()) os << "  (none: MAIL was refused)\n";

  if (o.plan) {
    const routing::Plan& p = *o.plan;
    os << "\nCopies\n";
    if (p.copies.empty()) os << "  (none)\n";
    for (std::size_t k = 0; k < p.copies.size(); ++k) {
      const routing::Copy& cp = p.copies[k];
      std::string list;
      for (const auto& r : cp.recipients) {
        std::string item = r.address.str();
        const std::string& orig = o.env.recipients[r.index].address.str();
        if (orig != item) item += " (for " + orig + ")";
        for (auto j : r.also) item += " (also for " + o.env.recipients[j].address.str() + ")";
        list += (list.empty() ? "" : ", ") + item;
      }
      if (cp.kind == routing::Copy::Kind::local) {
        os << "  " << (k + 1) << ". local mailboxes: " << list << "\n";
      } else {
        const routing::NextHop& hop = cp.hop;
        os << "  " << (k + 1) << ". remote: "
           << (hop.connector.empty() ? std::string("MX of ") + hop.mx_domain : "connector '" + hop.connector + "'")
           << "\n";
        os << "     recipients: " << list << "\n";
        if (hop.kind == routing::NextHop::Kind::smart_hosts) {
          std::string hosts;
          for (const auto& h : hop.smart_hosts) hosts += (hosts.empty() ? "" : ", ") + host_port_text(h);
          os << "     next hops:  " << hosts << (hop.smart_hosts.size() > 1 ? " (round robin)" : "") << "\n";
        } else {
          os << "     next hops:  MX of " << hop.mx_domain << "\n";
        }
        os << "     TLS:        " << tls_text(hop) << "\n";
      }
      if (!cp.edits.empty()) os << "     headers:    " << edits_text(cp.edits) << "\n";
      os << "     why:        " << cp.why << "\n";
    }
    if (!p.failures.empty()) {
      os << "\nNDRs\n";
      for (const auto& f : p.failures) os << "  " << f.address.str() << ": " << f.status << " (" << f.diagnostic << ")\n";
    }
    if (!p.drops.empty()) {
      os << "\nDropped\n";
      for (const auto& d : p.drops) os << "  " << d.address.str() << ": " << d.reason << "\n";
    }
  }

  os << "\nSMTP\n";
  os << "  MAIL FROM:<" << address_text(o.env.sender) << ">  " << o.mail_reply << "\n";
  for (const auto& r : o.rcpts) os << "  RCPT TO:<" << r.address << ">  " << r.reply << "\n";
  if (o.data_reply) os << "  DATA  " << *o.data_reply << "\n";
}

int user_error(const std::string& message) {
  std::cerr << "mailflow route: " << message << "\n";
  return 1;
}

}  // namespace

int route(const RouteOptions& opt) {
  auto loaded = config::load_file(opt.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
    std::cerr << opt.config_path << ": " << loaded.errors.size() << " error" << (loaded.errors.size() == 1 ? "" : "s")
              << "\n";
    return 1;
  }
  const config::Snapshot& snap = *loaded.snapshot;

  Outcome o;
  o.hostname = snap.service.hostname;

  // The connection a real session would have.
  ConnectionFacts& conn = o.conn;
  conn.listener = "route";
  conn.helo = "route";
  conn.client_ip = opt.client_ip.empty() ? std::string(kDefaultClientIp) : trim(opt.client_ip);
  o.default_client_ip = opt.client_ip.empty();
  if (auto ip = IpAddress::parse(conn.client_ip)) {
    conn.client_ip = ip->str();
  } else {
    return user_error("--client-ip '" + opt.client_ip + "' is not an IP address");
  }
  conn.tls = opt.tls;
  if (!opt.tls_cert_name.empty()) {
    conn.tls = true;
    conn.client_cert_verified = true;
    conn.client_cert_names.push_back(ascii_lower(trim(opt.tls_cert_name)));
  }

  // The envelope.
  const std::string from = strip_brackets(trim(opt.from));
  if (!from.empty()) {
    auto a = Address::parse(from, true);
    if (!a) return user_error("--from '" + opt.from + "' is not a valid address: " + a.error().message);
    o.env.sender = *a;
    o.env.smtputf8 = a->has_non_ascii();
  }
  std::vector<Address> to;
  for (const auto& item : split_list(opt.to)) {
    const std::string text = strip_brackets(item);
    if (text.empty()) return user_error("--to has an empty address in '" + opt.to + "'");
    auto a = Address::parse(text, true);
    if (!a) return user_error("--to '" + text + "' is not a valid address: " + a.error().message);
    o.env.smtputf8 = o.env.smtputf8 || a->has_non_ascii();
    to.push_back(*a);
  }

  // Submission: the mailbox authenticated; its MAIL FROM must be one of its own addresses (R-SUB-2).
  if (!opt.auth.empty()) {
    auto user = Address::parse(strip_brackets(trim(opt.auth)), true);
    const config::Recipient* mailbox = user ? snap.find_recipient(*user) : nullptr;
    if (mailbox == nullptr || mailbox->type != config::RecipientType::mailbox) {
      return user_error("--auth '" + opt.auth + "' is not a mailbox in " + opt.config_path +
                        " (a real session would fail AUTH with 535 5.7.8)");
    }
    conn.authenticated_user = mailbox->address.str();  // the session records the primary address
    conn.tls = true;  // submission requires STARTTLS before AUTH (R-SUB-1)
    bool owned = false;
    if (o.env.sender) {
      const std::string key = o.env.sender->key();
      owned = mailbox->address.key() == key;
      for (const auto& p : mailbox->proxy_addresses) owned = owned || p.key() == key;
    }
    if (!owned) {
      o.mail_ok = false;
      o.mail_reply = reply_text(make_reply(553, "5.7.1", "Sender address rejected: not owned by user"));
    }
  }

  if (o.mail_ok) {
    // R-IN-6 at MAIL FROM (one-organization services; see routing::check_sender).
    if (auto refused = routing::check_sender(snap, conn, o.env)) {
      o.mail_ok = false;
      o.mail_reply = reply_text(*refused);
    }
  }

  if (o.mail_ok) {
    o.mail_reply = reply_text(make_reply(250, "2.1.0", "Sender OK"));
    // Each RCPT in order, over the transaction so far (as smtp::ServerSession + ServicePolicy do).
    for (const auto& rcpt : to) {
      Rcpt r;
      r.address = rcpt.str();
      if (o.env.recipients.size() >= snap.service.max_recipients) {
        r.reply = reply_text(make_reply(452, "4.5.3", "Error: too many recipients"));
      } else if (auto refused = routing::check_recipient(snap, conn, o.env, rcpt)) {
        r.reply = reply_text(*refused);
      } else {
        r.index = o.env.recipients.size();
        o.env.recipients.push_back(EnvelopeRecipient{rcpt, notify_none, {}});
        r.reply = reply_text(make_reply(250, "2.1.5", "Recipient OK"));
      }
      o.rcpts.push_back(std::move(r));
    }
    if (o.env.recipients.empty()) {
      o.data_reply = reply_text(make_reply(554, "5.5.1", "Error: no valid recipients"));
    } else {
      o.data_reply = reply_text(make_reply(250, "2.0.0", "Ok: queued"));
    }
  }

  if (o.mail_ok && !o.env.recipients.empty()) {
    // A synthetic message: what the session would have stored (Received: first) with the headers
    // the rules look at.
    std::string to_list;
    for (const auto& a : to) to_list += (to_list.empty() ? "" : ", ") + a.str();
    const std::string sender = o.env.sender ? o.env.sender->str() : std::string("<>");
    std::string data = "Received: from route (route [" + conn.client_ip + "])\r\n\tby " + o.hostname +
                       " (mailflow route); dry run\r\n";
    data += "From: " + sender + "\r\n";
    data += "To: " + to_list + "\r\n";
    std::string subject = opt.subject;
    for (char& ch : subject) {
      if (ch == '\r' || ch == '\n') ch = ' ';  // one header line, whatever the shell passed
    }
    data += "Subject: " + subject + "\r\n";
    data += "Message-ID: <route@" + o.hostname + ">\r\n";
    data += "\r\nbody\r\n";
    routing::PlanInput in{&o.env, &conn, data, nullptr};
    o.plan = routing::plan_message(snap, in);
    o.attribution = o.plan->attribution;
  } else {
    o.attribution = routing::attribute(snap, conn, o.env);
  }

  if (opt.json) {
    std::cout << to_json(snap, o).dump(2) << "\n";
  } else {
    print_human(std::cout, snap, o);
  }
  return 0;
}

}  // namespace mf::cli
