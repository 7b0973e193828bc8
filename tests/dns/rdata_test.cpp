// Tests for dns/rdata.hpp: the MX / A / AAAA RDATA parsers (well-formed, malformed, truncated,
// oversized, root name) and name normalization.
#include "dns/rdata.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mf::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

// preference + labels, as wire bytes (uncompressed, root-terminated).
Bytes mx_wire(std::uint16_t pref, const std::vector<std::string>& labels) {
  Bytes b{static_cast<std::uint8_t>(pref >> 8), static_cast<std::uint8_t>(pref & 0xFF)};
  for (const std::string& l : labels) {
    b.push_back(static_cast<std::uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
  return b;
}

TEST(MxRdataTest, ParsesPreferenceAndLowerCasesTheHost) {
  auto mx = parse_mx_rdata(mx_wire(0x0102, {"MX1", "Example", "COM"}));
  ASSERT_TRUE(mx) << mx.error().message;
  EXPECT_EQ(mx->preference, 0x0102);
  EXPECT_EQ(mx->host, "mx1.example.com");
}

TEST(MxRdataTest, RootNameIsEmptyHostForNullMx) {
  auto mx = parse_mx_rdata(mx_wire(0, {}));
  ASSERT_TRUE(mx) << mx.error().message;
  EXPECT_EQ(mx->preference, 0);
  EXPECT_EQ(mx->host, "");
}

TEST(MxRdataTest, AcceptsDigitsHyphenUnderscoreAndMaxLengthLabel) {
  const std::string l63(63, 'a');
  auto mx = parse_mx_rdata(mx_wire(10, {l63, "a-b_c9"}));
  ASSERT_TRUE(mx) << mx.error().message;
  EXPECT_EQ(mx->host, l63 + ".a-b_c9");
}

TEST(MxRdataTest, RejectsTruncatedInput) {
  EXPECT_FALSE(parse_mx_rdata(Bytes{}));
  EXPECT_FALSE(parse_mx_rdata(Bytes{0}));
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10}));                 // no name at all
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 3, 'm', 'x'}));    // label shorter than its length
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 2, 'm', 'x'}));    // missing root label
  Bytes full = mx_wire(10, {"mx", "example", "com"});
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(parse_mx_rdata(Bytes(full.begin(), full.begin() + static_cast<long>(n)))) << "prefix " << n;
  }
}

TEST(MxRdataTest, RejectsTrailingBytesAfterTheRootLabel) {
  Bytes b = mx_wire(10, {"mx", "example"});
  b.push_back(0);
  EXPECT_FALSE(parse_mx_rdata(b));
}

TEST(MxRdataTest, RejectsCompressionPointersAndReservedLabelTypes) {
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 0xC0, 0x0C}));
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 2, 'm', 'x', 0xC0, 0x0C}));
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 0x40, 0}));
  EXPECT_FALSE(parse_mx_rdata(Bytes{0, 10, 0x80, 0}));
}

TEST(MxRdataTest, RejectsOversizedLabelAndName) {
  // A 64-octet "label" cannot be encoded (0x40 is a label type), tested above; a name over 255 can:
  std::vector<std::string> labels(5, std::string(63, 'a'));  // 5 * 64 + 1 = 321 octets
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, labels)));
  std::vector<std::string> ok_labels(3, std::string(63, 'a'));
  ok_labels.push_back(std::string(61, 'b'));  // 3 * 64 + 62 + 1 = 255 octets exactly
  EXPECT_TRUE(parse_mx_rdata(mx_wire(10, ok_labels)));
  ok_labels.back().push_back('b');  // 256
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, ok_labels)));
}

TEST(MxRdataTest, RejectsOctetsThatAreNotHostNameCharacters) {
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, {"a.b", "com"})));
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, {"a b"})));
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, {std::string("a\0b", 3)})));
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, {"a\r\nb"})));
  EXPECT_FALSE(parse_mx_rdata(mx_wire(10, {"\xC3\xA9"})));
}

TEST(AddressRdataTest, ParsesAAndAaaa) {
  auto a = parse_a_rdata(Bytes{192, 0, 2, 1});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "192.0.2.1");
  EXPECT_FALSE(a->v6);
  Bytes v6(16, 0);
  v6[0] = 0x20; v6[1] = 0x01; v6[2] = 0x0d; v6[3] = 0xb8; v6[15] = 1;
  auto aaaa = parse_aaaa_rdata(v6);
  ASSERT_TRUE(aaaa);
  EXPECT_TRUE(aaaa->v6);
  EXPECT_EQ(aaaa->str(), "2001:db8::1");
}

TEST(AddressRdataTest, RejectsWrongLengths) {
  EXPECT_FALSE(parse_a_rdata(Bytes{}));
  EXPECT_FALSE(parse_a_rdata(Bytes{1, 2, 3}));
  EXPECT_FALSE(parse_a_rdata(Bytes{1, 2, 3, 4, 5}));
  EXPECT_FALSE(parse_a_rdata(Bytes(16, 0)));
  EXPECT_FALSE(parse_aaaa_rdata(Bytes(15, 0)));
  EXPECT_FALSE(parse_aaaa_rdata(Bytes(17, 0)));
  EXPECT_FALSE(parse_aaaa_rdata(Bytes{1, 2, 3, 4}));
}

TEST(NormalizeNameTest, LowerCasesAndStripsOneTrailingDot) {
  std::string n = "Mail.Example.COM.";
  EXPECT_TRUE(normalize_name(n));
  EXPECT_EQ(n, "mail.example.com");
}

TEST(NormalizeNameTest, RejectsEmptyAndBadLabels) {
  for (std::string bad : {std::string(), std::string("."), std::string("a..b"), std::string(".a"),
                          std::string("a.."), std::string(64, 'x') + ".com", std::string(254, 'a')}) {
    EXPECT_FALSE(normalize_name(bad)) << bad;
  }
}

}  // namespace
}  // namespace mf::dns
