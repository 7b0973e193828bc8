// Tests for src/routing/rules.cpp: mail flow rules R-RULE-1..4 (evaluate_rules) and the header
// parser the rules read (parse_header_fields). Configurations are inline YAML, loaded by the real
// config loader; each test names the rule id it proves.
#include "config/config.hpp"
#include "routing/rules.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace mf::routing {
namespace {

// The organizations every test shares; `rules` is the transport_rules block of contoso.
std::string config_with(const std::string& rules) {
  return R"(
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
      - {domain: relay.contoso.test, type: internal_relay}
      - {domain: ext.contoso.test, type: external_relay}
    recipients:
      - {type: mailbox, address: david@contoso.test, proxy_addresses: [dave@ext.contoso.test]}
      - {type: mailbox, address: julie@contoso.test}
      - {type: mail_contact, address: pc@contact.example, target_address: pc@contact.example}
    outbound_connectors:
      - {name: Archive, is_transport_rule_scoped: true, smart_hosts: [archive.example], recipient_domains: ["*"]}
      - {name: Legal, is_transport_rule_scoped: true, smart_hosts: [legal.example], recipient_domains: ["*"]}
    transport_rules:
)" + rules + R"(
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.test, type: authoritative}
    recipients:
      - {type: mailbox, address: ann@fabrikam.test}
)";
}

std::shared_ptr<const config::Snapshot> load(const std::string& rules) {
  auto loaded = config::load_string(config_with(rules), "/tmp/rules_test.yaml");
  for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  return loaded.snapshot;
}

Address addr(const char* s) { return *Address::parse(s); }

std::vector<Address> addrs(std::initializer_list<const char*> l) {
  std::vector<Address> out;
  for (auto s : l) out.push_back(addr(s));
  return out;
}

// A message from outside to contoso, subject "Hello", 1000 octets, from 198.51.100.7.
RuleMessage message() {
  RuleMessage m;
  m.organization = 0;
  m.sender = addr("sender@partner.example");
  m.headers = {{"From", "sender@partner.example"}, {"Subject", "Hello"}};
  m.size = 1000;
  m.client_ip = "198.51.100.7";
  return m;
}

std::vector<RecipientRuleResult> run(const std::string& rules, const RuleMessage& m,
                                     const std::vector<Address>& rcpts) {
  auto snap = load(rules);
  if (!snap) return {};
  return evaluate_rules(*snap, m, rcpts);
}

// True when the rule named `rule` is (anywhere) among the hits.
bool hit(const RecipientRuleResult& r, const std::string& rule) {
  for (const auto& h : r.hits) {
    if (h.rule == rule) return true;
  }
  return false;
}

// The names of the hits, in order.
std::vector<std::string> hit_names(const RecipientRuleResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hits) out.push_back(h.rule);
  return out;
}

using Names = std::vector<std::string>;

// --- R-RULE-1: order, modes, enabled -----------------------------------------------------------

