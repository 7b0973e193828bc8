#include "delivery/tracker.hpp"

#include "core/message_id.hpp"
#include "ndr/ndr.hpp"
#include "routing/attribution.hpp"
#include "routing/firewall.hpp"
#include "util/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mf::delivery {

using mf::log::kv;

std::optional<std::size_t> message_organization(const config::Snapshot& snap, const ConnectionFacts& conn,
                                                const Envelope& env) {
  if (auto a = routing::attribute(snap, conn, env, /*explain=*/false); a.organization) return a.organization;
  std::size_t org = 0;
  if (env.sender && snap.find_accepted_domain(env.sender->domain(), &org) != nullptr) return org;
  return std::nullopt;
}

Tracker::Tracker(spool::Spool& spool, SnapshotSource snapshot, const Clock& clock, trace::Sink& trace)
    : spool_(spool), snapshot_(std::move(snapshot)), clock_(clock), trace_(trace) {}

trace::Event Tracker::event(trace::EventType type, const spool::SpoolEntry& entry, const MessageTraceInfo& info) const {
  trace::Event e;
  e.time_us = trace::unix_us(clock_.now());
  e.type = type;
  e.message_id = entry.id;
  e.internet_message_id = info.internet_message_id;
  e.organization = info.organization;
  if (entry.envelope.sender) e.sender = entry.envelope.sender->str();
  return e;
}

void Tracker::set_submit(Submit submit) { submit_ = std::move(submit); }

void Tracker::begin(const spool::SpoolEntry& entry, const std::vector<std::size_t>& parts, MessageTraceInfo info) {
  std::lock_guard lock(mutex_);
  auto& m = messages_[entry.id];
  m.entry = entry;
  m.info = std::move(info);
  const std::size_t n = entry.envelope.recipients.size();
  m.parts_left.assign(n, 0);
  m.durable.assign(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    const bool done = i < entry.done.size() && entry.done[i];
    m.durable[i] = done;
    m.parts_left[i] = done ? 0 : (i < parts.size() ? parts[i] : 1);
  }
}

std::size_t Tracker::active() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

boost::asio::awaitable<bool> Tracker::send_ndr(const spool::SpoolEntry& entry, const MessageTraceInfo& info,
                                               const std::vector<RecipientOutcome>& failed) {
  auto snap = snapshot_();
  auto original = spool_.load_data(entry.id);
  if (!original) {
    spdlog::error("event=spool_error {} op=load {}", kv("id", entry.id), kv("reason", original.error().message));
    co_return false;
  }
  ndr::Report report;
  report.reporting_mta = snap->service.hostname;
  const auto org = message_organization(*snap, entry.connection, entry.envelope);
  report.from = ndr::sender_for(*snap, org);
  report.to = *entry.envelope.sender;
  report.original_envid = entry.envelope.envid;
  report.original_message_id = entry.id;
  report.arrival = SysTime{std::chrono::seconds{entry.received_at}};
  report.now = clock_.now();
  // The original inside the NDR never carries the service's internal markers (R-IN-8).
  report.original = routing::strip_organization_headers(*original);
  report.return_full = entry.envelope.ret == "FULL";
  for (const auto& o : failed) {
    const auto& rcpt = entry.envelope.recipients[o.index];
    ndr::FailedRecipient fr;
    fr.address = rcpt.address;
    fr.orcpt = rcpt.orcpt;
    fr.status = o.status;
    fr.remote_mta = o.remote_mta;
    fr.diagnostic = o.diagnostic;
    fr.last_attempt = clock_.now();
    fr.expired = o.expired;
    report.recipients.push_back(std::move(fr));
  }

  spool::StoredMessage ndr_msg;
  ndr_msg.id = new_message_id();
  ndr_msg.envelope.sender = std::nullopt;
  ndr_msg.envelope.recipients.push_back({*entry.envelope.sender, notify_none, ""});
  ndr_msg.envelope.smtputf8 = entry.envelope.sender->has_non_ascii();
  ndr_msg.envelope.body = BodyType::eight_bit_mime;
  ndr_msg.connection.listener = "ndr";
  if (org) ndr_msg.connection.organization = snap->organizations[*org].name;  // R-NDR-1, never subject to rules
  ndr_msg.received_at = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  ndr_msg.data = ndr::build(report);
  auto committed = co_await spool_.commit(ndr_msg);
  if (!committed) {
    spdlog::error("event=spool_error {} op=commit_ndr {}", kv("id", entry.id), kv("reason", committed.error().message));
    co_return false;
  }
  spdlog::info("event=ndr {} {} {} recipients={}", kv("id", ndr_msg.id), kv("original", entry.id),
               kv("to", entry.envelope.sender->str()), failed.size());
  {
    trace::Event e = event(trace::EventType::NDR, entry, info);
    e.detail = "NDR " + ndr_msg.id + " to " + entry.envelope.sender->str() + " for";
    for (const auto& o : failed) e.detail += " " + entry.envelope.recipients[o.index].address.str();
    trace_.record(std::move(e));
  }
  if (submit_) {
    spool::SpoolEntry e;
    e.id = ndr_msg.id;
    e.envelope = ndr_msg.envelope;
    e.connection = ndr_msg.connection;
    e.received_at = ndr_msg.received_at;
    e.size = ndr_msg.data.size();
    e.done.assign(1, false);
    submit_(std::move(e), std::move(ndr_msg.data));
  }
  co_return true;
}

