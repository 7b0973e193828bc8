// Tests for src/routing/plan.cpp: the routing plan of a message — resolution per recipient
// (R-DOM-2..4, R-RCPT-1), bifurcation (R-RCPT-2), connector choice through the plan (R-OUT-2),
// hybrid shared/split namespace and centralized mail transport (R-HYB-1..3), pass-through
// (R-IN-4) and the rules' effect on routing (R-RULE-1, R-RULE-3, R-RULE-4).
#include "config/config.hpp"
#include "routing/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace mf::routing {
namespace {

// The cloud side of a hybrid deployment (seed 003), a second tenant, and a tenant with rules.
std::string cloud_config(bool cmt) {
  std::string y = R"(
service:
  hostname: cloud.contoso.com
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: internal_relay}
      - {domain: contoso.mail.onmicrosoft.com, type: authoritative}
      - {domain: ext.contoso.com, type: external_relay}
    recipients:
      - {type: mailbox, address: david@contoso.com, proxy_addresses: [david@contoso.mail.onmicrosoft.com]}
      - {type: mailbox, address: kim@contoso.com}
      - {type: mail_user, address: julie@contoso.com, target_address: julie@contoso.com}
      - {type: mail_contact, address: partner@contoso.com, target_address: pat@partner.example}
      - {type: group, address: all@contoso.com, members: [david@contoso.com, julie@contoso.com, bob@fabrikam.example, inner@contoso.com]}
      - {type: group, address: inner@contoso.com, members: [all@contoso.com, kim@contoso.com, david@contoso.mail.onmicrosoft.com]}
    outbound_connectors:
)";
  if (cmt) {
    y += R"(
      - {name: To on-premises, connector_type: on_premises, recipient_domains: ["*"], smart_hosts: [mail.contoso.com],
         tls_settings: domain_validation, tls_domain: mail.contoso.com, route_all_messages_via_on_premises: true}
)";
  } else {
    y += R"(
      - {name: To on-premises, connector_type: on_premises, recipient_domains: [contoso.com, ext.contoso.com], smart_hosts: [mail.contoso.com],
         tls_settings: domain_validation, tls_domain: mail.contoso.com}
)";
  }
  y += R"(
      - {name: Bconnector, recipient_domains: [partner.example], smart_hosts: [b.partner.example]}
      - {name: Aconnector, recipient_domains: [partner.example], smart_hosts: [a.partner.example]}
    inbound_connectors:
      - {name: From on-premises, connector_type: on_premises, tls_sender_certificate_name: mail.contoso.com, require_tls: true}
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.com, type: authoritative}
    recipients:
      - {type: mailbox, address: ann@fabrikam.com}
  - name: woodgrove
    accepted_domains:
      - {domain: woodgrove.com, type: authoritative}
    recipients:
      - {type: mailbox, address: wendy@woodgrove.com}
      - {type: mailbox, address: walt@woodgrove.com}
      - {type: mailbox, address: audit@woodgrove.com}
      - {type: mailbox, address: legal@woodgrove.com}
      - {type: mail_contact, address: ext@woodgrove.com, target_address: ext@partner.example}
    outbound_connectors:
      - {name: Archive, is_transport_rule_scoped: true, smart_hosts: [archive.woodgrove.example]}
    inbound_connectors:
      - {name: Woodgrove servers, connector_type: on_premises, sender_ip_addresses: [198.51.100.0/24]}
    transport_rules:
      - name: Block outside
        priority: 0
        conditions: {sent_to_scope: not_in_organization, from_scope: in_organization}
        except_if: {recipient_domain: [archive-ok.example]}
        actions: {reject: {enhanced_status_code: "5.7.901", text: "Outside mail is not allowed"}}
      - name: Tag legal
        priority: 1
        conditions: {subject_contains: ["[legal]"]}
        actions: {prepend_subject: "[L] ", route_via_connector: Archive}
      - name: Walt away
        priority: 2
        conditions: {sent_to: [walt@woodgrove.com]}
        actions: {redirect_to: [legal@woodgrove.com], stop_processing: true}
      - name: Copy wendy
        priority: 3
        conditions: {sent_to: [wendy@woodgrove.com]}
        actions: {add_recipients: [audit@woodgrove.com]}
      - name: Drop spam
        priority: 4
        conditions: {subject_contains: ["viagra"]}
        actions: {delete: true}
      - name: Would mark
        priority: 5
        mode: audit
        conditions: {subject_contains: ["hello"]}
        actions: {set_header: {name: X-Audit, value: "yes"}}
)";
  return y;
}

