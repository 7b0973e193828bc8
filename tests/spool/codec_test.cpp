// Tests for spool/crc32c.hpp and spool/record.hpp: checksum vectors, the envelope record round
// trip, and strict rejection of every malformed record (they end up in quarantine).
#include "spool/crc32c.hpp"
#include "spool/record.hpp"

#include "core/message_id.hpp"
#include "spool_test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>

namespace mf::spool {
namespace {

using namespace testing;
using nlohmann::json;

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

std::string ramp(int from, int step, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(from + step * i));
  return s;
}

TEST(Crc32cTest, KnownVectors) {
  struct Case {
    std::string input;
    std::uint32_t crc;
  };
  // The check value, and the iSCSI test vectors of RFC 3720 appendix B.4.
  const Case cases[] = {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xff'), 0x62A8AB43u},
      {ramp(0, 1, 32), 0x46DD794Eu},
      {ramp(31, -1, 32), 0x113FDB5Cu},
      {bytes({0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
              0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}),
       0xD9963A56u},
  };
  for (const auto& c : cases) EXPECT_EQ(crc32c(c.input), c.crc) << "input of " << c.input.size() << " octets";
}

// The CRC32-instruction path (used on this CPU when it has SSE 4.2) and the portable tables agree
// on every length and alignment.
TEST(Crc32cTest, HardwareAndPortableImplementationsAgree) {
  std::string data;
  for (int i = 0; i < 4099; ++i) data.push_back(static_cast<char>((i * 197 + 11) & 0xFF));
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1000u, 4090u}) {
      const std::string_view v = std::string_view(data).substr(start, len);
      EXPECT_EQ(crc32c_extend(0x12345678u, v), crc32c_extend_portable(0x12345678u, v)) << start << "+" << len;
      EXPECT_EQ(crc32c(v), crc32c_extend_portable(0, v)) << start << "+" << len;
    }
  }
  EXPECT_EQ(crc32c_extend_portable(0, "123456789"), 0xE3069283u);
}

TEST(Crc32cTest, ExtendingPieceByPieceEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  const std::uint32_t whole = crc32c(data);
  for (std::size_t cut = 0; cut <= data.size(); cut += 37) {
    std::string_view v(data);
    EXPECT_EQ(crc32c_extend(crc32c(v.substr(0, cut)), v.substr(cut)), whole) << "cut at " << cut;
  }
  // One flipped bit changes the checksum.
  data[500] ^= 0x10;
  EXPECT_NE(crc32c(data), whole);
}

TEST(RecordTest, KeysFollowTheSchema) {
  EXPECT_EQ(envelope_key("ABC"), "m/ABC");
  EXPECT_EQ(data_key("ABC"), "d/ABC");
  EXPECT_EQ(done_prefix("ABC"), "r/ABC/");
  EXPECT_EQ(done_key("ABC", 12), "r/ABC/12");
  EXPECT_EQ(quarantine_key("ABC"), "q/ABC");
  struct Case {
    std::string id;
    bool valid;
  };
  const Case ids[] = {{new_message_id(), true}, {"a.b_c-D9", true}, {"", false}, {"a/b", false},
                      {"..", true},  // harmless here: keys are not paths
                      {std::string(64, 'A'), true}, {std::string(65, 'A'), false}, {"a b", false},
                      {"a\nb", false}, {bytes({'a', 0}), false}, {"é", false}};
  for (const auto& c : ids) EXPECT_EQ(is_valid_spool_id(c.id), c.valid) << log_quote(c.id);
}

TEST(RecordTest, EnvelopeRoundTripsEveryField) {
  const StoredMessage msg = full_message("ROUNDTRIP", 4);
  const std::string text = encode_envelope(msg, msg.data.size(), crc32c(msg.data));
  auto decoded = decode_envelope(text, "ROUNDTRIP");
  ASSERT_TRUE(decoded) << decoded.error().message;
  expect_entry_matches(decoded->entry, msg);
  EXPECT_EQ(decoded->crc32c, crc32c(msg.data));
  EXPECT_TRUE(decoded->entry.done.empty());
  // The documented schema: version field and the named groups.
  json j = json::parse(text);
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["id"], "ROUNDTRIP");
  EXPECT_EQ(j["dsn"]["ret"], "HDRS");
  EXPECT_EQ(j["connection"]["client_port"], 54321);
  EXPECT_EQ(j["recipients"].size(), 4u);
}