void Tracker::trace_final(const spool::SpoolEntry& entry, const MessageTraceInfo& info, const RecipientOutcome& o) {
  using trace::EventType;
  const EventType type = o.dropped      ? EventType::DROP
                         : !o.delivered ? EventType::FAIL
                         : o.local      ? EventType::DELIVER
                                        : EventType::SEND;
  trace::Event e = event(type, entry, info);
  e.copy_id = o.copy_id;
  e.recipient = entry.envelope.recipients[o.index].address.str();
  e.connector = o.connector;
  e.next_hop = o.next_hop;
  e.remote_host = o.remote_host;
  e.tls = o.tls;
  // Where it went when that is not the envelope recipient itself (a mailbox, a target, a member).
  const bool elsewhere = !(o.address == entry.envelope.recipients[o.index].address);
  switch (type) {
    case EventType::DROP:
      e.detail = o.diagnostic;
      break;
    case EventType::DELIVER:
      e.detail = "mailbox " + o.address.str();
      break;
    case EventType::SEND:
      e.reply = o.diagnostic;
      if (elsewhere) e.detail = "to " + o.address.str();
      break;
    default:
      e.reply = o.diagnostic;
      e.detail = "status " + o.status;
      if (o.expired) e.detail += ", message expired";
      if (elsewhere) e.detail += ", to " + o.address.str();
      break;
  }
  trace_.record(std::move(e));
}

