// Tests for src/smtp/data_reader.cpp: end of data, dot-unstuffing, bare CR/LF detection, bounded storage
// (security catalogue B01-B05, B08, B09, B13, B17; J02 byte accounting).
#include "smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mf::smtp {
namespace {

struct Outcome {
  bool done;
  std::size_t consumed;
  std::string content;
  bool bare;
};

Outcome read_all(std::string_view in, std::uint64_t max = 1 << 20) {
  DataReader r;
  r.start("", max);
  std::size_t n = r.feed(in);
  return {r.done(), n, std::string(r.content()), r.bare_cr_lf()};
}

// The same input fed one octet at a time must give the same result (no state lost across reads).
Outcome read_bytewise(std::string_view in, std::uint64_t max = 1 << 20) {
  DataReader r;
  r.start("", max);
  std::size_t n = 0;
  while (n < in.size() && !r.done()) n += r.feed(in.substr(n, 1));
  return {r.done(), n, std::string(r.content()), r.bare_cr_lf()};
}

struct EodCase {
  const char* name;
  std::string in;
  bool done;
  std::size_t consumed;  // when done
  std::string content;   // when done: what was stored
  bool bare;
};

void PrintTo(const EodCase& c, std::ostream* os) { *os << c.name; }

class EndOfData : public ::testing::TestWithParam<EodCase> {};

TEST_P(EndOfData, Table) {
  const auto& c = GetParam();
  for (const Outcome& o : {read_all(c.in), read_bytewise(c.in)}) {
    EXPECT_EQ(o.done, c.done) << c.name;
    EXPECT_EQ(o.bare, c.bare) << c.name;
    if (c.done) {
      EXPECT_EQ(o.consumed, c.consumed) << c.name;
      EXPECT_EQ(o.content, c.content) << c.name;
    } else {
      EXPECT_EQ(o.consumed, c.in.size()) << c.name;  // everything is content
    }
  }
}

const std::string kNext = "MAIL FROM:<evil@x.example>\r\n";

INSTANTIATE_TEST_SUITE_P(
    Smuggling, EndOfData,
    ::testing::Values(
        EodCase{"standard", "a\r\n.\r\n", true, 6, "a\r\n", false},
        EodCase{"empty message", ".\r\n", true, 3, "", false},
        EodCase{"stops at the end", "a\r\n.\r\n" + kNext, true, 6, "a\r\n", false},
        EodCase{"dot stuffing", "..a\r\n.b\r\n..\r\n.\r\n", true, 16, ".a\r\nb\r\n.\r\n", false},   // B08
        EodCase{"dot mid-line kept", "a.\r\nb..c\r\n.\r\n", true, 13, "a.\r\nb..c\r\n", false},
        EodCase{"empty lines", "\r\n\r\n.\r\n", true, 7, "\r\n\r\n", false},
        // B01-B05: none of these end the data; each records a bare CR or LF.
        EodCase{"B01 LF.LF", "a\n.\n" + kNext, false, 0, "", true},
        EodCase{"B02 LF.CRLF", "a\n.\r\n" + kNext, false, 0, "", true},
        EodCase{"B03 CRLF.LF", "a\r\n.\n" + kNext, false, 0, "", true},
        EodCase{"B04 CR.CR", "a\r.\r" + kNext, false, 0, "", true},
        EodCase{"B04 CR.LF", "a\r.\n" + kNext, false, 0, "", true},
        EodCase{"B04 LF.CR", "a\n.\r" + kNext, false, 0, "", true},
        EodCase{"B04 CR.CRLF", "a\r.\r\n" + kNext, false, 0, "", true},
        EodCase{"B04 CRLF.CR", "a\r\n.\r" + kNext, false, 0, "", true},
        EodCase{"B05 CRLF NUL . CRLF", std::string("a\r\n\0.\r\n", 7) + kNext, false, 0, "", false},
        EodCase{"CRLF.CRCRLF", "a\r\n.\r\r\n" + kNext, false, 0, "", true},
        // After the smuggled sequence, the real end still works and the bare octets are recorded.
        EodCase{"B01 then real end", "a\n.\nb\r\n.\r\n", true, 10, "a\n.\nb\r\n", true},
        EodCase{"B03 then real end", "a\r\n.\nb\r\n.\r\n", true, 11, "a\r\n\nb\r\n", true},
        EodCase{"B05 then real end", std::string("a\r\n\0.\r\n.\r\n", 10), true, 10,
                std::string("a\r\n\0.\r\n", 7), false},                                   // B13: NUL kept
        EodCase{"bare CR mid-line", "a\rb\r\n.\r\n", true, 8, "a\rb\r\n", true},
        EodCase{"CR CR LF", "a\r\r\n.\r\n", true, 7, "a\r\r\n", true}));

// Security catalogue B01-B05, B08: the memchr fast path against the octet-at-a-time reading (which
// never takes the fast path past one octet) on random mixes of CR, LF, '.', NUL and text, whole and
// in random chunk sizes: the same end of data, content and bare CR/LF verdict.
TEST(DataReader, FastPathAgreesWithOctetAtATimeOnRandomInput) {
  std::uint32_t seed = 4242;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7FFF; };
  const char alphabet[] = {'\r', '\n', '.', 'a', '\0', 'b'};
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    const std::size_t n = next() % 120;
    for (std::size_t i = 0; i < n; ++i) in += alphabet[next() % sizeof(alphabet)];
    if (round % 2 == 0) in += "\r\n.\r\n";
    const Outcome slow = read_bytewise(in);
    const Outcome whole = read_all(in);
    DataReader r;
    r.start("", 1 << 20);
    std::size_t used = 0;
    while (used < in.size() && !r.done()) used += r.feed(std::string_view(in).substr(used, 1 + next() % 17));
    for (const Outcome& o : {whole, Outcome{r.done(), used, std::string(r.content()), r.bare_cr_lf()}}) {
      ASSERT_EQ(o.done, slow.done) << "round " << round;
      ASSERT_EQ(o.consumed, slow.consumed) << "round " << round;
      ASSERT_EQ(o.content, slow.content) << "round " << round;
      ASSERT_EQ(o.bare, slow.bare) << "round " << round;
    }
  }
}

