#include "delivery/local_agent.hpp"

#include "delivery/maildir.hpp"
#include "delivery/outbound.hpp"
#include "routing/outbound.hpp"
#include "routing/routing.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include <algorithm>
#include <map>
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
  std::unique_ptr<Tracker> own_tracker;  // when constructed without one
  Tracker& tracker;
  OutboundEngine* outbound = nullptr;
  AgentStats stats;
  std::atomic<bool> stopping{false};
  std::mutex timers_mutex;
  std::set<asio::steady_timer*> timers;  // GUARDED_BY(timers_mutex): retry timers to cancel on stop()

  State(asio::any_io_executor ex, spool::Spool& s, SnapshotSource snap, Tracker* t, OutboundEngine* out)
      : executor(std::move(ex)),
        spool(s),
        snapshot(std::move(snap)),
        own_tracker(t ? nullptr : std::make_unique<Tracker>(s, snapshot, system_clock())),
        tracker(t ? *t : *own_tracker),
        outbound(out) {}

  asio::awaitable<void> run(spool::SpoolEntry entry, std::shared_ptr<const std::string> data,
                            std::vector<std::size_t> pending);
  // Splits the recipients: registers their parts with the tracker and hands remote ones to the
  // outbound engine. Returns the indexes that need local delivery.
  // `nothing_left` is set when no recipient has anything to deliver (all done before).
  std::vector<std::size_t> dispatch(const spool::SpoolEntry& entry, const std::shared_ptr<const std::string>& data,
                                    bool& nothing_left);
  // One pass over `pending` local recipients. Returns true when another attempt is needed later.
  asio::awaitable<bool> attempt(const spool::SpoolEntry& entry, const std::string& data,
                                std::vector<std::size_t>& pending);
};

namespace {

std::chrono::seconds retry_delay(const config::Snapshot& snap, std::size_t attempt) {
  const auto& iv = snap.service.queue.retry_intervals;
  if (iv.empty()) return std::chrono::seconds(60);
  return iv[std::min(attempt, iv.size() - 1)];
}

}  // namespace

std::vector<std::size_t> LocalDeliveryAgent::State::dispatch(const spool::SpoolEntry& entry,
                                                             const std::shared_ptr<const std::string>& data,
                                                             bool& nothing_left) {
  auto snap = snapshot();
  const auto& rcpts = entry.envelope.recipients;
  std::vector<std::size_t> parts(rcpts.size(), 0);
  std::vector<std::size_t> local;
  std::map<std::string, OutboundWork> remote;  // per next hop
  const auto message_org = message_organization(*snap, entry.envelope);
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    if (i < entry.done.size() && entry.done[i]) continue;
    routing::Resolution res = routing::resolve(*snap, rcpts[i].address);
    if (res.kind == routing::Resolution::Kind::not_found || !res.mailboxes.empty()) {
      parts[i] += 1;
      local.push_back(i);
    }
    if (outbound == nullptr) {
      if (!res.remote.empty() && res.mailboxes.empty() && res.kind != routing::Resolution::Kind::not_found) parts[i] = 1;
      continue;  // remote parts stay pending in the spool
    }
    // The organization whose connectors apply: the recipient's, else the message's.
    std::optional<std::size_t> org = message_org;
    if (std::size_t rcpt_org = 0; snap->find_accepted_domain(rcpts[i].address.domain(), &rcpt_org) != nullptr) {
      org = rcpt_org;
    }
    for (const auto& addr : res.remote) {
      routing::NextHop hop;
      if (org) {
        hop = routing::next_hop_for(*snap, *org, addr.domain());
      } else {
        hop.kind = routing::NextHop::Kind::mx;
        hop.mx_domain = addr.domain().str();
      }
      auto& w = remote[hop.key()];
      if (w.message_id.empty()) {
        w.message_id = entry.id;
        w.envelope = entry.envelope;
        w.hop = hop;
        w.received_at = entry.received_at;
        w.data = data;
      }
      w.recipients.push_back(OutboundRecipient{i, addr});
      parts[i] += 1;
    }
  }
  tracker.begin(entry, parts);
  nothing_left = std::all_of(parts.begin(), parts.end(), [](std::size_t p) { return p == 0; });
  for (auto& [key, w] : remote) outbound->enqueue(std::move(w));
  return local;
}

