// Daemonize/Detach, always from a forked child so the test process itself is never
// daemonized. The test process is a child subreaper, so the orphaned daemon is
// reparented to it and reaped here: nothing is left running after a test.
#include "privsep/daemon.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "privsep_test_util.h"

namespace nsm::privsep {
namespace {

using testing::ReadAll;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L), 0); }
  void TearDown() override {
    // Reap whatever is left (the daemon, once it has exited); kill stragglers.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p < 0) break;  // ECHILD: nothing left
      if (p > 0) continue;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "a child did not exit";
        for (pid_t d : daemons_) kill(d, SIGKILL);
        deadline += std::chrono::seconds(10);
        daemons_.clear();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Forks the "original process", which runs `original` and _exit()s with its
  // return value; its stderr goes to a pipe whose content is returned in *err.
  int RunOriginal(const std::function<int()>& original, std::string* err = nullptr) {
    int errpipe[2];
    EXPECT_EQ(pipe(errpipe), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(errpipe[0]);
      dup2(errpipe[1], STDERR_FILENO);
      close(errpipe[1]);
      _exit(original());
    }
    close(errpipe[1]);
    std::string text = ReadAll(errpipe[0]);  // EOF once the original and daemon let go
    close(errpipe[0]);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    if (err != nullptr) *err = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Waits for the daemon (reparented to us) to exit; returns its exit code.
  int WaitDaemon(pid_t pid) {
    daemons_.push_back(pid);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::vector<pid_t> daemons_;
};

// What the daemon writes to the test through `report`: its facts, one per line.
std::string DaemonFacts() {
  std::string f;
  f += "pid=" + std::to_string(getpid()) + "\n";
  f += std::string("session_leader=") + (getsid(0) == getpid() ? "yes" : "no") + "\n";
  char cwd[PATH_MAX] = {};
  f += std::string("cwd=") + (getcwd(cwd, sizeof cwd) ? cwd : "?") + "\n";
  struct stat null_st, st;
  stat("/dev/null", &null_st);
  bool all_null = true;
  for (int fd = 0; fd <= 2; ++fd) {
    if (fstat(fd, &st) != 0 || st.st_rdev != null_st.st_rdev || !S_ISCHR(st.st_mode)) {
      all_null = false;
    }
  }
  f += std::string("stdio_null=") + (all_null ? "yes" : "no") + "\n";
  return f;
}

TEST_F(DaemonTest, ParentReturnsOnlyWhenTheDaemonIsReady) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  int code = RunOriginal([&]() -> int {
    close(report[0]);
    auto start = std::chrono::steady_clock::now();
    Result<Detached> d = Detach();
    if (!d.ok()) return 10;
    if (d->is_daemon) {
      std::string facts = DaemonFacts();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // "binding sockets"
      facts += "ready=" + std::string(d->notifier.Ready().ok() ? "ok" : "failed") + "\n";
      facts += "ready_again=" + std::string(d->notifier.Ready().ok() ? "ok" : "failed") + "\n";
      ssize_t ignored = write(report[1], facts.data(), facts.size());
      (void)ignored;
      _exit(0);
    }
    close(report[1]);
    auto waited = std::chrono::steady_clock::now() - start;
    if (!d->outcome.ok()) return 11;
    if (waited < std::chrono::milliseconds(250)) return 12;  // did not wait for Ready
    if (d->daemon_pid <= 0 || d->daemon_pid == getpid()) return 13;
    // Tell the test the daemon's pid as the original process saw it.
    return 0;
  });
  close(report[1]);
  ASSERT_EQ(code, 0);
  std::string facts = ReadAll(report[0]);
  close(report[0]);
  EXPECT_NE(facts.find("session_leader=no"), std::string::npos) << facts;
  EXPECT_NE(facts.find("cwd=/\n"), std::string::npos) << facts;
  EXPECT_NE(facts.find("stdio_null=yes"), std::string::npos) << facts;
  EXPECT_NE(facts.find("ready=ok"), std::string::npos) << facts;
  EXPECT_NE(facts.find("ready_again=ok"), std::string::npos) << facts;
  size_t at = facts.find("pid=");
  ASSERT_NE(at, std::string::npos);
  pid_t daemon = std::stoi(facts.substr(at + 4));
  EXPECT_EQ(WaitDaemon(daemon), 0);
}

TEST_F(DaemonTest, DaemonPidReachesTheParent) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  int code = RunOriginal([&]() -> int {
    close(report[0]);
    Result<Detached> d = Detach();
    if (!d.ok()) return 10;
    if (d->is_daemon) {
      (void)d->notifier.Ready();
      _exit(0);
    }
    std::string pid = std::to_string(d->daemon_pid);
    ssize_t ignored = write(report[1], pid.data(), pid.size());
    (void)ignored;
    return d->outcome.ok() ? 0 : 11;
  });
  close(report[1]);
  ASSERT_EQ(code, 0);
  pid_t daemon = std::stoi(ReadAll(report[0]));
  close(report[0]);
  EXPECT_EQ(WaitDaemon(daemon), 0);  // it really was our (reparented) descendant
}

