// Pidfile: "/run/rpc.statd.pid"-style file holding the daemon's pid under an
// exclusive flock(2), so that a second instance with the same file fails at once
// (kBusy, naming the holder's pid) instead of fighting over sockets and state.
//
// The lock belongs to the open file description: it survives fork(), so a pidfile
// acquired before Daemonize() stays locked by the daemon after the original process
// exits; the daemon then calls WritePid() to record its own pid.
//
// Release() (also run by the destructor) removes the file when called by the process
// that last wrote its pid; if that is no longer permitted (privileges were dropped
// and /run is root's) the file is emptied instead, which is as good: the lock, not
// the file's presence, is what keeps a second instance out. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "base/status.h"

namespace nsm::privsep {

class Pidfile {
 public:
  // Opens or creates path (mode 0644, never through a symlink), locks it without
  // waiting and writes getpid(). kBusy if another process holds the lock.
  static Result<Pidfile> Acquire(const std::string& path);
  // The pid recorded in path, or 0 if none can be read. For messages and tests.
  static pid_t ReadPid(const std::string& path);

  Pidfile() = default;
  Pidfile(Pidfile&& other) noexcept;
  Pidfile& operator=(Pidfile&& other) noexcept;
  Pidfile(const Pidfile&) = delete;
  Pidfile& operator=(const Pidfile&) = delete;
  ~Pidfile() { Release(); }

  // Replaces the recorded pid with getpid() (call in the daemon after Daemonize).
  Status WritePid();
  // Removes (or empties) the file if this process owns it, then closes it.
  void Release();
  // Closes this process's descriptor without touching the file: for a process that
  // forked the pidfile's new owner and carries on (the lock stays with the owner's
  // descriptor). A process leaving through _exit() needs nothing.
  void Abandon();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  Pidfile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_ = -1;
  pid_t owner_ = -1;  // the process that last wrote its pid
};

}  // namespace nsm::privsep
