// delivery/host_resolution.cpp — MX then A/AAAA of one name (see host_resolution.hpp).
#include "delivery/host_resolution.hpp"

#include "routing/outbound.hpp"

#include <map>
#include <utility>

namespace mf::delivery {

boost::asio::awaitable<NameResolution> resolve_host_name(dns::Resolver& resolver, const std::string& name,
                                                         bool via_mx, std::mt19937& rng) {
  NameResolution out;
  out.via_mx = via_mx;
  if (via_mx) {
    auto mx = co_await resolver.mx(name);
    out.mx_status = mx.status;
    switch (mx.status) {
      case dns::Status::ok: {
        std::vector<std::pair<std::uint16_t, std::string>> recs;
        std::map<std::string, std::uint16_t> pref;  // host as DNS gave it → its lowest preference
        for (const auto& r : mx.records) {
          recs.emplace_back(r.preference, r.host);
          auto it = pref.find(r.host);
          if (it == pref.end() || r.preference < it->second) pref[r.host] = r.preference;
        }
        for (auto& n : routing::order_mx(std::move(recs), rng)) {
          auto it = pref.find(n);
          const std::uint16_t p = it == pref.end() ? 0 : it->second;
          out.hosts.push_back(ResolvedHost{std::move(n), p, {}});
        }
        break;
      }
      case dns::Status::nodata:
        out.hosts.push_back(ResolvedHost{name, 0, {}});  // implicit MX (RFC 5321 §5.1)
        break;
      case dns::Status::null_mx:
      case dns::Status::nxdomain:
      case dns::Status::temp_fail:
        out.mx_error = std::move(mx.error);
        co_return out;
    }
  } else {
    out.hosts.push_back(ResolvedHost{name, 0, {}});
  }
  for (auto& h : out.hosts) {
    auto a = co_await resolver.addresses(h.name);
    h.answer = std::move(a);
  }
  co_return out;
}

}  // namespace mf::delivery
