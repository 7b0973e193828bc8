// Tests for src/routing/outbound.cpp: next hop selection (R-OUT-2), MX order (R-OUT-7/8), smart host
// round robin (R-OUT-4/5), TLS policy (R-OUT-9) and the loop checks (R-LOOP-1). Configurations are
// inline YAML, loaded by the real config loader.
#include "config/config.hpp"
#include "routing/outbound.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace mf::routing {
namespace {

const char* kConfig = R"(
service:
  hostname: mx.test.example
  listeners:
    - {name: mx, address: "192.0.2.1:25"}
    - {name: any, address: "0.0.0.0:2525"}
organizations:
  - name: contoso
    accepted_domains: [{domain: contoso.test, type: authoritative}]
    outbound_connectors:
      - name: Exact
        recipient_domains: [fabrikam.example]
        smart_hosts: [exact.smart.example, "192.0.2.10:2525"]
        tls_settings: domain_validation
        tls_domain: "*.Smart.example"
      - name: Wildcard
        recipient_domains: ["*.fabrikam.example"]
        smart_hosts: [wild.smart.example]
      - name: Deeper wildcard
        recipient_domains: ["*.sub.fabrikam.example"]
        smart_hosts: [deep.smart.example]
      - name: Disabled
        enabled: false
        recipient_domains: [disabled.example, "*.sub.fabrikam.example"]
        smart_hosts: [disabled.smart.example]
      - name: Scoped
        is_transport_rule_scoped: true
        recipient_domains: [scoped.example, fabrikam.example]
        smart_hosts: [scoped.smart.example]
      - name: Bconnector
        recipient_domains: [tie.example]
        smart_hosts: [b.smart.example]
      - name: aconnector
        recipient_domains: [tie.example]
        smart_hosts: [a.smart.example]
      - name: Via MX
        recipient_domains: [mx.example]
        use_mx_record: true
        tls_settings: certificate_validation
  - name: fabrikam
    accepted_domains: [{domain: fabrikam.test, type: authoritative}]
    outbound_connectors:
      - name: Catch all
        recipient_domains: ["*"]
        smart_hosts: ["relay.fabrikam.example:587"]
      - name: Partner
        recipient_domains: [onlyfab.example, "*.fabrikam.example"]
        smart_hosts: [partner.smart.example]
        tls_settings: encryption_only
  - name: plain
    accepted_domains: [{domain: plain.test, type: authoritative}]
)";

const config::Snapshot& snap() {
  static auto loaded = config::load_string(kConfig, "/tmp/outbound_test.yaml");
  if (!loaded.ok()) {
    std::string s;
    for (const auto& e : loaded.errors) s += e.str() + "\n";
    ADD_FAILURE() << s;
    std::abort();
  }
  return *loaded.snapshot;
}

Domain dom(const char* s) { return Domain::parse(s).value(); }

// ---------------------------------------------------------------- next_hop_for (R-OUT-2)

struct HopCase {
  const char* name;
  std::size_t org;
  const char* domain;
  NextHop::Kind kind;
  const char* connector;  // "" = plain MX
  const char* first_host;  // smart_hosts[0], or mx_domain for MX
  config::TlsSettings tls;
  const char* key;
};

class NextHopTable : public ::testing::TestWithParam<HopCase> {};

TEST_P(NextHopTable, Selects) {
  const HopCase& c = GetParam();
  NextHop h = next_hop_for(snap(), c.org, dom(c.domain));
  EXPECT_EQ(h.kind, c.kind);
  EXPECT_EQ(h.connector, c.connector);
  EXPECT_EQ(h.organization, c.org);
  if (c.kind == NextHop::Kind::smart_hosts) {
    ASSERT_FALSE(h.smart_hosts.empty());
    EXPECT_EQ(h.smart_hosts[0].host, c.first_host);
    EXPECT_TRUE(h.mx_domain.empty());
  } else {
    EXPECT_TRUE(h.smart_hosts.empty());
    EXPECT_EQ(h.mx_domain, c.first_host);
  }
  EXPECT_EQ(h.tls, c.tls);
  EXPECT_EQ(h.key(), c.key);
}

