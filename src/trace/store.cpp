// trace/store.cpp — the SQLite message trace store (see store.hpp).
#include "trace/store.hpp"

#include "util/log.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace mf::trace {

Sink& null_sink() {
  static NullSink sink;
  return sink;
}

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  type TEXT NOT NULL,
  message_id TEXT NOT NULL,
  copy_id TEXT NOT NULL,
  internet_message_id TEXT NOT NULL,
  organization TEXT NOT NULL,
  sender TEXT NOT NULL COLLATE NOCASE,
  recipient TEXT NOT NULL COLLATE NOCASE,
  connector TEXT NOT NULL,
  next_hop TEXT NOT NULL,
  remote_host TEXT NOT NULL,
  reply TEXT NOT NULL,
  tls TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events(time_us);
CREATE INDEX IF NOT EXISTS events_message ON events(message_id);
CREATE INDEX IF NOT EXISTS events_imid ON events(internet_message_id);
CREATE INDEX IF NOT EXISTS events_sender ON events(sender, time_us);
CREATE INDEX IF NOT EXISTS events_recipient ON events(recipient, time_us);
)";

constexpr const char* kInsert =
    "INSERT INTO events(time_us, type, message_id, copy_id, internet_message_id, organization, sender, recipient, "
    "connector, next_hop, remote_host, reply, tls, detail) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

// Owns one sqlite3 connection.
struct Db {
  sqlite3* db = nullptr;
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
  std::string error() const { return db != nullptr ? sqlite3_errmsg(db) : "out of memory"; }
  bool exec(const char* sql, std::string& err) const {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
    err = msg != nullptr ? msg : error();
    sqlite3_free(msg);
    return false;
  }
};

// Owns one prepared statement.
struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(st); }
  bool prepare(sqlite3* db, const std::string& sql) { return sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK; }
  void text(int i, const std::string& s) { sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC); }
  std::string column(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
  }
};

// Opens one connection and applies the per-connection settings.
Result<std::unique_ptr<Db>> connect(const std::string& path) {
  auto db = std::make_unique<Db>();
  const int rc = sqlite3_open_v2(path.c_str(), &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) return make_error("cannot open the trace store " + path + ": " + db->error());
  sqlite3_busy_timeout(db->db, 5000);
  std::string err;
  // WAL lets query() read while the writer writes; NORMAL syncs at checkpoints only (see store.hpp).
  if (!db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err)) {
    return make_error("cannot open the trace store " + path + ": " + err +
                      " (not a trace database? move it away; the trace is not needed for delivery)");
  }
  if (sqlite3_db_readonly(db->db, "main") == 1) {
    return make_error("cannot open the trace store " + path + ": the file is not writable");
  }
  return db;
}

std::string strip_angles(std::string s) {
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

struct Store::Impl {
  StoreOptions options;
  const Clock* clock = nullptr;
  std::unique_ptr<Db> writer_db;  // used under write_mutex
  std::unique_ptr<Db> reader_db;  // used under read_mutex
  Stmt insert;                    // on writer_db
  std::mutex write_mutex;
  std::mutex read_mutex;

  mutable std::mutex mutex;           // guards everything below
  std::condition_variable wake;       // the writer waits on it
  std::condition_variable progress;   // flush() waits on it
  std::vector<Event> buffer;          // GUARDED_BY(mutex)
  std::size_t in_flight = 0;          // GUARDED_BY(mutex): the batch being written
  std::size_t trigger = 1;            // a batch is started at once from this many buffered events
  std::size_t flush_waiters = 0;      // GUARDED_BY(mutex)
  std::uint64_t recorded = 0, done = 0, written = 0, dropped = 0, write_errors = 0, purged = 0;  // GUARDED_BY(mutex)
  bool stopping = false;              // GUARDED_BY(mutex)
  bool closed = false;                // GUARDED_BY(mutex)
  std::thread thread;
  std::once_flag started;

  void start() {
    std::call_once(started, [this] { thread = std::thread([this] { run(); }); });
  }
  void run();
  void write_batch(std::vector<Event>& batch);
  Result<std::uint64_t> purge();
};

void Store::Impl::write_batch(std::vector<Event>& batch) {
  std::lock_guard wl(write_mutex);
  std::string err;
  bool ok = writer_db->exec("BEGIN", err);
  for (std::size_t i = 0; ok && i < batch.size(); ++i) {
    const Event& e = batch[i];
    sqlite3_stmt* st = insert.st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, e.time_us);
    sqlite3_bind_text(st, 2, to_string(e.type), -1, SQLITE_STATIC);
    insert.text(3, e.message_id);
    insert.text(4, e.copy_id);
    insert.text(5, e.internet_message_id);
    insert.text(6, e.organization);
    insert.text(7, e.sender);
    insert.text(8, e.recipient);
    insert.text(9, e.connector);
    insert.text(10, e.next_hop);
    insert.text(11, e.remote_host);
    insert.text(12, e.reply);
    insert.text(13, e.tls);
    insert.text(14, e.detail);
    if (sqlite3_step(st) != SQLITE_DONE) {
      ok = false;
      err = writer_db->error();
    }
  }
  sqlite3_reset(insert.st);
  sqlite3_clear_bindings(insert.st);  // the bound texts point into `batch`
  if (ok) ok = writer_db->exec("COMMIT", err);
  if (!ok) {
    std::string ignored;
    writer_db->exec("ROLLBACK", ignored);
    spdlog::error("event=trace_write_error events={} {}", batch.size(), mf::log::kv("reason", err));
  }
  std::lock_guard lock(mutex);
  (ok ? written : write_errors) += batch.size();
  done += batch.size();
}

