// Tests for R-IN-6 partner connectors (check_partner, check_sender, check_recipient) and R-IN-7's
// connector exemption (matches_any_inbound_connector) in src/routing/attribution.cpp.
// Configurations are inline YAML loaded by the real config loader.
#include "config/config.hpp"
#include "routing/attribution.hpp"

#include <gtest/gtest.h>

namespace mf::routing {
namespace {

// Two organizations: contoso has partner connectors for fabrikam.com (TLS only, the default),
// for woodgrove.com (restricted to an IP range), for tailspin.com (restricted to a certificate),
// plus an unrestricted `*` connector that does not require TLS, and its own on-premises servers.
// litware has no partner connectors at all.
const char* kMultiOrg = R"(
service:
  hostname: mx.cloud.test
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.com}
    inbound_connectors:
      - {name: Fabrikam, connector_type: partner, sender_domains: [fabrikam.com]}
      - {name: Woodgrove, connector_type: partner, sender_domains: ["*.woodgrove.com"], require_tls: false,
         restrict_domains_to_ip_addresses: true, sender_ip_addresses: [198.51.100.0/24]}
      - {name: Tailspin, connector_type: partner, sender_domains: [tailspin.com], require_tls: false,
         restrict_domains_to_certificate: true, tls_sender_certificate_name: "*.tailspin.com"}
      - {name: Everyone else, connector_type: partner, sender_domains: ["*"], require_tls: false}
      - {name: Disabled, enabled: false, connector_type: partner, sender_domains: [adatum.com]}
      - {name: Own servers, connector_type: on_premises, sender_ip_addresses: [203.0.113.0/24]}
  - name: litware
    accepted_domains:
      - {domain: litware.com, type: authoritative}
    recipients:
      - {type: mailbox, address: lee@litware.com}
)";

const char* kOneOrg = R"(
service:
  hostname: mx.cloud.test
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.com}
    inbound_connectors:
      - {name: Fabrikam, connector_type: partner, sender_domains: [fabrikam.com]}
)";

