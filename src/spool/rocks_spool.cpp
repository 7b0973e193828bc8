#include "spool/rocks_spool.hpp"

#include "spool/crc32c.hpp"
#include "spool/db_handle.hpp"
#include "spool/group_writer.hpp"
#include "spool/record.hpp"
#include "spool/recovery.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <rocksdb/options.h>

#include <sys/statvfs.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace mf::spool {

namespace asio = boost::asio;

struct RocksSpool::Impl {
  std::unique_ptr<DbHandle> db;
  SpoolStats stats;
  std::unique_ptr<GroupWriter> writer;  // declared after db: destroyed (drained) first
  // Recipient count of every live message this process committed or recovered: mark_done() checks
  // its indexes and remove() names the "r/" keys without reading and decoding the "m/" record
  // (that read was 12 % of the delivery thread's CPU in the relay profile). A message missing here
  // (a failed remove forgot it) is read from the database as before. Shared with commit() frames:
  // a commit drained at shutdown completes after the spool is gone and must not touch it.
  struct Counts {
    std::mutex mutex;
    std::unordered_map<std::string, std::size_t> by_id;  // GUARDED_BY(mutex)
    void remember(const std::string& id, std::size_t count) {
      std::lock_guard lock(mutex);
      by_id[id] = count;
    }
    void forget(const std::string& id) {
      std::lock_guard lock(mutex);
      by_id.erase(id);
    }
    std::optional<std::size_t> find(const std::string& id) {
      std::lock_guard lock(mutex);
      auto it = by_id.find(id);
      if (it == by_id.end()) return std::nullopt;
      return it->second;
    }
  };
  std::shared_ptr<Counts> counts = std::make_shared<Counts>();

  ~Impl() {
    if (writer) writer->stop();
    writer.reset();
    if (db) db->close();
  }

  // One value, or an error (NotFound is reported as "no such message").
  Result<std::string> get(const std::string& key, const std::string& id) {
    auto access = db->access();
    if (!access) return make_error(kSpoolClosedError);
    std::string value;
    rocksdb::Status st = access->Get(rocksdb::ReadOptions(), key, &value);
    if (st.IsNotFound()) return make_error("no such message in the spool: " + id);
    if (!st.ok()) return make_error("spool read failed: " + st.ToString());
    return value;
  }

  // The "m/" record of `id`, decoded.
  Result<EnvelopeRecord> read_envelope(const std::string& id) {
    auto raw = get(envelope_key(id), id);
    if (!raw) return raw.error();
    return decode_envelope(*raw, id);
  }

  // How many recipients `id` has: from `counts`, else from its "m/" record.
  Result<std::size_t> recipient_count(const std::string& id) {
    if (auto known = counts->find(id)) return *known;
    auto record = read_envelope(id);
    if (!record) return record.error();
    return record->entry.envelope.recipients.size();
  }
};

RocksSpool::RocksSpool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksSpool::~RocksSpool() = default;

Result<std::unique_ptr<RocksSpool>> RocksSpool::open(const RocksSpoolOptions& options,
                                                     const RocksSpoolTuning& tuning) {
  if (options.path.empty()) return make_error("spool path is empty");
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return make_error("cannot create the spool directory " + options.path + ": " + ec.message());

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.paranoid_checks = true;
  db_options.keep_log_file_num = 10;
  if (tuning.env != nullptr) db_options.env = tuning.env;
  // The WAL stays on (it is what the synced writes go to); never set disableWAL.
  auto db = DbHandle::open(options.path, db_options);
  if (!db) return db.error();

  auto impl = std::make_unique<Impl>();
  impl->db = std::move(*db);
  impl->writer = std::make_unique<GroupWriter>(*impl->db, impl->stats, tuning.max_batch_bytes, options.on_sync,
                                               tuning.lazy_delay);
  return std::unique_ptr<RocksSpool>(new RocksSpool(std::move(impl)));
}

