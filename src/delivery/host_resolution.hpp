// delivery/host_resolution.hpp — where mail for one name goes (internal to delivery/): its MX
// records, ordered by routing::order_mx (R-OUT-7), else the name itself (implicit MX, RFC 5321
// §5.1), then each host's A/AAAA records. The one resolution core of the outbound engine
// (OutboundEngine::Impl::resolve_name) and of connector validation (probe.cpp resolve_name): each
// turns the same result into its own report (an "X.Y.Z|text" error, ProbeSteps).
//
// Invariants: the resolver is asked "MX name" first (only when via_mx), then "A host" for each host
// in the order they are to be tried, one after the other; a failed MX lookup (null MX, NXDOMAIN,
// temporary failure) looks up no host. Nothing is judged here: every answer is kept as DNS gave it.
//
// Threading: runs on the resolver's executor (dns::Resolver is not thread-safe); `resolver`, `name`
// and `rng` must outlive the awaitable. Errors: never exceptions; failures are statuses in the result.
#pragma once

#include "dns/resolver.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace mf::delivery {

// One host to connect to and what its A/AAAA lookup said.
struct ResolvedHost {
  std::string name;              // an MX host (as order_mx gives it), or the name itself
  std::uint16_t preference = 0;  // its lowest MX preference; 0 when it is not an MX host
  dns::AddressAnswer answer;     // status, addresses (IPv6 first), error text
};

struct NameResolution {
  bool via_mx = true;  // the MX records were looked up
  // The MX answer (ok when !via_mx): ok = `hosts` are the MX hosts in the order to try; nodata =
  // `hosts` is the name itself (implicit MX); null_mx / nxdomain / temp_fail = `hosts` is empty.
  dns::Status mx_status = dns::Status::ok;
  std::string mx_error;  // the resolver's text for a failed MX lookup
  std::vector<ResolvedHost> hosts;
};

// Resolves `name`: MX then A/AAAA of each host, or (via_mx false) A/AAAA of `name` only. `rng`
// breaks ties between MX records of equal preference (routing::order_mx).
boost::asio::awaitable<NameResolution> resolve_host_name(dns::Resolver& resolver, const std::string& name,
                                                         bool via_mx, std::mt19937& rng);

}  // namespace mf::delivery
