// delivery/outbound_queue.cpp — queue control of the outbound engine (the admin API, `mailflow
// queue`): list, retry, hold, release and delete, each run on the engine's executor while the
// caller's thread waits (see outbound.hpp).
#include "delivery/outbound_impl.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <stdexcept>

namespace mf::delivery {

using mf::log::kv;

std::vector<std::string> OutboundEngine::Impl::keys_of(const std::string& message_id) const {
  std::vector<std::string> out;
  for (const auto& [key, w] : work) {
    if (w.message_id == message_id) out.push_back(key);
  }
  return out;
}

// Runs f on the engine's executor and waits for its result (admin calls come from another thread).
// The task is shared with the handler: when the engine never runs it (stopped, or destroyed with the
// handler queued) the caller gets an exception instead of waiting forever, and a late run touches
// nothing of the caller's.
template <typename F>
auto OutboundEngine::Impl::on_engine(F f) -> decltype(f()) {
  auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
  auto result = task->get_future();
  asio::post(executor, [task] { (*task)(); });
  if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    throw std::runtime_error("the delivery engine did not answer within 30 s");
  }
  return result.get();
}

std::vector<QueueEntry> OutboundEngine::queue_entries() {
  return impl_->on_engine([impl = impl_.get()] {
    std::vector<QueueEntry> out;
    std::set<std::string> seen;
    auto entry = [&](const std::string& key, const queue::Job* job, bool held) {
      auto it = impl->work.find(key);
      if (it == impl->work.end()) return;
      const OutboundWork& w = it->second;
      QueueEntry e;
      e.message_id = w.message_id;
      e.sender = w.envelope.sender ? w.envelope.sender->str() : std::string();
      e.received_at = w.received_at;
      e.organization = w.trace_info.organization;
      e.size = w.size;
      e.hop = w.hop;
      e.hop_key = job != nullptr ? job->hop_key : w.hop.key();
      for (const auto& r : w.recipients) e.recipients.push_back(r.address);
      if (job != nullptr) {
        e.attempts = job->attempts;
        if (!held) e.due = job->due;
      }
      e.held = held;
      e.active = job == nullptr;
      if (auto le = impl->last_error.find(key); le != impl->last_error.end()) e.last_error = le->second;
      seen.insert(key);
      out.push_back(std::move(e));
    };
    for (const auto& job : impl->waiting.jobs()) entry(job.message_id, &job, false);
    for (const auto& [key, job] : impl->held_jobs) entry(key, &job, true);
    for (const auto& [key, w] : impl->work) {
      if (!seen.contains(key)) entry(key, nullptr, false);
    }
    return out;
  });
}

QueueChange OutboundEngine::retry(const std::string& message_id) {
  return impl_->on_engine([impl = impl_.get(), message_id] {
    QueueChange c;
    std::vector<std::string> keys;
    if (message_id.empty()) {
      for (const auto& job : impl->waiting.jobs()) keys.push_back(job.message_id);
    } else {
      keys = impl->keys_of(message_id);
    }
    const auto now = impl->clock.now();
    for (const auto& key : keys) {
      for (auto& job : impl->waiting.take_message(key)) {
        job.due = now;
        impl->waiting.push(std::move(job));
        ++c.jobs;
      }
    }
    if (c.jobs > 0) impl->kick();
    return c;
  });
}

QueueChange OutboundEngine::hold(const std::string& message_id) {
  return impl_->on_engine([impl = impl_.get(), message_id] {
    QueueChange c;
    impl->held_ids.insert(message_id);
    for (const auto& key : impl->keys_of(message_id)) {
      auto jobs = impl->waiting.take_message(key);
      if (jobs.empty() && !impl->held_jobs.contains(key)) ++c.active;
      for (auto& job : jobs) {
        impl->held_jobs.insert_or_assign(key, std::move(job));
        ++c.jobs;
      }
    }
    return c;
  });
}

QueueChange OutboundEngine::release(const std::string& message_id) {
  return impl_->on_engine([impl = impl_.get(), message_id] {
    QueueChange c;
    impl->held_ids.erase(message_id);
    const auto now = impl->clock.now();
    for (auto it = impl->held_jobs.begin(); it != impl->held_jobs.end();) {
      auto w = impl->work.find(it->first);
      if (w == impl->work.end() || w->second.message_id == message_id) {
        if (w != impl->work.end()) {
          queue::Job job = std::move(it->second);
          job.due = now;
          impl->waiting.push(std::move(job));
          ++c.jobs;
        }
        it = impl->held_jobs.erase(it);
      } else {
        ++it;
      }
    }
    if (c.jobs > 0) impl->kick();
    return c;
  });
}

