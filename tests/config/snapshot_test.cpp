// Tests for src/config/snapshot.cpp: accepted-domain look-up (R-DOM-1: exact beats wildcard,
// `*.x` covers x and its subdomains), recipient look-up through addresses and proxy addresses
// (R-RCPT-1, case-insensitive), DomainPattern and RuleConditions::empty.
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace mf::config {
namespace {

const char* kDirectory = R"(service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: authoritative}
      - {domain: "*.contoso.com", type: internal_relay}
      - {domain: "*.eu.contoso.com", type: external_relay}
      - {domain: exact.eu.contoso.com, type: authoritative}
    recipients:
      - {address: David@Contoso.com, proxy_addresses: [dave@contoso.com, "d.smith@eu.contoso.com"]}
      - {type: group, address: all@contoso.com, members: [david@contoso.com]}
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.example}
      - {domain: "*.sub.contoso.com", type: authoritative}
    recipients:
      - {address: ann@fabrikam.example, proxy_addresses: ann@sub.contoso.com}
)";

std::shared_ptr<const Snapshot> directory() {
  static const LoadResult loaded = load_string(kDirectory, "/tmp/snapshot_test.yaml");
  EXPECT_TRUE(loaded.ok()) << testing::dump(loaded);
  return loaded.snapshot;
}

struct DomainCase {
  const char* domain;
  int org;               // -1 = no accepted domain
  const char* entry;     // the covering entry, as written canonically ("*.x" for wildcards)
  DomainType type;
};

class FindAcceptedDomain : public ::testing::TestWithParam<DomainCase> {};

TEST_P(FindAcceptedDomain, Table) {
  auto snap = directory();
  ASSERT_TRUE(snap);
  const auto& c = GetParam();
  auto d = Domain::parse(c.domain);
  ASSERT_TRUE(d) << c.domain;
  std::size_t org = 99;
  const AcceptedDomain* ad = snap->find_accepted_domain(*d, &org);
  if (c.org < 0) {
    EXPECT_EQ(ad, nullptr) << c.domain;
    EXPECT_EQ(org, 99u) << "org index written without a match";
    return;
  }
  ASSERT_NE(ad, nullptr) << c.domain;
  EXPECT_EQ(org, static_cast<std::size_t>(c.org)) << c.domain;
  EXPECT_EQ((ad->wildcard ? "*." : "") + ad->domain.str(), c.entry) << c.domain;
  EXPECT_EQ(ad->type, c.type) << c.domain;
  EXPECT_EQ(snap->find_accepted_domain(*d), ad);  // org index is optional
}

INSTANTIATE_TEST_SUITE_P(
    RDom1, FindAcceptedDomain,
    ::testing::Values(
        DomainCase{"contoso.com", 0, "contoso.com", DomainType::authoritative},  // exact beats *.contoso.com
        DomainCase{"CONTOSO.COM.", 0, "contoso.com", DomainType::authoritative},
        DomainCase{"a.contoso.com", 0, "*.contoso.com", DomainType::internal_relay},
        DomainCase{"a.b.c.contoso.com", 0, "*.contoso.com", DomainType::internal_relay},
        DomainCase{"eu.contoso.com", 0, "*.eu.contoso.com", DomainType::external_relay},  // *.x covers x
        DomainCase{"x.eu.contoso.com", 0, "*.eu.contoso.com", DomainType::external_relay},  // closest wildcard
        DomainCase{"exact.eu.contoso.com", 0, "exact.eu.contoso.com", DomainType::authoritative},
        DomainCase{"below.exact.eu.contoso.com", 0, "*.eu.contoso.com", DomainType::external_relay},
        DomainCase{"sub.contoso.com", 1, "*.sub.contoso.com", DomainType::authoritative},  // other org, closer
        DomainCase{"x.sub.contoso.com", 1, "*.sub.contoso.com", DomainType::authoritative},
        DomainCase{"fabrikam.example", 1, "fabrikam.example", DomainType::authoritative},
        DomainCase{"x.fabrikam.example", -1, "", DomainType::authoritative},  // exact entry: no subdomains
        DomainCase{"notcontoso.com", -1, "", DomainType::authoritative},
        DomainCase{"com", -1, "", DomainType::authoritative},
        DomainCase{"[192.0.2.1]", -1, "", DomainType::authoritative}));

