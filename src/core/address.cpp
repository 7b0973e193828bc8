#include "core/address.hpp"

#include <cstring>

namespace mf {

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; continue; }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

namespace {

// RFC 5321 atext (RFC 5322 §3.2.3).
bool is_atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

bool is_dot_string(std::string_view s, bool allow_utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (prev == '.') return false;
    } else if (c >= 0x80) {
      if (!allow_utf8) return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

// qtextSMTP (%d32-33 / %d35-91 / %d93-126) or quoted-pairSMTP (%d92 %d32-126).
Result<std::string> unquote(std::string_view q, bool allow_utf8) {
  std::string out;
  for (std::size_t i = 1; i + 1 < q.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(q[i]);
    if (c == '\\') {
      if (i + 2 >= q.size()) return make_error("dangling backslash in quoted local part");
      unsigned char n = static_cast<unsigned char>(q[++i]);
      if (n < 32 || n > 126) return make_error("invalid quoted-pair in local part");
      out.push_back(static_cast<char>(n));
    } else if (c == '"') {
      return make_error("unescaped quote in local part");
    } else if (c >= 0x80) {
      if (!allow_utf8) return make_error("8-bit character in local part");
      out.push_back(static_cast<char>(c));
    } else if (c < 32 || c == 127) {
      return make_error("control character in local part");
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Minimal quoting: a local part that is a valid dot-string is written bare, otherwise quoted with
// '\' before '"' and '\'.
std::string requote(std::string_view raw, bool allow_utf8) {
  if (is_dot_string(raw, allow_utf8)) return std::string(raw);
  std::string out = "\"";
  for (char c : raw) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

Result<Address> Address::parse(std::string_view text, bool allow_utf8, const AddressLimits& limits) {
  if (text.empty()) return make_error("empty address");
  if (text.size() + 2 > limits.max_path) return make_error("address longer than the path limit");
  if (!is_valid_utf8(text)) return make_error("invalid UTF-8 in address");

  std::string local;
  std::size_t at;
  if (text.front() == '"') {
    // Find the closing quote, honouring quoted-pairs.
    std::size_t i = 1;
    for (; i < text.size(); ++i) {
      if (text[i] == '\\') { ++i; continue; }
      if (text[i] == '"') break;
    }
    if (i >= text.size()) return make_error("unbalanced quote in local part");
    auto raw = unquote(text.substr(0, i + 1), allow_utf8);
    if (!raw) return raw.error();
    if (raw->empty()) return make_error("empty local part");
    local = requote(*raw, allow_utf8);
    at = i + 1;
    if (at >= text.size() || text[at] != '@') return make_error("missing '@' after quoted local part");
  } else {
    at = text.find('@');
    if (at == std::string_view::npos) return make_error("missing '@' in address");
    std::string_view lp = text.substr(0, at);
    if (!is_dot_string(lp, allow_utf8)) return make_error("invalid local part");
    local = std::string(lp);
  }
  if (local.size() > limits.max_local) return make_error("local part longer than 64 octets");
  std::string_view dom = text.substr(at + 1);
  if (dom.empty()) return make_error("missing domain");
  if (dom.find('@') != std::string_view::npos) return make_error("more than one '@' in address");
  if (dom.size() > limits.max_domain) return make_error("domain longer than 255 octets");
  if (!allow_utf8) {
    for (char c : dom) {
      if (static_cast<unsigned char>(c) >= 0x80) return make_error("8-bit domain without SMTPUTF8");
    }
  }
  auto d = Domain::parse(dom);
  if (!d) return d.error();
  Address a;
  a.local_ = std::move(local);
  a.domain_ = std::move(*d);
  return a;
}

std::string Address::str() const { return local_ + "@" + domain_.str(); }

std::string Address::key() const {
  std::string out(local_.size() + 1 + domain_.str().size(), '\0');
  key_into(out);
  return out;
}

std::string_view Address::key_into(std::span<char> buf) const {
  const std::string& domain = domain_.str();
  const std::size_t n = local_.size() + 1 + domain.size();
  if (n > buf.size()) return {};
  char* out = buf.data();
  for (char c : local_) *out++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  *out++ = '@';
  std::memcpy(out, domain.data(), domain.size());
  return {buf.data(), n};
}

bool Address::has_non_ascii() const {
  for (char c : local_) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

}  // namespace mf
