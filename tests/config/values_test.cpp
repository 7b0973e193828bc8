// Tests for src/config/values.cpp: the duration and size parsers (tables) and the
// "file:line:column: key_path: message" error format.
#include "config/config.hpp"

#include <gtest/gtest.h>

namespace mf::config {
namespace {

TEST(ConfigErrorStr, Format) {
  ConfigError e{"cfg.yaml", 12, 5, "organizations[0].outbound_connectors[1].smart_hosts[0]", "invalid port"};
  EXPECT_EQ(e.str(), "cfg.yaml:12:5: organizations[0].outbound_connectors[1].smart_hosts[0]: invalid port");
  EXPECT_EQ((ConfigError{"cfg.yaml", 0, 0, "", "no such file"}.str()), "cfg.yaml: no such file");
  EXPECT_EQ((ConfigError{"cfg.yaml", 3, 0, "service", "x"}.str()), "cfg.yaml:3: service: x");
}

struct DurationCase {
  const char* text;
  long long seconds;  // -1 = error
};

class ParseDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, Table) {
  const auto& c = GetParam();
  auto d = parse_duration(c.text);
  if (c.seconds < 0) {
    EXPECT_FALSE(d) << c.text;
  } else {
    ASSERT_TRUE(d) << c.text << ": " << d.error().message;
    EXPECT_EQ(d->count(), c.seconds) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseDuration,
    ::testing::Values(DurationCase{"30s", 30}, DurationCase{"5m", 300}, DurationCase{"24h", 86400},
                      DurationCase{"2d", 172800}, DurationCase{"90", 90}, DurationCase{"0", 0}, DurationCase{"1s", 1},
                      DurationCase{"3650d", 3650LL * 86400}, DurationCase{"3651d", -1}, DurationCase{"", -1},
                      DurationCase{"s", -1}, DurationCase{"-5s", -1}, DurationCase{"1.5h", -1},
                      DurationCase{"5 m", -1}, DurationCase{"5M", -1}, DurationCase{"1w", -1},
                      DurationCase{"1h30m", -1}, DurationCase{"99999999999999999999", -1},
                      DurationCase{"yes", -1}));

struct SizeCase {
  const char* text;
  long long bytes;  // -1 = error
};

class ParseSize : public ::testing::TestWithParam<SizeCase> {};

TEST_P(ParseSize, Table) {
  const auto& c = GetParam();
  auto s = parse_size(c.text);
  if (c.bytes < 0) {
    EXPECT_FALSE(s) << c.text;
  } else {
    ASSERT_TRUE(s) << c.text << ": " << s.error().message;
    EXPECT_EQ(*s, static_cast<std::uint64_t>(c.bytes)) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseSize,
    ::testing::Values(SizeCase{"36700160", 36700160}, SizeCase{"35MB", 35LL << 20}, SizeCase{"10KB", 10240},
                      SizeCase{"1GB", 1LL << 30}, SizeCase{"1gb", 1LL << 30}, SizeCase{"2TB", 2LL << 40},
                      SizeCase{"512B", 512}, SizeCase{"4 KiB", 4096}, SizeCase{"0", 0}, SizeCase{"", -1},
                      SizeCase{"MB", -1}, SizeCase{"-1", -1}, SizeCase{"1.5MB", -1}, SizeCase{"10XB", -1},
                      SizeCase{"yes", -1}, SizeCase{"99999999999999999999", -1}, SizeCase{"20000000TB", -1}));

}  // namespace
}  // namespace mf::config
