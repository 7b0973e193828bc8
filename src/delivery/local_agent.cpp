#include "delivery/local_agent.hpp"

#include "delivery/maildir.hpp"
#include "delivery/outbound.hpp"
#include "routing/outbound.hpp"
#include "routing/edits.hpp"
#include "routing/plan.hpp"
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

// The local part of a message's routing plan: the copies for this host's mailbox store and the
// outcomes known at once (rule rejects and deletes, recipients not found).
struct LocalJob {
  std::vector<routing::Copy> copies;          // Copy::Kind::local; delivered parts are removed
  std::vector<std::string> copy_ids;          // parallel to copies: the trace's copy id ("" = not split)
  std::vector<RecipientOutcome> immediate;    // recorded with the first attempt
  MessageTraceInfo info;                      // for DEFER events
};

struct LocalDeliveryAgent::State : std::enable_shared_from_this<State> {
  asio::any_io_executor executor;
  spool::Spool& spool;
  SnapshotSource snapshot;
  std::unique_ptr<Tracker> own_tracker;  // when constructed without one
  Tracker& tracker;
  OutboundEngine* outbound = nullptr;
  trace::Sink& trace_sink;
  AgentStats stats;
  std::atomic<bool> stopping{false};
  std::mutex timers_mutex;
  std::set<asio::steady_timer*> timers;  // GUARDED_BY(timers_mutex): retry timers to cancel on stop()

  State(asio::any_io_executor ex, spool::Spool& s, SnapshotSource snap, Tracker* t, OutboundEngine* out,
        trace::Sink& sink)
      : executor(std::move(ex)),
        spool(s),
        snapshot(std::move(snap)),
        own_tracker(t ? nullptr : std::make_unique<Tracker>(s, snapshot, system_clock(), sink)),
        tracker(t ? *t : *own_tracker),
        outbound(out),
        trace_sink(sink) {}

  // A trace event about `entry` with the message-wide fields filled in.
  trace::Event event(trace::EventType type, const spool::SpoolEntry& entry, const MessageTraceInfo& info) const {
    trace::Event e;
    e.time_us = trace::unix_us(system_clock().now());
    e.type = type;
    e.message_id = entry.id;
    e.internet_message_id = info.internet_message_id;
    e.organization = info.organization;
    if (entry.envelope.sender) e.sender = entry.envelope.sender->str();
    return e;
  }
  // RESOLVE / EXPAND / REDIRECT / TRANSPORT_RULE from the plan's notes.
  void trace_notes(const spool::SpoolEntry& entry, const MessageTraceInfo& info, const routing::Plan& plan);

  asio::awaitable<void> run(spool::SpoolEntry entry, std::shared_ptr<const std::string> data, LocalJob job);
  // Plans the message (routing::plan_message), registers its parts with the tracker and hands the
  // remote copies to the outbound engine. Returns the local part.
  LocalJob dispatch(const spool::SpoolEntry& entry, const std::shared_ptr<const std::string>& data);
  // One pass over the local copies. Returns true when another attempt is needed later.
  asio::awaitable<bool> attempt(const spool::SpoolEntry& entry, const std::string& data, LocalJob& job);
};

namespace {

std::chrono::seconds retry_delay(const config::Snapshot& snap, std::size_t attempt) {
  const auto& iv = snap.service.queue.retry_intervals;
  if (iv.empty()) return std::chrono::seconds(60);
  return iv[std::min(attempt, iv.size() - 1)];
}

std::string join(const std::vector<Address>& list) {
  std::string out;
  for (const auto& a : list) {
    if (!out.empty()) out += ", ";
    out += a.str();
  }
  return out;
}

}  // namespace

void LocalDeliveryAgent::State::trace_notes(const spool::SpoolEntry& entry, const MessageTraceInfo& info,
                                            const routing::Plan& plan) {
  using Kind = routing::RoutingNote::Kind;
  for (const auto& n : plan.notes) {
    trace::EventType type = trace::EventType::RESOLVE;
    std::string detail;
    switch (n.kind) {
      case Kind::resolve:
        detail = n.address.str() + " resolved to " + join(n.targets);
        break;
      case Kind::expand:
        type = trace::EventType::EXPAND;
        detail = "group " + n.address.str() + " expanded to " + join(n.targets);
        break;
      case Kind::redirect:
        type = trace::EventType::REDIRECT;
        detail = "rule '" + n.rule + "' redirected " + n.address.str() + " to " + join(n.targets);
        break;
      case Kind::rule: {
        type = trace::EventType::TRANSPORT_RULE;
        detail = "rule '" + n.rule + "'" + (n.audit ? " (audit: not applied)" : "") + ":";
        for (const auto& a : n.actions) detail += " " + a;
        break;
      }
    }
    trace::Event e = event(type, entry, info);
    if (n.index < entry.envelope.recipients.size()) e.recipient = entry.envelope.recipients[n.index].address.str();
    e.detail = std::move(detail);
    trace_sink.record(std::move(e));
  }
}