TEST(FindRecipient, AddressesAndProxiesCaseInsensitive) {
  auto snap = directory();
  ASSERT_TRUE(snap);
  struct Case {
    const char* address;
    int org;        // -1 = unknown
    const char* primary;
  };
  const Case cases[] = {
      {"david@contoso.com", 0, "David@contoso.com"},
      {"DAVID@CONTOSO.COM", 0, "David@contoso.com"},
      {"Dave@Contoso.Com", 0, "David@contoso.com"},          // proxy address
      {"d.smith@EU.contoso.com", 0, "David@contoso.com"},    // proxy address in a wildcard domain
      {"all@contoso.com", 0, "all@contoso.com"},
      {"ann@fabrikam.example", 1, "ann@fabrikam.example"},
      {"ANN@sub.contoso.com", 1, "ann@fabrikam.example"},    // single-string proxy
      {"nobody@contoso.com", -1, ""},
      {"david@fabrikam.example", -1, ""},
      {"david@contoso.com.evil.example", -1, ""},
  };
  for (const auto& c : cases) {
    auto a = Address::parse(c.address);
    ASSERT_TRUE(a) << c.address;
    std::size_t org = 99;
    const Recipient* r = snap->find_recipient(*a, &org);
    if (c.org < 0) {
      EXPECT_EQ(r, nullptr) << c.address;
      continue;
    }
    ASSERT_NE(r, nullptr) << c.address;
    EXPECT_EQ(org, static_cast<std::size_t>(c.org)) << c.address;
    EXPECT_EQ(r->address.str(), c.primary) << c.address;
  }
  const Recipient* group = snap->find_recipient(*Address::parse("all@contoso.com"));
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->type, RecipientType::group);
}

TEST(FindRecipient, IndexesPointIntoTheOrganizations) {
  auto snap = directory();
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->recipients.size(), 6u);  // 3 primary addresses + 3 proxies
  for (const auto& [key, ref] : snap->recipients) {
    ASSERT_LT(ref.org, snap->organizations.size()) << key;
    ASSERT_LT(ref.recipient, snap->organizations[ref.org].recipients.size()) << key;
  }
  EXPECT_EQ(snap->exact_domains.size(), 3u);
  EXPECT_EQ(snap->wildcard_domains.size(), 3u);
  EXPECT_EQ(snap->exact_domains.at("exact.eu.contoso.com").org, 0u);
  EXPECT_EQ(snap->wildcard_domains.at("sub.contoso.com").org, 1u);
}

TEST(DomainPatternTest, MatchesAndStr) {
  auto d = [](const char* s) { return *Domain::parse(s); };
  DomainPattern exact{DomainPattern::Kind::exact, d("contoso.com")};
  DomainPattern wild{DomainPattern::Kind::wildcard, d("contoso.com")};
  DomainPattern any{DomainPattern::Kind::any, Domain{}};
  EXPECT_EQ(exact.str(), "contoso.com");
  EXPECT_EQ(wild.str(), "*.contoso.com");
  EXPECT_EQ(any.str(), "*");
  struct Case {
    const char* domain;
    bool exact, wild;
  };
  const Case cases[] = {{"contoso.com", true, true},     {"a.contoso.com", false, true},
                        {"a.b.contoso.com", false, true}, {"xcontoso.com", false, false},
                        {"com", false, false},           {"contoso.com.evil.example", false, false}};
  for (const auto& c : cases) {
    EXPECT_EQ(exact.matches(d(c.domain)), c.exact) << c.domain;
    EXPECT_EQ(wild.matches(d(c.domain)), c.wild) << c.domain;
    EXPECT_TRUE(any.matches(d(c.domain))) << c.domain;
  }
}

TEST(RuleConditionsTest, EmptyOnlyWithoutAnyCondition) {
  EXPECT_TRUE(RuleConditions{}.empty());
  std::vector<std::function<void(RuleConditions&)>> setters = {
      [](RuleConditions& c) { c.from.push_back(*Address::parse("a@b.example")); },
      [](RuleConditions& c) { c.sent_to.push_back(*Address::parse("a@b.example")); },
      [](RuleConditions& c) { c.from_domain.push_back(*Domain::parse("b.example")); },
      [](RuleConditions& c) { c.recipient_domain.push_back(*Domain::parse("b.example")); },
      [](RuleConditions& c) { c.from_scope = Scope::in_organization; },
      [](RuleConditions& c) { c.sent_to_scope = Scope::not_in_organization; },
      [](RuleConditions& c) { c.subject_contains.push_back("x"); },
      [](RuleConditions& c) { c.header_contains = HeaderCondition{"X", {"w"}, ""}; },
      [](RuleConditions& c) { c.header_matches = HeaderCondition{"X", {}, "a"}; },
      [](RuleConditions& c) { c.size_over = 0; },
      [](RuleConditions& c) { c.sender_ip_ranges.push_back(*Cidr::parse("10.0.0.0/8")); },
  };
  for (std::size_t i = 0; i < setters.size(); ++i) {
    RuleConditions c;
    setters[i](c);
    EXPECT_FALSE(c.empty()) << "condition #" << i;
  }
}

}  // namespace
}  // namespace mf::config
