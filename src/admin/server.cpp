// admin/server.cpp — the admin listener: accept loop and one coroutine per HTTP connection; the
// answers come from Router::handle (see server.hpp for threads, limits and logging).
#include "admin/server.hpp"

#include "admin/router.hpp"
#include "util/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <atomic>
#include <set>
#include <thread>

namespace mf::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using mf::log::kv;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Read errors after which the connection is simply closed (the peer left, or went quiet).
bool connection_gone(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::bad_descriptor;
}

std::string peer_of(const tcp::socket& s) {
  beast::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

struct AdminServer::Impl {
  Impl(AdminServerOptions o, Backend& backend, const metrics::Registry* registry)
      : opts(std::move(o)), router(backend, registry, opts.token) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<void> respond_and_close(beast::tcp_stream& stream, HttpResponse res);

  AdminServerOptions opts;
  Router router;
  // Owned by the io thread once started.
  std::set<beast::tcp_stream*> sessions;
  std::uint16_t bound_port = 0;
  bool started = false;
  std::atomic<bool> stopped{false};  // set by stop() from any thread
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
};

asio::awaitable<void> AdminServer::Impl::accept_loop() {
  asio::steady_timer backoff(io);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of file descriptors and the like: wait a little rather than spin.
      spdlog::warn("event=admin_accept_error {}", kv("reason", ec.message()));
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io, session(std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("event=admin_session_error {}", kv("reason", ex.what()));
      }
    });
  }
}

// Writes a final response, then reads and discards what the client still sends for a moment so that
// closing does not reset the connection before the client has read the answer.
asio::awaitable<void> AdminServer::Impl::respond_and_close(beast::tcp_stream& stream, HttpResponse res) {
  res.keep_alive(false);
  stream.expires_after(opts.write_timeout);
  auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (wec) co_return;
  std::array<char, 4096> scratch{};
  std::size_t drained = 0;
  stream.expires_after(std::chrono::seconds(1));
  while (drained < 1024 * 1024) {
    auto buf = asio::buffer(scratch);
    auto [rec, n] = co_await stream.async_read_some(buf, use_tuple);
    if (rec) break;
    drained += n;
  }
}

asio::awaitable<void> AdminServer::Impl::session(tcp::socket socket) {
  const std::string client = peer_of(socket);
  beast::tcp_stream stream(std::move(socket));
  sessions.insert(&stream);
  struct Unregister {
    std::set<beast::tcp_stream*>& set;
    beast::tcp_stream* s;
    ~Unregister() { set.erase(s); }
  } unregister{sessions, &stream};

  if (stopped.load()) co_return;  // accepted just before stop(): its close pass did not see us
  if (sessions.size() > opts.max_connections) {
    spdlog::warn("event=admin_refuse {} reason=connection_limit", kv("client", client));
    HttpResponse busy = error_response(503, "too many admin connections");
    co_await respond_and_close(stream, std::move(busy));
    co_return;
  }

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);
    stream.expires_after(opts.read_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      if (connection_gone(ec)) break;
      unsigned status = 400;
      std::string message = "bad request: " + ec.message();
      if (ec == http::error::header_limit) {
        status = 431;
        message = "request header too large";
      } else if (ec == http::error::body_limit) {
        status = 413;
        message = "request body too large";
      }
      spdlog::info("event=admin_request {} status={} {}", kv("client", client), status, kv("error", message));
      HttpResponse res = error_response(status, message);
      co_await respond_and_close(stream, std::move(res));
      co_return;
    }

    const auto t0 = std::chrono::steady_clock::now();
    HttpRequest req = parser.release();
    HttpResponse res = router.handle(req);
    res.keep_alive(req.keep_alive());
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    spdlog::info("event=admin_request {} {} {} status={} ms={}", kv("client", client),
                 kv("method", std::string_view(req.method_string())), kv("path", path), res.result_int(),
                 static_cast<long long>(ms.count()));

    stream.expires_after(opts.write_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

AdminServer::AdminServer(AdminServerOptions options, Backend& backend, const metrics::Registry* registry)
    : impl_(std::make_unique<Impl>(std::move(options), backend, registry)) {}

AdminServer::~AdminServer() { stop(); }

Result<void> AdminServer::start() {
  Impl& s = *impl_;
  if (s.started) return make_error("admin server already started");
  if (s.opts.token.empty()) return make_error("admin server: no bearer token");
  beast::error_code ec;
  const auto address = asio::ip::make_address(s.opts.address, ec);
  if (ec) return make_error("admin listener: bad address \"" + s.opts.address + "\": " + ec.message());
  const tcp::endpoint endpoint(address, s.opts.port);
  const std::string where = s.opts.address + ":" + std::to_string(s.opts.port);
  if (s.acceptor.open(endpoint.protocol(), ec); ec) return make_error("admin listener " + where + ": " + ec.message());
  s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (s.acceptor.bind(endpoint, ec); ec) {
    s.acceptor.close(ec);
    return make_error("admin listener " + where + ": cannot bind: " + ec.message());
  }
  if (s.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    s.acceptor.close(ec);
    return make_error("admin listener " + where + ": cannot listen: " + ec.message());
  }
  s.bound_port = s.acceptor.local_endpoint(ec).port();
  s.started = true;
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  s.thread = std::thread([&s] { s.io.run(); });
  spdlog::info("event=admin_listen {} port={}", kv("address", s.opts.address), s.bound_port);
  return {};
}

void AdminServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  // Closing the acceptor and every socket ends each coroutine; run() returns when none is left.
  asio::post(s.io, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    for (auto* stream : s.sessions) stream->socket().close(ignored);
  });
  if (s.thread.joinable()) s.thread.join();
}

std::uint16_t AdminServer::port() const { return impl_->bound_port; }

}  // namespace mf::admin
