// core/domain.hpp — a mail domain, parsed once at the edge.
//
// Invariants: str() is canonical — lower case, A-label form (IDNs converted with libidn2), no
// trailing dot — or an address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" with a validated IP.
// Two Domains are equal iff their canonical forms are equal. No I/O.
#pragma once

#include "core/result.hpp"

#include <compare>
#include <string>
#include <string_view>

namespace mf {

class Domain {
 public:
  Domain() = default;

  // Accepts an LDH domain (U-labels allowed, converted to A-labels), or an address literal in
  // brackets. Rejects empty input, empty labels, labels over 63 octets, names over 255 octets,
  // characters outside LDH (underscore is tolerated), and a bare numeric "1.2.3.4" (RFC 5321 wants
  // it bracketed: Postfix's resolve_numeric_domain=no).
  static Result<Domain> parse(std::string_view text);

  const std::string& str() const { return canonical_; }
  bool empty() const { return canonical_.empty(); }
  bool is_literal() const { return !canonical_.empty() && canonical_.front() == '['; }

  // True when *this is a strict subdomain of `parent` ("a.b.example" of "b.example" or "example").
  bool is_subdomain_of(const Domain& parent) const;
  bool is_subdomain_of(std::string_view parent_canonical) const;
  // The immediate parent ("b.example" for "a.b.example"); empty for a single label or a literal.
  std::string_view parent() const;

  friend bool operator==(const Domain&, const Domain&) = default;
  friend auto operator<=>(const Domain&, const Domain&) = default;

 private:
  std::string canonical_;
};

// Lower-case ASCII in place (locale independent).
std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace mf
