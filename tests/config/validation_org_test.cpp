// Validation tables for src/config/connectors.cpp (R-OUT-1, R-IN-1, R-HYB-3, R-IN-3) and
// src/config/rules.cpp (R-RULE-1..3): exact key path, exact line, gist of the message.
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::config {
namespace {

using testing::ErrorCase;

class OrganizationErrors : public testing::ValidationTable {};
TEST_P(OrganizationErrors, Table) { check(); }

// Line 5 is the first line of each document's own text (after kOrgs).
INSTANTIATE_TEST_SUITE_P(
    Outbound, OrganizationErrors,
    ::testing::Values(
        ErrorCase{"DuplicateName", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: To Partner, recipient_domains: p.example, use_mx_record: true}\n"
                  "      - {name: to partner, recipient_domains: q.example, use_mx_record: true}\n",
                  "organizations[0].outbound_connectors[1].name", 8,
                  "duplicate outbound connector name 'to partner' (first at line 7)"},
        ErrorCase{"SmartHostsAndMx", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        recipient_domains: ['*']\n"
                  "        smart_hosts: [relay.example]\n        use_mx_record: true\n",
                  "organizations[0].outbound_connectors[0].use_mx_record", 10, "not both"},
        ErrorCase{"NeitherSmartHostsNorMx", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        recipient_domains: ['*']\n",
                  "organizations[0].outbound_connectors[0].smart_hosts", 7,
                  "needs smart_hosts or use_mx_record: true"},
        ErrorCase{"EmptySmartHosts", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors: [{name: c, recipient_domains: '*', smart_hosts: []}]\n",
                  "organizations[0].outbound_connectors[0].smart_hosts", 6,
                  "needs smart_hosts or use_mx_record: true"},
        ErrorCase{"RecipientDomainsMissing", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors: [{name: c, use_mx_record: true}]\n",
                  "organizations[0].outbound_connectors[0].recipient_domains", 6, "'recipient_domains' is required"},
        ErrorCase{"RecipientDomainsEmpty", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        use_mx_record: true\n"
                  "        recipient_domains: []\n",
                  "organizations[0].outbound_connectors[0].recipient_domains", 9, "must not be empty"},
        ErrorCase{"RecipientDomainInvalid", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        use_mx_record: true\n"
                  "        recipient_domains: [ok.example, \"*.\"]\n",
                  "organizations[0].outbound_connectors[0].recipient_domains[1]", 9, "invalid domain '*.'"},
        ErrorCase{"ConnectorTypeUnknown", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: c, connector_type: cloud, recipient_domains: '*', use_mx_record: true}\n",
                  "organizations[0].outbound_connectors[0].connector_type", 7,
                  "unknown value 'cloud' (expected one of: partner, on_premises)"},
        ErrorCase{"TlsSettingsUnknown", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: c, tls_settings: strict, recipient_domains: '*', use_mx_record: true}\n",
                  "organizations[0].outbound_connectors[0].tls_settings", 7,
                  "expected one of: opportunistic, encryption_only, certificate_validation, domain_validation"},
        ErrorCase{"TlsDomainInvalid", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: c, tls_domain: \"*.*.example\", recipient_domains: '*', use_mx_record: true}\n",
                  "organizations[0].outbound_connectors[0].tls_domain", 7, "invalid domain '*.example'"},
        ErrorCase{"SmartHostPortZero", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        recipient_domains: '*'\n"
                  "        smart_hosts:\n          - relay.example:25\n          - relay2.example:0\n",
                  "organizations[0].outbound_connectors[0].smart_hosts[1]", 11, "invalid port"},
        ErrorCase{"SmartHostBracket", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: c, recipient_domains: '*', smart_hosts: \"[192.0.2.1\"}\n",
                  "organizations[0].outbound_connectors[0].smart_hosts", 7, "missing ']'"},
        ErrorCase{"EnabledNotABool", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: c, enabled: yes, recipient_domains: '*', use_mx_record: true}\n",
                  "organizations[0].outbound_connectors[0].enabled", 7, "expected true or false, got 'yes'"},
        // R-HYB-3: centralized mail transport that would loop.
        ErrorCase{"CmtOnPartnerConnector", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n      - name: c\n        recipient_domains: '*'\n"
                  "        use_mx_record: true\n        route_all_messages_via_on_premises: true\n",
                  "organizations[0].outbound_connectors[0].route_all_messages_via_on_premises", 10,
                  "needs connector_type: on_premises"},
        ErrorCase{"CmtToOwnDomain", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains: [{domain: contoso.com}]\n    outbound_connectors:\n"
                  "      - name: c\n        connector_type: on_premises\n"
                  "        recipient_domains: [fabrikam.example, Contoso.com]\n"
                  "        smart_hosts: [onprem.contoso.com]\n        route_all_messages_via_on_premises: true\n",
                  "organizations[0].outbound_connectors[0].recipient_domains[1]", 10, "its mail would loop"},
        ErrorCase{"CmtToOwnWildcardDomain", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains: [{domain: \"*.contoso.com\"}]\n    outbound_connectors:\n"
                  "      - name: c\n        connector_type: on_premises\n        recipient_domains: eu.contoso.com\n"
                  "        smart_hosts: [onprem.contoso.com]\n        route_all_messages_via_on_premises: true\n",
                  "organizations[0].outbound_connectors[0].recipient_domains", 10,
                  "'eu.contoso.com' is an accepted domain of this organization"}),
    testing::case_name);