std::shared_ptr<const config::Snapshot> load(bool cmt) {
  auto loaded = config::load_string(cloud_config(cmt), "/tmp/plan_test.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  }
  return loaded.snapshot;
}

const config::Snapshot& cloud() {
  static auto s = load(false);
  return *s;
}
const config::Snapshot& cloud_cmt() {
  static auto s = load(true);
  return *s;
}

Address addr(const char* s) { return *Address::parse(s); }

ConnectionFacts internet() {
  ConnectionFacts c;
  c.listener = "mx";
  c.client_ip = "192.0.2.77";
  return c;
}
ConnectionFacts from_on_premises() {
  ConnectionFacts c = internet();
  c.tls = true;
  c.client_cert_verified = true;
  c.client_cert_names = {"mail.contoso.com"};
  return c;
}
ConnectionFacts submitted(const char* user) {
  ConnectionFacts c = internet();
  c.tls = true;
  c.authenticated_user = user;
  return c;
}

struct Msg {
  Envelope env;
  ConnectionFacts conn;
  std::string data;
};

Msg msg(ConnectionFacts conn, const char* sender, std::initializer_list<const char*> rcpts,
        const char* subject = "hi") {
  Msg m;
  m.conn = std::move(conn);
  if (sender != nullptr) m.env.sender = addr(sender);
  for (auto r : rcpts) m.env.recipients.push_back(EnvelopeRecipient{addr(r), notify_none, {}});
  m.data = std::string("From: x\r\nSubject: ") + subject + "\r\n\r\nbody\r\n";
  return m;
}

Plan plan(const config::Snapshot& snap, const Msg& m, const std::vector<bool>* done = nullptr) {
  PlanInput in;
  in.envelope = &m.env;
  in.connection = &m.conn;
  in.data = m.data;
  in.done = done;
  return plan_message(snap, in);
}

// "local" or the copy's queue key, for each copy.
std::vector<std::string> copy_keys(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& c : p.copies) out.push_back(c.kind == Copy::Kind::local ? "local" : c.hop.key());
  return out;
}
std::vector<std::string> rcpts(const Copy& c) {
  std::vector<std::string> out;
  for (const auto& r : c.recipients) out.push_back(r.address.str());
  return out;
}
const Copy* remote_via(const Plan& p, const std::string& connector) {
  for (const auto& c : p.copies) {
    if (c.kind == Copy::Kind::remote && c.hop.connector == connector) return &c;
  }
  return nullptr;
}
const Copy* local_copy(const Plan& p) {
  for (const auto& c : p.copies) {
    if (c.kind == Copy::Kind::local) return &c;
  }
  return nullptr;
}
using V = std::vector<std::string>;

TEST(Plan, R_RCPT_2_OneCopyPerNextHopEachWithOnlyItsRecipients) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"david@contoso.com", "julie@contoso.com"}));
  ASSERT_EQ(p.copies.size(), 2u);
  const Copy* local = local_copy(p);
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(rcpts(*local), V{"david@contoso.com"});
  const Copy* onprem = remote_via(p, "To on-premises");
  ASSERT_NE(onprem, nullptr);
  EXPECT_EQ(rcpts(*onprem), V{"julie@contoso.com"});
  EXPECT_EQ(onprem->hop.kind, NextHop::Kind::smart_hosts);
  EXPECT_EQ(onprem->hop.tls, config::TlsSettings::domain_validation);
  EXPECT_EQ(p.parts, (std::vector<std::size_t>{1, 1}));
}

TEST(Plan, R_DOM_3_InternalRelayUnknownRecipientGoesThroughTheConnector) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"ghost@contoso.com"}));
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_EQ(p.copies[0].hop.connector, "To on-premises");
  EXPECT_EQ(rcpts(p.copies[0]), V{"ghost@contoso.com"});
  EXPECT_TRUE(p.failures.empty());
}

