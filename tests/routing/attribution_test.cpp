// Tests for src/routing/attribution.cpp: inbound connector matching (R-IN-2), attribution
// (R-IN-3), relay control at RCPT (R-IN-5, R-DOM-2) and submission (R-SUB-2). Configurations are
// inline YAML loaded by the real config loader.
#include "config/config.hpp"
#include "routing/attribution.hpp"

#include <gtest/gtest.h>

namespace mf::routing {
namespace {

const char* kConfig = R"(
service:
  hostname: mx.cloud.test
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: internal_relay}
      - {domain: contoso.mail.onmicrosoft.com, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.mail.onmicrosoft.com, proxy_addresses: [david@contoso.com]}
    inbound_connectors:
      - {name: From on-premises, connector_type: on_premises, tls_sender_certificate_name: "*.contoso.com", require_tls: true}
      - {name: Sub relay, connector_type: on_premises, tls_sender_certificate_name: relay.sub.contoso.com}
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.com, type: authoritative}
      - {domain: fabrikam.net, type: authoritative}
    recipients:
      - {type: mailbox, address: ann@fabrikam.com}
      - {type: mailbox, address: bob@fabrikam.net}
    inbound_connectors:
      - {name: Fabrikam servers, connector_type: on_premises, sender_ip_addresses: [198.51.100.0/24, "2001:db8:f::/48"]}
  - name: tailspin
    accepted_domains:
      - {domain: tailspin.com, type: authoritative}
    recipients:
      - {type: mailbox, address: tom@tailspin.com}
    inbound_connectors:
      - {name: Tailspin cert, connector_type: on_premises, tls_sender_certificate_name: smtp.tailspin-hosting.net}
      - {name: Disabled, enabled: false, connector_type: on_premises, sender_ip_addresses: [203.0.113.0/24]}
)";

std::shared_ptr<const config::Snapshot> snapshot() {
  static auto loaded = config::load_string(kConfig, "/tmp/attribution_test.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  }
  return loaded.snapshot;
}

Address addr(const char* s) { return *Address::parse(s); }

ConnectionFacts internet(const char* ip = "192.0.2.77") {
  ConnectionFacts c;
  c.listener = "mx";
  c.client_ip = ip;
  return c;
}

ConnectionFacts with_cert(const char* name, bool verified = true, const char* ip = "192.0.2.88") {
  ConnectionFacts c = internet(ip);
  c.tls = true;
  c.client_cert_verified = verified;
  c.client_cert_names = {name};
  return c;
}

Envelope from(const char* sender, std::initializer_list<const char*> rcpts = {}) {
  Envelope e;
  if (sender != nullptr) e.sender = addr(sender);
  for (auto r : rcpts) e.recipients.push_back(EnvelopeRecipient{addr(r), notify_none, {}});
  return e;
}

std::string code(const std::optional<Reply>& r) { return r ? std::to_string(r->code) + " " + r->enhanced : "accepted"; }

TEST(Attribution, R_IN_2_CertificateConnectorNeedsAVerifiedCertificate) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto m = match_on_premises(*snap, with_cert("mail.contoso.com"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].by_certificate);
  EXPECT_EQ(m[0].connector->name, "From on-premises");
  EXPECT_EQ(m[0].certificate_name, "mail.contoso.com");
  EXPECT_TRUE(match_on_premises(*snap, with_cert("mail.contoso.com", /*verified=*/false)).empty());
  // A wildcard stands for one label only.
  EXPECT_TRUE(match_on_premises(*snap, with_cert("a.b.contoso.com")).empty());
}

TEST(Attribution, R_IN_2_IpConnectorMatchesV4AndV6Ranges) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto v4 = match_on_premises(*snap, internet("198.51.100.20"));
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_FALSE(v4[0].by_certificate);
  EXPECT_EQ(snap->organizations[v4[0].organization].name, "fabrikam");
  EXPECT_EQ(match_on_premises(*snap, internet("2001:db8:f:1::25")).size(), 1u);
  EXPECT_TRUE(match_on_premises(*snap, internet("198.51.101.20")).empty());
  EXPECT_TRUE(match_on_premises(*snap, internet("2001:db8:e::1")).empty());
}