std::shared_ptr<const config::Snapshot> load(const char* yaml) {
  auto loaded = config::load_string(yaml, "/tmp/partner_test.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  }
  return loaded.snapshot;
}

const config::Snapshot& multi() {
  static auto s = load(kMultiOrg);
  return *s;
}
const config::Snapshot& one() {
  static auto s = load(kOneOrg);
  return *s;
}

Address addr(const char* s) { return *Address::parse(s); }

ConnectionFacts plain(const char* ip = "192.0.2.77") {
  ConnectionFacts c;
  c.listener = "mx";
  c.client_ip = ip;
  return c;
}

ConnectionFacts tls(const char* ip = "192.0.2.77", std::vector<std::string> cert_names = {}) {
  ConnectionFacts c = plain(ip);
  c.tls = true;
  c.tls_version = "TLSv1.3";
  c.client_cert_verified = !cert_names.empty();
  c.client_cert_names = std::move(cert_names);
  return c;
}

Envelope from(const char* sender) {
  Envelope e;
  if (sender != nullptr) e.sender = addr(sender);
  return e;
}

std::string code(const std::optional<Reply>& r) { return r ? std::to_string(r->code) + " " + r->enhanced : "accepted"; }

constexpr std::size_t kContoso = 0;
constexpr std::size_t kLitware = 1;

TEST(PartnerConnectors, R_IN_6_RequireTlsIsTheDefaultAndRefusesPlainSmtpWith451) {
  auto r = check_partner(multi(), plain(), from("a@fabrikam.com"), kContoso);
  ASSERT_TRUE(r);
  EXPECT_EQ(code(r), "451 5.7.3");
  EXPECT_EQ(r->text, "STARTTLS is required to send mail");
  EXPECT_EQ(code(check_partner(multi(), tls(), from("a@fabrikam.com"), kContoso)), "accepted");
}

TEST(PartnerConnectors, R_IN_6_RestrictDomainsToIpAddresses) {
  // Subdomains are covered by "*.woodgrove.com"; the IP must be in sender_ip_addresses.
  auto r = check_partner(multi(), tls("192.0.2.9"), from("a@mail.woodgrove.com"), kContoso);
  ASSERT_TRUE(r);
  EXPECT_EQ(code(r), "550 5.7.51");
  EXPECT_EQ(r->text, "TenantInboundAttribution; RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set");
  EXPECT_EQ(code(check_partner(multi(), plain("198.51.100.20"), from("a@woodgrove.com"), kContoso)), "accepted");
  // An IP violation is permanent even without TLS (STARTTLS would not help).
  EXPECT_EQ(code(check_partner(multi(), plain("192.0.2.9"), from("a@woodgrove.com"), kContoso)), "550 5.7.51");
}

TEST(PartnerConnectors, R_IN_6_RestrictDomainsToCertificate) {
  // Plain text is "without that certificate" (SPEC R-IN-6): 550 unless require_tls asks for STARTTLS.
  EXPECT_EQ(code(check_partner(multi(), plain(), from("a@tailspin.com"), kContoso)), "550 5.7.51");
  // TLS without a certificate, or with another name, or an unverified one: 5.7.51.
  EXPECT_EQ(code(check_partner(multi(), tls(), from("a@tailspin.com"), kContoso)), "550 5.7.51");
  EXPECT_EQ(code(check_partner(multi(), tls("192.0.2.77", {"mx.example.net"}), from("a@tailspin.com"), kContoso)),
            "550 5.7.51");
  ConnectionFacts unverified = tls("192.0.2.77", {"mx.tailspin.com"});
  unverified.client_cert_verified = false;
  EXPECT_EQ(code(check_partner(multi(), unverified, from("a@tailspin.com"), kContoso)), "550 5.7.51");
  EXPECT_EQ(code(check_partner(multi(), tls("192.0.2.77", {"mx.tailspin.com"}), from("a@tailspin.com"), kContoso)),
            "accepted");
}

TEST(PartnerConnectors, R_IN_6_SendersNoConnectorCoversAreNotRestricted) {
  // "*" covers everyone else and does not require TLS; litware has no partner connector.
  EXPECT_EQ(code(check_partner(multi(), plain(), from("a@example.org"), kContoso)), "accepted");
  EXPECT_EQ(code(check_partner(multi(), plain(), from("a@fabrikam.com"), kLitware)), "accepted");
  // The null sender has no domain to match.
  EXPECT_EQ(code(check_partner(multi(), plain(), from(nullptr), kContoso)), "accepted");
  // A disabled connector is invisible: adatum.com falls to "*".
  EXPECT_EQ(code(check_partner(multi(), plain(), from("a@adatum.com"), kContoso)), "accepted");
}

TEST(PartnerConnectors, R_IN_6_TheMostSpecificSenderDomainGovernsOverTheCatchAll) {
  // fabrikam.com matches both "fabrikam.com" (TLS required) and "*" (not): the exact entry wins.
  EXPECT_EQ(code(check_partner(multi(), plain(), from("x@fabrikam.com"), kContoso)), "451 5.7.3");
}

TEST(PartnerConnectors, R_IN_6_TheOrganizationsOwnServersAreNotPartners) {
  // 203.0.113.0/24 is contoso's on_premises connector: mail from it is the organization's own.
  EXPECT_EQ(code(check_partner(multi(), plain("203.0.113.5"), from("a@fabrikam.com"), kContoso)), "accepted");
  EXPECT_EQ(code(check_partner(multi(), plain("203.0.113.5"), from("a@woodgrove.com"), kContoso)), "accepted");
}

TEST(PartnerConnectors, R_IN_6_SubmissionAndGeneratedMailAreNotChecked) {
  ConnectionFacts authed = plain();
  authed.authenticated_user = "david@contoso.com";
  EXPECT_EQ(code(check_partner(multi(), authed, from("a@fabrikam.com"), kContoso)), "accepted");
  ConnectionFacts ndr = plain("127.0.0.1");
  ndr.listener = "ndr";
  EXPECT_EQ(code(check_partner(multi(), ndr, from("a@fabrikam.com"), kContoso)), "accepted");
}

TEST(PartnerConnectors, R_IN_6_OneOrganizationDecidesAtMailFrom) {
  // SPEC R-IN-6: MAIL FROM before STARTTLS gets 451 5.7.3.
  EXPECT_EQ(code(check_sender(one(), plain(), from("a@fabrikam.com"))), "451 5.7.3");
  EXPECT_EQ(code(check_sender(one(), tls(), from("a@fabrikam.com"))), "accepted");
  EXPECT_EQ(code(check_sender(one(), plain(), from("a@example.org"))), "accepted");
}

TEST(PartnerConnectors, R_IN_6_SeveralOrganizationsDecideAtRcptForTheRecipientsOrganization) {
  // Catalogue I08/I-rows: contoso's partner connector must not block fabrikam's mail to litware.
  EXPECT_EQ(code(check_sender(multi(), plain(), from("a@fabrikam.com"))), "accepted");
  Envelope env = from("a@fabrikam.com");
  EXPECT_EQ(code(check_recipient(multi(), plain(), env, addr("david@contoso.com"))), "451 5.7.3");
  EXPECT_EQ(code(check_recipient(multi(), plain(), env, addr("lee@litware.com"))), "accepted");
  EXPECT_EQ(code(check_recipient(multi(), tls(), env, addr("david@contoso.com"))), "accepted");
  // The restriction comes before the directory look-up: no address harvesting from a refused sender.
  EXPECT_EQ(code(check_recipient(multi(), plain("192.0.2.9"), from("a@woodgrove.com"), addr("nobody@contoso.com"))),
            "550 5.7.51");
  // Relay control is unchanged for recipients outside the service.
  EXPECT_EQ(code(check_recipient(multi(), tls(), env, addr("x@example.org"))), "550 5.7.54");
}

TEST(PartnerConnectors, R_IN_7_ConnectorMatchedClientsAreRecognisedForTheThrottleExemption) {
  EXPECT_FALSE(matches_any_inbound_connector(multi(), plain("192.0.2.77")));
  EXPECT_TRUE(matches_any_inbound_connector(multi(), plain("203.0.113.9")));    // on_premises by IP
  EXPECT_TRUE(matches_any_inbound_connector(multi(), plain("198.51.100.1")));   // partner by IP
  EXPECT_TRUE(matches_any_inbound_connector(multi(), tls("192.0.2.77", {"mx.tailspin.com"})));  // partner by cert
  ConnectionFacts unverified = tls("192.0.2.77", {"mx.tailspin.com"});
  unverified.client_cert_verified = false;
  EXPECT_FALSE(matches_any_inbound_connector(multi(), unverified));
}

}  // namespace
}  // namespace mf::routing
