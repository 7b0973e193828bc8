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
  snap->recipients.for_each([&](std::string_view key, const RecipientRef& ref) {
    ASSERT_LT(ref.org, snap->organizations.size()) << key;
    ASSERT_LT(ref.recipient, snap->organizations[ref.org].recipients.size()) << key;
  });
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

// The recipients index keeps keys of up to kInlineKey octets inside its slots and longer ones in a
// second table: both are found, case-insensitively, and a duplicate is reported with its entry.
TEST(RecipientIndex, ShortAndLongKeys) {
  RecipientIndex index;
  const std::string at_limit = std::string(RecipientIndex::kInlineKey - 12, 'a') + "@example.com";
  const std::string over_limit = std::string(RecipientIndex::kInlineKey - 11, 'b') + "@example.com";
  ASSERT_EQ(at_limit.size(), RecipientIndex::kInlineKey);
  ASSERT_EQ(over_limit.size(), RecipientIndex::kInlineKey + 1);
  EXPECT_TRUE(index.emplace("x@example.com", {1, 2}).second);
  EXPECT_TRUE(index.emplace(at_limit, {3, 4}).second);
  EXPECT_TRUE(index.emplace(over_limit, {5, 6}).second);
  auto [existing, fresh] = index.emplace(over_limit, {7, 8});
  EXPECT_FALSE(fresh);
  ASSERT_NE(existing, nullptr);
  EXPECT_EQ(existing->org, 5u);
  EXPECT_EQ(index.size(), 3u);
  ASSERT_NE(index.find(at_limit), nullptr);
  EXPECT_EQ(index.find(at_limit)->recipient, 4u);
  ASSERT_NE(index.find(over_limit), nullptr);
  EXPECT_EQ(index.find(over_limit)->recipient, 6u);
  EXPECT_EQ(index.find("x@example.com")->org, 1u);
  EXPECT_EQ(index.find("y@example.com"), nullptr);
  EXPECT_EQ(index.find(at_limit.substr(1)), nullptr);        // a prefix is not the key
  EXPECT_EQ(index.find(over_limit + "x"), nullptr);
  EXPECT_EQ(index.find(std::string_view(at_limit).substr(0, 0)), nullptr);
  std::size_t seen = 0;
  index.for_each([&](std::string_view key, const RecipientRef& ref) {
    ++seen;
    EXPECT_EQ(index.find(key), &ref) << key;
  });
  EXPECT_EQ(seen, 3u);
}

TEST(FindRecipient, LongAddressesAreFoundThroughTheLoader) {
  const std::string local = "a.very.long.local.part.of.a.mailbox.address.that.is.longer";
  const auto loaded = load_string(R"(service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains: [{domain: contoso.com}]
    recipients:
      - {address: )" + local + R"(@Contoso.com, proxy_addresses: [short@contoso.com]}
)",
                                  "/tmp/snapshot_long.yaml");
  ASSERT_TRUE(loaded.ok()) << testing::dump(loaded);
  const Snapshot& snap = *loaded.snapshot;
  ASSERT_GT(local.size() + 12, RecipientIndex::kInlineKey);
  const Recipient* r = snap.find_recipient(*Address::parse(local + "@CONTOSO.COM"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r, snap.find_recipient(*Address::parse("Short@contoso.com")));
  EXPECT_EQ(snap.find_recipient(*Address::parse(local + "x@contoso.com")), nullptr);
}

// R-HYB-3: the loader derives each organization's CMT connector once; disabled connectors and
// partner connectors do not count.
TEST(CmtConnector, DerivedAtLoad) {
  const auto loaded = load_string(R"(service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains: [{domain: contoso.com}]
    outbound_connectors:
      - {name: partner, connector_type: partner, recipient_domains: [fabrikam.com], smart_hosts: [mx.fabrikam.com]}
      - {name: old-cmt, connector_type: on_premises, enabled: false, recipient_domains: ["*"],
         smart_hosts: [old.contoso.com], route_all_messages_via_on_premises: true}
      - {name: cmt, connector_type: on_premises, recipient_domains: ["*"],
         smart_hosts: [onprem.contoso.com], route_all_messages_via_on_premises: true}
  - name: fabrikam
    accepted_domains: [{domain: fabrikam.com}]
    outbound_connectors:
      - {name: onprem, connector_type: on_premises, recipient_domains: ["*"], smart_hosts: [onprem.fabrikam.com]}
)",
                                  "/tmp/snapshot_cmt.yaml");
  ASSERT_TRUE(loaded.ok()) << testing::dump(loaded);
  const Snapshot& snap = *loaded.snapshot;
  ASSERT_TRUE(snap.organizations[0].cmt_connector.has_value());
  EXPECT_EQ(snap.organizations[0].outbound_connectors[*snap.organizations[0].cmt_connector].name, "cmt");
  EXPECT_FALSE(snap.organizations[1].cmt_connector.has_value());
  EXPECT_EQ(find_cmt_connector(snap.organizations[0]), snap.organizations[0].cmt_connector);
}

}  // namespace
}  // namespace mf::config
