// Tests for src/core/reply.cpp and message_id.cpp.
#include "core/message_id.hpp"
#include "core/reply.hpp"

#include <gtest/gtest.h>

#include <set>

namespace mf {
namespace {

TEST(Reply, SingleLine) {
  EXPECT_EQ(make_reply(250, "2.0.0", "Ok").wire(), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(make_reply(220, "", "mx ESMTP").wire(), "220 mx ESMTP\r\n");
}

TEST(Reply, MultiLineCarriesEnhancedCodeOnEveryLine) {
  EXPECT_EQ(make_reply(550, "5.7.1", "first\nsecond").wire(), "550-5.7.1 first\r\n550 5.7.1 second\r\n");
  EXPECT_EQ(make_reply(550, "5.7.1", "a\nb").one_line(), "550 5.7.1 a b");
}

TEST(MessageId, UniqueSortableValid) {
  std::set<std::string> ids;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    auto id = new_message_id();
    EXPECT_TRUE(is_valid_message_id(id)) << id;
    EXPECT_TRUE(ids.insert(id).second);
    prev = id;
  }
  EXPECT_FALSE(is_valid_message_id("../../etc/passwd"));
  EXPECT_FALSE(is_valid_message_id("short"));
}

}  // namespace
}  // namespace mf
