// Tests for src/util/log.cpp: values from the network cannot forge log lines or fields.
#include "util/log.hpp"

#include <gtest/gtest.h>

namespace mf::log {
namespace {

TEST(Kv, EscapesAndQuotes) {
  EXPECT_EQ(kv("id", "ABC"), "id=ABC");
  EXPECT_EQ(kv("from", ""), "from=\"\"");
  EXPECT_EQ(kv("helo", "a b"), "helo=\"a b\"");
  EXPECT_EQ(kv("x", "a\r\nevent=fake"), "x=\"a\\x0d\\x0aevent=fake\"");
  EXPECT_EQ(kv("q", "say \"hi\"\\"), "q=\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(kv("n", 42), "n=42");
}

}  // namespace
}  // namespace mf::log
