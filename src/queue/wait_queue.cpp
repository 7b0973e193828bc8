// queue/wait_queue.cpp — see wait_queue.hpp.
#include "queue/wait_queue.hpp"

#include <algorithm>

namespace mf::queue {

void WaitQueue::push(Job job) {
  Key key{job.due, job.message_id, sequence_++};
  by_message_[job.message_id].push_back(key);
  jobs_.emplace(std::move(key), std::move(job));
}

std::vector<Job> WaitQueue::pop_due(SysTime now, std::size_t max) {
  std::vector<Job> out;
  while (out.size() < max && !jobs_.empty()) {
    auto it = jobs_.begin();
    if (std::get<0>(it->first) > now) break;
    auto idx = by_message_.find(std::get<1>(it->first));
    if (idx != by_message_.end()) {
      auto& keys = idx->second;
      keys.erase(std::remove(keys.begin(), keys.end(), it->first), keys.end());
      if (keys.empty()) by_message_.erase(idx);
    }
    out.push_back(std::move(it->second));
    jobs_.erase(it);
  }
  return out;
}

std::optional<SysTime> WaitQueue::next_due() const {
  if (jobs_.empty()) return std::nullopt;
  return std::get<0>(jobs_.begin()->first);
}

bool WaitQueue::remove_message(const std::string& message_id) {
  auto idx = by_message_.find(message_id);
  if (idx == by_message_.end()) return false;
  for (const auto& key : idx->second) jobs_.erase(key);
  by_message_.erase(idx);
  return true;
}

std::vector<Job> WaitQueue::take_message(const std::string& message_id) {
  std::vector<Job> out;
  auto idx = by_message_.find(message_id);
  if (idx == by_message_.end()) return out;
  for (const auto& key : idx->second) {
    auto it = jobs_.find(key);
    if (it == jobs_.end()) continue;
    out.push_back(std::move(it->second));
    jobs_.erase(it);
  }
  by_message_.erase(idx);
  return out;
}

std::vector<Job> WaitQueue::jobs() const {
  std::vector<Job> out;
  out.reserve(jobs_.size());
  for (const auto& [key, job] : jobs_) out.push_back(job);
  return out;
}

}  // namespace mf::queue