asio::awaitable<Result<void>> RocksSpool::commit(StoredMessage msg) {
  if (!is_valid_spool_id(msg.id)) co_return make_error("invalid message id");
  if (msg.envelope.recipients.empty()) co_return make_error("message without recipients");
  const std::uint64_t size = msg.data.size();
  const std::uint32_t crc = crc32c(msg.data);
  std::vector<WriteOp> ops;
  ops.reserve(2);
  // "m/" and "d/" in the same request, hence in the same synced batch: both or neither exist.
  ops.push_back({WriteOp::Kind::put, envelope_key(msg.id), encode_envelope(msg, size, crc)});
  ops.push_back({WriteOp::Kind::put, data_key(msg.id), std::move(msg.data)});
  const std::size_t count = msg.envelope.recipients.size();
  // Nothing of *this after the write: a commit drained by the destructor completes later.
  std::shared_ptr<Impl::Counts> counts = impl_->counts;
  auto result = co_await impl_->writer->write(WriteKind::commit, std::move(ops), asio::use_awaitable);
  if (result) counts->remember(msg.id, count);
  co_return result;
}

asio::awaitable<Result<void>> RocksSpool::mark_done(std::string id, std::vector<std::size_t> indexes,
                                                    std::string reason) {
  if (!is_valid_spool_id(id)) co_return make_error("invalid message id");
  auto known = impl_->recipient_count(id);
  if (!known) co_return known.error();
  const std::size_t count = *known;
  std::vector<WriteOp> ops;
  ops.reserve(indexes.size());
  for (std::size_t index : indexes) {
    if (index >= count) {
      co_return make_error("recipient index " + std::to_string(index) + " out of range for message " + id);
    }
    ops.push_back({WriteOp::Kind::put, done_key(id, index), reason});
  }
  if (ops.empty()) co_return Result<void>{};
  co_return co_await impl_->writer->write(WriteKind::mark_done, std::move(ops), asio::use_awaitable);
}

asio::awaitable<Result<void>> RocksSpool::remove(std::string id) {
  if (!is_valid_spool_id(id)) co_return make_error("invalid message id");
  std::vector<WriteOp> ops;
  ops.push_back({WriteOp::Kind::erase, envelope_key(id), {}});
  ops.push_back({WriteOp::Kind::erase, data_key(id), {}});
  if (auto count = impl_->recipient_count(id)) {
    for (std::size_t i = 0; i < *count; ++i) ops.push_back({WriteOp::Kind::erase, done_key(id, i), {}});
  } else {  // missing or undecodable record: find the marks by scanning
    Result<std::vector<std::string>> keys = make_error(kSpoolClosedError);
    if (auto access = impl_->db->access()) keys = keys_with_prefix(*access, done_prefix(id));
    if (!keys) co_return keys.error();
    for (auto& key : *keys) ops.push_back({WriteOp::Kind::erase, std::move(key), {}});
  }
  // Forgotten before the write: a failed remove leaves a message that is read from the database again.
  impl_->counts->forget(id);
  co_return co_await impl_->writer->write(WriteKind::remove, std::move(ops), asio::use_awaitable);
}

Result<std::string> RocksSpool::load_data(const std::string& id) {
  if (!is_valid_spool_id(id)) return make_error("invalid message id");
  return impl_->get(data_key(id), id);
}

Result<RecoveryReport> RocksSpool::recover() {
  auto access = impl_->db->access();
  if (!access) return make_error(kSpoolClosedError);
  auto report = recover_spool(*access, impl_->stats);
  if (report) {
    for (const auto& e : report->entries) impl_->counts->remember(e.id, e.envelope.recipients.size());
  }
  return report;
}

std::uint64_t RocksSpool::free_bytes() const {
  struct statvfs vfs {};
  if (::statvfs(impl_->db->path().c_str(), &vfs) != 0) return 0;  // unknown: behave as full (refuse, 452)
  return static_cast<std::uint64_t>(vfs.f_bavail) * static_cast<std::uint64_t>(vfs.f_frsize);
}

const SpoolStats& RocksSpool::stats() const { return impl_->stats; }

const SpoolStats* spool_stats(const Spool& spool) {
  const auto* rocks = dynamic_cast<const RocksSpool*>(&spool);
  return rocks ? &rocks->stats() : nullptr;
}

Result<std::unique_ptr<Spool>> open_rocks_spool(const RocksSpoolOptions& options) {
  auto spool = RocksSpool::open(options);
  if (!spool) return spool.error();
  return std::unique_ptr<Spool>(std::move(*spool));
}

}  // namespace mf::spool
