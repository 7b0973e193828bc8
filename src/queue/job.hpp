// queue/job.hpp — a delivery job: some recipients of one spooled message that share a next hop.
#pragma once

#include "core/clock.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace mf::queue {

struct Job {
  std::string message_id;               // spool id of the message
  std::string hop_key;                  // routing::NextHop::key()
  std::vector<std::size_t> recipients;  // indexes into the message's envelope recipients
  std::size_t attempts = 0;             // delivery attempts done so far
  SysTime received_at;                  // when the message was accepted (expiry is counted from it)
  SysTime due;                          // when the next attempt may start
};

}  // namespace mf::queue
