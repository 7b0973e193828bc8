// routing/outbound.hpp — outbound delivery decisions: next hop, host order and TLS policy.
//
// Given the immutable Snapshot, decides where a remote recipient goes (an outbound connector's smart
// hosts or the recipient domain's MX — R-OUT-2), in which order the hosts are tried (R-OUT-4/5/7/8),
// what TLS a host requires and whether a finished STARTTLS attempt satisfies it (R-OUT-9), and the
// two loop checks of R-LOOP-1.
// Invariants: every function is a pure function of its arguments (randomness comes in as an
// std::mt19937&, there is no clock); names compared here are ASCII case-insensitive.
// Threads: everything may be called from any thread; RoundRobin is internally locked.
// Errors: none are returned — a decision is always produced (a TLS failure is a TlsVerdict).
// Never: no I/O, no DNS, no sockets, no Asio, no dependency on tls/ (certificate names come in as
// strings from the caller that did the handshake).
#pragma once

#include "config/snapshot.hpp"
#include "core/domain.hpp"
#include "core/ip.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mf::routing {

// Where a remote recipient goes: a connector's smart hosts, or MX of a domain.
struct NextHop {
  enum class Kind { smart_hosts, mx } kind = Kind::mx;
  std::string connector;                      // connector name ("" for plain MX delivery)
  std::size_t organization = 0;               // index of the organization whose connector it is (or of the message)
  std::vector<config::HostPort> smart_hosts;  // kind == smart_hosts (config order)
  std::string mx_domain;                      // kind == mx: the recipient domain (A-label)
  config::TlsSettings tls = config::TlsSettings::opportunistic;
  std::string tls_domain;
  // Stable queue key; destinations that share a key share a queue (and its connections):
  //   smart hosts:                   "connector:<org>/<name>"
  //   MX through a use_mx_record
  //   connector (its own TLS policy): "connector:<org>/<name>/mx:<domain>"
  //   plain MX delivery:              "mx:<domain>"
  std::string key() const;
};

// R-OUT-2: among the organization's enabled, not rule-scoped outbound connectors whose
// recipient_domains match `recipient_domain`, the most specific match wins (exact > *.parent, a
// longer parent being more specific > *); ties go to the name that sorts first case-insensitively,
// then to config order. A use_mx_record connector gives Kind::mx of the recipient domain with the
// connector's name and TLS settings. No match (or an organization index out of range): Kind::mx,
// opportunistic TLS.
// `exclude` (may be null) is left out of the choice (a CMT connector for mail that came from it).
NextHop next_hop_for(const config::Snapshot& snapshot, std::size_t organization, const Domain& recipient_domain,
                     const config::OutboundConnector* exclude = nullptr);
// The next hop through one given connector of organization `organization` (a rule's
// route_via_connector, or the CMT connector): its smart hosts, or MX of `recipient_domain` for a
// use_mx_record connector, with its TLS settings.
NextHop next_hop_via(std::size_t organization, const config::OutboundConnector& connector,
                     const Domain& recipient_domain);

// A concrete host to try, in order.
struct HostCandidate {
  std::string name;  // host name (lower case, no trailing dot) or IP text
  std::uint16_t port = 25;
  bool is_ip = false;
  std::uint16_t mx_preference = 0;  // 0 for smart hosts / implicit MX
};
// Smart hosts in try order → candidates; a port of 0 becomes `default_port` (service.remote_smtp_port).
std::vector<HostCandidate> smart_host_candidates(const std::vector<config::HostPort>& hosts,
                                                 std::uint16_t default_port);

// R-OUT-7/8: MX records sorted by preference (lowest first), records of equal preference shuffled
// with `rng` (a Fisher–Yates driven by rng() directly, so a seed gives the same order on every
// standard library). Names are lower-cased and lose a trailing dot; a name listed twice is kept at
// its lowest preference only. Returns host names in try order (empty input → empty: the caller
// falls back to the implicit A/AAAA record; null MX is the caller's check).
std::vector<std::string> order_mx(std::vector<std::pair<std::uint16_t, std::string>> records, std::mt19937& rng);

// R-OUT-4/5: round robin over a connector's smart hosts. Each call is one delivery attempt for
// `key`: its rotation starts at the host after the one the previous call for the same key started
// with (the first call starts at hosts[0]), followed by the others in turn (the R-OUT-5 failover
// order). Thread-safe; one shared counter per key. A changed host list (reload) just continues
// modulo its new size.
class RoundRobin {
 public:
  std::vector<config::HostPort> rotation(const std::string& key, const std::vector<config::HostPort>& hosts);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> next_;  // key → index of the next starting host
};

// R-OUT-9 TLS policy decisions.
struct TlsRequirement {
  bool starttls_required = false;
  bool verify_chain = false;
  bool verify_name = false;
  std::vector<std::string> acceptable_names;  // lower case; may hold "*.contoso.com"
};
// acceptable_names (only with domain_validation): tls_domain if set, else the smart host / MX host
// name. An IP literal host with no tls_domain gives no acceptable name, so the name check always
// fails (R-OUT-9 wants a name; configure tls_domain for IP smart hosts).
TlsRequirement tls_requirement(config::TlsSettings settings, const std::string& tls_domain, const std::string& host_name);

enum class TlsVerdict { proceed_plain, proceed_tls, fail_host };
struct TlsOutcome {
  TlsVerdict verdict = TlsVerdict::fail_host;
  // e.g. "STARTTLS not offered", "certificate name mismatch", "certificate not trusted",
  // "TLS handshake failed: <error>"; empty for a clean proceed_tls / proceed_plain.
  std::string reason;
  // proceed_plain after a failed handshake (opportunistic only): the connection is unusable, so the
  // caller closes it and connects to the same host again without STARTTLS.
  bool reconnect = false;
};
// Inputs: whether STARTTLS was offered, whether the handshake succeeded (and its error), chain_ok
// (verified against the CA set and in date), the peer certificate names (CN + DNS SANs, lower case).
// fail_host is a temporary failure of that host (R-OUT-5: try the next one), never a fallback to
// plain text when TLS is required.
TlsOutcome tls_decide(const TlsRequirement& req, bool starttls_offered, bool handshake_ok,
                      const std::string& handshake_error, bool chain_ok, const std::vector<std::string>& cert_names);

// True when some certificate name matches some acceptable name, ASCII case-insensitively, trailing
// dots ignored. A wildcard is a whole left-most label "*" followed by at least two labels, and stands
// for exactly one label, on either side: pattern "*.contoso.com" matches "mail.contoso.com" but not
// "a.b.contoso.com" nor "contoso.com"; cert name "*.contoso.com" matches host "mail.contoso.com";
// two identical wildcards match each other. Partial-label wildcards ("m*.contoso.com") match only
// themselves literally.
bool certificate_name_matches(const std::vector<std::string>& cert_names, const std::vector<std::string>& acceptable);

// R-LOOP-1, first half: a message with more than max_hop_count Received: headers is not relayed
// (NDR 5.4.14 Hop count exceeded - possible mail loop).
bool hop_count_exceeded(const config::Snapshot& snapshot, std::size_t received_headers);
// R-LOOP-1, second half: true when `ip`:`port` is one of this service's listeners (5.3.5 System
// incorrectly configured). A listener on 0.0.0.0 / :: covers every address in `local_addresses`
// (the host's interface addresses, supplied by the caller) and loopback.
bool is_own_listener(const config::Snapshot& snapshot, const IpAddress& ip, std::uint16_t port,
                     const std::vector<IpAddress>& local_addresses = {});

}  // namespace mf::routing
