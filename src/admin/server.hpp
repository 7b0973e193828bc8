// admin/server.hpp — the admin HTTP listener (service.admin.address): Boost.Beast HTTP/1.1 with
// keep-alive, on its own io_context thread, serving the Router's routes (router.hpp lists them).
//
// Threads: start() binds and listens on the caller's thread (so a bad address is reported at once)
// and starts one thread that runs every connection; each request is answered by Router::handle on
// that thread, so Backend calls are serialised (see backend.hpp). stop() (or the destructor) closes
// the listener and every connection and joins the thread; a Backend call in progress finishes first.
// Limits: request header and body sizes (431 / 413 and close), a deadline on reading each request
// (the idle keep-alive time counts, then the connection is closed) and on writing each response,
// and a cap on open connections (beyond it: 503 and close).
// Logging: one line per request — event=admin_request client method path status ms — never the
// token, never the query string (it may hold addresses).
#pragma once

#include "admin/backend.hpp"
#include "core/result.hpp"
#include "metrics/metrics.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mf::admin {

struct AdminServerOptions {
  std::string address = "127.0.0.1";  // IP literal to bind
  std::uint16_t port = 0;             // 0 = any free port (tests; read it back with port())
  std::string token;                  // the bearer token (load_or_create_token())
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::size_t max_connections = 32;
};

class AdminServer {
 public:
  // `registry` may be null (then /metrics is empty). Backend and registry must outlive the server.
  AdminServer(AdminServerOptions options, Backend& backend, const metrics::Registry* registry);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds, listens and starts the thread. Errors: bad address, address in use, empty token.
  Result<void> start();
  // Idempotent.
  void stop();
  // The bound port (after start()).
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::admin
