// Tests of the Prometheus text exposition (metrics/exposition.cpp): exact output.
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mf::metrics {
namespace {

TEST(Exposition, CounterWithLabelsSortedByValue) {
  Registry r;
  auto& f = r.counter_family("mail_total", "Mail counted.", {"organization", "connector"});
  f.with({"fabrikam", "smarthost"}).inc(3);
  f.with({"contoso", "mx"}).inc();
  EXPECT_EQ(r.expose(),
            "# HELP mail_total Mail counted.\n"
            "# TYPE mail_total counter\n"
            "mail_total{organization=\"contoso\",connector=\"mx\"} 1\n"
            "mail_total{organization=\"fabrikam\",connector=\"smarthost\"} 3\n");
}

TEST(Exposition, UnlabelledMetricsAreExposedAtZeroBeforeFirstUse) {
  Registry r;
  r.counter("a_total", "A.");
  r.gauge("b", "B.");
  EXPECT_EQ(r.expose(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B.\n# TYPE b gauge\nb 0\n");
}

TEST(Exposition, LabelledFamilyWithoutChildrenHasOnlyHeader) {
  Registry r;
  r.counter_family("r_total", "R.", {"reason"});
  EXPECT_EQ(r.expose(), "# HELP r_total R.\n# TYPE r_total counter\n");
}

TEST(Exposition, GaugeValues) {
  Registry r;
  Gauge& g = r.gauge("g", "G.");
  g.set(0.25);
  EXPECT_EQ(r.expose(), "# HELP g G.\n# TYPE g gauge\ng 0.25\n");
  g.set(-3);
  EXPECT_EQ(r.expose(), "# HELP g G.\n# TYPE g gauge\ng -3\n");
  g.set(1e300);
  EXPECT_EQ(r.expose(), "# HELP g G.\n# TYPE g gauge\ng 1e+300\n");
}

TEST(Exposition, FormatValueSpecials) {
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(123456789), "123456789");
}

TEST(Exposition, LabelValueAndHelpEscaping) {
  Registry r;
  auto& f = r.counter_family("e_total", "Line one\nback\\slash \"quotes\" stay.", {"v"});
  f.with({"a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.expose(),
            "# HELP e_total Line one\\nback\\\\slash \"quotes\" stay.\n"
            "# TYPE e_total counter\n"
            "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Exposition, HistogramBucketsSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("sync_seconds", "Sync latency.", {0.005, 0.1, 1});
  h.observe(0.001);
  h.observe(0.05);
  h.observe(0.05);
  h.observe(3);
  EXPECT_EQ(r.expose(),
            "# HELP sync_seconds Sync latency.\n"
            "# TYPE sync_seconds histogram\n"
            "sync_seconds_bucket{le=\"0.005\"} 1\n"
            "sync_seconds_bucket{le=\"0.1\"} 3\n"
            "sync_seconds_bucket{le=\"1\"} 3\n"
            "sync_seconds_bucket{le=\"+Inf\"} 4\n"
            "sync_seconds_sum 3.101\n"
            "sync_seconds_count 4\n");
}

TEST(Exposition, HistogramWithLabels) {
  Registry r;
  auto& f = r.histogram_family("lat_seconds", "L.", {"hop"}, {1});
  f.with({"mx.example"}).observe(0.5);
  EXPECT_EQ(r.expose(),
            "# HELP lat_seconds L.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{hop=\"mx.example\",le=\"1\"} 1\n"
            "lat_seconds_bucket{hop=\"mx.example\",le=\"+Inf\"} 1\n"
            "lat_seconds_sum{hop=\"mx.example\"} 0.5\n"
            "lat_seconds_count{hop=\"mx.example\"} 1\n");
}

TEST(Exposition, FamiliesInRegistrationOrder) {
  Registry r;
  r.gauge("zzz", "Z.");
  r.gauge("aaa", "A.");
  const std::string text = r.expose();
  EXPECT_LT(text.find("zzz"), text.find("aaa"));
}

}  // namespace
}  // namespace mf::metrics