TEST(RuleEngine, R_RULE_1_PriorityOrderZeroFirst) {
  // Written out of order: the loader sorts, the engine runs 0 first.
  auto res = run(R"(
      - {name: second, priority: 1, actions: {prepend_subject: "[B] "}}
      - {name: first, priority: 0, actions: {prepend_subject: "[A] "}}
      - {name: third, priority: 2, actions: {route_via_connector: Legal}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(hit_names(res[0]), (Names{"first", "second", "third"}));
  EXPECT_EQ(res[0].edits.prepend_subject, "[A] [B] ");
}

TEST(RuleEngine, R_RULE_1_AuditModeRecordsButDoesNotAct) {
  auto res = run(R"(
      - name: audit
        priority: 0
        mode: audit
        actions: {reject: {enhanced_status_code: "5.7.901", text: "no"}, route_via_connector: Archive, redirect_to: [x@partner.example], set_header: {name: X-A, value: "1"}, stop_processing: true}
      - {name: after, priority: 1, actions: {add_recipients: [bcc@partner.example]}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  const auto& r = res[0];
  ASSERT_EQ(r.hits.size(), 2u);  // the audit rule's stop_processing did not end the walk
  EXPECT_EQ(r.hits[0].rule, "audit");
  EXPECT_TRUE(r.hits[0].audit);
  EXPECT_EQ(r.hits[0].actions, (Names{"route_via_connector:Archive", "redirect_to:x@partner.example",
                                      "reject:5.7.901", "set_header:X-A", "stop_processing"}));
  EXPECT_EQ(r.hits[1].rule, "after");
  EXPECT_FALSE(r.hits[1].audit);
  EXPECT_FALSE(r.reject.has_value());
  EXPECT_TRUE(r.route_via_connector.empty());
  EXPECT_TRUE(r.redirect_to.empty());
  EXPECT_TRUE(r.edits.empty());
  ASSERT_EQ(r.add_recipients.size(), 1u);
  EXPECT_EQ(r.add_recipients[0].str(), "bcc@partner.example");
}

TEST(RuleEngine, R_RULE_1_DisabledRuleSkipped) {
  auto res = run(R"(
      - {name: off, priority: 0, enabled: false, actions: {delete: true}}
      - {name: on, priority: 1, actions: {route_via_connector: Archive}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(hit_names(res[0]), (Names{"on"}));
  EXPECT_FALSE(res[0].delete_message);
  EXPECT_EQ(res[0].route_via_connector, "Archive");
}

TEST(RuleEngine, R_RULE_1_NoRulesGivesOneEmptyResultPerRecipient) {
  auto snap = load("      []\n");
  ASSERT_TRUE(snap);
  auto res = evaluate_rules(*snap, message(), addrs({"david@contoso.test", "julie@contoso.test"}));
  ASSERT_EQ(res.size(), 2u);
  for (const auto& r : res) {
    EXPECT_TRUE(r.hits.empty());
    EXPECT_TRUE(r.edits.empty());
    EXPECT_FALSE(r.reject || r.delete_message);
  }
}

TEST(RuleEngine, R_RULE_1_OrganizationOutOfRangeGivesEmptyResults) {
  auto snap = load("      - {name: all, priority: 0, actions: {delete: true}}\n");
  ASSERT_TRUE(snap);
  RuleMessage m = message();
  m.organization = 7;
  auto res = evaluate_rules(*snap, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
  EXPECT_FALSE(res[0].delete_message);
}

TEST(RuleEngine, R_RULE_1_RulesOfTheMessagesOrganizationOnly) {
  auto snap = load("      - {name: all, priority: 0, actions: {delete: true}}\n");
  ASSERT_TRUE(snap);
  RuleMessage m = message();
  m.organization = 1;  // fabrikam has no rules
  auto res = evaluate_rules(*snap, m, addrs({"ann@fabrikam.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
  m.organization = 0;
  res = evaluate_rules(*snap, m, addrs({"ann@fabrikam.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].delete_message);
}

TEST(RuleEngine, R_RULE_1_NoRecipientsNoResults) {
  auto res = run("      - {name: all, priority: 0, actions: {delete: true}}\n", message(), {});
  EXPECT_TRUE(res.empty());
}

// --- R-RULE-2: conditions and exceptions -------------------------------------------------------

TEST(RuleEngine, R_RULE_2_NoConditionsAppliesToEveryMessage) {
  RuleMessage m = message();
  m.sender.reset();
  m.headers.clear();
  m.client_ip.clear();
  auto res = run("      - {name: all, priority: 0, actions: {route_via_connector: Archive}}\n", m,
                 addrs({"david@contoso.test", "x@partner.example"}));
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].route_via_connector, "Archive");
  EXPECT_EQ(res[1].route_via_connector, "Archive");
}

TEST(RuleEngine, R_RULE_2_AllConditionsMustHold) {
  const std::string rules = R"(
      - name: both
        priority: 0
        conditions: {from_domain: [partner.example], subject_contains: [invoice]}
        actions: {route_via_connector: Archive}
)";
  RuleMessage m = message();
  m.headers = {{"Subject", "Your invoice"}};
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].route_via_connector, "Archive");

  m.headers = {{"Subject", "Hello"}};  // domain holds, subject does not
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());

  m.headers = {{"Subject", "Your invoice"}};
  m.sender = addr("x@other.example");  // subject holds, domain does not
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
}

TEST(RuleEngine, R_RULE_2_ValuesWithinAKeyAreOr) {
  const std::string rules = R"(
      - name: either
        priority: 0
        conditions: {from: [a@partner.example, B@Other.example]}
        actions: {route_via_connector: Archive}
)";
  for (const char* sender : {"a@partner.example", "b@other.example", "A@PARTNER.example"}) {
    RuleMessage m = message();
    m.sender = addr(sender);
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(res[0].route_via_connector, "Archive") << sender;
  }
  RuleMessage m = message();
  m.sender = addr("c@partner.example");
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
  m.sender.reset();  // <> matches no `from`
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
}

TEST(RuleEngine, R_RULE_2_AnyExceptionVetoes) {
  const std::string rules = R"(
      - name: vetoed
        priority: 0
        except_if: {subject_contains: [secret], size_over: 5000}
        actions: {route_via_connector: Archive}
)";
  RuleMessage m = message();
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].route_via_connector, "Archive");  // no exception holds

  m.headers = {{"Subject", "top secret"}};  // the first exception alone vetoes
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());

  m = message();
  m.size = 6000;  // the second alone vetoes
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
}

TEST(RuleEngine, R_RULE_2_SubjectWordsWholeWordCaseInsensitive) {
  const std::string rules = R"(
      - name: words
        priority: 0
        conditions: {subject_contains: [Invoice, "[legal]", "*"]}
        actions: {route_via_connector: Archive}
)";
  struct Case {
    const char* subject;
    bool match;
  };
  for (const Case& c : {Case{"INVOICE", true}, Case{"your invoice.", true}, Case{"re: Invoice #12", true},
                        Case{"invoices", false}, Case{"preinvoice", false}, Case{"invoice2", false},
                        Case{"[LEGAL] review", true}, Case{"x[legal]", false}, Case{"a [legal]!", true},
                        Case{"star * literal", true}, Case{"nothing here", false},
                        Case{"invoicé", false}, Case{"prefix invoices then invoice", true}}) {
    RuleMessage m = message();
    m.headers = {{"Subject", c.subject}};
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit(res[0], "words"), c.match) << c.subject;
  }
  RuleMessage m = message();
  m.headers = {{"X-Subject", "invoice"}};  // only Subject fields count
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
  m.headers = {{"subject", "first"}, {"SUBJECT", "an invoice"}};  // any Subject field, any case of the name
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(hit(res[0], "words"));
}

