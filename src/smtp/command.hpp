// smtp/command.hpp — the SMTP command tokenizer: line-level checks and verb + argument split.
//
// A command line ends at LF only; the session hands over the whole line including its terminator.
// check_line() classifies what must be rejected before the verb is even looked at (NUL, a bare CR
// anywhere or a line not ending in CRLF, invalid UTF-8): a bare CR never splits a line, so a
// malformed line is always exactly one command (security catalogue A05, A06). parse_command() never
// fails: an unknown verb is Verb::unknown. Pure functions, no allocation; the returned views point
// into the caller's line.
#pragma once

#include <optional>
#include <string_view>

namespace mf::smtp {

enum class Verb {
  ehlo, helo, mail, rcpt, data, rset, noop, quit, vrfy, expn, help, starttls, bdat, auth,
  http,         // GET, POST, HEAD, PUT, CONNECT, OPTIONS: cross-protocol traffic (catalogue A29)
  header_like,  // the first word ends with ':' ("Subject:", "Host:"): a desynchronised client
  unknown,
};

struct Command {
  Verb verb = Verb::unknown;
  std::string_view name;  // the first word as sent
  std::string_view arg;   // the rest after the first SP, leading and trailing SP/HTAB removed
};

enum class LineProblem {
  none,
  nul,         // a NUL octet anywhere in the line (catalogue A04)
  bare_cr_lf,  // not terminated by CRLF, or a CR elsewhere in the line (catalogue A05, A06)
  bad_utf8,    // not valid UTF-8 (catalogue A07)
};

// `line` includes its terminating LF (and the CR before it, if any).
LineProblem check_line(std::string_view line);

// `line` is the command without its CRLF.
Command parse_command(std::string_view line);

// AUTH arguments (RFC 4954 §4): mechanism [SP initial-response]. The initial response is returned as
// sent ("=" stands for an empty one). nullopt: no mechanism, or more than two words.
struct AuthArgs {
  std::string_view mechanism;
  std::optional<std::string_view> initial_response;
};
std::optional<AuthArgs> parse_auth(std::string_view arg);

// Removes leading and trailing SP / HTAB.
std::string_view trim(std::string_view s);

}  // namespace mf::smtp
