// dns/rdata.cpp — bounds-checked RDATA parsers (see rdata.hpp).
#include "dns/rdata.hpp"

#include <algorithm>

namespace mf::dns {
namespace {

bool is_host_octet(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

char lower(std::uint8_t c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); }

}  // namespace

const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::nxdomain: return "nxdomain";
    case Status::nodata: return "nodata";
    case Status::null_mx: return "null_mx";
    case Status::temp_fail: return "temp_fail";
  }
  return "?";
}

Result<MxRecord> parse_mx_rdata(Rdata rdata) {
  if (rdata.size() < 3) return make_error("MX rdata truncated");
  MxRecord mx;
  mx.preference = static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]);
  std::size_t pos = 2;
  std::size_t wire_len = 0;
  for (;;) {
    if (pos >= rdata.size()) return make_error("MX name truncated");
    const std::uint8_t len = rdata[pos++];
    if (++wire_len > 255) return make_error("MX name longer than 255 octets");
    if (len == 0) break;
    if ((len & 0xC0) != 0) return make_error("MX name has a compression pointer or bad label type");
    if (len > rdata.size() - pos) return make_error("MX label truncated");
    wire_len += len;
    if (wire_len > 255) return make_error("MX name longer than 255 octets");
    if (!mx.host.empty()) mx.host += '.';
    for (std::size_t i = 0; i < len; ++i) {
      const std::uint8_t c = rdata[pos + i];
      if (!is_host_octet(c)) return make_error("MX name has an invalid octet");
      mx.host += lower(c);
    }
    pos += len;
  }
  if (pos != rdata.size()) return make_error("MX rdata has trailing octets");
  return mx;
}

Result<IpAddress> parse_a_rdata(Rdata rdata) {
  if (rdata.size() != 4) return make_error("A rdata is not 4 octets");
  IpAddress ip;
  std::copy(rdata.begin(), rdata.end(), ip.bytes.begin());
  return ip;
}

Result<IpAddress> parse_aaaa_rdata(Rdata rdata) {
  if (rdata.size() != 16) return make_error("AAAA rdata is not 16 octets");
  IpAddress ip;
  ip.v6 = true;
  std::copy(rdata.begin(), rdata.end(), ip.bytes.begin());
  return ip;
}

bool normalize_name(std::string& name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char& c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (++label > 63) return false;
    c = lower(static_cast<std::uint8_t>(c));
  }
  return label != 0;
}

}  // namespace mf::dns
