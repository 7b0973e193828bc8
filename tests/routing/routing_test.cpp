// Tests for src/routing/routing.cpp: the RCPT decision (R-DOM-2, R-IN-5) and local resolution
// (R-RCPT-1). Configurations are inline YAML, loaded by the real config loader.
#include "config/config.hpp"
#include "routing/attribution.hpp"
#include "routing/routing.hpp"

#include <gtest/gtest.h>

namespace mf::routing {
namespace {

const char* kConfig = R"(
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
      - {domain: relay.contoso.test, type: internal_relay}
      - {domain: "*.wild.contoso.test", type: authoritative}
      - {domain: ext.contoso.test, type: external_relay}
    recipients:
      - {type: mailbox, address: david@contoso.test, proxy_addresses: [dave@contoso.test, david@relay.contoso.test]}
      - {type: mailbox, address: julie@contoso.test}
      - {type: mail_user, address: remote@contoso.test, target_address: remote@onprem.example}
      - {type: group, address: team@contoso.test, members: [david@contoso.test, julie@contoso.test, inner@contoso.test]}
      - {type: group, address: inner@contoso.test, members: [team@contoso.test, dave@contoso.test, outside@partner.example]}
      - {type: group, address: loop1@contoso.test, members: [loop2@contoso.test]}
      - {type: group, address: loop2@contoso.test, members: [loop1@contoso.test]}
      - {type: mailbox, address: boss@a.wild.contoso.test}
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.test, type: authoritative}
    recipients:
      - {type: mailbox, address: ann@fabrikam.test}
)";

std::shared_ptr<const config::Snapshot> snapshot() {
  static auto loaded = config::load_string(kConfig, "/tmp/routing_test.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  }
  return loaded.snapshot;
}

Address addr(const char* s) { return *Address::parse(s); }

struct RcptCase {
  const char* rcpt;
  int code;  // 0 = accepted
  const char* enhanced;
};

class CheckRecipient : public ::testing::TestWithParam<RcptCase> {};

TEST_P(CheckRecipient, Table) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  const auto& c = GetParam();
  auto reply = check_recipient(*snap, ConnectionFacts{}, Envelope{}, addr(c.rcpt));
  if (c.code == 0) {
    EXPECT_FALSE(reply.has_value()) << c.rcpt << " got " << reply->one_line();
  } else {
    ASSERT_TRUE(reply.has_value()) << c.rcpt;
    EXPECT_EQ(reply->code, c.code);
    EXPECT_EQ(reply->enhanced, c.enhanced);
  }
}

INSTANTIATE_TEST_SUITE_P(
    RDom2RIn5, CheckRecipient,
    ::testing::Values(
        RcptCase{"david@contoso.test", 0, ""},
        RcptCase{"DAVE@Contoso.Test", 0, ""},                   // proxy, case-insensitive
        RcptCase{"nobody@contoso.test", 550, "5.4.1"},          // R-DOM-2 directory-based edge blocking
        RcptCase{"nobody@relay.contoso.test", 0, ""},           // R-DOM-3 internal_relay accepts unknowns
        RcptCase{"anyone@ext.contoso.test", 0, ""},             // R-DOM-4
        RcptCase{"x@victim.example", 550, "5.7.54"},            // R-IN-5 no relay for strangers (D01)
        RcptCase{"x%victim.example@contoso.test", 550, "5.4.1"},  // D02: percent hack is a local part
        RcptCase{"boss@a.wild.contoso.test", 0, ""},
        RcptCase{"nobody@b.wild.contoso.test", 550, "5.4.1"},   // wildcard domain is authoritative
        RcptCase{"x@wild.contoso.test", 550, "5.4.1"},          // *.d covers d itself (R-DOM-1)
        RcptCase{"ann@fabrikam.test", 0, ""},
        RcptCase{"x@[127.0.0.1]", 550, "5.7.54"}));             // D07 literal to ourselves: no relay

