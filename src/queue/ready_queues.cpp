// queue/ready_queues.cpp — see ready_queues.hpp.
#include "queue/ready_queues.hpp"

namespace mf::queue {

ReadyQueues::ReadyQueues(std::size_t max_per_hop, std::size_t connections_per_hop)
    : max_per_hop_(max_per_hop), connections_per_hop_(connections_per_hop) {}

void ReadyQueues::update(std::map<std::string, Hop>::iterator it) {
  const Hop& h = it->second;
  if (h.jobs.size() > h.connections && h.connections < connections_per_hop_)
    eligible_.insert(it->first);
  else
    eligible_.erase(it->first);
  if (h.jobs.empty() && h.connections == 0) hops_.erase(it);
}

bool ReadyQueues::push(Job job) {
  auto it = hops_.try_emplace(job.hop_key).first;
  if (it->second.jobs.size() >= max_per_hop_) {
    update(it);  // forgets the hop if it was just created (max_per_hop == 0)
    return false;
  }
  it->second.jobs.push_back(std::move(job));
  ++total_ready_;
  update(it);
  return true;
}

std::optional<std::string> ReadyQueues::start_connection() {
  if (eligible_.empty()) return std::nullopt;
  auto pick = eligible_.upper_bound(last_served_);
  if (pick == eligible_.end()) pick = eligible_.begin();
  std::string key = *pick;
  auto it = hops_.find(key);
  ++it->second.connections;
  last_served_ = key;
  update(it);
  return key;
}

std::optional<Job> ReadyQueues::next_job(const std::string& hop) {
  auto it = hops_.find(hop);
  if (it == hops_.end() || it->second.jobs.empty()) return std::nullopt;
  Job job = std::move(it->second.jobs.front());
  it->second.jobs.pop_front();
  --total_ready_;
  update(it);
  return job;
}

void ReadyQueues::connection_closed(const std::string& hop) {
  auto it = hops_.find(hop);
  if (it == hops_.end() || it->second.connections == 0) return;
  --it->second.connections;
  update(it);
}

std::size_t ReadyQueues::ready(const std::string& hop) const {
  auto it = hops_.find(hop);
  return it == hops_.end() ? 0 : it->second.jobs.size();
}

std::size_t ReadyQueues::connections(const std::string& hop) const {
  auto it = hops_.find(hop);
  return it == hops_.end() ? 0 : it->second.connections;
}

}  // namespace mf::queue
