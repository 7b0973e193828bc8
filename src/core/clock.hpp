// core/clock.hpp — the injected wall clock (STYLE habit 5): retry, expiry and DNS cache decisions
// take a Clock so that tests move time by hand (tests/support/fake_clock.hpp).
#pragma once

#include <chrono>

namespace mf {

using SysTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
};

// The process-wide real clock.
inline const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace mf