INSTANTIATE_TEST_SUITE_P(
    Inbound, OrganizationErrors,
    ::testing::Values(
        ErrorCase{"DuplicateName", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n      - {name: P, sender_domains: '*'}\n"
                  "      - {name: p, sender_domains: '*'}\n",
                  "organizations[0].inbound_connectors[1].name", 8, "duplicate inbound connector name 'p'"},
        // R-IN-3 config check, security catalogue I02.
        ErrorCase{"OverlappingRangesInTwoOrganizations", ErrorCase::orgs,
                  "  - name: a\n"
                  "    inbound_connectors: [{name: c, connector_type: on_premises, sender_ip_addresses: 192.0.2.0/24}]\n"
                  "  - name: b\n"
                  "    inbound_connectors:\n"
                  "      - name: c\n        connector_type: on_premises\n"
                  "        sender_ip_addresses: [10.0.0.1, 192.0.2.128/25]\n",
                  "organizations[1].inbound_connectors[0].sender_ip_addresses[1]", 11,
                  "IP range 192.0.2.128/25 overlaps 192.0.2.0/24 of organization 'a' at "
                  "organizations[0].inbound_connectors[0].sender_ip_addresses (line 6)"},
        ErrorCase{"SameIpv6InTwoOrganizations", ErrorCase::orgs,
                  "  - name: a\n"
                  "    inbound_connectors: [{name: c, connector_type: on_premises, sender_ip_addresses: \"2001:db8::/32\"}]\n"
                  "  - name: b\n"
                  "    inbound_connectors: [{name: c, connector_type: on_premises, sender_ip_addresses: \"2001:db8:1::5\"}]\n",
                  "organizations[1].inbound_connectors[0].sender_ip_addresses", 8, "(R-IN-3)"},
        ErrorCase{"SameCertificateInTwoOrganizations", ErrorCase::orgs,
                  "  - name: a\n"
                  "    inbound_connectors: [{name: c, connector_type: on_premises, tls_sender_certificate_name: \"*.Hoster.example\"}]\n"
                  "  - name: b\n"
                  "    inbound_connectors: [{name: c, connector_type: on_premises, tls_sender_certificate_name: \"*.hoster.example\"}]\n",
                  "organizations[1].inbound_connectors[0].tls_sender_certificate_name", 8,
                  "certificate name '*.hoster.example' is already used by organization 'a'"},
        ErrorCase{"BadCidr", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n"
                  "      - {name: c, connector_type: on_premises, sender_ip_addresses: [192.0.2.0/33]}\n",
                  "organizations[0].inbound_connectors[0].sender_ip_addresses[0]", 7, "invalid prefix length"},
        ErrorCase{"OnPremisesMatchesNothing", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n      - {name: c, connector_type: on_premises}\n",
                  "organizations[0].inbound_connectors[0].sender_ip_addresses", 7,
                  "needs sender_ip_addresses or tls_sender_certificate_name"},
        ErrorCase{"PartnerWithoutSenderDomains", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n      - {name: c, sender_ip_addresses: 192.0.2.1}\n",
                  "organizations[0].inbound_connectors[0].sender_domains", 7, "'sender_domains' is required"},
        ErrorCase{"RestrictToIpsWithoutIps", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n"
                  "      - {name: c, sender_domains: p.example, restrict_domains_to_ip_addresses: true}\n",
                  "organizations[0].inbound_connectors[0].restrict_domains_to_ip_addresses", 7,
                  "needs sender_ip_addresses"},
        ErrorCase{"RestrictToCertificateWithoutName", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n"
                  "      - {name: c, sender_domains: p.example, restrict_domains_to_certificate: true}\n",
                  "organizations[0].inbound_connectors[0].restrict_domains_to_certificate", 7,
                  "needs tls_sender_certificate_name"},
        ErrorCase{"CertificateNameInvalid", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n"
                  "      - {name: c, connector_type: on_premises, tls_sender_certificate_name: \"mail..example\"}\n",
                  "organizations[0].inbound_connectors[0].tls_sender_certificate_name", 7, "invalid domain"},
        ErrorCase{"RequireTlsNotABool", ErrorCase::orgs,
                  "  - name: a\n    inbound_connectors:\n      - {name: c, sender_domains: '*', require_tls: 1}\n",
                  "organizations[0].inbound_connectors[0].require_tls", 7, "expected true or false, got '1'"}),
    testing::case_name);

