// Tests for src/auth/sasl.cpp: strict base64 (RFC 4648 §4) and the SASL PLAIN message (RFC 4616),
// the decoding behind AUTH PLAIN / LOGIN (R-SUB-1).
#include "auth/sasl.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mf::auth {
namespace {

using namespace std::string_literals;

TEST(R_SUB_1_AuthBase64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(R_SUB_1_AuthBase64, BinaryRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    auto decoded = base64_decode(base64_encode(part));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, part);
  }
  EXPECT_EQ(base64_decode("AA=="), "\0"s);
  EXPECT_EQ(base64_decode("AGRhdmlkAHNlY3JldA=="), "\0david\0secret"s);
  EXPECT_EQ(base64_decode("+/+/"), "\xfb\xff\xbf"s);
}

TEST(R_SUB_1_AuthBase64, RejectsInvalidInput) {
  for (const char* bad : {
           "Zg",         // missing padding
           "Zg=",        // length not a multiple of 4
           "Z===",       // three padding characters
           "====",       // only padding
           "=Zg=",       // padding first
           "Zm=v",       // padding inside a group
           "Zg==Zg==",   // padding before the end
           "Zm9v\n",     // line end
           " Zm9v",      // leading blank (EVP_DecodeBlock would skip it)
           "Zm9v ",      // trailing blank
           "Zm9v\r\n",
           "Zm-v",       // URL-safe alphabet
           "Zm_v",
           "Zh==",       // non-zero unused bits: not the canonical encoding of "f"
           "Zm9=",       // ditto for "fo"
           "*",          // the SASL cancel token is not base64
           "Zm9v\x80YmFy",
       }) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
  EXPECT_FALSE(base64_decode("Zm9v\0Zm9v"s));
}

TEST(R_SUB_1_AuthPlain, ParsesTheThreeParts) {
  auto c = parse_plain("\0david@contoso.test\0s3cret"s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->authzid, "");
  EXPECT_EQ(c->authcid, "david@contoso.test");
  EXPECT_EQ(c->password, "s3cret");

  c = parse_plain("david@contoso.test\0david@contoso.test\0pass word \xC3\xBC"s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->authzid, "david@contoso.test");
  EXPECT_EQ(c->authcid, "david@contoso.test");
  EXPECT_EQ(c->password, "pass word \xC3\xBC");
}

TEST(R_SUB_1_AuthPlain, RejectsMalformedMessages) {
  for (const std::string& bad : {
           ""s,                          // empty (AUTH PLAIN =)
           "davidsecret"s,               // no NUL
           "\0davidsecret"s,             // one NUL
           "david\0secret"s,             // one NUL
           "\0\0secret"s,                // empty authcid
           "\0david\0"s,                 // empty password
           "\0\0"s,
           "\0david\0sec\0ret"s,         // a third NUL
           "a\0david\0secret\0"s,
       }) {
    EXPECT_FALSE(parse_plain(bad)) << testing::PrintToString(bad);
  }
}

TEST(R_SUB_1_AuthPlain, RejectsOverlongParts) {
  const std::string max(kMaxPlainField, 'x');
  const std::string over(kMaxPlainField + 1, 'x');
  EXPECT_TRUE(parse_plain(max + "\0"s + max + "\0"s + max));
  EXPECT_FALSE(parse_plain(over + "\0u\0p"s));
  EXPECT_FALSE(parse_plain("\0"s + over + "\0p"s));
  EXPECT_FALSE(parse_plain("\0u\0"s + over));
}

TEST(R_SUB_1_AuthPlain, WipeClearsTheString) {
  std::string secret = "hunter2";
  wipe(secret);
  EXPECT_TRUE(secret.empty());
}

}  // namespace
}  // namespace mf::auth
