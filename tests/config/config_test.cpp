// Tests for src/config/config.cpp (and the section parsers behind it): a full SPEC §4
// configuration loads with every field as written, defaults, JSON input, path resolution, several
// errors in one run, syntax errors, alias bombs, missing files.
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::config {
namespace {

using testing::has_error;
using testing::TempDir;

// SPEC §4's example, completed with every key of the schema (and the Archive connector its rule
// names).
const char* kFull = R"(service:
  hostname: MX.Cloud.Example.
  listeners:
    - {name: mx, address: "0.0.0.0:25"}
    - {name: submission, address: "0.0.0.0:587", role: submission}
    - {name: mx6, address: "[2001:DB8::1]:25"}
  tls: {certificate: certs/mx.pem, key: certs/mx.key, ca_bundle: certs/ca.pem}
  data_dir: ./var
  mailbox_store: ./store/../boxes/
  dns: {servers: ["127.0.0.1:53", "[::1]:5353"]}
  remote_smtp_port: 2525
  source_address: 192.0.2.5
  max_message_size: 35MB
  max_recipients: 100
  max_hop_count: 40
  queue: {retry_intervals: [1s, 5m, 1h], message_expiration: 2d}
  throttling: {window: 30s, max_messages_per_ip: 200}
  admin: {address: "127.0.0.1:8025", token_file: admin.token}
  limits:
    max_connections: 500
    max_connections_per_ip: 5
    max_errors: 7
    command_timeout: 1m
    data_timeout: 15m
    shutdown_grace: 0s
    min_free_disk: 1GB

organizations:
  - name: contoso
    accepted_domains:
      - {domain: Contoso.COM, type: internal_relay}
      - {domain: contoso.mail.onmicrosoft.com, type: authoritative}
      - {domain: "*.partners.contoso.com", type: external_relay}
    recipients:
      - {type: mailbox, address: David@Contoso.com, proxy_addresses: [david@contoso.mail.onmicrosoft.com],
         password_hash: "$6$salt$abcdefABCDEF0123456789./"}
      - {type: mail_user, address: julie@contoso.com, target_address: julie@onprem.contoso.com}
      - {type: group, address: sales@contoso.com, members: [david@contoso.com, julie@contoso.com]}
      - {type: mail_contact, address: ext@contoso.com, target_address: someone@partner.example}
    outbound_connectors:
      - name: To on-premises
        enabled: false
        connector_type: on_premises
        recipient_domains: [contoso.com, "*.onprem.example", "*"]
        smart_hosts: [Mail.Contoso.com, "192.0.2.10:2525", "[2001:db8::10]:26"]
        tls_settings: domain_validation
        tls_domain: "*.Contoso.com"
        route_all_messages_via_on_premises: false
      - name: Archive
        connector_type: partner
        recipient_domains: archive.example
        is_transport_rule_scoped: true
        use_mx_record: true
        tls_settings: certificate_validation
    inbound_connectors:
      - name: From on-premises
        connector_type: on_premises
        tls_sender_certificate_name: "*.Contoso.com"
        sender_ip_addresses: [192.0.2.0/24, "2001:db8::/32"]
        require_tls: true
      - name: Partner
        sender_domains: [fabrikam.example]
        sender_ip_addresses: 198.51.100.7
        restrict_domains_to_ip_addresses: true
    transport_rules:
      - name: Legal via archive
        priority: 5
        mode: audit
        conditions:
          from: [boss@contoso.com]
          sent_to: lawyer@firm.example
          from_domain: [Contoso.com]
          recipient_domain: [firm.example]
          from_scope: in_organization
          sent_to_scope: not_in_organization
          subject_contains: ["[legal]", "court"]
          header_contains: {name: X-Case, words: [secret, private]}
          header_matches: {name: X-Id, pattern: "^[0-9]+$"}
          size_over: 10MB
          sender_ip_ranges: [10.0.0.0/8]
        except_if: {subject_contains: draft}
        actions:
          route_via_connector: archive
          redirect_to: [archive@contoso.com]
          add_recipients: audit@contoso.com
          set_header: {name: X-Archived, value: "yes"}
          remove_header: X-Spam
          prepend_subject: "[ext] "
          stop_processing: true
      - name: Block bad
        priority: 0
        enabled: false
        conditions: {subject_contains: [bad]}
        actions:
          reject: {enhanced_status_code: 5.7.901, text: Not allowed}
          delete: true
)";

class FullConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("certs/mx.pem", "cert");
    dir_.write("certs/mx.key", "key");
    dir_.write("certs/ca.pem", "ca");
    loaded_ = load_file(dir_.write("mailflow.yaml", kFull));
    ASSERT_TRUE(loaded_.ok()) << testing::dump(loaded_);
  }
  std::string at(const std::string& rel) const { return dir_.file(rel); }
  TempDir dir_;
  LoadResult loaded_;
};

