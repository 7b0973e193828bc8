// Tests of metrics/service_metrics.hpp: every family of SPEC §6 is registered with its labels.
#include "metrics/service_metrics.hpp"

#include <gtest/gtest.h>

namespace mf::metrics {
namespace {

TEST(ServiceMetrics, RegistersEveryFamily) {
  Registry r;
  ServiceMetrics m(r);
  const std::string text = r.expose();
  for (const char* line : {
           "# TYPE mailflow_connections_total counter\n",
           "# TYPE mailflow_connections_active gauge\n",
           "# TYPE mailflow_messages_received_total counter\n",
           "# TYPE mailflow_messages_delivered_total counter\n",
           "# TYPE mailflow_messages_deferred_total counter\n",
           "# TYPE mailflow_messages_failed_total counter\n",
           "# TYPE mailflow_rejects_total counter\n",
           "# TYPE mailflow_queue_messages gauge\n",
           "# TYPE mailflow_queue_oldest_age_seconds gauge\n",
           "# TYPE mailflow_spool_bytes gauge\n",
           "# TYPE mailflow_spool_sync_seconds histogram\n",
           "# TYPE mailflow_trace_events_dropped_total counter\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_NE(text.find("mailflow_spool_sync_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
}

TEST(ServiceMetrics, LabelsAsDocumented) {
  Registry r;
  ServiceMetrics m(r);
  EXPECT_EQ(m.connections_total.label_names(), std::vector<std::string>{"listener"});
  EXPECT_EQ(m.messages_received_total.label_names(), std::vector<std::string>{"organization"});
  const std::vector<std::string> org_conn{"organization", "connector"};
  EXPECT_EQ(m.messages_delivered_total.label_names(), org_conn);
  EXPECT_EQ(m.messages_deferred_total.label_names(), org_conn);
  EXPECT_EQ(m.messages_failed_total.label_names(), org_conn);
  EXPECT_EQ(m.rejects_total.label_names(), std::vector<std::string>{"reason"});

  m.messages_delivered_total.with({"fabrikam", "smarthost"}).inc();
  m.rejects_total.with({"relay_denied"}).inc(2);
  m.spool_sync_seconds.observe(0.002);
  const std::string text = r.expose();
  EXPECT_NE(text.find("mailflow_messages_delivered_total{organization=\"fabrikam\",connector=\"smarthost\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("mailflow_rejects_total{reason=\"relay_denied\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("mailflow_spool_sync_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace mf::metrics
