// Tests for dns/caching_resolver.hpp: the answer rules (null MX, nodata, v6-first ordering,
// temp_fail precedence) and the TTL cache (positive TTL, negative TTL cap and default, temp_fail
// never cached, expiry on the injected FakeClock), over a scripted Transport that counts queries.
#include "dns/caching_resolver.hpp"

#include "dns_test_util.hpp"
#include "support/fake_clock.hpp"

#include <gtest/gtest.h>

#include <map>

namespace mf::dns {
namespace {

using namespace std::chrono_literals;
using test::a_rdata;
using test::aaaa_rdata;
using test::mx_rdata;
using test::run_awaitable;

// Answers from a table; unknown → temp_fail "unscripted". Counts every query it is asked.
class ScriptedTransport final : public Transport {
 public:
  struct Table {
    std::map<std::pair<RrType, std::string>, RawAnswer> answers;
    std::vector<std::string> asked;
  };
  explicit ScriptedTransport(Table& table) : table_(table) {}
  boost::asio::awaitable<RawAnswer> query(std::string name, RrType type) override {
    table_.asked.push_back(std::to_string(static_cast<int>(type)) + " " + name);
    auto it = table_.answers.find({type, name});
    if (it == table_.answers.end()) co_return RawAnswer{Status::temp_fail, {}, 0s, "unscripted"};
    co_return it->second;
  }

 private:
  Table& table_;
};

RawAnswer ok(std::vector<std::string> rdata, std::chrono::seconds ttl) {
  return RawAnswer{Status::ok, std::move(rdata), ttl, {}};
}
RawAnswer negative(Status s, std::chrono::seconds ttl) { return RawAnswer{s, {}, ttl, s == Status::nxdomain ? "NXDOMAIN" : "no records"}; }
RawAnswer servfail() { return RawAnswer{Status::temp_fail, {}, 3600s, "SERVFAIL"}; }

class CachingResolverTest : public ::testing::Test {
 protected:
  CachingResolver& resolver() {
    if (!resolver_) resolver_ = std::make_unique<CachingResolver>(std::make_unique<ScriptedTransport>(table_), clock_);
    return *resolver_;
  }
  MxAnswer mx(const std::string& d) { return run_awaitable(io_, resolver().mx(d)); }
  AddressAnswer addresses(const std::string& h) { return run_awaitable(io_, resolver().addresses(h)); }