TEST_F(FullConfig, Service) {
  const Snapshot& s = *loaded_.snapshot;
  EXPECT_EQ(s.source_path, at("mailflow.yaml"));
  const Service& svc = s.service;
  EXPECT_EQ(svc.hostname, "mx.cloud.example");  // canonical: lower case, no root dot
  ASSERT_EQ(svc.listeners.size(), 3u);
  EXPECT_EQ(svc.listeners[0].name, "mx");
  EXPECT_EQ(svc.listeners[0].address.host, "0.0.0.0");
  EXPECT_EQ(svc.listeners[0].address.port, 25);
  EXPECT_TRUE(svc.listeners[0].address.is_ip);
  EXPECT_EQ(svc.listeners[0].role, ListenerRole::mx);
  EXPECT_EQ(svc.listeners[1].role, ListenerRole::submission);
  EXPECT_EQ(svc.listeners[1].address.port, 587);
  EXPECT_EQ(svc.listeners[2].address.host, "2001:db8::1");
  ASSERT_TRUE(svc.tls);
  EXPECT_EQ(svc.tls->certificate, at("certs/mx.pem"));
  EXPECT_EQ(svc.tls->key, at("certs/mx.key"));
  EXPECT_EQ(svc.tls->ca_bundle, at("certs/ca.pem"));
  EXPECT_EQ(svc.data_dir, at("var"));
  EXPECT_EQ(svc.mailbox_store, at("boxes"));  // normalised, no trailing slash
  ASSERT_EQ(svc.dns.servers.size(), 2u);
  EXPECT_EQ(svc.dns.servers[0].host, "127.0.0.1");
  EXPECT_EQ(svc.dns.servers[0].port, 53);
  EXPECT_EQ(svc.dns.servers[1].host, "::1");
  EXPECT_EQ(svc.dns.servers[1].port, 5353);
  EXPECT_EQ(svc.remote_smtp_port, 2525);
  ASSERT_TRUE(svc.source_address);
  EXPECT_EQ(svc.source_address->str(), "192.0.2.5");
  EXPECT_EQ(svc.max_message_size, 35u * 1024 * 1024);
  EXPECT_EQ(svc.max_recipients, 100u);
  EXPECT_EQ(svc.max_hop_count, 40u);
  EXPECT_EQ(svc.queue.retry_intervals, (std::vector<Seconds>{Seconds{1}, Seconds{300}, Seconds{3600}}));
  EXPECT_EQ(svc.queue.message_expiration, Seconds{2 * 86400});
  EXPECT_EQ(svc.throttling.window, Seconds{30});
  EXPECT_EQ(svc.throttling.max_messages_per_ip, 200u);
  ASSERT_TRUE(svc.admin.address);
  EXPECT_EQ(svc.admin.address->host, "127.0.0.1");
  EXPECT_EQ(svc.admin.address->port, 8025);
  EXPECT_EQ(svc.admin.token_file, at("admin.token"));
  EXPECT_EQ(svc.limits.max_connections, 500u);
  EXPECT_EQ(svc.limits.max_connections_per_ip, 5u);
  EXPECT_EQ(svc.limits.max_errors, 7u);
  EXPECT_EQ(svc.limits.command_timeout, Seconds{60});
  EXPECT_EQ(svc.limits.data_timeout, Seconds{900});
  EXPECT_EQ(svc.limits.shutdown_grace, Seconds{0});
  EXPECT_EQ(svc.limits.min_free_disk, 1ULL << 30);
}

