// tests/spool/spool_test_util.hpp — helpers shared by the spool tests: a temporary directory, a
// synchronous runner for awaitables, sample messages, field-by-field comparison, and a RocksDB file
// system that fails or slows writes on cue (in the spirit of LevelDB's fault-injection Env).
#pragma once

#include "spool/spool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace mf::spool::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailflow-spool-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& sub = "db") const { return (path_ / sub).string(); }

 private:
  std::filesystem::path path_;
};

// Runs `aw` on a fresh io_context and returns its result. io_context::run() must not return before
// the awaitable finished: the spool keeps outstanding work on the awaiting executor while a write is
// in flight, and this checks it.
template <class T>
T run_awaitable(boost::asio::awaitable<T> aw) {
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.run();
  if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ADD_FAILURE() << "io_context::run() returned before the operation completed (work not tracked)";
    future.wait();
  }
  return future.get();
}

inline Address addr(std::string_view text) { return Address::parse(text, /*allow_utf8=*/true).value(); }

// A message with every envelope and connection field set to something non-default.
inline StoredMessage full_message(std::string id, std::size_t recipients = 3) {
  StoredMessage m;
  m.id = std::move(id);
  m.received_at = 1700000000;
  m.envelope.sender = addr("Alice.Smith@Example.COM");
  const char* rcpts[] = {"bob@example.net", "\"odd local\\\"quote\"@example.org", "jöran@bücher.example",
                         "carol+tag@[192.0.2.7]"};
  const unsigned notify[] = {notify_success | notify_failure, notify_never, notify_delay, notify_none};
  for (std::size_t i = 0; i < recipients; ++i) {
    EnvelopeRecipient r;
    r.address = addr(rcpts[i % 4]);
    r.notify = notify[i % 4];
    r.orcpt = i % 2 == 0 ? "rfc822;" + r.address.str() : "";
    m.envelope.recipients.push_back(std::move(r));
  }
  m.envelope.body = BodyType::eight_bit_mime;
  m.envelope.smtputf8 = true;
  m.envelope.ret = "HDRS";
  m.envelope.envid = "env+2Bid\"quoted\"\\ ünï";
  m.envelope.declared_size = 12345;
  m.connection.listener = "inbound-25";
  m.connection.client_ip = "2001:db8::1";
  m.connection.client_port = 54321;
  m.connection.helo = "mx.example.net";
  m.connection.tls = true;
  m.connection.tls_version = "TLSv1.3";
  m.connection.tls_cipher = "TLS_AES_256_GCM_SHA384";
  m.connection.client_cert_verified = true;
  m.connection.client_cert_names = {"mx.example.net", "example.net"};
  m.connection.authenticated_user = "alice";
  using namespace std::string_literals;
  m.data = "Received: from mx.example.net\r\nSubject: hi\r\n\r\nbody line\r\n\x01\xff\x00 binary\r\n\0"s;
  return m;
}

// A small message with one recipient.
inline StoredMessage small_message(std::string id, std::string data = "Subject: x\r\n\r\nhello\r\n") {
  StoredMessage m;
  m.id = std::move(id);
  m.received_at = 1700000001;
  m.envelope.recipients.push_back({addr("rcpt@example.com"), notify_none, ""});
  m.data = std::move(data);
  return m;
}

inline void expect_same_envelope(const Envelope& got, const Envelope& want) {
  ASSERT_EQ(got.sender.has_value(), want.sender.has_value());
  if (want.sender) {
    EXPECT_EQ(got.sender->str(), want.sender->str());
  }
  ASSERT_EQ(got.recipients.size(), want.recipients.size());
  for (std::size_t i = 0; i < want.recipients.size(); ++i) {
    EXPECT_EQ(got.recipients[i].address, want.recipients[i].address) << i;
    EXPECT_EQ(got.recipients[i].notify, want.recipients[i].notify) << i;
    EXPECT_EQ(got.recipients[i].orcpt, want.recipients[i].orcpt) << i;
  }
  EXPECT_EQ(got.body, want.body);
  EXPECT_EQ(got.smtputf8, want.smtputf8);
  EXPECT_EQ(got.ret, want.ret);
  EXPECT_EQ(got.envid, want.envid);
  EXPECT_EQ(got.declared_size, want.declared_size);
}

inline void expect_same_connection(const ConnectionFacts& got, const ConnectionFacts& want) {
  EXPECT_EQ(got.listener, want.listener);
  EXPECT_EQ(got.client_ip, want.client_ip);
  EXPECT_EQ(got.client_port, want.client_port);
  EXPECT_EQ(got.helo, want.helo);
  EXPECT_EQ(got.tls, want.tls);
  EXPECT_EQ(got.tls_version, want.tls_version);
  EXPECT_EQ(got.tls_cipher, want.tls_cipher);
  EXPECT_EQ(got.client_cert_verified, want.client_cert_verified);
  EXPECT_EQ(got.client_cert_names, want.client_cert_names);
  EXPECT_EQ(got.authenticated_user, want.authenticated_user);
}

inline void expect_entry_matches(const SpoolEntry& got, const StoredMessage& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.received_at, want.received_at);
  EXPECT_EQ(got.size, want.data.size());
  expect_same_envelope(got.envelope, want.envelope);
  expect_same_connection(got.connection, want.connection);
}

// A file system whose writable files fail (Append/Sync/Fsync return IOError, or NoSpace) while
// `fail_writes` is set, and whose syncs take `sync_delay_ms` longer.
class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "MailflowFaultFs"; }
  const char* Name() const override { return kClassName(); }

  std::atomic<bool> fail_writes{false};
  std::atomic<bool> no_space{false};  // fail with ENOSPC rather than a plain I/O error
  std::atomic<int> sync_delay_ms{0};
  std::atomic<int> failures{0};
  std::atomic<int> syncs{0};  // Sync/Fsync calls on writable files (the WAL's among them)

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    auto st = target()->NewWritableFile(f, o, r, dbg);
    if (st.ok()) *r = std::make_unique<File>(std::move(*r), *this);
    return st;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    auto st = target()->ReopenWritableFile(f, o, r, dbg);
    if (st.ok()) *r = std::make_unique<File>(std::move(*r), *this);
    return st;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    auto st = target()->ReuseWritableFile(f, old, o, r, dbg);
    if (st.ok()) *r = std::make_unique<File>(std::move(*r), *this);
    return st;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, FaultFs& fs)
        : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_.fail_writes) return fs_.fault();
      return FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
      if (fs_.fail_writes) return fs_.fault();
      return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      ++fs_.syncs;
      fs_.delay();
      if (fs_.fail_writes) return fs_.fault();
      return FSWritableFileOwnerWrapper::Sync(o, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      ++fs_.syncs;
      fs_.delay();
      if (fs_.fail_writes) return fs_.fault();
      return FSWritableFileOwnerWrapper::Fsync(o, dbg);
    }

   private:
    FaultFs& fs_;
  };

  rocksdb::IOStatus fault() {
    ++failures;
    return no_space ? rocksdb::IOStatus::NoSpace("injected write fault") : rocksdb::IOStatus::IOError("injected write fault");
  }
  void delay() const {
    if (int ms = sync_delay_ms.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

// Every key and value of the database at `path` (opened read-only; the spool must be closed).
inline std::map<std::string, std::string> dump_db(const std::string& path) {
  std::map<std::string, std::string> out;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, &raw);
  if (!st.ok()) {
    ADD_FAILURE() << "cannot open " << path << ": " << st.ToString();
    return out;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out.emplace(it->key().ToString(), it->value().ToString());
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return out;
}

}  // namespace mf::spool::testing
