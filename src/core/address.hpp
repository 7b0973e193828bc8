// core/address.hpp — an RFC 5321 mailbox (local-part "@" domain).
//
// Parses the mailbox production only: no angle brackets, no source route, no parameters (those are
// smtp/'s job). The local part is kept as written (dot-string, or a quoted-string normalised to its
// minimal quoting); key() folds case for directory look-ups, as Exchange treats SMTP addresses
// case-insensitively. No I/O.
#pragma once

#include "core/domain.hpp"
#include "core/result.hpp"

#include <span>
#include <string>
#include <string_view>

namespace mf {

struct AddressLimits {
  std::size_t max_local = 64;    // RFC 5321 §4.5.3.1.1
  std::size_t max_domain = 255;  // §4.5.3.1.2
  std::size_t max_path = 256;    // §4.5.3.1.3 (includes the angle brackets)
};

class Address {
 public:
  Address() = default;

  // `allow_utf8`: non-ASCII octets are allowed in the local part and domain only when the
  // transaction declared SMTPUTF8 (RFC 6531); otherwise they are a syntax error. Invalid UTF-8 is
  // always rejected.
  static Result<Address> parse(std::string_view text, bool allow_utf8 = false,
                               const AddressLimits& limits = {});

  const std::string& local() const { return local_; }
  const Domain& domain() const { return domain_; }
  // "local@domain" as it goes on the wire (inside <>).
  std::string str() const;
  // Lower-cased "local@domain" for look-ups.
  std::string key() const;
  // The same key written into `buf` without allocating (the per-RCPT directory look-up); empty when
  // it does not fit, then use key(). A parsed address always fits kKeyBufferSize.
  static constexpr std::size_t kKeyBufferSize = 384;
  std::string_view key_into(std::span<char> buf) const;
  bool has_non_ascii() const;

  friend bool operator==(const Address&, const Address&) = default;

 private:
  std::string local_;
  Domain domain_;
};

bool is_valid_utf8(std::string_view s);

}  // namespace mf
