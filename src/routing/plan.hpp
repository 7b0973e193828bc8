// routing/plan.hpp — the routing decision for one message: who gets it, through which next hop,
// in how many copies (R-RCPT-2, R-OUT-2, R-HYB-1..3, R-RULE-1..4, R-IN-4).
//
// What it does: given the configuration snapshot, the connection facts, the envelope and the
// message's header section, plan_message()
//  1. attributes the message (attribution.hpp);
//  2. runs the attributed organization's mail flow rules once (not on generated messages: NDRs);
//  3. resolves every pending recipient (rules' reject → NDR, delete → dropped, redirect_to → the
//     recipient is replaced, add_recipients → extra recipients) into local mailboxes and remote
//     addresses (mailbox / proxy / mail_user target / contact / group expansion, each address once);
//  4. picks each remote address's next hop: a rule's route_via_connector; else centralized mail
//     transport (R-HYB-3); else the outbound connector of the recipient's organization (or the
//     message's) that matches its domain (R-OUT-2); else MX;
//  5. groups the outcome into copies (bifurcation): one per next hop and header-edit variant, each
//     carrying only its own recipients.
// Centralized mail transport (an enabled on_premises connector of the message's organization with
// route_all_messages_via_on_premises): recipients outside the organization's accepted domains go
// through it; for inbound mail (not originating) every recipient does, local mailboxes included
// (seed 003, "CMT enabled" steps 1–8); mail that arrived through the organization's on_premises
// inbound connector is never sent back by it to recipients outside the organization (it would
// loop, exchange-semantics §8).
// Invariants: deterministic (same inputs → same plan); every pending envelope recipient ends up in
// at least one copy, a failure or a drop; `parts[i]` counts them.
// Threads: pure; reads only its arguments. Never: I/O, DNS, clocks.
#pragma once

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "routing/attribution.hpp"
#include "routing/outbound.hpp"
#include "routing/rules.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mf::routing {

struct PlanInput {
  const Envelope* envelope = nullptr;
  const ConnectionFacts* connection = nullptr;
  std::string_view data;                  // the message (only its header section is read; size for rules)
  const std::vector<bool>* done = nullptr;  // recipients already finished (skipped); null = none
  // Build the human-readable explanation (steps, Copy::why, Attribution::steps). The server turns
  // it off: the decision is the same, only the text is missing.
  bool explain = true;
};

// One recipient of one copy.
struct CopyRecipient {
  std::size_t index = 0;     // the envelope recipient this part belongs to
  Address address;           // local: the mailbox's primary address; remote: the RCPT TO address
  std::string organization;  // local: the mailbox's organization (Maildir folder)
  // Other envelope recipients that reach the same mailbox / address in this copy (a proxy address
  // and the primary, the same RCPT twice): one delivery, whose outcome is theirs too.
  std::vector<std::size_t> also;
};

struct Copy {
  enum class Kind { local, remote } kind = Kind::local;
  NextHop hop;                          // remote only
  std::vector<CopyRecipient> recipients;
  HeaderEdits edits;                    // rule edits applied to this copy's header section
  std::string why;                      // e.g. "outbound connector 'To on-premises' (smart hosts)"; empty without explain
};

struct RecipientFailure {
  std::size_t index = 0;
  Address address;
  std::string status;      // "5.1.10", "5.7.1"...
  std::string diagnostic;  // "550 5.1.10 Recipient not found: ..." (goes into the NDR)
};

struct RecipientDrop {
  std::size_t index = 0;
  Address address;
  std::string reason;  // "deleted by rule 'X'"
};

// The explanation of one envelope recipient (for `mailflow route`, logs and later the trace).
struct RecipientExplanation {
  std::size_t index = 0;
  Address address;
  std::vector<RuleHit> rules;      // rules that matched it (audit ones too)
  std::vector<std::string> steps;  // "mailbox of 'contoso'", "mail_user: target julie@...", "group expanded: ..."
};

// A step of the routing that the message trace records (RESOLVE, EXPAND, REDIRECT, TRANSPORT_RULE).
// Built with or without `explain`: only recipients that were rewritten and rules that matched add
// one, so the common case (a mailbox addressed by its primary address, no rule) costs nothing.
struct RoutingNote {
  enum class Kind {
    resolve,   // `address` became targets[0] (proxy → primary, mail_user / mail_contact → target)
    expand,    // group `address` expanded to `targets` (its deliverable members, local and remote)
    redirect,  // rule `rule` replaced `address` by `targets`
    rule,      // rule `rule` matched `address` (audit: recorded only), with `actions`
  };
  Kind kind = Kind::resolve;
  std::size_t index = 0;  // the envelope recipient
  Address address;
  std::vector<Address> targets;
  std::string rule;
  bool audit = false;
  std::vector<std::string> actions;
};

struct Plan {
  Attribution attribution;
  bool rules_skipped = false;  // a generated message (NDR): no rules (R-RULE-1)
  std::vector<RecipientExplanation> recipients;  // pending envelope recipients, in order (only with explain)
  std::vector<Copy> copies;                      // local copies first, then remote in first-use order
  std::vector<RecipientFailure> failures;        // NDR
  std::vector<RecipientDrop> drops;              // done, no NDR
  std::vector<std::size_t> parts;                // per envelope recipient: copy parts + failures + drops (0 = done/skipped)
  std::vector<RoutingNote> notes;                // for the message trace, in routing order
};

Plan plan_message(const config::Snapshot& snapshot, const PlanInput& input);

// The CMT connector of an organization (enabled, on_premises, route_all_messages_via_on_premises),
// or null.
const config::OutboundConnector* cmt_connector(const config::Snapshot& snapshot, std::size_t organization);

}  // namespace mf::routing
