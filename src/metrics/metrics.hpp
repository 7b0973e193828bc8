// metrics/metrics.hpp — a small thread-safe metrics registry and its Prometheus text exposition
// (format 0.0.4, served by the admin listener at GET /metrics, SPEC §6).
//
// A Registry owns metric families: counters, gauges and histograms (fixed buckets), each with zero
// or more label names. A family hands out one child per set of label values with with(); the child
// lives as long as the registry and never moves, so a hot path looks it up once (a mutex and a map
// search) and keeps the reference: from then on an increment is one relaxed atomic add, safe from
// any thread. expose() renders everything at once (families in registration order, children sorted
// by label values) and may run concurrently with increments; each value is read atomically, a
// histogram's buckets are read one by one (its _count is the +Inf bucket, so the two always agree).
//
// There is no process-wide registry (no singleton): the service owns one and passes it (or the
// ServiceMetrics built on it, see service_metrics.hpp) to the modules it instruments.
// Errors: registering an invalid or duplicate name, or asking a family for the wrong number of label
// values, is a programming error and throws std::invalid_argument (registration happens at start-up).
// Keep label values bounded (organization and connector names from the configuration, fixed reason
// words): never put addresses, IPs or message ids in a label.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mf::metrics {

// A monotonically increasing count.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (queue depth, bytes, an age in seconds).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double d = 1) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void dec(double d = 1) noexcept { value_.fetch_sub(d, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in fixed buckets (upper bounds, ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;

  struct Snapshot {
    std::vector<double> bounds;           // as given, without +Inf
    std::vector<std::uint64_t> cumulative;  // bounds.size() + 1 entries; the last is +Inf = count
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket (not cumulative); last = above all bounds
  std::atomic<double> sum_{0};
};

enum class Type { counter, gauge, histogram };

// What every family shares; expose() writes its HELP, TYPE and samples.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  Type type() const { return type_; }
  virtual void expose(std::string& out) const = 0;

 protected:
  void check_arity(std::size_t n) const;  // throws std::invalid_argument
  void write_header(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  Type type_;
};

// A family of one metric type. with() returns the child for the label values given in the order of
// label_names(); the reference stays valid for the registry's lifetime.
template <class Metric>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, Type type,
         std::vector<double> bounds = {});

  Metric& with(std::initializer_list<std::string_view> values) {
    return with(std::vector<std::string>(values.begin(), values.end()));
  }
  Metric& with(std::vector<std::string> values);
  void expose(std::string& out) const override;

 private:
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Buckets for latencies from 0.5 ms to 10 s (seconds).
std::vector<double> latency_buckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter_family(std::string name, std::string help, std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string name, std::string help, std::vector<std::string> label_names);
  HistogramFamily& histogram_family(std::string name, std::string help, std::vector<std::string> label_names,
                                    std::vector<double> bounds);

  // Families without labels: the one child, created now so it is exposed (as 0) before first use.
  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);

  // Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
  std::string expose() const;

 private:
  template <class F>
  F& add(std::unique_ptr<F> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;  // guarded by mu_; registration order
};

// Text-format helpers (exposed for tests): a sample value ("3", "0.25", "+Inf", "NaN"), a label value
// escaped (\\, \", \n) and HELP text escaped (\\, \n).
std::string format_value(double v);
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);

}  // namespace mf::metrics
