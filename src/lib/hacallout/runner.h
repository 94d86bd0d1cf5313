// The HA callout (-H/--ha-callout PROG): runs PROG with the arguments nfs-utils uses,
//   PROG add-client MON_NAME MY_NAME          after a successful SM_MON
//   PROG del-client MON_NAME MY_NAME          after SM_UNMON, once per record of SM_UNMON_ALL
//   PROG sm-notify  MON_NAME CALLER_IP STATE  on every SM_NOTIFY received
// without ever blocking the caller (nfs-utils runs it synchronously in the listener).
// See docs/ha.md.
//
// Each event is one child started with posix_spawn (no shell, no PATH search, stdin
// /dev/null, stdout/stderr inherited, descriptors above 2 closed, default signal
// dispositions, its own process group). At most `max_running` children run at once;
// later events wait in a FIFO queue of at most `max_queued`, beyond which they are
// dropped with a log line. A child still running after `timeout` is killed with
// SIGKILL (its whole process group). Children are reaped asynchronously, each through
// its own pidfd (a polling timer on kernels without pidfd_open); no SIGCHLD handler is
// installed and no other process is ever waited for.
//
// Threading: every member function must be called on the io_context's thread, which
// runs all completions. Errors are logged and counted, never returned: a failing
// callout must not fail an SM procedure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

namespace nsm::hacallout {

struct Options {
  std::string program;  // run as given (absolute path recommended); empty: disabled
  size_t max_running = 4;
  size_t max_queued = 256;
  std::chrono::milliseconds timeout{30000};
  // Polling interval of the reaper when pidfd_open(2) is unavailable.
  std::chrono::milliseconds poll_interval{50};
};

struct Stats {
  uint64_t requested = 0;     // events handed to the runner
  uint64_t started = 0;       // children spawned
  uint64_t succeeded = 0;     // exited with status 0
  uint64_t failed = 0;        // non-zero exit status or killed by a signal (timeouts included)
  uint64_t timed_out = 0;     // killed after `timeout`
  uint64_t spawn_errors = 0;  // posix_spawn failed (missing program, no permission, ...)
  uint64_t dropped = 0;       // queue full, or shut down with events queued
  uint64_t running = 0;       // now
  uint64_t queued = 0;        // now
};

class Runner {
 public:
  Runner(asio::io_context& io, Options opts);
  // Cancels timers and stops watching running children, which are neither killed nor
  // waited for (they finish on their own and are reaped by init once we exit).
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // The three nfs-utils events.
  void AddClient(const std::string& mon_name, const std::string& my_name);
  void DelClient(const std::string& mon_name, const std::string& my_name);
  void SmNotify(const std::string& mon_name, const std::string& caller_ip, int32_t state);
  // Runs PROG with these arguments (argv[1..]).
  void Run(std::vector<std::string> args);

  // Drops the queue and refuses later events; running children keep their timeout.
  void Shutdown();

  bool enabled() const { return !opts_.program.empty(); }
  const std::string& program() const { return opts_.program; }
  Stats stats() const;
  // Process ids of the running children (tests).
  std::vector<pid_t> running_pids() const;

 private:
  struct Child;
  void StartQueued();
  void Start(std::vector<std::string> args);
  void Watch(std::shared_ptr<Child> child);
  void Poll(std::shared_ptr<Child> child);
  void Reaped(const std::shared_ptr<Child>& child, int wait_status, bool known);
  void TimedOut(const std::shared_ptr<Child>& child);

  asio::io_context& io_;
  Options opts_;
  Stats stats_;
  bool shut_down_ = false;
  std::deque<std::vector<std::string>> queue_;
  std::map<pid_t, std::shared_ptr<Child>> running_;
};

}  // namespace nsm::hacallout
