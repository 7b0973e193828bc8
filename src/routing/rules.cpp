// Mail flow (transport) rules: R-RULE-1..4 (the contract is in rules.hpp).
//
// Shape: the rules are walked once, in order; for each rule its message-level keys (everything but
// sent_to / recipient_domain / sent_to_scope) are evaluated at most once, and only the recipient
// keys are evaluated per recipient still in the walk. That is equivalent to the per-recipient walk
// the contract describes (a recipient leaves the walk on stop_processing, delete or reject).
// Choices where the contract is silent:
//  - conditions see the message as received: header edits of earlier rules are not visible to the
//    conditions of later rules (the edits differ per recipient);
//  - an audit rule never ends the walk (its stop_processing / delete / reject are recorded only);
//  - RuleHit::actions lists every action of the rule, in RuleActions order, one entry per address
//    for redirect_to / add_recipients, even when the effective value came from an earlier rule
//    (route_via_connector and reject: first wins);
//  - redirect_to and add_recipients accumulate without duplicates (by Address::key());
//  - HeaderEdits are kept free of contradictions so that apply_header_edits() (removals, then sets,
//    then the Subject prefix) gives the result of applying the rules one after the other: a later
//    set_header of a name drops an earlier remove_header of it and vice versa, a later set_header
//    of a name replaces the value of an earlier one, and set/remove of Subject drops the prefixes
//    accumulated before it;
//  - a null sender (<>) matches no from / from_domain value and is not in_organization;
//  - size_over holds when size > size_over.
#include "routing/rules.hpp"

#include "core/domain.hpp"
#include "core/ip.hpp"

#include <regex>