TEST(RuleEngine, R_RULE_2_HeaderContainsWords) {
  const std::string rules = R"(
      - name: processed
        priority: 0
        conditions: {header_contains: {name: X-Processed, words: ["true"]}}
        actions: {route_via_connector: Archive}
)";
  RuleMessage m = message();
  m.headers.push_back({"x-processed", "TRUE"});
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].route_via_connector, "Archive");
  m.headers.back().value = "untrue";
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
  m.headers.pop_back();  // absent header: the condition does not hold
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());
}

TEST(RuleEngine, R_RULE_2_HeaderMatchesRegex) {
  const std::string rules = R"(
      - name: regex
        priority: 0
        conditions: {header_matches: {name: X-Mailer, pattern: "^bulk(mail)?-[0-9]+$"}}
        actions: {route_via_connector: Archive}
)";
  struct Case {
    const char* value;
    bool match;
  };
  for (const Case& c : {Case{"bulk-12", true}, Case{"BULKMAIL-7", true}, Case{"xbulk-1", false},
                        Case{"bulk-", false}, Case{"bulkmail-7 extra", false}}) {
    RuleMessage m = message();
    m.headers.push_back({"X-Mailer", c.value});
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit(res[0], "regex"), c.match) << c.value;
  }
  // Searched (not anchored by default) in the unfolded value.
  const std::string search = R"(
      - name: search
        priority: 0
        conditions: {header_matches: {name: Subject, pattern: "a b"}}
        actions: {route_via_connector: Archive}
)";
  RuleMessage m = message();
  m.headers = parse_header_fields("Subject: xx a\r\n b yy\r\n\r\nbody");
  auto res = run(search, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(hit(res[0], "search"));
}

TEST(RuleEngine, R_RULE_2_HeaderMatchesLongValueDoesNotCrash) {
  const std::string rules = R"(
      - name: regex
        priority: 0
        conditions: {header_matches: {name: X-Long, pattern: "a.*z"}}
        actions: {route_via_connector: Archive}
)";
  RuleMessage m = message();
  m.headers.push_back({"X-Long", "a" + std::string(2'000'000, 'b') + "z"});
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].hits.empty());  // beyond the searched prefix: no match, and no crash
  m.headers.back().value = "a" + std::string(100, 'b') + "z";
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(hit(res[0], "regex"));
}

TEST(RuleEngine, R_RULE_2_SizeOver) {
  const std::string rules = R"(
      - {name: big, priority: 0, conditions: {size_over: 10KB}, actions: {route_via_connector: Archive}}
)";
  for (auto [size, match] : {std::pair<std::uint64_t, bool>{10240, false}, {10241, true}, {100, false}}) {
    RuleMessage m = message();
    m.size = size;
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit(res[0], "big"), match) << size;
  }
}