TEST(Plan, R_DOM_4_ExternalRelayRecipientsAreAllRelayed) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"anyone@ext.contoso.com"}));
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_EQ(p.copies[0].kind, Copy::Kind::remote);
  EXPECT_EQ(p.copies[0].hop.connector, "To on-premises");
}

TEST(Plan, R_DOM_2_RecipientGoneAfterAcceptanceGetsAnNdr5110) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"gone@contoso.mail.onmicrosoft.com", "david@contoso.com"}));
  ASSERT_EQ(p.failures.size(), 1u);
  EXPECT_EQ(p.failures[0].index, 0u);
  EXPECT_EQ(p.failures[0].status, "5.1.10");
  EXPECT_NE(p.failures[0].diagnostic.find("550 5.1.10 Recipient not found"), std::string::npos);
  EXPECT_EQ(p.parts, (std::vector<std::size_t>{1, 1}));
}

TEST(Plan, R_RCPT_1_GroupsExpandEachAddressOnceAndTargetsAreUsed) {
  // all → david, julie (mail_user), bob (outside), inner → all (loop), kim, david's proxy (same mailbox).
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"all@contoso.com"}));
  const Copy* local = local_copy(p);
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(rcpts(*local), (V{"david@contoso.com", "kim@contoso.com"}));
  const Copy* onprem = remote_via(p, "To on-premises");
  ASSERT_NE(onprem, nullptr);
  EXPECT_EQ(rcpts(*onprem), V{"julie@contoso.com"});
  // The outside member goes by MX (no connector of the organization covers fabrikam.example).
  bool mx = false;
  for (const auto& c : p.copies) mx = mx || (c.kind == Copy::Kind::remote && c.hop.key() == "mx:fabrikam.example");
  EXPECT_TRUE(mx);
  EXPECT_EQ(p.parts[0], 4u);  // david, kim, julie, bob: the group is done when all four are
}

TEST(Plan, R_OUT_3_OnlyTheMessagesOrganizationsConnectorsApply) {
  // contoso's Aconnector covers partner.example; fabrikam's originating mail (a recipient of its own
  // group would do as well) to partner.example must not use another tenant's connector: MX.
  ConnectionFacts conn = internet();
  conn.tls = true;
  conn.authenticated_user = "ann@fabrikam.com";
  auto p = plan(cloud(), msg(conn, "ann@fabrikam.com", {"someone@partner.example"}));
  EXPECT_EQ(copy_keys(p), V{"mx:partner.example"});
  // The same recipient from contoso goes through its connector.
  auto q = plan(cloud(), msg(submitted("kim@contoso.com"), "kim@contoso.com", {"someone@partner.example"}));
  EXPECT_EQ(copy_keys(q), V{"connector:0/Aconnector"});
}

TEST(Plan, R_RCPT_1_ContactIsSentToItsTargetThroughTheMostSpecificConnector) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"partner@contoso.com"}));
  ASSERT_EQ(p.copies.size(), 1u);
  // R-OUT-2: two equally specific connectors; "Aconnector" sorts before "Bconnector" (seed 001).
  EXPECT_EQ(p.copies[0].hop.connector, "Aconnector");
  EXPECT_EQ(rcpts(p.copies[0]), V{"pat@partner.example"});
}

TEST(Plan, R_HYB_1_SharedNamespaceSplitsByWhereTheMailboxLives) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"julie@contoso.com", "david@contoso.mail.onmicrosoft.com"}));
  EXPECT_EQ(copy_keys(p), (V{"local", "connector:0/To on-premises"}));
  EXPECT_EQ(rcpts(*local_copy(p)), V{"david@contoso.com"});
}

TEST(Plan, R_HYB_2_SplitNamespaceMailToTheOtherSidesDomainGoesStraightThere) {
  // fabrikam.example is not this side's domain: it goes by MX, never through on-premises.
  auto p = plan(cloud(), msg(submitted("david@contoso.com"), "david@contoso.com", {"bob@fabrikam.example"}));
  EXPECT_EQ(copy_keys(p), V{"mx:fabrikam.example"});
}

