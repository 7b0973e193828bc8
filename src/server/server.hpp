// server/server.hpp — the running service: SMTP listeners on Boost.Asio coroutines around the
// sans-I/O smtp::ServerSession, the spool, and local delivery.
//
// Threads: one io_context thread runs every listener and connection coroutine (so per-IP counters
// and the connection registry need no locks); the spool has its own writer thread; Maildir delivery
// runs on a small thread pool. The configuration snapshot is an atomic shared_ptr swapped on reload
// (SIGHUP): connections in flight keep the snapshot they read.
// Limits: global and per-IP connection caps (421 at connect), command and DATA deadlines (421 4.4.2),
// all other protocol limits in smtp::ServerSession.
// Shutdown (SIGTERM/SIGINT): stop accepting; idle sessions get 421 4.3.2 at once; a transaction in
// flight may finish within service.limits.shutdown_grace, then every connection is closed; every
// message that got 250 is in the spool and is delivered at the next start if not before.
#pragma once

#include "config/snapshot.hpp"
#include "core/result.hpp"

#include <memory>
#include <string>

namespace mf::server {

class Server {
 public:
  // Opens the spool, loads the TLS context and binds every listener; errors are returned (nothing is
  // left running).
  static Result<std::unique_ptr<Server>> create(std::shared_ptr<const config::Snapshot> snapshot);
  ~Server();

  // Recovers the spool, then serves until SIGTERM/SIGINT. Returns the process exit code.
  int run();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::server