LocalJob LocalDeliveryAgent::State::dispatch(const spool::SpoolEntry& entry,
                                             const std::shared_ptr<const std::string>& data) {
  auto snap = snapshot();
  routing::PlanInput in;
  in.envelope = &entry.envelope;
  in.connection = &entry.connection;
  in.data = data ? std::string_view(*data) : std::string_view();
  in.done = &entry.done;
  in.explain = false;  // the server needs the decision, not its text
  routing::Plan plan = routing::plan_message(*snap, in);

  LocalJob job;
  if (plan.attribution.organization && *plan.attribution.organization < snap->organizations.size()) {
    job.info.organization = snap->organizations[*plan.attribution.organization].name;
  } else {
    job.info.organization = entry.connection.organization;  // a generated message (NDR) names its own
  }
  if (data) job.info.internet_message_id = trace::internet_message_id(*data);
  trace_notes(entry, job.info, plan);
  // Copy ids: only a message split into several copies has them (the trace's BIFURCATE).
  const bool split = plan.copies.size() > 1;
  std::vector<std::string> copy_ids(plan.copies.size());
  for (std::size_t k = 0; split && k < plan.copies.size(); ++k) {
    const routing::Copy& c = plan.copies[k];
    copy_ids[k] = std::to_string(k + 1);
    trace::Event e = event(trace::EventType::BIFURCATE, entry, job.info);
    e.copy_id = copy_ids[k];
    if (c.kind == routing::Copy::Kind::local) {
      e.next_hop = "local";
    } else {
      e.connector = c.hop.connector;
      e.next_hop = c.hop.key();
    }
    e.detail = "copy " + copy_ids[k] + " of " + std::to_string(plan.copies.size()) + " for";
    for (const auto& r : c.recipients) e.detail += " " + r.address.str();
    if (!c.edits.empty()) e.detail += " (header edits)";
    trace_sink.record(std::move(e));
  }
  for (const auto& f : plan.failures) {
    RecipientOutcome o;
    o.index = f.index;
    o.address = f.address;
    o.status = f.status;
    o.diagnostic = f.diagnostic;
    job.immediate.push_back(std::move(o));
  }
  for (const auto& d : plan.drops) {
    RecipientOutcome o;
    o.index = d.index;
    o.address = d.address;
    o.delivered = true;  // nothing is owed to anyone: no NDR (R-RULE-3 delete)
    o.dropped = true;
    o.status = "2.0.0";
    o.diagnostic = d.reason;
    job.immediate.push_back(std::move(o));
  }
  tracker.begin(entry, plan.parts, job.info);
  for (std::size_t k = 0; k < plan.copies.size(); ++k) {
    routing::Copy& c = plan.copies[k];
    if (c.kind == routing::Copy::Kind::local) {
      job.copies.push_back(std::move(c));
      job.copy_ids.push_back(std::move(copy_ids[k]));
      continue;
    }
    if (outbound == nullptr) continue;  // remote parts stay pending in the spool
    OutboundWork w;
    w.message_id = entry.id;
    w.envelope = entry.envelope;
    w.hop = std::move(c.hop);
    w.received_at = entry.received_at;
    w.size = entry.size;
    w.trace_info = job.info;
    for (auto& r : c.recipients) {
      for (auto j : r.also) w.aliases.push_back(OutboundWork::Alias{r.index, r.address, j});
      w.recipients.push_back(OutboundRecipient{r.index, std::move(r.address), copy_ids[k]});
    }
    if (!c.edits.empty()) {
      w.edits = std::make_shared<const routing::HeaderEdits>(std::move(c.edits));
      w.variant = "copy" + std::to_string(k);
      if (data) w.data = std::make_shared<const std::string>(routing::apply_header_edits(*data, *w.edits));
    } else {
      w.data = data;
    }
    outbound->enqueue(std::move(w));
  }
  return job;
}

