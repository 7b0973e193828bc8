// admin/backend.hpp — what the admin API needs from the running service.
//
// The service (src/server/) implements Backend over its queue, spool, trace store and configuration;
// tests use a fake. The AdminServer calls every method from its own single thread (the admin
// io_context thread), one request at a time, never concurrently with another Backend call; the
// calls may block briefly (take a lock, post to the service's executor and wait for the answer,
// read the trace store), which only delays other admin requests. An implementation must therefore
// be safe to call from a thread that is not the service's own, and must not block for long (the
// admin client gives up after its timeout, 10 s by default).
//
// Errors: queue operations report "no such message" / "wrong state" in OpResult (404 / 409);
// reload() reports configuration errors in ReloadResult (409); trace() returns environment failures
// (the trace store could not be read) as an Error (500). An exception escaping a method is caught by
// the server and answered with 500; do not rely on that.
#pragma once

#include "admin/api.hpp"
#include "core/result.hpp"
#include "trace/event.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mf::admin {

class Backend {
 public:
  virtual ~Backend() = default;

  // Totals and groups by next hop, connector and organization (GET /api/v1/queue).
  virtual QueueSummary queue_summary() = 0;
  // Queued messages matching the filter, oldest first, at most filter.limit (GET /api/v1/messages).
  virtual std::vector<MessageInfo> list_messages(const MessageFilter& filter) = 0;
  // One message, or nullopt when no queued message has this id (GET /api/v1/messages/{id}).
  virtual std::optional<MessageInfo> show_message(const std::string& id) = 0;

  // Schedule an immediate delivery attempt of a deferred message; id "" = every deferred message.
  virtual OpResult retry(const std::string& id) = 0;
  // Delete a message from the queue and the spool without an NDR (Postfix's postsuper -d).
  virtual OpResult remove(const std::string& id) = 0;
  // Hold: no delivery attempts until released (postsuper -h). Holding a held message is ok.
  virtual OpResult hold(const std::string& id) = 0;
  // Release a held message; it is retried at once (postsuper -H). conflict when not held.
  virtual OpResult release(const std::string& id) = 0;

  // Re-read the configuration file, like SIGHUP; on errors the old configuration stays in force.
  virtual ReloadResult reload() = 0;

  // Message trace search (GET /api/v1/trace).
  virtual Result<std::vector<trace::Event>> trace(const trace::Query& query) = 0;

  // Called before each GET /metrics scrape: refresh gauges that are cheaper to compute on demand
  // (queue depth and oldest age, spool bytes).
  virtual void before_scrape() {}
};

}  // namespace mf::admin