TEST(RuleEngine, R_RULE_2_SenderIpRanges) {
  const std::string rules = R"(
      - name: ips
        priority: 0
        conditions: {sender_ip_ranges: ["192.0.2.0/24", "203.0.113.9", "2001:db8::/32"]}
        actions: {route_via_connector: Archive}
)";
  struct Case {
    const char* ip;
    bool match;
  };
  for (const Case& c : {Case{"192.0.2.200", true}, Case{"192.0.3.1", false}, Case{"203.0.113.9", true},
                        Case{"203.0.113.10", false}, Case{"2001:db8:1::5", true}, Case{"2001:db9::1", false},
                        Case{"::ffff:192.0.2.7", true}, Case{"", false}, Case{"not-an-ip", false}}) {
    RuleMessage m = message();
    m.client_ip = c.ip;
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit(res[0], "ips"), c.match) << c.ip;
  }
}

TEST(RuleEngine, R_RULE_2_FromAndFromDomainExact) {
  const std::string rules = R"(
      - {name: dom, priority: 0, conditions: {from_domain: [partner.example]}, actions: {route_via_connector: Archive}}
)";
  struct Case {
    const char* sender;
    bool match;
  };
  for (const Case& c : {Case{"a@partner.example", true}, Case{"a@PARTNER.example", true},
                        Case{"a@sub.partner.example", false}, Case{"a@partner.example.net", false}}) {
    RuleMessage m = message();
    m.sender = addr(c.sender);
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit(res[0], "dom"), c.match) << c.sender;
  }
}

TEST(RuleEngine, R_RULE_2_FromScopeInOrganizationNeedsOriginating) {
  const std::string rules = R"(
      - {name: inside, priority: 0, conditions: {from_scope: in_organization}, actions: {prepend_subject: "[IN] "}}
      - {name: outside, priority: 1, conditions: {from_scope: not_in_organization}, actions: {prepend_subject: "[OUT] "}}
)";
  struct Case {
    const char* sender;  // nullptr = <>
    bool originating;
    const char* expect;
  };
  for (const Case& c : {Case{"julie@contoso.test", true, "inside"},
                        Case{"julie@contoso.test", false, "outside"},          // spoofed from outside
                        Case{"nobody@contoso.test", true, "inside"},           // authoritative domain
                        Case{"x@relay.contoso.test", true, "inside"},          // internal_relay
                        Case{"x@ext.contoso.test", true, "outside"},           // external_relay
                        Case{"dave@ext.contoso.test", true, "inside"},         // directory proxy address
                        Case{"pc@contact.example", true, "inside"},            // directory mail contact
                        Case{"ann@fabrikam.test", true, "outside"},            // another organization
                        Case{"x@partner.example", true, "outside"},
                        Case{nullptr, true, "outside"}}) {
    RuleMessage m = message();
    m.originating = c.originating;
    if (c.sender != nullptr) {
      m.sender = addr(c.sender);
    } else {
      m.sender.reset();
    }
    auto res = run(rules, m, addrs({"david@contoso.test"}));
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(hit_names(res[0]), (Names{c.expect})) << (c.sender ? c.sender : "<>") << " " << c.originating;
  }
}

TEST(RuleEngine, R_RULE_2_SentToScope) {
  const std::string rules = R"(
      - {name: internal, priority: 0, conditions: {sent_to_scope: in_organization}, actions: {set_header: {name: X-Scope, value: in}}}
      - {name: external, priority: 1, conditions: {sent_to_scope: not_in_organization}, actions: {set_header: {name: X-Scope, value: out}}}
)";
  // sent_to_scope does not depend on the connection (no `originating` requirement).
  auto res = run(rules, message(),
                 addrs({"david@contoso.test", "x@relay.contoso.test", "dave@ext.contoso.test", "pc@contact.example",
                        "x@ext.contoso.test", "ann@fabrikam.test", "x@partner.example"}));
  ASSERT_EQ(res.size(), 7u);
  const Names expect[] = {{"internal"}, {"internal"}, {"internal"}, {"internal"},
                          {"external"}, {"external"}, {"external"}};
  for (std::size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(hit_names(res[i]), expect[i]) << i;
    ASSERT_EQ(res[i].edits.set_headers.size(), 1u);
    EXPECT_EQ(res[i].edits.set_headers[0].value, expect[i][0] == "internal" ? "in" : "out");
  }
}

