// metrics/service_metrics.cpp — registration of the service's metric families (order = /metrics order).
#include "metrics/service_metrics.hpp"

namespace mf::metrics {

ServiceMetrics::ServiceMetrics(Registry& r)
    : connections_total(r.counter_family("mailflow_connections_total",
                                         "SMTP connections accepted, by listener.", {"listener"})),
      connections_active(r.gauge("mailflow_connections_active", "SMTP connections open now.")),
      messages_received_total(r.counter_family("mailflow_messages_received_total",
                                               "Messages accepted (250 after a durable spool write), by organization.",
                                               {"organization"})),
      messages_delivered_total(r.counter_family(
          "mailflow_messages_delivered_total",
          "Recipients delivered (remote 250 or written to a local mailbox), by organization and connector.",
          {"organization", "connector"})),
      messages_deferred_total(r.counter_family("mailflow_messages_deferred_total",
                                               "Delivery attempts that ended in a temporary failure, by organization "
                                               "and connector.",
                                               {"organization", "connector"})),
      messages_failed_total(r.counter_family("mailflow_messages_failed_total",
                                             "Recipients that failed permanently (bounced or expired), by "
                                             "organization and connector.",
                                             {"organization", "connector"})),
      rejects_total(r.counter_family("mailflow_rejects_total",
                                     "SMTP commands or connections refused by the service, by reason.", {"reason"})),
      queue_messages(r.gauge("mailflow_queue_messages", "Messages in the queue (not yet finished).")),
      queue_oldest_age_seconds(
          r.gauge("mailflow_queue_oldest_age_seconds", "Age of the oldest message in the queue, in seconds.")),
      spool_bytes(r.gauge("mailflow_spool_bytes", "Bytes of messages held in the spool.")),
      spool_sync_seconds(r.histogram("mailflow_spool_sync_seconds", "Latency of synced spool writes, in seconds.",
                                     latency_buckets())),
      trace_events_dropped_total(r.counter("mailflow_trace_events_dropped_total",
                                           "Message trace events dropped because the trace writer fell behind.")) {}

}  // namespace mf::metrics
