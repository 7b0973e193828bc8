// delivery/outbound.cpp — the outbound engine (outbound.hpp): scheduling, connections to next hops,
// transactions and their outcomes. Queue control for the admin API is in outbound_queue.cpp; the
// shared private state in outbound_impl.hpp.
#include "delivery/outbound_impl.hpp"
#include "routing/edits.hpp"

#include "delivery/client_connection.hpp"
#include "delivery/host_resolution.hpp"
#include "metrics/service_metrics.hpp"

#include "queue/queue.hpp"
#include "smtp/client_session.hpp"
#include "tls/tls.hpp"
#include "util/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <ifaddrs.h>

#include <algorithm>
#include <netdb.h>
#include <sys/socket.h>

#include <map>
#include <random>
#include <set>

namespace mf::delivery {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using mf::log::kv;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string job_key(const std::string& id, const std::string& hop) { return id + "|" + hop; }

}  // namespace

void OutboundEngine::Impl::add(OutboundWork w) {
  if (w.hop.kind == routing::NextHop::Kind::mx) {
    // Destinations that share MX hosts share a queue (and its connections): key by the MX set.
    asio::co_spawn(executor, add_by_mx_site(std::move(w)), asio::detached);
    return;
  }
  const std::string key = w.hop.key();
  add_keyed(std::move(w), key);
}

asio::awaitable<void> OutboundEngine::Impl::add_by_mx_site(OutboundWork w) {
  auto self = shared_from_this();
  std::string key = w.hop.key();
  // Not in `work` until the answer is in: remove() must know the message is on its way.
  const std::string id = w.message_id;
  ++resolving[id];
  auto mx = co_await resolver.mx(w.hop.mx_domain);  // cached: the connection asks again for free
  if (auto r = resolving.find(id); r != resolving.end() && --r->second == 0) resolving.erase(r);
  if (mx.status == dns::Status::ok) {
    std::vector<std::string> hosts;
    for (const auto& r : mx.records) hosts.push_back(r.host);
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    std::string site = w.hop.connector.empty()
                           ? std::string()
                           : "connector:" + std::to_string(w.hop.organization) + "/" + w.hop.connector + "/";
    site += "mx-hosts:";
    for (std::size_t i = 0; i < hosts.size(); ++i) site += (i ? "," : "") + hosts[i];
    key = std::move(site);
  }
  if (stopping) co_return;
  add_keyed(std::move(w), key);
  kick();
}

void OutboundEngine::Impl::add_keyed(OutboundWork w, const std::string& hop_key) {
  const std::string key = job_key(w.variant.empty() ? w.message_id : w.message_id + "#" + w.variant, hop_key);
  hops[hop_key] = w.hop;
  queue::Job job;
  job.message_id = key;
  job.hop_key = hop_key;
  job.received_at = SysTime{std::chrono::seconds{w.received_at}};
  job.due = clock.now();
  auto it = work.find(key);
  if (it != work.end()) {
    // The same message and queue again (a repeated submit, or a second domain with the same MX
    // hosts): one transaction carries all of them.
    for (auto& r : w.recipients) it->second.recipients.push_back(std::move(r));
    for (auto& a : w.aliases) it->second.aliases.push_back(std::move(a));
    if (!it->second.data) it->second.data = std::move(w.data);
    return;
  }
  work.emplace(key, std::move(w));
  park(std::move(job));
}

void OutboundEngine::Impl::park(queue::Job job) {
  auto it = work.find(job.message_id);
  if (it != work.end() && held_ids.contains(it->second.message_id)) {
    std::string key = job.message_id;
    held_jobs.insert_or_assign(std::move(key), std::move(job));
    return;
  }
  waiting.push(std::move(job));
}


// Moves due jobs into the ready queues and opens connections for hops with work and a free slot.
void OutboundEngine::Impl::promote_due() {
  for (auto& job : waiting.pop_due(clock.now())) {
    if (!ready.push(job)) {  // that hop's ready queue is full: keep it waiting a little longer
      job.due = clock.now() + std::chrono::seconds(1);
      waiting.push(std::move(job));
    }
  }
  // Idle connections first: they hold their hop's connection slots, so a hop whose jobs they can
  // take is not eligible for a new connection below.
  wake_idle();
  while (auto hop = ready.start_connection()) {
    stats.connections++;
    asio::co_spawn(executor, connection(*hop), asio::detached);
  }
}

