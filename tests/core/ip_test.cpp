// Tests for src/core/ip.cpp (CIDR matching used by connectors and rules).
#include "core/ip.hpp"

#include <gtest/gtest.h>

namespace mf {
namespace {

TEST(Cidr, ContainsV4AndV6) {
  auto net = Cidr::parse("192.0.2.0/24");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(*IpAddress::parse("192.0.2.77")));
  EXPECT_FALSE(net->contains(*IpAddress::parse("192.0.3.1")));
  EXPECT_FALSE(net->contains(*IpAddress::parse("2001:db8::1")));
  auto v6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));
}

TEST(Cidr, MappedV4IsV4) {
  auto ip = IpAddress::parse("::ffff:192.0.2.9");
  ASSERT_TRUE(ip);
  EXPECT_FALSE(ip->v6);
  EXPECT_TRUE(Cidr::parse("192.0.2.0/28")->contains(*ip));
}

TEST(Cidr, CanonicalAndOverlap) {
  auto a = Cidr::parse("10.1.2.3/8");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "10.0.0.0/8");
  EXPECT_TRUE(a->overlaps(*Cidr::parse("10.200.0.0/16")));
  EXPECT_FALSE(a->overlaps(*Cidr::parse("11.0.0.0/8")));
  EXPECT_EQ(Cidr::parse("192.0.2.1")->prefix, 32);
  EXPECT_EQ(Cidr::parse("192.0.2.7/29")->contains(*IpAddress::parse("192.0.2.1")), true);
}

TEST(Cidr, Rejects) {
  for (const char* bad : {"", "300.0.0.0/8", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/x", "abc"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace mf