Result<std::uint64_t> Store::Impl::purge() {
  const std::int64_t cutoff = unix_us(clock->now() - options.retention);
  std::lock_guard wl(write_mutex);
  Stmt st;
  if (!st.prepare(writer_db->db, "DELETE FROM events WHERE time_us < ?")) {
    return make_error("trace retention: " + writer_db->error());
  }
  sqlite3_bind_int64(st.st, 1, cutoff);
  if (sqlite3_step(st.st) != SQLITE_DONE) return make_error("trace retention: " + writer_db->error());
  const auto n = static_cast<std::uint64_t>(sqlite3_changes(writer_db->db));
  std::lock_guard lock(mutex);
  purged += n;
  return n;
}

void Store::Impl::run() {
  std::vector<Event> batch;
  auto next_purge = std::chrono::steady_clock::now() + options.purge_interval;
  std::unique_lock lock(mutex);
  while (true) {
    // Sleep until enough events for a batch, a flush() or close() wants them, or the batch delay
    // passed; record() wakes us only at `trigger`, so a busy service pays no wake-up per event.
    wake.wait_for(lock, options.batch_delay, [&] {
      return stopping || (!buffer.empty() && (flush_waiters > 0 || buffer.size() >= trigger));
    });
    if (!buffer.empty()) {
      batch.clear();
      batch.swap(buffer);  // the buffer gets the old batch's capacity back
      in_flight = batch.size();
      lock.unlock();
      write_batch(batch);
      lock.lock();
      in_flight = 0;
      progress.notify_all();
      continue;  // drain before stopping or purging
    }
    if (stopping) return;
    if (std::chrono::steady_clock::now() >= next_purge) {
      lock.unlock();
      if (auto r = purge(); !r) spdlog::error("event=trace_purge_error {}", mf::log::kv("reason", r.error().message));
      next_purge = std::chrono::steady_clock::now() + options.purge_interval;
      lock.lock();
    }
  }
}

Result<std::unique_ptr<Store>> Store::open(StoreOptions options) {
  if (options.buffer_events == 0) options.buffer_events = 1;
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock != nullptr ? options.clock : &system_clock();
  impl->trigger = std::clamp<std::size_t>(options.buffer_events / 2, 1, 4096);
  impl->options = std::move(options);
  const std::string& path = impl->options.path;

  auto w = connect(path);
  if (!w) return w.error();
  impl->writer_db = std::move(*w);
  Db& db = *impl->writer_db;
  std::string err;
  int version = 0;
  {
    Stmt st;
    if (!st.prepare(db.db, "PRAGMA user_version") || sqlite3_step(st.st) != SQLITE_ROW) {
      return make_error("cannot open the trace store " + path + ": " + db.error());
    }
    version = sqlite3_column_int(st.st, 0);
  }
  if (version > kSchemaVersion) {
    return make_error("cannot open the trace store " + path + ": schema version " + std::to_string(version) +
                      " was written by a newer mailflow");
  }
  if (!db.exec(kSchema, err) || !db.exec("PRAGMA user_version=1", err)) {
    return make_error("cannot open the trace store " + path + ": " + err);
  }
  if (!impl->insert.prepare(db.db, kInsert)) {
    return make_error("cannot open the trace store " + path + ": " + db.error());
  }
  auto r = connect(path);
  if (!r) return r.error();
  impl->reader_db = std::move(*r);
  if (auto purged = impl->purge(); !purged) return purged.error();
  impl->buffer.reserve(std::min<std::size_t>(impl->options.buffer_events, 4096));
  if (!impl->options.start_paused) impl->start();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() { close(); }

void Store::record(Event e) {
  if (e.time_us == 0) e.time_us = unix_us(impl_->clock->now());
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.stopping || s.buffer.size() >= s.options.buffer_events) {
    ++s.dropped;
    return;
  }
  s.buffer.push_back(std::move(e));
  ++s.recorded;
  if (s.buffer.size() == s.trigger) s.wake.notify_one();
}

