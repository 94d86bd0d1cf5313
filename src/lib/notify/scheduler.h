// Time seam of the notifier: "now" and one-shot timers. The production implementation
// runs on an Asio io_context; unit tests drive a manual one (a fake clock), so the
// state machine's backoff, deadlines and pacing are tested without waiting.
//
// Threading: used from the io_context thread only; callbacks run on it, never inline
// inside At().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <asio/io_context.hpp>

namespace nsm::notify {

class Scheduler {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;
  using TimerId = uint64_t;  // never 0

  virtual ~Scheduler() = default;
  virtual TimePoint Now() const = 0;
  // Runs fn once at `when` (at once, but not inline, if `when` has passed).
  virtual TimerId At(TimePoint when, std::function<void()> fn) = 0;
  // Cancels a timer that has not run yet; unknown or finished ids are ignored.
  virtual void Cancel(TimerId id) = 0;
};

// Steady-clock timers on `io`. Destroying the scheduler cancels every pending timer
// (their callbacks never run).
std::unique_ptr<Scheduler> MakeAsioScheduler(asio::io_context& io);

}  // namespace nsm::notify
