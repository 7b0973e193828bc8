// trace/store.hpp — the message trace store: trace events in SQLite under data_dir (SPEC §6).
//
// What it does: record() appends an event to a bounded in-memory buffer (a move into a vector under a
// mutex, nothing else); one background writer thread drains the buffer in batches — one transaction
// per batch, one prepared INSERT per event — and every `purge_interval` deletes events older than
// `retention` (the "now" of that check comes from the injected Clock). query() answers `mailflow
// trace` / GET /api/v1/trace.
// Invariants:
//  - record() never blocks on I/O and never fails: when the buffer holds `buffer_events` events the
//    new one is dropped and counted (stats().dropped). A message still gets its 250 (back-pressure is
//    counted, never pushed onto the SMTP session).
//  - query() first flushes (waits until everything recorded before the call is written), so it sees
//    every event recorded before it, written or not.
//  - close() (and the destructor) writes what is buffered, then closes the database.
// Durability: WAL journal, synchronous=NORMAL — a power loss may lose the last batches of the trace,
// never a message (the spool is the durability guarantee, not the trace).
// Memory: at most `buffer_events` buffered events plus the batch being written (also at most
// `buffer_events`).
// Schema (user_version 1): one table
//   events(id INTEGER PRIMARY KEY, time_us, type, message_id, copy_id, internet_message_id,
//          organization, sender COLLATE NOCASE, recipient COLLATE NOCASE, connector, next_hop,
//          remote_host, reply, tls, detail)
// with indexes on time_us, message_id, internet_message_id, sender and recipient (the query filters).
// Errors: open() returns a clear error for a file that is not a SQLite database (corrupt), a newer
// schema, or a path that cannot be created or written. Write errors later are logged and counted
// (stats().write_errors); the events of that batch are lost, the service goes on.
// Threads: every member function is thread-safe.
#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "trace/event.hpp"
#include "trace/sink.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mf::trace {

struct StoreOptions {
  std::string path;                                       // the SQLite file, <data_dir>/trace.sqlite
  std::chrono::seconds retention{7 * 24 * 3600};          // service.trace.retention
  std::size_t buffer_events = 100000;                     // service.trace.buffer_events (≥ 1)
  std::chrono::milliseconds batch_delay{200};             // a batch is written at least this often
  std::chrono::seconds purge_interval{3600};              // how often expired events are deleted
  const Clock* clock = nullptr;                           // retention's "now" and record()'s default time; null = system
  // Tests: the writer thread starts only at the first flush(), query() or close(), so that a test can
  // fill the buffer deterministically.
  bool start_paused = false;
};

struct StoreStats {
  std::uint64_t recorded = 0;      // events taken into the buffer
  std::uint64_t written = 0;       // events committed to SQLite
  std::uint64_t dropped = 0;       // events refused because the buffer was full (or the store closed)
  std::uint64_t buffered = 0;      // events waiting to be written now (including the batch in flight)
  std::uint64_t write_errors = 0;  // events lost because their batch failed to write
  std::uint64_t purged = 0;        // events deleted by retention
};

class Store final : public Sink {
 public:
  // Opens (creates) the database, checks and migrates its schema, deletes expired events, and starts
  // the writer thread.
  static Result<std::unique_ptr<Store>> open(StoreOptions options);
  ~Store() override;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Buffers the event; time_us 0 is stamped with the clock. Never blocks on I/O.
  void record(Event e) override;
  // Blocks until every event recorded before the call is written (or its batch failed).
  void flush();
  // Flushes, then searches (see Query in event.hpp).
  Result<std::vector<Event>> query(const Query& q);
  // Deletes the events older than now − retention at once (the writer also does it periodically).
  // Returns how many were deleted.
  Result<std::uint64_t> purge_expired();
  StoreStats stats() const;
  // Writes what is buffered and closes; later record() calls are dropped and counted. Idempotent.
  void close();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::trace
