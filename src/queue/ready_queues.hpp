// queue/ready_queues.hpp — per-next-hop queues of jobs that are due, with connection limits.
//
// Each hop (routing::NextHop::key()) has a FIFO of at most max_per_hop ready jobs and at most
// connections_per_hop connection slots. A connection is opened on demand: start_connection() picks a
// hop that has more ready jobs than connections (so a backlog opens more connections, up to the
// limit, and one job does not open twenty) and reserves a slot; the connection then calls
// next_job(hop) until it returns nullopt (connection reuse) and calls connection_closed(hop).
// Fairness: start_connection() goes round robin over the eligible hops in key order, continuing
// after the hop it served last, so one busy hop cannot starve the others.
// Complexity: O(log h) per call (h = hops with jobs or connections); hops with neither are
// forgotten. Not thread-safe (see queue.hpp).
#pragma once

#include "queue/job.hpp"

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace mf::queue {

class ReadyQueues {
 public:
  explicit ReadyQueues(std::size_t max_per_hop = 10000, std::size_t connections_per_hop = 20);

  // false when that hop's queue is full (the caller keeps the job waiting, e.g. re-pushes it to the
  // WaitQueue 1s later, as KumoMTA delays when max_ready is reached).
  bool push(Job job);
  // A hop that has ready jobs and a free connection slot: reserves a slot and returns the hop key.
  std::optional<std::string> start_connection();
  // The next job for a connection of that hop, oldest first; nullopt when none is left.
  std::optional<Job> next_job(const std::string& hop);
  // Frees the slot reserved by start_connection() (ignored when the hop has no connection).
  void connection_closed(const std::string& hop);

  std::size_t ready(const std::string& hop) const;
  std::size_t connections(const std::string& hop) const;
  std::size_t total_ready() const { return total_ready_; }

 private:
  struct Hop {
    std::deque<Job> jobs;
    std::size_t connections = 0;
  };
  // Re-derives whether `it` is eligible for a new connection; forgets idle hops.
  void update(std::map<std::string, Hop>::iterator it);

  std::size_t max_per_hop_;
  std::size_t connections_per_hop_;
  std::map<std::string, Hop> hops_;
  std::set<std::string> eligible_;  // hops with jobs > connections and connections < limit
  std::string last_served_;         // round-robin cursor
  std::size_t total_ready_ = 0;
};

}  // namespace mf::queue
