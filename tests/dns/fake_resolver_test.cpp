// Tests for tests/support/fake_resolver.hpp: scripted answers, nxdomain default, query log.
#include "support/fake_resolver.hpp"

#include "dns_test_util.hpp"

#include <gtest/gtest.h>

namespace mf::test {
namespace {

using dns::test::run_awaitable;

TEST(FakeResolverTest, AnswersFromTablesAndRecordsQueries) {
  boost::asio::io_context io;
  FakeResolver r;
  r.set_mx("example.test", std::vector<dns::MxRecord>{{10, "mx.example.test"}});
  r.set_addresses("mx.example.test", std::vector<std::string>{"2001:db8::1", "192.0.2.1"});
  r.set_mx("nomail.test", dns::MxAnswer{dns::Status::null_mx, {}, "null MX"});

  auto mx = run_awaitable(io, r.mx("Example.test."));
  ASSERT_EQ(mx.status, dns::Status::ok);
  EXPECT_EQ(mx.records.at(0).host, "mx.example.test");
  auto addrs = run_awaitable(io, r.addresses("mx.example.test"));
  ASSERT_EQ(addrs.status, dns::Status::ok);
  ASSERT_EQ(addrs.addresses.size(), 2u);
  EXPECT_EQ(addrs.addresses[0].str(), "2001:db8::1");
  EXPECT_EQ(run_awaitable(io, r.mx("nomail.test")).status, dns::Status::null_mx);
  EXPECT_EQ(run_awaitable(io, r.mx("unknown.test")).status, dns::Status::nxdomain);
  EXPECT_EQ(run_awaitable(io, r.addresses("unknown.test")).status, dns::Status::nxdomain);
  EXPECT_EQ(r.queries(), (std::vector<std::string>{"MX Example.test.", "A mx.example.test", "MX nomail.test",
                                                   "MX unknown.test", "A unknown.test"}));
}

}  // namespace
}  // namespace mf::test
