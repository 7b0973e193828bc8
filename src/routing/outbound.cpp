// routing/outbound.cpp — next hop selection, host order and TLS policy (see outbound.hpp). Pure.
#include "routing/outbound.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>

namespace mf::routing {

std::string NextHop::key() const {
  if (connector.empty()) return "mx:" + mx_domain;
  std::string k = "connector:" + std::to_string(organization) + "/" + connector;
  if (kind == Kind::mx) k += "/mx:" + mx_domain;
  return k;
}

namespace {

// How specifically a pattern matches; larger is more specific. 0 = no match.
//   exact: 1'000'000 (above any wildcard: a domain has at most 255 octets), *.parent: 1 + parent
//   length, *: 1.
std::size_t specificity(const config::DomainPattern& p, const Domain& d) {
  if (!p.matches(d)) return 0;
  switch (p.kind) {
    case config::DomainPattern::Kind::exact:
      return 1'000'000;
    case config::DomainPattern::Kind::wildcard:
      return 2 + p.domain.str().size();
    case config::DomainPattern::Kind::any:
      break;
  }
  return 1;
}

}  // namespace

NextHop next_hop_via(std::size_t organization, const config::OutboundConnector& connector,
                     const Domain& recipient_domain) {
  NextHop hop;
  hop.organization = organization;
  hop.mx_domain = recipient_domain.str();
  hop.connector = connector.name;
  hop.tls = connector.tls_settings;
  hop.tls_domain = connector.tls_domain;
  if (connector.use_mx_record || connector.smart_hosts.empty()) return hop;  // MX of the recipient domain
  hop.kind = NextHop::Kind::smart_hosts;
  hop.smart_hosts = connector.smart_hosts;
  hop.mx_domain.clear();
  return hop;
}

NextHop next_hop_for(const config::Snapshot& snapshot, std::size_t organization, const Domain& recipient_domain,
                     const config::OutboundConnector* exclude) {
  NextHop hop;
  hop.organization = organization;
  hop.mx_domain = recipient_domain.str();
  if (organization >= snapshot.organizations.size()) return hop;

  const config::OutboundConnector* best = nullptr;
  std::size_t best_score = 0;
  std::string best_name;  // lower case
  for (const auto& c : snapshot.organizations[organization].outbound_connectors) {
    if (!c.enabled || c.is_transport_rule_scoped || &c == exclude) continue;
    std::size_t score = 0;
    for (const auto& p : c.recipient_domains) score = std::max(score, specificity(p, recipient_domain));
    if (score == 0) continue;
    std::string name = ascii_lower(c.name);
    if (best == nullptr || score > best_score || (score == best_score && name < best_name)) {
      best = &c;
      best_score = score;
      best_name = std::move(name);
    }
  }
  if (best == nullptr) return hop;
  return next_hop_via(organization, *best, recipient_domain);
}

std::vector<HostCandidate> smart_host_candidates(const std::vector<config::HostPort>& hosts,
                                                 std::uint16_t default_port) {
  std::vector<HostCandidate> out;
  out.reserve(hosts.size());
  for (const auto& h : hosts)
    out.push_back(HostCandidate{h.host, h.port == 0 ? default_port : h.port, h.is_ip, 0});
  return out;
}

std::vector<std::string> order_mx(std::vector<std::pair<std::uint16_t, std::string>> records, std::mt19937& rng) {
  for (auto& r : records) {
    r.second = ascii_lower(r.second);
    if (!r.second.empty() && r.second.back() == '.') r.second.pop_back();
  }
  // Sort by (preference, name) first so that the shuffle below depends only on the record set and
  // the seed, not on the order DNS happened to return the records in.
  std::sort(records.begin(), records.end());
  std::vector<std::string> out;
  out.reserve(records.size());
  std::unordered_set<std::string> seen;
  std::size_t i = 0;
  while (i < records.size()) {
    std::size_t j = i;
    std::vector<std::string> group;
    while (j < records.size() && records[j].first == records[i].first) {
      if (seen.insert(records[j].second).second) group.push_back(records[j].second);
      ++j;
    }
    // Fisher–Yates with rng() itself (std::shuffle's use of the engine is implementation-defined).
    for (std::size_t k = group.size(); k > 1; --k) std::swap(group[k - 1], group[rng() % k]);
    for (auto& name : group) out.push_back(std::move(name));
    i = j;
  }
  return out;
}

std::vector<config::HostPort> RoundRobin::rotation(const std::string& key, const std::vector<config::HostPort>& hosts) {
  if (hosts.empty()) return {};
  std::size_t start = 0;
  {
    std::lock_guard lock(mutex_);
    std::size_t& next = next_[key];
    start = next % hosts.size();
    next = (start + 1) % hosts.size();
  }
  std::vector<config::HostPort> out;
  out.reserve(hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) out.push_back(hosts[(start + i) % hosts.size()]);
  return out;
}

TlsRequirement tls_requirement(config::TlsSettings settings, const std::string& tls_domain, const std::string& host_name) {
  TlsRequirement req;
  switch (settings) {
    case config::TlsSettings::opportunistic:
      return req;
    case config::TlsSettings::encryption_only:
      req.starttls_required = true;
      return req;
    case config::TlsSettings::certificate_validation:
      req.starttls_required = req.verify_chain = true;
      return req;
    case config::TlsSettings::domain_validation:
      req.starttls_required = req.verify_chain = req.verify_name = true;
      break;
  }
  if (!tls_domain.empty()) {
    req.acceptable_names.push_back(ascii_lower(tls_domain));
  } else if (!host_name.empty()) {
    std::string_view h = host_name;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.starts_with("IPv6:") || h.starts_with("ipv6:")) h.remove_prefix(5);
    if (!IpAddress::parse(h)) req.acceptable_names.push_back(ascii_lower(host_name));  // an IP has no name
  }
  return req;
}

