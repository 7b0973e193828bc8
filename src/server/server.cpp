#include "server/server.hpp"

#include "config/config.hpp"
#include "delivery/local_agent.hpp"
#include "delivery/outbound.hpp"
#include "delivery/tracker.hpp"
#include "dns/resolver.hpp"
#include "admin/server.hpp"
#include "admin/token.hpp"
#include "metrics/service_metrics.hpp"
#include "server/admin_backend.hpp"
#include "server/connection.hpp"
#include "server/held.hpp"
#include "server/policy.hpp"
#include "tls/tls.hpp"
#include "trace/store.hpp"
#include "util/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <thread>
#include <filesystem>
#include <set>
#include <unordered_map>

namespace mf::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using mf::log::kv;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Server::Impl {
  asio::io_context io{1};
  std::atomic<std::shared_ptr<const config::Snapshot>> snapshot;
  std::unique_ptr<spool::Spool> spool;
  std::unique_ptr<trace::Store> trace;  // message trace (SPEC §6); closed after delivery stopped
  metrics::Registry registry;
  metrics::ServiceMetrics metrics{registry};
  std::unique_ptr<HeldMessages> held;           // `mailflow queue hold` markers
  std::unique_ptr<ServiceBackend> backend;      // what the admin API sees
  std::unique_ptr<ServicePolicy> policy;
  // AUTH password checks (slow hashes by design) off the io thread; declared after `policy`, so it is
  // joined before the policy its tasks use is destroyed.
  std::unique_ptr<asio::thread_pool> auth_pool;
  std::unique_ptr<asio::thread_pool> delivery_pool;
  // Outbound delivery: its own single-threaded io_context (the engine's and resolver's strand).
  asio::io_context outbound_io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> outbound_work;
  std::thread outbound_thread;
  std::unique_ptr<delivery::Tracker> tracker;
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<delivery::OutboundEngine> outbound;
  std::unique_ptr<delivery::LocalDeliveryAgent> agent;
  ConnectionContext conn_ctx;
  std::vector<std::pair<config::Listener, std::unique_ptr<tcp::acceptor>>> acceptors;
  // Connection registry and counters: touched only on the io thread.
  std::set<std::shared_ptr<Connection>> live;
  std::unordered_map<std::string, std::uint32_t> per_ip;
  std::uint32_t total = 0;
  bool stopping = false;
  // Declared last, so destroyed first: its requests call into the engine and the spool above.
  std::unique_ptr<admin::AdminServer> admin;  // service.admin.address, when configured

  std::shared_ptr<const config::Snapshot> current() const { return snapshot.load(); }
  asio::awaitable<void> accept_loop(const config::Listener& listener, tcp::acceptor& acceptor);
  asio::awaitable<void> handle(tcp::socket socket, config::Listener listener);
  asio::awaitable<void> signals();
  admin::ReloadResult reload();
  asio::awaitable<void> shutdown();
  void stop_delivery();
};

namespace {

Result<tcp::endpoint> endpoint_of(const config::HostPort& hp) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (ec) return make_error("listener address '" + hp.host + "' is not an IP address");
  return tcp::endpoint(addr, hp.port);
}

}  // namespace

