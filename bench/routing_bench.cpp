// bench/routing_bench.cpp — issue 4 benchmark (c), SPEC §7: "Routing decision: under 2 µs per
// recipient with 1,000,000 recipients and 10,000 organizations loaded."
//
// Run (Release build):
//   cmake -S . -B build-rbench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAILFLOW_TESTS=OFF -DMAILFLOW_BENCH=ON
//   ninja -C build-rbench routing_bench
//   build-rbench/bench/routing_bench                       # all benchmarks
//   build-rbench/bench/routing_bench --benchmark_filter='BM_(CheckRecipient|Resolve|NextHop)'
//
// Environment knobs (defaults are the SPEC's figures):
//   ROUTING_BENCH_ORGS=10000  ROUTING_BENCH_PER_ORG=100      size of the in-memory snapshot
//   ROUTING_BENCH_LOAD_ORGS=1000  ROUTING_BENCH_LOAD_PER_ORG=100   size of the BM_LoadFile document
//   ROUTING_BENCH_FULL_LOAD=1   also run BM_LoadFileFull: config::load_file on a generated document
//                               of the full 10,000 × 100 size (slow, needs several GB; run it alone
//                               with --benchmark_filter=BM_LoadFileFull so its memory does not
//                               blur the VmHWM figure of the other benchmarks).
//
// The big snapshot is built directly in memory, the way the loader builds it (organizations,
// accepted domains, recipients, outbound connectors, and the three look-up indexes
// exact_domains / wildcard_domains / recipients — config/ has no public function that builds the
// indexes, so they are filled here exactly as organization.cpp and recipients.cpp do; each
// organization's cmt_connector is derived with config::find_cmt_connector as the loader does). It is built
// once, before the first benchmark; build time, heap held by the snapshot (mallinfo2), VmRSS growth
// and VmHWM (peak RSS) after the build are printed on stderr and reported as counters.
//
// Each decision benchmark picks its inputs from a pre-generated random array (generation and
// Address parsing are not timed); one iteration is one recipient, so the Time / CPU columns are the
// time per recipient; items_per_second = recipients per second and the "cpu_per_rcpt_s" counter is
// the CPU seconds per recipient (printed with an SI prefix: "412.3n" = 412 ns).
//
// Query mix of BM_CheckRecipient / BM_Resolve: 90 % existing recipients (random organization,
// random recipient, its primary or a proxy address; mailboxes, mail users, contacts, groups in the
// proportions of the directory), 5 % unknown local parts in an authoritative domain, 5 % domains
// that are not accepted anywhere. BM_NextHop: 4 outbound connectors per organization (exact,
// wildcard, use_mx_record wildcard, "*"), destinations spread over the four.
//
// Each decision benchmark runs twice: ".../queries:65536" (the SPEC figure: random recipients over
// the whole 1M directory, so nearly every look-up misses the CPU caches and TLB) and
// ".../queries:256" (a hot set that stays cached: the instruction cost alone).
// Diagnostics: BM_IndexLookupStd / BM_IndexLookupFlat / BM_IndexLookupInline (the recipients index
// alone: std::string keys in a std::unordered_map and in a boost::unordered_flat_map, and the index
// mailflow uses, keys inside the slots), BM_MemoryLatency (one dependent
// random load over 512 MB: the price of a cache + TLB miss on this machine), BM_AddressParse.
#include "config/config.hpp"
#include "config/snapshot.hpp"
#include "core/address.hpp"
#include "core/domain.hpp"
#include "core/envelope.hpp"
#include "routing/outbound.hpp"
#include "routing/attribution.hpp"
#include "routing/plan.hpp"
#include "routing/routing.hpp"

#include <benchmark/benchmark.h>
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <unordered_map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace mf;

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
}

// kB value of a "Name:   123 kB" line of /proc/self/status; 0 when absent.
long proc_status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}

Domain dom(const std::string& s) {
  auto d = Domain::parse(s);
  if (!d) {
    std::fprintf(stderr, "bad domain %s: %s\n", s.c_str(), d.error().message.c_str());
    std::abort();
  }
  return *d;
}