void OutboundEngine::Impl::wake_idle() {
  for (auto& [hop_key, waiters] : idle) {
    std::size_t jobs = ready.ready(hop_key);
    for (IdleWaiter* w : waiters) {
      if (jobs == 0) break;
      --jobs;
      if (w->woken) continue;  // already woken, not yet resumed: it takes one of the jobs
      w->woken = true;
      w->timer.cancel();
    }
  }
}

asio::awaitable<bool> OutboundEngine::Impl::wait_for_work(const std::string& hop_key) {
  IdleWaiter waiter{asio::steady_timer(executor), false};
  waiter.timer.expires_after(options.idle_time);
  idle[hop_key].push_back(&waiter);
  co_await waiter.timer.async_wait(use_tuple);
  if (auto it = idle.find(hop_key); it != idle.end()) {
    std::erase(it->second, &waiter);
    if (it->second.empty()) idle.erase(it);
  }
  co_return waiter.woken && !stopping;
}

void OutboundEngine::Impl::kick() {
  if (stopping) return;
  promote_due();
  timer.cancel();  // wake_loop re-arms for the new earliest due time
}

asio::awaitable<void> OutboundEngine::Impl::wake_loop() {
  auto self = shared_from_this();
  while (!stopping) {
    auto due = waiting.next_due();
    auto wait = std::chrono::steady_clock::duration(std::chrono::hours(1));
    if (due) {
      auto d = *due - clock.now();
      wait = d.count() < 0 ? std::chrono::steady_clock::duration::zero()
                           : std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
      // Never sleep past a second beyond due: the wall clock may be adjusted.
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(1)));
    }
    timer.expires_after(wait);
    co_await timer.async_wait(use_tuple);
    if (stopping) break;
    if (waiting.next_due() && *waiting.next_due() <= clock.now()) promote_due();
  }
}

asio::awaitable<void> OutboundEngine::Impl::resolve_name(const std::string& name, std::uint16_t port, bool via_mx,
                                                         std::vector<Target>& out, std::string& error,
                                                         bool& permanent) {
  auto r = co_await resolve_host_name(resolver, name, via_mx, rng);
  switch (r.mx_status) {
    case dns::Status::ok:
    case dns::Status::nodata:  // implicit MX (RFC 5321 §5.1): r.hosts is the name itself
      break;
    case dns::Status::null_mx:
      error = "5.1.10|" + name + " does not accept mail (null MX)";
      permanent = true;
      co_return;
    case dns::Status::nxdomain:
      error = "5.4.4|Unable to route: " + name + " does not exist (NXDOMAIN)";
      permanent = true;
      co_return;
    case dns::Status::temp_fail:
      error = "4.4.3|DNS lookup of MX " + name + " failed: " + r.mx_error;
      co_return;
  }
  for (const auto& h : r.hosts) {
    const std::string& n = h.name;
    const dns::AddressAnswer& a = h.answer;
    if (a.status == dns::Status::ok) {
      for (const auto& ip : a.addresses) out.push_back(Target{n, ip, port});
    } else if (error.empty() || error.starts_with("5")) {
      if (a.status == dns::Status::temp_fail) {
        error = "4.4.3|DNS lookup of " + n + " failed: " + a.error;
      } else if (r.hosts.size() == 1) {
        error = "5.4.4|Unable to route: no address for " + n + " (" + dns::to_string(a.status) + ")";
        permanent = !via_mx || n == name;
      } else {
        error = "4.4.3|no address for MX host " + n;
      }
    }
  }
  if (!out.empty()) permanent = false;
}

