// tests/delivery/recording_sink.hpp — a trace::Sink that keeps every event in memory, for tests
// that check which message trace events the delivery code records. Thread-safe.
#pragma once

#include "trace/sink.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

namespace mf::test {

class RecordingSink final : public trace::Sink {
 public:
  void record(trace::Event e) override {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(e));
  }
  std::vector<trace::Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // The events of one type, in recording order.
  std::vector<trace::Event> of(trace::EventType type) const {
    std::vector<trace::Event> out;
    for (auto& e : events())
      if (e.type == type) out.push_back(std::move(e));
    return out;
  }
  // The events about one envelope recipient, in recording order.
  std::vector<trace::Event> about(const std::string& recipient) const {
    std::vector<trace::Event> out;
    for (auto& e : events())
      if (e.recipient == recipient) out.push_back(std::move(e));
    return out;
  }
  std::size_t count(trace::EventType type) const { return of(type).size(); }
  // The type names of `events`, for readable assertions.
  static std::vector<std::string> types(const std::vector<trace::Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.emplace_back(trace::to_string(e.type));
    return out;
  }
  static bool is_final(trace::EventType t) {
    return t == trace::EventType::DELIVER || t == trace::EventType::SEND || t == trace::EventType::FAIL ||
           t == trace::EventType::DROP;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<trace::Event> events_;
};

}  // namespace mf::test
