// Child programs run without blocking the event loop: the HA callout (-H) and the
// SIGUSR1 re-notify round of rpc.statd.
//
// Each Run() is one child started with posix_spawn (no shell, no PATH search, stdin
// /dev/null, stdout/stderr inherited, descriptors above 2 closed, default signal
// dispositions and an empty signal mask, its own process group). At most `max_running`
// children run at once; later runs wait in a FIFO queue of at most `max_queued`, beyond
// which they are dropped with a log line. A child still running after `timeout` is
// killed with SIGKILL (its whole process group). Children are reaped asynchronously,
// each through its own pidfd (a polling timer on kernels without pidfd_open); no
// SIGCHLD handler is installed and no other process is ever waited for.
//
// Threading: every member function must be called on the io_context's thread, which
// runs all completions. Errors are logged (prefixed by `label`) and counted, never
// returned: a failing child must not fail the caller.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

namespace nsm::privsep {

struct ChildOptions {
  std::string label = "child";  // log prefix
  size_t max_running = 4;
  size_t max_queued = 256;
  std::chrono::milliseconds timeout{30000};
  // Polling interval of the reaper when pidfd_open(2) is unavailable.
  std::chrono::milliseconds poll_interval{50};
};

struct ChildStats {
  uint64_t requested = 0;     // Run() calls
  uint64_t started = 0;       // children spawned
  uint64_t succeeded = 0;     // exited with status 0
  uint64_t failed = 0;        // non-zero exit status or killed by a signal (timeouts included)
  uint64_t timed_out = 0;     // killed after `timeout`
  uint64_t spawn_errors = 0;  // posix_spawn failed (missing program, no permission, ...)
  uint64_t dropped = 0;       // queue full, or shut down with runs queued
  uint64_t running = 0;       // now
  uint64_t queued = 0;        // now
};

// How a child ended, for Run()'s callback.
struct ChildExit {
  bool spawned = false;          // false: posix_spawn failed (or the run was dropped)
  bool known = false;            // the wait status was collected (not auto-reaped elsewhere)
  int wait_status = 0;           // as from waitpid
  bool timed_out = false;        // killed after the timeout
  bool ok() const;               // spawned, known, exited with status 0, not timed out
  int exit_status() const;       // the status it exited with; -1 if it did not exit by itself
  std::string ToString() const;  // "exited with status 8", "timed out and was killed", ...
};

class Children {
 public:
  using Done = std::function<void(const ChildExit&)>;

  Children(asio::io_context& io, ChildOptions opts);
  // Cancels timers and stops watching running children, which are neither killed nor
  // waited for (they finish on their own and are reaped by init once we exit).
  ~Children();
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;

  // Runs argv[0] (a path) with argv. `done`, if given, runs on the io thread when the
  // child has ended, or at once if it could not start or was dropped.
  void Run(std::vector<std::string> argv, Done done = {});

  // Drops the queue and refuses later runs; running children keep their timeout.
  void Shutdown();

  ChildStats stats() const;
  // Process ids of the running children (tests).
  std::vector<pid_t> running_pids() const;

 private:
  struct Child;
  struct Queued {
    std::vector<std::string> argv;
    Done done;
  };
  void StartQueued();
  void Start(Queued q);
  void Watch(std::shared_ptr<Child> child);
  void Poll(std::shared_ptr<Child> child);
  void Reaped(const std::shared_ptr<Child>& child, int wait_status, bool known);
  void TimedOut(const std::shared_ptr<Child>& child);

  asio::io_context& io_;
  ChildOptions opts_;
  ChildStats stats_;
  bool shut_down_ = false;
  std::deque<Queued> queue_;
  std::map<pid_t, std::shared_ptr<Child>> running_;
};

}  // namespace nsm::privsep