TEST_F(FullConfig, DomainsAndRecipients) {
  const Snapshot& s = *loaded_.snapshot;
  ASSERT_EQ(s.organizations.size(), 1u);
  const Organization& o = s.organizations[0];
  EXPECT_EQ(o.name, "contoso");
  ASSERT_EQ(o.accepted_domains.size(), 3u);
  EXPECT_EQ(o.accepted_domains[0].domain.str(), "contoso.com");
  EXPECT_FALSE(o.accepted_domains[0].wildcard);
  EXPECT_EQ(o.accepted_domains[0].type, DomainType::internal_relay);
  EXPECT_EQ(o.accepted_domains[1].type, DomainType::authoritative);
  EXPECT_EQ(o.accepted_domains[2].domain.str(), "partners.contoso.com");
  EXPECT_TRUE(o.accepted_domains[2].wildcard);
  EXPECT_EQ(o.accepted_domains[2].type, DomainType::external_relay);

  ASSERT_EQ(o.recipients.size(), 4u);
  const Recipient& david = o.recipients[0];
  EXPECT_EQ(david.type, RecipientType::mailbox);
  EXPECT_EQ(david.address.str(), "David@contoso.com");
  ASSERT_EQ(david.proxy_addresses.size(), 1u);
  EXPECT_EQ(david.proxy_addresses[0].str(), "david@contoso.mail.onmicrosoft.com");
  EXPECT_EQ(david.password_hash, "$6$salt$abcdefABCDEF0123456789./");
  EXPECT_EQ(o.recipients[1].type, RecipientType::mail_user);
  ASSERT_TRUE(o.recipients[1].target_address);
  EXPECT_EQ(o.recipients[1].target_address->str(), "julie@onprem.contoso.com");
  EXPECT_EQ(o.recipients[2].type, RecipientType::group);
  ASSERT_EQ(o.recipients[2].members.size(), 2u);
  EXPECT_EQ(o.recipients[2].members[1].str(), "julie@contoso.com");
  EXPECT_EQ(o.recipients[3].type, RecipientType::mail_contact);
  EXPECT_EQ(o.recipients[3].target_address->str(), "someone@partner.example");

  EXPECT_EQ(s.exact_domains.size(), 2u);
  EXPECT_EQ(s.wildcard_domains.size(), 1u);
  EXPECT_EQ(s.recipients.size(), 5u);  // 4 addresses + 1 proxy
}

TEST_F(FullConfig, Connectors) {
  const Organization& o = loaded_.snapshot->organizations[0];
  ASSERT_EQ(o.outbound_connectors.size(), 2u);
  const OutboundConnector& op = o.outbound_connectors[0];
  EXPECT_EQ(op.name, "To on-premises");
  EXPECT_FALSE(op.enabled);
  EXPECT_EQ(op.connector_type, ConnectorType::on_premises);
  ASSERT_EQ(op.recipient_domains.size(), 3u);
  EXPECT_EQ(op.recipient_domains[0].kind, DomainPattern::Kind::exact);
  EXPECT_EQ(op.recipient_domains[1].str(), "*.onprem.example");
  EXPECT_EQ(op.recipient_domains[2].kind, DomainPattern::Kind::any);
  ASSERT_EQ(op.smart_hosts.size(), 3u);
  EXPECT_EQ(op.smart_hosts[0].host, "mail.contoso.com");
  EXPECT_EQ(op.smart_hosts[0].port, 0);
  EXPECT_FALSE(op.smart_hosts[0].is_ip);
  EXPECT_EQ(op.smart_hosts[1].host, "192.0.2.10");
  EXPECT_EQ(op.smart_hosts[1].port, 2525);
  EXPECT_TRUE(op.smart_hosts[1].is_ip);
  EXPECT_EQ(op.smart_hosts[2].host, "2001:db8::10");
  EXPECT_EQ(op.smart_hosts[2].port, 26);
  EXPECT_FALSE(op.use_mx_record);
  EXPECT_FALSE(op.is_transport_rule_scoped);
  EXPECT_EQ(op.tls_settings, TlsSettings::domain_validation);
  EXPECT_EQ(op.tls_domain, "*.contoso.com");
  EXPECT_FALSE(op.route_all_messages_via_on_premises);
  const OutboundConnector& ar = o.outbound_connectors[1];
  EXPECT_TRUE(ar.enabled);
  EXPECT_EQ(ar.connector_type, ConnectorType::partner);
  ASSERT_EQ(ar.recipient_domains.size(), 1u);  // a single string is a one-element list
  EXPECT_EQ(ar.recipient_domains[0].str(), "archive.example");
  EXPECT_TRUE(ar.is_transport_rule_scoped);
  EXPECT_TRUE(ar.use_mx_record);
  EXPECT_TRUE(ar.smart_hosts.empty());
  EXPECT_EQ(ar.tls_settings, TlsSettings::certificate_validation);

  ASSERT_EQ(o.inbound_connectors.size(), 2u);
  const InboundConnector& in = o.inbound_connectors[0];
  EXPECT_EQ(in.connector_type, ConnectorType::on_premises);
  EXPECT_EQ(in.tls_sender_certificate_name, "*.contoso.com");
  ASSERT_EQ(in.sender_ip_addresses.size(), 2u);
  EXPECT_EQ(in.sender_ip_addresses[0].str(), "192.0.2.0/24");
  EXPECT_EQ(in.sender_ip_addresses[1].str(), "2001:db8::/32");
  EXPECT_TRUE(in.require_tls);
  const InboundConnector& partner = o.inbound_connectors[1];
  EXPECT_EQ(partner.connector_type, ConnectorType::partner);
  ASSERT_EQ(partner.sender_domains.size(), 1u);
  EXPECT_EQ(partner.sender_domains[0].str(), "fabrikam.example");
  ASSERT_EQ(partner.sender_ip_addresses.size(), 1u);
  EXPECT_EQ(partner.sender_ip_addresses[0].str(), "198.51.100.7/32");
  EXPECT_TRUE(partner.require_tls);  // partner default
  EXPECT_TRUE(partner.restrict_domains_to_ip_addresses);
  EXPECT_FALSE(partner.restrict_domains_to_certificate);
}