TEST(RuleEngine, R_RULE_2_SentToAndRecipientDomain) {
  const std::string rules = R"(
      - {name: to, priority: 0, conditions: {sent_to: [JULIE@contoso.test]}, actions: {prepend_subject: "[J] "}}
      - {name: dom, priority: 1, conditions: {recipient_domain: [partner.example]}, actions: {prepend_subject: "[P] "}}
)";
  auto res = run(rules, message(), addrs({"julie@CONTOSO.test", "x@partner.example", "x@sub.partner.example"}));
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(hit_names(res[0]), (Names{"to"}));
  EXPECT_EQ(hit_names(res[1]), (Names{"dom"}));
  EXPECT_TRUE(res[2].hits.empty());  // recipient_domain is exact
}

TEST(RuleEngine, R_RULE_2_ExceptionWithMessageKeyVetoesForAll) {
  const std::string rules = R"(
      - name: r
        priority: 0
        conditions: {sent_to: [julie@contoso.test]}
        except_if: {from_domain: [partner.example]}
        actions: {route_via_connector: Archive}
)";
  auto res = run(rules, message(), addrs({"julie@contoso.test", "david@contoso.test"}));
  ASSERT_EQ(res.size(), 2u);
  EXPECT_TRUE(res[0].hits.empty());
  EXPECT_TRUE(res[1].hits.empty());
}

// --- R-RULE-3: actions ------------------------------------------------------------------------

TEST(RuleEngine, R_RULE_3_RouteViaConnectorFirstWins) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {route_via_connector: Legal}}
      - {name: b, priority: 1, actions: {route_via_connector: Archive}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].route_via_connector, "Legal");
  ASSERT_EQ(res[0].hits.size(), 2u);
  EXPECT_EQ(res[0].hits[0].actions, (Names{"route_via_connector:Legal"}));
  EXPECT_EQ(res[0].hits[1].actions, (Names{"route_via_connector:Archive"}));
}

TEST(RuleEngine, R_RULE_3_RedirectTo) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {redirect_to: [x@partner.example, y@partner.example]}}
      - {name: b, priority: 1, actions: {redirect_to: [X@partner.example, z@partner.example]}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].redirect_to.size(), 3u);  // accumulated, each address once
  EXPECT_EQ(res[0].redirect_to[0].str(), "x@partner.example");
  EXPECT_EQ(res[0].redirect_to[1].str(), "y@partner.example");
  EXPECT_EQ(res[0].redirect_to[2].str(), "z@partner.example");
  EXPECT_EQ(res[0].hits[0].actions, (Names{"redirect_to:x@partner.example", "redirect_to:y@partner.example"}));
  EXPECT_FALSE(res[0].reject || res[0].delete_message);
}

TEST(RuleEngine, R_RULE_3_AddRecipients) {
  auto res = run(R"(
      - {name: bcc, priority: 0, actions: {add_recipients: [audit@contoso.test]}}
)", message(), addrs({"david@contoso.test", "julie@contoso.test"}));
  ASSERT_EQ(res.size(), 2u);
  for (const auto& r : res) {
    ASSERT_EQ(r.add_recipients.size(), 1u);
    EXPECT_EQ(r.add_recipients[0].str(), "audit@contoso.test");
    EXPECT_TRUE(r.redirect_to.empty());
    EXPECT_EQ(r.hits[0].actions, (Names{"add_recipients:audit@contoso.test"}));
  }
}

