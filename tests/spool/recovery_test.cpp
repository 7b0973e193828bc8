// Tests for RocksSpool::recover() (spool/recovery.cpp): corrupt entries written straight into
// RocksDB are quarantined with a reason, the good ones are recovered, nothing crashes
// (security catalogue F09), and a second recovery finds a clean spool.
#include "spool/rocks_spool.hpp"

#include "spool/crc32c.hpp"
#include "spool/record.hpp"
#include "spool_test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include <functional>

namespace mf::spool {
namespace {

using namespace testing;
using nlohmann::json;

// Writes raw records with a plain rocksdb::DB handle (the spool must be closed).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    rocksdb::Options options;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status st = rocksdb::DB::Open(options, path, &raw);
    EXPECT_TRUE(st.ok()) << st.ToString();
    db_.reset(raw);
  }
  void put(const std::string& key, const std::string& value) {
    rocksdb::WriteOptions w;
    w.sync = true;
    ASSERT_TRUE(db_->Put(w, key, value).ok());
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
};

std::string record_for(const StoredMessage& msg) { return encode_envelope(msg, msg.data.size(), crc32c(msg.data)); }

struct BadEntry {
  std::string id;
  std::function<void(RawDb&, const std::string& id)> write;
  std::string reason;  // expected in the quarantine record
};

TEST(RecoveryTest, CorruptEntriesAreQuarantinedAndGoodOnesRecovered) {  // security catalogue F09
  TempDir dir;
  const StoredMessage good1 = full_message("GOOD1", 3);
  const StoredMessage good2 = small_message("GOOD2");
  {
    auto spool = RocksSpool::open({dir.str()}).value();
    ASSERT_TRUE(run_awaitable(spool->commit(good1)));
    ASSERT_TRUE(run_awaitable(spool->commit(good2)));
    ASSERT_TRUE(run_awaitable(spool->mark_done("GOOD1", {1}, "250 ok")));
  }

  const std::vector<BadEntry> bad = {
      {"GARBAGE", [](RawDb& db, const std::string& id) { db.put("m/" + id, std::string("\x00\xff{not json", 11)); },
       "not valid JSON"},
      {"NODATA", [](RawDb& db, const std::string& id) { db.put("m/" + id, record_for(small_message(id))); },
       "message data missing"},
      {"CRCBAD",
       [](RawDb& db, const std::string& id) {
         StoredMessage m = small_message(id);
         db.put("m/" + id, record_for(m));
         m.data[3] ^= 0x01;  // same size, one bit flipped
         db.put("d/" + id, m.data);
         db.put("r/" + id + "/0", "a mark that must go with it");
       },
       "CRC-32C mismatch"},
      {"TRUNCATED",
       [](RawDb& db, const std::string& id) {
         StoredMessage m = small_message(id);
         const std::string rec = record_for(m);
         db.put("m/" + id, rec.substr(0, rec.size() / 2));
         db.put("d/" + id, m.data);
       },
       "not valid JSON"},
      {"SHORTDATA",
       [](RawDb& db, const std::string& id) {
         StoredMessage m = small_message(id);
         db.put("m/" + id, record_for(m));
         db.put("d/" + id, m.data.substr(0, 4));
       },
       "the record says"},
      {"VERSION9",
       [](RawDb& db, const std::string& id) {
         StoredMessage m = small_message(id);
         json j = json::parse(record_for(m));
         j["v"] = 9;
         db.put("m/" + id, j.dump());
         db.put("d/" + id, m.data);
       },
       "unknown record version 9"},
      {"WRONGID",
       [](RawDb& db, const std::string& id) {
         StoredMessage m = small_message("SOMEONEELSE");
         db.put("m/" + id, record_for(m));
         db.put("d/" + id, m.data);
       },
       "does not match"},
      {"../../etc", [](RawDb& db, const std::string& id) { db.put("m/" + id, record_for(small_message("x"))); },
       "invalid message id"},
      {"ORPHANDATA", [](RawDb& db, const std::string& id) { db.put("d/" + id, "bytes without an envelope"); },
       "without an envelope record"},
  };
  {
    RawDb raw(dir.str());
    for (const auto& b : bad) b.write(raw, b.id);
    raw.put("r/VANISHED/0", "mark of a message that is gone");
    raw.put("r/GOOD1/7", "index out of range");
    raw.put("r/GOOD1/x", "not a number");
  }

  {
    auto spool = RocksSpool::open({dir.str()}).value();
    auto report = spool->recover();  // must not throw or abort
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->quarantined, bad.size());
    EXPECT_EQ(spool->stats().quarantined.load(), bad.size());
    ASSERT_EQ(report->entries.size(), 2u);
    expect_entry_matches(report->entries[0], good1);
    EXPECT_EQ(report->entries[0].done, (std::vector<bool>{false, true, false}));
    expect_entry_matches(report->entries[1], good2);
    EXPECT_EQ(spool->load_data("GOOD1").value(), good1.data);
    for (const auto& b : bad) EXPECT_FALSE(spool->load_data(b.id)) << b.id;

    // Idempotent: the second pass finds a clean spool.
    auto again = spool->recover();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->quarantined, 0u);
    EXPECT_EQ(again->entries.size(), 2u);
  }

  const auto keys = dump_db(dir.str());
  for (const auto& b : bad) {
    auto q = keys.find("q/" + b.id);
    ASSERT_NE(q, keys.end()) << "not quarantined: " << b.id;
    json record = json::parse(q->second);
    EXPECT_NE(record["reason"].get<std::string>().find(b.reason), std::string::npos)
        << b.id << ": " << record["reason"];
    for (const char* prefix : {"m/", "d/"}) EXPECT_EQ(keys.count(prefix + b.id), 0u) << prefix << b.id;
    EXPECT_EQ(keys.count("r/" + b.id + "/0"), 0u) << b.id;
  }
  // The raw record is kept for the operator (hex when it is not text).
  EXPECT_EQ(json::parse(keys.at("q/GARBAGE"))["record_hex"], "00ff7b6e6f74206a736f6e");
  EXPECT_EQ(json::parse(keys.at("q/TRUNCATED"))["record"].get<std::string>().size(),
            record_for(small_message("TRUNCATED")).size() / 2);
  // Stale marks are gone; the good marks stay.
  EXPECT_EQ(keys.count("r/VANISHED/0"), 0u);
  EXPECT_EQ(keys.count("r/GOOD1/7"), 0u);
  EXPECT_EQ(keys.count("r/GOOD1/x"), 0u);
  EXPECT_EQ(keys.count("r/GOOD1/1"), 1u);
}

TEST(RecoveryTest, EmptySpoolRecoversNothing) {
  TempDir dir;
  auto spool = RocksSpool::open({dir.str()}).value();
  auto report = spool->recover();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->entries.empty());
  EXPECT_EQ(report->quarantined, 0u);
}

TEST(RecoveryTest, EntriesComeBackSortedById) {
  TempDir dir;
  const std::vector<std::string> ids = {"C3", "A1", "B2", "A0"};
  {
    auto spool = RocksSpool::open({dir.str()}).value();
    for (const auto& id : ids) ASSERT_TRUE(run_awaitable(spool->commit(small_message(id))));
  }
  auto spool = RocksSpool::open({dir.str()}).value();
  auto report = spool->recover();
  ASSERT_TRUE(report);
  std::vector<std::string> got;
  for (const auto& e : report->entries) got.push_back(e.id);
  EXPECT_EQ(got, (std::vector<std::string>{"A0", "A1", "B2", "C3"}));
}

}  // namespace
}  // namespace mf::spool
