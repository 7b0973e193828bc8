// smtp/received.hpp — the trace header mailflow prepends (RFC 5321 §4.4) and the hop count it checks.
//
// Format (folded lines start with a TAB; CRLF line ends):
//   Received: from <helo> ([<client_ip>])
//   	by <hostname> (mailflow) with <proto> id <ID>
//   	(version=<tls_version> cipher=<tls_cipher>)        only when TLS is active
//   	for <rcpt>; <date>                                 "for" only with exactly one recipient,
//                                                      otherwise "; <date>" ends the previous line
// <proto> is SMTP (HELO), ESMTP, ESMTPS (TLS), UTF8SMTP / UTF8SMTPS (SMTPUTF8 transaction; RFC 6531).
// <helo> is what sanitize_helo() kept. Nothing from the client reaches this header unchecked, so it
// cannot inject header lines. Pure functions; the time comes from the caller.
#pragma once

#include "core/envelope.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace mf::smtp {

// RFC 5322 date-time in UTC: "Tue, 02 Jan 2024 03:04:05 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point t);

// The EHLO/HELO argument as it may appear in replies and Received: printable ASCII without spaces,
// parentheses, ';', '\' or '"', at most 255 octets; anything else becomes "unknown" (catalogue A27).
std::string sanitize_helo(std::string_view helo);

// The "with" protocol keyword (RFC 3848, RFC 6531): ESMTP, then "S" for STARTTLS and "A" for SMTP
// AUTH (ESMTPS, ESMTPA, ESMTPSA; UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA); HELO gives SMTP.
std::string_view received_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8);

struct ReceivedFields {
  std::string_view hostname;
  std::string_view id;
  std::string_view proto;
  std::chrono::system_clock::time_point now;
};

std::string received_header(const ConnectionFacts& conn, const Envelope& env, const ReceivedFields& f);

// Number of "Received:" fields (case-insensitive name) in the header section of `content`, i.e.
// before the first empty line.
std::size_t count_received_headers(std::string_view content);

}  // namespace mf::smtp
