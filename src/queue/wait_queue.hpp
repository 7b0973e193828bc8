// queue/wait_queue.hpp — jobs waiting for their next attempt, ordered by due time.
//
// Ordered by (due, message id, insertion order); push, pop and remove are O(log n) (remove: per job
// of the message). Equivalent to KumoMTA's SkipList scheduled-queue strategy: the owner sleeps until
// next_due() and then calls pop_due(). Not thread-safe (see queue.hpp).
#pragma once

#include "queue/job.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace mf::queue {

class WaitQueue {
 public:
  void push(Job job);
  // Removes and returns the jobs with due <= now, earliest first, at most `max` of them.
  std::vector<Job> pop_due(SysTime now, std::size_t max = SIZE_MAX);
  // The earliest due time, or nullopt when empty.
  std::optional<SysTime> next_due() const;
  std::size_t size() const { return jobs_.size(); }
  bool empty() const { return jobs_.empty(); }
  // Drops every job of the message (e.g. deleted by an administrator); false when it had none.
  bool remove_message(const std::string& message_id);
  // Removes and returns every job of the message (to hold it, or to make it due now).
  std::vector<Job> take_message(const std::string& message_id);
  bool contains(const std::string& message_id) const { return by_message_.contains(message_id); }
  // Copies of every waiting job, earliest due first (queue listings).
  std::vector<Job> jobs() const;

 private:
  using Key = std::tuple<SysTime, std::string, std::uint64_t>;  // due, message id, sequence
  std::map<Key, Job> jobs_;
  std::unordered_map<std::string, std::vector<Key>> by_message_;
  std::uint64_t sequence_ = 0;
};

}  // namespace mf::queue
