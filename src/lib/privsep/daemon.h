// Daemonize: the classic double fork, with a start-up report. The process that ran
// the command waits until the daemon says it is ready (sockets bound, registered
// with rpcbind) and only then exits 0, or exits 1 printing the daemon's error, so
// that an init script or `start-statd` sees a real outcome.
//
//   original ──fork──▶ child (setsid) ──fork──▶ daemon (not a session leader,
//      │                  └─ exits at once        stdin/out/err = /dev/null, cwd /)
//      └─ waits on a SOCK_SEQPACKET socket pair for the daemon's one message:
//         "ready" or "failed: <text>"; end-of-file without one = failure.
//
// Threading: call before any thread is started (fork keeps only the caller). The
// report channel is close-on-exec; a process the daemon forks before Ready() keeps
// it open, so report first or close it in the child.
#pragma once

#include <sys/types.h>

#include "base/status.h"

namespace nsm::privsep {

// The daemon's end of the start-up report. Move-only. Destroying it without
// Ready() or Fail() makes the waiting parent report "exited before it was ready".
class ReadyNotifier {
 public:
  ReadyNotifier() = default;  // detached: Ready()/Fail() do nothing (foreground mode)
  explicit ReadyNotifier(int fd) : fd_(fd) {}
  ReadyNotifier(ReadyNotifier&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ReadyNotifier& operator=(ReadyNotifier&& other) noexcept;
  ReadyNotifier(const ReadyNotifier&) = delete;
  ReadyNotifier& operator=(const ReadyNotifier&) = delete;
  ~ReadyNotifier();

  // Tells the parent the daemon is up; it exits 0. Idempotent; an error only if the
  // message could not be sent (the parent is gone: nothing else to do about it).
  Status Ready();
  // Tells the parent start-up failed with `why`; it prints it and exits 1.
  void Fail(const Status& why);
  // True until Ready()/Fail() has been called on a real channel.
  bool attached() const { return fd_ >= 0; }

 private:
  Status Send(char code, const std::string& text);
  int fd_ = -1;
};

struct DaemonizeOptions {
  bool chdir_root = true;  // chdir("/") in the daemon
  bool null_stdio = true;  // stdin, stdout, stderr to /dev/null in the daemon
};

// The result of Detach(), in each of the two processes that return from it.
struct Detached {
  bool is_daemon = false;
  ReadyNotifier notifier;  // in the daemon: report through this
  pid_t daemon_pid = -1;   // in the original process: the daemon's pid, if it reported
  Status outcome;          // in the original process: ok iff the daemon reported ready
};

// Forks the daemon and returns in both processes. The original process returns only
// after the daemon reported (or vanished), with the intermediate child reaped.
// Errors (fork, socketpair) are returned in the original process; a set-up failure
// inside the daemon (setsid, /dev/null) is reported to the parent as its outcome.
Result<Detached> Detach(const DaemonizeOptions& options = {});

// Detach() for a real daemon: returns only in the daemon. The original process
// _exit(0)s once the daemon is ready, or writes "<program>: <error>" to stderr and
// _exit(1)s.
Result<ReadyNotifier> Daemonize(const DaemonizeOptions& options = {});

}  // namespace nsm::privsep