TEST(Plan, R_HYB_3_CmtSendsCloudMailForOutsideRecipientsThroughOnPremises) {
  auto p = plan(cloud_cmt(), msg(submitted("david@contoso.com"), "david@contoso.com",
                                 {"bob@fabrikam.example", "kim@contoso.com"}));
  const Copy* onprem = remote_via(p, "To on-premises");
  ASSERT_NE(onprem, nullptr);
  EXPECT_EQ(rcpts(*onprem), V{"bob@fabrikam.example"});
  EXPECT_NE(onprem->why.find("centralized mail transport"), std::string::npos) << onprem->why;
  // Mail within the same cloud organization stays in the cloud.
  ASSERT_NE(local_copy(p), nullptr);
  EXPECT_EQ(rcpts(*local_copy(p)), V{"kim@contoso.com"});
}

TEST(Plan, R_HYB_3_CmtHandsInboundInternetMailToOnPremisesFirst) {
  auto p = plan(cloud_cmt(), msg(internet(), "x@internet.example", {"david@contoso.com", "julie@contoso.com"}));
  EXPECT_EQ(local_copy(p), nullptr);
  const Copy* onprem = remote_via(p, "To on-premises");
  ASSERT_NE(onprem, nullptr);
  EXPECT_EQ(rcpts(*onprem), (V{"david@contoso.com", "julie@contoso.com"}));
}

TEST(Plan, R_HYB_3_CmtNeverSendsMailThatCameFromOnPremisesBackThere) {
  // From on-premises (certificate connector) to a group with an outside member and a local mailbox.
  auto p = plan(cloud_cmt(), msg(from_on_premises(), "julie@contoso.com", {"all@contoso.com"}));
  ASSERT_EQ(p.attribution.kind, AttributionKind::certificate);
  for (const auto& c : p.copies) {
    if (c.kind != Copy::Kind::remote) continue;
    for (const auto& r : c.recipients) {
      if (r.address.str() == "bob@fabrikam.example") {
        EXPECT_EQ(c.hop.key(), "mx:fabrikam.example") << "sent back on-premises";
      }
      if (r.address.str() == "julie@contoso.com") {
        EXPECT_EQ(c.hop.connector, "To on-premises");
      }
    }
  }
  ASSERT_NE(local_copy(p), nullptr);
  EXPECT_EQ(rcpts(*local_copy(p)), (V{"david@contoso.com", "kim@contoso.com"}));
}

TEST(Plan, R_HYB_3_WithoutCmtOnPremisesMailToAnOutsideAddressGoesByMx) {
  auto p = plan(cloud(), msg(from_on_premises(), "julie@contoso.com", {"bob@fabrikam.example"}));
  EXPECT_EQ(copy_keys(p), V{"mx:fabrikam.example"});
}

TEST(Plan, R_IN_4_MailAttributedThroughAConnectorRunsThatOrganizationsRulesFirst) {
  // Woodgrove's server relays (IP connector, woodgrove sender) to ann@fabrikam.com — another tenant
  // on this service. Woodgrove's "Block outside" rule applies to it (seed 004, Point 1).
  ConnectionFacts conn = internet();
  conn.client_ip = "198.51.100.7";
  auto p = plan(cloud(), msg(conn, "wendy@woodgrove.com", {"ann@fabrikam.com", "walt@woodgrove.com"}));
  ASSERT_TRUE(p.attribution.organization);
  EXPECT_EQ(cloud().organizations[*p.attribution.organization].name, "woodgrove");
  ASSERT_EQ(p.failures.size(), 1u);
  EXPECT_EQ(p.failures[0].address.str(), "ann@fabrikam.com");
  EXPECT_EQ(p.failures[0].status, "5.7.901");
  EXPECT_EQ(p.failures[0].diagnostic, "550 5.7.901 Outside mail is not allowed");
}

