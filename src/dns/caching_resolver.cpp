// dns/caching_resolver.cpp — TTL cache and answer rules over a Transport (see caching_resolver.hpp).
#include "dns/caching_resolver.hpp"

#include "dns/rdata.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace mf::dns {
namespace {

namespace asio = boost::asio;

Rdata as_rdata(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

}  // namespace

MxAnswer make_mx_answer(const RawAnswer& raw) {
  MxAnswer out;
  out.status = raw.status;
  out.error = raw.error;
  if (raw.status != Status::ok) return out;
  std::string bad;
  for (const std::string& rd : raw.rdata) {
    auto mx = parse_mx_rdata(as_rdata(rd));
    if (!mx) {
      bad = mx.error().message;
      continue;
    }
    out.records.push_back(std::move(*mx));
  }
  // RFC 7505: a single MX "0 ." means the domain accepts no mail.
  if (out.records.size() == 1 && out.records[0].host.empty() && out.records[0].preference == 0) {
    out.records.clear();
    out.status = Status::null_mx;
    out.error = "null MX";
    return out;
  }
  // A root target among other records is a misconfiguration; drop it rather than connect to "".
  std::erase_if(out.records, [](const MxRecord& r) { return r.host.empty(); });
  if (out.records.empty()) {
    out.status = Status::temp_fail;  // the server sent MX records we cannot use; do not bounce on that
    out.error = bad.empty() ? "unusable MX records" : bad;
  }
  return out;
}

AddressAnswer make_address_answer(const RawAnswer& aaaa, const RawAnswer& a) {
  AddressAnswer out;
  std::string bad;
  auto take = [&](const RawAnswer& raw, auto parse) {
    if (raw.status != Status::ok) return;
    for (const std::string& rd : raw.rdata) {
      if (auto ip = parse(as_rdata(rd))) {
        out.addresses.push_back(*ip);
      } else {
        bad = ip.error().message;
      }
    }
  };
  take(aaaa, parse_aaaa_rdata);
  take(a, parse_a_rdata);
  if (!out.addresses.empty()) {
    out.status = Status::ok;
  } else if (aaaa.status == Status::temp_fail || a.status == Status::temp_fail) {
    out.status = Status::temp_fail;
    out.error = aaaa.status == Status::temp_fail ? aaaa.error : a.error;
  } else if (!bad.empty()) {
    out.status = Status::temp_fail;
    out.error = bad;
  } else if (aaaa.status == Status::nxdomain || a.status == Status::nxdomain) {
    out.status = Status::nxdomain;
    out.error = "NXDOMAIN";
  } else {
    out.status = Status::nodata;
    out.error = "no A or AAAA records";
  }
  return out;
}

CachingResolver::CachingResolver(std::unique_ptr<Transport> transport, const Clock& clock, std::size_t max_entries)
    : transport_(std::move(transport)), clock_(clock), max_entries_(std::max<std::size_t>(max_entries, 1)) {}

CachingResolver::~CachingResolver() {
  alive_.reset();      // coroutines resumed from now on must not touch *this
  transport_.reset();  // resumes every in-flight query with temp_fail "cancelled" (posted, not inline)
}

asio::awaitable<RawAnswer> CachingResolver::cached_query(std::string name, RrType type) {
  if (!normalize_name(name)) co_return RawAnswer{Status::nxdomain, {}, std::chrono::seconds{0}, "invalid name"};
  Key key{type, name};
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (clock_.now() < it->second.expires) co_return it->second.answer;
    cache_.erase(it);
  }
  std::weak_ptr<int> alive = alive_;
  Transport& transport = *transport_;
  RawAnswer answer = co_await transport.query(std::move(name), type);
  if (alive.expired()) {  // the resolver was destroyed while we waited
    co_return RawAnswer{Status::temp_fail, {}, std::chrono::seconds{0}, "cancelled"};
  }
  store(std::move(key), answer);
  co_return answer;
}

void CachingResolver::store(Key key, const RawAnswer& answer) {
  std::chrono::seconds ttl{0};
  switch (answer.status) {
    case Status::temp_fail: return;
    case Status::ok: ttl = answer.ttl; break;
    default:
      ttl = answer.ttl > std::chrono::seconds{0} ? std::min(answer.ttl, max_negative_ttl) : default_negative_ttl;
  }
  if (ttl <= std::chrono::seconds{0}) return;
  const SysTime now = clock_.now();
  if (cache_.size() >= max_entries_ && cache_.find(key) == cache_.end()) {
    std::erase_if(cache_, [&](const auto& kv) { return kv.second.expires <= now; });
    if (cache_.size() >= max_entries_) cache_.clear();
  }
  cache_[std::move(key)] = Entry{answer, now + ttl};
}

asio::awaitable<MxAnswer> CachingResolver::mx(std::string domain) {
  RawAnswer raw = co_await cached_query(std::move(domain), RrType::mx);
  co_return make_mx_answer(raw);
}

asio::awaitable<AddressAnswer> CachingResolver::addresses(std::string host) {
  using namespace asio::experimental::awaitable_operators;
  auto [aaaa, a] = co_await (cached_query(host, RrType::aaaa) && cached_query(host, RrType::a));
  co_return make_address_answer(aaaa, a);
}

}  // namespace mf::dns