asio::awaitable<QueueChange> OutboundEngine::remove_async(std::string message_id) {
  auto impl = impl_;
  QueueChange c;
  const auto keys = impl->keys_of(message_id);
  // Refuse while any job of the message is on a connection: its outcome is on the way.
  for (const auto& key : keys) {
    if (!impl->held_jobs.contains(key) && !impl->waiting.contains(key)) ++c.active;
  }
  // A copy still waiting for its MX answer joins the queue in a moment: refuse too, or it would
  // be delivered after the delete said it was gone.
  if (auto r = impl->resolving.find(message_id); r != impl->resolving.end()) c.active += r->second;
  if (c.active > 0) co_return c;
  // Take the jobs out of every queue first (no connection can start them while the outcome is
  // written), record the recipients as finished, and only then forget the work: if the spool write
  // fails the jobs go back where they were and the caller hears of it.
  std::vector<std::pair<queue::Job, bool>> parked;  // job, was held
  for (const auto& key : keys) {
    for (auto& job : impl->waiting.take_message(key)) parked.emplace_back(std::move(job), false);
    if (auto h = impl->held_jobs.find(key); h != impl->held_jobs.end()) {
      parked.emplace_back(std::move(h->second), true);
      impl->held_jobs.erase(h);
    }
  }
  std::vector<RecipientOutcome> outcomes;
  std::map<std::string, std::size_t> recorded;  // job key → recipients recorded
  for (const auto& key : keys) {
    auto it = impl->work.find(key);
    if (it == impl->work.end()) continue;
    const OutboundWork& w = it->second;
    recorded[key] = w.recipients.size();
    std::vector<RecipientOutcome> dropped;
    for (const auto& r : w.recipients) {
      RecipientOutcome o;
      o.index = r.index;
      o.address = r.address;
      o.delivered = true;  // finished without an NDR
      o.dropped = true;
      o.status = "2.0.0";
      o.diagnostic = "deleted by administrator";
      o.copy_id = r.copy_id;
      o.connector = w.hop.connector;
      o.next_hop = w.hop.key();
      dropped.push_back(std::move(o));
    }
    for (auto& o : Impl::with_aliases(w, std::move(dropped))) outcomes.push_back(std::move(o));
  }
  const bool ok = outcomes.empty() || co_await impl->tracker.record(message_id, std::move(outcomes));
  if (!ok) {
    for (auto& [job, was_held] : parked) {
      if (was_held) {
        std::string key = job.message_id;
        impl->held_jobs.insert_or_assign(std::move(key), std::move(job));
      } else {
        impl->waiting.push(std::move(job));
      }
    }
    c.failed = true;
    co_return c;
  }
  impl->held_ids.erase(message_id);
  for (const auto& [key, n] : recorded) {
    auto it = impl->work.find(key);
    if (it == impl->work.end()) continue;
    auto& todo = it->second.recipients;
    // Recipients handed over while the outcome was written (a resubmission) stay queued.
    todo.erase(todo.begin(), todo.begin() + static_cast<std::ptrdiff_t>(std::min(n, todo.size())));
    if (!todo.empty()) {
      for (auto& [job, was_held] : parked) {
        if (job.message_id == key) impl->park(std::move(job));
      }
      continue;
    }
    impl->last_error.erase(key);
    impl->work.erase(it);
    ++c.jobs;
  }
  spdlog::info("event=deleted {} jobs={}", kv("id", message_id), c.jobs);
  co_return c;
}

QueueChange OutboundEngine::remove(const std::string& message_id) {
  auto promise = std::make_shared<std::promise<QueueChange>>();
  auto result = promise->get_future();
  asio::co_spawn(impl_->executor, remove_async(message_id),
                 [promise](std::exception_ptr e, QueueChange c) {
                   if (e) {
                     promise->set_exception(e);
                   } else {
                     promise->set_value(c);
                   }
                 });
  if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    throw std::runtime_error("the delivery engine did not answer within 30 s");
  }
  return result.get();
}

}  // namespace mf::delivery
