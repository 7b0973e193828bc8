// routing/rules.hpp — mail flow (transport) rules: R-RULE-1..4 (seed 000/exchange-semantics §9).
//
// What it does: runs one organization's rules on one message and says, per recipient, what they do
// to it. Rules run in priority order (0 first; the loader sorted them); a disabled rule is skipped;
// an `audit` rule only records that it would have fired (RuleHit::audit), its actions are not
// applied and it never ends the walk. Conditions: all present keys must hold (AND); several values
// within one key: any (OR).
// Exceptions (`except_if`): any one present key that holds vetoes the rule (OR).
// R-RULE-4: a rule with a recipient condition (sent_to, recipient_domain, sent_to_scope — in its
// conditions) acts only on the recipients that match it; a rule without one acts on every
// recipient. Exceptions with recipient keys veto the rule for the recipients they match only.
// Evaluation is therefore per recipient: for each recipient the rules are walked in order and their
// actions accumulate; `stop_processing`, `delete` and `reject` end the walk for that recipient.
// Text matching (subject_contains, header_contains): case-insensitive, whole words (a "word" may
// contain spaces and punctuation — "[legal]" — it must be bounded by start/end or a non-alphanumeric
// character on each side); header_matches: ECMAScript regex, case-insensitive, searched in the
// (unfolded) header value. from / sent_to compare Address::key(); from_domain / recipient_domain
// compare exact domains (as Exchange's SenderDomainIs). Scopes: in_organization = an address in an
// accepted domain of the rule's organization whose type is authoritative or internal_relay, or a
// directory recipient of that organization; not_in_organization = anything else. from_scope
// in_organization additionally requires `originating` (an authenticated/attributed-internal
// connection), as Exchange's InOrganization does. sender_ip_ranges: client IP in any CIDR.
// NDRs and other generated messages are never given to this function (the caller skips them).
//
// Threads: pure; reads only its arguments. Never: I/O, time, randomness.
#pragma once

#include "config/snapshot.hpp"
#include "core/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mf::routing {

// A header field of the message as the rules see it: name as written, value unfolded (CRLF + WSP
// → the WSP), without the trailing CRLF. Encoded words are not decoded (a known limitation).
struct HeaderField {
  std::string name;
  std::string value;
};

// What the rules of an organization are evaluated on (everything but the recipients).
struct RuleMessage {
  std::size_t organization = 0;        // index into Snapshot::organizations
  std::optional<Address> sender;       // envelope MAIL FROM (nullopt = <>); `from`, `from_domain`, `from_scope` use it
  std::vector<HeaderField> headers;    // the message's header section, in order
  std::uint64_t size = 0;              // message size in octets (`size_over`)
  std::string client_ip;               // the connecting client's IP (`sender_ip_ranges`); may be empty
  bool originating = false;            // from the organization (submission / on_premises connector)
};

// Edits a rule makes to the message's header section; applied by apply_header_edits() (edits.hpp).
struct HeaderEdits {
  std::vector<config::HeaderValue> set_headers;  // add, or replace every field of that name
  std::vector<std::string> remove_headers;       // remove every field of that name
  std::string prepend_subject;                   // concatenated prefixes in rule order
  bool empty() const { return set_headers.empty() && remove_headers.empty() && prepend_subject.empty(); }
  friend bool operator==(const HeaderEdits&, const HeaderEdits&) = default;
};

// One rule that matched for a recipient.
struct RuleHit {
  std::string rule;        // rule name
  bool audit = false;      // mode: audit — recorded only, actions not applied
  std::vector<std::string> actions;  // the actions it took (or would take): "route_via_connector:Archive",
                                     // "redirect_to:a@x", "add_recipients:b@y", "reject:5.7.1",
                                     // "delete", "set_header:X-A", "remove_header:X-B",
                                     // "prepend_subject", "stop_processing"
  friend bool operator==(const RuleHit&, const RuleHit&) = default;
};

// What the enforced rules do to one recipient (actions of later rules add to earlier ones; for
// route_via_connector and reject the first one set wins).
struct RecipientRuleResult {
  std::vector<RuleHit> hits;               // every rule that matched this recipient, in order (audit too)
  std::string route_via_connector;         // connector name, or empty
  std::vector<Address> redirect_to;        // non-empty: the recipient is replaced by these
  std::vector<Address> add_recipients;     // extra recipients (Bcc) this recipient's rules added
  std::optional<config::RejectAction> reject;  // NDR for this recipient with this code and text
  bool delete_message = false;             // dropped silently for this recipient (traced)
  HeaderEdits edits;
};

// Runs the organization's rules once for the message, for each recipient in `recipients` (the
// envelope recipients as received, in order). Returns one result per recipient, same order.
// An organization index out of range (or an organization without rules) gives one empty result per
// recipient.
std::vector<RecipientRuleResult> evaluate_rules(const config::Snapshot& snapshot, const RuleMessage& message,
                                                const std::vector<Address>& recipients);

// The header fields of `data` (a message with CRLF line ends), unfolded, in order. Stops at the
// first empty line (or the end of data).
std::vector<HeaderField> parse_header_fields(std::string_view data);

}  // namespace mf::routing
