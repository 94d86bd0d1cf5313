// Children: posix_spawn, a bounded FIFO, pidfd-based asynchronous reaping and a kill
// timer per child (see children.h).
#include "privsep/children.h"

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

extern char** environ;

namespace nsm::privsep {
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
std::string Describe(const std::vector<std::string>& argv) {
  std::ostringstream os;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i == 0) {
      os << argv[0];
    } else {
      os << ' ' << log::Quoted{argv[i]};
    }
  }
  return os.str();
}

}  // namespace

int ChildExit::exit_status() const {
  if (!spawned || !known || timed_out || !WIFEXITED(wait_status)) return -1;
  return WEXITSTATUS(wait_status);
}

bool ChildExit::ok() const { return exit_status() == 0; }

std::string ChildExit::ToString() const {
  if (!spawned) return "not started";
  if (timed_out) return "timed out and was killed";
  if (!known) return "ended (status unknown)";
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "ended with wait status " + std::to_string(wait_status);
}

struct Children::Child {
  pid_t pid = -1;
  std::string what;  // for logs
  Done done;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<asio::steady_timer> kill_timer;
  std::unique_ptr<asio::steady_timer> poll_timer;
  bool timed_out = false;
  bool finished = false;
  bool abandoned = false;  // the Children object is gone: handlers must not touch it
};

Children::Children(asio::io_context& io, ChildOptions opts) : io_(io), opts_(std::move(opts)) {
  if (opts_.max_running == 0) opts_.max_running = 1;
}

Children::~Children() {
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
    log::Info(opts_.label, ": ", running_.size(), " still running at exit, not waited for");
  }
}

void Children::Run(std::vector<std::string> argv, Done done) {
  stats_.requested++;
  auto drop = [&](const std::string& why) {
    stats_.dropped++;
    log::Warning(opts_.label, ": ", why, "; dropped: ", Describe(argv));
    if (done) done(ChildExit{});
  };
  if (argv.empty()) return drop("empty command");
  if (shut_down_) return drop("shutting down");
  if (running_.size() < opts_.max_running && queue_.empty()) {
    Start(Queued{std::move(argv), std::move(done)});
    return;
  }
  if (queue_.size() >= opts_.max_queued) {
    return drop(std::to_string(running_.size()) + " running and " + std::to_string(queue_.size()) +
                " queued");
  }
  queue_.push_back(Queued{std::move(argv), std::move(done)});
}

void Children::Shutdown() {
  shut_down_ = true;
  if (!queue_.empty()) {
    log::Warning(opts_.label, ": shutting down, dropped ", queue_.size(), " queued");
    stats_.dropped += queue_.size();
    std::deque<Queued> dropped = std::move(queue_);
    queue_.clear();
    for (auto& q : dropped) {
      if (q.done) q.done(ChildExit{});
    }
  }
}

ChildStats Children::stats() const {
  ChildStats s = stats_;
  s.running = running_.size();
  s.queued = queue_.size();
  return s;
}

std::vector<pid_t> Children::running_pids() const {
  std::vector<pid_t> out;
  for (const auto& [pid, c] : running_) out.push_back(pid);
  return out;
}

void Children::StartQueued() {
  while (!shut_down_ && running_.size() < opts_.max_running && !queue_.empty()) {
    Queued q = std::move(queue_.front());
    queue_.pop_front();
    Start(std::move(q));
  }
}

void Children::Start(Queued q) {
  const std::string what = Describe(q.argv);
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
  std::vector<char*> argv;
  for (auto& s : q.argv) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (rc == 0) rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    stats_.spawn_errors++;
    log::Error(opts_.label, ": cannot run ", what, ": ", std::strerror(rc));
    if (q.done) q.done(ChildExit{});
    return;
  }
  stats_.started++;
  log::Debug(opts_.label, ": started pid ", pid, ": ", what);

  auto child = std::make_shared<Child>();
  child->pid = pid;
  child->what = what;
  child->done = std::move(q.done);
  child->kill_timer = std::make_unique<asio::steady_timer>(io_);
  running_[pid] = child;
  child->kill_timer->expires_after(opts_.timeout);
  child->kill_timer->async_wait([this, child](std::error_code ec) {
    if (ec || child->abandoned || child->finished) return;
    TimedOut(child);
  });
  Watch(child);
}

void Children::Watch(std::shared_ptr<Child> child) {
  if (!child->pidfd) {
    const int fd = PidfdOpen(child->pid);
    if (fd < 0) {
      log::Debug(opts_.label, ": pidfd_open: ", std::strerror(errno), "; polling pid ", child->pid);
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

void Children::Poll(std::shared_ptr<Child> child) {
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

void Children::Reaped(const std::shared_ptr<Child>& child, int wait_status, bool known) {
  child->finished = true;
  child->kill_timer->cancel();
  if (child->poll_timer) child->poll_timer->cancel();
  if (child->pidfd) {
    std::error_code ec;
    child->pidfd->close(ec);
  }
  running_.erase(child->pid);
  const ChildExit exit{true, known, wait_status, child->timed_out};
  if (!known) {
    // SIGCHLD ignored elsewhere (auto-reaped): the status is lost.
    stats_.succeeded++;
    log::Debug(opts_.label, ": pid ", child->pid, " ended (status unknown): ", child->what);
  } else if (exit.ok()) {
    stats_.succeeded++;
    log::Debug(opts_.label, ": pid ", child->pid, " succeeded: ", child->what);
  } else {
    stats_.failed++;
    // A caller that takes the outcome logs it in its own words.
    if (!child->done) {
      log::Warning(opts_.label, ": ", child->what, " (pid ", child->pid, ") ", exit.ToString());
    }
  }
  if (child->done) child->done(exit);
  StartQueued();
}

void Children::TimedOut(const std::shared_ptr<Child>& child) {
  child->timed_out = true;
  stats_.timed_out++;
  log::Warning(opts_.label, ": ", child->what, " (pid ", child->pid, ") still running after ",
               opts_.timeout.count(), " ms; killing it");
  // Not reaped yet, so neither the pid nor the process group id can have been reused.
  if (kill(-child->pid, SIGKILL) != 0) kill(child->pid, SIGKILL);
}

}  // namespace nsm::privsep