Result<std::unique_ptr<Server>> Server::create(std::shared_ptr<const config::Snapshot> snap) {
  auto impl = std::make_unique<Impl>();
  impl->snapshot.store(snap);
  const auto& svc = snap->service;
  std::error_code fec;
  std::filesystem::create_directories(svc.data_dir, fec);
  if (fec) return make_error("cannot create data_dir " + svc.data_dir + ": " + fec.message());
  std::filesystem::create_directories(svc.mailbox_store, fec);
  if (fec) return make_error("cannot create mailbox_store " + svc.mailbox_store + ": " + fec.message());

  spool::RocksSpoolOptions spool_options;
  spool_options.path = (std::filesystem::path(svc.data_dir) / "spool").string();
  spool_options.on_sync = [m = &impl->metrics](double seconds) { m->spool_sync_seconds.observe(seconds); };
  auto spool = spool::open_rocks_spool(spool_options);
  if (!spool) return make_error("cannot open the spool: " + spool.error().message);
  impl->spool = std::move(*spool);
  trace::StoreOptions trace_options;
  trace_options.path = (std::filesystem::path(svc.data_dir) / "trace.sqlite").string();
  trace_options.retention = svc.trace.retention;
  trace_options.buffer_events = static_cast<std::size_t>(svc.trace.buffer_events);
  auto trace_store = trace::Store::open(trace_options);
  if (!trace_store) return trace_store.error();
  impl->trace = std::move(*trace_store);

  std::shared_ptr<asio::ssl::context> tls_ctx;
  if (svc.tls) {
    auto ctx = tls::make_server_context(*svc.tls);
    if (!ctx) return ctx.error();
    tls_ctx = *ctx;
  }

  Impl* raw = impl.get();
  auto source = [raw] { return raw->current(); };
  impl->policy = std::make_unique<ServicePolicy>(source, *impl->spool);
  impl->delivery_pool = std::make_unique<asio::thread_pool>(2);
  impl->auth_pool = std::make_unique<asio::thread_pool>(2);
  auto client_ctx = tls::make_client_context(svc.tls ? &*svc.tls : nullptr);
  if (!client_ctx) return client_ctx.error();
  impl->tracker = std::make_unique<delivery::Tracker>(*impl->spool, source, system_clock(), *impl->trace);
  impl->resolver = dns::make_unbound_resolver(impl->outbound_io.get_executor(), svc.dns, system_clock());
  impl->outbound = std::make_unique<delivery::OutboundEngine>(impl->outbound_io.get_executor(), *impl->spool,
                                                              *impl->tracker, source, *impl->resolver, system_clock(),
                                                              *client_ctx, delivery::OutboundEngine::Options{},
                                                              *impl->trace);
  impl->agent = std::make_unique<delivery::LocalDeliveryAgent>(impl->delivery_pool->get_executor(), *impl->spool, source,
                                                               *impl->tracker, impl->outbound.get(), *impl->trace);
  impl->tracker->set_submit([raw](spool::SpoolEntry entry, std::string data) {
    raw->agent->submit(std::move(entry), std::move(data));
  });

  auto held = HeldMessages::open((std::filesystem::path(svc.data_dir) / "held").string());
  if (!held) return held.error();
  impl->held = std::move(*held);
  ServiceBackend::Parts parts;
  parts.engine = impl->outbound.get();
  parts.held = impl->held.get();
  parts.trace = impl->trace.get();
  parts.metrics = &impl->metrics;
  parts.spool_dir = (std::filesystem::path(svc.data_dir) / "spool").string();
  parts.reload = [raw] { return raw->reload(); };
  parts.clock = &system_clock();
  impl->backend = std::make_unique<ServiceBackend>(std::move(parts));

  impl->conn_ctx.snapshot = source;
  impl->conn_ctx.tls = tls_ctx;
  impl->conn_ctx.spool = impl->spool.get();
  impl->conn_ctx.policy = impl->policy.get();
  impl->conn_ctx.auth_executor = impl->auth_pool->get_executor();
  impl->conn_ctx.trace = impl->trace.get();
  impl->conn_ctx.metrics = &impl->metrics;
  impl->tracker->set_metrics(&impl->metrics);
  impl->outbound->set_metrics(&impl->metrics);
  impl->conn_ctx.accepted = [raw](spool::SpoolEntry entry, std::string data) {
    raw->agent->submit(std::move(entry), std::move(data));
  };

  for (const auto& l : svc.listeners) {
    auto ep = endpoint_of(l.address);
    if (!ep) return ep.error();
    auto acc = std::make_unique<tcp::acceptor>(impl->io);
    boost::system::error_code ec;
    acc->open(ep->protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(*ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error("cannot listen on " + l.address.host + ":" + std::to_string(l.address.port) +
                              " (listener " + l.name + "): " + ec.message());
    impl->acceptors.emplace_back(l, std::move(acc));
  }
  if (svc.admin.address) {
    auto token = admin::load_or_create_token(svc.admin.token_file);
    if (!token) return make_error("admin API: " + token.error().message);
    admin::AdminServerOptions options;
    options.address = svc.admin.address->host;
    options.port = svc.admin.address->port;
    options.token = std::move(*token);
    impl->admin = std::make_unique<admin::AdminServer>(std::move(options), *impl->backend, &impl->registry);
    if (auto started = impl->admin->start(); !started) {
      return make_error("admin API on " + svc.admin.address->host + ":" + std::to_string(svc.admin.address->port) +
                        ": " + started.error().message);
    }
  }
  // Last: nothing above may fail once the engine's thread runs (a joinable std::thread destroyed by
  // an early return would terminate the process instead of reporting the error).
  impl->outbound_work.emplace(impl->outbound_io.get_executor());
  impl->outbound_thread = std::thread([raw] { raw->outbound_io.run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void Server::Impl::stop_delivery() {
  // The admin API first: its calls wait for the delivery engine's thread, which stops below.
  if (admin) admin->stop();
  if (agent) agent->stop();
  if (outbound) outbound->stop();
  if (delivery_pool) delivery_pool->join();
  // Deliveries in flight are cut off; their recipients are not marked done, so they are repeated
  // after the restart (never lost).
  outbound_work.reset();
  outbound_io.stop();
  if (outbound_thread.joinable()) outbound_thread.join();
  if (trace) trace->close();  // writes the buffered events
}

Server::~Server() { impl_->stop_delivery(); }

asio::awaitable<void> Server::Impl::accept_loop(const config::Listener& listener, tcp::acceptor& acceptor) {
  asio::steady_timer backoff(io);
  while (!stopping) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE/ENFILE and friends: back off instead of spinning (STYLE habit 9).
      spdlog::warn("event=accept_error {} {}", kv("listener", listener.name), kv("reason", ec.message()));
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io, handle(std::move(socket), listener), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::handle(tcp::socket socket, config::Listener listener) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  socket.set_option(tcp::no_delay(true), ec);
  ConnectionFacts facts;
  facts.listener = listener.name;
  auto addr = remote.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  facts.client_ip = addr.to_string();
  facts.client_port = remote.port();
  const std::string ip = facts.client_ip;
  auto snap = current();
  const auto& limits = snap->service.limits;

  // Connection caps answer at connect, before any session state exists (catalogue E01, E02).
  std::string refusal;
  if (total >= limits.max_connections) {
    refusal = "421 4.3.2 " + snap->service.hostname + " Error: too many connections\r\n";
  } else if (per_ip[ip] >= limits.max_connections_per_ip) {
    refusal = "421 4.7.0 " + snap->service.hostname + " Error: too many connections from " + ip + "\r\n";
  }
  if (!refusal.empty()) {
    spdlog::warn("event=refuse {} reason=connection_limit", kv("client", ip));
    metrics.rejects_total.with({"connection_limit"}).inc();
    asio::steady_timer guard(io, std::chrono::seconds(5));
    guard.async_wait([&socket](boost::system::error_code e) {
      if (!e) socket.close();
    });
    co_await asio::async_write(socket, asio::buffer(refusal), use_tuple);
    guard.cancel();
    socket.close(ec);
    if (per_ip[ip] == 0) per_ip.erase(ip);
    co_return;
  }

  ++total;
  ++per_ip[ip];
  metrics.connections_total.with({listener.name}).inc();
  metrics.connections_active.inc();
  spdlog::info("event=connect {} {} {}", kv("listener", listener.name), kv("client", ip),
               kv("port", static_cast<long long>(facts.client_port)));
  auto conn = std::make_shared<Connection>(std::move(socket), std::move(facts), conn_ctx);
  live.insert(conn);
  if (stopping) conn->request_shutdown();
  co_await conn->run();
  live.erase(conn);
  metrics.connections_active.inc(-1);
  --total;
  if (--per_ip[ip] == 0) per_ip.erase(ip);
  spdlog::info("event=disconnect {}", kv("client", ip));
}

// SIGHUP or POST /api/v1/reload (any thread): validate the file, then swap the snapshot atomically.
// Sessions and deliveries in flight keep the snapshot they hold; new decisions use the new one.
admin::ReloadResult Server::Impl::reload() {
  admin::ReloadResult result;
  auto old = current();
  auto loaded = config::load_file(old->source_path);
  if (!loaded.ok()) {
    result.ok = false;
    for (const auto& e : loaded.errors) {
      spdlog::error("event=reload_error {}", kv("error", e.str()));
      result.errors.push_back(e.str());
    }
    spdlog::error("event=reload_refused {} reason=\"configuration has errors; the old one stays in force\"",
                  kv("config", old->source_path));
    return result;
  }
  snapshot.store(loaded.snapshot);
  spdlog::info("event=reload {} note=\"listeners, TLS files, data_dir and admin changes need a restart\"",
               kv("config", old->source_path));
  return result;
}

asio::awaitable<void> Server::Impl::signals() {
  asio::signal_set set(io, SIGTERM, SIGINT, SIGHUP);
  while (true) {
    auto [ec, sig] = co_await set.async_wait(use_tuple);
    if (ec) co_return;
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    spdlog::info("event=shutdown signal={}", sig == SIGTERM ? "TERM" : "INT");
    co_await shutdown();
    co_return;
  }
}

asio::awaitable<void> Server::Impl::shutdown() {
  stopping = true;
  for (auto& [l, acc] : acceptors) {
    boost::system::error_code ec;
    acc->close(ec);
  }
  for (const auto& c : live) c->request_shutdown();
  auto grace = current()->service.limits.shutdown_grace;
  auto until = std::chrono::steady_clock::now() + grace;
  asio::steady_timer t(io);
  while (!live.empty() && std::chrono::steady_clock::now() < until) {
    t.expires_after(std::chrono::milliseconds(50));
    co_await t.async_wait(use_tuple);
  }
  if (!live.empty()) {
    spdlog::warn("event=shutdown_forced connections={}", live.size());
    auto copy = live;
    for (const auto& c : copy) c->force_close();
  }
  agent->stop();
  io.stop();
}

int Server::run() {
  Impl& s = *impl_;
  auto report = s.spool->recover();
  if (!report) {
    spdlog::critical("event=spool_error op=recover {}", kv("reason", report.error().message));
    return 1;
  }
  spdlog::info("event=recover messages={} quarantined={}", report->entries.size(), report->quarantined);
  // Holds survive restarts: applied before the recovered messages reach the engine.
  std::set<std::string> recovered;
  for (const auto& e : report->entries) recovered.insert(e.id);
  s.held->retain(recovered);
  for (const auto& id : s.held->ids()) s.outbound->hold(id);
  for (auto& e : report->entries) s.agent->submit(std::move(e));

  for (auto& [l, acc] : s.acceptors) {
    spdlog::info("event=listening {} {}", kv("listener", l.name),
                 kv("address", acc->local_endpoint().address().to_string() + ":" +
                                   std::to_string(acc->local_endpoint().port())));
    asio::co_spawn(s.io, s.accept_loop(l, *acc), asio::detached);
  }
  if (s.admin) {
    spdlog::info("event=listening listener=admin {}",
                 kv("address", s.current()->service.admin.address->host + ":" + std::to_string(s.admin->port())));
  }
  asio::co_spawn(s.io, s.signals(), asio::detached);
  s.io.run();
  s.stop_delivery();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace mf::server