asio::awaitable<std::variant<std::vector<Target>, HostFailure>> OutboundEngine::Impl::targets(
    const routing::NextHop& hop) {
  auto snap = snapshot();
  const std::uint16_t default_port = snap->service.remote_smtp_port;
  std::vector<Target> out;
  std::string error;
  bool permanent = false;
  if (hop.kind == routing::NextHop::Kind::smart_hosts) {
    auto rotation = round_robin.rotation(hop.key(), hop.smart_hosts);
    for (const auto& c : routing::smart_host_candidates(rotation, default_port)) {
      if (c.is_ip) {
        auto ip = IpAddress::parse(c.name);
        if (ip) out.push_back(Target{c.name, *ip, c.port});
        continue;
      }
      std::string e;
      bool p = false;
      co_await resolve_name(c.name, c.port, /*via_mx=*/true, out, e, p);
      if (!e.empty()) error = e;  // smart host failures are temporary unless nothing resolves (below)
    }
    if (out.empty()) {
      // A smart host that cannot be resolved is a configuration problem on our side: keep trying.
      if (error.empty()) error = "4.4.3|no smart host address";
      if (error.starts_with("5")) error = "4" + error.substr(1);
      co_return HostFailure{false, error.substr(0, error.find('|')), error.substr(error.find('|') + 1)};
    }
  } else {
    co_await resolve_name(hop.mx_domain, default_port, /*via_mx=*/true, out, error, permanent);
    if (out.empty()) {
      if (error.empty()) error = "4.4.3|no address";
      co_return HostFailure{permanent, error.substr(0, error.find('|')), error.substr(error.find('|') + 1)};
    }
  }
  // R-LOOP-1: never connect to ourselves.
  std::vector<Target> kept;
  for (auto& t : out) {
    if (!routing::is_own_listener(*snap, t.ip, t.port, local_addresses)) kept.push_back(std::move(t));
  }
  if (kept.empty()) {
    co_return HostFailure{true, "5.3.5", "System incorrectly configured: the next hop " + out.front().label() +
                                              " is this server (mail loop)"};
  }
  co_return kept;
}


std::vector<RecipientOutcome> OutboundEngine::Impl::with_aliases(const OutboundWork& w,
                                                                 std::vector<RecipientOutcome> outcomes) {
  // Recipients sharing a delivery get the same outcome (routing::CopyRecipient::also).
  const std::size_t n = outcomes.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& a : w.aliases) {
      if (a.index != outcomes[i].index || !(a.address == outcomes[i].address)) continue;
      RecipientOutcome dup = outcomes[i];
      dup.index = a.also;
      outcomes.push_back(std::move(dup));
    }
  }
  return outcomes;
}

void OutboundEngine::Impl::trace_defer(const OutboundWork& w, const std::vector<OutboundRecipient>& remaining,
                                       const std::string& error, const std::string& remote_host, std::size_t attempts) {
  const std::string sender = w.envelope.sender ? w.envelope.sender->str() : std::string();
  const std::string next_hop = w.hop.key();
  const auto now = trace::unix_us(clock.now());
  for (const auto& r : remaining) {
    trace::Event e;
    e.time_us = now;
    e.type = trace::EventType::DEFER;
    e.message_id = w.message_id;
    e.copy_id = r.copy_id;
    e.internet_message_id = w.trace_info.internet_message_id;
    e.organization = w.trace_info.organization;
    e.sender = sender;
    e.recipient = r.index < w.envelope.recipients.size() ? w.envelope.recipients[r.index].address.str() : r.address.str();
    e.connector = w.hop.connector;
    e.next_hop = next_hop;
    e.remote_host = remote_host;
    e.reply = error;
    e.detail = "attempt " + std::to_string(attempts);
    if (!(r.address.str() == e.recipient)) e.detail += ", to " + r.address.str();
    trace_sink.record(std::move(e));
  }
}

