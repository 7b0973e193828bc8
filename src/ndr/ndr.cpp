// ndr/ndr.cpp — RFC 3464 non-delivery reports (see ndr.hpp for the contract).
//
// Layout of a report:
//   header fields (From, To, Subject, Date, Message-ID, MIME-Version, Auto-Submitted, Content-Type)
//   preamble
//   --B  text/plain; charset=utf-8         the human part
//   --B  message/delivery-status           per-message fields, blank line, per-recipient groups
//   --B  text/rfc822-headers | message/rfc822
//   --B--
// Everything that comes from outside (remote replies, addresses, the original Subject, host names)
// goes through a sanitiser before it reaches a field, and every field goes through fold().
#include "ndr/ndr.hpp"

#include "core/message_id.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string_view>

namespace mf::ndr {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kSoftLimit = 78;   // RFC 5322 §2.1.1 SHOULD
constexpr std::size_t kHardLimit = 998;  // RFC 5322 §2.1.1 MUST (excluding CRLF)

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// ---- sanitising ---------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid (overlongs,
// surrogates and code points above U+10FFFF are invalid). Sets *cp to the code point.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t* cp) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t v;
  if (b < 0x80) {
    *cp = b;
    return 1;
  } else if (b >= 0xC2 && b <= 0xDF) {
    n = 2, v = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3, v = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4, v = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    v = (v << 6) | (c & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return n;
}

// One line of field text: CR, LF (a CRLF pair counts once) and other controls become a space, so
// nothing can start a new header line; non-ASCII becomes '?' when `ascii_only`, and invalid UTF-8
// always does. Leading and trailing whitespace is trimmed.
std::string sanitize(std::string_view in, bool ascii_only) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
      out.push_back(' ');
      i += 2;
    } else if (c == '\t') {
      out.push_back('\t');
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out.push_back(' ');
      ++i;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else {
      std::uint32_t cp = 0;
      std::size_t n = utf8_sequence(in, i, &cp);
      if (n == 0 || ascii_only) {
        out.push_back('?');
        i += n == 0 ? 1 : n;
      } else {
        out.append(in.substr(i, n));
        i += n;
      }
    }
  }
  std::size_t b = 0, e = out.size();
  while (b < e && is_wsp(out[b])) ++b;
  while (e > b && is_wsp(out[e - 1])) --e;
  return out.substr(b, e - b);
}

// A host name or IP for "dns; host" and the Message-ID: printable ASCII without spaces or specials.
std::string sanitize_host(std::string_view in) {
  std::string out;
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7F && c != '<' && c != '>' && c != '(' && c != ')' && c != ';' &&
        c != ',' && c != '"' && c != '\\') {
      out.push_back(c);
    }
  }
  return out;
}

// RFC 6533 utf-8-addr-xtext: QCHARs as is, everything else as \x{HHHH} (upper-case hex, ≥ 2 digits).
std::string utf8_addr_xtext(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size();) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_sequence(in, i, &cp);
    if (n == 0) {
      cp = 0xFFFD;
      n = 1;
    }
    i += n;
    if (cp >= 0x21 && cp <= 0x7E && cp != '+' && cp != '=' && cp != '\\') {
      out.push_back(static_cast<char>(cp));
    } else {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\x{%02X}", static_cast<unsigned>(cp));
      out += buf;
    }
  }
  return out;
}

bool is_plain_ascii(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (!(c == '\t' || (u >= 0x20 && u < 0x7F))) return false;
  }
  return true;
}

