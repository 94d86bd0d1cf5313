// The HA callout (-H/--ha-callout PROG): runs PROG with the arguments nfs-utils uses,
//   PROG add-client MON_NAME MY_NAME          after a successful SM_MON
//   PROG del-client MON_NAME MY_NAME          after SM_UNMON, once per record of SM_UNMON_ALL
//   PROG sm-notify  MON_NAME CALLER_IP STATE  on every SM_NOTIFY received
// without ever blocking the caller (nfs-utils runs it synchronously in the listener).
// See docs/ha.md.
//
// Each event is one child of a privsep::Children (posix_spawn, no shell, no PATH,
// its own process group, reaped through a pidfd; see privsep/children.h): at most
// `max_running` at once, a FIFO of at most `max_queued` (beyond: dropped with a log
// line), SIGKILL to the process group after `timeout`.
//
// Threading: every member function must be called on the io_context's thread, which
// runs all completions. Errors are logged and counted, never returned: a failing
// callout must not fail an SM procedure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "privsep/children.h"

namespace nsm::hacallout {

struct Options {
  std::string program;  // run as given (absolute path recommended); empty: disabled
  size_t max_running = 4;
  size_t max_queued = 256;
  std::chrono::milliseconds timeout{30000};
  // Polling interval of the reaper when pidfd_open(2) is unavailable.
  std::chrono::milliseconds poll_interval{50};
};

using Stats = privsep::ChildStats;

class Runner {
 public:
  Runner(asio::io_context& io, Options opts);
  // Running callouts are neither killed nor waited for (they finish on their own and
  // are reaped by init once we exit).
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
  Options opts_;
  privsep::Children children_;
};

}  // namespace nsm::hacallout
