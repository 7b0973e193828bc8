#include "routing/routing.hpp"

#include <set>
#include <unordered_set>

namespace mf::routing {

using config::DomainType;
using config::RecipientType;

namespace {

// Depth-first group expansion; `seen` holds every address key already visited so that each address
// is handled once and a membership loop ends.
void expand(const config::Snapshot& snap, const Address& addr, std::unordered_set<const config::Recipient*>& seen,
            Resolution& out) {
  std::size_t org = 0;
  const config::Recipient* r = snap.find_recipient(addr, &org);
  if (r == nullptr) {
    // A member that is not in the directory: relayed elsewhere unless its domain is ours and
    // authoritative (then it does not exist).
    const config::AcceptedDomain* dom = snap.find_accepted_domain(addr.domain());
    if (dom != nullptr && dom->type == DomainType::authoritative) {
      if (out.reason.empty()) out.reason = "member " + addr.str() + " not found";
      return;
    }
    out.remote.push_back(addr);
    return;
  }
  if (!seen.insert(r).second) return;  // one directory entry per address and proxies
  switch (r->type) {
    case RecipientType::mailbox: {
      LocalMailbox mb{snap.organizations[org].name, r->address};
      bool dup = false;
      for (const auto& m : out.mailboxes) dup = dup || m == mb;
      if (!dup) out.mailboxes.push_back(std::move(mb));
      break;
    }
    case RecipientType::mail_user:
    case RecipientType::mail_contact:
      out.remote.push_back(r->target_address ? *r->target_address : r->address);
      break;
    case RecipientType::group:
      for (const auto& m : r->members) expand(snap, m, seen, out);
      break;
  }
}

}  // namespace

Resolution resolve(const config::Snapshot& snap, const Address& rcpt) {
  Resolution out;
  std::size_t org = 0;
  const config::Recipient* r = snap.find_recipient(rcpt, &org);
  if (r == nullptr) {
    const config::AcceptedDomain* dom = snap.find_accepted_domain(rcpt.domain());
    if (dom != nullptr && dom->type == DomainType::authoritative) {
      out.kind = Resolution::Kind::not_found;
      out.reason = "recipient not found in the directory";
      return out;
    }
    out.kind = Resolution::Kind::remote;
    out.remote.push_back(rcpt);
    out.reason = dom == nullptr ? "not an accepted domain" : "unknown recipient in a relay domain";
    return out;
  }
  // Fast path (most recipients): no group, no expansion state.
  if (r->type == RecipientType::mailbox) {
    out.kind = Resolution::Kind::local;
    out.mailboxes.push_back(LocalMailbox{snap.organizations[org].name, r->address});
    out.reason = "directory recipient";
    return out;
  }
  if (r->type != RecipientType::group) {
    out.kind = Resolution::Kind::remote;
    out.remote.push_back(r->target_address ? *r->target_address : r->address);
    out.reason = "directory recipient";
    return out;
  }
  std::unordered_set<const config::Recipient*> seen;
  expand(snap, rcpt, seen, out);
  if (!out.mailboxes.empty()) {
    out.kind = Resolution::Kind::local;
  } else if (!out.remote.empty()) {
    out.kind = Resolution::Kind::remote;
  } else {
    out.kind = Resolution::Kind::not_found;
    if (out.reason.empty()) out.reason = "group has no deliverable members";
  }
  if (out.reason.empty()) {
    out.reason = r->type == RecipientType::group ? "group expanded" : "directory recipient";
  }
  return out;
}

}  // namespace mf::routing
