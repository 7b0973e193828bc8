// routing/routing.hpp — recipient decisions over the configuration snapshot (pure, no I/O).
//
// The resolution of one recipient address through the directory (R-RCPT-1: mailbox, proxy
// addresses, mail_user / mail_contact targets, groups expanded recursively with each address once
// and loops broken; R-DOM-2..4 for addresses not in the directory). plan.hpp builds the message's
// routing on it; attribution.hpp answers RCPT.
// Deterministic and thread-safe: reads only the immutable Snapshot. Must never do I/O.
#pragma once

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "core/reply.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mf::routing {

struct LocalMailbox {
  std::string organization;
  Address address;  // the mailbox's primary address
  friend bool operator==(const LocalMailbox&, const LocalMailbox&) = default;
};

// How one envelope recipient is to be handled.
struct Resolution {
  enum class Kind {
    local,      // deliver into `mailboxes` (one or more: a group)
    remote,     // goes to another host (mail_user / mail_contact / relay domain / group member elsewhere)
    not_found,  // authoritative domain, not in the directory any more (NDR 5.1.10)
  };
  Kind kind = Kind::local;
  std::vector<LocalMailbox> mailboxes;  // for local (and the local part of a mixed group)
  std::vector<Address> remote;          // addresses to send elsewhere (targets / relayed originals)
  std::string reason;                   // human-readable, for logs and trace
};

Resolution resolve(const config::Snapshot& snap, const Address& rcpt);

}  // namespace mf::routing
