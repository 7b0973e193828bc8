// dns/caching_resolver.hpp — the part of the resolver that is not libunbound: the TTL cache, the
// MX / A+AAAA answer rules (null MX, nodata, v6-before-v4, temp_fail precedence) and lifetime safety.
// It sits on a Transport (one raw query → status + RDATA + TTL); unbound_resolver.cpp provides the
// real one, tests provide counting fakes. Internal to src/dns (the public API is resolver.hpp).
//
// Cache: key = (RR type, lower-case name). Positive answers live for the RRset TTL; negative ones
// (nxdomain, nodata) for min(ttl, 300 s), or 60 s when the transport gives no TTL; temp_fail is never
// stored. At most `max_entries` entries: when full, expired entries are dropped, then everything.
// Threads and destruction: as in resolver.hpp (one executor; in-flight awaits resume with temp_fail).
#pragma once

#include "core/clock.hpp"
#include "dns/resolver.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mf::dns {

enum class RrType : std::uint16_t { a = 1, mx = 15, aaaa = 28 };

// One raw answer. `rdata` non-empty iff status == ok. `ttl` is the RRset TTL for ok, the negative
// caching TTL for nxdomain/nodata (0 = unknown), ignored for temp_fail.
struct RawAnswer {
  Status status = Status::temp_fail;
  std::vector<std::string> rdata;
  std::chrono::seconds ttl{0};
  std::string error;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // `name` is normalized (lower case, no trailing dot). Never throws. If the transport is destroyed
  // while the query is in flight, the awaiting coroutine resumes with temp_fail "cancelled".
  virtual boost::asio::awaitable<RawAnswer> query(std::string name, RrType type) = 0;
};

inline constexpr std::chrono::seconds max_negative_ttl{300};
inline constexpr std::chrono::seconds default_negative_ttl{60};

class CachingResolver final : public Resolver {
 public:
  CachingResolver(std::unique_ptr<Transport> transport, const Clock& clock, std::size_t max_entries = 10000);
  ~CachingResolver() override;

  boost::asio::awaitable<MxAnswer> mx(std::string domain) override;
  boost::asio::awaitable<AddressAnswer> addresses(std::string host) override;

  std::size_t cache_size() const { return cache_.size(); }

 private:
  struct Entry {
    RawAnswer answer;
    SysTime expires;
  };
  using Key = std::pair<RrType, std::string>;

  boost::asio::awaitable<RawAnswer> cached_query(std::string name, RrType type);
  void store(Key key, const RawAnswer& answer);

  std::unique_ptr<Transport> transport_;
  const Clock& clock_;
  std::size_t max_entries_;
  std::map<Key, Entry> cache_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // expired ⇒ *this is gone; coroutines check it
};

// Pure answer rules, exposed for unit tests.
MxAnswer make_mx_answer(const RawAnswer& raw);
AddressAnswer make_address_answer(const RawAnswer& aaaa, const RawAnswer& a);

}  // namespace mf::dns
