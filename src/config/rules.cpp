// Mail flow (transport) rules of one organization: R-RULE-1 (priority, mode), R-RULE-2
// (conditions and exceptions) and R-RULE-3 (actions).
#include "config/loader.hpp"

#include <regex>

namespace mf::config::detail {

namespace {

// RFC 5322 field name: printable US-ASCII except ':'.
bool is_header_name(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

void addresses(const MapReader& m, std::string_view key, std::vector<Address>& out) {
  auto n = m.get(key);
  if (!n) return;
  const Path p = m.path().key(key);
  for_each_string(m.ctx(), *n, p, [&](const Located& l, const YAML::Node& e, const Path& ep) {
    if (auto a = Address::parse(l.text, true)) {
      out.push_back(std::move(*a));
    } else {
      m.ctx().error(e, ep, "invalid address '" + l.text + "': " + a.error().message);
    }
  });
}

void domains(const MapReader& m, std::string_view key, std::vector<Domain>& out) {
  auto n = m.get(key);
  if (!n) return;
  const Path p = m.path().key(key);
  for_each_string(m.ctx(), *n, p, [&](const Located& l, const YAML::Node& e, const Path& ep) {
    if (auto d = parse_plain_domain(l.text)) {
      out.push_back(std::move(*d));
    } else {
      m.ctx().error(e, ep, d.error().message);
    }
  });
}

// A header name read from `m[key]`; reports when it is not a valid field name.
std::string header_name(const MapReader& m, std::string_view key) {
  auto n = m.get(key);
  if (!n) {
    m.missing(key);
    return {};
  }
  const Path p = m.path().key(key);
  auto s = read_string(m.ctx(), *n, p);
  if (!s) return {};
  if (!is_header_name(*s)) {
    m.ctx().error(*n, p, "invalid header field name '" + *s + "'");
    return {};
  }
  return *s;
}

// Text that goes into a header or a reply: no CR, LF or other control characters.
void safe_text(const MapReader& m, std::string_view key, std::string& out) {
  auto n = m.get(key);
  if (!n) return;
  const Path p = m.path().key(key);
  auto s = read_string(m.ctx(), *n, p);
  if (!s) return;
  if (has_control_chars(*s)) {
    m.ctx().error(*n, p, "must not contain control characters (CR, LF...)");
    return;
  }
  out = std::move(*s);
}

std::optional<HeaderCondition> header_condition(const MapReader& parent, std::string_view key, bool regex) {
  auto n = parent.get(key);
  if (!n) return std::nullopt;
  const Ctx& ctx = parent.ctx();
  const Path p = parent.path().key(key);
  MapReader m(ctx, *n, p, {"name", regex ? "pattern" : "words"});
  if (!m.ok()) return std::nullopt;
  HeaderCondition h;
  h.name = header_name(m, "name");
  if (regex) {
    auto pn = m.get("pattern");
    if (!pn) {
      m.missing("pattern");
      return h;
    }
    const Path pp = p.key("pattern");
    auto s = read_string(ctx, *pn, pp);
    if (!s) return h;
    try {
      std::regex compiled(*s, std::regex::ECMAScript);
      h.regex = *s;
    } catch (const std::regex_error& e) {
      ctx.error(*pn, pp, "invalid regular expression '" + *s + "': " + e.what());
    }
  } else {
    auto wn = m.get("words");
    if (!wn) {
      m.missing("words");
      return h;
    }
    const Path wp = p.key("words");
    for_each_string(ctx, *wn, wp, [&](const Located& l, const YAML::Node& e, const Path& ep) {
      if (l.text.empty()) {
        ctx.error(e, ep, "must not be empty");
      } else {
        h.words.push_back(l.text);
      }
    });
    if (h.words.empty() && (!wn->IsSequence() || wn->size() == 0)) m.missing("words");
  }
  return h;
}

void parse_conditions(const MapReader& rule, std::string_view key, RuleConditions& out) {
  auto n = rule.get(key);
  if (!n) return;
  const Ctx& ctx = rule.ctx();
  const Path p = rule.path().key(key);
  MapReader m(ctx, *n, p,
              {"from", "sent_to", "from_domain", "recipient_domain", "from_scope", "sent_to_scope",
               "subject_contains", "header_contains", "header_matches", "size_over", "sender_ip_ranges"});
  if (!m.ok()) return;
  addresses(m, "from", out.from);
  addresses(m, "sent_to", out.sent_to);
  domains(m, "from_domain", out.from_domain);
  domains(m, "recipient_domain", out.recipient_domain);
  const std::initializer_list<std::pair<std::string_view, Scope>> scopes = {
      {"in_organization", Scope::in_organization}, {"not_in_organization", Scope::not_in_organization}};
  if (m.get("from_scope")) {
    Scope s{};
    opt_enum(m, "from_scope", s, scopes);
    out.from_scope = s;
  }
  if (m.get("sent_to_scope")) {
    Scope s{};
    opt_enum(m, "sent_to_scope", s, scopes);
    out.sent_to_scope = s;
  }
  if (auto sc = m.get("subject_contains")) {
    const Path sp = p.key("subject_contains");
    for_each_string(ctx, *sc, sp, [&](const Located& l, const YAML::Node& e, const Path& ep) {
      if (l.text.empty()) {
        ctx.error(e, ep, "must not be empty");
      } else {
        out.subject_contains.push_back(l.text);
      }
    });
  }
  out.header_contains = header_condition(m, "header_contains", false);
  out.header_matches = header_condition(m, "header_matches", true);
  if (m.get("size_over")) {
    std::uint64_t v = 0;
    opt_size(m, "size_over", v, true);
    out.size_over = v;
  }
  if (auto r = m.get("sender_ip_ranges")) {
    const Path rp = p.key("sender_ip_ranges");
    for_each_string(ctx, *r, rp, [&](const Located& l, const YAML::Node& e, const Path& ep) {
      if (auto c = Cidr::parse(l.text)) {
        out.sender_ip_ranges.push_back(*c);
      } else {
        ctx.error(e, ep, c.error().message);
      }
    });
  }
}

// "5.7.1" or "5.7.900" to "5.7.999" (R-RULE-3).
bool valid_reject_code(std::string_view s) {
  if (s == "5.7.1") return true;
  return s.size() == 7 && s.substr(0, 5) == "5.7.9" && s[5] >= '0' && s[5] <= '9' && s[6] >= '0' && s[6] <= '9';
}

void parse_reject(const MapReader& actions, RuleActions& out) {
  auto n = actions.get("reject");
  if (!n) return;
  const Ctx& ctx = actions.ctx();
  const Path p = actions.path().key("reject");
  MapReader m(ctx, *n, p, {"enhanced_status_code", "text"});
  if (!m.ok()) return;
  RejectAction r;
  if (auto c = m.get("enhanced_status_code")) {
    const Path cp = p.key("enhanced_status_code");
    if (auto s = read_string(ctx, *c, cp)) {
      if (valid_reject_code(*s)) {
        r.enhanced_status_code = *s;
      } else {
        ctx.error(*c, cp, "enhanced status code must be 5.7.1 or 5.7.900 to 5.7.999, got '" + *s + "'");
      }
    }
  }
  safe_text(m, "text", r.text);
  out.reject = std::move(r);
}

void parse_actions(const MapReader& rule, RuleActions& out, const Organization& org) {
  auto n = rule.get("actions");
  if (!n) {
    rule.missing("actions");
    return;
  }
  const Ctx& ctx = rule.ctx();
  const Path p = rule.path().key("actions");
  MapReader m(ctx, *n, p,
              {"route_via_connector", "redirect_to", "add_recipients", "reject", "delete", "set_header",
               "remove_header", "prepend_subject", "stop_processing"});
  if (!m.ok()) return;
  if (auto rv = m.get("route_via_connector")) {
    const Path rp = p.key("route_via_connector");
    if (auto s = read_string(ctx, *rv, rp)) {
      const OutboundConnector* target = nullptr;
      for (const auto& c : org.outbound_connectors) {
        if (iequals(c.name, *s)) target = &c;
      }
      if (target == nullptr) {
        ctx.error(*rv, rp, "no outbound connector named '" + *s + "' in organization '" + org.name + "'");
      } else if (!target->is_transport_rule_scoped) {
        ctx.error(*rv, rp, "outbound connector '" + target->name +
                               "' is not rule-scoped (set is_transport_rule_scoped: true on it)");
      } else {
        out.route_via_connector = target->name;
      }
    }
  }
  addresses(m, "redirect_to", out.redirect_to);
  addresses(m, "add_recipients", out.add_recipients);
  parse_reject(m, out);
  opt_bool(m, "delete", out.delete_message);
  if (auto sh = m.get("set_header")) {
    const Path sp = p.key("set_header");
    MapReader hm(ctx, *sh, sp, {"name", "value"});
    if (hm.ok()) {
      HeaderValue hv;
      hv.name = header_name(hm, "name");
      safe_text(hm, "value", hv.value);
      out.set_header = std::move(hv);
    }
  }
  if (auto rh = m.get("remove_header")) {
    const Path hp = p.key("remove_header");
    if (auto s = read_string(ctx, *rh, hp)) {
      if (is_header_name(*s)) {
        out.remove_header = *s;
      } else {
        ctx.error(*rh, hp, "invalid header field name '" + *s + "'");
      }
    }
  }
  safe_text(m, "prepend_subject", out.prepend_subject);
  opt_bool(m, "stop_processing", out.stop_processing);
  static constexpr std::string_view kActions[] = {"route_via_connector", "redirect_to", "add_recipients", "reject",
                                                  "delete", "set_header", "remove_header", "prepend_subject",
                                                  "stop_processing"};
  bool any = false;
  for (auto k : kActions) any = any || m.get(k).has_value();
  if (!any) ctx.error(*n, p, "a rule needs at least one action");
}

}  // namespace

void parse_transport_rules(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org_index) {
  auto node = org_map.get("transport_rules");
  if (!node) return;
  Organization& org = state.snap.organizations[org_index];
  const Path lp = org_map.path().key("transport_rules");
  struct Seen {
    std::string name;
    int priority;
    int line;
  };
  std::vector<Seen> seen;
  for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
    MapReader m(ctx, item, p, {"name", "priority", "enabled", "mode", "conditions", "except_if", "actions"});
    if (!m.ok()) return;
    TransportRule r;
    if (auto n = m.get("name")) {
      const Path np = p.key("name");
      if (auto s = read_string(ctx, *n, np)) {
        if (s->empty() || has_control_chars(*s)) {
          ctx.error(*n, np, "invalid rule name '" + *s + "'");
        } else {
          r.name = *s;
          for (const auto& prior : seen) {
            if (iequals(prior.name, r.name))
              ctx.error(*n, np, "duplicate rule name '" + r.name + "' (first at line " + std::to_string(prior.line) + ")");
          }
        }
      }
    } else {
      m.missing("name");
    }
    bool priority_ok = true;
    if (auto n = m.get("priority")) {
      const Path pp = p.key("priority");
      auto v = read_int(ctx, *n, pp, 0, 1000000);
      priority_ok = v.has_value();
      if (v) r.priority = static_cast<int>(*v);
    }
    if (priority_ok) {
      for (const auto& prior : seen) {
        if (prior.priority == r.priority) {
          const Path pp = p.key("priority");
          auto at = m.get("priority");
          ctx.error(at ? *at : item, pp,
                    "priority " + std::to_string(r.priority) + " is already used by rule '" + prior.name +
                        "' (line " + std::to_string(prior.line) + "); priorities must be unique");
          break;
        }
      }
    }
    opt_bool(m, "enabled", r.enabled);
    opt_enum(m, "mode", r.mode, {{"enforce", RuleMode::enforce}, {"audit", RuleMode::audit}});
    parse_conditions(m, "conditions", r.conditions);
    parse_conditions(m, "except_if", r.except_if);
    parse_actions(m, r.actions, org);
    seen.push_back(Seen{r.name, priority_ok ? r.priority : -1, located(item).line});
    org.transport_rules.push_back(std::move(r));
  });
}

}  // namespace mf::config::detail
