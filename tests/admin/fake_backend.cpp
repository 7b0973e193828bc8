// tests/admin/fake_backend.cpp — the scripted Backend (see fake_backend.hpp).
#include "admin/fake_backend.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

namespace mf::admin::testing {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

RecipientInfo rcpt(std::string address, RecipientState state, std::string hop, std::string connector,
                   std::uint32_t attempts, std::int64_t next, std::string error) {
  return RecipientInfo{std::move(address), state, std::move(hop), std::move(connector), attempts, next, std::move(error)};
}

trace::Event event(std::int64_t time_us, std::string id, trace::EventType type, std::string sender,
                   std::string recipient, std::string connector, std::string hop, std::string reply) {
  trace::Event e;
  e.time_us = time_us;
  e.message_id = std::move(id);
  e.type = type;
  e.organization = "contoso";
  e.sender = std::move(sender);
  e.recipient = std::move(recipient);
  e.connector = std::move(connector);
  e.next_hop = std::move(hop);
  e.reply = std::move(reply);
  return e;
}

void add_group(std::map<std::string, QueueGroup>& groups, const std::string& key, std::int64_t age,
               std::uint64_t recipients) {
  QueueGroup& g = groups[key];
  g.key = key;
  g.messages += 1;
  g.recipients += recipients;
  g.oldest_age_seconds = std::max(g.oldest_age_seconds, age);
}

std::vector<QueueGroup> values(const std::map<std::string, QueueGroup>& m) {
  std::vector<QueueGroup> out;
  for (const auto& [k, g] : m) out.push_back(g);
  return out;
}

}  // namespace

FakeBackend::FakeBackend(metrics::Gauge* queue_gauge) : queue_gauge_(queue_gauge) {
  messages.push_back(MessageInfo{
      "1A2B3C4D", "alice@contoso.com", "contoso", 1700000000, 2048, false,
      {rcpt("bob@fabrikam.com", RecipientState::deferred, "mx.fabrikam.com", "to-fabrikam", 3, 1700009000,
            "451 4.7.1 Greylisted, try again later")}});
  messages.push_back(MessageInfo{"5E6F7A8B",
                                 "",
                                 "contoso",
                                 1700006000,
                                 512,
                                 false,
                                 {rcpt("carol@example.net", RecipientState::queued, "example.net", "internet", 0, 0, ""),
                                  rcpt("dan@example.net", RecipientState::queued, "example.net", "internet", 0, 0, "")}});
  messages.push_back(MessageInfo{
      "9C0D1E2F", "dave@fabrikam.com", "fabrikam", 1700003600, 100000, true,
      {rcpt("erin@contoso.com", RecipientState::held, "local", "local", 1, 0, "")}});

  const std::int64_t t0 = 1700000000LL * 1000000;
  events.push_back(event(t0, "1A2B3C4D", trace::EventType::RECEIVE, "alice@contoso.com", "", "from-contoso", "",
                         "250 2.0.0 Ok: queued as 1A2B3C4D"));
  events.push_back(event(t0 + 1500, "1A2B3C4D", trace::EventType::DEFER, "alice@contoso.com", "bob@fabrikam.com",
                         "to-fabrikam", "mx.fabrikam.com", "451 4.7.1 Greylisted, try again later"));
  events.push_back(event(t0 + 6000000000LL, "5E6F7A8B", trace::EventType::RECEIVE, "", "", "", "", "250 2.0.0 Ok"));
  events.push_back(event(t0 + 6000500000LL, "5E6F7A8B", trace::EventType::SEND, "", "carol@example.net", "internet",
                         "example.net", "250 2.0.0 Ok: 12345"));
  events.back().tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
}

QueueSummary FakeBackend::queue_summary() {
  std::lock_guard lock(mu);
  if (summary_throws) throw std::runtime_error("queue unavailable");
  QueueSummary s;
  std::map<std::string, QueueGroup> hops, connectors, orgs;
  for (const auto& m : messages) {
    const std::int64_t age = kFakeNow - m.received_at;
    s.messages += 1;
    s.recipients += m.recipients.size();
    s.oldest_age_seconds = std::max(s.oldest_age_seconds, age);
    add_group(orgs, m.organization, age, m.recipients.size());
    std::map<std::string, std::uint64_t> per_hop, per_connector;
    for (const auto& r : m.recipients) {
      per_hop[r.next_hop] += 1;
      per_connector[r.connector] += 1;
    }
    for (const auto& [k, n] : per_hop) add_group(hops, k, age, n);
    for (const auto& [k, n] : per_connector) add_group(connectors, k, age, n);
  }
  s.by_next_hop = values(hops);
  s.by_connector = values(connectors);
  s.by_organization = values(orgs);
  return s;
}

