// Time seam: code that schedules or timestamps asks a Clock, so tests can replace it.
#pragma once

#include <chrono>
#include <cstdint>

namespace nsm {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() const = 0;  // monotonic
  virtual int64_t UnixSeconds() const = 0;                        // wall clock
  // The process-wide real clock.
  static const Clock& Real();
};

}  // namespace nsm