TEST(Attribution, R_IN_2_DisabledConnectorIsInvisible) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  EXPECT_TRUE(match_on_premises(*snap, internet("203.0.113.9")).empty());
}

TEST(Attribution, R_IN_6_OnPremisesRequireTlsMatchesOnlyTlsConnections) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  ConnectionFacts c = with_cert("mail.contoso.com");
  c.tls = false;  // names without TLS cannot happen on the wire; the connector must still refuse
  EXPECT_TRUE(match_on_premises(*snap, c).empty());
}

TEST(Attribution, R_IN_3_CertificateDomainAttributesAndMayRelayAnywhere) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto conn = with_cert("mail.contoso.com");
  auto env = from("someone@elsewhere.example", {"x@internet.example"});
  Attribution a = attribute(*snap, conn, env);
  EXPECT_EQ(a.kind, AttributionKind::certificate);
  ASSERT_TRUE(a.organization);
  EXPECT_EQ(snap->organizations[*a.organization].name, "contoso");
  EXPECT_TRUE(a.originating);
  EXPECT_TRUE(a.on_premises);
  EXPECT_EQ(a.connector, "From on-premises");
  // Any sender, any recipient, several domains: the certificate gives the right to relay.
  EXPECT_EQ(code(check_recipient(*snap, conn, from(nullptr), addr("x@internet.example"))), "accepted");
  EXPECT_EQ(code(check_recipient(*snap, conn, env, addr("y@other.example"))), "accepted");
}

TEST(Attribution, R_IN_3_CertificateNeedsItselfOrItsImmediateParentAccepted) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  // relay.sub.contoso.com: the parent sub.contoso.com is not accepted (only contoso.com is).
  auto conn = with_cert("relay.sub.contoso.com");
  Attribution a = attribute(*snap, conn, from("x@elsewhere.example"));
  EXPECT_NE(a.kind, AttributionKind::certificate);
  EXPECT_FALSE(a.originating);
  EXPECT_TRUE(a.certificate_fell_through);
  // ... but the MAIL FROM step still applies (R-IN-3 (2)).
  Attribution b = attribute(*snap, conn, from("david@contoso.com"));
  EXPECT_EQ(b.kind, AttributionKind::mail_from);
  EXPECT_TRUE(b.originating);
}

TEST(Attribution, R_IN_3_Attr36ForACertificateDomainTheOrganizationDoesNotAccept) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto conn = with_cert("smtp.tailspin-hosting.net");
  auto r = check_recipient(*snap, conn, from("x@elsewhere.example"), addr("y@internet.example"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->enhanced, "5.7.64");
  EXPECT_NE(r->text.find("ATTR36"), std::string::npos) << r->text;
  // Recipients on the service are still accepted (attributed by the recipient domain).
  EXPECT_EQ(code(check_recipient(*snap, conn, from("x@elsewhere.example"), addr("tom@tailspin.com"))), "accepted");
}

TEST(Attribution, R_IN_3_IpConnectorAttributesByMailFromDomain) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto conn = internet("198.51.100.20");
  auto env = from("ann@fabrikam.com");
  Attribution a = attribute(*snap, conn, env);
  EXPECT_EQ(a.kind, AttributionKind::mail_from);
  EXPECT_TRUE(a.originating);
  EXPECT_EQ(code(check_recipient(*snap, conn, env, addr("x@internet.example"))), "accepted");
}

TEST(Attribution, R_IN_3_IpConnectorSingleRecipientDomainAttributesWithoutRelayRight) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto conn = internet("198.51.100.20");
  auto env = from("x@elsewhere.example");
  EXPECT_EQ(code(check_recipient(*snap, conn, env, addr("ann@fabrikam.com"))), "accepted");
  env.recipients.push_back(EnvelopeRecipient{addr("ann@fabrikam.com"), notify_none, {}});
  Attribution a = attribute(*snap, conn, env);
  EXPECT_EQ(a.kind, AttributionKind::rcpt_to);
  EXPECT_FALSE(a.originating);
  ASSERT_TRUE(a.organization);
  EXPECT_EQ(snap->organizations[*a.organization].name, "fabrikam");
  // No relay to the internet: the sender domain is not accepted.
  EXPECT_EQ(code(check_recipient(*snap, conn, from("x@elsewhere.example"), addr("y@internet.example"))), "550 5.7.64");
}

