// auth/sasl.hpp — the pieces of SASL (RFC 4422) that SMTP AUTH PLAIN and LOGIN need (RFC 4954):
// strict base64 (RFC 4648 §4) and the PLAIN message (RFC 4616).
//
// Pure functions, no state, safe on any thread. Invalid input is reported as std::nullopt, never an
// exception. Strict means: only the standard alphabet, length a multiple of 4, '=' only as the final
// one or two characters, no whitespace, and the unused bits of the last group zero (the canonical
// encoding) — so one credential has exactly one encoding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mf::auth {

std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// RFC 4616 §2: message = [authzid] NUL authcid NUL passwd; each part at most 255 octets, authcid and
// passwd not empty, no NUL inside a part.
inline constexpr std::size_t kMaxPlainField = 255;

struct PlainCredentials {
  std::string authzid;   // empty: act as authcid
  std::string authcid;   // the user name (a mailbox address for mailflow)
  std::string password;
};

std::optional<PlainCredentials> parse_plain(std::string_view message);

// Overwrites the string's bytes before it is cleared (decoded passwords, LOGIN user names).
void wipe(std::string& s);

}  // namespace mf::auth
