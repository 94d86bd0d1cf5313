// HA callout runner: posix_spawn, a bounded FIFO, pidfd-based asynchronous reaping and
// a kill timer per child (see runner.h).
#include "hacallout/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "base/log.h"
#include "base/status.h"

extern char** environ;

namespace nsm::hacallout {
namespace {

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// "PROG add-client \"a\" \"b\"" for logs; arguments can come from the network.
std::string Describe(const std::string& prog, const std::vector<std::string>& args) {
  std::ostringstream os;
  os << prog;
  for (const auto& a : args) os << ' ' << log::Quoted{a};
  return os.str();
}

std::string WaitStatusText(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st));
  return "ended with wait status " + std::to_string(st);
}

}  // namespace

struct Runner::Child {
  pid_t pid = -1;
  std::string what;  // for logs
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<asio::steady_timer> kill_timer;
  std::unique_ptr<asio::steady_timer> poll_timer;
  bool timed_out = false;
  bool finished = false;
  bool abandoned = false;  // the Runner is gone: handlers must not touch it
};

Runner::Runner(asio::io_context& io, Options opts) : io_(io), opts_(std::move(opts)) {
  if (opts_.max_running == 0) opts_.max_running = 1;
}

Runner::~Runner() {
  for (auto& [pid, c] : running_) {
    c->abandoned = true;
    if (c->kill_timer) c->kill_timer->cancel();
    if (c->poll_timer) c->poll_timer->cancel();
    if (c->pidfd) {
      std::error_code ec;
      c->pidfd->cancel(ec);
      c->pidfd->close(ec);
    }
  }
  if (!running_.empty()) {
    log::Info("ha-callout: ", running_.size(), " callout(s) still running at exit, not waited for");
  }
}

void Runner::AddClient(const std::string& mon_name, const std::string& my_name) {
  Run({"add-client", mon_name, my_name});
}

void Runner::DelClient(const std::string& mon_name, const std::string& my_name) {
  Run({"del-client", mon_name, my_name});
}

void Runner::SmNotify(const std::string& mon_name, const std::string& caller_ip, int32_t state) {
  Run({"sm-notify", mon_name, caller_ip, std::to_string(state)});
}

void Runner::Run(std::vector<std::string> args) {
  if (!enabled()) return;
  stats_.requested++;
  if (shut_down_) {
    stats_.dropped++;
    log::Warning("ha-callout: shutting down, dropped: ", Describe(opts_.program, args));
    return;
  }
  if (running_.size() < opts_.max_running && queue_.empty()) {
    Start(std::move(args));
    return;
  }
  if (queue_.size() >= opts_.max_queued) {
    stats_.dropped++;
    log::Warning("ha-callout: ", running_.size(), " running and ", queue_.size(),
                 " queued; dropped: ", Describe(opts_.program, args));
    return;
  }
  queue_.push_back(std::move(args));
}

void Runner::Shutdown() {
  shut_down_ = true;
  if (!queue_.empty()) {
    log::Warning("ha-callout: shutting down, dropped ", queue_.size(), " queued callout(s)");
    stats_.dropped += queue_.size();
    queue_.clear();
  }
}

Stats Runner::stats() const {
  Stats s = stats_;
  s.running = running_.size();
  s.queued = queue_.size();
  return s;
}

std::vector<pid_t> Runner::running_pids() const {
  std::vector<pid_t> out;
  for (const auto& [pid, c] : running_) out.push_back(pid);
  return out;
}

void Runner::StartQueued() {
  while (!shut_down_ && running_.size() < opts_.max_running && !queue_.empty()) {
    std::vector<std::string> args = std::move(queue_.front());
    queue_.pop_front();
    Start(std::move(args));
  }
}

void Runner::Start(std::vector<std::string> args) {
  const std::string what = Describe(opts_.program, args);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  }
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &defaults);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0) {
    rc = posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  std::vector<std::string> argv_s;
  argv_s.reserve(args.size() + 1);
  argv_s.push_back(opts_.program);
  for (auto& a : args) argv_s.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (rc == 0) rc = posix_spawn(&pid, opts_.program.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    stats_.spawn_errors++;
    log::Error("ha-callout: cannot run ", what, ": ", std::strerror(rc));
    return;
  }
  stats_.started++;
  log::Debug("ha-callout: started pid ", pid, ": ", what);

  auto child = std::make_shared<Child>();
  child->pid = pid;
  child->what = what;
  child->kill_timer = std::make_unique<asio::steady_timer>(io_);
  running_[pid] = child;
  child->kill_timer->expires_after(opts_.timeout);
  child->kill_timer->async_wait([this, child](std::error_code ec) {
    if (ec || child->abandoned || child->finished) return;
    TimedOut(child);
  });
  Watch(child);
}

void Runner::Watch(std::shared_ptr<Child> child) {
  if (!child->pidfd) {
    const int fd = PidfdOpen(child->pid);
    if (fd < 0) {
      log::Debug("ha-callout: pidfd_open: ", std::strerror(errno), "; polling pid ", child->pid);
      child->poll_timer = std::make_unique<asio::steady_timer>(io_);
      Poll(std::move(child));
      return;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    child->pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  }
  // A pidfd becomes readable when the process has ended.
  child->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, child](std::error_code ec) {
                             if (child->abandoned || child->finished) return;
                             if (ec) {  // should not happen; fall back to polling
                               child->poll_timer = std::make_unique<asio::steady_timer>(io_);
                               Poll(child);
                               return;
                             }
                             int st = 0;
                             pid_t r;
                             do {
                               r = waitpid(child->pid, &st, WNOHANG);
                             } while (r < 0 && errno == EINTR);
                             if (r == 0) {
                               Watch(child);
                               return;
                             }
                             Reaped(child, st, r == child->pid);
                           });
}

void Runner::Poll(std::shared_ptr<Child> child) {
  int st = 0;
  pid_t r;
  do {
    r = waitpid(child->pid, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != 0) {
    Reaped(child, st, r == child->pid);
    return;
  }
  child->poll_timer->expires_after(opts_.poll_interval);
  child->poll_timer->async_wait([this, child](std::error_code ec) {
    if (ec || child->abandoned || child->finished) return;
    Poll(child);
  });
}

void Runner::Reaped(const std::shared_ptr<Child>& child, int wait_status, bool known) {
  child->finished = true;
  child->kill_timer->cancel();
  if (child->poll_timer) child->poll_timer->cancel();
  if (child->pidfd) {
    std::error_code ec;
    child->pidfd->close(ec);
  }
  running_.erase(child->pid);
  if (!known) {
    // SIGCHLD ignored elsewhere (auto-reaped): the status is lost.
    stats_.succeeded++;
    log::Debug("ha-callout: pid ", child->pid, " ended (status unknown): ", child->what);
  } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 && !child->timed_out) {
    stats_.succeeded++;
    log::Debug("ha-callout: pid ", child->pid, " succeeded: ", child->what);
  } else {
    stats_.failed++;
    log::Warning("ha-callout: ", child->what, " (pid ", child->pid, ") ",
                 child->timed_out ? "timed out and was killed" : WaitStatusText(wait_status));
  }
  StartQueued();
}

void Runner::TimedOut(const std::shared_ptr<Child>& child) {
  child->timed_out = true;
  stats_.timed_out++;
  log::Warning("ha-callout: ", child->what, " (pid ", child->pid, ") still running after ",
               opts_.timeout.count(), " ms; killing it");
  // Not reaped yet, so neither the pid nor the process group id can have been reused.
  if (kill(-child->pid, SIGKILL) != 0) kill(child->pid, SIGKILL);
}

}  // namespace nsm::hacallout
