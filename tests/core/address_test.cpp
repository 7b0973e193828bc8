// Tests for src/core/address.cpp and domain.cpp: the RFC 5321 mailbox and domain parsers.
#include "core/address.hpp"

#include <gtest/gtest.h>

#include <array>

namespace mf {
namespace {

struct AddrCase {
  const char* input;
  bool utf8;
  bool ok;
  const char* str;  // canonical form when ok
};

class AddressParse : public ::testing::TestWithParam<AddrCase> {};

TEST_P(AddressParse, Table) {
  const auto& c = GetParam();
  auto a = Address::parse(c.input, c.utf8);
  ASSERT_EQ(a.has_value(), c.ok) << c.input << (a ? "" : " error: " + a.error().message);
  if (c.ok) {
    EXPECT_EQ(a->str(), c.str);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, AddressParse,
    ::testing::Values(
        AddrCase{"david@contoso.com", false, true, "david@contoso.com"},
        AddrCase{"David@Contoso.COM", false, true, "David@contoso.com"},       // domain folded, local kept
        AddrCase{"d.a.v.i.d@contoso.com.", false, true, "d.a.v.i.d@contoso.com"},  // trailing root dot (A25)
        AddrCase{"a+tag@x.example", false, true, "a+tag@x.example"},
        AddrCase{"\"john doe\"@t.example", false, true, "\"john doe\"@t.example"},  // A22
        AddrCase{"\"john\"@t.example", false, true, "john@t.example"},              // minimal quoting
        AddrCase{"\"a\\\"b\"@t.example", false, true, "\"a\\\"b\"@t.example"},      // A22 escaped quote
        AddrCase{"x%victim.example@t.example", false, true, "x%victim.example@t.example"},  // D02: a local part
        AddrCase{"user@[127.0.0.1]", false, true, "user@[127.0.0.1]"},
        AddrCase{"user@[IPv6:::1]", false, true, "user@[IPv6:::1]"},
        AddrCase{"user@1.2.3.4", false, false, ""},            // A26 unbracketed numeric
        AddrCase{"x@victim.example@t.example", false, false, ""},  // D04 double @
        AddrCase{"noat", false, false, ""},
        AddrCase{"@t.example", false, false, ""},
        AddrCase{"a@", false, false, ""},
        AddrCase{".a@t.example", false, false, ""},
        AddrCase{"a..b@t.example", false, false, ""},
        AddrCase{"a(comment)@t.example", false, false, ""},    // A18
        AddrCase{"\"unbalanced@t.example", false, false, ""},  // A18
        AddrCase{"a b@t.example", false, false, ""},
        AddrCase{"a@t_.example", false, true, "a@t_.example"},
        AddrCase{"a@-bad.example", false, false, ""},
        AddrCase{"a@bad-.example", false, false, ""},
        AddrCase{"a@[300.1.1.1]", false, false, ""},
        AddrCase{"ü@t.example", false, false, ""},             // A23 8-bit without SMTPUTF8
        AddrCase{"ü@t.example", true, true, "ü@t.example"},
        AddrCase{"a@bücher.example", true, true, "a@xn--bcher-kva.example"},  // A24 U-label → A-label
        AddrCase{"a@\x80\x81.example", true, false, ""},       // A07 invalid UTF-8
        AddrCase{";sleep 66;@t.example", false, false, ""}));  // A20: not a valid local part

TEST(Address, ShellMetacharactersAreOnlyData) {
  // security catalogue A20: ';' is not atext, so the shell-injection shape is a syntax error.
  EXPECT_FALSE(Address::parse("a;b@t.example"));
  // security catalogue A21: an expansion-looking local part is valid atext and stays literal data.
  auto a = Address::parse("${run{/bin/true}}@t.example");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->local(), "${run{/bin/true}}");
}

TEST(Address, LengthLimits) {
  // security catalogue A19: local part 64 ok, 65 rejected; domain label 63 ok, 64 rejected.
  std::string local64(64, 'a');
  EXPECT_TRUE(Address::parse(local64 + "@t.example"));
  EXPECT_FALSE(Address::parse(local64 + "a@t.example"));
  EXPECT_TRUE(Address::parse("a@" + std::string(63, 'b') + ".example"));
  EXPECT_FALSE(Address::parse("a@" + std::string(64, 'b') + ".example"));
  std::string long_domain;
  for (int i = 0; i < 60; ++i) long_domain += "abcd.";
  EXPECT_FALSE(Address::parse("a@" + long_domain + "example"));
}

TEST(Address, KeyFoldsCase) {
  auto a = Address::parse("David@Contoso.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->key(), "david@contoso.com");
}

TEST(Address, KeyIntoWritesTheSameKeyWithoutAllocating) {
  for (const char* text : {"David@Contoso.com", "\"A B\"@Example.COM", "x@[192.0.2.1]", "MiXeD.Case+Tag@sub.example.org"}) {
    auto a = Address::parse(text);
    ASSERT_TRUE(a) << text;
    std::array<char, Address::kKeyBufferSize> buf;
    EXPECT_EQ(a->key_into(buf), a->key()) << text;
  }
  // Longest address the parser accepts (254 octets between the brackets) still fits the buffer.
  auto longest = Address::parse(std::string(64, 'L') + "@" + std::string(63, 'd') + "." + std::string(63, 'e') + "." +
                                std::string(61, 'f'));
  ASSERT_TRUE(longest);
  std::array<char, Address::kKeyBufferSize> buf;
  EXPECT_EQ(longest->key_into(buf), longest->key());
  // Too small a buffer: empty, the caller falls back to key().
  std::array<char, 8> small;
  EXPECT_TRUE(Address::parse("someone@example.com")->key_into(small).empty());
}

TEST(Domain, SubdomainAndParent) {
  auto d = Domain::parse("host.sub.contoso.com");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_subdomain_of("contoso.com"));
  EXPECT_TRUE(d->is_subdomain_of("sub.contoso.com"));
  EXPECT_FALSE(d->is_subdomain_of("host.sub.contoso.com"));
  EXPECT_FALSE(d->is_subdomain_of("toso.com"));
  EXPECT_EQ(d->parent(), "sub.contoso.com");
  auto lit = Domain::parse("[192.0.2.1]");
  ASSERT_TRUE(lit);
  EXPECT_TRUE(lit->is_literal());
  EXPECT_EQ(lit->parent(), "");
}

TEST(Domain, HomographIsADifferentDomain) {
  // security catalogue A25: Cyrillic "а" in "contoso" must not equal the ASCII domain.
  auto ascii = Domain::parse("contoso.com");
  auto homograph = Domain::parse("cont\xd0\xbeso.com");
  ASSERT_TRUE(ascii);
  ASSERT_TRUE(homograph);
  EXPECT_NE(*ascii, *homograph);
  EXPECT_EQ(homograph->str().substr(0, 4), "xn--");
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xbc"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));        // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));    // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));        // truncated
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

}  // namespace
}  // namespace mf