asio::awaitable<bool> LocalDeliveryAgent::State::attempt(const spool::SpoolEntry& entry, const std::string& data,
                                                          LocalJob& job) {
  auto snap = snapshot();
  std::vector<RecipientOutcome> outcomes = std::move(job.immediate);
  job.immediate.clear();
  const std::string return_path = entry.envelope.sender ? entry.envelope.sender->str() : "";
  bool again = false;

  for (std::size_t k = 0; k < job.copies.size(); ++k) {
    auto& copy = job.copies[k];
    const std::string& copy_id = job.copy_ids[k];
    std::string edited;
    if (!copy.edits.empty() && !copy.recipients.empty()) edited = routing::apply_header_edits(data, copy.edits);
    const std::string& bytes = copy.edits.empty() ? data : edited;
    std::vector<routing::CopyRecipient> still;
    for (auto& r : copy.recipients) {
      MaildirTarget target{snap->service.mailbox_store, r.organization, r.address};
      auto w = deliver_to_maildir(target, return_path, r.address.str(), bytes);
      if (!w) {
        spdlog::warn("event=defer {} {} {}", kv("id", entry.id), kv("mailbox", r.address.str()),
                     kv("reason", w.error().message));
        trace::Event e = event(trace::EventType::DEFER, entry, job.info);
        e.copy_id = copy_id;
        e.recipient = entry.envelope.recipients[r.index].address.str();
        e.next_hop = "local";
        e.reply = w.error().message;
        e.detail = "mailbox " + r.address.str();
        trace_sink.record(std::move(e));
        still.push_back(std::move(r));
        continue;
      }
      stats.delivered++;
      spdlog::info("event=deliver {} {} {} {}", kv("id", entry.id),
                   kv("rcpt", entry.envelope.recipients[r.index].address.str()), kv("mailbox", r.address.str()),
                   kv("path", *w));
      RecipientOutcome o;
      o.index = r.index;
      o.address = r.address;
      o.delivered = true;
      o.local = true;
      o.copy_id = copy_id;
      o.next_hop = "local";
      o.status = "2.0.0";
      o.diagnostic = "delivered to mailbox";
      for (auto j : r.also) {  // the same mailbox reached through another envelope recipient
        RecipientOutcome dup = o;
        dup.index = j;
        outcomes.push_back(std::move(dup));
      }
      outcomes.push_back(std::move(o));
    }
    copy.recipients = std::move(still);
    again = again || !copy.recipients.empty();
  }
  if (!outcomes.empty() || !again) {
    if (!co_await tracker.record(entry.id, outcomes)) {
      job.immediate = std::move(outcomes);  // recorded again on the next attempt; nothing is lost
      co_return true;
    }
    for (const auto& o : outcomes) stats.failed += o.delivered ? 0 : 1;
  }
  if (!again) stats.finished++;
  co_return again;
}

asio::awaitable<void> LocalDeliveryAgent::State::run(spool::SpoolEntry entry, std::shared_ptr<const std::string> data,
                                                     LocalJob job) {
  auto self = shared_from_this();
  for (std::size_t attempt_no = 0; !stopping; ++attempt_no) {
    bool needs_data = false;
    for (const auto& c : job.copies) needs_data = needs_data || !c.recipients.empty();
    if (!data && needs_data) {
      auto loaded = spool.load_data(entry.id);
      if (!loaded) {
        spdlog::error("event=spool_error {} op=load {}", kv("id", entry.id), kv("reason", loaded.error().message));
      } else {
        data = std::make_shared<const std::string>(std::move(*loaded));
      }
    }
    // (No temporaries or ?: around co_await: GCC 12 destroys such temporaries twice.)
    bool again = true;
    if (data || !needs_data) {
      if (!data) data = std::make_shared<const std::string>();
      again = co_await attempt(entry, *data, job);
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

LocalDeliveryAgent::LocalDeliveryAgent(asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot,
                                       trace::Sink& trace)
    : state_(std::make_shared<State>(std::move(executor), spool, std::move(snapshot), nullptr, nullptr, trace)) {}

LocalDeliveryAgent::LocalDeliveryAgent(asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot,
                                       Tracker& tracker, OutboundEngine* outbound, trace::Sink& trace)
    : state_(std::make_shared<State>(std::move(executor), spool, std::move(snapshot), &tracker, outbound, trace)) {}

LocalDeliveryAgent::~LocalDeliveryAgent() { stop(); }

void LocalDeliveryAgent::submit(spool::SpoolEntry entry, std::optional<std::string> data) {
  if (state_->stopping) return;  // it stays in the spool and is recovered at the next start
  // One shared copy of the body serves the routing plan (rules read the header section), the local
  // attempt and the outbound engine's first attempt. A recovered message is read here once.
  std::shared_ptr<const std::string> body;
  if (data) {
    body = std::make_shared<const std::string>(std::move(*data));
  } else if (auto loaded = state_->spool.load_data(entry.id)) {
    body = std::make_shared<const std::string>(std::move(*loaded));
  } else {
    spdlog::error("event=spool_error {} op=load {}", kv("id", entry.id), kv("reason", loaded.error().message));
    return;  // stays in the spool (a quarantine candidate at the next start)
  }
  // Routing is cheap and pure: it runs on the caller's thread, so a message with only remote
  // recipients goes to the outbound engine without a hop through the delivery pool.
  LocalJob job = state_->dispatch(entry, body);
  if (job.copies.empty() && job.immediate.empty()) {
    bool nothing_left = true;
    for (std::size_t i = 0; i < entry.envelope.recipients.size(); ++i) {
      nothing_left = nothing_left && i < entry.done.size() && entry.done[i];
    }
    if (!nothing_left) return;  // everything went to the outbound engine
  }
  asio::co_spawn(state_->executor, state_->run(std::move(entry), std::move(body), std::move(job)), asio::detached);
}

void LocalDeliveryAgent::stop() {
  std::lock_guard lock(state_->timers_mutex);
  state_->stopping = true;
  for (auto* t : state_->timers) t->cancel();
}

const AgentStats& LocalDeliveryAgent::stats() const { return state_->stats; }

}  // namespace mf::delivery
