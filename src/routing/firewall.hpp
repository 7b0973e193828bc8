// routing/firewall.hpp — the header firewall for the service's internal markers (R-IN-8).
//
// What it does: the `X-MailFlow-Organization-*` header fields carry what the service decided about
// a message (attributed organization, "internal" authentication, directionality), as Exchange's
// X-MS-Exchange-Organization-* do. A message that did not arrive through a matched on_premises
// connector loses every such field on receipt (anyone on the internet could forge them); from such
// a connector they are kept, so that a message stays internal across premises (seed 003). Either
// way the service then stamps its own markers, replacing fields of the same name. The copy of the
// original message attached to an NDR loses them all (strip_organization_headers).
// Invariants: only header fields named X-MailFlow-Organization-* (ASCII case-insensitive) are
// removed, with their folded continuation lines; every other byte of the message is kept in order;
// only CRLF ends a line (a bare LF stays inside its line); stamps contain no CR or LF.
// Threads: pure. Never: I/O.
#pragma once

#include "config/snapshot.hpp"
#include "routing/attribution.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mf::routing {

inline constexpr std::string_view kOrganizationHeaderPrefix = "X-MailFlow-Organization-";

bool is_organization_header(std::string_view field_name);

// The markers the service stamps on an attributed message:
//   X-MailFlow-Organization-Id: <organization name>
//   X-MailFlow-Organization-AuthAs: Internal | Anonymous
//   X-MailFlow-Organization-MessageDirectionality: Originating | Incoming
//   X-MailFlow-Organization-Attribution: <kind>[; connector=<inbound connector>]
// Empty when the message is attributed to no organization.
std::vector<config::HeaderValue> organization_stamps(const config::Snapshot& snapshot, const Attribution& a);

// Removes the X-MailFlow-Organization-* fields of `data` (all of them, or with `keep_existing` only
// those named in `stamps`) and inserts `stamps` after the first header field (the Received: this
// service prepended). `data` is a message with CRLF line ends.
std::string apply_header_firewall(std::string_view data, bool keep_existing,
                                  const std::vector<config::HeaderValue>& stamps);

// Every X-MailFlow-Organization-* field removed (the original message inside an NDR).
std::string strip_organization_headers(std::string_view data);

// What the server applies to an accepted message: attribution, then the firewall and the stamps.
std::string firewall_received_message(const config::Snapshot& snapshot, const ConnectionFacts& conn,
                                      const Envelope& env, std::string_view data);

}  // namespace mf::routing
