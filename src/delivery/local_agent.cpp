#include "delivery/local_agent.hpp"

#include "delivery/maildir.hpp"
#include "routing/routing.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include <mutex>
#include <set>
#include <vector>

namespace mf::delivery {

namespace asio = boost::asio;
using mf::log::kv;

struct LocalDeliveryAgent::State : std::enable_shared_from_this<State> {
  asio::any_io_executor executor;
  spool::Spool& spool;
  SnapshotSource snapshot;
  AgentStats stats;
  std::atomic<bool> stopping{false};
  std::mutex timers_mutex;
  std::set<asio::steady_timer*> timers;  // GUARDED_BY(timers_mutex): retry timers to cancel on stop()

  State(asio::any_io_executor ex, spool::Spool& s, SnapshotSource snap)
      : executor(std::move(ex)), spool(s), snapshot(std::move(snap)) {}

  asio::awaitable<void> run(spool::SpoolEntry entry, std::optional<std::string> data);
  // One pass over the pending recipients. Returns true when the message needs another attempt later.
  asio::awaitable<bool> attempt(spool::SpoolEntry& entry, const std::string& data, bool& finished);
};

namespace {

std::chrono::seconds retry_delay(const config::Snapshot& snap, std::size_t attempt) {
  const auto& iv = snap.service.queue.retry_intervals;
  if (iv.empty()) return std::chrono::seconds(60);
  return iv[std::min(attempt, iv.size() - 1)];
}

}  // namespace

asio::awaitable<bool> LocalDeliveryAgent::State::attempt(spool::SpoolEntry& entry, const std::string& data,
                                                          bool& finished) {
  auto snap = snapshot();
  std::vector<std::size_t> delivered_now;
  std::vector<std::size_t> failed_now;
  std::set<std::string> written;  // mailbox keys already written for this message (one copy each)
  bool retry = false;
  bool remote_pending = false;
  const std::string return_path = entry.envelope.sender ? entry.envelope.sender->str() : "";

  for (std::size_t i = 0; i < entry.envelope.recipients.size(); ++i) {
    if (i < entry.done.size() && entry.done[i]) continue;
    const Address& rcpt = entry.envelope.recipients[i].address;
    routing::Resolution res = routing::resolve(*snap, rcpt);
    if (res.kind == routing::Resolution::Kind::not_found) {
      spdlog::warn("event=fail {} {} status=5.1.10 {}", kv("id", entry.id), kv("rcpt", rcpt.str()),
                   kv("reason", "Recipient not found: " + res.reason));
      failed_now.push_back(i);
      continue;
    }
    bool ok = true;
    for (const auto& mb : res.mailboxes) {
      if (!written.insert(mb.organization + "/" + mb.address.key()).second) continue;
      MaildirTarget target{snap->service.mailbox_store, mb.organization, mb.address};
      auto r = deliver_to_maildir(target, return_path, mb.address.str(), data);
      if (!r) {
        written.erase(mb.organization + "/" + mb.address.key());
        spdlog::warn("event=defer {} {} {}", kv("id", entry.id), kv("mailbox", mb.address.str()),
                     kv("reason", r.error().message));
        ok = false;
        retry = true;
        break;
      }
      stats.delivered++;
      spdlog::info("event=deliver {} {} {} {}", kv("id", entry.id), kv("rcpt", rcpt.str()),
                   kv("mailbox", mb.address.str()), kv("path", *r));
    }
    if (!ok) continue;
    if (!res.remote.empty()) {
      // Outbound SMTP delivery arrives with the delivery engine; the recipient stays queued.
      remote_pending = true;
      continue;
    }
    delivered_now.push_back(i);
  }

  if (!delivered_now.empty() || !failed_now.empty()) {
    // Delivered and failed recipients are both finished; one synced write records them.
    std::vector<std::size_t> all = delivered_now;
    all.insert(all.end(), failed_now.begin(), failed_now.end());
    auto r = co_await spool.mark_done(entry.id, all, failed_now.empty() ? "delivered" : "delivered/failed");
    if (!r) {
      spdlog::error("event=spool_error {} op=mark_done {}", kv("id", entry.id), kv("reason", r.error().message));
      co_return true;  // try again later; a repeated delivery is allowed, a lost one is not
    }
    entry.done.resize(entry.envelope.recipients.size(), false);
    for (auto i : all) entry.done[i] = true;
    stats.failed += failed_now.size();
  }
  bool all_done = true;
  entry.done.resize(entry.envelope.recipients.size(), false);
  for (bool d : entry.done) all_done = all_done && d;
  if (all_done) {
    auto r = co_await spool.remove(entry.id);
    if (!r) {
      spdlog::error("event=spool_error {} op=remove {}", kv("id", entry.id), kv("reason", r.error().message));
      co_return true;
    }
    stats.finished++;
    finished = true;
    spdlog::info("event=finished {}", kv("id", entry.id));
    co_return false;
  }
  if (remote_pending && !retry) {
    spdlog::info("event=defer {} reason=\"outbound delivery not available in this version; kept in spool\"",
                 kv("id", entry.id));
  }
  co_return retry;
}

asio::awaitable<void> LocalDeliveryAgent::State::run(spool::SpoolEntry entry, std::optional<std::string> data) {
  auto self = shared_from_this();
  for (std::size_t attempt_no = 0; !stopping; ++attempt_no) {
    if (!data) {
      auto loaded = spool.load_data(entry.id);
      if (!loaded) {
        spdlog::error("event=spool_error {} op=load {}", kv("id", entry.id), kv("reason", loaded.error().message));
      } else {
        data = std::move(*loaded);
      }
    }
    bool finished = false;
    bool again = data ? co_await attempt(entry, *data, finished) : true;
    if (finished || !again) co_return;
    stats.deferred++;
    auto delay = retry_delay(*snapshot(), attempt_no);
    asio::steady_timer timer(executor, delay);
    {
      std::lock_guard lock(timers_mutex);
      if (stopping) co_return;
      timers.insert(&timer);
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    {
      std::lock_guard lock(timers_mutex);
      timers.erase(&timer);
    }
    data.reset();  // re-read from the spool: do not pin large messages in memory while waiting
  }
}

LocalDeliveryAgent::LocalDeliveryAgent(asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot)
    : state_(std::make_shared<State>(std::move(executor), spool, std::move(snapshot))) {}

LocalDeliveryAgent::~LocalDeliveryAgent() { stop(); }

void LocalDeliveryAgent::submit(spool::SpoolEntry entry, std::optional<std::string> data) {
  if (state_->stopping) return;  // it stays in the spool and is recovered at the next start
  asio::co_spawn(state_->executor, state_->run(std::move(entry), std::move(data)), asio::detached);
}

void LocalDeliveryAgent::stop() {
  std::lock_guard lock(state_->timers_mutex);
  state_->stopping = true;
  for (auto* t : state_->timers) t->cancel();
}

const AgentStats& LocalDeliveryAgent::stats() const { return state_->stats; }

}  // namespace mf::delivery
