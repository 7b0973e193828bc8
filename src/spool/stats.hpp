// spool/stats.hpp — counters of the RocksDB spool's writer (for metrics, logs and tests).
// All fields are atomics, updated by the writer thread and recover(); read them from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace mf::spool {

struct SpoolStats {
  std::atomic<std::uint64_t> commits{0};         // commit() calls completed with success
  std::atomic<std::uint64_t> marks{0};           // mark_done() calls completed with success
  std::atomic<std::uint64_t> removes{0};         // remove() calls completed with success
  std::atomic<std::uint64_t> failed_requests{0}; // requests completed with an error
  std::atomic<std::uint64_t> batches{0};         // synced WriteBatches written (group commits)
  std::atomic<std::uint64_t> failed_batches{0};  // batches whose write failed
  std::atomic<std::uint64_t> bytes{0};           // bytes of keys and values in successful batches
  std::atomic<std::uint64_t> sync_ns_total{0};   // time spent in synced writes
  std::atomic<std::uint64_t> sync_ns_max{0};     // longest synced write
  std::atomic<std::uint64_t> quarantined{0};     // entries moved to "q/" by recover()
};

}  // namespace mf::spool
