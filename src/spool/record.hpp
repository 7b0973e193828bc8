// spool/record.hpp — the key layout and the envelope record codec of the RocksDB spool.
//
// Grammar (see spool.hpp for the meaning of each record):
//   key    := "m/" id | "d/" id | "r/" id "/" index | "q/" id
//   id     := 1*64 ( ALPHA / DIGIT / "." / "_" / "-" )     ; never "/", so keys cannot collide
//   index  := 1*DIGIT                                       ; decimal recipient position
//   m/ value := JSON object, version 1:
//     {"v":1, "id":id, "received_at":int, "sender":mailbox|null,
//      "recipients":[{"address":mailbox, "notify":0..15, "orcpt":string}, ...],   ; at least one
//      "dsn":{"ret":string, "envid":string}, "body":"7BIT"|"8BITMIME"|"BINARYMIME",
//      "smtputf8":bool, "declared_size":uint|null,
//      "connection":{"listener", "client_ip", "client_port", "helo", "tls", "tls_version",
//                    "tls_cipher", "client_cert_verified", "client_cert_names":[...],
//                    "authenticated_user"},
//      "size":uint, "crc32c":uint32}
//   q/ value := JSON {"reason":string, "record":string} ; the raw m/ value ("" if there was none), or
//               {"reason":string, "record_hex":string}  ; when the raw value is not valid UTF-8
// Strings are JSON-escaped, so no attacker-controlled byte can forge a record boundary; bytes that
// are not valid UTF-8 (possible only in decoded xtext such as ENVID) are stored as U+FFFD.
// Pure functions, no I/O, thread-safe; decode never throws (errors come back as Result).
#pragma once

#include "core/result.hpp"
#include "spool/spool.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace mf::spool {

inline constexpr int kRecordVersion = 1;

bool is_valid_spool_id(std::string_view id);

std::string envelope_key(std::string_view id);
std::string data_key(std::string_view id);
std::string done_prefix(std::string_view id);  // "r/" id "/"
std::string done_key(std::string_view id, std::size_t index);
std::string quarantine_key(std::string_view id);

// Everything an "m/" record holds.
struct EnvelopeRecord {
  SpoolEntry entry;  // `done` is left empty: marks live in "r/" records
  std::uint32_t crc32c = 0;
};

std::string encode_envelope(const StoredMessage& msg, std::uint64_t size, std::uint32_t crc);
// Strict: unknown version, a missing or mistyped field, an invalid address, no recipients or an
// id that differs from `expected_id` are errors.
Result<EnvelopeRecord> decode_envelope(std::string_view json, std::string_view expected_id);

std::string encode_quarantine(std::string_view reason, std::string_view raw_record);

// A value for a log line: printable ASCII is kept, anything else (and '"', '\\') becomes \xNN, and
// the result is quoted — so a hostile key or address cannot forge a log line or field.
std::string log_quote(std::string_view value);

}  // namespace mf::spool