void Store::flush() {
  Impl& s = *impl_;
  s.start();
  std::unique_lock lock(s.mutex);
  const std::uint64_t target = s.recorded;
  if (s.done >= target || s.closed) return;
  ++s.flush_waiters;
  s.wake.notify_one();
  s.progress.wait(lock, [&] { return s.done >= target || s.closed; });
  --s.flush_waiters;
}

Result<std::vector<Event>> Store::query(const Query& q) {
  flush();
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.closed) return make_error("the trace store is closed");
  }
  std::string sql =
      "SELECT time_us, type, message_id, copy_id, internet_message_id, organization, sender, recipient, connector, "
      "next_hop, remote_host, reply, tls, detail FROM events WHERE 1";
  std::vector<std::string> args;
  if (q.since_us > 0) sql += " AND time_us >= " + std::to_string(q.since_us);
  if (!q.sender.empty()) {
    sql += " AND sender = ?";
    args.push_back(q.sender);
  }
  if (!q.recipient.empty()) {
    sql += " AND (recipient = ? OR (recipient = '' AND message_id IN (SELECT message_id FROM events WHERE recipient = ?)))";
    args.push_back(q.recipient);
    args.push_back(q.recipient);
  }
  if (!q.message_id.empty()) {
    const std::string id = strip_angles(q.message_id);
    sql += " AND (message_id = ? OR message_id IN (SELECT message_id FROM events WHERE internet_message_id = ?))";
    args.push_back(id);
    args.push_back(id);
  }
  sql += " ORDER BY time_us, id LIMIT " + std::to_string(std::min<std::size_t>(q.limit, INT64_MAX));

  std::lock_guard rl(s.read_mutex);
  Stmt st;
  if (!st.prepare(s.reader_db->db, sql)) return make_error("trace query: " + s.reader_db->error());
  for (std::size_t i = 0; i < args.size(); ++i) st.text(static_cast<int>(i + 1), args[i]);
  std::vector<Event> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st.st)) == SQLITE_ROW) {
    Event e;
    e.time_us = sqlite3_column_int64(st.st, 0);
    e.type = event_type_from_string(st.column(1)).value_or(EventType::RECEIVE);
    e.message_id = st.column(2);
    e.copy_id = st.column(3);
    e.internet_message_id = st.column(4);
    e.organization = st.column(5);
    e.sender = st.column(6);
    e.recipient = st.column(7);
    e.connector = st.column(8);
    e.next_hop = st.column(9);
    e.remote_host = st.column(10);
    e.reply = st.column(11);
    e.tls = st.column(12);
    e.detail = st.column(13);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return make_error("trace query: " + s.reader_db->error());
  return out;
}

Result<std::uint64_t> Store::purge_expired() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->closed) return make_error("the trace store is closed");
  }
  return impl_->purge();
}

StoreStats Store::stats() const {
  std::lock_guard lock(impl_->mutex);
  const Impl& s = *impl_;
  return StoreStats{s.recorded, s.written, s.dropped, s.buffer.size() + s.in_flight, s.write_errors, s.purged};
}

void Store::close() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.closed || s.stopping) return;
    s.stopping = true;
  }
  s.start();
  s.wake.notify_one();
  if (s.thread.joinable()) s.thread.join();  // the writer drains the buffer before it returns
  {
    std::lock_guard lock(s.mutex);
    s.closed = true;
  }
  s.progress.notify_all();
  std::lock_guard wl(s.write_mutex);
  std::lock_guard rl(s.read_mutex);
  sqlite3_finalize(s.insert.st);
  s.insert.st = nullptr;
  s.writer_db.reset();
  s.reader_db.reset();
}

}  // namespace mf::trace
