#include "core/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace mf {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return make_error("invalid IP address");
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.bytes.data(), mapped, 12) == 0) {
      IpAddress v4;
      std::memcpy(v4.bytes.data(), ip.bytes.data() + 12, 4);
      return v4;
    }
    ip.v6 = true;
    return ip;
  }
  return make_error("invalid IP address '" + s + "'");
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return make_error("invalid CIDR '" + std::string(text) + "'");
  Cidr c;
  c.base = *ip;
  int max = ip->v6 ? 128 : 32;
  if (slash == std::string_view::npos) {
    c.prefix = max;
  } else {
    auto p = text.substr(slash + 1);
    int n = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (ec != std::errc{} || ptr != p.data() + p.size() || n < 0 || n > max)
      return make_error("invalid prefix length in '" + std::string(text) + "'");
    c.prefix = n;
  }
  // Clear host bits so that str() and comparisons are canonical.
  for (int bit = c.prefix; bit < max; ++bit) c.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.v6 != base.v6) return false;
  int full = prefix / 8;
  if (std::memcmp(ip.bytes.data(), base.bytes.data(), full) != 0) return false;
  int rem = prefix % 8;
  if (rem == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rem));
  return (ip.bytes[full] & mask) == (base.bytes[full] & mask);
}

bool Cidr::overlaps(const Cidr& other) const {
  if (base.v6 != other.base.v6) return false;
  return prefix <= other.prefix ? contains(other.base) : other.contains(base);
}

std::string Cidr::str() const { return base.str() + "/" + std::to_string(prefix); }

}  // namespace mf