TEST(DataReader, LongLinesAreKept) {
  // security catalogue B09: a 1 MB line is neither truncated nor split.
  std::string line(1 << 20, 'x');
  Outcome o = read_all(line + "\r\n.\r\n", 2 << 20);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, line + "\r\n");
}

TEST(DataReader, StorageIsBoundedAndSizeCounted) {
  // Content beyond the limit is counted, not stored (catalogue B10, J02).
  DataReader r;
  r.start("Received: x\r\n", 10);
  std::string body = std::string(100, 'y') + "\r\n.\r\n";
  EXPECT_EQ(r.feed(body), body.size());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.content_size(), 102u);
  EXPECT_TRUE(r.too_big());
  EXPECT_EQ(r.content(), std::string(10, 'y'));
  EXPECT_EQ(r.take(), "Received: x\r\n" + std::string(10, 'y'));
}

TEST(DataReader, ExactlyAtTheLimitIsNotTooBig) {
  // security catalogue B17: limit and limit + 1.
  for (std::uint64_t extra : {0u, 1u}) {
    DataReader r;
    r.start("", 12);
    std::string body = std::string(10 + extra, 'z') + "\r\n.\r\n";  // content = 12 + extra octets
    r.feed(body);
    EXPECT_TRUE(r.done());
    EXPECT_EQ(r.content_size(), 12 + extra);
    EXPECT_EQ(r.too_big(), extra == 1);
  }
}

TEST(DataReader, DotUnstuffedSizeIsCounted) {
  DataReader r;
  r.start("", 100);
  r.feed("..\r\n.\r\n");
  EXPECT_EQ(r.content_size(), 3u);  // ".\r\n"
}

TEST(DataReader, TakeReturnsPrefixAndContent) {
  DataReader r;
  r.start("H: v\r\n", 100);
  r.feed("body\r\n.\r\n");
  EXPECT_EQ(r.take(), "H: v\r\nbody\r\n");
}

}  // namespace
}  // namespace mf::smtp
