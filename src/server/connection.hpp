// server/connection.hpp — one SMTP connection: a coroutine that shuttles bytes between a socket
// (plain, then TLS after STARTTLS) and its smtp::ServerSession, with a watchdog for deadlines.
// Runs on the server's single io_context thread; not thread-safe.
#pragma once

#include "config/snapshot.hpp"
#include "smtp/server_session.hpp"
#include "spool/spool.hpp"
#include "metrics/service_metrics.hpp"
#include "routing/attribution.hpp"
#include "trace/sink.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace mf::server {

// What a connection needs from the service (owned by the Server, outlives every connection).
struct ConnectionContext {
  std::function<std::shared_ptr<const config::Snapshot>()> snapshot;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: no STARTTLS
  spool::Spool* spool = nullptr;
  smtp::Policy* policy = nullptr;
  // Called after a message got its 250 (hand-off to delivery).
  std::function<void(spool::SpoolEntry, std::string data)> accepted;
  // The message trace: a RECEIVE per message made durable (never blocks; see trace/sink.hpp).
  trace::Sink* trace = &trace::null_sink();
  // mailflow_messages_received_total{organization}; null = no metrics.
  metrics::ServiceMetrics* metrics = nullptr;
  // Where AUTH passwords are checked (Policy::authenticate, a slow hash by design): a worker pool
  // that must outlive `policy`'s use. Empty: checked inline on the connection's thread.
  boost::asio::any_io_executor auth_executor;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::ip::tcp::socket socket, ConnectionFacts facts, ConnectionContext& ctx);

  boost::asio::awaitable<void> run();
  // Graceful stop: an idle session is told 421 at once, a transaction in flight may finish.
  void request_shutdown();
  // Hard stop (grace expired).
  void force_close();

 private:
  using Clock = std::chrono::steady_clock;
  boost::asio::ip::tcp::socket& lowest();
  void set_deadline(Clock::duration d);
  boost::asio::awaitable<void> watchdog();
  boost::asio::awaitable<bool> flush();
  boost::asio::awaitable<bool> start_tls();
  boost::asio::awaitable<void> commit();
  boost::asio::awaitable<void> authenticate();
  void trace_receive(const smtp::AcceptedMessage& msg, std::size_t size, const config::Snapshot& snap,
                     const routing::Attribution& att);

  boost::asio::ip::tcp::socket plain_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  ConnectionContext& ctx_;
  std::shared_ptr<const config::Snapshot> snapshot_;  // the snapshot this connection started with
  std::unique_ptr<smtp::ServerSession> session_;
  boost::asio::steady_timer watchdog_timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  bool closed_ = false;
  bool idle_read_ = false;          // waiting for a command outside a transaction
  bool shutdown_requested_ = false;
};

}  // namespace mf::server