  boost::asio::io_context io_;
  mf::test::FakeClock clock_;
  ScriptedTransport::Table table_;
  std::unique_ptr<CachingResolver> resolver_;
};

TEST_F(CachingResolverTest, MxKeepsServerOrderAndLowerCasesNames) {
  table_.answers[{RrType::mx, "example.test"}] = ok({mx_rdata(20, "MX2.example.test"), mx_rdata(10, "mx1.example.test")}, 300s);
  MxAnswer a = mx("Example.TEST.");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  EXPECT_EQ(a.records, (std::vector<MxRecord>{{20, "mx2.example.test"}, {10, "mx1.example.test"}}));
  EXPECT_EQ(table_.asked, std::vector<std::string>{"15 example.test"});
}

TEST_F(CachingResolverTest, SingleZeroRootMxIsNullMx) {
  table_.answers[{RrType::mx, "nomail.test"}] = ok({mx_rdata(0, "")}, 300s);
  MxAnswer a = mx("nomail.test");
  EXPECT_EQ(a.status, Status::null_mx);
  EXPECT_TRUE(a.records.empty());
}

TEST_F(CachingResolverTest, RootTargetAmongOtherMxIsDroppedNotNullMx) {
  table_.answers[{RrType::mx, "mixed.test"}] = ok({mx_rdata(0, ""), mx_rdata(10, "mx.mixed.test")}, 300s);
  MxAnswer a = mx("mixed.test");
  ASSERT_EQ(a.status, Status::ok);
  EXPECT_EQ(a.records, (std::vector<MxRecord>{{10, "mx.mixed.test"}}));
}

TEST_F(CachingResolverTest, OnlyMalformedMxRecordsIsTempFail) {
  table_.answers[{RrType::mx, "bad.test"}] = ok({std::string("\0\x0a\xc0\x0c", 4)}, 300s);
  MxAnswer a = mx("bad.test");
  EXPECT_EQ(a.status, Status::temp_fail);
  EXPECT_NE(a.error.find("compression"), std::string::npos) << a.error;
}

TEST_F(CachingResolverTest, MalformedMxRecordIsSkippedWhenOthersAreGood) {
  table_.answers[{RrType::mx, "half.test"}] = ok({std::string("\0\x0a\x05x", 4), mx_rdata(5, "mx.half.test")}, 300s);
  MxAnswer a = mx("half.test");
  ASSERT_EQ(a.status, Status::ok);
  EXPECT_EQ(a.records, (std::vector<MxRecord>{{5, "mx.half.test"}}));
}

TEST_F(CachingResolverTest, InvalidNameIsNxdomainWithoutAsking) {
  EXPECT_EQ(mx("a..b").status, Status::nxdomain);
  EXPECT_EQ(addresses("").status, Status::nxdomain);
  EXPECT_TRUE(table_.asked.empty());
}

TEST_F(CachingResolverTest, AddressesPutV6FirstThenV4InServerOrder) {
  table_.answers[{RrType::a, "h.test"}] = ok({a_rdata(192, 0, 2, 2), a_rdata(192, 0, 2, 1)}, 300s);
  table_.answers[{RrType::aaaa, "h.test"}] = ok({aaaa_rdata(2), aaaa_rdata(1)}, 300s);
  AddressAnswer a = addresses("h.test");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  std::vector<std::string> got;
  for (const IpAddress& ip : a.addresses) got.push_back(ip.str());
  EXPECT_EQ(got, (std::vector<std::string>{"2001:db8::2", "2001:db8::1", "192.0.2.2", "192.0.2.1"}));
  EXPECT_EQ(table_.asked.size(), 2u);
}

TEST_F(CachingResolverTest, AddressStatusRules) {
  table_.answers[{RrType::a, "v4.test"}] = ok({a_rdata(192, 0, 2, 1)}, 300s);
  table_.answers[{RrType::aaaa, "v4.test"}] = negative(Status::nodata, 60s);
  EXPECT_EQ(addresses("v4.test").status, Status::ok);

  table_.answers[{RrType::a, "v4fail6.test"}] = ok({a_rdata(192, 0, 2, 1)}, 300s);
  table_.answers[{RrType::aaaa, "v4fail6.test"}] = servfail();
  EXPECT_EQ(addresses("v4fail6.test").status, Status::ok);  // one has records: ok

  table_.answers[{RrType::a, "gone.test"}] = negative(Status::nxdomain, 60s);
  table_.answers[{RrType::aaaa, "gone.test"}] = negative(Status::nxdomain, 60s);
  EXPECT_EQ(addresses("gone.test").status, Status::nxdomain);

  table_.answers[{RrType::a, "empty.test"}] = negative(Status::nodata, 60s);
  table_.answers[{RrType::aaaa, "empty.test"}] = negative(Status::nodata, 60s);
  EXPECT_EQ(addresses("empty.test").status, Status::nodata);

  table_.answers[{RrType::a, "half.test"}] = negative(Status::nodata, 60s);
  table_.answers[{RrType::aaaa, "half.test"}] = servfail();
  AddressAnswer a = addresses("half.test");
  EXPECT_EQ(a.status, Status::temp_fail);  // a failure and nothing else: try again later
  EXPECT_EQ(a.error, "SERVFAIL");
}

TEST_F(CachingResolverTest, PositiveAnswerIsCachedForItsTtl) {
  table_.answers[{RrType::mx, "c.test"}] = ok({mx_rdata(10, "mx.c.test")}, 120s);
  EXPECT_EQ(mx("c.test").status, Status::ok);
  clock_.advance(119s);
  EXPECT_EQ(mx("C.test").status, Status::ok);
  EXPECT_EQ(table_.asked.size(), 1u);  // served from the cache
  clock_.advance(1s);
  EXPECT_EQ(mx("c.test").status, Status::ok);
  EXPECT_EQ(table_.asked.size(), 2u);  // expired: asked again
}

TEST_F(CachingResolverTest, ZeroTtlIsNotCached) {
  table_.answers[{RrType::mx, "z.test"}] = ok({mx_rdata(10, "mx.z.test")}, 0s);
  mx("z.test");
  mx("z.test");
  EXPECT_EQ(table_.asked.size(), 2u);
}

TEST_F(CachingResolverTest, NegativeTtlIsCappedAt300Seconds) {
  table_.answers[{RrType::mx, "nx.test"}] = negative(Status::nxdomain, 3600s);
  EXPECT_EQ(mx("nx.test").status, Status::nxdomain);
  clock_.advance(299s);
  EXPECT_EQ(mx("nx.test").status, Status::nxdomain);
  EXPECT_EQ(table_.asked.size(), 1u);
  clock_.advance(1s);
  mx("nx.test");
  EXPECT_EQ(table_.asked.size(), 2u);
}

TEST_F(CachingResolverTest, NegativeWithUnknownTtlIsCachedFor60Seconds) {
  table_.answers[{RrType::mx, "nd.test"}] = negative(Status::nodata, 0s);
  EXPECT_EQ(mx("nd.test").status, Status::nodata);
  clock_.advance(59s);
  mx("nd.test");
  EXPECT_EQ(table_.asked.size(), 1u);
  clock_.advance(1s);
  mx("nd.test");
  EXPECT_EQ(table_.asked.size(), 2u);
}

TEST_F(CachingResolverTest, ShortNegativeTtlIsHonoured) {
  table_.answers[{RrType::mx, "short.test"}] = negative(Status::nxdomain, 5s);
  mx("short.test");
  clock_.advance(5s);
  mx("short.test");
  EXPECT_EQ(table_.asked.size(), 2u);
}

TEST_F(CachingResolverTest, TempFailIsNeverCached) {
  table_.answers[{RrType::mx, "sf.test"}] = servfail();
  EXPECT_EQ(mx("sf.test").status, Status::temp_fail);
  EXPECT_EQ(mx("sf.test").status, Status::temp_fail);
  EXPECT_EQ(table_.asked.size(), 2u);
  table_.answers[{RrType::mx, "sf.test"}] = ok({mx_rdata(1, "mx.sf.test")}, 60s);
  EXPECT_EQ(mx("sf.test").status, Status::ok);  // recovers at once
}

TEST_F(CachingResolverTest, AAndAaaaAreCachedSeparately) {
  table_.answers[{RrType::a, "s.test"}] = ok({a_rdata(192, 0, 2, 1)}, 100s);
  table_.answers[{RrType::aaaa, "s.test"}] = ok({aaaa_rdata(1)}, 10s);
  EXPECT_EQ(addresses("s.test").addresses.size(), 2u);
  clock_.advance(10s);
  EXPECT_EQ(addresses("s.test").addresses.size(), 2u);
  EXPECT_EQ(table_.asked, (std::vector<std::string>{"28 s.test", "1 s.test", "28 s.test"}));
}

TEST(CachingResolverBoundTest, CacheStaysWithinMaxEntries) {
  boost::asio::io_context io;
  mf::test::FakeClock clock;
  ScriptedTransport::Table table;
  CachingResolver r(std::make_unique<ScriptedTransport>(table), clock, 3);
  for (int i = 0; i < 10; ++i) {
    const std::string name = "n" + std::to_string(i) + ".test";
    table.answers[{RrType::mx, name}] = ok({mx_rdata(1, "mx." + name)}, 60s);
    run_awaitable(io, r.mx(name));
    EXPECT_LE(r.cache_size(), 3u);
  }
}

}  // namespace
}  // namespace mf::dns