TEST(RuleEngine, R_RULE_3_RejectWithCodeAndText) {
  auto res = run(R"(
      - {name: no, priority: 0, actions: {reject: {enhanced_status_code: "5.7.950", text: "Not allowed"}}}
      - {name: later, priority: 1, actions: {route_via_connector: Archive}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  ASSERT_TRUE(res[0].reject.has_value());
  EXPECT_EQ(res[0].reject->enhanced_status_code, "5.7.950");
  EXPECT_EQ(res[0].reject->text, "Not allowed");
  EXPECT_EQ(hit_names(res[0]), (Names{"no"}));  // reject ends the walk
  EXPECT_TRUE(res[0].route_via_connector.empty());
  EXPECT_EQ(res[0].hits[0].actions, (Names{"reject:5.7.950"}));
}

TEST(RuleEngine, R_RULE_3_RejectDefaults) {
  auto res = run("      - {name: no, priority: 0, actions: {reject: {}}}\n", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  ASSERT_TRUE(res[0].reject.has_value());
  EXPECT_EQ(res[0].reject->enhanced_status_code, "5.7.1");
  EXPECT_EQ(res[0].reject->text, "Delivery not authorized, message refused");
}

TEST(RuleEngine, R_RULE_3_RejectFirstWins) {
  auto res = run(R"(
      - {name: first, priority: 0, actions: {reject: {enhanced_status_code: "5.7.901", text: "first"}}}
      - {name: second, priority: 1, actions: {reject: {enhanced_status_code: "5.7.902", text: "second"}}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  ASSERT_TRUE(res[0].reject.has_value());
  EXPECT_EQ(res[0].reject->enhanced_status_code, "5.7.901");
  EXPECT_EQ(res[0].reject->text, "first");
  EXPECT_EQ(hit_names(res[0]), (Names{"first"}));
}

TEST(RuleEngine, R_RULE_3_DeleteEndsProcessing) {
  auto res = run(R"(
      - {name: drop, priority: 0, actions: {delete: true}}
      - {name: later, priority: 1, actions: {reject: {}}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].delete_message);
  EXPECT_FALSE(res[0].reject.has_value());
  EXPECT_EQ(hit_names(res[0]), (Names{"drop"}));
  EXPECT_EQ(res[0].hits[0].actions, (Names{"delete"}));
}

TEST(RuleEngine, R_RULE_3_StopProcessing) {
  auto res = run(R"(
      - {name: stop, priority: 0, actions: {route_via_connector: Archive, stop_processing: true}}
      - {name: later, priority: 1, actions: {prepend_subject: "[X] "}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(hit_names(res[0]), (Names{"stop"}));
  EXPECT_EQ(res[0].route_via_connector, "Archive");
  EXPECT_TRUE(res[0].edits.empty());
  EXPECT_EQ(res[0].hits[0].actions, (Names{"route_via_connector:Archive", "stop_processing"}));
}

TEST(RuleEngine, R_RULE_3_SetHeader) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {set_header: {name: X-Org, value: contoso}}}
      - {name: b, priority: 1, actions: {set_header: {name: x-org, value: second}}}
      - {name: c, priority: 2, actions: {set_header: {name: X-Other, value: "1"}}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  // A later value of the same name replaces the earlier one.
  const std::vector<config::HeaderValue> expect{{"X-Org", "second"}, {"X-Other", "1"}};
  EXPECT_EQ(res[0].edits.set_headers, expect);
  EXPECT_EQ(res[0].hits[0].actions, (Names{"set_header:X-Org"}));
}

TEST(RuleEngine, R_RULE_3_RemoveHeader) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {remove_header: X-Spam}}
      - {name: b, priority: 1, actions: {remove_header: x-spam}}
      - {name: c, priority: 2, actions: {remove_header: X-Other}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].edits.remove_headers, (Names{"X-Spam", "X-Other"}));
  EXPECT_EQ(res[0].hits[0].actions, (Names{"remove_header:X-Spam"}));
}

TEST(RuleEngine, R_RULE_3_SetAndRemoveOfTheSameNameLaterWins) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {set_header: {name: X-A, value: "1"}, remove_header: X-B}}
      - {name: b, priority: 1, actions: {remove_header: X-A, set_header: {name: X-B, value: "2"}}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].edits.remove_headers, (Names{"X-A"}));
  const std::vector<config::HeaderValue> expect{{"X-B", "2"}};
  EXPECT_EQ(res[0].edits.set_headers, expect);
}

TEST(RuleEngine, R_RULE_3_PrependSubject) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {prepend_subject: "[EXT] "}}
      - {name: b, priority: 1, actions: {prepend_subject: "[2] "}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].edits.prepend_subject, "[EXT] [2] ");
  EXPECT_EQ(res[0].hits[0].actions, (Names{"prepend_subject"}));
}

TEST(RuleEngine, R_RULE_3_SetSubjectDropsEarlierPrefix) {
  auto res = run(R"(
      - {name: a, priority: 0, actions: {prepend_subject: "[A] "}}
      - {name: b, priority: 1, actions: {set_header: {name: Subject, value: New}}}
      - {name: c, priority: 2, actions: {prepend_subject: "[C] "}}
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].edits.prepend_subject, "[C] ");
  ASSERT_EQ(res[0].edits.set_headers.size(), 1u);
  EXPECT_EQ(res[0].edits.set_headers[0].value, "New");
}

TEST(RuleEngine, R_RULE_3_PrependSubjectWithExceptionAvoidsRepeats) {
  const std::string rules = R"(
      - name: tag
        priority: 0
        conditions: {from_scope: not_in_organization}
        except_if: {subject_contains: ["[EXT]"]}
        actions: {prepend_subject: "[EXT] "}
)";
  RuleMessage m = message();
  auto res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].edits.prepend_subject, "[EXT] ");
  m.headers = {{"Subject", "[EXT] Hello"}};
  res = run(rules, m, addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].edits.empty());
}

