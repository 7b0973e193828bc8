// smtp/path.hpp — MAIL FROM / RCPT TO argument parsing: the <path>, the ESMTP parameters and RFC 3461
// xtext.
//
// What is accepted (RFC 5321 §4.1.2, 1870, 3461, 6152, 6531):
//  - "FROM:" / "TO:" (case-insensitive), optional spaces, then "<path>" and SP-separated parameters;
//  - the null path "<>" for MAIL only; "<Postmaster>" for RCPT (completed with the server's domain);
//  - a source route "<@a,@b:user@dom>" is checked for syntax and ignored (judged as user@dom);
//  - the mailbox is parsed by mf::Address::parse, with non-ASCII only when SMTPUTF8 was given;
//  - MAIL: SIZE=digits, BODY=7BIT|8BITMIME|BINARYMIME, SMTPUTF8, RET=FULL|HDRS, ENVID=xtext,
//    AUTH=<...> (checked as xtext, then ignored); RCPT: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY,
//    ORCPT=addr-type;xtext.
// Every rejection comes back as the exact SMTP reply (501 5.1.7 / 501 5.1.3 for the path, 553 5.6.7
// for an undeclared Unicode address, 501 5.5.4 for parameter syntax, 555 5.5.4 for an unknown
// parameter). Decoded xtext never contains CR, LF, NUL or other control characters, so nothing from
// a parameter can inject lines into a queue file or a header (catalogue A16, A17). Parsing is bounded:
// at most kMaxParams parameters. Pure functions, no I/O.
#pragma once

#include "core/envelope.hpp"
#include "core/result.hpp"
#include "smtp/reply_or.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf::smtp {

inline constexpr std::size_t kMaxParams = 16;
inline constexpr std::size_t kMaxEnvidLength = 100;  // RFC 3461 §4.4 (encoded form)
inline constexpr std::size_t kMaxOrcptLength = 500;  // RFC 3461 §4.2 (encoded form)

// RFC 3461 §4 xtext: "+HH" hex escapes, otherwise "!".."~" except '+' and '='. The decoded text must
// be valid UTF-8 with no control characters (< 0x20, 0x7F).
Result<std::string> decode_xtext(std::string_view text);

// RFC 1870 SIZE value: 1 to 20 digits, rejected (not wrapped) above 2^64-1.
Result<std::uint64_t> parse_size_value(std::string_view text);

// RFC 3461 NOTIFY value: "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY.
Result<unsigned> parse_notify(std::string_view text);

struct EsmtpParam {
  std::string_view keyword;
  std::string_view value;  // empty when !has_value
  bool has_value = false;
};

// Splits "KEY=value KEY2 ..." (SP separated, extra spaces tolerated). 501 5.5.4 for a malformed
// keyword or value, or more than kMaxParams parameters.
ReplyOr<std::vector<EsmtpParam>> split_params(std::string_view text);

struct PathSplit {
  std::string_view path;    // between the angle brackets
  std::string_view params;  // after the closing bracket and its separating space(s)
};

// `text` starts at '<'. The closing '>' is the first one outside a quoted string; after it there must
// be the end of the text or a space. nullopt when malformed.
std::optional<PathSplit> split_path(std::string_view text);

// "@a,@b:user@dom" → "user@dom"; a path not starting with '@' is returned unchanged. Each route
// domain must parse.
Result<std::string_view> strip_source_route(std::string_view path);

// The argument of MAIL (after the verb): an Envelope with sender and MAIL parameters set, no
// recipients.
ReplyOr<Envelope> parse_mail(std::string_view arg);

// The argument of RCPT. `smtputf8` is whether the transaction declared SMTPUTF8; `postmaster_domain`
// completes a bare "<Postmaster>".
ReplyOr<EnvelopeRecipient> parse_rcpt(std::string_view arg, bool smtputf8, std::string_view postmaster_domain);

}  // namespace mf::smtp
