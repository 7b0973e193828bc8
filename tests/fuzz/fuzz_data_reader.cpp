// libFuzzer target: smtp::DataReader, the DATA content reader (security catalogue B01-B06, J01).
// Differential: the reader, fed the input in chunks of a size chosen by the input, must agree with a
// plain reference model of RFC 5321 §4.1.1.4 / §4.5.2 written here in the most obvious way:
//  - the data ends at the first "." line after a CRLF ("\r\n.\r\n" with a CRLF assumed before the
//    first octet); nothing else ends it, whatever bare CR / LF / NUL come near a dot;
//  - the octets consumed are exactly those up to and including that end line;
//  - content is the text before the end line with one leading dot removed from each line (a line
//    starts only after CRLF); bare CR / bare LF anywhere in it are reported;
//  - at most max_content octets are stored (a prefix of the content), all are counted.
//
// Input: [0] chunk size (1 + v; 255 = everything at once), [1] max_content (v < 128: v * 7, else
// unlimited), then the client bytes that follow "DATA".
#include "smtp/data_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Model {
  bool done = false;
  std::size_t consumed = 0;
  std::string content;
  bool bare = false;
};

Model reference(std::string_view in) {
  Model m;
  const std::string augmented = "\r\n" + std::string(in);
  const std::size_t end = augmented.find("\r\n.\r\n");
  if (end == std::string::npos) {
    m.consumed = in.size();
    return m;
  }
  m.done = true;
  m.consumed = end + 5 - 2;
  const std::string raw = augmented.substr(2, end);  // content lines, each ending in CRLF (or empty)
  bool line_start = true;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\r' && (i + 1 >= raw.size() || raw[i + 1] != '\n')) m.bare = true;
    if (c == '\n' && (i == 0 || raw[i - 1] != '\r')) m.bare = true;
    if (!(line_start && c == '.')) m.content.push_back(c);
    line_start = c == '\n' && i > 0 && raw[i - 1] == '\r';
  }
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = data[0] == 255 ? size : std::size_t{data[0]} + 1;
  const std::uint64_t max = data[1] < 128 ? std::uint64_t{data[1]} * 7 : UINT64_MAX;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  mf::smtp::DataReader reader;
  reader.start("Received: x\r\n", max);
  std::size_t consumed = 0;
  while (consumed < in.size() && !reader.done()) {
    const std::string_view piece = in.substr(consumed, std::min(chunk, in.size() - consumed));
    const std::size_t n = reader.feed(piece);
    check(n <= piece.size());
    check(reader.done() || n == piece.size());
    consumed += n;
  }

  const Model m = reference(in);
  check(reader.done() == m.done);
  check(consumed == m.consumed);
  if (!m.done) return 0;
  check(reader.bare_cr_lf() == m.bare);
  check(reader.content_size() == m.content.size());
  check(reader.too_big() == (m.content.size() > max));
  const std::string_view stored = reader.content();
  check(stored.size() <= max);
  check(stored == std::string_view(m.content).substr(0, stored.size()));
  if (m.content.size() <= max) check(stored == m.content);
  const std::string taken = reader.take();
  check(taken.starts_with("Received: x\r\n"));
  return 0;
}