TEST_F(FullConfig, RulesSortedByPriorityWithEveryField) {
  const Organization& o = loaded_.snapshot->organizations[0];
  ASSERT_EQ(o.transport_rules.size(), 2u);
  const TransportRule& block = o.transport_rules[0];  // priority 0 first although written second
  EXPECT_EQ(block.name, "Block bad");
  EXPECT_EQ(block.priority, 0);
  EXPECT_FALSE(block.enabled);
  EXPECT_EQ(block.mode, RuleMode::enforce);
  ASSERT_TRUE(block.actions.reject);
  EXPECT_EQ(block.actions.reject->enhanced_status_code, "5.7.901");
  EXPECT_EQ(block.actions.reject->text, "Not allowed");
  EXPECT_TRUE(block.actions.delete_message);
  EXPECT_TRUE(block.except_if.empty());

  const TransportRule& legal = o.transport_rules[1];
  EXPECT_EQ(legal.priority, 5);
  EXPECT_EQ(legal.mode, RuleMode::audit);
  const RuleConditions& c = legal.conditions;
  ASSERT_EQ(c.from.size(), 1u);
  EXPECT_EQ(c.from[0].str(), "boss@contoso.com");
  ASSERT_EQ(c.sent_to.size(), 1u);
  EXPECT_EQ(c.sent_to[0].str(), "lawyer@firm.example");
  EXPECT_EQ(c.from_domain[0].str(), "contoso.com");
  EXPECT_EQ(c.recipient_domain[0].str(), "firm.example");
  EXPECT_EQ(c.from_scope, Scope::in_organization);
  EXPECT_EQ(c.sent_to_scope, Scope::not_in_organization);
  EXPECT_EQ(c.subject_contains, (std::vector<std::string>{"[legal]", "court"}));
  ASSERT_TRUE(c.header_contains);
  EXPECT_EQ(c.header_contains->name, "X-Case");
  EXPECT_EQ(c.header_contains->words, (std::vector<std::string>{"secret", "private"}));
  ASSERT_TRUE(c.header_matches);
  EXPECT_EQ(c.header_matches->name, "X-Id");
  EXPECT_EQ(c.header_matches->regex, "^[0-9]+$");
  EXPECT_EQ(c.size_over, 10u * 1024 * 1024);
  ASSERT_EQ(c.sender_ip_ranges.size(), 1u);
  EXPECT_EQ(c.sender_ip_ranges[0].str(), "10.0.0.0/8");
  EXPECT_FALSE(c.empty());
  EXPECT_EQ(legal.except_if.subject_contains, (std::vector<std::string>{"draft"}));

  const RuleActions& a = legal.actions;
  EXPECT_EQ(a.route_via_connector, "Archive");  // the connector's own spelling
  ASSERT_EQ(a.redirect_to.size(), 1u);
  EXPECT_EQ(a.redirect_to[0].str(), "archive@contoso.com");
  ASSERT_EQ(a.add_recipients.size(), 1u);
  ASSERT_TRUE(a.set_header);
  EXPECT_EQ(a.set_header->name, "X-Archived");
  EXPECT_EQ(a.set_header->value, "yes");
  EXPECT_EQ(a.remove_header, "X-Spam");
  EXPECT_EQ(a.prepend_subject, "[ext] ");
  EXPECT_TRUE(a.stop_processing);
  EXPECT_FALSE(a.reject);
  EXPECT_FALSE(a.delete_message);
}

