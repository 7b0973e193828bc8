// tests/support/fake_clock.hpp — a Clock that only moves when the test says so. Thread-safe.
#pragma once

#include "core/clock.hpp"

#include <atomic>

namespace mf::test {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SysTime start = SysTime{std::chrono::seconds{1'700'000'000}}) : now_(start.time_since_epoch().count()) {}
  SysTime now() const override { return SysTime{SysTime::duration{now_.load()}}; }
  void advance(std::chrono::seconds d) { now_ += std::chrono::duration_cast<SysTime::duration>(d).count(); }
  void set(SysTime t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<SysTime::rep> now_;
};

}  // namespace mf::test
