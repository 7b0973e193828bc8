#include "core/domain.hpp"

#include "core/ip.hpp"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>

namespace mf {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {

bool is_let_dig(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

Result<std::string> parse_literal(std::string_view text) {
  // text includes the brackets.
  std::string_view inner = text.substr(1, text.size() - 2);
  if (inner.size() > 5 && iequals(inner.substr(0, 5), "IPv6:")) {
    auto ip = IpAddress::parse(inner.substr(5));
    if (!ip || !ip->v6) return make_error("invalid IPv6 address literal");
    return "[IPv6:" + ip->str() + "]";
  }
  auto ip = IpAddress::parse(inner);
  if (!ip || ip->v6) return make_error("invalid address literal");
  return "[" + ip->str() + "]";
}

}  // namespace

Result<Domain> Domain::parse(std::string_view text) {
  if (text.empty()) return make_error("empty domain");
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    auto lit = parse_literal(text);
    if (!lit) return lit.error();
    Domain d;
    d.canonical_ = std::move(*lit);
    return d;
  }
  if (text.back() == '.') text.remove_suffix(1);  // a trailing root dot is dropped
  if (text.empty()) return make_error("empty domain");

  std::string ascii;
  bool non_ascii = std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  if (non_ascii) {
    char* out = nullptr;
    std::string input(text);
    int rc = idn2_to_ascii_8z(input.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) return make_error(std::string("invalid internationalized domain: ") + idn2_strerror(rc));
    ascii = out;
    idn2_free(out);
  } else {
    ascii = std::string(text);
  }
  ascii = ascii_lower(ascii);
  if (ascii.size() > 255) return make_error("domain longer than 255 octets");

  bool all_numeric = true;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = ascii.find('.', start);
    std::string_view label = std::string_view(ascii).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return make_error("empty label in domain");
    if (label.size() > 63) return make_error("domain label longer than 63 octets");
    if (!is_let_dig(label.front()) && label.front() != '_') return make_error("domain label must start with a letter or digit");
    if (label.back() == '-') return make_error("domain label must not end with '-'");
    for (char c : label) {
      if (!is_let_dig(c) && c != '-' && c != '_') return make_error("invalid character in domain");
      if (!(c >= '0' && c <= '9')) all_numeric = false;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (all_numeric) return make_error("numeric domain must be an address literal in brackets");
  Domain d;
  d.canonical_ = std::move(ascii);
  return d;
}

bool Domain::is_subdomain_of(std::string_view parent) const {
  if (is_literal() || parent.empty()) return false;
  if (canonical_.size() <= parent.size() + 1) return false;
  std::string_view tail = std::string_view(canonical_).substr(canonical_.size() - parent.size());
  return tail == parent && canonical_[canonical_.size() - parent.size() - 1] == '.';
}

bool Domain::is_subdomain_of(const Domain& parent) const { return is_subdomain_of(parent.str()); }

std::string_view Domain::parent() const {
  if (is_literal()) return {};
  auto dot = canonical_.find('.');
  if (dot == std::string::npos) return {};
  return std::string_view(canonical_).substr(dot + 1);
}

}  // namespace mf