boost::asio::awaitable<bool> Tracker::record(std::string id, std::vector<RecipientOutcome> outcomes) {
  spool::SpoolEntry entry;
  MessageTraceInfo info;
  std::vector<RecipientOutcome> want_ndr;
  {
    std::lock_guard lock(mutex_);
    auto it = messages_.find(id);
    if (it == messages_.end()) co_return true;  // already finished (a repeated report)
    entry = it->second.entry;
    info = it->second.info;
  }
  // Counted once the outcomes are durable: a failed spool write makes the caller report them again.
  auto count = [&] {
    if (metrics_ == nullptr) return;
    for (const auto& o : outcomes) {
      if (o.dropped || o.index >= entry.envelope.recipients.size()) continue;
      const std::string connector = o.local ? std::string("local") : o.connector;
      auto& family = o.delivered ? metrics_->messages_delivered_total : metrics_->messages_failed_total;
      family.with({info.organization, connector}).inc();
    }
  };
  for (const auto& o : outcomes) {
    if (o.index >= entry.envelope.recipients.size()) continue;
    trace_final(entry, info, o);
    const char* what = o.delivered ? "event=delivered" : "event=failed";
    if (o.delivered) {
      spdlog::info("{} {} {} {} {} {}", what, kv("id", id), kv("rcpt", entry.envelope.recipients[o.index].address.str()),
                   kv("to", o.address.str()), kv("relay", o.remote_mta), kv("reply", o.diagnostic));
    } else {
      spdlog::warn("{} {} {} {} {} {} {}", what, kv("id", id), kv("rcpt", entry.envelope.recipients[o.index].address.str()),
                   kv("to", o.address.str()), kv("status", o.status), kv("relay", o.remote_mta), kv("reason", o.diagnostic));
      if (ndr::wants_ndr(entry.envelope, entry.envelope.recipients[o.index])) want_ndr.push_back(o);
    }
  }
  if (!want_ndr.empty() && !co_await send_ndr(entry, info, want_ndr)) co_return false;

  // Which recipients are finished with this report (every part reported)?
  std::vector<std::size_t> finished;
  bool completes = false;  // this report finishes the whole message
  {
    std::lock_guard lock(mutex_);
    auto it = messages_.find(id);
    if (it == messages_.end()) co_return true;
    auto& m = it->second;
    for (const auto& o : outcomes) {
      if (o.index >= m.parts_left.size() || m.parts_left[o.index] == 0) continue;
      if (--m.parts_left[o.index] == 0) finished.push_back(o.index);
    }
    completes = !m.removing;
    for (std::size_t i = 0; i < m.durable.size() && completes; ++i) {
      completes = m.durable[i] || (m.parts_left[i] == 0 &&
                                   std::find(finished.begin(), finished.end(), i) != finished.end());
    }
    if (completes) m.removing = true;
  }
  if (completes) {
    // Nothing is left to record per recipient: removing the message is the one durable step (a
    // crash before it repeats these deliveries, it loses none).
    auto r = co_await spool_.remove(id);
    std::lock_guard lock(mutex_);
    auto it = messages_.find(id);
    if (!r) {
      spdlog::error("event=spool_error {} op=remove {}", kv("id", id), kv("reason", r.error().message));
      if (it != messages_.end()) {
        it->second.removing = false;
        for (auto i : finished) ++it->second.parts_left[i];
      }
      co_return false;
    }
    if (it != messages_.end()) messages_.erase(it);
    spdlog::info("event=finished {}", kv("id", id));
    count();
    co_return true;
  }
  if (!finished.empty()) {
    auto r = co_await spool_.mark_done(id, finished, "finished");
    if (!r) {
      spdlog::error("event=spool_error {} op=mark_done {}", kv("id", id), kv("reason", r.error().message));
      std::lock_guard lock(mutex_);
      auto it = messages_.find(id);
      if (it != messages_.end())
        for (auto i : finished) ++it->second.parts_left[i];
      co_return false;
    }
  }
  bool remove = false;
  {
    std::lock_guard lock(mutex_);
    auto it = messages_.find(id);
    if (it == messages_.end()) co_return true;
    auto& m = it->second;
    for (auto i : finished) m.durable[i] = true;
    bool all = true;
    for (bool d : m.durable) all = all && d;
    if (all && !m.removing) m.removing = remove = true;
  }
  if (remove) {
    auto r = co_await spool_.remove(id);
    std::lock_guard lock(mutex_);
    if (!r) {
      spdlog::error("event=spool_error {} op=remove {}", kv("id", id), kv("reason", r.error().message));
      auto it = messages_.find(id);
      if (it != messages_.end()) it->second.removing = false;
      co_return false;
    }
    messages_.erase(id);
    spdlog::info("event=finished {}", kv("id", id));
  }
  count();
  co_return true;
}

}  // namespace mf::delivery
