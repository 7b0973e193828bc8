// spool/group_writer.hpp — the spool's single writer thread (group commit).
//
// Every durable change of the spool goes through write(): the request (a list of puts and deletes)
// is queued; the writer thread takes every request queued at that moment (up to max_batch_bytes,
// at least one), writes them all in ONE rocksdb::WriteBatch with WriteOptions::sync = true, and only
// after that write returned completes each request of the batch — with success, or with the RocksDB
// status text if the batch failed (every request in a failed batch fails). A request whose puts do
// not fit in a batch fails alone. Completions are dispatched to the completion handler's associated
// executor (the awaiting coroutine's executor for use_awaitable); outstanding work is tracked until
// then, so io_context::run() does not return while a commit is in flight.
//
// Lazy writes: a request that needs no fsync of its own (mark_done, remove: see spool.hpp) does not
// wake the writer. It waits for the next commit's batch and rides in it, or is written alone once it
// has waited `lazy_delay` (default 5 ms) with no commit coming. Under load that halves the batches and
// the writer's wake-ups per relayed message; idle, a removal is on disk 5 ms later.
//
// Threading: write() may be called from any thread. stop() (and the destructor) drains: requests
// already queued are written and completed, later ones fail with "spool is shut down"; then the
// thread is joined. After a failed batch the next one first tries to heal the database
// (DbHandle::recover_after_failure). The DbHandle must outlive the writer. Never throws into the
// caller.
#pragma once

#include "core/result.hpp"
#include "spool/stats.hpp"

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <functional>
#include <thread>
#include <vector>

namespace mf::spool {

class DbHandle;

struct WriteOp {
  enum class Kind { put, erase };
  Kind kind = Kind::put;
  std::string key;
  std::string value;  // put only
};

enum class WriteKind { commit, mark_done, remove };  // for the counters only

class GroupWriter {
 public:
  using Signature = void(Result<void>);
  using Handler = boost::asio::any_completion_handler<Signature>;

  static constexpr std::size_t kDefaultMaxBatchBytes = std::size_t{64} << 20;
  static constexpr std::chrono::microseconds kDefaultLazyDelay{5000};

  // on_sync: told the duration (seconds) of every synced batch write; may be empty.
  GroupWriter(DbHandle& db, SpoolStats& stats, std::size_t max_batch_bytes = kDefaultMaxBatchBytes,
              std::function<void(double)> on_sync = {}, std::chrono::microseconds lazy_delay = kDefaultLazyDelay);
  ~GroupWriter();
  GroupWriter(const GroupWriter&) = delete;
  GroupWriter& operator=(const GroupWriter&) = delete;

  // Completes with Result<void> once the synced batch holding `ops` has been written (or failed).
  // `co_await writer.write(kind, ops, boost::asio::use_awaitable)` works from any executor.
  template <class CompletionToken>
  auto write(WriteKind kind, std::vector<WriteOp> ops, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, Signature>(
        [this, kind](auto handler, std::vector<WriteOp> batch_ops) {
          enqueue(kind, std::move(batch_ops), Handler(std::move(handler)));
        },
        token, std::move(ops));
  }

  // Drain, then join the thread. Idempotent.
  void stop();

 private:
  struct Request {
    WriteKind kind;
    std::vector<WriteOp> ops;
    std::size_t bytes = 0;
    std::chrono::steady_clock::time_point queued;
    Handler handler;
    boost::asio::any_completion_executor work;  // handler's executor, outstanding_work.tracked
  };

  void enqueue(WriteKind kind, std::vector<WriteOp> ops, Handler handler);
  void run();
  void write_batch(std::vector<Request>& batch);
  void complete(Request& request, Result<void> result);

  DbHandle& db_;
  SpoolStats& stats_;
  const std::size_t max_batch_bytes_;
  std::function<void(double)> on_sync_;  // set before the thread starts, then only read
  const std::chrono::microseconds lazy_delay_;
  bool needs_recovery_ = false;  // writer thread only: the previous batch failed

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> queue_;  // GUARDED_BY(mutex_)
  std::size_t commits_queued_ = 0;  // GUARDED_BY(mutex_): requests of kind commit in queue_
  bool stopping_ = false;      // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace mf::spool