TEST(RecordTest, HostileStringsCannotForgeRecordStructure) {  // security catalogue A16, A17
  StoredMessage msg = full_message("HOSTILE", 1);
  msg.connection.helo = "x\",\"v\":2,\"sender\":\"evil@example.com\"}\r\n\x00";
  msg.connection.helo.push_back('\0');
  msg.envelope.envid = "\"}]}";
  auto decoded = decode_envelope(encode_envelope(msg, 3, 7), "HOSTILE");
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->entry.connection.helo, msg.connection.helo);
  EXPECT_EQ(decoded->entry.envelope.envid, msg.envelope.envid);
  EXPECT_EQ(decoded->entry.envelope.sender->str(), "Alice.Smith@example.com");
}

TEST(RecordTest, InvalidUtf8IsReplacedNotThrown) {
  StoredMessage msg = full_message("BADUTF8", 1);
  msg.envelope.envid = bytes({'a', 0xFF, 'b'});
  auto decoded = decode_envelope(encode_envelope(msg, 0, 0), "BADUTF8");
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->entry.envelope.envid, "a\xEF\xBF\xBD" "b");  // U+FFFD
}

TEST(RecordTest, MalformedRecordsAreRejectedWithAReason) {
  const StoredMessage msg = full_message("BAD", 2);
  const json good = json::parse(encode_envelope(msg, 10, 20));
  ASSERT_TRUE(decode_envelope(good.dump(), "BAD"));
  struct Case {
    const char* name;
    std::function<void(json&)> mutate;
    const char* reason;
  };
  const Case cases[] = {
      {"unknown version", [](json& j) { j["v"] = 2; }, "unknown record version 2"},
      {"version as string", [](json& j) { j["v"] = "1"; }, "\"v\""},
      {"no version", [](json& j) { j.erase("v"); }, "missing field \"v\""},
      {"id mismatch", [](json& j) { j["id"] = "OTHER"; }, "does not match"},
      {"no recipients", [](json& j) { j["recipients"] = json::array(); }, "recipients"},
      {"recipient not object", [](json& j) { j["recipients"][0] = "bob@example.net"; }, "not an object"},
      {"bad recipient address", [](json& j) { j["recipients"][1]["address"] = "no-at-sign"; }, "invalid recipient"},
      {"bad sender address", [](json& j) { j["sender"] = "a@@b"; }, "invalid sender"},
      {"sender wrong type", [](json& j) { j["sender"] = 5; }, "sender"},
      {"notify out of range", [](json& j) { j["recipients"][0]["notify"] = 16; }, "notify"},
      {"negative size", [](json& j) { j["size"] = -1; }, "size"},
      {"crc too large", [](json& j) { j["crc32c"] = 0x100000000ull; }, "crc32c"},
      {"port too large", [](json& j) { j["connection"]["client_port"] = 70000; }, "client_port"},
      {"unknown body", [](json& j) { j["body"] = "9BIT"; }, "unknown body type"},
      {"dsn missing", [](json& j) { j.erase("dsn"); }, "dsn"},
      {"cert names wrong", [](json& j) { j["connection"]["client_cert_names"] = json::array({1}); }, "non-string"},
      {"received_at float", [](json& j) { j["received_at"] = 1.5; }, "received_at"},
      {"declared_size string", [](json& j) { j["declared_size"] = "5"; }, "declared_size"},
  };
  for (const auto& c : cases) {
    json j = good;
    c.mutate(j);
    auto r = decode_envelope(j.dump(), "BAD");
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find(c.reason), std::string::npos) << c.name << ": " << r.error().message;
  }
  const std::string raw = good.dump();
  const std::string texts[] = {"", "garbage", "[1,2,3]", "null", raw.substr(0, raw.size() / 2), bytes({0, 0xFF, '{'})};
  for (const auto& t : texts) EXPECT_FALSE(decode_envelope(t, "BAD")) << log_quote(t);
}

TEST(RecordTest, QuarantineRecordKeepsReasonAndRawBytes) {
  json text = json::parse(encode_quarantine("message data missing", "{\"v\":1}"));
  EXPECT_EQ(text["reason"], "message data missing");
  EXPECT_EQ(text["record"], "{\"v\":1}");
  json bin = json::parse(encode_quarantine("not JSON", bytes({0x00, 0xFF, 'A'})));
  EXPECT_EQ(bin["reason"], "not JSON");
  EXPECT_EQ(bin["record_hex"], "00ff41");
  EXPECT_FALSE(bin.contains("record"));
}

TEST(RecordTest, LogQuoteEscapesEverythingThatCouldForgeALogLine) {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {{"ABC", "\"ABC\""},
                        {"a b", "\"a b\""},
                        {"x\r\nevent=forged", "\"x\\x0d\\x0aevent=forged\""},
                        {"q\"\\", "\"q\\x22\\x5c\""},
                        {bytes({0, 0xFF}), "\"\\x00\\xff\""}};
  for (const auto& c : cases) EXPECT_EQ(log_quote(c.in), c.out);
}

}  // namespace
}  // namespace mf::spool
