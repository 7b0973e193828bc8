// routing/plan.cpp — the routing decision for one message (see plan.hpp). Pure.
#include "routing/plan.hpp"

#include "routing/routing.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace mf::routing {

const config::OutboundConnector* cmt_connector(const config::Snapshot& snapshot, std::size_t organization) {
  if (organization >= snapshot.organizations.size()) return nullptr;
  const config::Organization& org = snapshot.organizations[organization];
  return org.cmt_connector ? &org.outbound_connectors[*org.cmt_connector] : nullptr;
}

namespace {

const config::OutboundConnector* connector_named(const config::Snapshot& snap, std::size_t org, std::string_view name) {
  if (org >= snap.organizations.size()) return nullptr;
  for (const auto& c : snap.organizations[org].outbound_connectors) {
    if (c.enabled && iequals(c.name, name)) return &c;
  }
  return nullptr;
}

std::string describe(const NextHop& hop, const Address& to) {
  if (!hop.connector.empty()) {
    return "outbound connector '" + hop.connector + "' (" +
           (hop.kind == NextHop::Kind::smart_hosts ? "smart hosts" : "MX of " + hop.mx_domain) + ")";
  }
  return "MX of " + to.domain().str() + " (no outbound connector matches)";
}

// Builds the plan; one instance per plan_message() call.
class Planner {
 public:
  Planner(const config::Snapshot& snap, const PlanInput& in) : snap_(snap), in_(in), explain_(in.explain) {}

  Plan run() {
    const Envelope& env = *in_.envelope;
    plan_.attribution = attribute(snap_, *in_.connection, env, explain_);
    plan_.parts.assign(env.recipients.size(), 0);
    const auto& att = plan_.attribution;

    std::vector<std::size_t> pending;
    std::vector<Address> addresses;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      if (in_.done != nullptr && i < in_.done->size() && (*in_.done)[i]) continue;
      pending.push_back(i);
      addresses.push_back(env.recipients[i].address);
    }

    // Whose mail each recipient is. Ordinary inbound mail (no connector, no AUTH) for recipients of
    // several organizations on this service is each organization's own inbound mail: its rules, its
    // CMT, its marker (catalogue I10). Otherwise the attributed organization's (R-IN-4 pass-through).
    const bool per_tenant = att.kind == AttributionKind::recipient_domain;
    std::vector<std::optional<std::size_t>> owner(pending.size(), att.organization);
    if (per_tenant) {
      for (std::size_t k = 0; k < pending.size(); ++k) {
        if (std::size_t o = 0; snap_.find_accepted_domain(addresses[k].domain(), &o) != nullptr) owner[k] = o;
      }
    }

    // R-RULE-1: the owning organization's rules, once per message, never on generated mail.
    std::vector<RecipientRuleResult> rules(pending.size());
    if (att.kind == AttributionKind::generated) {
      plan_.rules_skipped = true;
    } else {
      std::vector<HeaderField> headers;
      bool parsed = false;
      std::set<std::size_t> orgs;
      for (const auto& o : owner) {
        if (o && !snap_.organizations[*o].transport_rules.empty()) orgs.insert(*o);
      }
      for (std::size_t org : orgs) {
        if (!parsed) {
          headers = parse_header_fields(in_.data);
          parsed = true;
        }
        RuleMessage m;
        m.organization = org;
        m.sender = env.sender;
        m.headers = headers;
        m.size = in_.data.size();
        m.client_ip = in_.connection->client_ip;
        m.originating = att.originating;
        std::vector<std::size_t> ks;
        std::vector<Address> theirs;
        for (std::size_t k = 0; k < pending.size(); ++k) {
          if (owner[k] == org) {
            ks.push_back(k);
            theirs.push_back(addresses[k]);
          }
        }
        auto results = evaluate_rules(snap_, m, theirs);
        for (std::size_t j = 0; j < ks.size() && j < results.size(); ++j) rules[ks[j]] = std::move(results[j]);
      }
    }

