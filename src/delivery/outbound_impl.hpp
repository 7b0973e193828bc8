// delivery/outbound_impl.hpp — the outbound engine's private state (not part of the module's
// interface): shared by outbound.cpp (scheduling, connections, outcomes) and outbound_queue.cpp
// (queue control for the admin API). Everything here runs on Impl::executor (an implicit strand)
// unless a comment says otherwise.
#pragma once

#include "delivery/client_connection.hpp"
#include "delivery/outbound.hpp"
#include "metrics/service_metrics.hpp"
#include "queue/queue.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace mf::delivery {

namespace asio = boost::asio;

// Why no target list could be built: permanent (NXDOMAIN, null MX, own address) or temporary.
struct HostFailure {
  bool permanent = false;
  std::string status;  // enhanced code
  std::string text;
};

struct OutboundEngine::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor executor;
  spool::Spool& spool;
  Tracker& tracker;
  SnapshotSource snapshot;
  dns::Resolver& resolver;
  const Clock& clock;
  std::shared_ptr<asio::ssl::context> tls_client;
  Options options;
  trace::Sink& trace_sink;
  OutboundStats stats;
  metrics::ServiceMetrics* metrics = nullptr;

  // Engine state: touched only on `executor`.
  queue::WaitQueue waiting;
  queue::ReadyQueues ready;
  std::map<std::string, OutboundWork> work;     // job key (message id | hop key) → payload
  std::map<std::string, routing::NextHop> hops;  // hop key → next hop
  std::map<std::string, std::string> last_error;  // job key → last temporary error
  std::set<std::string> held_ids;                  // message ids on hold (admin)
  std::map<std::string, std::size_t> resolving;    // message id → its MX-routed copies awaiting the MX answer
  std::map<std::string, queue::Job> held_jobs;     // job key → job set aside while held
  routing::RoundRobin round_robin;
  std::mt19937 rng{std::random_device{}()};
  std::vector<IpAddress> local_addresses = interface_addresses();
  asio::steady_timer timer;
  bool stopping = false;
  // Connections with nothing to send, waiting up to options.idle_time for their hop's next job.
  struct IdleWaiter {
    asio::steady_timer timer;
    bool woken = false;  // cancelled because work arrived (not by stop() or the idle time)
  };
  std::map<std::string, std::vector<IdleWaiter*>> idle;  // hop key → waiting connections

  Impl(asio::any_io_executor ex, spool::Spool& s, Tracker& t, SnapshotSource snap, dns::Resolver& r,
       const Clock& c, std::shared_ptr<asio::ssl::context> tls, Options o, trace::Sink& trace)
      : executor(ex), spool(s), tracker(t), snapshot(std::move(snap)), resolver(r), clock(c),
        tls_client(std::move(tls)), options(o), trace_sink(trace), ready(10000, o.connections_per_hop), timer(ex) {}

  void add(OutboundWork w);
  asio::awaitable<void> add_by_mx_site(OutboundWork w);
  void add_keyed(OutboundWork w, const std::string& hop_key);
  void kick();
  void promote_due();
  // Wakes idle connections of hops that have ready jobs (one per job).
  void wake_idle();
  // Parks a connection of `hop_key` until a job arrives (true) or the idle time passes or the engine
  // stops (false).
  asio::awaitable<bool> wait_for_work(const std::string& hop_key);
  asio::awaitable<void> wake_loop();
  asio::awaitable<void> connection(std::string hop_key);
  asio::awaitable<std::variant<std::vector<Target>, HostFailure>> targets(const routing::NextHop& hop);
  asio::awaitable<void> resolve_name(const std::string& name, std::uint16_t port, bool via_mx,
                                     std::vector<Target>& out, std::string& error, bool& permanent);
  // `remote_host`: the last host that answered (for the trace's DEFER events), "" when none did.
  asio::awaitable<void> finish_job(queue::Job job, std::vector<RecipientOutcome> final_outcomes,
                                   std::vector<OutboundRecipient> remaining, std::string error,
                                   std::string remote_host = {});
  // `outcomes` plus, for each, the same outcome for the recipients sharing its delivery (w.aliases).
  static std::vector<RecipientOutcome> with_aliases(const OutboundWork& w, std::vector<RecipientOutcome> outcomes);
  // Queues `job` for its next attempt, or sets it aside when its message is on hold.
  void park(queue::Job job);
  std::vector<std::string> keys_of(const std::string& message_id) const;
  template <typename F>
  auto on_engine(F f) -> decltype(f());
  void trace_defer(const OutboundWork& w, const std::vector<OutboundRecipient>& remaining, const std::string& error,
                   const std::string& remote_host, std::size_t attempts);
};

}  // namespace mf::delivery