INSTANTIATE_TEST_SUITE_P(
    Rules, OrganizationErrors,
    ::testing::Values(
        ErrorCase{"NegativePriority", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r, priority: -1, actions: {delete: true}}\n",
                  "organizations[0].transport_rules[0].priority", 7, "must be between 0 and"},
        ErrorCase{"DuplicatePriority", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r1, priority: 3, actions: {delete: true}}\n"
                  "      - {name: r2, actions: {delete: true}}\n      - {name: r3, priority: 3, actions: {delete: true}}\n",
                  "organizations[0].transport_rules[2].priority", 9, "priority 3 is already used by rule 'r1' (line 7)"},
        ErrorCase{"DuplicateRuleName", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: Rule, priority: 1, actions: {delete: true}}\n"
                  "      - {name: rule, priority: 2, actions: {delete: true}}\n",
                  "organizations[0].transport_rules[1].name", 8, "duplicate rule name 'rule'"},
        ErrorCase{"RouteToMissingConnector", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        actions: {route_via_connector: Archive}\n",
                  "organizations[0].transport_rules[0].actions.route_via_connector", 8,
                  "no outbound connector named 'Archive' in organization 'a'"},
        ErrorCase{"RouteToOtherOrganizationsConnector", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors:\n"
                  "      - {name: Archive, recipient_domains: '*', use_mx_record: true, is_transport_rule_scoped: true}\n"
                  "  - name: b\n    transport_rules:\n      - name: r\n        actions: {route_via_connector: Archive}\n",
                  "organizations[1].transport_rules[0].actions.route_via_connector", 11,
                  "no outbound connector named 'Archive' in organization 'b'"},
        ErrorCase{"RouteToUnscopedConnector", ErrorCase::orgs,
                  "  - name: a\n    outbound_connectors: [{name: Archive, recipient_domains: '*', use_mx_record: true}]\n"
                  "    transport_rules:\n      - name: r\n        actions: {route_via_connector: archive}\n",
                  "organizations[0].transport_rules[0].actions.route_via_connector", 9,
                  "outbound connector 'Archive' is not rule-scoped"},
        ErrorCase{"RejectCode572", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        actions:\n"
                  "          reject: {enhanced_status_code: 5.7.2}\n",
                  "organizations[0].transport_rules[0].actions.reject.enhanced_status_code", 9,
                  "must be 5.7.1 or 5.7.900 to 5.7.999, got '5.7.2'"},
        ErrorCase{"RejectCode57899", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r, actions: {reject: {enhanced_status_code: 5.7.899}}}\n",
                  "organizations[0].transport_rules[0].actions.reject.enhanced_status_code", 7, "got '5.7.899'"},
        ErrorCase{"RejectCode571000", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r, actions: {reject: {enhanced_status_code: 5.7.9000}}}\n",
                  "organizations[0].transport_rules[0].actions.reject.enhanced_status_code", 7, "got '5.7.9000'"},
        ErrorCase{"RejectTextWithNewline", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r, actions: {reject: {text: \"no\\r\\n250 ok\"}}}\n",
                  "organizations[0].transport_rules[0].actions.reject.text", 7, "must not contain control characters"},
        ErrorCase{"BadRegex", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions:\n"
                  "          header_matches: {name: X-Tag, pattern: \"([a-z\"}\n        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.header_matches.pattern", 9,
                  "invalid regular expression '([a-z'"},
        ErrorCase{"HeaderContainsWithoutWords", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions:\n"
                  "          header_contains: {name: X-Tag}\n        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.header_contains.words", 9, "'words' is required"},
        ErrorCase{"ConditionTypo", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions: {subject_contain: x}\n"
                  "        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.subject_contain", 8,
                  "did you mean 'subject_contains'?"},
        ErrorCase{"ExceptIfBadSize", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        except_if: {size_over: big}\n"
                  "        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].except_if.size_over", 8, "invalid size 'big'"},
        ErrorCase{"ScopeUnknown", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions: {sent_to_scope: everywhere}\n"
                  "        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.sent_to_scope", 8,
                  "expected one of: in_organization, not_in_organization"},
        ErrorCase{"ConditionAddressInvalid", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions: {from: [ok@a.example, nope]}\n"
                  "        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.from[1]", 8, "invalid address 'nope'"},
        ErrorCase{"ConditionRangeInvalid", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        conditions: {sender_ip_ranges: 10.0.0.0/40}\n"
                  "        actions: {delete: true}\n",
                  "organizations[0].transport_rules[0].conditions.sender_ip_ranges", 8, "invalid prefix length"},
        ErrorCase{"NoActions", ErrorCase::orgs, "  - name: a\n    transport_rules:\n      - name: r\n",
                  "organizations[0].transport_rules[0].actions", 7, "'actions' is required"},
        ErrorCase{"EmptyActions", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n        actions: {}\n",
                  "organizations[0].transport_rules[0].actions", 8, "a rule needs at least one action"},
        ErrorCase{"SetHeaderValueWithNewline", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n"
                  "        actions: {set_header: {name: X-A, value: \"a\\nBcc: x@evil.example\"}}\n",
                  "organizations[0].transport_rules[0].actions.set_header.value", 8, "control characters"},
        ErrorCase{"SetHeaderBadName", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - name: r\n"
                  "        actions: {set_header: {name: \"X Bad:\", value: v}}\n",
                  "organizations[0].transport_rules[0].actions.set_header.name", 8, "invalid header field name"},
        ErrorCase{"ModeUnknown", ErrorCase::orgs,
                  "  - name: a\n    transport_rules:\n      - {name: r, mode: test, actions: {delete: true}}\n",
                  "organizations[0].transport_rules[0].mode", 7, "unknown value 'test' (expected one of: enforce, audit)"}),
    testing::case_name);