TEST(Attribution, R_IN_3_IpConnectorSecondRecipientDomainIsRefusedEvenInTheSameOrganization) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto conn = internet("198.51.100.20");
  auto env = from("x@elsewhere.example", {"ann@fabrikam.com"});
  // fabrikam.net belongs to the same organization: still refused (seed 004, Point 3, note 2).
  auto r = check_recipient(*snap, conn, env, addr("bob@fabrikam.net"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->enhanced, "5.7.64");
  EXPECT_EQ(r->text, "TenantAttribution; Relay Access Denied");
  // The same domain again is fine.
  EXPECT_EQ(code(check_recipient(*snap, conn, env, addr("ann@fabrikam.com"))), "accepted");
  // With an accepted sender domain there is no such limit.
  auto own = from("ann@fabrikam.com", {"ann@fabrikam.com"});
  EXPECT_EQ(code(check_recipient(*snap, conn, own, addr("bob@fabrikam.net"))), "accepted");
}

TEST(Attribution, R_IN_3_NoConnectorAttributesByRecipientDomain) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto env = from("x@elsewhere.example", {"tom@tailspin.com"});
  Attribution a = attribute(*snap, internet(), env);
  EXPECT_EQ(a.kind, AttributionKind::recipient_domain);
  EXPECT_FALSE(a.on_premises);
  EXPECT_FALSE(a.originating);
  ASSERT_TRUE(a.organization);
  EXPECT_EQ(snap->organizations[*a.organization].name, "tailspin");
  EXPECT_FALSE(a.steps.empty());
}

TEST(Attribution, R_IN_5_NoRelayForUnattributedClients) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  // A sender in an accepted domain does not make an internet client internal (no connector).
  auto r = check_recipient(*snap, internet(), from("ann@fabrikam.com"), addr("x@internet.example"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->enhanced, "5.7.54");
  EXPECT_EQ(r->text, "Unable to relay recipient in non-accepted domain");
  // An unverified certificate gives nothing either (security catalogue D, I).
  EXPECT_EQ(code(check_recipient(*snap, with_cert("mail.contoso.com", false), from("david@contoso.com"),
                                 addr("x@internet.example"))),
            "550 5.7.54");
}

TEST(Attribution, R_DOM_2_UnknownRecipientOfAnAuthoritativeDomainIsRejectedEvenWhenOriginating) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  EXPECT_EQ(code(check_recipient(*snap, internet(), from("x@e.example"), addr("nobody@fabrikam.com"))), "550 5.4.1");
  EXPECT_EQ(code(check_recipient(*snap, with_cert("mail.contoso.com"), from("x@e.example"),
                                 addr("nobody@contoso.mail.onmicrosoft.com"))),
            "550 5.4.1");
  // internal_relay: unknown recipients are accepted (relayed to the other premises, R-DOM-3).
  EXPECT_EQ(code(check_recipient(*snap, internet(), from("x@e.example"), addr("nobody@contoso.com"))), "accepted");
}

TEST(Attribution, R_SUB_2_SubmittedMailIsTheOrganizationsOriginatingMail) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  ConnectionFacts conn = internet();
  conn.tls = true;
  conn.authenticated_user = "david@contoso.mail.onmicrosoft.com";
  Attribution a = attribute(*snap, conn, from("david@contoso.com"));
  EXPECT_EQ(a.kind, AttributionKind::submission);
  EXPECT_TRUE(a.originating);
  ASSERT_TRUE(a.organization);
  EXPECT_EQ(snap->organizations[*a.organization].name, "contoso");
  EXPECT_EQ(code(check_recipient(*snap, conn, from("david@contoso.com"), addr("x@internet.example"))), "accepted");
}

TEST(Attribution, GeneratedMessagesBelongToTheirStampedOrganization) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  ConnectionFacts conn;
  conn.listener = "ndr";
  conn.organization = "tailspin";
  Attribution a = attribute(*snap, conn, from(nullptr, {"x@internet.example"}));
  EXPECT_EQ(a.kind, AttributionKind::generated);
  ASSERT_TRUE(a.organization);
  EXPECT_EQ(snap->organizations[*a.organization].name, "tailspin");
  EXPECT_STREQ(to_string(a.kind), "generated");
}

}  // namespace
}  // namespace mf::routing
