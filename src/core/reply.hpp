// core/reply.hpp — an SMTP reply: basic code, RFC 3463 enhanced status code and text.
#pragma once

#include <string>
#include <string_view>

namespace mf {

struct Reply {
  int code = 0;          // 250, 451, 550 ...
  std::string enhanced;  // "2.0.0"; empty only for the 220 greeting / 221-less cases
  std::string text;      // may contain '\n' for a multi-line reply

  // Wire form, CRLF terminated, multi-line with "code-" continuation lines; each line carries the
  // enhanced code (RFC 2034 §3) when there is one.
  std::string wire() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // "250 2.0.0 text" on one line (for logs and NDR diagnostics).
  std::string one_line() const;
};

inline Reply make_reply(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text)};
}

}  // namespace mf