TEST(Domains, R_DOM_1_WildcardCoversTheDomainAndItsSubdomainsExactIsMoreSpecific) {
  const char* yaml = R"(
service: {hostname: mx.test, listeners: [{name: mx, address: "127.0.0.1:2525"}]}
organizations:
  - name: a
    accepted_domains: [{domain: "*.contoso.test", type: internal_relay}, {domain: "bücher.example"}]
  - name: b
    accepted_domains: [{domain: sales.contoso.test, type: authoritative}]
)";
  auto loaded = config::load_string(yaml, "/tmp/r_dom_1.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& snap = *loaded.snapshot;
  std::size_t org = 9;
  auto dom = [](const char* d) { return *Domain::parse(d); };
  // "*.contoso.test" covers contoso.test itself and every subdomain (as Exchange does).
  ASSERT_NE(snap.find_accepted_domain(dom("contoso.test"), &org), nullptr);
  EXPECT_EQ(org, 0u);
  ASSERT_NE(snap.find_accepted_domain(dom("a.b.contoso.test"), &org), nullptr);
  EXPECT_EQ(org, 0u);
  // The exact entry wins over the wildcard, even of another organization, and so do its subdomains'
  // closest match rules: x.sales.contoso.test is only under the wildcard.
  const config::AcceptedDomain* exact = snap.find_accepted_domain(dom("Sales.Contoso.Test."), &org);
  ASSERT_NE(exact, nullptr);
  EXPECT_EQ(org, 1u);
  EXPECT_EQ(exact->type, config::DomainType::authoritative);
  ASSERT_NE(snap.find_accepted_domain(dom("x.sales.contoso.test"), &org), nullptr);
  EXPECT_EQ(org, 0u);
  // IDNs compare in their A-label form.
  ASSERT_NE(snap.find_accepted_domain(dom("xn--bcher-kva.example"), &org), nullptr);
  EXPECT_EQ(org, 0u);
  EXPECT_EQ(snap.find_accepted_domain(dom("contoso.test.evil.example")), nullptr);
}

TEST(Domains, R_DOM_1_ADomainListedByTwoOrganizationsIsAConfigError) {
  const char* yaml = R"(
service: {hostname: mx.test, listeners: [{name: mx, address: "127.0.0.1:2525"}]}
organizations:
  - {name: a, accepted_domains: [{domain: contoso.test}]}
  - {name: b, accepted_domains: [{domain: CONTOSO.test.}]}
)";
  auto loaded = config::load_string(yaml, "/tmp/r_dom_1b.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.errors[0].str().find("already listed"), std::string::npos) << loaded.errors[0].str();
}

TEST(Resolve, MailboxAndProxyResolveToPrimary) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto r = resolve(*snap, addr("david@relay.contoso.test"));
  EXPECT_EQ(r.kind, Resolution::Kind::local);
  ASSERT_EQ(r.mailboxes.size(), 1u);
  EXPECT_EQ(r.mailboxes[0].organization, "contoso");
  EXPECT_EQ(r.mailboxes[0].address.str(), "david@contoso.test");
}

TEST(Resolve, GroupsExpandRecursivelyEachAddressOnce) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto r = resolve(*snap, addr("team@contoso.test"));
  EXPECT_EQ(r.kind, Resolution::Kind::local);
  ASSERT_EQ(r.mailboxes.size(), 2u);  // david (also reached via inner → dave) once, julie once
  EXPECT_EQ(r.mailboxes[0].address.str(), "david@contoso.test");
  EXPECT_EQ(r.mailboxes[1].address.str(), "julie@contoso.test");
  ASSERT_EQ(r.remote.size(), 1u);  // the outside member of the nested group
  EXPECT_EQ(r.remote[0].str(), "outside@partner.example");
}

TEST(Resolve, GroupLoopIsBroken) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto r = resolve(*snap, addr("loop1@contoso.test"));
  EXPECT_EQ(r.kind, Resolution::Kind::not_found);
  EXPECT_TRUE(r.mailboxes.empty());
}

TEST(Resolve, RemoteAndNotFound) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  auto mu = resolve(*snap, addr("remote@contoso.test"));
  EXPECT_EQ(mu.kind, Resolution::Kind::remote);
  ASSERT_EQ(mu.remote.size(), 1u);
  EXPECT_EQ(mu.remote[0].str(), "remote@onprem.example");
  EXPECT_EQ(resolve(*snap, addr("ghost@relay.contoso.test")).kind, Resolution::Kind::remote);
  EXPECT_EQ(resolve(*snap, addr("ghost@contoso.test")).kind, Resolution::Kind::not_found);
  EXPECT_EQ(resolve(*snap, addr("x@internet.example")).kind, Resolution::Kind::remote);
}

}  // namespace
}  // namespace mf::routing
