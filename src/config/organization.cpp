// One entry of `organizations:`: its name and accepted domains (R-DOM-1); the other sections are
// delegated to recipients.cpp, connectors.cpp and rules.cpp.
#include "config/loader.hpp"

#include <algorithm>

namespace mf::config::detail {

std::string where(const Path& p, int line) {
  std::string s = p.str();
  if (line > 0) s += " (line " + std::to_string(line) + ")";
  return s;
}

std::string State::describe(const RecipientRef& ref) const {
  const OrgInfo& info = orgs[ref.org];
  const std::uint32_t line = ref.recipient < info.recipient_lines.size() ? info.recipient_lines[ref.recipient] : 0;
  std::string s = "organizations[" + std::to_string(ref.org) + "]";
  if (ref.recipient < info.inline_recipients) {
    s += ".recipients[" + std::to_string(ref.recipient) + "]";
    if (line > 0) s += " (line " + std::to_string(line) + ")";
  } else {
    s += ".recipients_file[" + std::to_string(ref.recipient - info.inline_recipients) + "]";
    s += " (" + info.recipients_file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ")";
  }
  return s;
}

namespace {

void parse_name(const MapReader& m, State& state, Organization& org) {
  const Ctx& ctx = m.ctx();
  auto n = m.get("name");
  if (!n) {
    m.missing("name");
    return;
  }
  const Path p = m.path().key("name");
  auto s = read_string(ctx, *n, p);
  if (!s) return;
  // The name is a folder of the mailbox store (SPEC §3): keep it a single, plain path component.
  if (s->empty() || *s == "." || *s == ".." || s->find('/') != std::string::npos ||
      s->find('\\') != std::string::npos || has_control_chars(*s)) {
    ctx.error(*n, p, "invalid organization name '" + *s + "' (it names a folder: no '/', no control characters)");
    return;
  }
  org.name = *s;
  auto [it, fresh] = state.org_names.emplace(ascii_lower(*s), where(m.path(), located(*n).line));
  if (!fresh) ctx.error(*n, p, "duplicate organization name '" + *s + "' (first defined at " + it->second + ")");
}

void parse_accepted_domains(const MapReader& m, State& state, std::size_t org_index) {
  const Ctx& ctx = m.ctx();
  Organization& org = state.snap.organizations[org_index];
  auto node = m.get("accepted_domains");
  if (!node) return;
  const Path lp = m.path().key("accepted_domains");
  for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
    MapReader dm(ctx, item, p, {"domain", "type"});
    if (!dm.ok()) return;
    AcceptedDomain ad;
    opt_enum(dm, "type", ad.type,
             {{"authoritative", DomainType::authoritative},
              {"internal_relay", DomainType::internal_relay},
              {"external_relay", DomainType::external_relay}});
    auto dn = dm.get("domain");
    if (!dn) {
      dm.missing("domain");
      return;
    }
    const Path dp = p.key("domain");
    auto s = read_string(ctx, *dn, dp);
    if (!s) return;
    auto pattern = parse_domain_pattern(*s);
    if (!pattern) {
      ctx.error(*dn, dp, pattern.error().message);
      return;
    }
    if (pattern->kind == DomainPattern::Kind::any) {
      ctx.error(*dn, dp, "'*' cannot be an accepted domain (that would accept mail for every domain)");
      return;
    }
    ad.domain = pattern->domain;
    ad.wildcard = pattern->kind == DomainPattern::Kind::wildcard;
    const std::string key = pattern->str();
    // R-DOM-1: one organization per domain on the whole service, compared in canonical form.
    auto [it, fresh] = state.domain_where.emplace(key, where(p, located(item).line));
    if (!fresh) {
      ctx.error(*dn, dp, "accepted domain '" + key + "' is already listed at " + it->second);
      return;
    }
    const DomainRef ref{org_index, org.accepted_domains.size()};
    if (ad.wildcard) {
      state.snap.wildcard_domains.emplace(ad.domain.str(), ref);
    } else {
      state.snap.exact_domains.emplace(ad.domain.str(), ref);
    }
    org.accepted_domains.push_back(std::move(ad));
  });
}

}  // namespace

void parse_organization(const Ctx& ctx, const YAML::Node& node, const Path& path, State& state) {
  const std::size_t index = state.snap.organizations.size();
  state.snap.organizations.emplace_back();
  state.orgs.emplace_back();
  MapReader m(ctx, node, path,
              {"name", "accepted_domains", "recipients", "recipients_file", "outbound_connectors",
               "inbound_connectors", "transport_rules"});
  if (!m.ok()) return;
  parse_name(m, state, state.snap.organizations[index]);
  parse_accepted_domains(m, state, index);
  parse_recipients(ctx, m, state, index);
  parse_recipients_file(ctx, m, state, index);
  parse_outbound_connectors(ctx, m, state, index);
  parse_inbound_connectors(ctx, m, state, index);
  parse_transport_rules(ctx, m, state, index);
  state.snap.organizations[index].cmt_connector = find_cmt_connector(state.snap.organizations[index]);
  const auto& inbound = state.snap.organizations[index].inbound_connectors;
  for (std::size_t c = 0; c < inbound.size(); ++c) {
    if (inbound[c].connector_type == ConnectorType::on_premises) state.snap.on_premises_inbound.push_back({index, c});
  }
  auto& rules = state.snap.organizations[index].transport_rules;
  std::stable_sort(rules.begin(), rules.end(),
                   [](const TransportRule& a, const TransportRule& b) { return a.priority < b.priority; });
}

}  // namespace mf::config::detail
