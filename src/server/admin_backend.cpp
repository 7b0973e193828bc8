// server/admin_backend.cpp — see admin_backend.hpp.
#include "server/admin_backend.hpp"

#include "core/domain.hpp"
#include "core/message_id.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

namespace mf::server {

namespace {

using mf::log::kv;


std::int64_t unix_seconds(SysTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

admin::OpResult op(admin::OpStatus status, std::string message, std::uint64_t affected = 0) {
  admin::OpResult r;
  r.status = status;
  r.message = std::move(message);
  r.affected = affected;
  return r;
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::vector<admin::MessageInfo> group_messages(const std::vector<delivery::QueueEntry>& entries,
                                               const HeldMessages* held) {
  std::map<std::string, admin::MessageInfo> by_id;
  for (const auto& e : entries) {
    auto [it, fresh] = by_id.try_emplace(e.message_id);
    admin::MessageInfo& m = it->second;
    if (fresh) {
      m.id = e.message_id;
      m.sender = e.sender;
      m.organization = e.organization;
      m.received_at = e.received_at;
      m.size = e.size;
      m.held = held != nullptr && held->contains(e.message_id);
    }
    m.held = m.held || e.held;
    for (const auto& a : e.recipients) {
      admin::RecipientInfo r;
      r.address = a.str();
      if (e.held) {
        r.state = admin::RecipientState::held;
      } else if (e.active || e.attempts == 0) {
        r.state = admin::RecipientState::queued;  // not tried yet, or on a connection right now
      } else {
        r.state = admin::RecipientState::deferred;
      }
      r.next_hop = e.hop_key;
      r.connector = e.hop.connector;
      r.attempts = static_cast<std::uint32_t>(e.attempts);
      r.next_attempt = e.due ? unix_seconds(*e.due) : 0;
      r.last_error = e.last_error;
      m.recipients.push_back(std::move(r));
    }
  }
  std::vector<admin::MessageInfo> out;
  out.reserve(by_id.size());
  for (auto& [id, m] : by_id) out.push_back(std::move(m));
  // Oldest first; ids sort by arrival too (core/message_id.hpp), which breaks ties.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.received_at < b.received_at; });
  return out;
}

admin::QueueSummary summarize(const std::vector<delivery::QueueEntry>& entries, std::int64_t now_unix) {
  admin::QueueSummary s;
  struct Acc {
    std::set<std::string> ids;
    std::uint64_t recipients = 0;
    std::int64_t oldest = 0;  // received_at of the oldest message, 0 = none
  };
  Acc total;
  std::map<std::string, Acc> hop, connector, organization;
  auto add = [](Acc& a, const delivery::QueueEntry& e) {
    a.ids.insert(e.message_id);
    a.recipients += e.recipients.size();
    if (a.oldest == 0 || e.received_at < a.oldest) a.oldest = e.received_at;
  };
  for (const auto& e : entries) {
    add(total, e);
    add(hop[e.hop_key], e);
    add(connector[e.hop.connector], e);
    add(organization[e.organization], e);
  }
  auto age = [now_unix](const Acc& a) { return a.oldest == 0 ? std::int64_t{0} : std::max<std::int64_t>(0, now_unix - a.oldest); };
  auto groups = [&](const std::map<std::string, Acc>& m) {
    std::vector<admin::QueueGroup> out;
    for (const auto& [key, a] : m) {
      admin::QueueGroup g;
      g.key = key;
      g.messages = a.ids.size();
      g.recipients = a.recipients;
      g.oldest_age_seconds = age(a);
      out.push_back(std::move(g));
    }
    // Biggest queues first: what an administrator looks for.
    std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.messages > y.messages; });
    return out;
  };
  s.messages = total.ids.size();
  s.recipients = total.recipients;
  s.oldest_age_seconds = age(total);
  s.by_next_hop = groups(hop);
  s.by_connector = groups(connector);
  s.by_organization = groups(organization);
  return s;
}

bool matches(const admin::MessageInfo& m, const admin::MessageFilter& f) {
  if (!f.sender.empty() && ascii_lower(m.sender) != ascii_lower(f.sender)) return false;
  if (!f.organization.empty() && m.organization != f.organization) return false;
  const bool per_recipient = !f.recipient.empty() || !f.connector.empty() || !f.next_hop.empty() || f.state;
  if (!per_recipient) return true;
  const std::string want = ascii_lower(f.recipient);
  for (const auto& r : m.recipients) {
    if (!f.recipient.empty() && ascii_lower(r.address) != want) continue;
    if (!f.connector.empty() && ascii_lower(r.connector) != ascii_lower(f.connector)) continue;
    if (!f.next_hop.empty() && r.next_hop != f.next_hop) continue;
    if (f.state && r.state != *f.state) continue;
    return true;
  }
  return false;
}

ServiceBackend::ServiceBackend(Parts parts) : parts_(std::move(parts)) {}

std::vector<admin::MessageInfo> ServiceBackend::messages() {
  return group_messages(parts_.engine->queue_entries(), parts_.held);
}

admin::QueueSummary ServiceBackend::queue_summary() {
  return summarize(parts_.engine->queue_entries(), unix_seconds(parts_.clock->now()));
}

std::vector<admin::MessageInfo> ServiceBackend::list_messages(const admin::MessageFilter& filter) {
  std::vector<admin::MessageInfo> out;
  for (auto& m : messages()) {
    if (out.size() >= filter.limit) break;
    if (matches(m, filter)) out.push_back(std::move(m));
  }
  return out;
}

std::optional<admin::MessageInfo> ServiceBackend::show_message(const std::string& id) {
  for (auto& m : messages()) {
    if (m.id == id) return std::move(m);
  }
  return std::nullopt;
}

admin::OpResult ServiceBackend::retry(const std::string& id) {
  if (!id.empty() && !show_message(id)) return op(admin::OpStatus::not_found, "no queued message " + id);
  const auto c = parts_.engine->retry(id);
  spdlog::info("event=admin_retry {} jobs={}", kv("id", id.empty() ? std::string("all") : id), c.jobs);
  if (c.jobs == 0 && !id.empty()) {
    if (parts_.held->contains(id)) {
      return op(admin::OpStatus::conflict, "message " + id + " is held; release it first");
    }
    return op(admin::OpStatus::conflict, "message " + id + " is being delivered right now");
  }
  return op(admin::OpStatus::ok, plural(c.jobs, "delivery job") + " scheduled now", c.jobs);
}

admin::OpResult ServiceBackend::remove(const std::string& id) {
  if (!show_message(id)) return op(admin::OpStatus::not_found, "no queued message " + id);
  const auto c = parts_.engine->remove(id);
  if (c.failed) return op(admin::OpStatus::conflict, "message " + id + " not deleted: the spool write failed (see the log)");
  if (c.active > 0) {
    return op(admin::OpStatus::conflict, "message " + id + " is being delivered right now; try again in a moment");
  }
  if (auto r = parts_.held->remove(id); !r) {
    spdlog::error("event=admin_error op=delete {} {}", kv("id", id), kv("reason", r.error().message));
  }
  spdlog::warn("event=admin_delete {} jobs={}", kv("id", id), c.jobs);
  return op(admin::OpStatus::ok, "message " + id + " deleted (no NDR)", 1);
}

admin::OpResult ServiceBackend::hold(const std::string& id) {
  if (!show_message(id)) return op(admin::OpStatus::not_found, "no queued message " + id);
  // The marker first: a crash after it leaves the message held, never released by surprise.
  if (auto r = parts_.held->add(id); !r) {
    spdlog::error("event=admin_error op=hold {} {}", kv("id", id), kv("reason", r.error().message));
    return op(admin::OpStatus::conflict, "cannot record the hold: " + r.error().message);
  }
  const auto c = parts_.engine->hold(id);
  spdlog::info("event=admin_hold {} jobs={} active={}", kv("id", id), c.jobs, c.active);
  std::string msg = "message " + id + " held";
  if (c.active > 0) msg += " (an attempt in progress finishes first)";
  return op(admin::OpStatus::ok, msg, 1);
}

admin::OpResult ServiceBackend::release(const std::string& id) {
  if (!is_valid_message_id(id) || !parts_.held->contains(id)) {
    if (!show_message(id)) return op(admin::OpStatus::not_found, "no queued message " + id);
    return op(admin::OpStatus::conflict, "message " + id + " is not held");
  }
  auto removed = parts_.held->remove(id);
  if (!removed && parts_.held->contains(id)) {
    return op(admin::OpStatus::conflict, "cannot remove the hold: " + removed.error().message);
  }
  // The marker is gone (even if its folder could not be synced): the engine follows it.
  const auto c = parts_.engine->release(id);
  spdlog::info("event=admin_release {} jobs={}", kv("id", id), c.jobs);
  return op(admin::OpStatus::ok, "message " + id + " released; " + plural(c.jobs, "delivery job") + " scheduled now", 1);
}

admin::ReloadResult ServiceBackend::reload() { return parts_.reload(); }

Result<std::vector<trace::Event>> ServiceBackend::trace(const trace::Query& query) {
  if (parts_.trace == nullptr) return make_error("the message trace store is not open");
  return parts_.trace->query(query);
}

void ServiceBackend::before_scrape() {
  if (parts_.metrics == nullptr) return;
  auto& m = *parts_.metrics;
  const auto entries = parts_.engine->queue_entries();
  const auto summary = summarize(entries, unix_seconds(parts_.clock->now()));
  m.queue_messages.set(static_cast<double>(summary.messages));
  m.queue_oldest_age_seconds.set(static_cast<double>(summary.oldest_age_seconds));
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(parts_.spool_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    // Files vanish during the walk (RocksDB compaction): count only sizes read without error.
    if (!it->is_regular_file(ec) || ec) continue;
    const auto size = it->file_size(ec);
    if (!ec) bytes += size;
  }
  m.spool_bytes.set(static_cast<double>(bytes));
  if (parts_.trace != nullptr) {
    const auto dropped = parts_.trace->stats().dropped;
    if (dropped > trace_dropped_seen_) {
      m.trace_events_dropped_total.inc(dropped - trace_dropped_seen_);
      trace_dropped_seen_ = dropped;
    }
  }
}

}  // namespace mf::server