TEST(ConfigDefaults, MinimalConfigGetsTheSpecDefaults) {
  auto r = load_string("service: {hostname: mx.example, listeners: [{name: mx, address: '127.0.0.1:25'}]}\n"
                       "organizations:\n"
                       "  - name: o\n"
                       "    inbound_connectors:\n"
                       "      - {name: p, sender_domains: '*'}\n"
                       "      - {name: op, connector_type: on_premises, sender_ip_addresses: 10.1.0.0/16}\n"
                       "    outbound_connectors: [{name: c, recipient_domains: '*', use_mx_record: true}]\n"
                       "    transport_rules: [{name: r, actions: {reject: {}}}]\n",
                       "/etc/mailflow/mailflow.yaml");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Snapshot& s = *r.snapshot;
  const Service& svc = s.service;
  EXPECT_EQ(s.source_path, "/etc/mailflow/mailflow.yaml");
  EXPECT_EQ(svc.listeners[0].role, ListenerRole::mx);
  EXPECT_FALSE(svc.tls);
  EXPECT_EQ(svc.data_dir, "/etc/mailflow/var");
  EXPECT_EQ(svc.mailbox_store, "/etc/mailflow/var/mailboxes");
  EXPECT_TRUE(svc.dns.servers.empty());
  EXPECT_EQ(svc.remote_smtp_port, 25);
  EXPECT_FALSE(svc.source_address);
  EXPECT_EQ(svc.max_message_size, 36700160u);
  EXPECT_EQ(svc.max_recipients, 500u);
  EXPECT_EQ(svc.max_hop_count, 30u);
  EXPECT_EQ(svc.queue.retry_intervals,
            (std::vector<Seconds>{Seconds{60}, Seconds{300}, Seconds{900}, Seconds{1800}, Seconds{3600}}));
  EXPECT_EQ(svc.queue.message_expiration, Seconds{86400});
  EXPECT_EQ(svc.throttling.window, Seconds{60});
  EXPECT_EQ(svc.throttling.max_messages_per_ip, 1000u);
  EXPECT_FALSE(svc.admin.address);
  EXPECT_TRUE(svc.admin.token_file.empty());
  EXPECT_EQ(svc.limits.max_connections, 10000u);
  EXPECT_EQ(svc.limits.max_connections_per_ip, 50u);
  EXPECT_EQ(svc.limits.max_errors, 20u);
  EXPECT_EQ(svc.limits.command_timeout, Seconds{300});
  EXPECT_EQ(svc.limits.data_timeout, Seconds{600});
  EXPECT_EQ(svc.limits.shutdown_grace, Seconds{30});
  EXPECT_EQ(svc.limits.min_free_disk, 0u);

  const Organization& o = s.organizations[0];
  EXPECT_TRUE(o.inbound_connectors[0].require_tls);   // partner: true (R-IN-6)
  EXPECT_FALSE(o.inbound_connectors[1].require_tls);  // on_premises: false
  EXPECT_TRUE(o.inbound_connectors[0].enabled);
  const OutboundConnector& c = o.outbound_connectors[0];
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.connector_type, ConnectorType::partner);
  EXPECT_EQ(c.tls_settings, TlsSettings::opportunistic);
  EXPECT_FALSE(c.is_transport_rule_scoped);
  EXPECT_FALSE(c.route_all_messages_via_on_premises);
  const TransportRule& rule = o.transport_rules[0];
  EXPECT_EQ(rule.priority, 0);
  EXPECT_TRUE(rule.enabled);
  EXPECT_EQ(rule.mode, RuleMode::enforce);
  EXPECT_TRUE(rule.conditions.empty());
  ASSERT_TRUE(rule.actions.reject);
  EXPECT_EQ(rule.actions.reject->enhanced_status_code, "5.7.1");
  EXPECT_EQ(rule.actions.reject->text, "Delivery not authorized, message refused");
}

