// Validation tables for src/config/ (service.cpp, organization.cpp, recipients.cpp, reader.cpp):
// each row is a document with one mistake and the error it must produce — exact key path, exact
// line, and the gist of the message. Connectors and rules are in validation_org_test.cpp.
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::config {
namespace {

using testing::ErrorCase;
using testing::TempDir;

class SchemaErrors : public testing::ValidationTable {};
TEST_P(SchemaErrors, Table) { check(); }

// Unknown keys, duplicate keys, wrong types, bad values (SPEC §4).
INSTANTIATE_TEST_SUITE_P(
    Config, SchemaErrors,
    ::testing::Values(
        ErrorCase{"UnknownKeySuggests", ErrorCase::service, "  listner: x\n", "service.listner", 4,
                  "unknown key 'listner' (did you mean 'listeners'?)"},
        ErrorCase{"UnknownTopLevelKey", ErrorCase::service, "organisations: []\n", "organisations", 4,
                  "unknown key 'organisations' (did you mean 'organizations'?)"},
        ErrorCase{"UnknownKeyNoSuggestion", ErrorCase::service, "  colour: blue\n", "service.colour", 4,
                  "unknown key 'colour'"},
        ErrorCase{"DuplicateKey", ErrorCase::service, "  hostname: other.example\n", "service.hostname", 4,
                  "duplicate key 'hostname' (first given at line 2)"},
        ErrorCase{"DuplicateKeyInFlowMap", ErrorCase::service, "  throttling: {window: 1s, window: 2s}\n",
                  "service.throttling.window", 4, "duplicate key 'window' (first given at line 4)"},
        ErrorCase{"KeyInWrongSection", ErrorCase::service, "  queue: {window: 1s}\n", "service.queue.window", 4,
                  "unknown key 'window'"},
        ErrorCase{"ListWhereStringExpected", ErrorCase::none,
                  "service:\n  hostname: [a.example]\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n",
                  "service.hostname", 2, "expected a string, got a list"},
        ErrorCase{"MapWhereListExpected", ErrorCase::service, "organizations: {name: x}\n", "organizations", 4,
                  "expected a list, got a mapping"},
        ErrorCase{"YesForANumber", ErrorCase::service, "  max_recipients: yes\n", "service.max_recipients", 4,
                  "expected a whole number, got 'yes'"},
        ErrorCase{"MaxRecipientsZero", ErrorCase::service, "  max_recipients: 0\n", "service.max_recipients", 4,
                  "must be at least 1"},
        ErrorCase{"HopCountTooBig", ErrorCase::service, "  max_hop_count: 5000000000\n", "service.max_hop_count", 4,
                  "must be at most 4294967295"},
        ErrorCase{"MessageSizeZero", ErrorCase::service, "  max_message_size: 0\n", "service.max_message_size", 4,
                  "must be greater than 0"},
        ErrorCase{"MessageSizeUnit", ErrorCase::service, "  max_message_size: 10XB\n", "service.max_message_size",
                  4, "invalid size '10XB'"},
        ErrorCase{"PortTooBig", ErrorCase::service, "  remote_smtp_port: 70000\n", "service.remote_smtp_port", 4,
                  "must be at most 65535"},
        ErrorCase{"BadSourceAddress", ErrorCase::service, "  source_address: 192.0.2.300\n",
                  "service.source_address", 4, "invalid IP address"},
        ErrorCase{"BadDuration", ErrorCase::service, "  queue: {message_expiration: 1w}\n",
                  "service.queue.message_expiration", 4, "invalid duration '1w'"},
        ErrorCase{"NoRetryIntervals", ErrorCase::service, "  queue: {retry_intervals: []}\n",
                  "service.queue.retry_intervals", 4, "at least one interval"},
        ErrorCase{"ZeroRetryInterval", ErrorCase::service, "  queue:\n    retry_intervals: [60s, 0s]\n",
                  "service.queue.retry_intervals[1]", 5, "must be longer than 0s"},
        ErrorCase{"BadThrottlingWindow", ErrorCase::service, "  throttling: {window: soon}\n",
                  "service.throttling.window", 4, "invalid duration 'soon'"},
        ErrorCase{"ZeroCommandTimeout", ErrorCase::service, "  limits: {command_timeout: 0}\n",
                  "service.limits.command_timeout", 4, "must be longer than 0s"},
        ErrorCase{"LimitsTypo", ErrorCase::service, "  limits:\n    max_conections: 5\n",
                  "service.limits.max_conections", 5, "did you mean 'max_connections'?"},
        ErrorCase{"DnsServerName", ErrorCase::service, "  dns: {servers: [dns.example:53]}\n",
                  "service.dns.servers[0]", 4, "must be an IP address"},
        ErrorCase{"AdminWithoutToken", ErrorCase::service, "  admin: {address: \"127.0.0.1:8025\"}\n",
                  "service.admin.token_file", 4, "'token_file' is required"},
        ErrorCase{"AdminWithoutPort", ErrorCase::service, "  admin: {address: 127.0.0.1, token_file: t}\n",
                  "service.admin.address", 4, "needs a port"}),
    testing::case_name);

// service.hostname and service.listeners.
INSTANTIATE_TEST_SUITE_P(
    Service, SchemaErrors,
    ::testing::Values(
        ErrorCase{"HostnameMissing", ErrorCase::none,
                  "service:\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n", "service.hostname", 2,
                  "'hostname' is required"},
        ErrorCase{"HostnameInvalid", ErrorCase::none,
                  "service:\n  hostname: bad..example\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n",
                  "service.hostname", 2, "invalid domain 'bad..example'"},
        ErrorCase{"HostnameLiteral", ErrorCase::none,
                  "service:\n  hostname: '[192.0.2.1]'\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n",
                  "service.hostname", 2, "address literal"},
        ErrorCase{"NoListeners", ErrorCase::none, "service:\n  hostname: mx.example\n  listeners: []\n",
                  "service.listeners", 3, "'listeners' must not be empty"},
        ErrorCase{"ListenersMissing", ErrorCase::none, "service:\n  hostname: mx.example\n", "service.listeners",
                  2, "'listeners' is required"},
        ErrorCase{"DuplicateListenerName", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners:\n"
                  "    - {name: mx, address: \"127.0.0.1:25\"}\n"
                  "    - {name: MX, address: \"127.0.0.1:26\"}\n",
                  "service.listeners[1].name", 5, "duplicate listener name 'MX' (first at line 4)"},
        ErrorCase{"DuplicateListenerAddress", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners:\n"
                  "    - {name: a, address: \"[::1]:25\"}\n"
                  "    - {name: b, address: \"[0:0::1]:25\"}\n",
                  "service.listeners[1].address", 5, "duplicate listener address [::1]:25"},
        ErrorCase{"ConflictingListenerAddress", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners:\n"
                  "    - {name: a, address: \"0.0.0.0:25\"}\n"
                  "    - {name: b, address: \"127.0.0.1:25\"}\n",
                  "service.listeners[1].address", 5, "conflicting listener address 127.0.0.1:25"},
        ErrorCase{"ListenerRoleUnknown", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners:\n"
                  "    - {name: a, address: \"127.0.0.1:25\", role: relay}\n",
                  "service.listeners[0].role", 4, "unknown value 'relay' (expected one of: mx, submission)"},
        ErrorCase{"ListenerOnAName", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners: [{name: a, address: \"mx.example:25\"}]\n",
                  "service.listeners[0].address", 3, "must be an IP address"},
        ErrorCase{"ListenerWithoutPort", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners: [{name: a, address: 127.0.0.1}]\n",
                  "service.listeners[0].address", 3, "needs a port"},
        ErrorCase{"ListenerPortZero", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners: [{name: a, address: \"127.0.0.1:0\"}]\n",
                  "service.listeners[0].address", 3, "invalid port"},
        ErrorCase{"ListenerWithoutName", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners:\n    - address: \"127.0.0.1:25\"\n",
                  "service.listeners[0].name", 4, "'name' is required"},
        ErrorCase{"ListenerNotAMap", ErrorCase::none,
                  "service:\n  hostname: mx.example\n  listeners: [mx]\n", "service.listeners[0]", 3,
                  "expected a mapping, got 'mx'"}),
    testing::case_name);

// R-DOM-1: organizations and accepted domains.
INSTANTIATE_TEST_SUITE_P(
    Domains, SchemaErrors,
    ::testing::Values(
        ErrorCase{"DuplicateOrganization", ErrorCase::orgs, "  - name: Contoso\n  - name: contoso\n",
                  "organizations[1].name", 6,
                  "duplicate organization name 'contoso' (first defined at organizations[0] (line 5))"},
        ErrorCase{"OrganizationNameIsAPath", ErrorCase::orgs, "  - name: ../etc\n", "organizations[0].name", 5,
                  "invalid organization name"},
        ErrorCase{"OrganizationWithoutName", ErrorCase::orgs, "  - accepted_domains: []\n",
                  "organizations[0].name", 5, "'name' is required"},
        // security catalogue A25: case, trailing dot and IDN forms are the same domain.
        ErrorCase{"DomainInTwoOrganizations", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains: [{domain: contoso.com}]\n"
                  "  - name: b\n    accepted_domains: [{domain: Contoso.COM.}]\n",
                  "organizations[1].accepted_domains[0].domain", 8,
                  "accepted domain 'contoso.com' is already listed at organizations[0].accepted_domains[0] (line 6)"},
        ErrorCase{"DomainTwiceInOneOrganization", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains:\n      - {domain: \"*.x.example\"}\n"
                  "      - {domain: \"*.X.example\", type: external_relay}\n",
                  "organizations[0].accepted_domains[1].domain", 8, "accepted domain '*.x.example' is already listed"},
        ErrorCase{"IdnDomainTwice", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains: [{domain: xn--bcher-kva.example}]\n"
                  "  - name: b\n    accepted_domains: [{domain: bücher.example}]\n",
                  "organizations[1].accepted_domains[0].domain", 8, "'xn--bcher-kva.example' is already listed"},
        ErrorCase{"DomainTypeUnknown", ErrorCase::orgs,
                  "  - name: a\n    accepted_domains: [{domain: a.example, type: relay}]\n",
                  "organizations[0].accepted_domains[0].type", 6,
                  "unknown value 'relay' (expected one of: authoritative, internal_relay, external_relay)"},
        ErrorCase{"DomainStar", ErrorCase::orgs, "  - name: a\n    accepted_domains: [{domain: \"*\"}]\n",
                  "organizations[0].accepted_domains[0].domain", 6, "'*' cannot be an accepted domain"},
        ErrorCase{"DomainInvalid", ErrorCase::orgs, "  - name: a\n    accepted_domains: [{domain: a..example}]\n",
                  "organizations[0].accepted_domains[0].domain", 6, "invalid domain 'a..example'"},
        ErrorCase{"DomainKeyTypo", ErrorCase::orgs, "  - name: a\n    accepted_domains: [{domain: a.example, typ: x}]\n",
                  "organizations[0].accepted_domains[0].typ", 6, "did you mean 'type'?"}),
    testing::case_name);

// R-RCPT-1: recipients.
INSTANTIATE_TEST_SUITE_P(
    Recipients, SchemaErrors,
    ::testing::Values(
        ErrorCase{"AddressInTwoOrganizations", ErrorCase::orgs,
                  "  - name: a\n    recipients: [{address: x@a.example}]\n"
                  "  - name: b\n    recipients: [{address: X@A.example}]\n",
                  "organizations[1].recipients[0].address", 8,
                  "address 'X@a.example' is already used by organizations[0].recipients[0] (line 6)"},
        ErrorCase{"ProxyIsAnotherAddress", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: x@a.example}\n"
                  "      - {address: y@a.example, proxy_addresses: [z@a.example, x@a.example]}\n",
                  "organizations[0].recipients[1].proxy_addresses[1]", 8,
                  "address 'x@a.example' is already used by organizations[0].recipients[0] (line 7)"},
        ErrorCase{"ProxyAsSingleString", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: x@a.example, proxy_addresses: X@a.example}\n",
                  "organizations[0].recipients[0].proxy_addresses", 7, "is already used by this recipient"},
        ErrorCase{"MailUserWithoutTarget", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {type: mail_user, address: x@a.example}\n",
                  "organizations[0].recipients[0].target_address", 7, "a mail_user needs 'target_address'"},
        ErrorCase{"ContactWithoutTarget", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {type: mail_contact, address: x@a.example}\n",
                  "organizations[0].recipients[0].target_address", 7, "a mail_contact needs 'target_address'"},
        ErrorCase{"TargetOnMailbox", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: x@a.example, target_address: y@b.example}\n",
                  "organizations[0].recipients[0].target_address", 7, "applies only to mail_user and mail_contact"},
        ErrorCase{"GroupWithoutMembers", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {type: group, address: g@a.example, members: []}\n",
                  "organizations[0].recipients[0].members", 7, "a group needs at least one member"},
        ErrorCase{"MembersOnMailbox", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: g@a.example, members: [x@a.example]}\n",
                  "organizations[0].recipients[0].members", 7, "applies only to group"},
        ErrorCase{"BadMember", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - type: group\n        address: g@a.example\n"
                  "        members:\n          - x@a.example\n          - not-an-address\n",
                  "organizations[0].recipients[0].members[1]", 11, "invalid address 'not-an-address'"},
        ErrorCase{"PasswordNotAHash", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: x@a.example, password_hash: secret}\n",
                  "organizations[0].recipients[0].password_hash", 7, "not a crypt(3) password hash"},
        ErrorCase{"PasswordMd5Crypt", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n      - {address: x@a.example, password_hash: \"$1$salt$hash\"}\n",
                  "organizations[0].recipients[0].password_hash", 7, "not a crypt(3) password hash"},
        ErrorCase{"PasswordOnGroup", ErrorCase::orgs,
                  "  - name: a\n    recipients:\n"
                  "      - {type: group, address: g@a.example, members: [x@a.example], password_hash: \"$6$a$b\"}\n",
                  "organizations[0].recipients[0].password_hash", 7, "applies only to mailbox"},
        ErrorCase{"AddressInvalid", ErrorCase::orgs, "  - name: a\n    recipients: [{address: not-an-address}]\n",
                  "organizations[0].recipients[0].address", 6, "invalid address 'not-an-address'"},
        ErrorCase{"AddressMissing", ErrorCase::orgs, "  - name: a\n    recipients: [{type: mailbox}]\n",
                  "organizations[0].recipients[0].address", 6, "'address' is required"},
        ErrorCase{"RecipientTypeUnknown", ErrorCase::orgs,
                  "  - name: a\n    recipients: [{type: user, address: x@a.example}]\n",
                  "organizations[0].recipients[0].type", 6, "unknown value 'user'"},
        ErrorCase{"RecipientAddressIsAList", ErrorCase::orgs,
                  "  - name: a\n    recipients: [{address: [x@a.example]}]\n",
                  "organizations[0].recipients[0].address", 6, "expected a string, got a list"}),
    testing::case_name);

TEST(ConfigValidation, Utf8AddressesAreAccepted) {
  auto r = load_string(std::string(testing::kOrgs) +
                           "  - name: a\n    accepted_domains: [{domain: bücher.example}]\n"
                           "    recipients: [{address: jürgen@bücher.example}]\n",
                       "/tmp/u.yaml");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  auto a = Address::parse("jürgen@xn--bcher-kva.example", true);
  ASSERT_TRUE(a);
  EXPECT_NE(r.snapshot->find_recipient(*a), nullptr);
  EXPECT_NE(r.snapshot->find_accepted_domain(*Domain::parse("BÜCHER.example")), nullptr);
}

TEST(ConfigValidation, TlsFilesMustExist) {
  TempDir dir;
  dir.write("certs/mx.pem", "x");
  std::filesystem::create_directories(dir.path() / "certs/key-folder");
  const std::string doc = std::string(testing::kService) +
                          "  tls:\n"
                          "    certificate: certs/mx.pem\n"
                          "    key: certs/key-folder\n"
                          "    ca_bundle: certs/missing.pem\n";
  auto r = load_file(dir.write("mailflow.yaml", doc));
  ASSERT_EQ(r.errors.size(), 2u) << testing::dump(r);
  EXPECT_TRUE(testing::has_error(r, "service.tls.key", 6, "is not a regular file"));
  EXPECT_TRUE(testing::has_error(r, "service.tls.ca_bundle", 7,
                                 "file '" + dir.file("certs/missing.pem") + "' does not exist"));
  EXPECT_EQ(r.errors[0].file, dir.file("mailflow.yaml"));

  auto no_key = load_file(dir.write("b.yaml", std::string(testing::kService) + "  tls: {certificate: certs/mx.pem}\n"));
  EXPECT_TRUE(testing::has_error(no_key, "service.tls.key", 4, "'key' is required"));
}

}  // namespace
}  // namespace mf::config
