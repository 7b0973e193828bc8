// core/ip.hpp — IP addresses and CIDR ranges (v4 and v6) for connectors and rules. No I/O.
#pragma once

#include "core/result.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mf {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  static Result<IpAddress> parse(std::string_view text);  // "192.0.2.1", "2001:db8::1", v4-mapped v6 → v4
  std::string str() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress base;
  int prefix = 0;

  static Result<Cidr> parse(std::string_view text);  // "192.0.2.0/24", "2001:db8::/32", or a single IP
  bool contains(const IpAddress& ip) const;
  bool overlaps(const Cidr& other) const;
  std::string str() const;
};

}  // namespace mf
