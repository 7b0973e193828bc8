// server/held.hpp — which messages an administrator has put on hold (`mailflow queue hold`), kept
// across restarts as empty marker files <data_dir>/held/<message id>.
//
// Postfix's hold survives a restart (the message moves to the hold queue); so does ours: add() makes
// the marker durable (file and directory fsync'd) before it returns, and the server re-applies the
// holds at start-up before recovered messages are scheduled. A marker for a message that no longer
// exists is harmless and removed by the next release/delete. Only valid message ids are accepted
// (core/message_id.hpp), so an id can never name a path outside the folder.
// Thread-safe: one mutex around the in-memory set; file operations are synchronous and short.
#pragma once

#include "core/result.hpp"

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace mf::server {

class HeldMessages {
 public:
  // Opens (creating) the folder and reads the markers in it.
  static Result<std::unique_ptr<HeldMessages>> open(const std::string& directory);

  Result<void> add(const std::string& id);     // idempotent
  Result<void> remove(const std::string& id);  // idempotent
  bool contains(const std::string& id) const;
  // Drops the markers of messages not in `live` (delivered while held, or deleted): start-up
  // calls it with the recovered spool, so markers never pile up.
  void retain(const std::set<std::string>& live);
  std::vector<std::string> ids() const;

 private:
  explicit HeldMessages(std::string directory, std::set<std::string> ids);
  std::string dir_;
  mutable std::mutex mu_;
  std::set<std::string> ids_;
};

}  // namespace mf::server