TEST_F(DaemonTest, FailureTextReachesTheParent) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  int code = RunOriginal([&]() -> int {
    close(report[0]);
    Result<Detached> d = Detach();
    if (!d.ok()) return 10;
    if (d->is_daemon) {
      d->notifier.Fail(Status(Code::kInvalidArgument, "port 662 is in use"));
      if (d->notifier.attached()) _exit(3);
      _exit(0);
    }
    std::string text = std::to_string(d->daemon_pid) + " " + d->outcome.message();
    ssize_t ignored = write(report[1], text.data(), text.size());
    (void)ignored;
    return d->outcome.ok() ? 11 : 0;
  });
  close(report[1]);
  ASSERT_EQ(code, 0);
  std::string text = ReadAll(report[0]);
  close(report[0]);
  EXPECT_NE(text.find("port 662 is in use"), std::string::npos) << text;
  EXPECT_EQ(WaitDaemon(std::stoi(text)), 0);
}

TEST_F(DaemonTest, DaemonDyingWithoutReportIsAFailure) {
  int code = RunOriginal([&]() -> int {
    Result<Detached> d = Detach();
    if (!d.ok()) return 10;
    if (d->is_daemon) _exit(7);  // crashed during start-up
    if (d->outcome.ok()) return 11;
    if (d->outcome.message().find("exited before it was ready") == std::string::npos) return 12;
    return 0;
  });
  EXPECT_EQ(code, 0);
  // The daemon was reaped by TearDown (we do not know its pid here).
}

TEST_F(DaemonTest, DaemonizeExitsZeroWhenReady) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  std::string err;
  int code = RunOriginal(
      [&]() -> int {
        close(report[0]);
        Result<ReadyNotifier> n = Daemonize();
        if (!n.ok()) return 10;
        // Only the daemon gets here.
        std::string pid = std::to_string(getpid());
        ssize_t ignored = write(report[1], pid.data(), pid.size());
        (void)ignored;
        close(report[1]);
        (void)n->Ready();
        _exit(0);
      },
      &err);
  close(report[1]);
  EXPECT_EQ(code, 0) << err;
  EXPECT_EQ(err, "");
  pid_t daemon = std::stoi(ReadAll(report[0]));
  close(report[0]);
  EXPECT_EQ(WaitDaemon(daemon), 0);
}

TEST_F(DaemonTest, DaemonizeExitsOneWithTheErrorOnStderr) {
  std::string err;
  int code = RunOriginal(
      [&]() -> int {
        Result<ReadyNotifier> n = Daemonize();
        if (!n.ok()) return 10;
        n->Fail(Status(Code::kUnavailable, "rpcbind is not running"));
        _exit(0);
      },
      &err);
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find(": unavailable: rpcbind is not running\n"), std::string::npos) << err;
}

TEST(ReadyNotifier, DetachedNotifierIsANoOp) {
  ReadyNotifier n;
  EXPECT_FALSE(n.attached());
  EXPECT_TRUE(n.Ready().ok());
  n.Fail(Status(Code::kInternal, "ignored"));
  ReadyNotifier moved = std::move(n);
  EXPECT_FALSE(moved.attached());
}

}  // namespace
}  // namespace nsm::privsep