TEST(ConfigValidation, SharedRangesAreFineWithinOneOrganizationAndForPartners) {
  // R-IN-3 concerns on_premises connectors of *different* organizations only.
  auto r = load_string(std::string(testing::kOrgs) +
                           "  - name: a\n"
                           "    inbound_connectors:\n"
                           "      - {name: c1, connector_type: on_premises, sender_ip_addresses: 192.0.2.0/24}\n"
                           "      - {name: c2, connector_type: on_premises, sender_ip_addresses: 192.0.2.7}\n"
                           "      - {name: p, sender_domains: '*', sender_ip_addresses: 198.51.100.0/24}\n"
                           "  - name: b\n"
                           "    inbound_connectors:\n"
                           "      - {name: p, sender_domains: '*', sender_ip_addresses: 198.51.100.0/24}\n"
                           "      - {name: c, connector_type: on_premises, sender_ip_addresses: 192.0.3.0/24}\n",
                       "/tmp/ranges.yaml");
  EXPECT_TRUE(r.ok()) << testing::dump(r);
}

TEST(ConfigValidation, CmtWithAnyDomainIsTheNormalSetUp) {
  auto r = load_string(std::string(testing::kOrgs) +
                           "  - name: a\n"
                           "    accepted_domains: [{domain: contoso.com}]\n"
                           "    outbound_connectors:\n"
                           "      - {name: cmt, connector_type: on_premises, recipient_domains: '*',\n"
                           "         smart_hosts: onprem.contoso.com, route_all_messages_via_on_premises: true}\n",
                       "/tmp/cmt.yaml");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_TRUE(r.snapshot->organizations[0].outbound_connectors[0].route_all_messages_via_on_premises);
}