std::vector<MessageInfo> FakeBackend::list_messages(const MessageFilter& f) {
  std::lock_guard lock(mu);
  last_filter = f;
  std::vector<MessageInfo> out;
  for (const auto& m : messages) {
    if (!f.sender.empty() && !iequal(f.sender, m.sender)) continue;
    if (!f.organization.empty() && f.organization != m.organization) continue;
    const bool rcpt_ok = std::any_of(m.recipients.begin(), m.recipients.end(), [&](const RecipientInfo& r) {
      return (f.recipient.empty() || iequal(f.recipient, r.address)) && (!f.state || *f.state == r.state) &&
             (f.connector.empty() || f.connector == r.connector) && (f.next_hop.empty() || f.next_hop == r.next_hop);
    });
    if (!rcpt_ok) continue;
    if (out.size() >= f.limit) break;
    out.push_back(m);
  }
  return out;
}

std::optional<MessageInfo> FakeBackend::show_message(const std::string& id) {
  std::lock_guard lock(mu);
  for (const auto& m : messages) {
    if (m.id == id) return m;
  }
  return std::nullopt;
}

OpResult FakeBackend::retry(const std::string& id) {
  std::lock_guard lock(mu);
  calls.push_back("retry:" + id);
  std::uint64_t n = 0;
  for (auto& m : messages) {
    if (!id.empty() && m.id != id) continue;
    if (!id.empty() && m.held) return OpResult{OpStatus::conflict, "message " + id + " is held; release it", 0};
    bool any = false;
    for (auto& r : m.recipients) {
      if (r.state == RecipientState::deferred) {
        r.next_attempt = kFakeNow;
        any = true;
      }
    }
    if (any || !id.empty()) ++n;
    if (!id.empty()) return OpResult{OpStatus::ok, "message " + id + " scheduled for delivery now", 1};
  }
  if (!id.empty()) return OpResult{OpStatus::not_found, "no queued message with id " + id, 0};
  return OpResult{OpStatus::ok, std::to_string(n) + " deferred message(s) scheduled for delivery now", n};
}

OpResult FakeBackend::remove(const std::string& id) {
  std::lock_guard lock(mu);
  calls.push_back("remove:" + id);
  const auto it = std::find_if(messages.begin(), messages.end(), [&](const MessageInfo& m) { return m.id == id; });
  if (it == messages.end()) return OpResult{OpStatus::not_found, "no queued message with id " + id, 0};
  messages.erase(it);
  return OpResult{OpStatus::ok, "message " + id + " deleted", 1};
}

OpResult FakeBackend::hold(const std::string& id) {
  std::lock_guard lock(mu);
  calls.push_back("hold:" + id);
  for (auto& m : messages) {
    if (m.id != id) continue;
    m.held = true;
    for (auto& r : m.recipients) r.state = RecipientState::held;
    return OpResult{OpStatus::ok, "message " + id + " held", 1};
  }
  return OpResult{OpStatus::not_found, "no queued message with id " + id, 0};
}

OpResult FakeBackend::release(const std::string& id) {
  std::lock_guard lock(mu);
  calls.push_back("release:" + id);
  for (auto& m : messages) {
    if (m.id != id) continue;
    if (!m.held) return OpResult{OpStatus::conflict, "message " + id + " is not held", 0};
    m.held = false;
    for (auto& r : m.recipients) r.state = RecipientState::queued;
    return OpResult{OpStatus::ok, "message " + id + " released", 1};
  }
  return OpResult{OpStatus::not_found, "no queued message with id " + id, 0};
}

ReloadResult FakeBackend::reload() {
  std::lock_guard lock(mu);
  calls.push_back("reload");
  return next_reload;
}

Result<std::vector<trace::Event>> FakeBackend::trace(const trace::Query& q) {
  std::lock_guard lock(mu);
  last_query = q;
  if (trace_fails) return make_error("trace store is locked");
  std::vector<trace::Event> out;
  for (const auto& e : events) {
    if (!q.sender.empty() && !iequal(q.sender, e.sender)) continue;
    if (!q.recipient.empty() && !iequal(q.recipient, e.recipient)) continue;
    if (!q.message_id.empty() && q.message_id != e.message_id && q.message_id != e.internet_message_id) continue;
    if (e.time_us < q.since_us) continue;
    if (out.size() >= q.limit) break;
    out.push_back(e);
  }
  return out;
}

void FakeBackend::before_scrape() {
  std::lock_guard lock(mu);
  ++scrapes;
  if (queue_gauge_) queue_gauge_->set(static_cast<double>(messages.size()));
}

}  // namespace mf::admin::testing