Address addr(const std::string& s) {
  auto a = Address::parse(s, true);
  if (!a) {
    std::fprintf(stderr, "bad address %s: %s\n", s.c_str(), a.error().message.c_str());
    std::abort();
  }
  return *a;
}

// The shape of one organization's directory, shared by the in-memory build and the YAML generator.
//   k in [0, per-6)      mailbox user<k>@org<i>.example, every 5th with proxy alias<k>@org<i>.example
//   k = per-6, per-5     mail_user  → target ext<k>@partner<i>.example
//   k = per-4, per-3     mail_contact → target contact<k>@elsewhere<i>.example (address outside ours)
//   k = per-2            group of user0..9
//   k = per-1            group of user10..19, the previous group (nesting) and an external address
enum class Kind { mailbox, mail_user, mail_contact, group_a, group_b };
Kind kind_of(std::size_t k, std::size_t per) {
  if (per < 10 || k + 6 < per) return Kind::mailbox;
  if (k + 6 == per || k + 5 == per) return Kind::mail_user;
  if (k + 4 == per || k + 3 == per) return Kind::mail_contact;
  if (k + 2 == per) return Kind::group_a;
  return Kind::group_b;
}
std::string org_domain(std::size_t i) { return "org" + std::to_string(i) + ".example"; }
std::string primary_address(std::size_t i, std::size_t k, std::size_t per) {
  const std::string d = org_domain(i);
  switch (kind_of(k, per)) {
    case Kind::mailbox:
      return "user" + std::to_string(k) + "@" + d;
    case Kind::mail_user:
      return "muser" + std::to_string(k) + "@" + d;
    case Kind::mail_contact:
      return "contact" + std::to_string(k) + "@elsewhere" + std::to_string(i) + ".example";
    case Kind::group_a:
    case Kind::group_b:
      return "group" + std::to_string(k) + "@" + d;
  }
  return {};
}
bool has_proxy(std::size_t k, std::size_t per) { return kind_of(k, per) == Kind::mailbox && k % 5 == 0; }
std::string proxy_address(std::size_t i, std::size_t k) { return "alias" + std::to_string(k) + "@" + org_domain(i); }

struct Big {
  config::Snapshot snap;
  std::size_t orgs = 0, per = 0;
  double build_seconds = 0;
  long rss_before_kb = 0, rss_after_kb = 0, hwm_after_kb = 0;
  double heap_mb = 0;  // malloc'ed bytes held by the snapshot (mallinfo2 difference)
};

