// Outbound (R-OUT-1, R-HYB-3) and inbound (R-IN-1, R-IN-3) connectors of one organization.
#include "config/loader.hpp"

namespace mf::config::detail {

namespace {

struct SeenName {
  std::string name;
  int line;
};

// The connector's name: required, printable, unique per organization and direction
// (case-insensitive, as Exchange compares them).
std::string parse_connector_name(const MapReader& m, std::vector<SeenName>& seen, std::string_view direction) {
  const Ctx& ctx = m.ctx();
  auto n = m.get("name");
  if (!n) {
    m.missing("name");
    return {};
  }
  const Path p = m.path().key("name");
  auto s = read_string(ctx, *n, p);
  if (!s) return {};
  if (s->empty() || has_control_chars(*s)) {
    ctx.error(*n, p, "invalid connector name '" + *s + "'");
    return {};
  }
  const int line = located(*n).line;
  for (const auto& prior : seen) {
    if (iequals(prior.name, *s)) {
      ctx.error(*n, p, "duplicate " + std::string(direction) + " connector name '" + *s + "' (first at line " +
                           std::to_string(prior.line) + ")");
      return *s;
    }
  }
  seen.push_back(SeenName{*s, line});
  return *s;
}

void parse_patterns(const MapReader& m, std::string_view key, std::vector<DomainPattern>& out,
                    std::vector<std::pair<YAML::Node, std::size_t>>* nodes = nullptr) {
  auto n = m.get(key);
  if (!n) return;
  const Ctx& ctx = m.ctx();
  const Path p = m.path().key(key);
  std::size_t i = 0;
  for_each_string(ctx, *n, p, [&](const Located& l, const YAML::Node& e, const Path& ep) {
    if (auto pat = parse_domain_pattern(l.text)) {
      out.push_back(std::move(*pat));
      if (nodes != nullptr) nodes->emplace_back(e, i);
    } else {
      ctx.error(e, ep, pat.error().message);
    }
    ++i;
  });
}

const std::initializer_list<std::pair<std::string_view, ConnectorType>> kConnectorTypes = {
    {"partner", ConnectorType::partner}, {"on_premises", ConnectorType::on_premises}};

// R-HYB-3: a recipient domain pattern that names one of the organization's own accepted
// domains (or a name under one of its wildcard entries).
bool is_own_domain(const Organization& org, const DomainPattern& pat) {
  if (pat.kind == DomainPattern::Kind::any) return false;
  for (const auto& ad : org.accepted_domains) {
    if (ad.domain == pat.domain || (ad.wildcard && pat.domain.is_subdomain_of(ad.domain))) return true;
  }
  return false;
}

void parse_outbound(const MapReader& m, std::vector<SeenName>& names, Organization& org) {
  const Ctx& ctx = m.ctx();
  const Path& p = m.path();
  OutboundConnector c;
  c.name = parse_connector_name(m, names, "outbound");
  opt_bool(m, "enabled", c.enabled);
  opt_enum(m, "connector_type", c.connector_type, kConnectorTypes);
  opt_bool(m, "is_transport_rule_scoped", c.is_transport_rule_scoped);
  opt_bool(m, "use_mx_record", c.use_mx_record);
  opt_bool(m, "route_all_messages_via_on_premises", c.route_all_messages_via_on_premises);
  opt_enum(m, "tls_settings", c.tls_settings,
           {{"opportunistic", TlsSettings::opportunistic},
            {"encryption_only", TlsSettings::encryption_only},
            {"certificate_validation", TlsSettings::certificate_validation},
            {"domain_validation", TlsSettings::domain_validation}});

  std::vector<std::pair<YAML::Node, std::size_t>> domain_nodes;
  parse_patterns(m, "recipient_domains", c.recipient_domains, &domain_nodes);
  auto rd = m.get("recipient_domains");
  // A rule-scoped connector is chosen by a rule, not by the recipient's domain.
  if (!c.is_transport_rule_scoped && (!rd || (rd->IsSequence() && rd->size() == 0))) m.missing("recipient_domains");

  std::size_t host_count = 0;
  if (auto sh = m.get("smart_hosts")) {
    const Path sp = p.key("smart_hosts");
    for_each_string(ctx, *sh, sp, [&](const Located& l, const YAML::Node& e, const Path& ep) {
      ++host_count;
      if (auto hp = parse_host_port(l.text, false, false)) {
        c.smart_hosts.push_back(*hp);
      } else {
        ctx.error(e, ep, hp.error().message);
      }
    });
  }
  if (host_count > 0 && c.use_mx_record) {
    const Path up = p.key("use_mx_record");
    ctx.error(*m.get("use_mx_record"), up, "give either smart_hosts or use_mx_record: true, not both");
  } else if (host_count == 0 && !c.use_mx_record) {
    const Path sp = p.key("smart_hosts");
    ctx.error(m.node(), sp, "an outbound connector needs smart_hosts or use_mx_record: true");
  }

  if (auto td = m.get("tls_domain")) {
    const Path tp = p.key("tls_domain");
    if (auto s = read_string(ctx, *td, tp)) {
      if (auto name = parse_name_or_wildcard(*s)) {
        c.tls_domain = *name;
      } else {
        ctx.error(*td, tp, name.error().message);
      }
    }
  }

  if (c.route_all_messages_via_on_premises) {
    const Path cp = p.key("route_all_messages_via_on_premises");
    if (c.connector_type != ConnectorType::on_premises) {
      ctx.error(*m.get("route_all_messages_via_on_premises"), cp,
                "route_all_messages_via_on_premises needs connector_type: on_premises (R-HYB-3)");
    }
    const Path rp = p.key("recipient_domains");
    // domain_nodes[k] is where c.recipient_domains[k] was written.
    for (std::size_t k = 0; k < domain_nodes.size(); ++k) {
      const DomainPattern& pat = c.recipient_domains[k];
      if (!is_own_domain(org, pat)) continue;
      const Path ep = rd && rd->IsSequence() ? rp.at(domain_nodes[k].second) : rp;
      ctx.error(domain_nodes[k].first, ep,
                "'" + pat.str() + "' is an accepted domain of this organization: with "
                "route_all_messages_via_on_premises its mail would loop (R-HYB-3)");
    }
  }
  org.outbound_connectors.push_back(std::move(c));
}

void parse_inbound(const MapReader& m, std::vector<SeenName>& names, State& state, std::size_t org_index) {
  const Ctx& ctx = m.ctx();
  const Path& p = m.path();
  InboundConnector c;
  c.name = parse_connector_name(m, names, "inbound");
  opt_bool(m, "enabled", c.enabled);
  opt_enum(m, "connector_type", c.connector_type, kConnectorTypes);
  c.require_tls = c.connector_type == ConnectorType::partner;  // R-IN-6 default
  opt_bool(m, "require_tls", c.require_tls);
  opt_bool(m, "restrict_domains_to_ip_addresses", c.restrict_domains_to_ip_addresses);
  opt_bool(m, "restrict_domains_to_certificate", c.restrict_domains_to_certificate);
  parse_patterns(m, "sender_domains", c.sender_domains);
  const bool on_prem = c.connector_type == ConnectorType::on_premises;

  if (auto ips = m.get("sender_ip_addresses")) {
    const Path ip_path = p.key("sender_ip_addresses");
    for_each_string(ctx, *ips, ip_path, [&](const Located& l, const YAML::Node& e, const Path& ep) {
      auto cidr = Cidr::parse(l.text);
      if (!cidr) {
        ctx.error(e, ep, cidr.error().message);
        return;
      }
      c.sender_ip_addresses.push_back(*cidr);
      if (!on_prem) return;
      // R-IN-3 config check (security catalogue I02): a range may belong to one organization only.
      for (const auto& other : state.onprem_ranges) {
        if (other.org != org_index && other.cidr.overlaps(*cidr)) {
          ctx.error(e, ep,
                    "IP range " + cidr->str() + " overlaps " + other.cidr.str() + " of organization '" +
                        state.snap.organizations[other.org].name + "' at " + other.where +
                        ": an on_premises IP range may belong to one organization only (R-IN-3)");
          break;
        }
      }
      state.onprem_ranges.push_back(State::OnPremRange{org_index, *cidr, where(ep, l.line)});
    });
  }

  if (auto cn = m.get("tls_sender_certificate_name")) {
    const Path cp = p.key("tls_sender_certificate_name");
    if (auto s = read_string(ctx, *cn, cp)) {
      if (auto name = parse_name_or_wildcard(*s)) {
        c.tls_sender_certificate_name = *name;
        if (on_prem) {
          auto [it, fresh] = state.onprem_certs.emplace(*name, State::OnPremCert{org_index, where(cp, located(*cn).line)});
          if (!fresh && it->second.org != org_index) {
            ctx.error(*cn, cp,
                      "certificate name '" + *name + "' is already used by organization '" +
                          state.snap.organizations[it->second.org].name + "' at " + it->second.where +
                          ": each organization needs its own certificate (R-IN-3)");
          }
        }
      } else {
        ctx.error(*cn, cp, name.error().message);
      }
    }
  }

  if (on_prem && !m.get("sender_ip_addresses") && !m.get("tls_sender_certificate_name")) {
    const Path ip_path = p.key("sender_ip_addresses");
    ctx.error(m.node(), ip_path,
              "an on_premises inbound connector needs sender_ip_addresses or tls_sender_certificate_name");
  }
  if (!on_prem && !m.get("sender_domains")) m.missing("sender_domains");
  if (c.restrict_domains_to_ip_addresses && !m.get("sender_ip_addresses")) {
    const Path rp = p.key("restrict_domains_to_ip_addresses");
    ctx.error(*m.get("restrict_domains_to_ip_addresses"), rp,
              "restrict_domains_to_ip_addresses needs sender_ip_addresses");
  }
  if (c.restrict_domains_to_certificate && !m.get("tls_sender_certificate_name")) {
    const Path rp = p.key("restrict_domains_to_certificate");
    ctx.error(*m.get("restrict_domains_to_certificate"), rp,
              "restrict_domains_to_certificate needs tls_sender_certificate_name");
  }
  state.snap.organizations[org_index].inbound_connectors.push_back(std::move(c));
}

}  // namespace

void parse_outbound_connectors(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org) {
  auto node = org_map.get("outbound_connectors");
  if (!node) return;
  const Path lp = org_map.path().key("outbound_connectors");
  std::vector<SeenName> names;
  for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
    MapReader m(ctx, item, p,
                {"name", "enabled", "connector_type", "recipient_domains", "is_transport_rule_scoped",
                 "smart_hosts", "use_mx_record", "tls_settings", "tls_domain",
                 "route_all_messages_via_on_premises"});
    if (m.ok()) parse_outbound(m, names, state.snap.organizations[org]);
  });
}

void parse_inbound_connectors(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org) {
  auto node = org_map.get("inbound_connectors");
  if (!node) return;
  const Path lp = org_map.path().key("inbound_connectors");
  std::vector<SeenName> names;
  for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
    MapReader m(ctx, item, p,
                {"name", "enabled", "connector_type", "sender_domains", "sender_ip_addresses",
                 "tls_sender_certificate_name", "require_tls", "restrict_domains_to_ip_addresses",
                 "restrict_domains_to_certificate"});
    if (m.ok()) parse_inbound(m, names, state, org);
  });
}

}  // namespace mf::config::detail