asio::awaitable<void> OutboundEngine::Impl::finish_job(queue::Job job, std::vector<RecipientOutcome> final_outcomes,
                                                       std::vector<OutboundRecipient> remaining, std::string error,
                                                       std::string remote_host) {
  auto snap = snapshot();
  auto it = work.find(job.message_id);
  if (it == work.end()) co_return;
  OutboundWork& w = it->second;
  const auto& q = snap->service.queue;
  if (!remaining.empty() && queue::expired(q, job.received_at, clock.now())) {
    for (auto& r : remaining) {
      RecipientOutcome o;
      o.index = r.index;
      o.address = r.address;
      o.status = "4.4.7";
      o.diagnostic = "Message expired, " + (error.empty() ? std::string("not delivered") : error);
      o.expired = true;
      o.copy_id = r.copy_id;
      o.connector = w.hop.connector;
      o.next_hop = w.hop.key();
      o.remote_host = remote_host;
      final_outcomes.push_back(std::move(o));
    }
    remaining.clear();
  }
  for (auto& o : final_outcomes) (o.delivered ? stats.delivered : stats.failed)++;
  if (!final_outcomes.empty()) {
    const std::string id = w.message_id;
    bool ok = co_await tracker.record(id, with_aliases(w, final_outcomes));
    if (!ok) {
      // The outcome is not durable: deliver those recipients again later (repetition, never loss).
      for (auto& o : final_outcomes) remaining.push_back(OutboundRecipient{o.index, o.address, o.copy_id});
      if (error.empty()) error = "spool write failed";
    }
  }
  it = work.find(job.message_id);
  if (it == work.end()) co_return;
  // Recipients handed over for this message and hop while the attempt ran wait in the job's list
  // (connection() took the others out): they are tried at once, the leftovers on the schedule.
  auto& todo = it->second.recipients;
  const bool added_meanwhile = !todo.empty();
  if (remaining.empty() && !added_meanwhile) {
    work.erase(it);
    last_error.erase(job.message_id);
    co_return;
  }
  if (remaining.empty()) {
    // Straight back into the ready queue: the connection that just finished this job takes it next.
    job.due = clock.now();
    if (held_ids.contains(it->second.message_id) || !ready.push(job)) park(std::move(job));
    co_return;
  }
  trace_defer(it->second, remaining, error, remote_host, job.attempts + 1);
  todo.insert(todo.end(), remaining.begin(), remaining.end());
  it->second.data.reset();  // waiting messages do not pin their bodies in memory
  last_error[job.message_id] = error;
  stats.deferred++;
  if (metrics != nullptr) {
    metrics->messages_deferred_total.with({it->second.trace_info.organization, it->second.hop.connector}).inc();
  }
  job.attempts++;
  job.due = queue::next_attempt(q, job.received_at, job.attempts, clock.now());
  spdlog::info("event=defer {} {} attempts={} {}", kv("id", it->second.message_id), kv("hop", job.hop_key), job.attempts,
               kv("reason", error));
  park(std::move(job));
}