// Walks every malloc arena (slow: never call it inside a timed region).
double heap_in_use_mb() {
  const auto mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

std::unique_ptr<Big> build(std::size_t orgs, std::size_t per) {
  auto big = std::make_unique<Big>();
  big->orgs = orgs;
  big->per = per;
  big->rss_before_kb = proc_status_kb("VmRSS");
  const double heap_before = heap_in_use_mb();
  const auto t0 = std::chrono::steady_clock::now();
  config::Snapshot& s = big->snap;
  s.source_path = "/in-memory/routing_bench.yaml";
  s.service.hostname = "mx.bench.example";
  s.organizations.reserve(orgs);
  s.exact_domains.reserve(orgs * 2);
  s.wildcard_domains.reserve(orgs);
  s.recipients.reserve(orgs * (per + per / 5 + 1));
  for (std::size_t i = 0; i < orgs; ++i) {
    config::Organization& o = s.organizations.emplace_back();
    o.name = "org" + std::to_string(i);
    const std::string d = org_domain(i);
    auto add_domain = [&](const std::string& name, bool wildcard, config::DomainType type) {
      config::AcceptedDomain ad;
      ad.domain = dom(name);
      ad.wildcard = wildcard;
      ad.type = type;
      const config::DomainRef ref{i, o.accepted_domains.size()};
      (wildcard ? s.wildcard_domains : s.exact_domains).emplace(ad.domain.str(), ref);
      o.accepted_domains.push_back(std::move(ad));
    };
    add_domain(d, false, config::DomainType::authoritative);
    add_domain("relay" + std::to_string(i) + ".example", false, config::DomainType::internal_relay);
    add_domain("sub" + std::to_string(i) + ".example", true, config::DomainType::authoritative);

    o.recipients.reserve(per);
    for (std::size_t k = 0; k < per; ++k) {
      config::Recipient r;
      r.address = addr(primary_address(i, k, per));
      switch (kind_of(k, per)) {
        case Kind::mailbox:
          r.type = config::RecipientType::mailbox;
          if (has_proxy(k, per)) r.proxy_addresses.push_back(addr(proxy_address(i, k)));
          break;
        case Kind::mail_user:
          r.type = config::RecipientType::mail_user;
          r.target_address = addr("ext" + std::to_string(k) + "@partner" + std::to_string(i) + ".example");
          break;
        case Kind::mail_contact:
          r.type = config::RecipientType::mail_contact;
          r.target_address = addr("contact" + std::to_string(k) + "@elsewhere" + std::to_string(i) + ".example");
          break;
        case Kind::group_a:
          r.type = config::RecipientType::group;
          for (std::size_t m = 0; m < 10; ++m) r.members.push_back(addr(primary_address(i, m, per)));
          break;
        case Kind::group_b:
          r.type = config::RecipientType::group;
          for (std::size_t m = 10; m < 20; ++m) r.members.push_back(addr(primary_address(i, m, per)));
          r.members.push_back(addr(primary_address(i, per - 2, per)));
          r.members.push_back(addr("someone@outside" + std::to_string(i) + ".example"));
          break;
      }
      const config::RecipientRef self{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(o.recipients.size())};
      s.recipients.emplace(r.address.key(), self);
      for (const auto& p : r.proxy_addresses) s.recipients.emplace(p.key(), self);
      o.recipients.push_back(std::move(r));
    }

    // Outbound connectors (R-OUT-2): exact, wildcard, MX wildcard, catch-all.
    auto connector = [&](std::string name, config::DomainPattern::Kind kind, const std::string& pattern,
                         std::vector<std::string> hosts, config::TlsSettings tls) {
      config::OutboundConnector c;
      c.name = std::move(name);
      config::DomainPattern p;
      p.kind = kind;
      if (kind != config::DomainPattern::Kind::any) p.domain = dom(pattern);
      c.recipient_domains.push_back(std::move(p));
      for (auto& h : hosts) c.smart_hosts.push_back(config::HostPort{std::move(h), 25, false});
      c.use_mx_record = c.smart_hosts.empty();
      c.tls_settings = tls;
      if (tls == config::TlsSettings::domain_validation) c.tls_domain = "*.partner" + std::to_string(i) + ".example";
      o.outbound_connectors.push_back(std::move(c));
    };
    const std::string n = std::to_string(i);
    connector("To Partner " + n, config::DomainPattern::Kind::exact, "partner" + n + ".example",
              {"smtp1.partner" + n + ".example", "smtp2.partner" + n + ".example"},
              config::TlsSettings::domain_validation);
    connector("To Partners", config::DomainPattern::Kind::wildcard, "partners.example", {"hub.partners.example"},
              config::TlsSettings::certificate_validation);
    connector("Via MX " + n, config::DomainPattern::Kind::wildcard, "mx" + n + ".example", {},
              config::TlsSettings::encryption_only);
    connector("Default", config::DomainPattern::Kind::any, "", {"relay.hub.example", "relay2.hub.example"},
              config::TlsSettings::opportunistic);
    o.cmt_connector = config::find_cmt_connector(o);  // as the loader derives it
  }
  big->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  big->rss_after_kb = proc_status_kb("VmRSS");
  big->heap_mb = heap_in_use_mb() - heap_before;
  big->hwm_after_kb = proc_status_kb("VmHWM");
  std::fprintf(stderr,
               "routing_bench: snapshot built in memory: %zu organizations, %zu recipients (%zu index keys, %zu "
               "exact + %zu wildcard domains) in %.2f s; heap %.1f MB; VmRSS %.1f -> %.1f MB, VmHWM %.1f MB\n",
               orgs, orgs * per, s.recipients.size(), s.exact_domains.size(), s.wildcard_domains.size(),
               big->build_seconds, big->heap_mb, big->rss_before_kb / 1024.0, big->rss_after_kb / 1024.0,
               big->hwm_after_kb / 1024.0);
  return big;
}

Big& big() {
  static std::unique_ptr<Big> b =
      build(env_size("ROUTING_BENCH_ORGS", 10000), env_size("ROUTING_BENCH_PER_ORG", 100));
  return *b;
}

constexpr std::size_t kQueries = 1 << 16;  // power of two: index with a mask
// The ".../queries:256" variants cycle over the first 256 queries only: their data stays in the CPU
// caches and TLB, so the difference to ".../queries:65536" is the cost of cache and TLB misses in
// the 1M-recipient snapshot (the realistic figure is the 65536 one: a real RCPT hits a cold entry).
constexpr std::size_t kHotQueries = 256;

// 90 % existing recipients, 5 % unknown in an authoritative domain, 5 % non-accepted domains.
const std::vector<Address>& recipient_queries() {
  static const std::vector<Address> q = [] {
    Big& b = big();
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::size_t> org(0, b.orgs - 1), rcpt(0, b.per - 1), pct(0, 99);
    std::vector<Address> out;
    out.reserve(kQueries);
    while (out.size() < kQueries) {
      const std::size_t i = org(rng), k = rcpt(rng), p = pct(rng);
      if (p < 90) {
        if (has_proxy(k, b.per) && (rng() & 1)) {
          out.push_back(addr(proxy_address(i, k)));
        } else {
          out.push_back(addr(primary_address(i, k, b.per)));
        }
      } else if (p < 95) {
        out.push_back(addr("nobody" + std::to_string(k) + "@" + org_domain(i)));
      } else {
        out.push_back(addr("someone@mail.host" + std::to_string(k) + ".notours" + std::to_string(i) + ".test"));
      }
    }
    return out;
  }();
  return q;
}

struct HopQuery {
  std::size_t org;
  Domain domain;
};
const std::vector<HopQuery>& hop_queries() {
  static const std::vector<HopQuery> q = [] {
    Big& b = big();
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::size_t> org(0, b.orgs - 1), pct(0, 3), other(0, 99999);
    std::vector<HopQuery> out;
    out.reserve(kQueries);
    while (out.size() < kQueries) {
      const std::size_t i = org(rng);
      const std::string n = std::to_string(i);
      switch (pct(rng)) {
        case 0:
          out.push_back({i, dom("partner" + n + ".example")});  // exact connector
          break;
        case 1:
          out.push_back({i, dom("eu.west.partners.example")});  // wildcard connector
          break;
        case 2:
          out.push_back({i, dom("mail.mx" + n + ".example")});  // use_mx_record connector
          break;
        default:
          out.push_back({i, dom("d" + std::to_string(other(rng)) + ".test")});  // "*" connector
          break;
      }
    }
    return out;
  }();
  return q;
}

void add_counters(benchmark::State& state) {
  Big& b = big();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  // Seconds (CPU time) per recipient, printed with an SI prefix ("412.3n" = 412 ns).
  state.counters["cpu_per_rcpt_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["VmHWM_after_load_MB"] = b.hwm_after_kb / 1024.0;
  state.counters["snapshot_heap_MB"] = b.heap_mb;
  state.counters["build_s"] = b.build_seconds;
  state.counters["VmHWM_now_MB"] = proc_status_kb("VmHWM") / 1024.0;
}

void BM_CheckRecipient(benchmark::State& state) {
  const config::Snapshot& snap = big().snap;
  const auto& q = recipient_queries();
  ConnectionFacts conn;
  conn.listener = "mx";
  conn.client_ip = "192.0.2.10";
  const Envelope empty_envelope;
  const std::size_t mask = static_cast<std::size_t>(state.range(0)) - 1;
  std::size_t i = 0, rejected = 0;
  for (auto _ : state) {
    auto r = routing::check_recipient(snap, conn, empty_envelope, q[i++ & mask]);
    rejected += r.has_value();
    benchmark::DoNotOptimize(r);
  }
  add_counters(state);
  state.counters["rejected_pct"] = 100.0 * static_cast<double>(rejected) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_CheckRecipient)->ArgName("queries")->Arg(kQueries)->Arg(kHotQueries);

void BM_Resolve(benchmark::State& state) {
  const config::Snapshot& snap = big().snap;
  const auto& q = recipient_queries();
  const std::size_t mask = static_cast<std::size_t>(state.range(0)) - 1;
  std::size_t i = 0, local = 0;
  for (auto _ : state) {
    auto r = routing::resolve(snap, q[i++ & mask]);
    local += r.kind == routing::Resolution::Kind::local;
    benchmark::DoNotOptimize(r);
  }
  add_counters(state);
  state.counters["local_pct"] = 100.0 * static_cast<double>(local) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Resolve)->ArgName("queries")->Arg(kQueries)->Arg(kHotQueries);

void BM_NextHop(benchmark::State& state) {
  const config::Snapshot& snap = big().snap;
  const auto& q = hop_queries();
  const std::size_t mask = static_cast<std::size_t>(state.range(0)) - 1;
  std::size_t i = 0;
  for (auto _ : state) {
    const HopQuery& h = q[i++ & mask];
    auto hop = routing::next_hop_for(snap, h.org, h.domain);
    benchmark::DoNotOptimize(hop);
  }
  add_counters(state);
}
BENCHMARK(BM_NextHop)->ArgName("queries")->Arg(kQueries)->Arg(kHotQueries);

// The whole routing decision of a one-recipient message, end to end, as the server makes it: the
// RCPT answer (attribution, relay control, directory-based edge blocking) and, when accepted, the
// message's routing plan (attribution, rules, resolution, connector choice, copies).
void BM_CheckAndPlan(benchmark::State& state) {
  const config::Snapshot& snap = big().snap;
  const auto& q = recipient_queries();
  ConnectionFacts conn;
  conn.listener = "mx";
  conn.client_ip = "192.0.2.10";
  Envelope env;
  env.sender = *Address::parse("someone@internet.example");
  const std::string data = "From: someone@internet.example\r\nSubject: hello\r\n\r\nbody\r\n";
  const std::size_t mask = static_cast<std::size_t>(state.range(0)) - 1;
  std::size_t i = 0;
  for (auto _ : state) {
    const Address& a = q[i++ & mask];
    env.recipients.clear();
    auto c = routing::check_recipient(snap, conn, env, a);
    benchmark::DoNotOptimize(c);
    if (c) continue;
    env.recipients.push_back(EnvelopeRecipient{a, notify_none, {}});
    routing::PlanInput in;
    in.envelope = &env;
    in.connection = &conn;
    in.data = data;
    in.explain = false;  // as the server plans
    auto plan = routing::plan_message(snap, in);
    benchmark::DoNotOptimize(plan);
  }
  add_counters(state);
}
BENCHMARK(BM_CheckAndPlan)->ArgName("queries")->Arg(kQueries)->Arg(kHotQueries);

// For comparison: the cost of parsing the RCPT address (done once per RCPT by smtp/, not by routing).
void BM_AddressParse(benchmark::State& state) {
  const auto& q = recipient_queries();
  std::vector<std::string> texts;
  texts.reserve(kQueries);
  for (const auto& a : q) texts.push_back(a.str());
  std::size_t i = 0;
  for (auto _ : state) {
    auto a = Address::parse(texts[i++ & (kQueries - 1)], true);
    benchmark::DoNotOptimize(a);
  }
  add_counters(state);
}
BENCHMARK(BM_AddressParse);

// --- Diagnostics: where the time of a cold decision goes -----------------------------------------

// The recipients index alone, three ways, over the same 1M-recipient snapshot: keys as std::string
// in a node-based std::unordered_map (bucket array -> node -> key text, each a dependent cache
// miss) and in an open-addressing boost::unordered_flat_map (group -> slot -> key text), both with
// Address::key() allocating the look-up key; and the index mailflow uses (config::RecipientIndex:
// the key inside the slot, looked up without allocating), via Snapshot::find_recipient.
template <typename Map>
void index_lookup(benchmark::State& state, const Map& map) {
  const auto& q = recipient_queries();
  std::size_t i = 0, hits = 0;
  for (auto _ : state) {
    auto it = map.find(q[i++ & (kQueries - 1)].key());
    hits += it != map.end();
    benchmark::DoNotOptimize(it);
  }
  add_counters(state);
  state.counters["hit_pct"] = 100.0 * static_cast<double>(hits) / static_cast<double>(state.iterations());
}

void BM_IndexLookupStd(benchmark::State& state) {
  static const auto map = [] {
    std::unordered_map<std::string, config::RecipientRef> m;
    big().snap.recipients.for_each([&](std::string_view k, const config::RecipientRef& v) { m.emplace(k, v); });
    return m;
  }();
  index_lookup(state, map);
}
BENCHMARK(BM_IndexLookupStd);

void BM_IndexLookupFlat(benchmark::State& state) {
  static const auto map = [] {
    boost::unordered_flat_map<std::string, config::RecipientRef> m;
    m.reserve(big().snap.recipients.size());
    big().snap.recipients.for_each([&](std::string_view k, const config::RecipientRef& v) { m.emplace(k, v); });
    return m;
  }();
  index_lookup(state, map);
}
BENCHMARK(BM_IndexLookupFlat);

void BM_IndexLookupInline(benchmark::State& state) {
  const config::Snapshot& snap = big().snap;
  const auto& q = recipient_queries();
  std::size_t i = 0, hits = 0;
  for (auto _ : state) {
    const config::Recipient* r = snap.find_recipient(q[i++ & (kQueries - 1)]);
    hits += r != nullptr;
    benchmark::DoNotOptimize(r);
  }
  add_counters(state);
  state.counters["hit_pct"] = 100.0 * static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_IndexLookupInline);

// Calibration: one dependent random load over a 512 MB array (a pointer chase), i.e. the price of
// one cache + TLB miss on this machine. A cold routing decision costs roughly this many of them.
void BM_MemoryLatency(benchmark::State& state) {
  static const std::vector<std::uint32_t> next = [] {
    const std::size_t n = (512u << 20) / 64;  // one entry per 64-byte line, 8 M lines
    std::vector<std::uint32_t> order(n);
    for (std::size_t k = 0; k < n; ++k) order[k] = static_cast<std::uint32_t>(k);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(3));
    std::vector<std::uint32_t> v(n * 16);
    for (std::size_t k = 0; k < n; ++k) v[order[k] * 16] = order[(k + 1) % n] * 16;
    return v;
  }();
  std::uint32_t at = 0;
  for (auto _ : state) {
    at = next[at];
    benchmark::DoNotOptimize(at);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_MemoryLatency);

// --- config::load_file -------------------------------------------------------------------------

// Writes a configuration document of `orgs` × `per` recipients (same shape as the in-memory one).
std::string write_yaml(std::size_t orgs, std::size_t per) {
  const auto dir = std::filesystem::temp_directory_path() / ("routing_bench." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / ("config-" + std::to_string(orgs) + "x" + std::to_string(per) + ".yaml");
  std::ofstream out(path);
  out << "service:\n  hostname: mx.bench.example\n  listeners:\n    - {name: mx, address: \"127.0.0.1:2525\"}\n"
         "  data_dir: ./var\norganizations:\n";
  for (std::size_t i = 0; i < orgs; ++i) {
    const std::string n = std::to_string(i);
    out << "  - name: org" << n << "\n    accepted_domains:\n"
        << "      - {domain: " << org_domain(i) << ", type: authoritative}\n"
        << "      - {domain: relay" << n << ".example, type: internal_relay}\n"
        << "      - {domain: \"*.sub" << n << ".example\", type: authoritative}\n"
        << "    recipients:\n";
    for (std::size_t k = 0; k < per; ++k) {
      out << "      - {type: ";
      switch (kind_of(k, per)) {
        case Kind::mailbox:
          out << "mailbox, address: " << primary_address(i, k, per);
          if (has_proxy(k, per)) out << ", proxy_addresses: [" << proxy_address(i, k) << "]";
          break;
        case Kind::mail_user:
          out << "mail_user, address: " << primary_address(i, k, per) << ", target_address: ext" << k << "@partner"
              << n << ".example";
          break;
        case Kind::mail_contact:
          out << "mail_contact, address: " << primary_address(i, k, per) << ", target_address: "
              << primary_address(i, k, per);
          break;
        case Kind::group_a:
        case Kind::group_b: {
          out << "group, address: " << primary_address(i, k, per) << ", members: [";
          const bool b = kind_of(k, per) == Kind::group_b;
          for (std::size_t m = b ? 10 : 0; m < (b ? 20u : 10u); ++m) out << (m % 10 ? ", " : "") << primary_address(i, m, per);
          if (b) out << ", " << primary_address(i, per - 2, per) << ", someone@outside" << n << ".example";
          out << "]";
          break;
        }
      }
      out << "}\n";
    }
    out << "    outbound_connectors:\n"
        << "      - {name: \"To Partner " << n << "\", recipient_domains: [partner" << n
        << ".example], smart_hosts: [\"smtp1.partner" << n << ".example:25\", \"smtp2.partner" << n
        << ".example:25\"], tls_settings: domain_validation, tls_domain: \"*.partner" << n << ".example\"}\n"
        << "      - {name: To Partners, recipient_domains: [\"*.partners.example\"], smart_hosts: "
           "[\"hub.partners.example:25\"], tls_settings: certificate_validation}\n"
        << "      - {name: \"Via MX " << n << "\", recipient_domains: [\"*.mx" << n
        << ".example\"], use_mx_record: true, tls_settings: encryption_only}\n"
        << "      - {name: Default, recipient_domains: [\"*\"], smart_hosts: [\"relay.hub.example:25\", "
           "\"relay2.hub.example:25\"]}\n";
  }
  return path.string();
}

void run_load(benchmark::State& state, std::size_t orgs, std::size_t per) {
  const std::string path = write_yaml(orgs, per);
  const auto bytes = std::filesystem::file_size(path);
  const double heap_before = heap_in_use_mb();
  double heap_loaded = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = config::load_file(path);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      state.SkipWithError(("load_file failed: " + r.errors.front().str()).c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
    state.PauseTiming();  // the snapshot is alive here: measure its heap, untimed
    heap_loaded = std::max(heap_loaded, heap_in_use_mb() - heap_before);
    state.ResumeTiming();
  }
  std::fprintf(stderr, "routing_bench: load_file %zu organizations x %zu recipients (%.1f MB of YAML): %.2f s per load, "
               "snapshot heap %.1f MB, VmHWM %.1f MB\n", orgs, per, static_cast<double>(bytes) / (1024.0 * 1024.0),
               seconds / static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations())), heap_loaded,
               proc_status_kb("VmHWM") / 1024.0);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * orgs * per));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["orgs"] = static_cast<double>(orgs);
  state.counters["recipients"] = static_cast<double>(orgs * per);
  state.counters["file_MB"] = static_cast<double>(bytes) / (1024.0 * 1024.0);
  state.counters["snapshot_heap_MB"] = heap_loaded;
  state.counters["VmHWM_now_MB"] = proc_status_kb("VmHWM") / 1024.0;
}

void BM_LoadFile(benchmark::State& state) {
  run_load(state, env_size("ROUTING_BENCH_LOAD_ORGS", 1000), env_size("ROUTING_BENCH_LOAD_PER_ORG", 100));
}
BENCHMARK(BM_LoadFile)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_LoadFileFull(benchmark::State& state) {
  run_load(state, env_size("ROUTING_BENCH_ORGS", 10000), env_size("ROUTING_BENCH_PER_ORG", 100));
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("ROUTING_BENCH_FULL_LOAD") != nullptr) {
    benchmark::RegisterBenchmark("BM_LoadFileFull", BM_LoadFileFull)->Unit(benchmark::kMillisecond)->Iterations(1);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
