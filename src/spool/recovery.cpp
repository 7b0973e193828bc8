#include "spool/recovery.hpp"

#include "spool/crc32c.hpp"
#include "spool/record.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <optional>
#include <unordered_set>

namespace mf::spool {

namespace {

// Iterates the keys starting with `prefix` (all prefixes used here end in '/', so the upper bound
// is the prefix with that '/' replaced by '0', the next byte).
class PrefixScan {
 public:
  PrefixScan(rocksdb::DB& db, std::string_view prefix) : prefix_(prefix), upper_(prefix) {
    upper_.back() = static_cast<char>(upper_.back() + 1);
    upper_slice_ = rocksdb::Slice(upper_);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper_slice_;
    options.fill_cache = false;  // a one-off scan must not evict the working set
    it_.reset(db.NewIterator(options));
    it_->Seek(prefix_);
  }
  bool valid() const { return it_->Valid(); }
  void next() { it_->Next(); }
  std::string_view key() const { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const { return {it_->value().data(), it_->value().size()}; }
  std::string_view suffix() const { return key().substr(prefix_.size()); }
  rocksdb::Status status() const { return it_->status(); }

 private:
  std::string prefix_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

Result<void> write_synced(rocksdb::DB& db, rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions options;
  options.sync = true;
  rocksdb::Status st = db.Write(options, &batch);
  if (!st.ok()) return make_error("spool write failed: " + st.ToString());
  return {};
}

// Moves the entry `id` to "q/" id (with `reason` and the raw "m/" value) and deletes its "m/", "d/"
// and "r/" keys, in one synced batch.
Result<void> quarantine(rocksdb::DB& db, SpoolStats& stats, RecoveryReport& report, std::string_view id,
                        std::string_view reason, std::string_view raw_record) {
  auto marks = keys_with_prefix(db, done_prefix(id));
  if (!marks) return marks.error();
  rocksdb::WriteBatch batch;
  batch.Put(quarantine_key(id), encode_quarantine(reason, raw_record));
  batch.Delete(envelope_key(id));
  batch.Delete(data_key(id));
  for (const auto& key : *marks) batch.Delete(key);
  if (auto r = write_synced(db, batch); !r) return r;
  ++report.quarantined;
  stats.quarantined.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("event=spool_quarantine id={} reason={}", log_quote(id), log_quote(reason));
  return {};
}

std::optional<std::size_t> parse_index(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

enum class Verdict { live, bad, io_error };

// Checks one "m/" record and its "d/" record. On `bad`/`io_error`, `reason` says why.
Verdict verify(rocksdb::DB& db, std::string_view id, std::string_view raw, SpoolEntry& entry, std::string& reason) {
  if (!is_valid_spool_id(id)) {
    reason = "invalid message id in the record key";
    return Verdict::bad;
  }
  auto decoded = decode_envelope(raw, id);
  if (!decoded) {
    reason = decoded.error().message;
    return Verdict::bad;
  }
  rocksdb::PinnableSlice data;
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  rocksdb::Status st = db.Get(options, db.DefaultColumnFamily(), data_key(id), &data);
  if (st.IsNotFound()) {
    reason = "message data missing";
    return Verdict::bad;
  }
  if (st.IsCorruption()) {
    reason = "message data unreadable: " + st.ToString();
    return Verdict::bad;
  }
  if (!st.ok()) {
    reason = "cannot read message data: " + st.ToString();
    return Verdict::io_error;
  }
  if (data.size() != decoded->entry.size) {
    reason = "message data is " + std::to_string(data.size()) + " octets, the record says " +
             std::to_string(decoded->entry.size);
    return Verdict::bad;
  }
  if (crc32c(std::string_view(data.data(), data.size())) != decoded->crc32c) {
    reason = "message data CRC-32C mismatch";
    return Verdict::bad;
  }
  entry = std::move(decoded->entry);
  return Verdict::live;
}

}  // namespace

Result<std::vector<std::string>> keys_with_prefix(rocksdb::DB& db, std::string_view prefix) {
  std::vector<std::string> keys;
  PrefixScan scan(db, prefix);
  for (; scan.valid(); scan.next()) keys.emplace_back(scan.key());
  if (!scan.status().ok()) return make_error("spool scan failed: " + scan.status().ToString());
  return keys;
}

Result<RecoveryReport> recover_spool(rocksdb::DB& db, SpoolStats& stats) {
  RecoveryReport report;
  std::unordered_set<std::string> live;       // ids of the entries returned
  std::unordered_set<std::string> envelopes;  // ids that had an "m/" record (live or quarantined)
  std::vector<std::string> stale;             // "r/" keys to delete

  PrefixScan scan(db, "m/");
  for (; scan.valid(); scan.next()) {
    const std::string id(scan.suffix());
    envelopes.insert(id);
    SpoolEntry entry;
    std::string reason;
    switch (verify(db, id, scan.value(), entry, reason)) {
      case Verdict::io_error:
        return make_error(reason);
      case Verdict::bad:
        if (auto r = quarantine(db, stats, report, id, reason, scan.value()); !r) return r.error();
        continue;
      case Verdict::live:
        break;
    }
    entry.done.assign(entry.envelope.recipients.size(), false);
    PrefixScan marks(db, done_prefix(id));
    for (; marks.valid(); marks.next()) {
      auto index = parse_index(marks.suffix());
      if (index && *index < entry.done.size()) {
        entry.done[*index] = true;
      } else {
        stale.emplace_back(marks.key());
      }
    }
    if (!marks.status().ok()) return make_error("spool scan failed: " + marks.status().ToString());
    live.insert(id);
    report.entries.push_back(std::move(entry));
  }
  if (!scan.status().ok()) return make_error("spool scan failed: " + scan.status().ToString());

  // Message bytes whose envelope record is gone: not a message any more, but kept (as a reason) in
  // quarantine rather than dropped silently.
  PrefixScan data(db, "d/");
  for (; data.valid(); data.next()) {
    const std::string id(data.suffix());
    if (envelopes.count(id) != 0) continue;
    if (auto r = quarantine(db, stats, report, id, "message data without an envelope record", ""); !r) {
      return r.error();
    }
  }
  if (!data.status().ok()) return make_error("spool scan failed: " + data.status().ToString());

  // Done marks of messages that no longer exist (a mark racing a remove): bookkeeping only.
  PrefixScan marks(db, "r/");
  for (; marks.valid(); marks.next()) {
    std::string_view rest = marks.suffix();
    const std::string id(rest.substr(0, rest.find('/')));
    if (live.count(id) == 0) stale.emplace_back(marks.key());
  }
  if (!marks.status().ok()) return make_error("spool scan failed: " + marks.status().ToString());
  if (!stale.empty()) {
    rocksdb::WriteBatch batch;
    for (const auto& key : stale) batch.Delete(key);
    if (auto r = write_synced(db, batch); !r) return r.error();
    spdlog::info("event=spool_cleanup stale_marks={}", stale.size());
  }
  return report;
}

}  // namespace mf::spool
