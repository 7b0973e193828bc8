// dns/rdata.hpp — the only DNS wire parsing in mailflow: the RDATA of MX, A and AAAA records as
// libunbound hands it over (ub_result::data[i], ub_result::len[i]). Pure functions, no I/O.
//
// MX RDATA (RFC 1035 §3.3.9) = 2-octet preference (network order) + an UNCOMPRESSED wire-format name
// (libunbound decompresses). The name must end with the root label exactly at the end of the RDATA;
// compression pointers, labels > 63 octets, names > 255 octets, trailing bytes and label octets other
// than letters, digits, '-' and '_' are rejected. The root name "." gives host "" (null MX target).
#pragma once

#include "core/ip.hpp"
#include "core/result.hpp"
#include "dns/resolver.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace mf::dns {

using Rdata = std::span<const std::uint8_t>;

Result<MxRecord> parse_mx_rdata(Rdata rdata);    // host lower-case, no trailing dot, "" for the root
Result<IpAddress> parse_a_rdata(Rdata rdata);    // exactly 4 octets
Result<IpAddress> parse_aaaa_rdata(Rdata rdata); // exactly 16 octets (v4-mapped stays v6)

// Lower-cases `name` and strips one trailing dot; false if it is not a plausible DNS name in text
// form (empty, a label empty or > 63 octets, total > 253 characters).
bool normalize_name(std::string& name);

}  // namespace mf::dns