using K = NextHop::Kind;
using T = config::TlsSettings;
const HopCase kHopCases[] = {
    {"ExactBeatsWildcard", 0, "fabrikam.example", K::smart_hosts, "Exact", "exact.smart.example", T::domain_validation,
     "connector:0/Exact"},
    {"WildcardCoversSubdomain", 0, "mail.fabrikam.example", K::smart_hosts, "Wildcard", "wild.smart.example",
     T::opportunistic, "connector:0/Wildcard"},
    {"LongerParentIsMoreSpecific", 0, "a.sub.fabrikam.example", K::smart_hosts, "Deeper wildcard",
     "deep.smart.example", T::opportunistic, "connector:0/Deeper wildcard"},
    {"WildcardCoversItsOwnParent", 0, "sub.fabrikam.example", K::smart_hosts, "Deeper wildcard", "deep.smart.example",
     T::opportunistic, "connector:0/Deeper wildcard"},
    {"NoMatchGoesToMx", 0, "other.example", K::mx, "", "other.example", T::opportunistic, "mx:other.example"},
    {"DisabledIgnored", 0, "disabled.example", K::mx, "", "disabled.example", T::opportunistic, "mx:disabled.example"},
    {"RuleScopedIgnored", 0, "scoped.example", K::mx, "", "scoped.example", T::opportunistic, "mx:scoped.example"},
    {"EqualSpecificityFirstNameCaseInsensitive", 0, "tie.example", K::smart_hosts, "aconnector", "a.smart.example",
     T::opportunistic, "connector:0/aconnector"},
    {"UseMxRecordKeepsConnectorTls", 0, "mx.example", K::mx, "Via MX", "mx.example", T::certificate_validation,
     "connector:0/Via MX/mx:mx.example"},
    {"OtherOrganizationsConnectorNeverChosen", 0, "onlyfab.example", K::mx, "", "onlyfab.example", T::opportunistic,
     "mx:onlyfab.example"},
    {"ExactBeatsStar", 1, "onlyfab.example", K::smart_hosts, "Partner", "partner.smart.example", T::encryption_only,
     "connector:1/Partner"},
    {"WildcardBeatsStar", 1, "x.fabrikam.example", K::smart_hosts, "Partner", "partner.smart.example",
     T::encryption_only, "connector:1/Partner"},
    {"StarCatchesTheRest", 1, "contoso.test", K::smart_hosts, "Catch all", "relay.fabrikam.example", T::opportunistic,
     "connector:1/Catch all"},
    {"OrganizationWithoutConnectors", 2, "fabrikam.example", K::mx, "", "fabrikam.example", T::opportunistic,
     "mx:fabrikam.example"},
    {"OrganizationOutOfRange", 9, "fabrikam.example", K::mx, "", "fabrikam.example", T::opportunistic,
     "mx:fabrikam.example"},
};
INSTANTIATE_TEST_SUITE_P(R_OUT_2_MostSpecificThenNameOrder, NextHopTable, ::testing::ValuesIn(kHopCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(NextHop, R_OUT_1_CarriesSmartHostsInConfigOrderAndTlsDomain) {
  NextHop h = next_hop_for(snap(), 0, dom("fabrikam.example"));
  ASSERT_EQ(h.smart_hosts.size(), 2u);
  EXPECT_EQ(h.smart_hosts[1].host, "192.0.2.10");
  EXPECT_EQ(h.smart_hosts[1].port, 2525);
  EXPECT_TRUE(h.smart_hosts[1].is_ip);
  EXPECT_EQ(h.tls_domain, "*.smart.example");
}

TEST(NextHop, SmartHostCandidatesFillTheDefaultPort) {
  NextHop h = next_hop_for(snap(), 0, dom("fabrikam.example"));
  auto c = smart_host_candidates(h.smart_hosts, 25);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].name, "exact.smart.example");
  EXPECT_EQ(c[0].port, 25);
  EXPECT_FALSE(c[0].is_ip);
  EXPECT_EQ(c[1].port, 2525);
  EXPECT_TRUE(c[1].is_ip);
}

// ---------------------------------------------------------------- order_mx (R-OUT-7/8)

TEST(OrderMx, SeedTableTenTwentyThirtyFive) {
  // seed 000: mx:contoso.com with preferences 10 (primary), 20 and 35 (backups).
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(seed);
    auto order = order_mx({{35, "mx3.contoso.com."}, {10, "MX1.contoso.com"}, {20, "mx2.contoso.com"}}, rng);
    EXPECT_EQ(order, (std::vector<std::string>{"mx1.contoso.com", "mx2.contoso.com", "mx3.contoso.com"}));
  }
}

