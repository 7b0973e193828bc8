// The read-only helpers of snapshot.hpp: pattern matching and the look-ups over the indexes.
#include "config/snapshot.hpp"

#include <algorithm>
#include <array>

namespace mf::config {

bool DomainPattern::matches(const Domain& d) const {
  switch (kind) {
    case Kind::any:
      return true;
    case Kind::exact:
      return d == domain;
    case Kind::wildcard:
      return d == domain || d.is_subdomain_of(domain);
  }
  return false;
}

std::string DomainPattern::str() const {
  switch (kind) {
    case Kind::any:
      return "*";
    case Kind::wildcard:
      return "*." + domain.str();
    case Kind::exact:
      break;
  }
  return domain.str();
}

std::optional<std::uint32_t> find_cmt_connector(const Organization& org) {
  for (std::size_t i = 0; i < org.outbound_connectors.size(); ++i) {
    const auto& c = org.outbound_connectors[i];
    if (c.enabled && c.route_all_messages_via_on_premises && c.connector_type == ConnectorType::on_premises) {
      return static_cast<std::uint32_t>(i);
    }
  }
  return std::nullopt;
}

bool RuleConditions::empty() const {
  return from.empty() && sent_to.empty() && from_domain.empty() && recipient_domain.empty() && !from_scope &&
         !sent_to_scope && subject_contains.empty() && !header_contains && !header_matches && !size_over &&
         sender_ip_ranges.empty();
}

const AcceptedDomain* Snapshot::find_accepted_domain(const Domain& d, std::size_t* org_index) const {
  if (d.empty() || d.is_literal()) return nullptr;
  const DomainRef* ref = nullptr;
  if (auto it = exact_domains.find(d.str()); it != exact_domains.end()) {
    ref = &it->second;
  } else {
    // "*.parent" covers parent itself and every name below it: walk up from the domain itself,
    // so that the closest wildcard wins.
    std::string_view name = d.str();
    while (!name.empty()) {
      if (auto w = wildcard_domains.find(name); w != wildcard_domains.end()) {
        ref = &w->second;
        break;
      }
      auto dot = name.find('.');
      if (dot == std::string_view::npos) break;
      name.remove_prefix(dot + 1);
    }
  }
  if (ref == nullptr) return nullptr;
  if (org_index != nullptr) *org_index = ref->org;
  return &organizations[ref->org].accepted_domains[ref->domain];
}

const Recipient* Snapshot::find_recipient(const Address& a, std::size_t* org_index) const {
  std::array<char, Address::kKeyBufferSize> buf;
  std::string_view key = a.key_into(buf);
  std::string long_key;
  if (key.empty()) key = long_key = a.key();  // longer than any parsed address: never on the wire
  const RecipientRef* ref = recipients.find(key);
  if (ref == nullptr) return nullptr;
  if (org_index != nullptr) *org_index = ref->org;
  return &organizations[ref->org].recipients[ref->recipient];
}

std::pair<const RecipientRef*, bool> RecipientIndex::emplace(std::string_view key, RecipientRef ref) {
  if (key.size() > kInlineKey) {
    auto [it, fresh] = long_.emplace(std::string(key), ref);
    return {&it->second, fresh};
  }
  Key k;
  k.len = static_cast<std::uint8_t>(key.size());
  std::copy(key.begin(), key.end(), k.text.begin());
  auto [it, fresh] = short_.emplace(k, ref);
  return {&it->second, fresh};
}

const RecipientRef* RecipientIndex::find(std::string_view key) const {
  if (key.size() > kInlineKey) {
    auto it = long_.find(key);
    return it == long_.end() ? nullptr : &it->second;
  }
  auto it = short_.find(key);
  return it == short_.end() ? nullptr : &it->second;
}

}  // namespace mf::config