asio::awaitable<void> OutboundEngine::Impl::connection(std::string hop_key) {
  auto self = shared_from_this();
  auto snap = snapshot();
  const routing::NextHop hop = hops[hop_key];
  std::optional<std::variant<std::vector<Target>, HostFailure>> resolved;
  std::vector<Target> list;
  std::set<std::size_t> dead;  // targets that failed at connection level in this run
  std::unique_ptr<ClientConnection> conn;
  std::size_t conn_index = 0;
  bool reused = false;  // `conn` already carried a transaction

  // R-OUT-4: with several smart hosts every connection starts at the next one, so an idle
  // connection is not kept (it would send a trickle of mail to one host only).
  const bool cacheable = options.idle_time.count() > 0 &&
                         !(hop.kind == routing::NextHop::Kind::smart_hosts && hop.smart_hosts.size() > 1);

  while (!stopping) {
    auto job = ready.next_job(hop_key);
    if (!job) {
      // Connection cache: wait for the hop's next job on this connection instead of a new one.
      if (!cacheable || !conn || !conn->usable()) break;
      if (!co_await wait_for_work(hop_key)) break;
      if (snapshot() != snap) break;  // reloaded: the next connection uses the new configuration
      continue;
    }
    auto wit = work.find(job->message_id);
    if (wit == work.end()) continue;
    const std::string id = wit->second.message_id;
    // The copy's own next hop (a queue may carry several hops that share MX hosts), for the trace.
    const std::string trace_connector = wit->second.hop.connector;
    const std::string trace_hop = wit->second.hop.key();
    // Take this job's recipients out: any handed over while the attempt runs are kept apart.
    std::vector<OutboundRecipient> todo = std::move(wit->second.recipients);
    wit->second.recipients.clear();

    if (!resolved) {
      resolved = co_await targets(hop);
      if (auto* l = std::get_if<std::vector<Target>>(&*resolved)) list = *l;
    }
    if (auto* f = std::get_if<HostFailure>(&*resolved)) {
      std::vector<RecipientOutcome> outcomes;
      std::vector<OutboundRecipient> remaining;
      for (auto& r : todo) {
        if (f->permanent) {
          RecipientOutcome o;
          o.index = r.index;
          o.address = r.address;
          o.status = f->status;
          o.diagnostic = f->text;
          o.copy_id = r.copy_id;
          o.connector = trace_connector;
          o.next_hop = trace_hop;
          outcomes.push_back(std::move(o));
        } else {
          remaining.push_back(r);
        }
      }
      co_await finish_job(std::move(*job), std::move(outcomes), std::move(remaining), f->text);
      continue;
    }

    // The body: kept in memory from the receive until the first attempt, read from the spool after.
    std::shared_ptr<const std::string> data = std::move(wit->second.data);
    if (!data) {
      auto loaded = spool.load_data(id);
      if (!loaded) {
        co_await finish_job(std::move(*job), {}, std::move(todo), "spool read failed: " + loaded.error().message);
        continue;
      }
      if (wit->second.edits) {
        data = std::make_shared<const std::string>(routing::apply_header_edits(*loaded, *wit->second.edits));
      } else {
        data = std::make_shared<const std::string>(std::move(*loaded));
      }
    }
    const Envelope envelope = wit->second.envelope;
    std::vector<OutboundRecipient> remaining = std::move(todo);
    std::vector<RecipientOutcome> outcomes;
    std::string error;
    std::string last_host;  // "name[ip]:port" of the last host that got as far as a transaction
    bool retried_fresh = false;
    for (std::size_t k = 0; k < list.size() && !remaining.empty(); ++k) {
      const std::size_t ti = (conn_index + k) % list.size();
      if (dead.count(ti)) continue;
      const Target& t = list[ti];
      auto req = routing::tls_requirement(hop.tls, hop.tls_domain, t.name);
      if (!conn || !conn->usable() || ti != conn_index) {
        if (conn) co_await conn->quit();
        conn = std::make_unique<ClientConnection>(executor, tls_client, options.reply_timeout_cap);
        smtp::ClientOptions opts;
        opts.helo_name = snap->service.hostname;
        opts.tls = client_tls(req);
        std::string e;
        bool ok = co_await conn->open(t, snap->service.source_address, options.connect_timeout, opts, req, e);
        if (!ok && conn->tls_reconnect()) {
          // Opportunistic TLS whose handshake failed: the same host again in plain text.
          conn = std::make_unique<ClientConnection>(executor, tls_client, options.reply_timeout_cap);
          opts.tls = smtp::ClientOptions::Tls::never;
          e.clear();
          ok = co_await conn->open(t, snap->service.source_address, options.connect_timeout, opts, req, e);
        }
        if (!ok) {
          auto f = conn->failure();
          conn.reset();
          error = t.label() + ": " + e;
          spdlog::warn("event=host_failed {} {} {}", kv("id", id), kv("host", t.label()), kv("reason", e));
          // A refused greeting or EHLO (even 5xx: catalogue G02) is a fault of that host, not a
          // rejection of the message: the next host is tried, and the job waits when none is left.
          (void)f;
          dead.insert(ti);
          continue;
        }
        conn_index = ti;
        reused = false;
      }
      // The transaction: the message's envelope with only the remaining recipients.
      smtp::OutboundMessage msg;
      msg.shared_data = data;
      msg.envelope = envelope;
      std::vector<EnvelopeRecipient> rcpts;
      for (auto& r : remaining) {
        EnvelopeRecipient er;
        er.address = r.address;
        if (r.index < msg.envelope.recipients.size()) {
          er.notify = msg.envelope.recipients[r.index].notify;
          er.orcpt = msg.envelope.recipients[r.index].orcpt;
          if (er.orcpt.empty() && !(msg.envelope.recipients[r.index].address == r.address))
            er.orcpt = "rfc822;" + msg.envelope.recipients[r.index].address.str();
        }
        rcpts.push_back(std::move(er));
      }
      msg.envelope.recipients = std::move(rcpts);
      const bool was_reused = reused;
      last_host = t.label() + ":" + std::to_string(t.port);
      const std::string tls_text = conn->tls_description();
      co_await conn->send(std::move(msg));
      reused = true;
      const auto& results = conn->session().results();
      std::vector<OutboundRecipient> next;
      for (std::size_t i = 0; i < remaining.size(); ++i) {
        const smtp::RecipientResult res = i < results.size() ? results[i] : smtp::RecipientResult{};
        RecipientOutcome o;
        o.index = remaining[i].index;
        o.address = remaining[i].address;
        o.remote_mta = t.name;
        o.diagnostic = res.reply.one_line();
        o.status = res.reply.enhanced;
        o.copy_id = remaining[i].copy_id;
        o.connector = trace_connector;
        o.next_hop = trace_hop;
        o.remote_host = last_host;
        o.tls = tls_text;
        if (res.status == smtp::RcptStatus::delivered) {
          o.delivered = true;
          outcomes.push_back(std::move(o));
        } else if (res.status == smtp::RcptStatus::permanent) {
          outcomes.push_back(std::move(o));  // R-OUT-6: no other host
        } else {
          error = t.label() + " said: " + o.diagnostic + (res.phase.empty() ? "" : " (in reply to " + res.phase + ")");
          next.push_back(remaining[i]);
        }
      }
      const bool nothing_decided = next.size() == remaining.size();
      remaining = std::move(next);
      if (!conn->usable()) {
        conn.reset();
        if (was_reused && nothing_decided && !retried_fresh) {
          // A cached connection the peer had dropped (catalogue G17): the same host once more on a
          // fresh connection; nothing was decided, so no recipient is sent twice.
          retried_fresh = true;
          --k;
          continue;
        }
        dead.insert(ti);
      }
      // Recipients that failed temporarily go to the next host at once (R-OUT-5).
    }
    if (list.size() == dead.size() && !remaining.empty() && error.empty()) error = "all hosts failed";
    co_await finish_job(std::move(*job), std::move(outcomes), std::move(remaining), error, last_host);
  }
  if (conn) co_await conn->quit();
  ready.connection_closed(hop_key);
  kick();
}

