// The read-only helpers of snapshot.hpp: pattern matching and the look-ups over the indexes.
#include "config/snapshot.hpp"

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
  auto it = recipients.find(a.key());
  if (it == recipients.end()) return nullptr;
  if (org_index != nullptr) *org_index = it->second.org;
  return &organizations[it->second.org].recipients[it->second.recipient];
}

}  // namespace mf::config
