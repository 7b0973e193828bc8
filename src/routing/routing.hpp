// routing/routing.hpp — recipient decisions over the configuration snapshot (pure, no I/O).
//
// This is the minimal engine of issue 2: the RCPT decision (R-DOM-2 directory-based edge blocking,
// R-IN-5 relay control) and the resolution of a recipient into local mailboxes (R-RCPT-1: mailbox,
// proxy addresses, groups expanded recursively with each address once and loops broken). Inbound
// connectors, attribution, outbound connectors and bifurcation come with the full engine (issue 5/6).
// Deterministic and thread-safe: reads only the immutable Snapshot. Must never do I/O.
#pragma once

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "core/reply.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mf::routing {

// The reply for a RCPT TO, or nullopt when the recipient is accepted.
//  - outside every accepted domain (no relay right):  550 5.7.54 Unable to relay recipient in non-accepted domain
//  - authoritative domain, not in the directory:      550 5.4.1 Recipient address rejected: Access denied
std::optional<Reply> check_recipient(const config::Snapshot& snap, const ConnectionFacts& conn,
                                     const Address& rcpt);

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