OutboundEngine::OutboundEngine(asio::any_io_executor executor, spool::Spool& spool, Tracker& tracker,
                               SnapshotSource snapshot, dns::Resolver& resolver, const Clock& clock,
                               std::shared_ptr<asio::ssl::context> tls_client, Options options, trace::Sink& trace)
    : impl_(std::make_shared<Impl>(std::move(executor), spool, tracker, std::move(snapshot), resolver, clock,
                                   std::move(tls_client), options, trace)) {
  asio::co_spawn(impl_->executor, impl_->wake_loop(), asio::detached);
}

OutboundEngine::~OutboundEngine() { stop(); }

void OutboundEngine::enqueue(OutboundWork work) {
  asio::post(impl_->executor, [impl = impl_, w = std::move(work)]() mutable {
    if (impl->stopping) return;  // it stays in the spool and is recovered at the next start
    impl->add(std::move(w));
    impl->kick();
  });
}

void OutboundEngine::stop() {
  asio::post(impl_->executor, [impl = impl_] {
    impl->stopping = true;
    impl->timer.cancel();
    for (auto& [hop_key, waiters] : impl->idle) {
      for (auto* w : waiters) w->timer.cancel();  // idle connections say QUIT and close
    }
  });
}

const OutboundStats& OutboundEngine::stats() const { return impl_->stats; }

void OutboundEngine::set_metrics(metrics::ServiceMetrics* metrics) { impl_->metrics = metrics; }

}  // namespace mf::delivery
