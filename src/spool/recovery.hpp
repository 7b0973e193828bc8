// spool/recovery.hpp — internal: the start-up scan behind RocksSpool::recover() (contract in
// rocks_spool.hpp). Not for use outside src/spool/.
#pragma once

#include "spool/spool.hpp"
#include "spool/stats.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
class Iterator;
}  // namespace rocksdb

namespace mf::spool {

// Verifies every "m/" record, quarantines the bad ones, cleans orphans, and returns the live entries
// sorted by id. Fails only when the database itself cannot be read or written.
Result<RecoveryReport> recover_spool(rocksdb::DB& db, SpoolStats& stats);

// Every key that starts with `prefix` (a point-in-time view).
Result<std::vector<std::string>> keys_with_prefix(rocksdb::DB& db, std::string_view prefix);

}  // namespace mf::spool
