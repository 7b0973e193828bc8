// spool/spool.hpp — the durable message store (RocksDB).
//
// What it does: keeps every accepted message (envelope, connection facts, bytes) and the
// per-recipient "done" marks until the message is finished, and gives them back after a restart.
//
// THE INVARIANT: the SMTP server sends `250` to DATA only after commit() has completed with success,
// and commit() completes only after a RocksDB write with WriteOptions::sync = true that contains the
// message has returned. Concurrent commits are grouped: one writer thread takes every commit waiting
// at that moment, writes them in ONE synced WriteBatch (one fsync), then completes each of them —
// no commit completes before the batch holding its own data is synced (group commit).
//
// Record schema (column family "default"):
//   "m/" ID  → envelope record: JSON {"v":1, "id", "received_at", "sender", "recipients":[...],
//              "dsn":{...}, "connection":{...}, "size", "crc32c"} (all strings escaped by JSON, so no
//              attacker-controlled byte can forge a record boundary)
//   "d/" ID  → message bytes (exactly `size` octets, CRC-32C `crc32c`)
//   "r/" ID "/" N → recipient N of ID finished (delivered or failed for good); value: reason text
//   "q/" ID  → quarantined entry (the raw envelope record), with the reason; never delivered
// A message exists iff its "m/" record exists; "m/" and "d/" are written in the same batch.
// recover() verifies every "m/" record (decodes, body present, size and CRC match); a bad one is
// moved to "q/" in a synced batch, logged, and skipped — it never crashes the server.
//
// Threading: all methods are thread-safe. Completions of awaitables resume on the awaiting
// coroutine's executor. Errors (disk full, I/O error) come back as Result errors; never exceptions.
#pragma once

#include "core/envelope.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <vector>

namespace mf::spool {

struct StoredMessage {
  std::string id;  // core::new_message_id()
  Envelope envelope;
  ConnectionFacts connection;
  std::int64_t received_at = 0;  // unix seconds
  std::string data;              // the message as received (Received: prepended), CRLF line ends
};

// What recover() returns for each live message: everything but the bytes (load_data() reads them).
struct SpoolEntry {
  std::string id;
  Envelope envelope;
  ConnectionFacts connection;
  std::int64_t received_at = 0;
  std::uint64_t size = 0;
  std::vector<bool> done;  // done[i] for envelope.recipients[i]
};

struct RecoveryReport {
  std::vector<SpoolEntry> entries;  // sorted by id (arrival order)
  std::size_t quarantined = 0;
};

class Spool {
 public:
  virtual ~Spool() = default;

  // Durably store a new message (see THE INVARIANT). Fails with the reason on write error.
  virtual boost::asio::awaitable<Result<void>> commit(StoredMessage msg) = 0;
  // Record that recipients `indexes` of message `id` are finished. Written to the WAL without an
  // fsync of its own (it survives a process crash and is made durable by the next commit's sync):
  // losing it to a power failure repeats a delivery, it never loses one.
  virtual boost::asio::awaitable<Result<void>> mark_done(std::string id, std::vector<std::size_t> indexes,
                                                         std::string reason) = 0;
  // Delete the message and all its records (when every recipient is finished); not synced on its
  // own either (same reasoning as mark_done).
  virtual boost::asio::awaitable<Result<void>> remove(std::string id) = 0;

  // Synchronous reads (used at start and by delivery workers on their own threads).
  virtual Result<std::string> load_data(const std::string& id) = 0;
  virtual Result<RecoveryReport> recover() = 0;

  // Free bytes on the file system holding the spool (statvfs), for the 452 4.3.1 check at MAIL.
  virtual std::uint64_t free_bytes() const = 0;
};

struct RocksSpoolOptions {
  std::string path;  // directory of the RocksDB database (created if missing)
  // Called (on the writer thread) with the duration in seconds of every synced batch write — the
  // mailflow_spool_sync_seconds histogram. Must be cheap and thread-safe; may be empty.
  std::function<void(double)> on_sync = {};
};

// Opens (creating if needed) the RocksDB spool. Fails if the database cannot be opened (for
// example another mailflow holds its lock).
Result<std::unique_ptr<Spool>> open_rocks_spool(const RocksSpoolOptions& options);

}  // namespace mf::spool
