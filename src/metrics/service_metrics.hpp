// metrics/service_metrics.hpp — the service's metric families (SPEC §6), in one place so every module
// instruments the same names and the /metrics output is documented here.
//
// The service builds one ServiceMetrics on its Registry at start-up and hands a reference to the
// modules it instruments (never a global). A module looks a labelled child up once and keeps it:
//
//   metrics::Counter& delivered = m.messages_delivered_total.with({org, connector});  // once (mutex)
//   delivered.inc();                                                                  // hot path (relaxed atomic)
//
// Label values: organization and connector are configuration names ("" when the message is not
// attributed or has no connector, e.g. local delivery uses connector "local"); listener is the
// listener name; reason is one fixed word (see kRejectReasons). Gauges (queue, spool) are refreshed by
// the admin Backend's before_scrape() or by their owner; counters only go up.
#pragma once

#include "metrics/metrics.hpp"

#include <array>
#include <string_view>

namespace mf::metrics {

// Reject reasons for mailflow_rejects_total{reason}: keep to these words (bounded cardinality).
inline constexpr std::array<std::string_view, 13> kRejectReasons = {
    "relay_denied",     "unknown_recipient", "sender_rejected", "message_too_large", "too_many_recipients",
    "rate_limited",     "connection_limit",  "auth_failed",     "protocol_error",    "rule",
    "temporary_failure", "shutdown",         "tls_required"};

struct ServiceMetrics {
  explicit ServiceMetrics(Registry& registry);

  CounterFamily& connections_total;          // mailflow_connections_total{listener}
  Gauge& connections_active;                 // mailflow_connections_active
  CounterFamily& messages_received_total;    // mailflow_messages_received_total{organization}
  CounterFamily& messages_delivered_total;   // mailflow_messages_delivered_total{organization,connector}
  CounterFamily& messages_deferred_total;    // mailflow_messages_deferred_total{organization,connector}
  CounterFamily& messages_failed_total;      // mailflow_messages_failed_total{organization,connector}
  CounterFamily& rejects_total;              // mailflow_rejects_total{reason}
  Gauge& queue_messages;                     // mailflow_queue_messages
  Gauge& queue_oldest_age_seconds;           // mailflow_queue_oldest_age_seconds
  Gauge& spool_bytes;                        // mailflow_spool_bytes
  Histogram& spool_sync_seconds;             // mailflow_spool_sync_seconds (latency_buckets())
  Counter& trace_events_dropped_total;       // mailflow_trace_events_dropped_total
};

}  // namespace mf::metrics