TlsOutcome tls_decide(const TlsRequirement& req, bool starttls_offered, bool handshake_ok,
                      const std::string& handshake_error, bool chain_ok, const std::vector<std::string>& cert_names) {
  if (!starttls_offered) {
    if (req.starttls_required) return {TlsVerdict::fail_host, "STARTTLS not offered", false};
    return {TlsVerdict::proceed_plain, "", false};
  }
  if (!handshake_ok) {
    std::string reason = "TLS handshake failed";
    if (!handshake_error.empty()) reason += ": " + handshake_error;
    if (req.starttls_required) return {TlsVerdict::fail_host, std::move(reason), false};
    return {TlsVerdict::proceed_plain, std::move(reason), true};  // opportunistic: again, in plain text
  }
  if (req.verify_chain && !chain_ok) return {TlsVerdict::fail_host, "certificate not trusted", false};
  if (req.verify_name && !certificate_name_matches(cert_names, req.acceptable_names))
    return {TlsVerdict::fail_host, "certificate name mismatch", false};
  return {TlsVerdict::proceed_tls, "", false};
}

namespace {

std::string normalize_name(std::string_view s) {
  std::string n = ascii_lower(s);
  if (!n.empty() && n.back() == '.') n.pop_back();
  return n;
}

// "*.contoso.com" → "contoso.com"; "" when `n` is not a valid wildcard (the suffix needs two labels).
std::string_view wildcard_suffix(std::string_view n) {
  if (!n.starts_with("*.")) return {};
  std::string_view suffix = n.substr(2);
  if (suffix.empty() || suffix.find('.') == std::string_view::npos || suffix.front() == '.' ||
      suffix.find('*') != std::string_view::npos)
    return {};
  return suffix;
}

// `pattern` is "*.<suffix>"; `host` matches when it is exactly one label plus "." plus suffix.
bool wildcard_covers(std::string_view suffix, std::string_view host) {
  if (host.size() <= suffix.size() + 1) return false;
  if (!host.ends_with(suffix) || host[host.size() - suffix.size() - 1] != '.') return false;
  std::string_view label = host.substr(0, host.size() - suffix.size() - 1);
  return !label.empty() && label.find('.') == std::string_view::npos && label.find('*') == std::string_view::npos;
}

bool name_matches(const std::string& cert_raw, const std::string& want_raw) {
  std::string cert = normalize_name(cert_raw);
  std::string want = normalize_name(want_raw);
  if (cert.empty() || want.empty()) return false;
  if (cert == want) return true;
  if (auto s = wildcard_suffix(want); !s.empty() && wildcard_covers(s, cert)) return true;
  if (auto s = wildcard_suffix(cert); !s.empty() && wildcard_covers(s, want)) return true;
  return false;
}

}  // namespace

bool certificate_name_matches(const std::vector<std::string>& cert_names, const std::vector<std::string>& acceptable) {
  for (const auto& want : acceptable)
    for (const auto& cert : cert_names)
      if (name_matches(cert, want)) return true;
  return false;
}

bool hop_count_exceeded(const config::Snapshot& snapshot, std::size_t received_headers) {
  return received_headers > snapshot.service.max_hop_count;
}

bool is_own_listener(const config::Snapshot& snapshot, const IpAddress& ip, std::uint16_t port,
                     const std::vector<IpAddress>& local_addresses) {
  auto is_loopback = [](const IpAddress& a) {
    if (!a.v6) return a.bytes[0] == 127;
    for (int i = 0; i < 15; ++i)
      if (a.bytes[i] != 0) return false;
    return a.bytes[15] == 1;
  };
  auto is_unspecified = [](const IpAddress& a) {
    const int n = a.v6 ? 16 : 4;
    for (int i = 0; i < n; ++i)
      if (a.bytes[i] != 0) return false;
    return true;
  };
  for (const auto& l : snapshot.service.listeners) {
    if (l.address.port != port) continue;
    auto la = IpAddress::parse(l.address.host);
    if (!la) continue;  // a listener given by name: not comparable here
    if (*la == ip) return true;
    if (is_unspecified(*la)) {
      if (is_loopback(ip)) return true;
      if (std::find(local_addresses.begin(), local_addresses.end(), ip) != local_addresses.end()) return true;
    }
  }
  return false;
}

}  // namespace mf::routing
