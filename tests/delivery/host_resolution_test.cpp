// Tests for src/delivery/host_resolution.cpp (the resolution core of the outbound engine and of
// connector validation) against a FakeResolver (no network): MX order, implicit MX, the MX failures
// (null MX, NXDOMAIN, temporary failure), hosts without addresses, and the questions asked.
#include "delivery/host_resolution.hpp"
#include "support/fake_resolver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mf::delivery {
namespace {

namespace asio = boost::asio;
using Strings = std::vector<std::string>;

NameResolution resolve(test::FakeResolver& dns, const std::string& name, bool via_mx = true) {
  asio::io_context io;
  std::mt19937 rng{1};
  auto fut = asio::co_spawn(io, resolve_host_name(dns, name, via_mx, rng), asio::use_future);
  io.run();
  return fut.get();
}

Strings addresses(const ResolvedHost& h) {
  Strings out;
  for (const auto& ip : h.answer.addresses) out.push_back(ip.str());
  return out;
}

TEST(ResolveHostName, MxHostsInPreferenceOrderWithTheirAddresses) {
  test::FakeResolver dns;
  dns.set_mx("example.com", std::vector<dns::MxRecord>{{30, "c.example.com"}, {10, "a.example.com"},
                                                       {20, "b.example.com"}, {40, "a.example.com"}});
  dns.set_addresses("a.example.com", Strings{"2001:db8::1", "192.0.2.1"});
  dns.set_addresses("b.example.com", Strings{"192.0.2.2"});
  dns.set_addresses("c.example.com", Strings{"192.0.2.3"});
  const auto r = resolve(dns, "example.com");
  EXPECT_TRUE(r.via_mx);
  EXPECT_EQ(r.mx_status, dns::Status::ok);
  EXPECT_EQ(r.mx_error, "");
  ASSERT_EQ(r.hosts.size(), 3u);  // a.example.com once, at its lowest preference
  EXPECT_EQ(r.hosts[0].name, "a.example.com");
  EXPECT_EQ(r.hosts[0].preference, 10);
  EXPECT_EQ(r.hosts[1].name, "b.example.com");
  EXPECT_EQ(r.hosts[1].preference, 20);
  EXPECT_EQ(r.hosts[2].name, "c.example.com");
  EXPECT_EQ(r.hosts[2].preference, 30);
  for (const auto& h : r.hosts) EXPECT_EQ(h.answer.status, dns::Status::ok) << h.name;
  EXPECT_EQ(addresses(r.hosts[0]), (Strings{"2001:db8::1", "192.0.2.1"}));
  EXPECT_EQ(addresses(r.hosts[1]), (Strings{"192.0.2.2"}));
  EXPECT_EQ(addresses(r.hosts[2]), (Strings{"192.0.2.3"}));
  EXPECT_EQ(dns.queries(), (Strings{"MX example.com", "A a.example.com", "A b.example.com", "A c.example.com"}));
}

TEST(ResolveHostName, NodataUsesTheNameItself) {
  test::FakeResolver dns;
  dns.set_mx("plain.example", dns::MxAnswer{dns::Status::nodata, {}, "NODATA"});
  dns.set_addresses("plain.example", Strings{"192.0.2.13"});
  const auto r = resolve(dns, "plain.example");
  EXPECT_EQ(r.mx_status, dns::Status::nodata);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].name, "plain.example");
  EXPECT_EQ(r.hosts[0].preference, 0);
  EXPECT_EQ(r.hosts[0].answer.status, dns::Status::ok);
  EXPECT_EQ(addresses(r.hosts[0]), (Strings{"192.0.2.13"}));
  EXPECT_EQ(dns.queries(), (Strings{"MX plain.example", "A plain.example"}));
}

TEST(ResolveHostName, WithoutMxOnlyTheAddressesAreLookedUp) {
  test::FakeResolver dns;
  dns.set_addresses("relay.example", Strings{"192.0.2.20"});
  const auto r = resolve(dns, "relay.example", /*via_mx=*/false);
  EXPECT_FALSE(r.via_mx);
  EXPECT_EQ(r.mx_status, dns::Status::ok);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].name, "relay.example");
  EXPECT_EQ(addresses(r.hosts[0]), (Strings{"192.0.2.20"}));
  EXPECT_EQ(dns.queries(), (Strings{"A relay.example"}));
}

TEST(ResolveHostName, MxFailuresLookUpNoHost) {
  struct Row {
    std::string name;
    dns::Status status;
    std::string error;
  };
  const Row rows[] = {
      {"nomail.example", dns::Status::null_mx, "null MX"},
      {"missing.example", dns::Status::nxdomain, "NXDOMAIN"},  // unknown to the fake
      {"flaky.example", dns::Status::temp_fail, "SERVFAIL"},
  };
  test::FakeResolver dns;
  dns.set_mx("nomail.example", dns::MxAnswer{dns::Status::null_mx, {}, "null MX"});
  dns.set_mx("flaky.example", dns::MxAnswer{dns::Status::temp_fail, {}, "SERVFAIL"});
  for (const auto& row : rows) {
    dns.set_addresses(row.name, Strings{"192.0.2.99"});  // never asked
    dns.clear_queries();
    const auto r = resolve(dns, row.name);
    EXPECT_EQ(r.mx_status, row.status) << row.name;
    EXPECT_EQ(r.mx_error, row.error) << row.name;
    EXPECT_TRUE(r.hosts.empty()) << row.name;
    EXPECT_EQ(dns.queries(), (Strings{"MX " + row.name})) << row.name;
  }
}

TEST(ResolveHostName, HostsWithoutAddressesKeepTheirAnswer) {
  test::FakeResolver dns;
  dns.set_mx("example.org", std::vector<dns::MxRecord>{{10, "gone.example.org"}, {20, "empty.example.org"},
                                                       {30, "flaky.example.org"}, {40, "ok.example.org"}});
  dns.set_addresses("empty.example.org", dns::AddressAnswer{dns::Status::nodata, {}, "NODATA"});
  dns.set_addresses("flaky.example.org", dns::AddressAnswer{dns::Status::temp_fail, {}, "timed out"});
  dns.set_addresses("ok.example.org", Strings{"192.0.2.40"});
  const auto r = resolve(dns, "example.org");
  EXPECT_EQ(r.mx_status, dns::Status::ok);
  ASSERT_EQ(r.hosts.size(), 4u);
  EXPECT_EQ(r.hosts[0].name, "gone.example.org");  // unknown to the fake: NXDOMAIN
  EXPECT_EQ(r.hosts[0].answer.status, dns::Status::nxdomain);
  EXPECT_EQ(r.hosts[0].answer.error, "NXDOMAIN");
  EXPECT_TRUE(r.hosts[0].answer.addresses.empty());
  EXPECT_EQ(r.hosts[1].answer.status, dns::Status::nodata);
  EXPECT_EQ(r.hosts[1].answer.error, "NODATA");
  EXPECT_TRUE(r.hosts[1].answer.addresses.empty());
  EXPECT_EQ(r.hosts[2].answer.status, dns::Status::temp_fail);
  EXPECT_EQ(r.hosts[2].answer.error, "timed out");
  EXPECT_EQ(r.hosts[3].answer.status, dns::Status::ok);
  EXPECT_EQ(addresses(r.hosts[3]), (Strings{"192.0.2.40"}));
  EXPECT_EQ(dns.queries(), (Strings{"MX example.org", "A gone.example.org", "A empty.example.org",
                                    "A flaky.example.org", "A ok.example.org"}));
}

}  // namespace
}  // namespace mf::delivery
