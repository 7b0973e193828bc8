#include "spool/group_writer.hpp"

#include "spool/db_handle.hpp"
#include "spool/record.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/system_executor.hpp>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace mf::spool {

namespace asio = boost::asio;

GroupWriter::GroupWriter(DbHandle& db, SpoolStats& stats, std::size_t max_batch_bytes,
                         std::function<void(double)> on_sync, std::chrono::microseconds lazy_delay)
    : db_(db),
      stats_(stats),
      max_batch_bytes_(max_batch_bytes),
      on_sync_(std::move(on_sync)),
      lazy_delay_(lazy_delay) {
  thread_ = std::thread([this] { run(); });
}

GroupWriter::~GroupWriter() { stop(); }

void GroupWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GroupWriter::enqueue(WriteKind kind, std::vector<WriteOp> ops, Handler handler) {
  Request request{kind, std::move(ops), 0, std::chrono::steady_clock::now(), std::move(handler), {}};
  // Keep the awaiting executor's io_context alive (outstanding work) until the completion runs.
  request.work = asio::prefer(asio::get_associated_executor(request.handler, asio::system_executor()),
                              asio::execution::outstanding_work.tracked);
  for (const auto& op : request.ops) request.bytes += op.key.size() + op.value.size();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      // A commit wakes the writer at once; a lazy request only when it starts the queue (the
      // writer then sleeps until its lazy deadline or the next commit).
      const bool wake = kind == WriteKind::commit || queue_.empty();
      if (kind == WriteKind::commit) ++commits_queued_;
      queue_.push_back(std::move(request));
      if (wake) wake_.notify_one();
      return;
    }
  }
  complete(request, make_error("spool is shut down"));
}

void GroupWriter::run() {
  for (;;) {
    std::vector<Request> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued before has been written
      if (commits_queued_ == 0 && !stopping_) {
        // Only lazy requests: give a commit the chance to carry them (see the header).
        const auto deadline = queue_.front().queued + lazy_delay_;
        wake_.wait_until(lock, deadline, [this] { return commits_queued_ > 0 || stopping_; });
      }
      // Group commit: everything waiting now, bounded in size so one batch cannot grow without limit.
      std::size_t bytes = 0;
      while (!queue_.empty() && (batch.empty() || bytes + queue_.front().bytes <= max_batch_bytes_)) {
        bytes += queue_.front().bytes;
        if (queue_.front().kind == WriteKind::commit) --commits_queued_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    write_batch(batch);
  }
}

void GroupWriter::write_batch(std::vector<Request>& batch) {
  rocksdb::WriteBatch wb;
  std::vector<Request*> included;
  included.reserve(batch.size());
  for (auto& request : batch) {
    wb.SetSavePoint();
    rocksdb::Status st;
    for (const auto& op : request.ops) {
      st = op.kind == WriteOp::Kind::put ? wb.Put(op.key, op.value) : wb.Delete(op.key);
      if (!st.ok()) break;
    }
    if (!st.ok()) {  // e.g. a value too large for a batch: fail this request only
      wb.RollbackToSavePoint();
      complete(request, make_error("spool write rejected: " + st.ToString()));
      continue;
    }
    wb.PopSavePoint();
    included.push_back(&request);
  }
  if (included.empty()) return;

  if (needs_recovery_) {
    // After a failed write RocksDB refuses every write until it is resumed or reopened; try now, so
    // the spool heals by itself once the cause (full disk, I/O error) is gone.
    if (db_.recover_after_failure()) needs_recovery_ = false;
  }

  rocksdb::WriteOptions options;
  // THE INVARIANT (spool.hpp): a batch holding a commit is synced before any completion below.
  // Batches of only mark_done/remove go to the WAL unsynced: they survive a process crash (the
  // bytes are in the kernel) and become durable with the next synced batch; losing one to a power
  // failure can only repeat a delivery, never lose one.
  options.sync = false;
  for (const Request* request : included) options.sync = options.sync || request->kind == WriteKind::commit;
  const auto started = std::chrono::steady_clock::now();
  rocksdb::Status st;
  {
    auto db = db_.access();
    st = db ? db->Write(options, &wb) : rocksdb::Status::IOError(kSpoolClosedError);
  }
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());

  stats_.batches.fetch_add(1, std::memory_order_relaxed);
  stats_.sync_ns_total.fetch_add(ns, std::memory_order_relaxed);
  std::uint64_t max = stats_.sync_ns_max.load(std::memory_order_relaxed);
  while (ns > max && !stats_.sync_ns_max.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
  }
  if (options.sync && on_sync_) on_sync_(static_cast<double>(ns) / 1e9);

  if (st.ok()) {
    stats_.bytes.fetch_add(wb.GetDataSize(), std::memory_order_relaxed);
    for (Request* request : included) complete(*request, Result<void>{});
    return;
  }
  needs_recovery_ = true;
  stats_.failed_batches.fetch_add(1, std::memory_order_relaxed);
  const std::string reason = "spool write failed: " + st.ToString();
  spdlog::error("event=spool_write_failed requests={} reason={}", included.size(), log_quote(st.ToString()));
  for (Request* request : included) complete(*request, make_error(reason));
}

void GroupWriter::complete(Request& request, Result<void> result) {
  if (result) {
    switch (request.kind) {
      case WriteKind::commit: stats_.commits.fetch_add(1, std::memory_order_relaxed); break;
      case WriteKind::mark_done: stats_.marks.fetch_add(1, std::memory_order_relaxed); break;
      case WriteKind::remove: stats_.removes.fetch_add(1, std::memory_order_relaxed); break;
    }
  } else {
    stats_.failed_requests.fetch_add(1, std::memory_order_relaxed);
  }
  // Runs the handler on its own executor (queued there: this thread is not one of its threads); the
  // queued function holds the work from now on, so `work` can be released afterwards.
  asio::any_completion_executor work = std::move(request.work);
  asio::dispatch(work, [handler = std::move(request.handler), result = std::move(result)]() mutable {
    std::move(handler)(std::move(result));
  });
}

}  // namespace mf::spool