TEST(ConfigPaths, AbsolutePathsAreKeptAndRelativeOnesFollowTheConfigFolder) {
  auto r = load_string("service:\n  hostname: mx.example\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n"
                       "  data_dir: /srv/mail//spool/\n",
                       "/etc/x/../mf/a.yaml");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->source_path, "/etc/mf/a.yaml");
  EXPECT_EQ(r.snapshot->service.data_dir, "/srv/mail/spool");
  EXPECT_EQ(r.snapshot->service.mailbox_store, "/srv/mail/spool/mailboxes");  // follows data_dir
}

TEST(ConfigJson, JsonInputIsYaml) {
  const char* json = R"({
  "service": {
    "hostname": "mx.example",
    "listeners": [{"name": "mx", "address": "127.0.0.1:2525"}],
    "max_message_size": 1048576,
    "queue": {"retry_intervals": ["1s", 2], "message_expiration": "1h"}
  },
  "organizations": [
    {"name": "o", "accepted_domains": [{"domain": "o.example", "type": "authoritative"}],
     "recipients": [{"type": "mailbox", "address": "a@o.example", "proxy_addresses": ["b@o.example"]}],
     "outbound_connectors": [{"name": "c", "recipient_domains": ["*"], "use_mx_record": true, "enabled": false}]}
  ]
})";
  auto r = load_string(json, "/tmp/mailflow.json");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->service.listeners[0].address.port, 2525);
  EXPECT_EQ(r.snapshot->service.max_message_size, 1048576u);
  EXPECT_EQ(r.snapshot->service.queue.retry_intervals, (std::vector<Seconds>{Seconds{1}, Seconds{2}}));
  EXPECT_FALSE(r.snapshot->organizations[0].outbound_connectors[0].enabled);
  EXPECT_NE(r.snapshot->find_recipient(*Address::parse("B@o.example")), nullptr);

  // Errors in JSON carry lines too: "yes" for a number on line 5.
  std::string bad = json;
  bad.replace(bad.find("1048576"), 7, "\"yes\"");
  auto e = load_string(bad, "/tmp/mailflow.json");
  EXPECT_TRUE(has_error(e, "service.max_message_size", 5, "invalid size 'yes'"));
}

TEST(ConfigErrors, SeveralErrorsAreReportedInOneRunInDocumentOrder) {
  auto r = load_string(R"(service:
  hostname: mx.example
  listeners: [{name: mx, address: "127.0.0.1:25", role: relay}]
  max_recipients: yes
organizations:
  - name: a
    accepted_domains: [{domain: a.example}, {domain: A.Example.}]
    outbound_connectors: [{name: c, recipient_domains: ["*"]}]
    transport_rules: [{name: r, priority: -1, actions: {delete: true}}]
)",
                       "/tmp/several.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.snapshot, nullptr);
  ASSERT_EQ(r.errors.size(), 5u) << testing::dump(r);
  EXPECT_EQ(r.errors[0].key_path, "service.listeners[0].role");
  EXPECT_EQ(r.errors[1].key_path, "service.max_recipients");
  EXPECT_EQ(r.errors[2].key_path, "organizations[0].accepted_domains[1].domain");
  EXPECT_EQ(r.errors[3].key_path, "organizations[0].outbound_connectors[0].smart_hosts");
  EXPECT_EQ(r.errors[4].key_path, "organizations[0].transport_rules[0].priority");
  for (std::size_t i = 1; i < r.errors.size(); ++i) EXPECT_LE(r.errors[i - 1].line, r.errors[i].line);
  for (const auto& e : r.errors) EXPECT_EQ(e.file, "/tmp/several.yaml");
}

