// Double fork with a start-up report over a SOCK_SEQPACKET pair: one message, sent
// with MSG_NOSIGNAL (no SIGPIPE if the parent is gone), boundaries preserved.
// Message: one code byte ('R' ready, 'F' failed), the daemon's pid as 4 bytes in
// host order, then for 'F' the error text.
#include "privsep/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace nsm::privsep {
namespace {

constexpr size_t kMaxMessage = 4096;

// In the intermediate child or the daemon: report a failure and leave.
[[noreturn]] void FailAndExit(int fd, const std::string& text) {
  ReadyNotifier n(fd);
  n.Fail(Status(Code::kIoError, text));
  _exit(1);
}

}  // namespace

ReadyNotifier& ReadyNotifier::operator=(ReadyNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

ReadyNotifier::~ReadyNotifier() {
  if (fd_ >= 0) close(fd_);
}

Status ReadyNotifier::Send(char code, const std::string& text) {
  if (fd_ < 0) return Status::Ok();
  std::string msg(1, code);
  int32_t pid = static_cast<int32_t>(getpid());
  msg.append(reinterpret_cast<const char*>(&pid), sizeof pid);
  msg += text.substr(0, kMaxMessage - msg.size());
  ssize_t n;
  do {
    n = send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd_);
  fd_ = -1;
  if (n < 0) return ErrnoStatus("start-up report to the parent", err);
  return Status::Ok();
}

Status ReadyNotifier::Ready() { return Send('R', ""); }

void ReadyNotifier::Fail(const Status& why) { (void)Send('F', why.ToString()); }

Result<Detached> Detach(const DaemonizeOptions& options) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("socketpair", errno);
  }
  fflush(nullptr);  // don't let both processes flush the same buffered output
  pid_t child = fork();
  if (child < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    return ErrnoStatus("fork", err);
  }

  if (child == 0) {
    // Intermediate child: new session, fork the daemon, leave.
    close(sv[0]);
    if (setsid() < 0) FailAndExit(sv[1], std::string("setsid: ") + std::strerror(errno));
    pid_t daemon = fork();
    if (daemon < 0) FailAndExit(sv[1], std::string("fork: ") + std::strerror(errno));
    if (daemon > 0) _exit(0);
    // The daemon: not a session leader, so it can never get a controlling tty.
    if (options.chdir_root && chdir("/") != 0) {
      FailAndExit(sv[1], std::string("chdir /: ") + std::strerror(errno));
    }
    if (options.null_stdio) {
      int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null_fd < 0) FailAndExit(sv[1], std::string("/dev/null: ") + std::strerror(errno));
      for (int target = 0; target <= 2; ++target) {
        if (dup2(null_fd, target) < 0) {
          FailAndExit(sv[1], std::string("dup2: ") + std::strerror(errno));
        }
      }
      if (null_fd > 2) close(null_fd);
    }
    Detached d;
    d.is_daemon = true;
    d.notifier = ReadyNotifier(sv[1]);
    return d;
  }

  // Original process.
  close(sv[1]);
  int wstatus = 0;
  while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  Detached d;
  char buf[kMaxMessage];
  ssize_t n;
  do {
    n = recv(sv[0], buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(sv[0]);
  if (n < 0) {
    d.outcome = ErrnoStatus("reading the daemon's start-up report", err);
  } else if (n < 1 + static_cast<ssize_t>(sizeof(int32_t))) {
    d.outcome = Status(Code::kUnavailable, "the daemon exited before it was ready");
  } else {
    int32_t pid;
    std::memcpy(&pid, buf + 1, sizeof pid);
    d.daemon_pid = pid;
    std::string text(buf + 1 + sizeof pid, static_cast<size_t>(n) - 1 - sizeof pid);
    if (buf[0] == 'R') {
      d.outcome = Status::Ok();
    } else {
      d.outcome = Status(Code::kUnavailable, text.empty() ? "the daemon failed to start" : text);
    }
  }
  return d;
}

Result<ReadyNotifier> Daemonize(const DaemonizeOptions& options) {
  Result<Detached> d = Detach(options);
  if (!d.ok()) return d.status();
  if (d->is_daemon) return std::move(d->notifier);
  if (d->outcome.ok()) _exit(0);
  std::string line =
      std::string(program_invocation_short_name) + ": " + d->outcome.message() + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  _exit(1);
}

}  // namespace nsm::privsep
