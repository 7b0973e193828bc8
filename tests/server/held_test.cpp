// Tests for src/server/held.cpp: `mailflow queue hold` markers survive a restart (issue 7).
#include "core/message_id.hpp"
#include "server/held.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace mf::server {
namespace {

TEST(HeldMessages, AHoldIsKeptAcrossReopeningAndReleasedForGood) {
  test::TempDir dir;
  const std::string folder = (dir.path() / "held").string();
  const std::string a = new_message_id();
  const std::string b = new_message_id();
  {
    auto held = HeldMessages::open(folder);
    ASSERT_TRUE(held) << held.error().message;
    ASSERT_TRUE((*held)->add(a));
    ASSERT_TRUE((*held)->add(a));  // idempotent
    ASSERT_TRUE((*held)->add(b));
    EXPECT_TRUE((*held)->contains(a));
  }
  {
    auto held = HeldMessages::open(folder);  // "restart"
    ASSERT_TRUE(held);
    EXPECT_EQ((*held)->ids().size(), 2u);
    EXPECT_TRUE((*held)->contains(a));
    ASSERT_TRUE((*held)->remove(a));
    ASSERT_TRUE((*held)->remove(a));  // idempotent
  }
  auto held = HeldMessages::open(folder);
  ASSERT_TRUE(held);
  EXPECT_FALSE((*held)->contains(a));
  EXPECT_TRUE((*held)->contains(b));
}

TEST(HeldMessages, OnlyMessageIdsNameMarkers) {
  test::TempDir dir;
  auto held = HeldMessages::open((dir.path() / "held").string());
  ASSERT_TRUE(held);
  EXPECT_FALSE((*held)->add("../../etc/passwd"));
  EXPECT_FALSE((*held)->add(""));
  EXPECT_FALSE((*held)->remove("../x"));
  // A stray file in the folder is not a hold.
  std::filesystem::create_directories(dir.path() / "held");
  { std::ofstream(dir.path() / "held" / "README"); }
  auto reopened = HeldMessages::open((dir.path() / "held").string());
  ASSERT_TRUE(reopened);
  EXPECT_TRUE((*reopened)->ids().empty());
}

TEST(HeldMessages, RetainDropsMarkersOfMessagesNoLongerInTheSpool) {
  test::TempDir dir;
  auto held = HeldMessages::open((dir.path() / "held").string());
  ASSERT_TRUE(held);
  const std::string gone = new_message_id();
  const std::string kept = new_message_id();
  ASSERT_TRUE((*held)->add(gone));
  ASSERT_TRUE((*held)->add(kept));
  (*held)->retain({kept});
  EXPECT_EQ((*held)->ids(), std::vector<std::string>{kept});
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "held" / gone));
}

}  // namespace
}  // namespace mf::server
