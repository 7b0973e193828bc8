// dns/resolver.hpp — asynchronous DNS lookups for outbound delivery: MX, A and AAAA, with a TTL cache.
//
// What it does: answers "where does mail for <domain> go" (MX, RFC 5321 §5.1, RFC 7505 null MX) and
// "which addresses does <host> have" (AAAA + A). The real implementation drives libunbound from the
// caller's Asio executor (no thread of ours: ub_fd() is watched with a stream_descriptor); the fake
// for other modules' tests is tests/support/fake_resolver.hpp.
//
// Invariants: names are answered in lower case without the trailing dot; MX records are returned in
// the server's order (sorting by preference is the caller's job); a temp_fail answer is never cached;
// a cached answer is served only until the TTL of its RRset (min TTL) has passed on the injected Clock.
//
// Threads: NOT thread-safe. Use one resolver from one executor (or strand); every awaitable must be
// awaited by a coroutine running on that executor, and completions resume there.
//
// Errors: never exceptions; every failure is a Status in the answer plus a human `error` text
// ("SERVFAIL", "timed out", "NXDOMAIN", "cancelled"). temp_fail means "try again later" (timeout,
// SERVFAIL, REFUSED, network error); nxdomain/nodata/null_mx are authoritative negative answers.
// A syntactically invalid name (empty, label > 63 octets, ...) is answered nxdomain "invalid name".
//
// Destruction: destroying the resolver while queries are in flight is safe: each awaiting coroutine
// is resumed (later, through its executor) with temp_fail "cancelled". User code is never called
// inline from inside the resolver, so a resumed coroutine may destroy it.
#pragma once

#include "config/snapshot.hpp"
#include "core/clock.hpp"
#include "core/ip.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mf::dns {

enum class Status { ok, nxdomain, nodata, null_mx, temp_fail };  // temp_fail = timeout, SERVFAIL, network error

const char* to_string(Status s);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // lower-case, no trailing dot
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

struct MxAnswer {
  Status status = Status::temp_fail;
  std::vector<MxRecord> records;  // non-empty iff status == ok
  std::string error;              // human text ("SERVFAIL", "timed out", "NXDOMAIN"); empty when ok
};

struct AddressAnswer {
  Status status = Status::temp_fail;
  std::vector<IpAddress> addresses;  // non-empty iff status == ok
  std::string error;
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // MX records of `domain` (A-label form). null_mx when the only record is "0 ." (RFC 7505);
  // nodata when the name exists without MX (caller then uses the implicit A/AAAA, RFC 5321 §5.1).
  virtual boost::asio::awaitable<MxAnswer> mx(std::string domain) = 0;
  // A and AAAA of `host` (both queried concurrently); IPv6 addresses first, then IPv4, each in the
  // order the server gave. ok if either has records; nxdomain if the name does not exist; nodata if
  // it exists with neither; temp_fail if either query failed temporarily and the other had nothing.
  virtual boost::asio::awaitable<AddressAnswer> addresses(std::string host) = 0;
};

// libunbound-based resolver. servers empty → the system's /etc/resolv.conf; else forwards to the
// given "ip:port" servers (port 0 means 53); no DNSSEC validation; localhost servers allowed
// (do-not-query-localhost: no). Answers are cached, honouring the records' TTL (min TTL of the
// RRset), negative answers for min(SOA-ish TTL, 300 s) or 60 s if unknown; temp_fail is never cached.
// `clock` decides cache expiry (inject a FakeClock in tests); it must outlive the resolver. Each query
// has an overall timeout (`query_timeout`) after which it is temp_fail "timed out".
// libunbound keeps its default local zones: RFC 6761 special-use names (localhost., invalid.,
// onion., ...) are answered NXDOMAIN without asking the servers — except "test." when servers are
// configured (test harnesses serve *.test from loopback DNS, SPEC §9). libunbound does its network work in
// its own background thread (ub_ctx_async(ctx, 1)); results are picked up on `executor` only.
// If libunbound cannot be set up (bad server address, no resolv.conf), every query answers
// temp_fail with the reason.
std::unique_ptr<Resolver> make_unbound_resolver(boost::asio::any_io_executor executor,
                                                const config::DnsSettings& settings, const Clock& clock,
                                                std::chrono::milliseconds query_timeout = std::chrono::seconds{10});

}  // namespace mf::dns