TEST(RuleEngine, R_RULE_3_SeveralActionsAllApply) {
  auto res = run(R"(
      - name: many
        priority: 0
        actions:
          route_via_connector: Archive
          add_recipients: [copy@partner.example]
          set_header: {name: X-Routed, value: "yes"}
          remove_header: X-Internal
          prepend_subject: "[R] "
)", message(), addrs({"david@contoso.test"}));
  ASSERT_EQ(res.size(), 1u);
  const auto& r = res[0];
  EXPECT_EQ(r.route_via_connector, "Archive");
  ASSERT_EQ(r.add_recipients.size(), 1u);
  EXPECT_EQ(r.edits.set_headers.size(), 1u);
  EXPECT_EQ(r.edits.remove_headers, (Names{"X-Internal"}));
  EXPECT_EQ(r.edits.prepend_subject, "[R] ");
  EXPECT_EQ(r.hits[0].actions, (Names{"route_via_connector:Archive", "add_recipients:copy@partner.example",
                                      "set_header:X-Routed", "remove_header:X-Internal", "prepend_subject"}));
}

TEST(RuleEngine, R_RULE_3_CanonicalRoutingRuleWithHeaderException) {
  const std::string rules = R"(
      - name: route all outbound
        priority: 0
        conditions: {from_scope: in_organization}
        except_if: {header_contains: {name: X-Processed, words: ["true"]}}
        actions: {route_via_connector: Archive, stop_processing: true}
      - {name: later, priority: 1, actions: {prepend_subject: "[L] "}}
)";
  RuleMessage m = message();
  m.sender = addr("julie@contoso.test");
  m.originating = true;
  auto res = run(rules, m, addrs({"x@partner.example"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].route_via_connector, "Archive");
  EXPECT_EQ(hit_names(res[0]), (Names{"route all outbound"}));
  m.headers.push_back({"X-Processed", "true"});  // came back from the connector: not re-routed
  res = run(rules, m, addrs({"x@partner.example"}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].route_via_connector.empty());
  EXPECT_EQ(hit_names(res[0]), (Names{"later"}));
}

// --- R-RULE-4: recipient conditions act per recipient -----------------------------------------

TEST(RuleEngine, R_RULE_4_RecipientConditionActsOnMatchingRecipientsOnly) {
  auto res = run(R"(
      - {name: block, priority: 0, conditions: {sent_to: [julie@contoso.test]}, actions: {reject: {}}}
)", message(), addrs({"david@contoso.test", "julie@contoso.test", "x@partner.example"}));
  ASSERT_EQ(res.size(), 3u);
  EXPECT_FALSE(res[0].reject.has_value());
  EXPECT_TRUE(res[1].reject.has_value());
  EXPECT_FALSE(res[2].reject.has_value());
  EXPECT_TRUE(res[0].hits.empty());
  EXPECT_EQ(hit_names(res[1]), (Names{"block"}));
}

TEST(RuleEngine, R_RULE_4_RuleWithoutRecipientConditionActsOnAll) {
  auto res = run(R"(
      - {name: big, priority: 0, conditions: {size_over: 10}, actions: {delete: true}}
)", message(), addrs({"david@contoso.test", "julie@contoso.test", "x@partner.example"}));
  ASSERT_EQ(res.size(), 3u);
  for (const auto& r : res) {
    EXPECT_TRUE(r.delete_message);
    EXPECT_EQ(hit_names(r), (Names{"big"}));
  }
}

TEST(RuleEngine, R_RULE_4_RecipientExceptionVetoesOnlyThatRecipient) {
  auto res = run(R"(
      - name: tag
        priority: 0
        except_if: {recipient_domain: [partner.example]}
        actions: {set_header: {name: X-Tag, value: "1"}}
)", message(), addrs({"david@contoso.test", "x@partner.example", "julie@contoso.test"}));
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].edits.set_headers.size(), 1u);
  EXPECT_TRUE(res[1].hits.empty());
  EXPECT_TRUE(res[1].edits.empty());
  EXPECT_EQ(res[2].edits.set_headers.size(), 1u);
}

TEST(RuleEngine, R_RULE_4_StopProcessingEndsTheWalkForMatchingRecipientsOnly) {
  auto res = run(R"(
      - {name: stop, priority: 0, conditions: {sent_to: [david@contoso.test]}, actions: {route_via_connector: Legal, stop_processing: true}}
      - {name: all, priority: 1, actions: {route_via_connector: Archive}}
)", message(), addrs({"david@contoso.test", "julie@contoso.test"}));
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(hit_names(res[0]), (Names{"stop"}));
  EXPECT_EQ(res[0].route_via_connector, "Legal");
  EXPECT_EQ(hit_names(res[1]), (Names{"all"}));
  EXPECT_EQ(res[1].route_via_connector, "Archive");
}

