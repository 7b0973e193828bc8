// tests/admin/fake_backend.hpp — a scripted admin::Backend over an in-memory queue, for the admin
// server tests and the fake_admin_server the CLI tests drive. Thread-safe: the AdminServer calls it
// from its thread while the test inspects it.
#pragma once

#include "admin/backend.hpp"
#include "metrics/metrics.hpp"

#include <mutex>
#include <string>
#include <vector>

namespace mf::admin::testing {

// The fake's clock: ages are computed against this time (2023-11-14T22:13:20Z + 2 h).
inline constexpr std::int64_t kFakeNow = 1700000000 + 7200;

class FakeBackend : public Backend {
 public:
  // Seeds three messages (see fake_backend.cpp) and four trace events. `queue_gauge`, when given,
  // is set to the number of messages by before_scrape().
  explicit FakeBackend(metrics::Gauge* queue_gauge = nullptr);

  QueueSummary queue_summary() override;
  std::vector<MessageInfo> list_messages(const MessageFilter& filter) override;
  std::optional<MessageInfo> show_message(const std::string& id) override;
  OpResult retry(const std::string& id) override;
  OpResult remove(const std::string& id) override;
  OpResult hold(const std::string& id) override;
  OpResult release(const std::string& id) override;
  ReloadResult reload() override;
  Result<std::vector<trace::Event>> trace(const trace::Query& query) override;
  void before_scrape() override;

  // Script and observations (lock mu to touch them while a server runs).
  std::mutex mu;
  std::vector<MessageInfo> messages;
  std::vector<trace::Event> events;
  ReloadResult next_reload;               // what reload() answers
  bool trace_fails = false;               // trace() returns an error
  bool summary_throws = false;            // queue_summary() throws std::runtime_error
  std::vector<std::string> calls;         // "retry:ID", "remove:ID", "hold:ID", "release:ID", "reload"
  MessageFilter last_filter;
  trace::Query last_query;
  int scrapes = 0;

 private:
  metrics::Gauge* queue_gauge_;
};

}  // namespace mf::admin::testing
