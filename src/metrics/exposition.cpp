// metrics/exposition.cpp — Prometheus text exposition format 0.0.4.
//
//   # HELP <name> <help, with \\ and \n escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \\ \" \n escaped>",...} <value>
//   <name>_bucket{...,le="<bound>"} <cumulative count>   (histograms; last le="+Inf")
//   <name>_sum{...} <sum>
//   <name>_count{...} <count>
#include "metrics/metrics.hpp"

#include <charconv>
#include <cmath>

namespace mf::metrics {

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // integral and exact: no exponent, no ".0"
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back the same
  return std::string(buf, r.ptr);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

const char* type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with an optional extra label, used for `le`), or nothing without labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += escape_label_value(extra_value);
    out += '"';
  }
  out += '}';
  return out;
}

void sample(std::string& out, std::string_view name, std::string_view suffix, const std::string& labels,
            std::string_view value) {
  out += name;
  out += suffix;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

void write_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Counter& c) {
  sample(out, name, "", label_set(names, values), std::to_string(c.value()));
}

void write_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Gauge& g) {
  sample(out, name, "", label_set(names, values), format_value(g.value()));
}

void write_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Histogram& h) {
  const Histogram::Snapshot s = h.snapshot();
  for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < s.bounds.size() ? format_value(s.bounds[i]) : "+Inf";
    sample(out, name, "_bucket", label_set(names, values, "le", le), std::to_string(s.cumulative[i]));
  }
  const std::string labels = label_set(names, values);
  sample(out, name, "_sum", labels, format_value(s.sum));
  sample(out, name, "_count", labels, std::to_string(s.count));
}

}  // namespace

void FamilyBase::write_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escape_help(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
}

template <class Metric>
void Family<Metric>::expose(std::string& out) const {
  write_header(out);
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) write_child(out, name(), label_names(), values, *child);
}

template void Family<Counter>::expose(std::string&) const;
template void Family<Gauge>::expose(std::string&) const;
template void Family<Histogram>::expose(std::string&) const;

}  // namespace mf::metrics