TEST(OrderMx, EqualPreferencesAreShuffledBothOrdersAppear) {
  std::set<std::vector<std::string>> seen;
  for (unsigned seed = 0; seed < 200; ++seed) {
    std::mt19937 rng(seed);
    auto order = order_mx({{10, "a.example"}, {10, "b.example"}, {20, "backup.example"}}, rng);
    ASSERT_EQ(order.size(), 3u);
    EXPECT_EQ(order[2], "backup.example");  // the higher preference always last
    seen.insert(order);
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST(OrderMx, SameSeedSameOrderRegardlessOfInputOrder) {
  std::mt19937 r1(7), r2(7);
  auto a = order_mx({{5, "x.example"}, {5, "y.example"}, {5, "z.example"}}, r1);
  auto b = order_mx({{5, "z.example"}, {5, "x.example"}, {5, "y.example"}}, r2);
  EXPECT_EQ(a, b);
}

TEST(OrderMx, DuplicatesKeptAtLowestPreferenceAndEmptyStaysEmpty) {
  std::mt19937 rng(1);
  EXPECT_EQ(order_mx({{30, "a.example"}, {10, "A.example."}, {20, "b.example"}}, rng),
            (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_TRUE(order_mx({}, rng).empty());
}

// ---------------------------------------------------------------- RoundRobin (R-OUT-4/5)

std::string hosts_str(const std::vector<config::HostPort>& v) {
  std::string s;
  for (const auto& h : v) s += h.host + " ";
  return s;
}

TEST(RoundRobin, RotatesTheStartingHostAndKeepsTheOthersAsFailover) {
  const std::vector<config::HostPort> hosts{{"h1", 0, false}, {"h2", 0, false}, {"h3", 0, false}};
  RoundRobin rr;
  const char* expected[] = {"h1 h2 h3 ", "h2 h3 h1 ", "h3 h1 h2 ", "h1 h2 h3 ", "h2 h3 h1 "};
  for (const char* e : expected) EXPECT_EQ(hosts_str(rr.rotation("connector:0/X", hosts)), e);
}

TEST(RoundRobin, KeysHaveTheirOwnCounters) {
  const std::vector<config::HostPort> hosts{{"h1", 0, false}, {"h2", 0, false}};
  RoundRobin rr;
  EXPECT_EQ(hosts_str(rr.rotation("a", hosts)), "h1 h2 ");
  EXPECT_EQ(hosts_str(rr.rotation("b", hosts)), "h1 h2 ");
  EXPECT_EQ(hosts_str(rr.rotation("a", hosts)), "h2 h1 ");
  EXPECT_TRUE(rr.rotation("a", {}).empty());
  // One host: always that one.
  EXPECT_EQ(hosts_str(rr.rotation("c", {{"only", 0, false}})), "only ");
  EXPECT_EQ(hosts_str(rr.rotation("c", {{"only", 0, false}})), "only ");
}

TEST(RoundRobin, ShrunkHostListContinuesModuloItsSize) {
  RoundRobin rr;
  std::vector<config::HostPort> three{{"h1", 0, false}, {"h2", 0, false}, {"h3", 0, false}};
  rr.rotation("k", three);
  rr.rotation("k", three);  // next start: h3 (index 2)
  std::vector<config::HostPort> two{{"h1", 0, false}, {"h2", 0, false}};
  EXPECT_EQ(hosts_str(rr.rotation("k", two)), "h1 h2 ");  // 2 % 2 = 0
  EXPECT_EQ(hosts_str(rr.rotation("k", two)), "h2 h1 ");
}

// ---------------------------------------------------------------- TLS (R-OUT-9)

TEST(TlsRequirement, PerSetting) {
  auto o = tls_requirement(T::opportunistic, "", "mx.example");
  EXPECT_FALSE(o.starttls_required);
  EXPECT_FALSE(o.verify_chain);
  EXPECT_FALSE(o.verify_name);
  auto e = tls_requirement(T::encryption_only, "", "mx.example");
  EXPECT_TRUE(e.starttls_required);
  EXPECT_FALSE(e.verify_chain);
  EXPECT_FALSE(e.verify_name);
  auto c = tls_requirement(T::certificate_validation, "", "mx.example");
  EXPECT_TRUE(c.starttls_required);
  EXPECT_TRUE(c.verify_chain);
  EXPECT_FALSE(c.verify_name);
  auto d = tls_requirement(T::domain_validation, "", "MX.example");
  EXPECT_TRUE(d.starttls_required);
  EXPECT_TRUE(d.verify_chain);
  EXPECT_TRUE(d.verify_name);
  EXPECT_EQ(d.acceptable_names, std::vector<std::string>{"mx.example"});
}

TEST(TlsRequirement, TlsDomainWinsOverHostName) {
  auto d = tls_requirement(T::domain_validation, "*.Contoso.com", "mail.fabrikam.example");
  EXPECT_EQ(d.acceptable_names, std::vector<std::string>{"*.contoso.com"});
}

TEST(TlsRequirement, IpLiteralWithoutTlsDomainHasNoAcceptableName) {
  for (const char* ip : {"192.0.2.10", "2001:db8::10", "[192.0.2.10]", "[IPv6:2001:db8::10]"}) {
    auto d = tls_requirement(T::domain_validation, "", ip);
    EXPECT_TRUE(d.acceptable_names.empty()) << ip;
    auto out = tls_decide(d, true, true, "", true, {"192.0.2.10", "2001:db8::10", "mail.contoso.com"});
    EXPECT_EQ(out.verdict, TlsVerdict::fail_host) << ip;
    EXPECT_EQ(out.reason, "certificate name mismatch");
  }
  auto d = tls_requirement(T::domain_validation, "mail.contoso.com", "192.0.2.10");
  EXPECT_EQ(d.acceptable_names, std::vector<std::string>{"mail.contoso.com"});
}

enum class Peer { not_offered, handshake_fails, chain_bad, name_mismatch, wildcard_match, ok };

struct TlsCase {
  T setting;
  Peer peer;
  TlsVerdict verdict;
  const char* reason;
};

TlsOutcome run(const TlsCase& c) {
  // The host is mail.contoso.com, tls_domain unset (domain_validation checks the host name).
  auto req = tls_requirement(c.setting, "", "mail.contoso.com");
  switch (c.peer) {
    case Peer::not_offered:
      return tls_decide(req, false, false, "", false, {});
    case Peer::handshake_fails:
      return tls_decide(req, true, false, "no shared cipher", false, {});
    case Peer::chain_bad:
      return tls_decide(req, true, true, "", false, {"mail.contoso.com"});
    case Peer::name_mismatch:
      return tls_decide(req, true, true, "", true, {"mail.fabrikam.example", "fabrikam.example"});
    case Peer::wildcard_match:
      return tls_decide(req, true, true, "", true, {"contoso.com", "*.contoso.com"});
    case Peer::ok:
      break;
  }
  return tls_decide(req, true, true, "", true, {"mail.contoso.com"});
}

TEST(TlsDecide, AllSettingsTimesAllPeers) {
  using V = TlsVerdict;
  const TlsCase cases[] = {
      {T::opportunistic, Peer::not_offered, V::proceed_plain, ""},
      {T::opportunistic, Peer::handshake_fails, V::proceed_plain, "TLS handshake failed: no shared cipher"},
      {T::opportunistic, Peer::chain_bad, V::proceed_tls, ""},
      {T::opportunistic, Peer::name_mismatch, V::proceed_tls, ""},
      {T::opportunistic, Peer::wildcard_match, V::proceed_tls, ""},
      {T::opportunistic, Peer::ok, V::proceed_tls, ""},

      {T::encryption_only, Peer::not_offered, V::fail_host, "STARTTLS not offered"},
      {T::encryption_only, Peer::handshake_fails, V::fail_host, "TLS handshake failed: no shared cipher"},
      {T::encryption_only, Peer::chain_bad, V::proceed_tls, ""},  // self-signed accepted
      {T::encryption_only, Peer::name_mismatch, V::proceed_tls, ""},
      {T::encryption_only, Peer::wildcard_match, V::proceed_tls, ""},
      {T::encryption_only, Peer::ok, V::proceed_tls, ""},

      {T::certificate_validation, Peer::not_offered, V::fail_host, "STARTTLS not offered"},
      {T::certificate_validation, Peer::handshake_fails, V::fail_host, "TLS handshake failed: no shared cipher"},
      {T::certificate_validation, Peer::chain_bad, V::fail_host, "certificate not trusted"},
      {T::certificate_validation, Peer::name_mismatch, V::proceed_tls, ""},  // no name check
      {T::certificate_validation, Peer::wildcard_match, V::proceed_tls, ""},
      {T::certificate_validation, Peer::ok, V::proceed_tls, ""},

      {T::domain_validation, Peer::not_offered, V::fail_host, "STARTTLS not offered"},
      {T::domain_validation, Peer::handshake_fails, V::fail_host, "TLS handshake failed: no shared cipher"},
      {T::domain_validation, Peer::chain_bad, V::fail_host, "certificate not trusted"},
      {T::domain_validation, Peer::name_mismatch, V::fail_host, "certificate name mismatch"},
      {T::domain_validation, Peer::wildcard_match, V::proceed_tls, ""},
      {T::domain_validation, Peer::ok, V::proceed_tls, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "setting " << static_cast<int>(c.setting) << " peer "
                                      << static_cast<int>(c.peer));
    auto out = run(c);
    EXPECT_EQ(out.verdict, c.verdict);
    EXPECT_EQ(out.reason, c.reason);
    // Only an opportunistic handshake failure asks for a new plain-text connection.
    EXPECT_EQ(out.reconnect, c.setting == T::opportunistic && c.peer == Peer::handshake_fails);
  }
}

TEST(TlsDecide, TlsDomainWildcardAgainstCertificate) {
  auto req = tls_requirement(T::domain_validation, "*.contoso.com", "192.0.2.10");
  EXPECT_EQ(tls_decide(req, true, true, "", true, {"mail.contoso.com"}).verdict, TlsVerdict::proceed_tls);
  EXPECT_EQ(tls_decide(req, true, true, "", true, {"*.contoso.com"}).verdict, TlsVerdict::proceed_tls);
  EXPECT_EQ(tls_decide(req, true, true, "", true, {"contoso.com"}).reason, "certificate name mismatch");
  EXPECT_EQ(tls_decide(req, true, true, "", true, {"a.b.contoso.com"}).reason, "certificate name mismatch");
  EXPECT_EQ(tls_decide(req, true, true, "", true, {}).reason, "certificate name mismatch");
}

TEST(TlsDecide, HandshakeErrorWithoutText) {
  auto req = tls_requirement(T::encryption_only, "", "h.example");
  EXPECT_EQ(tls_decide(req, true, false, "", false, {}).reason, "TLS handshake failed");
}

// ---------------------------------------------------------------- certificate_name_matches

TEST(CertificateNameMatches, Rules) {
  struct Row {
    const char* cert;
    const char* acceptable;
    bool match;
  };
  const Row rows[] = {
      {"mail.contoso.com", "mail.contoso.com", true},
      {"MAIL.Contoso.com.", "mail.contoso.com", true},  // case and trailing dot
      {"mail.contoso.com", "*.contoso.com", true},      // wildcard pattern
      {"*.contoso.com", "mail.contoso.com", true},      // wildcard certificate
      {"*.contoso.com", "*.contoso.com", true},         // the same wildcard
      {"a.b.contoso.com", "*.contoso.com", false},      // one label only
      {"contoso.com", "*.contoso.com", false},          // not the parent
      {"*.contoso.com", "a.b.contoso.com", false},
      {"*.contoso.com", "contoso.com", false},
      {"*.b.contoso.com", "*.contoso.com", false},
      {"mailcontoso.com", "*.contoso.com", false},      // label boundary
      {"*.com", "contoso.com", false},                  // a wildcard needs two labels after it
      {"*", "contoso.com", false},
      {"m*.contoso.com", "mail.contoso.com", false},    // partial-label wildcards are literal
      {"mail.fabrikam.com", "mail.contoso.com", false},
      {"", "", false},
  };
  for (const auto& r : rows)
    EXPECT_EQ(certificate_name_matches({r.cert}, {r.acceptable}), r.match) << r.cert << " vs " << r.acceptable;
}

TEST(CertificateNameMatches, AnyOfMany) {
  EXPECT_TRUE(certificate_name_matches({"x.example", "mail.contoso.com"}, {"other.example", "*.contoso.com"}));
  EXPECT_FALSE(certificate_name_matches({"x.example"}, {}));
  EXPECT_FALSE(certificate_name_matches({}, {"x.example"}));
}

// ---------------------------------------------------------------- R-LOOP-1

TEST(Loop, HopCountExceededAboveMax) {
  EXPECT_EQ(snap().service.max_hop_count, 30u);
  EXPECT_FALSE(hop_count_exceeded(snap(), 0));
  EXPECT_FALSE(hop_count_exceeded(snap(), 30));
  EXPECT_TRUE(hop_count_exceeded(snap(), 31));
}

TEST(Loop, OwnListenerAddresses) {
  auto ip = [](const char* s) { return IpAddress::parse(s).value(); };
  EXPECT_TRUE(is_own_listener(snap(), ip("192.0.2.1"), 25));
  EXPECT_FALSE(is_own_listener(snap(), ip("192.0.2.1"), 587));
  EXPECT_FALSE(is_own_listener(snap(), ip("192.0.2.2"), 25));
  // 0.0.0.0:2525 covers loopback and the given interface addresses.
  EXPECT_TRUE(is_own_listener(snap(), ip("127.0.0.1"), 2525));
  EXPECT_FALSE(is_own_listener(snap(), ip("198.51.100.7"), 2525));
  EXPECT_TRUE(is_own_listener(snap(), ip("198.51.100.7"), 2525, {ip("198.51.100.7")}));
}

}  // namespace
}  // namespace mf::routing