    struct Added {
      std::size_t index;
      Address address;
      HeaderEdits edits;
      std::optional<std::size_t> owner;
    };
    std::vector<Added> added;
    std::set<std::string> added_keys;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const std::size_t i = pending[k];
      const Address& rcpt = addresses[k];
      RecipientExplanation ex;
      ex.index = i;
      ex.address = rcpt;
      const RecipientRuleResult* rr = k < rules.size() ? &rules[k] : nullptr;
      if (rr != nullptr) {
        ex.rules = rr->hits;
        for (const auto& h : rr->hits) {
          plan_.notes.push_back(RoutingNote{RoutingNote::Kind::rule, i, rcpt, {}, h.rule, h.audit, h.actions});
        }
      }
      current_ = &ex;
      set_owner(owner[k]);
      if (rr != nullptr && rr->reject) {
        const std::string rule = rule_with_action(*rr, "reject");
        fail(i, rcpt, rr->reject->enhanced_status_code,
             "550 " + rr->reject->enhanced_status_code + " " + rr->reject->text);
        ex.steps.push_back("rejected by rule '" + rule + "' (" + rr->reject->enhanced_status_code + "): NDR");
      } else if (rr != nullptr && rr->delete_message) {
        const std::string rule = rule_with_action(*rr, "delete");
        plan_.drops.push_back(RecipientDrop{i, rcpt, "deleted by rule '" + rule + "'"});
        plan_.parts[i] += 1;
        ex.steps.push_back("deleted by rule '" + rule + "' (no NDR)");
      } else {
        HeaderEdits edits = rr != nullptr ? rr->edits : HeaderEdits{};
        if (per_tenant && owner[k] && owner[k] != att.organization) {
          // The receipt stamped the first recipient's organization; this copy is another one's.
          edits.set_headers.insert(edits.set_headers.begin(),
                                   config::HeaderValue{"X-MailFlow-Organization-Id", snap_.organizations[*owner[k]].name});
        }
        const std::string via = rr != nullptr ? rr->route_via_connector : std::string();
        if (rr != nullptr && !rr->redirect_to.empty()) {
          std::string list;
          for (const auto& a : rr->redirect_to) list += (list.empty() ? "" : ", ") + a.str();
          const std::string rule = rule_with_action(*rr, "redirect_to");
          ex.steps.push_back("redirected by rule '" + rule + "' to " + list);
          plan_.notes.push_back(RoutingNote{RoutingNote::Kind::redirect, i, rcpt, rr->redirect_to, rule, false, {}});
          for (const auto& a : rr->redirect_to) route(i, a, edits, via);
        } else {
          route(i, rcpt, edits, via);
        }
        if (rr != nullptr) {
          for (const auto& a : rr->add_recipients) {
            if (added_keys.insert(a.key()).second) added.push_back(Added{i, a, edits, owner[k]});
          }
        }
      }
      if (explain_) plan_.recipients.push_back(std::move(ex));
    }
    // Recipients the rules added (Bcc): each once, a part of the recipient whose rules added it.
    for (auto& a : added) {
      RecipientExplanation* ex = nullptr;
      for (auto& e : plan_.recipients) {
        if (e.index == a.index) ex = &e;
      }
      current_ = ex;
      if (ex != nullptr) ex->steps.push_back("rule added recipient " + a.address.str());
      set_owner(a.owner);
      route(a.index, a.address, a.edits, {});
    }
    current_ = nullptr;
    return std::move(plan_);
  }

 private:
  static std::string rule_with_action(const RecipientRuleResult& rr, std::string_view action) {
    for (const auto& h : rr.hits) {
      if (h.audit) continue;
      for (const auto& a : h.actions) {
        if (a.starts_with(action)) return h.rule;
      }
    }
    return rr.hits.empty() ? std::string() : rr.hits.back().rule;
  }

  // The organization whose recipient is being routed (its rules ran, its CMT connector applies).
  void set_owner(std::optional<std::size_t> org) {
    org_ = org;
    cmt_ = org ? cmt_connector(snap_, *org) : nullptr;
  }

  void step(std::string s) {
    if (current_ != nullptr) current_->steps.push_back(std::move(s));
  }

  void fail(std::size_t i, const Address& a, std::string status, std::string diagnostic) {
    plan_.failures.push_back(RecipientFailure{i, a, std::move(status), std::move(diagnostic)});
    plan_.parts[i] += 1;
  }

  // Resolves `addr` (a recipient or a rule's redirect target) and files its parts.
  void route(std::size_t index, const Address& addr, const HeaderEdits& edits, const std::string& via) {
    Resolution res = resolve(snap_, addr);
    if (res.kind == Resolution::Kind::not_found && res.mailboxes.empty() && res.remote.empty()) {
      if (explain_) step(addr.str() + ": " + res.reason + " → NDR 5.1.10");
      fail(index, addr, "5.1.10", "550 5.1.10 Recipient not found: " + res.reason);
      return;
    }
    if (explain_) step(addr.str() + ": " + res.reason);
    note_resolution(index, addr, res);
    const auto& att = plan_.attribution;
    // The organization whose connectors apply: the recipient's, else the message's.
    std::optional<std::size_t> rcpt_org;
    if (std::size_t o = 0; snap_.find_accepted_domain(addr.domain(), &o) != nullptr) rcpt_org = o;
    const std::optional<std::size_t> conn_org = rcpt_org ? rcpt_org : org_;
    const bool in_org = org_ && rcpt_org == org_;

    // R-HYB-3: inbound mail for the organization is handed to on-premises first, mailboxes included.
    const bool cmt_all = cmt_ != nullptr && via.empty() && !att.originating && !att.on_premises &&
                         att.kind == AttributionKind::recipient_domain && in_org;
    for (const auto& mb : res.mailboxes) {
      if (cmt_all) {
        std::string why;
        if (explain_) why = "centralized mail transport: inbound mail goes to on-premises first (connector '" + cmt_->name + "')";
        add_remote(index, mb.address, next_hop_via(*org_, *cmt_, mb.address.domain()), edits, std::move(why));
        continue;
      }
      if (explain_) step("deliver to mailbox " + mb.address.str() + " of '" + mb.organization + "'");
      add_local(index, mb, edits);
    }
    for (const auto& r : res.remote) {
      NextHop hop;
      std::string why;
      const config::OutboundConnector* ruled = via.empty() ? nullptr : connector_named(snap_, org_.value_or(0), via);
      if (ruled != nullptr && org_) {
        hop = next_hop_via(*org_, *ruled, r.domain());
        if (explain_) why = "route_via_connector '" + ruled->name + "' (mail flow rule)";
      } else if (cmt_ != nullptr && !att.on_premises && org_ && (cmt_all || !in_org_domain(r))) {
        hop = next_hop_via(*org_, *cmt_, r.domain());
        if (explain_) why = "centralized mail transport (connector '" + cmt_->name + "', route_all_messages_via_on_premises)";
      } else if (conn_org) {
        // Mail that came from on-premises is not sent back there by CMT for outside recipients.
        const config::OutboundConnector* exclude =
            cmt_ != nullptr && att.on_premises && !in_org_domain(r) && conn_org == org_ ? cmt_ : nullptr;
        hop = next_hop_for(snap_, *conn_org, r.domain(), exclude);
        if (explain_) why = describe(hop, r);
        if (explain_ && exclude != nullptr && hop.connector.empty()) why += "; came from on-premises, not sent back by CMT";
      } else {
        hop.kind = NextHop::Kind::mx;
        hop.mx_domain = r.domain().str();
        if (explain_) why = describe(hop, r);
      }
      add_remote(index, r, std::move(hop), edits, std::move(why));
    }
  }

  // RESOLVE / EXPAND for the trace. The common case — one result equal to the address (a mailbox by
  // its primary address, a relayed address) — returns before any look-up or allocation; otherwise
  // one directory look-up (the entry resolve() just read) tells a group from a proxy or a target.
  void note_resolution(std::size_t index, const Address& addr, const Resolution& res) {
    const std::size_t n = res.mailboxes.size() + res.remote.size();
    if (n == 0) return;
    const Address& first = res.mailboxes.empty() ? res.remote.front() : res.mailboxes.front().address;
    if (n == 1 && first.domain() == addr.domain() && iequals(first.local(), addr.local())) return;
    const config::Recipient* r = snap_.find_recipient(addr);
    RoutingNote note;
    note.kind = r != nullptr && r->type == config::RecipientType::group ? RoutingNote::Kind::expand
                                                                         : RoutingNote::Kind::resolve;
    note.index = index;
    note.address = addr;
    note.targets.reserve(n);
    for (const auto& mb : res.mailboxes) note.targets.push_back(mb.address);
    for (const auto& a : res.remote) note.targets.push_back(a);
    plan_.notes.push_back(std::move(note));
  }

  // True when `a` is in an accepted domain of the owning organization.
  bool in_org_domain(const Address& a) const {
    std::size_t o = 0;
    return org_ && snap_.find_accepted_domain(a.domain(), &o) != nullptr && o == *org_;
  }

  void add_local(std::size_t index, const LocalMailbox& mb, const HeaderEdits& edits) {
    Copy& c = copy_for("local", Copy::Kind::local, edits);
    for (auto& r : c.recipients) {
      if (r.organization == mb.organization && r.address == mb.address) {  // one file per mailbox
        ride_along(r, index);
        return;
      }
    }
    if (c.why.empty() && explain_) c.why = "local mailbox store";
    c.recipients.push_back(CopyRecipient{index, mb.address, mb.organization, {}});
    plan_.parts[index] += 1;
  }

  void add_remote(std::size_t index, const Address& to, NextHop hop, const HeaderEdits& edits, std::string why) {
    if (explain_) step(to.str() + " → " + why);
    Copy& c = copy_for(hop.key(), Copy::Kind::remote, edits);
    for (auto& r : c.recipients) {
      if (r.address == to) {  // each address once per copy
        ride_along(r, index);
        return;
      }
    }
    if (c.recipients.empty()) {
      c.hop = std::move(hop);
      c.why = std::move(why);
    }
    c.recipients.push_back(CopyRecipient{index, to, {}, {}});
    plan_.parts[index] += 1;
  }

  // `index` reaches a delivery another recipient (or itself) already has: it shares its outcome.
  void ride_along(CopyRecipient& r, std::size_t index) {
    if (r.index == index || std::find(r.also.begin(), r.also.end(), index) != r.also.end()) return;
    r.also.push_back(index);
    plan_.parts[index] += 1;
  }

  Copy& copy_for(const std::string& key, Copy::Kind kind, const HeaderEdits& edits) {
    for (std::size_t k = 0; k < keys_.size(); ++k) {
      if (keys_[k] == key && plan_.copies[k].edits == edits) return plan_.copies[k];
    }
    Copy c;
    c.kind = kind;
    c.edits = edits;
    // Local copies first (delivered on this host), then remote ones in first-use order.
    if (kind == Copy::Kind::local) {
      std::size_t pos = 0;
      while (pos < plan_.copies.size() && plan_.copies[pos].kind == Copy::Kind::local) ++pos;
      plan_.copies.insert(plan_.copies.begin() + static_cast<std::ptrdiff_t>(pos), std::move(c));
      keys_.insert(keys_.begin() + static_cast<std::ptrdiff_t>(pos), key);
      return plan_.copies[pos];
    }
    plan_.copies.push_back(std::move(c));
    keys_.push_back(key);
    return plan_.copies.back();
  }

  const config::Snapshot& snap_;
  const PlanInput& in_;
  const bool explain_;  // build the human-readable steps and reasons (mailflow route), not for the server
  Plan plan_;
  std::optional<std::size_t> org_;                // set_owner()
  const config::OutboundConnector* cmt_ = nullptr;  // the CMT connector of org_, if any
  RecipientExplanation* current_ = nullptr;
  std::vector<std::string> keys_;  // parallel to plan_.copies
};

}  // namespace

Plan plan_message(const config::Snapshot& snapshot, const PlanInput& input) { return Planner(snapshot, input).run(); }

}  // namespace mf::routing