TEST(RuleEngine, R_RULE_4_RecipientAndMessageConditionsCombine) {
  auto res = run(R"(
      - name: r
        priority: 0
        conditions: {recipient_domain: [contoso.test], subject_contains: [hello]}
        except_if: {sent_to: [julie@contoso.test]}
        actions: {prepend_subject: "[H] "}
)", message(), addrs({"david@contoso.test", "julie@contoso.test", "x@partner.example"}));
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].edits.prepend_subject, "[H] ");
  EXPECT_TRUE(res[1].hits.empty());
  EXPECT_TRUE(res[2].hits.empty());
}

TEST(RuleEngine, R_RULE_4_ResultsFollowRecipientOrderIncludingDuplicates) {
  auto res = run(R"(
      - {name: j, priority: 0, conditions: {sent_to: [julie@contoso.test]}, actions: {delete: true}}
)", message(), addrs({"julie@contoso.test", "david@contoso.test", "Julie@contoso.test"}));
  ASSERT_EQ(res.size(), 3u);
  EXPECT_TRUE(res[0].delete_message);
  EXPECT_FALSE(res[1].delete_message);
  EXPECT_TRUE(res[2].delete_message);
}

// --- parse_header_fields ------------------------------------------------------------------------

TEST(HeaderFields, ParsesInOrderAndStopsAtTheEmptyLine) {
  auto f = parse_header_fields("From: a@b.example\r\nSubject:  Hi there\r\n\r\nBody: not a header\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "From");
  EXPECT_EQ(f[0].value, "a@b.example");
  EXPECT_EQ(f[1].name, "Subject");
  EXPECT_EQ(f[1].value, "Hi there");
}

TEST(HeaderFields, UnfoldsContinuationLines) {
  auto f = parse_header_fields("Subject: one\r\n two\r\n\tthree\r\nX-B: b\r\n\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].value, "one two\tthree");
  EXPECT_EQ(f[1].name, "X-B");
  EXPECT_EQ(f[1].value, "b");
}

TEST(HeaderFields, FoldRightAfterTheColon) {
  auto f = parse_header_fields("Subject:\r\n folded\r\n\r\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].value, "folded");
}

TEST(HeaderFields, NoBodyAndNoFinalCrlf) {
  auto f = parse_header_fields("A: 1\r\nB: 2");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].name, "B");
  EXPECT_EQ(f[1].value, "2");
  EXPECT_TRUE(parse_header_fields("").empty());
  EXPECT_TRUE(parse_header_fields("\r\nA: 1\r\n").empty());  // empty header section
}

TEST(HeaderFields, EmptyValueAndNameCaseKept) {
  auto f = parse_header_fields("x-empty:\r\nSubject : spaced\r\n\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "x-empty");
  EXPECT_EQ(f[0].value, "");
  EXPECT_EQ(f[1].name, "Subject");  // WSP before the colon (obsolete syntax) is not part of the name
  EXPECT_EQ(f[1].value, "spaced");
}

TEST(HeaderFields, LinesThatAreNotFieldsAreSkipped) {
  auto f = parse_header_fields(" orphan continuation\r\nFrom sender Mon\r\n cont of garbage\r\n: no name\r\nA: 1\r\n\r\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "A");
  EXPECT_EQ(f[0].value, "1");
}

TEST(HeaderFields, BareLfIsNotALineEnd) {
  // Only CRLF ends a line: a bare LF stays inside the value, and "\n\n" is no separator.
  auto f = parse_header_fields("A: 1\nB: 2\r\nC: 3\n\nbody\r\n\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "A");
  EXPECT_EQ(f[0].value, "1\nB: 2");
  EXPECT_EQ(f[1].name, "C");
  EXPECT_EQ(f[1].value, "3\n\nbody");
  EXPECT_EQ(parse_header_fields("\n").size(), 0u);
  EXPECT_EQ(parse_header_fields("\n\n\n").size(), 0u);
  auto lf_only = parse_header_fields("Subject: x\nFrom: y\n\nbody\n");
  ASSERT_EQ(lf_only.size(), 1u);
  EXPECT_EQ(lf_only[0].name, "Subject");
}

TEST(HeaderFields, LoneCrAtTheEndDoesNotCrash) {
  auto f = parse_header_fields("A: 1\r");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].value, "1\r");
  EXPECT_TRUE(parse_header_fields("\r").empty());
}

}  // namespace
}  // namespace mf::routing