TEST(ConfigErrors, SyntaxErrorHasALocation) {
  auto r = load_string("service:\n  hostname: [mx.example\n  listeners: []\n", "/tmp/s.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "/tmp/s.yaml");
  EXPECT_GT(r.errors[0].line, 1);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(ConfigErrors, DeepNestingIsASyntaxErrorNotACrash) {
  auto r = load_string("service: " + std::string(100000, '[') + std::string(100000, ']') + "\n", "/tmp/d.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("nesting deeper than"), std::string::npos) << r.errors[0].str();
}

TEST(ConfigErrors, EmptyDocumentAndWrongRoot) {
  EXPECT_TRUE(has_error(load_string("", "/tmp/e.yaml"), "", 0, "empty"));
  EXPECT_TRUE(has_error(load_string("# only a comment\n", "/tmp/e.yaml"), "", 0, "empty"));
  EXPECT_TRUE(has_error(load_string("- a\n- b\n", "/tmp/e.yaml"), "", 1, "expected a mapping, got a list"));
  EXPECT_TRUE(has_error(load_string("organizations: []\n", "/tmp/e.yaml"), "service", 1, "'service' is required"));
}

TEST(ConfigErrors, AliasBombIsRefused) {
  // A 3 KB document whose aliases expand to 200 organizations x 200 recipients x 200 proxy
  // addresses: the loader must refuse it instead of walking 8 million nodes.
  auto repeat = [](const std::string& item) {
    std::string s = "[";
    for (int i = 0; i < 200; ++i) s += (i ? ", " : "") + item;
    return s + "]";
  };
  std::string doc = "p: &p " + repeat("x@o.example") + "\n" +
                    "r: &r {address: a@o.example, proxy_addresses: *p}\n" +
                    "rs: &rs " + repeat("*r") + "\n" +
                    "o: &o {name: o, recipients: *rs}\n" +
                    "service: {hostname: mx.example, listeners: [{name: mx, address: '127.0.0.1:25'}]}\n" +
                    "organizations: " + repeat("*o") + "\n";
  auto r = load_string(doc, "/tmp/bomb.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << testing::dump(r).substr(0, 2000);
  EXPECT_NE(r.errors[0].message.find("too many nodes"), std::string::npos);
}

TEST(ConfigFile, MissingFileAndFolderAreErrors) {
  TempDir dir;
  auto missing = load_file(dir.file("nope.yaml"));
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].file, dir.file("nope.yaml"));
  EXPECT_NE(missing.errors[0].message.find("no such file"), std::string::npos);
  auto folder = load_file(dir.path().string());
  ASSERT_EQ(folder.errors.size(), 1u);
  EXPECT_NE(folder.errors[0].message.find("not a regular file"), std::string::npos);
}

// service.trace (SPEC §6): retention and the writer's in-memory buffer.
LoadResult load_trace(const std::string& trace_yaml) {
  return load_string("service:\n  hostname: mx.example\n  listeners: [{name: mx, address: '127.0.0.1:25'}]\n" +
                         trace_yaml,
                     "/tmp/trace.yaml");
}

TEST(ConfigTrace, DefaultsAreSevenDaysAndAHundredThousandEvents) {
  auto r = load_trace("");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->service.trace.retention, Seconds{7 * 86400});
  EXPECT_EQ(r.snapshot->service.trace.buffer_events, 100000u);
}

TEST(ConfigTrace, RetentionAndBufferAreRead) {
  auto r = load_trace("  trace: {retention: 36h, buffer_events: 500}\n");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.snapshot->service.trace.retention, Seconds{36 * 3600});
  EXPECT_EQ(r.snapshot->service.trace.buffer_events, 500u);
  auto only = load_trace("  trace: {retention: 30d}\n");
  ASSERT_TRUE(only.ok()) << testing::dump(only);
  EXPECT_EQ(only.snapshot->service.trace.retention, Seconds{30 * 86400});
  EXPECT_EQ(only.snapshot->service.trace.buffer_events, 100000u);
}

TEST(ConfigTrace, BadValuesAndUnknownKeysAreErrors) {
  EXPECT_TRUE(has_error(load_trace("  trace: {buffer_events: 0}\n"), "service.trace.buffer_events", 4, ""));
  EXPECT_TRUE(has_error(load_trace("  trace: {retention: 0}\n"), "service.trace.retention", 4, ""));
  EXPECT_TRUE(has_error(load_trace("  trace: {retention: soon}\n"), "service.trace.retention", 4, ""));
  EXPECT_TRUE(has_error(load_trace("  trace:\n    retension: 7d\n"), "service.trace.retension", 5,
                        "unknown key 'retension' (did you mean 'retention'?)"));
  EXPECT_TRUE(has_error(load_trace("  trace: 7d\n"), "service.trace", 4, ""));
}

}  // namespace
}  // namespace mf::config
