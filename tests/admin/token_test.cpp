// Tests of admin/token.hpp: creation with mode 0600, reuse, the permissions policy, the comparison.
#include "admin/token.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace mf::admin {
namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::binary) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Sets the umask for one scope.
struct Umask {
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};

TEST(Token, CreatedWithMode0600AndReused) {
  test::TempDir dir;
  const std::string path = (dir.path() / "admin.token").string();
  auto first = load_or_create_token(path);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->size(), 64u);
  EXPECT_EQ(first->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(mode_of(path), 0600u);
  auto second = load_or_create_token(path);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*second, *first);
  // Only the token file is left behind (no temporary).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator{}), 1);
}

TEST(Token, ModeIs0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    test::TempDir dir;
    const std::string path = (dir.path() / "t").string();
    Umask u(mask);
    ASSERT_TRUE(load_or_create_token(path));
    EXPECT_EQ(mode_of(path), 0600u) << "umask " << mask;
  }
}

TEST(Token, TwoCreationsGiveDifferentTokens) {
  test::TempDir dir;
  auto a = load_or_create_token((dir.path() / "a").string());
  auto b = load_or_create_token((dir.path() / "b").string());
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(Token, MissingFolderIsCreated) {
  test::TempDir dir;
  const std::string path = (dir.path() / "var" / "admin" / "token").string();
  ASSERT_TRUE(load_or_create_token(path));
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(Token, ExistingTokenIsTrimmed) {
  test::TempDir dir;
  const std::string path = (dir.path() / "t").string();
  write_file(path, "  my-operator-chosen-token-123\n\n", 0600);
  auto t = load_or_create_token(path);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, "my-operator-chosen-token-123");
}

TEST(Token, RefusesFileOthersCanReadOrGroupCanWrite) {
  test::TempDir dir;
  const std::string path = (dir.path() / "t").string();
  for (mode_t mode : {mode_t{0644}, mode_t{0604}, mode_t{0660}, mode_t{0602}}) {
    write_file(path, "0123456789abcdef0123456789abcdef\n", mode);
    auto t = load_or_create_token(path);
    ASSERT_FALSE(t) << "mode " << std::oct << mode;
    EXPECT_NE(t.error().message.find(path), std::string::npos);
    EXPECT_NE(t.error().message.find("chmod 600"), std::string::npos);
  }
}

TEST(Token, GroupReadIsAllowed) {
  test::TempDir dir;
  const std::string path = (dir.path() / "t").string();
  write_file(path, "0123456789abcdef0123456789abcdef\n", 0640);
  EXPECT_TRUE(load_or_create_token(path));
}

TEST(Token, RejectsBadContents) {
  test::TempDir dir;
  const std::string path = (dir.path() / "t").string();
  for (const char* text : {"", "short", "has a space in the middle of it", "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0b\x0c\x0e\x0f\x10\x11\x12"}) {
    write_file(path, text, 0600);
    EXPECT_FALSE(load_or_create_token(path)) << text;
  }
}

TEST(Token, NotARegularFile) {
  test::TempDir dir;
  const std::string path = (dir.path() / "d").string();
  std::filesystem::create_directory(path);
  EXPECT_FALSE(load_or_create_token(path));
}

TEST(Token, ReadTokenDoesNotCreateNorCheckMode) {
  test::TempDir dir;
  const std::string path = (dir.path() / "t").string();
  auto missing = read_token(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(path), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  write_file(path, "0123456789abcdef0123456789abcdef", 0644);
  auto t = read_token(path);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "0123456789abcdef0123456789abcdef");
}

TEST(Token, ConstantTimeCompare) {
  EXPECT_TRUE(token_equal("abcdef0123456789", "abcdef0123456789"));
  EXPECT_FALSE(token_equal("abcdef0123456788", "abcdef0123456789"));
  EXPECT_FALSE(token_equal("abcdef012345678", "abcdef0123456789"));
  EXPECT_FALSE(token_equal("", "abcdef0123456789"));
}

}  // namespace
}  // namespace mf::admin
