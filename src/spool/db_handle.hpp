// spool/db_handle.hpp — internal: the spool's rocksdb::DB, shared by the readers and the writer
// thread, which can be reopened after a write failure RocksDB will not recover from by itself.
//
// Why: with paranoid checks, a failed WAL write (EIO) puts RocksDB into a "fatal" background error
// state in which every later write fails until the database is reopened; a full disk (ENOSPC) is a
// "hard" error that DB::Resume() clears once space is back. recover_after_failure() tries Resume()
// and then a close + open, so the spool heals by itself once the disk works again (no restart).
// A batch that failed may still be found in the WAL on reopen: the client got 451 for it, so the
// worst case is a duplicate delivery, never a loss.
//
// Threading: access() takes a shared lock (any thread, many at once); recover_after_failure() and
// close() take it exclusively. While the database is closed (a reopen failed), access() yields null
// and callers return an error.
#pragma once

#include "core/result.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace mf::spool {

class DbHandle {
 public:
  class Access {
   public:
    explicit Access(std::shared_mutex& m, rocksdb::DB* db) : lock_(m), db_(db) {}
    explicit operator bool() const { return db_ != nullptr; }
    rocksdb::DB& operator*() const { return *db_; }
    rocksdb::DB* operator->() const { return db_; }

   private:
    std::shared_lock<std::shared_mutex> lock_;
    rocksdb::DB* db_;
  };

  static Result<std::unique_ptr<DbHandle>> open(std::string path, rocksdb::Options options);
  ~DbHandle();

  Access access() { return Access(mutex_, db_.get()); }
  const std::string& path() const { return path_; }

  // After a failed write: Resume(), else close and reopen. Must not be called while the calling
  // thread holds an Access.
  Result<void> recover_after_failure();
  void close();

 private:
  DbHandle(std::string path, rocksdb::Options options, std::unique_ptr<rocksdb::DB> db);

  const std::string path_;
  const rocksdb::Options options_;
  std::shared_mutex mutex_;
  std::unique_ptr<rocksdb::DB> db_;  // GUARDED_BY(mutex_); null after a failed reopen
};

inline constexpr const char* kSpoolClosedError = "spool database is closed after a write failure";

}  // namespace mf::spool