bool has_8bit(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// "5.1.1": class 2, 4 or 5, then two 1–3 digit numbers (RFC 3463).
bool valid_status(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start || i - start > 3) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

// True for text that starts like an SMTP reply ("550 ...", "451-...").
bool looks_like_reply(std::string_view s) {
  return s.size() >= 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
         s[2] <= '9' && (s.size() == 3 || s[3] == ' ' || s[3] == '-');
}

// ---- lines and folding --------------------------------------------------------------------------

// Start of the UTF-8 character at or before `i` (so a hard break never splits one).
std::size_t char_boundary(std::string_view s, std::size_t i) {
  std::size_t j = i;
  while (j > 1 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  return j > 1 ? j : i;
}

// Appends `line` (no CR/LF in it) to `out` as one or more CRLF-terminated lines: folded before
// whitespace so lines stay ≤ 78 octets where the text allows, and hard-broken with CRLF + space
// (which adds one space on unfolding) only where a run of ≥ 998 octets has no whitespace. A break
// is never placed before the first non-space text of a line, so no line is whitespace only, and
// `keep` octets at the start (the "Name: " of a field) are never split off alone.
void fold(std::string& out, std::string line, std::size_t keep = 0) {
  std::size_t min_break = keep;
  while (line.size() > kSoftLimit) {
    std::size_t first_text = 0;
    while (first_text < line.size() && is_wsp(line[first_text])) ++first_text;
    std::size_t lo = std::max(first_text, min_break) + 1;
    std::size_t bp = std::string::npos;
    for (std::size_t i = std::min(kSoftLimit, line.size() - 1); i >= lo && i > 0; --i) {
      if (is_wsp(line[i])) {
        bp = i;
        break;
      }
    }
    if (bp == std::string::npos) {
      for (std::size_t i = std::max(lo, kSoftLimit + 1); i < line.size() && i <= kHardLimit; ++i) {
        if (is_wsp(line[i])) {
          bp = i;
          break;
        }
      }
    }
    if (bp == std::string::npos) {
      if (line.size() <= kHardLimit) break;
      bp = char_boundary(line, kHardLimit);
      out.append(line, 0, bp).append(kCrlf);
      line = " " + line.substr(bp);
    } else {
      out.append(line, 0, bp).append(kCrlf);
      line.erase(0, bp);
    }
    min_break = 0;
  }
  out.append(line).append(kCrlf);
}

void field(std::string& out, std::string_view name, std::string_view value) {
  std::string line;
  line.reserve(name.size() + 2 + value.size());
  line.append(name).append(": ").append(value);
  fold(out, std::move(line), name.size() + 1);
}

// Splits text on CRLF, LF or a lone CR. A final line ending does not produce an empty last line.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.push_back(text.substr(start, i - start));
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

// The original's header section: everything before the first empty line, or all of it.
std::string_view header_section(std::string_view msg) {
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t eol = msg.find('\n', pos);
    std::string_view line = msg.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.empty() || line == "\r") return msg.substr(0, pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return msg;
}

// The unfolded value of the first Subject field, or nullopt.
std::optional<std::string> find_subject(std::string_view headers) {
  auto lines = split_lines(headers);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (l.empty() || is_wsp(l[0])) continue;
    std::size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = l.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
    if (!iequals(name, "subject")) continue;
    std::string value(l.substr(colon + 1));
    for (std::size_t j = i + 1; j < lines.size() && !lines[j].empty() && is_wsp(lines[j][0]); ++j) {
      value.append(lines[j]);
    }
    return value;
  }
  return std::nullopt;
}

std::string subject_for(std::string_view headers) {
  auto subject = find_subject(headers);
  if (!subject) return "Delivery Status Notification (Failure)";
  if (!is_plain_ascii(*subject)) return "Undeliverable message";
  std::string s = sanitize(*subject, true);
  if (s.empty()) return "Delivery Status Notification (Failure)";
  return "Undeliverable: " + s;
}

// The original's header section as CRLF lines; over-long lines are folded, NULs replaced.
std::string attached_headers(std::string_view headers) {
  std::string out;
  for (std::string_view l : split_lines(headers)) {
    std::string line(l);
    for (char& c : line) {
      if (c == '\0') c = '?';
    }
    if (line.size() <= kHardLimit) {
      out.append(line).append(kCrlf);
    } else {
      fold(out, std::move(line));
    }
  }
  return out;
}

// The whole original as CRLF lines, if it can be attached as message/rfc822 unchanged: small
// enough, no NUL and no line over 998 octets (a binary or broken original gets headers only).
std::optional<std::string> attached_full(std::string_view original) {
  if (original.size() > kMaxFullOriginal) return std::nullopt;
  std::string out;
  out.reserve(original.size() + original.size() / 32);
  for (std::string_view l : split_lines(original)) {
    if (l.size() > kHardLimit || l.find('\0') != std::string_view::npos) return std::nullopt;
    out.append(l).append(kCrlf);
  }
  return out;
}

// ---- dates and identifiers ----------------------------------------------------------------------

std::string rfc5322_date(SysTime t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// ---- the parts ----------------------------------------------------------------------------------

std::string final_recipient(const Address& a) {
  if (a.has_non_ascii()) return "utf-8; " + utf8_addr_xtext(sanitize(a.str(), false));
  return "rfc822; " + sanitize(a.str(), true);
}

// ORCPT as given ("rfc822;user@example"); a missing type means rfc822, non-ASCII means utf-8.
std::string original_recipient(std::string_view orcpt) {
  std::string v = sanitize(orcpt, false);
  std::string type = "rfc822";
  std::size_t semi = v.find(';');
  if (semi != std::string::npos) {
    type = sanitize_host(v.substr(0, semi));
    v = sanitize(v.substr(semi + 1), false);
    if (type.empty()) type = "rfc822";
  }
  if (has_8bit(v)) return "utf-8;" + utf8_addr_xtext(v);
  return type + ";" + v;
}

// Human text: `text` word-wrapped at `width` (longer words are cut at 998 octets), the first line
// prefixed with `first`, the rest with `rest`. Spaces inside a line are kept as they are.
void wrap(std::string& out, std::string_view text, std::string_view first, std::string_view rest,
          std::size_t width = 76) {
  std::string line(first);
  bool has_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t sp = text.find(' ', i);
    std::string_view word = text.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
    i = sp == std::string_view::npos ? text.size() : sp + 1;
    if (has_word && line.size() + 1 + word.size() > width) {
      out.append(line).append(kCrlf);
      line.assign(rest);
      has_word = false;
    }
    if (has_word) line.push_back(' ');
    line.append(word);
    has_word = true;
    while (line.size() > kHardLimit) {
      std::size_t bp = char_boundary(line, kHardLimit);
      out.append(line, 0, bp).append(kCrlf);
      line = std::string(rest) + line.substr(bp);
    }
  }
  out.append(line).append(kCrlf);
}

std::string human_part(const Report& r, const std::string& host, bool full_attached) {
  std::string out;
  bool any_expired = false;
  for (const auto& f : r.recipients) any_expired = any_expired || f.expired;
  out.append("This is the mail system at host ").append(host).append(".").append(kCrlf).append(kCrlf);
  wrap(out,
       any_expired ? "Your message could not be delivered to one or more recipients: it expired before "
                     "delivery succeeded, or the receiving system rejected it. Details are below."
                   : "Your message could not be delivered to one or more recipients: the receiving system "
                     "rejected it, or it could not be routed. Details are below.",
       "", "");
  out.append(kCrlf);
  for (const auto& f : r.recipients) {
    out.append("<").append(sanitize(f.address.str(), false)).append(">").append(kCrlf);
    if (f.expired) {
      wrap(out, "Message expired: delivery was given up when the message reached its expiration time.",
           "    ", "    ");
    }
    std::string status = valid_status(f.status) ? f.status : std::string("5.0.0");
    out.append("    Status: ").append(status).append(kCrlf);
    std::string mta = sanitize_host(f.remote_mta);
    if (!mta.empty()) out.append("    Remote server: ").append(mta).append(kCrlf);
    std::string diag = sanitize(f.diagnostic, false);
    if (!diag.empty()) {
      // The diagnostic goes on its own line, verbatim (only cut if it exceeds the line limit).
      out.append(looks_like_reply(diag) ? "    Remote server said:" : "    Reason:").append(kCrlf);
      wrap(out, diag, "        ", "        ", kHardLimit);
    }
    if (f.last_attempt) out.append("    Last attempt: ").append(rfc5322_date(*f.last_attempt)).append(kCrlf);
    out.append(kCrlf);
  }
  out.append(full_attached ? "The original message is attached."
                           : "The header section of the original message is attached.")
      .append(kCrlf);
  return out;
}

std::string status_part(const Report& r, const std::string& host) {
  std::string out;
  field(out, "Reporting-MTA", "dns; " + host);
  std::string queue_id = sanitize_host(r.original_message_id);
  if (!queue_id.empty()) field(out, "X-Mailflow-Queue-ID", queue_id);
  std::string envid = sanitize(r.original_envid, true);
  if (!envid.empty()) field(out, "Original-Envelope-Id", envid);
  field(out, "Arrival-Date", rfc5322_date(r.arrival));
  for (const auto& f : r.recipients) {
    out.append(kCrlf);
    field(out, "Final-Recipient", final_recipient(f.address));
    if (!f.orcpt.empty()) field(out, "Original-Recipient", original_recipient(f.orcpt));
    field(out, "Action", "failed");
    field(out, "Status", valid_status(f.status) ? f.status : std::string("5.0.0"));
    std::string mta = sanitize_host(f.remote_mta);
    if (!mta.empty()) field(out, "Remote-MTA", "dns; " + mta);
    std::string diag = sanitize(f.diagnostic, true);
    if (!diag.empty()) field(out, "Diagnostic-Code", (looks_like_reply(diag) ? "smtp; " : "X-mailflow; ") + diag);
    if (f.last_attempt) field(out, "Last-Attempt-Date", rfc5322_date(*f.last_attempt));
  }
  return out;
}

struct Part {
  std::string content_type;
  std::string body;  // CRLF lines
};

std::string choose_boundary(const std::vector<Part>& parts, std::string_view headers_text) {
  std::uint64_t h = fnv1a(headers_text);
  for (const auto& p : parts) h = fnv1a(p.body, h);
  for (std::uint64_t n = 0;; ++n) {
    std::string b = "=_mailflow-ndr-" + hex64(h ^ (n * 0x9E3779B97F4A7C15ull));
    bool clash = headers_text.find(b) != std::string_view::npos;
    for (const auto& p : parts) clash = clash || p.body.find(b) != std::string::npos;
    if (!clash) return b;
  }
}

}  // namespace