TEST(Plan, R_RULE_1_InternetMailForTwoOrganizationsRunsEachOnesRulesOnItsOwnRecipients) {
  // security catalogue I10: woodgrove's "Drop spam" must not drop contoso's copy, whichever comes first.
  for (bool woodgrove_first : {true, false}) {
    Msg m = woodgrove_first ? msg(internet(), "x@internet.example", {"wendy@woodgrove.com", "kim@contoso.com"}, "viagra")
                            : msg(internet(), "x@internet.example", {"kim@contoso.com", "wendy@woodgrove.com"}, "viagra");
    auto p = plan(cloud(), m);
    ASSERT_EQ(p.drops.size(), 1u) << woodgrove_first;
    EXPECT_EQ(p.drops[0].address.str(), "wendy@woodgrove.com");
    const Copy* local = local_copy(p);
    ASSERT_NE(local, nullptr);
    EXPECT_EQ(rcpts(*local), V{"kim@contoso.com"});
    // The copy of the organization that was not stamped at receipt carries its own organization id.
    if (woodgrove_first) {
      ASSERT_EQ(local->edits.set_headers.size(), 1u);
      EXPECT_EQ(local->edits.set_headers[0].name, "X-MailFlow-Organization-Id");
      EXPECT_EQ(local->edits.set_headers[0].value, "contoso");
    } else {
      EXPECT_TRUE(local->edits.empty());
    }
  }
}

TEST(Plan, R_RULE_1_RulesNeverRunOnGeneratedMessages) {
  ConnectionFacts conn;
  conn.listener = "ndr";
  conn.organization = "woodgrove";
  auto p = plan(cloud(), msg(conn, nullptr, {"x@internet.example"}, "viagra [legal]"));
  EXPECT_TRUE(p.rules_skipped);
  EXPECT_TRUE(p.failures.empty());
  EXPECT_TRUE(p.drops.empty());
  EXPECT_EQ(copy_keys(p), V{"mx:internet.example"});
}

TEST(Plan, R_RULE_3_RouteViaConnectorUsesTheRuleScopedConnectorWithEdits) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"wendy@woodgrove.com"}, "[legal] contract"));
  // wendy is a local mailbox: the rule's connector applies to remote addresses only, the edit to all.
  ASSERT_NE(local_copy(p), nullptr);
  EXPECT_EQ(local_copy(p)->edits.prepend_subject, "[L] ");
  EXPECT_EQ(p.recipients[0].rules.size(), 2u);  // Tag legal, Copy wendy
  // A remote recipient (a contact) goes through the rule-scoped connector, edited.
  auto q = plan(cloud(), msg(internet(), "x@internet.example", {"ext@woodgrove.com"}, "[legal] contract"));
  const Copy* archive = remote_via(q, "Archive");
  ASSERT_NE(archive, nullptr);
  EXPECT_EQ(rcpts(*archive), V{"ext@partner.example"});
  EXPECT_EQ(archive->hop.kind, NextHop::Kind::smart_hosts);
  EXPECT_EQ(archive->edits.prepend_subject, "[L] ");
  EXPECT_NE(archive->why.find("route_via_connector"), std::string::npos);
  // Without the rule, a rule-scoped connector is never chosen (R-OUT-2): MX.
  auto r = plan(cloud(), msg(internet(), "x@internet.example", {"ext@woodgrove.com"}, "contract"));
  EXPECT_EQ(copy_keys(r), V{"mx:partner.example"});
}

TEST(Plan, R_RULE_3_RedirectReplacesTheRecipientAndAddRecipientsAddsOne) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"walt@woodgrove.com", "wendy@woodgrove.com"}));
  const Copy* local = local_copy(p);
  ASSERT_NE(local, nullptr);
  // walt → legal (redirect), wendy kept, audit added for wendy.
  EXPECT_EQ(rcpts(*local), (V{"legal@woodgrove.com", "wendy@woodgrove.com", "audit@woodgrove.com"}));
  EXPECT_EQ(local->recipients[0].index, 0u);
  EXPECT_EQ(local->recipients[2].index, 1u);  // the Bcc is a part of the recipient whose rule added it
  EXPECT_EQ(p.parts, (std::vector<std::size_t>{1, 2}));
}

TEST(Plan, R_RULE_3_DeleteDropsSilently) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"wendy@woodgrove.com"}, "cheap viagra"));
  ASSERT_EQ(p.drops.size(), 1u);
  EXPECT_NE(p.drops[0].reason.find("Drop spam"), std::string::npos);
  EXPECT_TRUE(p.failures.empty());
  // The delete drops everything the recipient's rules would have sent, a Bcc included.
  EXPECT_TRUE(p.copies.empty());
  EXPECT_EQ(p.parts[0], 1u);
}