namespace mf::routing {

namespace {

using config::RuleConditions;
using config::Scope;
using config::Snapshot;
using config::TransportRule;

// libstdc++'s std::regex recurses once per character for patterns such as ".*"; an untrusted,
// very long header value would exhaust the stack. Only this many octets of a value are searched.
constexpr std::size_t kMaxRegexInput = 16 * 1024;

bool is_word_char(unsigned char c) {
  // ASCII letters and digits; octets of non-ASCII UTF-8 characters count as letters.
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `word` occurs in `text`, ASCII case-insensitively, bounded on each side by the start/end of
// text or a non-word character.
bool contains_word(std::string_view text, std::string_view word) {
  if (word.empty() || word.size() > text.size()) return false;
  const std::size_t last = text.size() - word.size();
  for (std::size_t p = 0; p <= last; ++p) {
    if (p > 0 && is_word_char(static_cast<unsigned char>(text[p - 1]))) continue;
    const std::size_t end = p + word.size();
    if (end < text.size() && is_word_char(static_cast<unsigned char>(text[end]))) continue;
    bool same = true;
    for (std::size_t i = 0; i < word.size() && same; ++i) same = lower(text[p + i]) == lower(word[i]);
    if (same) return true;
  }
  return false;
}

bool any_word_in_fields(const std::vector<HeaderField>& headers, std::string_view name,
                        const std::vector<std::string>& words) {
  for (const auto& f : headers) {
    if (!iequals(f.name, name)) continue;
    for (const auto& w : words) {
      if (contains_word(f.value, w)) return true;
    }
  }
  return false;
}

// Compiled per call (at most once per rule and call); a cache keyed by the snapshot would save the
// compilation if header_matches rules become common. A pattern that fails to compile or to run
// (error_complexity / error_stack) matches nothing.
bool any_field_matches(const std::vector<HeaderField>& headers, const config::HeaderCondition& h) {
  bool present = false;
  for (const auto& f : headers) present = present || iequals(f.name, h.name);
  if (!present) return false;
  try {
    const std::regex re(h.regex, std::regex::ECMAScript | std::regex::icase);
    for (const auto& f : headers) {
      if (!iequals(f.name, h.name)) continue;
      const std::string_view v = std::string_view(f.value).substr(0, kMaxRegexInput);
      if (std::regex_search(v.begin(), v.end(), re)) return true;
    }
  } catch (const std::exception&) {
    return false;
  }
  return false;
}

// An address of organization `org`: in one of its authoritative / internal_relay accepted domains,
// or a directory recipient (address or proxy) of it.
bool in_organization(const Snapshot& snap, std::size_t org, const Address& a) {
  std::size_t owner = 0;
  if (const auto* d = snap.find_accepted_domain(a.domain(), &owner);
      d != nullptr && owner == org && d->type != config::DomainType::external_relay) {
    return true;
  }
  return snap.find_recipient(a, &owner) != nullptr && owner == org;
}

bool has_message_keys(const RuleConditions& c) {
  return !c.from.empty() || !c.from_domain.empty() || c.from_scope || !c.subject_contains.empty() ||
         c.header_contains || c.header_matches || c.size_over || !c.sender_ip_ranges.empty();
}

bool has_recipient_keys(const RuleConditions& c) {
  return !c.sent_to.empty() || !c.recipient_domain.empty() || c.sent_to_scope;
}

// Facts about the message computed once per call, on first use.
class MessageFacts {
 public:
  MessageFacts(const Snapshot& snap, const RuleMessage& m) : snap_(snap), m_(m) {}

  const RuleMessage& message() const { return m_; }

  const std::string& sender_key() {
    if (!sender_key_) sender_key_ = m_.sender ? m_.sender->key() : std::string();
    return *sender_key_;
  }
  // from_scope in_organization: an address of the organization on an originating connection.
  bool sender_in_organization() {
    if (!sender_in_org_) {
      sender_in_org_ = m_.originating && m_.sender && in_organization(snap_, m_.organization, *m_.sender);
    }
    return *sender_in_org_;
  }
  const std::optional<IpAddress>& client_ip() {
    if (!ip_parsed_) {
      ip_parsed_ = true;
      if (!m_.client_ip.empty()) {
        if (auto ip = IpAddress::parse(m_.client_ip)) client_ip_ = *ip;
      }
    }
    return client_ip_;
  }

 private:
  const Snapshot& snap_;
  const RuleMessage& m_;
  std::optional<std::string> sender_key_;
  std::optional<bool> sender_in_org_;
  bool ip_parsed_ = false;
  std::optional<IpAddress> client_ip_;
};

// Facts about one recipient, computed on first use.
struct RecipientFacts {
  std::optional<std::string> key;
  std::optional<bool> in_org;
};

// Each present message-level key of `c`, evaluated in turn (cheap ones first); `want_all` = AND
// (conditions), otherwise OR (exceptions). Returns whether the keys hold in that sense; with no
// present key: true for AND, false for OR.
bool message_keys(const RuleConditions& c, MessageFacts& facts, bool want_all) {
  const RuleMessage& m = facts.message();
  auto verdict = [&](bool holds) -> std::optional<bool> {
    if (want_all && !holds) return false;
    if (!want_all && holds) return true;
    return std::nullopt;
  };
  if (c.size_over) {
    if (auto v = verdict(m.size > *c.size_over)) return *v;
  }
  if (!c.from.empty()) {
    bool holds = false;
    if (m.sender) {
      for (const auto& a : c.from) holds = holds || a.key() == facts.sender_key();
    }
    if (auto v = verdict(holds)) return *v;
  }
  if (!c.from_domain.empty()) {
    bool holds = false;
    if (m.sender) {
      for (const auto& d : c.from_domain) holds = holds || d == m.sender->domain();
    }
    if (auto v = verdict(holds)) return *v;
  }
  if (c.from_scope) {
    const bool in = facts.sender_in_organization();
    if (auto v = verdict(*c.from_scope == Scope::in_organization ? in : !in)) return *v;
  }
  if (!c.sender_ip_ranges.empty()) {
    bool holds = false;
    if (const auto& ip = facts.client_ip()) {
      for (const auto& r : c.sender_ip_ranges) holds = holds || r.contains(*ip);
    }
    if (auto v = verdict(holds)) return *v;
  }
  if (!c.subject_contains.empty()) {
    if (auto v = verdict(any_word_in_fields(m.headers, "Subject", c.subject_contains))) return *v;
  }
  if (c.header_contains) {
    if (auto v = verdict(any_word_in_fields(m.headers, c.header_contains->name, c.header_contains->words))) return *v;
  }
  if (c.header_matches) {
    if (auto v = verdict(any_field_matches(m.headers, *c.header_matches))) return *v;
  }
  return want_all;
}

// The recipient-level keys of `c` for one recipient, like message_keys().
bool recipient_keys(const RuleConditions& c, const Snapshot& snap, std::size_t org, const Address& rcpt,
                    RecipientFacts& rf, bool want_all) {
  auto verdict = [&](bool holds) -> std::optional<bool> {
    if (want_all && !holds) return false;
    if (!want_all && holds) return true;
    return std::nullopt;
  };
  if (!c.sent_to.empty()) {
    if (!rf.key) rf.key = rcpt.key();
    bool holds = false;
    for (const auto& a : c.sent_to) holds = holds || a.key() == *rf.key;
    if (auto v = verdict(holds)) return *v;
  }
  if (!c.recipient_domain.empty()) {
    bool holds = false;
    for (const auto& d : c.recipient_domain) holds = holds || d == rcpt.domain();
    if (auto v = verdict(holds)) return *v;
  }
  if (c.sent_to_scope) {
    if (!rf.in_org) rf.in_org = in_organization(snap, org, rcpt);
    if (auto v = verdict(*c.sent_to_scope == Scope::in_organization ? *rf.in_org : !*rf.in_org)) return *v;
  }
  return want_all;
}

std::vector<std::string> describe(const config::RuleActions& a) {
  std::vector<std::string> out;
  if (!a.route_via_connector.empty()) out.push_back("route_via_connector:" + a.route_via_connector);
  for (const auto& r : a.redirect_to) out.push_back("redirect_to:" + r.str());
  for (const auto& r : a.add_recipients) out.push_back("add_recipients:" + r.str());
  if (a.reject) out.push_back("reject:" + a.reject->enhanced_status_code);
  if (a.delete_message) out.push_back("delete");
  if (a.set_header) out.push_back("set_header:" + a.set_header->name);
  if (!a.remove_header.empty()) out.push_back("remove_header:" + a.remove_header);
  if (!a.prepend_subject.empty()) out.push_back("prepend_subject");
  if (a.stop_processing) out.push_back("stop_processing");
  return out;
}

void add_unique(std::vector<Address>& to, const std::vector<Address>& from) {
  for (const auto& a : from) {
    const std::string k = a.key();
    bool seen = false;
    for (const auto& b : to) seen = seen || b.key() == k;
    if (!seen) to.push_back(a);
  }
}

template <typename T, typename Name>
void erase_named(std::vector<T>& v, std::string_view name, Name name_of) {
  std::erase_if(v, [&](const T& x) { return iequals(name_of(x), name); });
}

void add_edits(HeaderEdits& e, const config::RuleActions& a) {
  if (!a.remove_header.empty()) {
    erase_named(e.set_headers, a.remove_header, [](const config::HeaderValue& h) -> std::string_view { return h.name; });
    if (iequals(a.remove_header, "Subject")) e.prepend_subject.clear();
    bool seen = false;
    for (const auto& r : e.remove_headers) seen = seen || iequals(r, a.remove_header);
    if (!seen) e.remove_headers.push_back(a.remove_header);
  }
  if (a.set_header) {
    const auto& name = a.set_header->name;
    erase_named(e.remove_headers, name, [](const std::string& r) -> std::string_view { return r; });
    if (iequals(name, "Subject")) e.prepend_subject.clear();
    bool replaced = false;
    for (auto& h : e.set_headers) {
      if (iequals(h.name, name)) {
        h.value = a.set_header->value;
        replaced = true;
      }
    }
    if (!replaced) e.set_headers.push_back(*a.set_header);
  }
  e.prepend_subject += a.prepend_subject;
}

// Applies an enforced rule's actions to `r`; returns true when the walk ends for this recipient.
bool apply(RecipientRuleResult& r, const config::RuleActions& a) {
  if (r.route_via_connector.empty()) r.route_via_connector = a.route_via_connector;
  add_unique(r.redirect_to, a.redirect_to);
  add_unique(r.add_recipients, a.add_recipients);
  if (a.reject && !r.reject) r.reject = a.reject;
  if (a.delete_message) r.delete_message = true;
  add_edits(r.edits, a);
  return a.stop_processing || a.delete_message || a.reject.has_value();
}

}  // namespace

std::vector<RecipientRuleResult> evaluate_rules(const config::Snapshot& snapshot, const RuleMessage& message,
                                                const std::vector<Address>& recipients) {
  std::vector<RecipientRuleResult> results(recipients.size());
  if (message.organization >= snapshot.organizations.size()) return results;
  const auto& rules = snapshot.organizations[message.organization].transport_rules;
  if (rules.empty() || recipients.empty()) return results;

  MessageFacts message_facts(snapshot, message);
  std::vector<RecipientFacts> facts(recipients.size());
  std::vector<char> walking(recipients.size(), 1);
  std::size_t remaining = recipients.size();

  for (const TransportRule& rule : rules) {
    if (remaining == 0) break;
    if (!rule.enabled) continue;
    if (has_message_keys(rule.conditions) && !message_keys(rule.conditions, message_facts, true)) continue;
    if (has_message_keys(rule.except_if) && message_keys(rule.except_if, message_facts, false)) continue;
    const bool rcpt_cond = has_recipient_keys(rule.conditions);
    const bool rcpt_exc = has_recipient_keys(rule.except_if);
    const bool audit = rule.mode == config::RuleMode::audit;
    std::optional<std::vector<std::string>> actions;
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      if (!walking[i]) continue;
      if (rcpt_cond &&
          !recipient_keys(rule.conditions, snapshot, message.organization, recipients[i], facts[i], true)) {
        continue;
      }
      if (rcpt_exc && recipient_keys(rule.except_if, snapshot, message.organization, recipients[i], facts[i], false)) {
        continue;
      }
      if (!actions) actions = describe(rule.actions);
      RecipientRuleResult& r = results[i];
      r.hits.push_back(RuleHit{rule.name, audit, *actions});
      if (!audit && apply(r, rule.actions)) {
        walking[i] = 0;
        --remaining;
      }
    }
  }
  return results;
}

std::vector<HeaderField> parse_header_fields(std::string_view data) {
  std::vector<HeaderField> fields;
  bool current = false;  // the last line started a field that continuation lines extend
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t eol = data.find("\r\n", pos);
    const std::size_t next = eol == std::string_view::npos ? data.size() : eol + 2;
    if (eol == std::string_view::npos) eol = data.size();
    const std::string_view line = data.substr(pos, eol - pos);
    pos = next;
    if (line.empty()) break;  // the header/body separator
    if (line[0] == ' ' || line[0] == '\t') {
      if (current) fields.back().value.append(line);  // unfold: CRLF + WSP → the WSP
      continue;
    }
    current = false;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field (e.g. an mbox "From " line)
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (name.empty()) continue;
    fields.push_back(HeaderField{std::string(name), std::string(line.substr(colon + 1))});
    current = true;
  }
  for (auto& f : fields) {
    const std::size_t start = f.value.find_first_not_of(" \t");
    f.value.erase(0, start == std::string::npos ? f.value.size() : start);
  }
  return fields;
}

}  // namespace mf::routing
