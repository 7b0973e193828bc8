// server/admin_backend.hpp — the running service behind the admin API (admin/backend.hpp): the
// outbound engine's queue, the held-message markers, the trace store, reload and the scrape-time
// gauges.
//
// Queue operations follow Postfix's verbs: retry (postqueue -i / -f), hold / release (postsuper -h /
// -H; holds survive a restart, held.hpp), delete (postsuper -d: no NDR; traced as DROP). A message
// being delivered right now cannot be deleted (409, try again); holding it takes effect when the
// attempt ends. The queue shown is the outbound engine's (remote recipients waiting, deferred, held
// or on a connection); local Maildir deliveries are immediate and not listed.
// Threads: called from the admin server's thread only (backend.hpp); engine calls block until the
// engine's own thread has answered.
#pragma once

#include "admin/backend.hpp"
#include "config/snapshot.hpp"
#include "core/clock.hpp"
#include "delivery/outbound.hpp"
#include "metrics/service_metrics.hpp"
#include "server/held.hpp"
#include "trace/store.hpp"

#include <functional>
#include <memory>

namespace mf::server {

class ServiceBackend final : public admin::Backend {
 public:
  struct Parts {
    delivery::OutboundEngine* engine = nullptr;
    HeldMessages* held = nullptr;
    trace::Store* trace = nullptr;
    metrics::ServiceMetrics* metrics = nullptr;
    std::string spool_dir;                        // measured for mailflow_spool_bytes
    std::function<admin::ReloadResult()> reload;  // the server's reload
    const Clock* clock = nullptr;
  };
  explicit ServiceBackend(Parts parts);

  admin::QueueSummary queue_summary() override;
  std::vector<admin::MessageInfo> list_messages(const admin::MessageFilter& filter) override;
  std::optional<admin::MessageInfo> show_message(const std::string& id) override;
  admin::OpResult retry(const std::string& id) override;
  admin::OpResult remove(const std::string& id) override;
  admin::OpResult hold(const std::string& id) override;
  admin::OpResult release(const std::string& id) override;
  admin::ReloadResult reload() override;
  Result<std::vector<trace::Event>> trace(const trace::Query& query) override;
  void before_scrape() override;

 private:
  std::vector<admin::MessageInfo> messages();  // every queued message, oldest first

  Parts parts_;
  std::uint64_t trace_dropped_seen_ = 0;
};

// Pure: queue entries (one per job) → messages (one per message id, oldest first) and the summary.
std::vector<admin::MessageInfo> group_messages(const std::vector<delivery::QueueEntry>& entries,
                                               const HeldMessages* held);
admin::QueueSummary summarize(const std::vector<delivery::QueueEntry>& entries, std::int64_t now_unix);
bool matches(const admin::MessageInfo& m, const admin::MessageFilter& f);

}  // namespace mf::server