TEST(Plan, R_RULE_1_AuditModeChangesNothing) {
  auto p = plan(cloud(), msg(internet(), "x@internet.example", {"legal@woodgrove.com"}, "hello there"));
  ASSERT_EQ(p.recipients.size(), 1u);
  ASSERT_EQ(p.recipients[0].rules.size(), 1u);
  EXPECT_TRUE(p.recipients[0].rules[0].audit);
  ASSERT_NE(local_copy(p), nullptr);
  EXPECT_TRUE(local_copy(p)->edits.empty());
}

TEST(Plan, R_RULE_4_DifferentEditsMakeDifferentCopies) {
  // Two recipients to the same mailbox store, one edited by a recipient-scoped rule: two copies.
  const char* yaml = R"(
service: {hostname: mx.test, listeners: [{name: mx, address: "127.0.0.1:2525"}]}
organizations:
  - name: w
    accepted_domains: [{domain: w.test}]
    recipients: [{type: mailbox, address: a@w.test}, {type: mailbox, address: b@w.test}]
    transport_rules:
      - {name: Tag a, priority: 0, conditions: {sent_to: [a@w.test]}, actions: {set_header: {name: X-Tag, value: a}}}
)";
  auto loaded = config::load_string(yaml, "/tmp/plan_test2.yaml");
  ASSERT_TRUE(loaded.ok());
  auto p = plan(*loaded.snapshot, msg(internet(), "x@internet.example", {"a@w.test", "b@w.test"}));
  ASSERT_EQ(p.copies.size(), 2u);
  EXPECT_EQ(p.copies[0].kind, Copy::Kind::local);
  EXPECT_EQ(p.copies[1].kind, Copy::Kind::local);
  EXPECT_EQ(rcpts(p.copies[0]), V{"a@w.test"});
  ASSERT_EQ(p.copies[0].edits.set_headers.size(), 1u);
  EXPECT_EQ(p.copies[0].edits.set_headers[0].name, "X-Tag");
  EXPECT_EQ(rcpts(p.copies[1]), V{"b@w.test"});
  EXPECT_TRUE(p.copies[1].edits.empty());
}

TEST(Plan, R_RCPT_1_TwoEnvelopeRecipientsReachingOneMailboxShareOneDelivery) {
  // The primary and a proxy of the same mailbox, and the same remote address twice.
  auto p = plan(cloud(), msg(internet(), "x@internet.example",
                             {"david@contoso.com", "david@contoso.mail.onmicrosoft.com", "julie@contoso.com",
                              "julie@contoso.com"}));
  ASSERT_EQ(p.copies.size(), 2u);
  const Copy* local = local_copy(p);
  ASSERT_NE(local, nullptr);
  ASSERT_EQ(local->recipients.size(), 1u);
  EXPECT_EQ(local->recipients[0].index, 0u);
  EXPECT_EQ(local->recipients[0].also, (std::vector<std::size_t>{1}));
  const Copy* onprem = remote_via(p, "To on-premises");
  ASSERT_NE(onprem, nullptr);
  ASSERT_EQ(onprem->recipients.size(), 1u);
  EXPECT_EQ(onprem->recipients[0].also, (std::vector<std::size_t>{3}));
  // Every envelope recipient has a part: none is left unfinished (plan.hpp invariant).
  EXPECT_EQ(p.parts, (std::vector<std::size_t>{1, 1, 1, 1}));
}

TEST(Plan, DoneRecipientsAreSkipped) {
  Msg m = msg(internet(), "x@internet.example", {"david@contoso.com", "julie@contoso.com"});
  std::vector<bool> done{true, false};
  auto p = plan(cloud(), m, &done);
  EXPECT_EQ(copy_keys(p), V{"connector:0/To on-premises"});
  EXPECT_EQ(p.parts, (std::vector<std::size_t>{0, 1}));
}

TEST(Plan, IsDeterministic) {
  Msg m = msg(internet(), "x@internet.example", {"all@contoso.com", "julie@contoso.com", "ghost@contoso.com"});
  auto a = plan(cloud(), m);
  auto b = plan(cloud(), m);
  EXPECT_EQ(copy_keys(a), copy_keys(b));
  ASSERT_EQ(a.copies.size(), b.copies.size());
  for (std::size_t i = 0; i < a.copies.size(); ++i) EXPECT_EQ(rcpts(a.copies[i]), rcpts(b.copies[i]));
}

}  // namespace
}  // namespace mf::routing