std::string build(const Report& report) {
  std::string host = sanitize_host(report.reporting_mta);
  if (host.empty()) host = "localhost";
  std::string_view headers = header_section(report.original);

  std::optional<std::string> full;
  if (report.return_full) full = attached_full(report.original);

  std::vector<Part> parts;
  parts.push_back({"text/plain; charset=utf-8", human_part(report, host, full.has_value())});
  parts.push_back({"message/delivery-status", status_part(report, host)});
  if (full) {
    parts.push_back({"message/rfc822", std::move(*full)});
  } else {
    parts.push_back({"text/rfc822-headers", attached_headers(headers)});
  }

  std::string subject = subject_for(headers);
  bool eight_bit = false;
  for (const auto& p : parts) eight_bit = eight_bit || has_8bit(p.body);
  std::string boundary = choose_boundary(parts, subject);

  std::random_device rd;
  std::uint64_t rnd = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();

  std::string out;
  field(out, "From", "Mail Delivery System <" + sanitize(report.from, false) + ">");
  field(out, "To", "<" + sanitize(report.to.str(), false) + ">");
  field(out, "Subject", subject);
  field(out, "Date", rfc5322_date(report.now));
  field(out, "Message-ID", "<" + new_message_id() + "." + hex64(rnd) + "@" + host + ">");
  field(out, "MIME-Version", "1.0");
  field(out, "Auto-Submitted", "auto-replied");
  field(out, "Content-Type", "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  field(out, "Content-Transfer-Encoding", eight_bit ? "8bit" : "7bit");
  out.append(kCrlf).append("This is a MIME-encapsulated message.").append(kCrlf);
  for (const auto& p : parts) {
    out.append(kCrlf).append("--").append(boundary).append(kCrlf);
    out.append("Content-Type: ").append(p.content_type).append(kCrlf);
    if (p.content_type != "message/delivery-status") {
      out.append("Content-Transfer-Encoding: ").append(has_8bit(p.body) ? "8bit" : "7bit").append(kCrlf);
    }
    out.append(kCrlf).append(p.body);
  }
  out.append(kCrlf).append("--").append(boundary).append("--").append(kCrlf);
  return out;
}

std::string sender_for(const config::Snapshot& snapshot, std::optional<std::size_t> organization) {
  if (organization && *organization < snapshot.organizations.size()) {
    const auto& org = snapshot.organizations[*organization];
    if (!org.accepted_domains.empty() && !org.accepted_domains.front().domain.empty()) {
      return "postmaster@" + org.accepted_domains.front().domain.str();
    }
  }
  std::string host = sanitize_host(snapshot.service.hostname);
  return "MAILER-DAEMON@" + (host.empty() ? std::string("localhost") : host);
}

bool wants_ndr(const Envelope& env, const EnvelopeRecipient& rcpt) {
  if (!env.sender) return false;               // <>: an NDR to an NDR would loop
  if (rcpt.notify == notify_none) return true;  // RFC 3461 §4.1: default is FAILURE (and DELAY)
  if (rcpt.notify & notify_never) return false;
  return (rcpt.notify & notify_failure) != 0;
}

}  // namespace mf::ndr
