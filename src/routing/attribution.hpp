// routing/attribution.hpp — whose mail is this, and may it relay? (R-IN-2, R-IN-3, R-IN-5, R-SUB-2)
//
// What it does: matches a connection against the `on_premises` inbound connectors of every
// organization on the service (R-IN-2), attributes a transaction to an organization in the order
// certificate domain → MAIL FROM domain → RCPT TO domain (R-IN-3), and answers RCPT with the relay
// decision (R-IN-5, the 5.7.64 multi-domain refusal, ATTR36, R-DOM-2's 5.4.1).
//  - submission (an authenticated mailbox, R-SUB-2): the mailbox's organization, originating;
//  - a certificate connector whose certificate name (itself or its immediate parent) is an accepted
//    domain of the connector's organization: originating, may relay anywhere;
//  - else a MAIL FROM domain accepted by the matched connector's organization: originating;
//  - else, with a connector matched, the recipients' one domain attributes the message (no relay
//    right); recipients in a second domain are refused (seed 004, Point 3);
//  - no connector matched: the organization of the recipient's accepted domain (internet mail);
//  - generated messages (NDRs, listener "ndr"): the organization stamped on them, originating.
// Partner connector restrictions (R-IN-6) are decided here too (check_partner); throttling (R-IN-7)
// is the server's (it needs state) and the header firewall (R-IN-8) is firewall.hpp's.
// Threads: pure functions over the immutable Snapshot. Never: I/O, clocks, DNS.
#pragma once

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "core/reply.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mf::routing {

// One `on_premises` inbound connector that matches a connection.
struct InboundMatch {
  std::size_t organization = 0;
  const config::InboundConnector* connector = nullptr;
  bool by_certificate = false;      // matched on the client certificate (else on the client IP)
  std::string certificate_name;     // the certificate name that matched (lower case), when by_certificate
};

// R-IN-2: enabled on_premises connectors of all organizations that match the connection: a verified
// client certificate carrying the connector's tls_sender_certificate_name (CN or SAN, wildcards
// honoured both ways), or the client IP inside sender_ip_addresses. A connector with require_tls
// matches TLS connections only. Certificate matches come first, then IP matches; within each,
// organization then connector config order.
std::vector<InboundMatch> match_on_premises(const config::Snapshot& snapshot, const ConnectionFacts& conn);

enum class AttributionKind {
  none,              // not attributed (no recipient in an accepted domain yet)
  generated,         // an NDR or other message the service made
  submission,        // authenticated mailbox (R-SUB-2)
  certificate,       // R-IN-3 (1)
  mail_from,         // R-IN-3 (2)
  rcpt_to,           // R-IN-3 (3), through an on_premises connector
  recipient_domain,  // no connector matched: ordinary inbound mail
};
const char* to_string(AttributionKind k);

struct Attribution {
  AttributionKind kind = AttributionKind::none;
  std::optional<std::size_t> organization;  // index into Snapshot::organizations
  std::string connector;                    // the matched on_premises inbound connector, if any
  bool on_premises = false;                 // arrived through a matched on_premises connector
  bool originating = false;                 // mail from the organization: may relay to any domain (R-IN-4)
  bool certificate_fell_through = false;    // a certificate connector matched but its domain is not accepted (ATTR36)
  std::vector<std::string> steps;           // why, step by step (for `mailflow route` and logs)
};

// Attribution of a transaction from what is known so far (`env.sender` after MAIL, the recipients
// accepted so far). Deterministic: the same facts and snapshot give the same answer.
// `explain` = false leaves Attribution::steps empty (the decision is the same).
Attribution attribute(const config::Snapshot& snapshot, const ConnectionFacts& conn, const Envelope& env,
                      bool explain = true);

// The reply for RCPT TO `rcpt` given the transaction so far (`env`: sender and the recipients
// already accepted), or nullopt when it is accepted:
//   R-IN-6 (check_partner for the recipient's organization)  451 5.7.3 / 550 5.7.51
//   authoritative domain, not in the directory          550 5.4.1 Recipient address rejected: Access denied
//   originating (submission / certificate / MAIL FROM)  accepted, any domain
//   connector matched, a second recipient domain        550 5.7.64 TenantAttribution; Relay Access Denied
//   connector matched, certificate domain not accepted,
//     recipient outside the service                      550 5.7.64 TenantAttribution; Relay Access Denied ATTR36
//   connector matched, recipient outside the service    550 5.7.64 TenantAttribution; Relay Access Denied
//   no connector, recipient outside the service          550 5.7.54 Unable to relay recipient in non-accepted domain
std::optional<Reply> check_recipient(const config::Snapshot& snapshot, const ConnectionFacts& conn, const Envelope& env,
                                     const Address& rcpt);

// R-IN-6 partner connectors, for mail addressed to organization `org`. A partner inbound connector
// belongs to the organization that configured it and restricts mail *to that organization* (Exchange's
// text: "a partner connector … matched the message's recipient domain"); applying it to mail for other
// tenants would let one tenant block a sender for all of them. Not checked: the null sender, an
// authenticated (submission) session, generated mail, and a connection that matched an on_premises
// connector of `org` itself (its own servers). Otherwise, among `org`'s enabled partner connectors
// whose sender_domains cover the MAIL FROM domain, the governing connector is the first that the
// connection matches by client IP or verified certificate name (a restricted connector found by IP or
// certificate wins over an unrestricted one found by sender domain, exchange-semantics §2), else the
// one with the most specific sender_domains entry (exact, then the longest wildcard, then `*`; ties
// by name). Its settings, in this order:
//   restrict_domains_to_ip_addresses, client IP not in sender_ip_addresses
//        550 5.7.51 TenantInboundAttribution; RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set
//   require_tls, no STARTTLS yet
//        451 5.7.3 STARTTLS is required to send mail
//   restrict_domains_to_certificate, no verified certificate carrying tls_sender_certificate_name
//   (also a plain-text session: SPEC R-IN-6 "came ... without that certificate")
//        550 5.7.51 (as above)
std::optional<Reply> check_partner(const config::Snapshot& snapshot, const ConnectionFacts& conn, const Envelope& env,
                                   std::size_t org);

// The MAIL FROM decision (after MAIL's syntax and R-SUB-2's ownership check): R-IN-6 can be decided
// at MAIL only when the recipients' organization is already known, i.e. on a service with one
// organization — there MAIL FROM before STARTTLS gets 451 5.7.3 as in Exchange. With several
// organizations check_recipient() applies each recipient's organization's partner connectors at RCPT.
std::optional<Reply> check_sender(const config::Snapshot& snapshot, const ConnectionFacts& conn, const Envelope& env);

// R-IN-7's exemption: the connection matches an inbound connector of any organization — an
// on_premises one (match_on_premises) or a partner one by client IP or verified certificate name.
bool matches_any_inbound_connector(const config::Snapshot& snapshot, const ConnectionFacts& conn);

}  // namespace mf::routing