asio::awaitable<bool> LocalDeliveryAgent::State::attempt(const spool::SpoolEntry& entry, const std::string& data,
                                                          std::vector<std::size_t>& pending) {
  auto snap = snapshot();
  std::vector<RecipientOutcome> outcomes;
  std::vector<std::size_t> still;
  std::set<std::string> written;  // mailbox keys already written for this message (one copy each)
  const std::string return_path = entry.envelope.sender ? entry.envelope.sender->str() : "";

  for (std::size_t i : pending) {
    const Address& rcpt = entry.envelope.recipients[i].address;
    routing::Resolution res = routing::resolve(*snap, rcpt);
    if (res.kind == routing::Resolution::Kind::not_found) {
      RecipientOutcome o;
      o.index = i;
      o.address = rcpt;
      o.status = "5.1.10";
      o.diagnostic = "550 5.1.10 Recipient not found: " + res.reason;
      outcomes.push_back(std::move(o));
      stats.failed++;
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
        break;
      }
      stats.delivered++;
      spdlog::info("event=deliver {} {} {} {}", kv("id", entry.id), kv("rcpt", rcpt.str()),
                   kv("mailbox", mb.address.str()), kv("path", *r));
    }
    if (!ok) {
      still.push_back(i);
      continue;
    }
    RecipientOutcome o;
    o.index = i;
    o.address = res.mailboxes.empty() ? rcpt : res.mailboxes.front().address;
    o.delivered = true;
    o.status = "2.0.0";
    o.diagnostic = "delivered to mailbox";
    outcomes.push_back(std::move(o));
  }
  if (!outcomes.empty() || still.empty()) {
    if (!co_await tracker.record(entry.id, outcomes)) co_return true;  // again later: repetition, never loss
  }
  if (still.empty()) stats.finished++;
  pending = std::move(still);
  co_return !pending.empty();
}

asio::awaitable<void> LocalDeliveryAgent::State::run(spool::SpoolEntry entry, std::shared_ptr<const std::string> data,
                                                     std::vector<std::size_t> pending) {
  auto self = shared_from_this();
  for (std::size_t attempt_no = 0; !stopping; ++attempt_no) {
    if (!data && !pending.empty()) {
      auto loaded = spool.load_data(entry.id);
      if (!loaded) {
        spdlog::error("event=spool_error {} op=load {}", kv("id", entry.id), kv("reason", loaded.error().message));
      } else {
        data = std::make_shared<const std::string>(std::move(*loaded));
      }
    }
    // (No temporaries or ?: around co_await: GCC 12 destroys such temporaries twice.)
    bool again = true;
    if (data || pending.empty()) {
      if (!data) data = std::make_shared<const std::string>();
      again = co_await attempt(entry, *data, pending);
    }
    data.reset();
    if (!again) co_return;
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
    // The body was dropped above: it is re-read from the spool, not pinned in memory while waiting.
  }
}

LocalDeliveryAgent::LocalDeliveryAgent(asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot)
    : state_(std::make_shared<State>(std::move(executor), spool, std::move(snapshot), nullptr, nullptr)) {}

LocalDeliveryAgent::LocalDeliveryAgent(asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot,
                                       Tracker& tracker, OutboundEngine* outbound)
    : state_(std::make_shared<State>(std::move(executor), spool, std::move(snapshot), &tracker, outbound)) {}

LocalDeliveryAgent::~LocalDeliveryAgent() { stop(); }

void LocalDeliveryAgent::submit(spool::SpoolEntry entry, std::optional<std::string> data) {
  if (state_->stopping) return;  // it stays in the spool and is recovered at the next start
  // One shared copy of the body serves the local attempt and the outbound engine's first attempt.
  std::shared_ptr<const std::string> body;
  if (data) body = std::make_shared<const std::string>(std::move(*data));
  // Routing is cheap and pure: it runs on the caller's thread, so a message with only remote
  // recipients goes to the outbound engine without a hop through the delivery pool.
  bool nothing_left = false;
  auto pending = state_->dispatch(entry, body, nothing_left);
  if (pending.empty() && !nothing_left) return;
  asio::co_spawn(state_->executor, state_->run(std::move(entry), std::move(body), std::move(pending)), asio::detached);
}

void LocalDeliveryAgent::stop() {
  std::lock_guard lock(state_->timers_mutex);
  state_->stopping = true;
  for (auto* t : state_->timers) t->cancel();
}

const AgentStats& LocalDeliveryAgent::stats() const { return state_->stats; }

}  // namespace mf::delivery
