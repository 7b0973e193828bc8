#include "spool/db_handle.hpp"

#include "spool/record.hpp"

#include <spdlog/spdlog.h>

namespace mf::spool {

namespace {

Result<std::unique_ptr<rocksdb::DB>> open_db(const std::string& path, const rocksdb::Options& options) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(options, path, &raw);
  if (!st.ok()) return make_error("cannot open the spool at " + path + ": " + st.ToString());
  return std::unique_ptr<rocksdb::DB>(raw);
}

void close_db(std::unique_ptr<rocksdb::DB>& db) {
  if (!db) return;
  rocksdb::Status st = db->Close();
  // After a write failure Close() reports the sticky error; the handle is released all the same.
  if (!st.ok()) spdlog::warn("event=spool_close reason={}", log_quote(st.ToString()));
  db.reset();
}

}  // namespace

DbHandle::DbHandle(std::string path, rocksdb::Options options, std::unique_ptr<rocksdb::DB> db)
    : path_(std::move(path)), options_(std::move(options)), db_(std::move(db)) {}

DbHandle::~DbHandle() { close(); }

Result<std::unique_ptr<DbHandle>> DbHandle::open(std::string path, rocksdb::Options options) {
  auto db = open_db(path, options);
  if (!db) return db.error();
  return std::unique_ptr<DbHandle>(new DbHandle(std::move(path), std::move(options), std::move(*db)));
}

Result<void> DbHandle::recover_after_failure() {
  std::unique_lock lock(mutex_);
  if (db_) {
    rocksdb::Status resumed = db_->Resume();
    if (resumed.ok()) {
      spdlog::info("event=spool_resumed");
      return {};
    }
    spdlog::warn("event=spool_resume_failed reason={}", log_quote(resumed.ToString()));
    close_db(db_);
  }
  auto db = open_db(path_, options_);
  if (!db) {
    spdlog::error("event=spool_reopen_failed reason={}", log_quote(db.error().message));
    return db.error();
  }
  db_ = std::move(*db);
  spdlog::warn("event=spool_reopened path={}", log_quote(path_));
  return {};
}

void DbHandle::close() {
  std::unique_lock lock(mutex_);
  close_db(db_);
}

}  // namespace mf::spool