TEST(ConfigValidation, RuleScopedConnectorMayOmitRecipientDomains) {
  auto r = load_string(std::string(testing::kOrgs) +
                           "  - name: a\n"
                           "    outbound_connectors:\n"
                           "      - {name: Archive, is_transport_rule_scoped: true, smart_hosts: archive.example}\n"
                           "    transport_rules: [{name: r, actions: {route_via_connector: ARCHIVE}}]\n",
                       "/tmp/scoped.yaml");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->organizations[0].transport_rules[0].actions.route_via_connector, "Archive");
}

}  // namespace
}  // namespace mf::config

namespace mf::config {
namespace {

// Tenant isolation (security catalogue I01 shape): organization b cannot list an address in a's
// domain, as a primary address or a proxy; mail contacts are external and exempt.
TEST(RecipientOwnership, AddressesMustBeInTheOrganizationsOwnDomains) {
  auto r = load_string(R"(service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: a
    accepted_domains: [{domain: a.example}]
    recipients:
      - {type: mailbox, address: boss@a.example}
  - name: b
    accepted_domains: [{domain: b.example}]
    recipients:
      - {type: mailbox, address: ceo@a.example}
      - {type: mailbox, address: x@b.example, proxy_addresses: [x@a.example]}
      - {type: mail_contact, address: partner@elsewhere.example, target_address: partner@elsewhere.example}
      - {type: group, address: all@nowhere.example, members: [boss@a.example]}
)",
                       "/tmp/ownership.yaml");
  EXPECT_TRUE(testing::has_error(r, "organizations[1].recipients[0].address", 12,
                                 "not in an accepted domain of organization 'b'"));
  EXPECT_TRUE(testing::has_error(r, "organizations[1].recipients[1].proxy_addresses[0]", 13,
                                 "not in an accepted domain of organization 'b'"));
  EXPECT_TRUE(testing::has_error(r, "organizations[1].recipients[3].address", 15,
                                 "not in an accepted domain of organization 'b'"));
  EXPECT_EQ(testing::find_error(r, "organizations[1].recipients[2].address"), nullptr);  // contact: exempt
  EXPECT_EQ(testing::find_error(r, "organizations[1].recipients[3].members[0]"), nullptr);  // members may be anywhere
}

}  // namespace
}  // namespace mf::config
