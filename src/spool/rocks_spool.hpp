// spool/rocks_spool.hpp — the RocksDB implementation of spool::Spool (see spool.hpp for THE
// INVARIANT and the record schema; record.hpp for the exact grammar).
//
// commit(), mark_done() and remove() build their puts/deletes on the caller's thread and hand them
// to the GroupWriter (group commit, one synced WriteBatch per group). recover(), load_data() and
// free_bytes() read directly (RocksDB reads are thread-safe). The database is opened with
// create_if_missing, the WAL on and paranoid checks. A failed batch fails every request in it with
// the RocksDB status; before the next batch the writer resumes or reopens the database (see
// db_handle.hpp), so a full disk or a passing I/O error does not need a restart. Destruction drains
// the writer (queued writes complete) and closes the database; the LOCK file keeps a second process
// (or a second RocksSpool on the same path) out.
//
// recover() never throws and never aborts on bad data: an "m/" record that does not decode (bad
// JSON, unknown version, missing field, invalid address, id not matching its key), whose "d/" record
// is missing, or whose size or CRC-32C do not match, is moved to "q/" ID together with the reason
// (one synced batch that also deletes its "m/", "d/" and "r/" keys), logged at warn level and counted.
// A "d/" record without an "m/" record is quarantined the same way; "r/" marks of a message that does
// not exist (or of a recipient index it does not have) are deleted.
#pragma once

#include "spool/spool.hpp"
#include "spool/stats.hpp"

#include <chrono>
#include <cstddef>
#include <memory>

namespace rocksdb {
class Env;
}

namespace mf::spool {

// Knobs for tests and benchmarks; production uses the defaults.
struct RocksSpoolTuning {
  rocksdb::Env* env = nullptr;  // e.g. a fault-injecting file system (must outlive the spool)
  std::size_t max_batch_bytes = std::size_t{64} << 20;  // cap of one group commit (≥ 1 request)
  std::chrono::microseconds lazy_delay{5000};  // how long mark_done/remove wait for a commit to ride on
};

class RocksSpool final : public Spool {
 public:
  static Result<std::unique_ptr<RocksSpool>> open(const RocksSpoolOptions& options,
                                                  const RocksSpoolTuning& tuning = {});
  ~RocksSpool() override;

  boost::asio::awaitable<Result<void>> commit(StoredMessage msg) override;
  boost::asio::awaitable<Result<void>> mark_done(std::string id, std::vector<std::size_t> indexes,
                                                 std::string reason) override;
  boost::asio::awaitable<Result<void>> remove(std::string id) override;
  Result<std::string> load_data(const std::string& id) override;
  Result<RecoveryReport> recover() override;
  std::uint64_t free_bytes() const override;

  const SpoolStats& stats() const;

 private:
  struct Impl;
  explicit RocksSpool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The counters of `spool` when it is a RocksSpool, else nullptr.
const SpoolStats* spool_stats(const Spool& spool);

}  // namespace mf::spool
