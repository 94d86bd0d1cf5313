// The sidecar's identity and the parent's power over it. rpc.statd drops root to the
// state directory's owner after starting its resolver, so the resolver is given that
// identity (SidecarOptions::drop_to_uid/gid): the daemon can then still kill its
// sidecar, a replacement started after the drop has the same identity, and the
// sidecar still cannot signal the daemon. Shutdown never blocks, even on a sidecar it
// cannot kill. The scenarios that drop root run in a probe: this binary re-executed
// with --identity-probe (a fresh single-threaded process), so the test process keeps
// root. This binary is also the sidecar (main() calls MaybeRunSidecar).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "base/log.h"
#include "resolver/resolver.h"
#include "resolver/resolver_internal.h"
#include "resolver_test_util.h"

extern char** environ;

namespace nsm::resolver {
namespace {

using namespace test_util;  // NOLINT: the shared fixture (resolver_test_util.h)

constexpr uid_t kDaemonUid = 4242;  // no passwd entry needed: the ids are numeric
constexpr gid_t kDaemonGid = 4243;

TEST(ResolverIdentityArg, RoundTrips) {
  DropTarget ids{"ignored", uid_t{4242}, gid_t{7}};
  EXPECT_EQ(DropTargetArg(ids), "ids=4242:7");
  auto back = ParseDropTargetArg("ids=4242:7");
  ASSERT_TRUE(back && back->uid);
  EXPECT_EQ(*back->uid, 4242u);
  EXPECT_EQ(back->gid, 7u);
  EXPECT_EQ(DropTargetArg(DropTarget{"nobody", std::nullopt, 0}), "user=nobody");
  auto user = ParseDropTargetArg("user=nobody");
  ASSERT_TRUE(user);
  EXPECT_FALSE(user->uid);
  EXPECT_EQ(user->user, "nobody");
  for (const char* bad :
       {"ids=", "ids=1", "ids=1:", "ids=:1", "ids=x:1", "ids=1:2:3", "ids=-1:2", "uid=1", ""}) {
    EXPECT_FALSE(ParseDropTargetArg(bad)) << bad;
  }
}

// The seccomp half of "the sidecar cannot signal the daemon", on its own: both
// processes here are root, so only the filter can refuse. Landlock ABI 6 does the
// same on new kernels; the filter covers the older ones.
TEST(ResolverSandbox, SignalFilterLetsAProcessSignalOnlyItself) {
  pid_t parent = getpid();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // only system calls from here on
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (!ForbidSignalsToOthers().ok()) _exit(101);
    int bad = 0;
    pid_t self = getpid();
    auto denied = [](long rc) { return rc != 0 && errno == EPERM; };
    if (kill(self, 0) != 0) bad |= 1;
    if (syscall(SYS_tgkill, self, gettid(), 0) != 0) bad |= 2;
    if (!denied(kill(parent, 0))) bad |= 4;
    if (!denied(kill(0, 0))) bad |= 8;  // process groups: not even its own
    if (!denied(kill(-1, 0))) bad |= 16;
    if (!denied(syscall(SYS_tgkill, parent, parent, 0))) bad |= 32;
    if (!denied(syscall(SYS_tkill, parent, 0))) bad |= 64;
    long pidfd = syscall(SYS_pidfd_open, parent, 0);
    if (pidfd >= 0 && !denied(syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0))) bad |= 128;
    _exit(bad);
  }
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0) << "bit mask of failed checks";
}

TEST_F(ResolverSidecar, SidecarTakesTheGivenIds) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  opts_.drop_to_uid = kDaemonUid;
  opts_.drop_to_gid = kDaemonGid;
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // the table is read before the drop anyway
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t pid = Pid();
  std::string u = std::to_string(kDaemonUid), g = std::to_string(kDaemonGid);
  EXPECT_EQ(ProcStatus(pid, "Uid"), (std::vector<std::string>{u, u, u, u}));
  EXPECT_EQ(ProcStatus(pid, "Gid"), (std::vector<std::string>{g, g, g, g}));
  EXPECT_EQ(ProcStatus(pid, "Groups"), std::vector<std::string>{g});
  EXPECT_EQ(ProcStatus(pid, "CapEff"), std::vector<std::string>{"0000000000000000"});
  EXPECT_EQ(ProcStatus(pid, "NoNewPrivs"), std::vector<std::string>{"1"});
  EXPECT_EQ(ProcStatus(pid, "Seccomp"), std::vector<std::string>{"2"});
}

TEST_F(ResolverSidecar, RootIdsAreRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  opts_.drop_to_uid = 0;
  Make();
  EXPECT_EQ(Resolve("one")->code(), Code::kUnavailable);
  RunFor(300ms);
  EXPECT_EQ(Resolve("one")->code(), Code::kUnavailable);  // never a root sidecar
}

// Root can always kill: a stopped sidecar is killed and reaped by Shutdown at once.
TEST_F(ResolverSidecar, ShutdownKillsAStoppedSidecar) {
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t pid = Pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  auto pending = Start("two");
  auto t0 = SteadyClock::now();
  resolver_->Shutdown();
  EXPECT_LT(SteadyClock::now() - t0, kShutdownReapLimit);
  EXPECT_TRUE(ProcessGone(pid));
  ASSERT_TRUE(RunUntil([&] { return pending->done(); }));
  EXPECT_EQ(pending->code(), Code::kUnavailable);
}

// ---- Probes: scenarios in a process that drops root like rpc.statd ----

struct ProbeRun {
  int status = -1;
  std::string output;  // stdout and stderr
};

ProbeRun RunProbe(const std::vector<std::string>& args) {
  ProbeRun run;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return run;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<std::string> all = {"resolver_identity_test", "--identity-probe"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    run.output = "posix_spawn: " + std::string(std::strerror(rc));
    return run;
  }
  // Read until the probe exits (not until EOF: a sidecar it leaves behind, stopped,
  // still holds the pipe as its stderr), then whatever is left in the pipe.
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  auto deadline = SteadyClock::now() + 30s;
  char buf[4096];
  bool exited = false;
  while (!exited) {
    pollfd p{out[0], POLLIN, 0};
    poll(&p, 1, 50);
    exited = waitpid(pid, &run.status, WNOHANG) == pid;
    for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) run.output.append(buf, size_t(n));
    if (!exited && SteadyClock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &run.status, 0);
      run.output += "\n(probe killed after 30 s)";
      break;
    }
  }
  close(out[0]);
  return run;
}

// Orphans of a probe (its stopped sidecar) are reparented to this process while it is
// a subreaper, so the test can reap what it started.
class SubreaperScope {
 public:
  SubreaperScope() { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
  ~SubreaperScope() { prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
};

pid_t ReportedPid(const std::string& output, const std::string& key) {
  auto at = output.find(key + "=");
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::atoi(output.c_str() + at + key.size() + 1));
}

TEST_F(ResolverSidecar, AfterTheDaemonDropsRootItStillControlsItsSidecar) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  auto run = RunProbe({"same", dir_});
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.output;
  EXPECT_NE(run.output.find("probe: ok"), std::string::npos) << run.output;
  for (const char* key : {"first", "second"}) {
    pid_t p = ReportedPid(run.output, key);
    EXPECT_GT(p, 0) << key;
    if (p > 0) {
      EXPECT_TRUE(ProcessGone(p)) << key << " sidecar " << p << " left behind";
    }
  }
}

TEST_F(ResolverSidecar, ShutdownDoesNotBlockOnASidecarItCannotKill) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  SubreaperScope subreaper;
  auto run = RunProbe({"foreign", dir_});
  pid_t sidecar = ReportedPid(run.output, "first");
  if (sidecar > 0) {  // stopped and orphaned: ours to clean up
    kill(sidecar, SIGKILL);
    waitpid(sidecar, nullptr, 0);
  }
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.output;
  EXPECT_NE(run.output.find("probe: ok"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("cannot kill sidecar pid"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("not waiting for it"), std::string::npos) << run.output;
}

#define PROBE_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::cout << "probe: FAILED at line " << __LINE__ << ": " #cond "\n"; \
      return 1;                                                             \
    }                                                                       \
  } while (0)

// The probe: runs as root, creates a resolver, then drops to kDaemonUid as rpc.statd
// would. "same": the sidecar was given the daemon's identity; "foreign": it runs as
// nobody (the old wiring), so the daemon cannot kill it.
int IdentityProbe(const std::string& mode, const std::string& dir) {
  log::Init("identity-probe", false, log::Level::kInfo);
  std::string table = dir + "/probe-hosts";
  std::ofstream(table) << "one 198.18.0.1\ntwo 198.18.0.2\ndaemon signalprobe " << getpid() << "\n";
  PROBE_CHECK(chmod(table.c_str(), 0644) == 0);
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  SidecarOptions opts;
  opts.test_hosts_file = table;
  opts.hang_timeout = 60s;
  if (mode == "same") {
    opts.drop_to_uid = kDaemonUid;
    opts.drop_to_gid = kDaemonGid;
  }
  auto resolver = MakeSidecarResolver(io, opts);
  auto resolve = [&](std::string_view name) {
    std::optional<Result<Addresses>> r;
    resolver->Resolve(name, 5s, [&](Result<Addresses> a) { r = std::move(a); });
    auto deadline = SteadyClock::now() + 10s;
    while (!r && SteadyClock::now() < deadline) io.run_one_for(5ms);
    return r.value_or(Status(Code::kInternal, "no callback"));
  };
  auto wait_for = [&](const std::function<bool()>& done) {
    auto deadline = SteadyClock::now() + 5s;
    while (!done() && SteadyClock::now() < deadline) io.run_one_for(5ms);
    return done();
  };
  PROBE_CHECK(resolve("one").ok());
  pid_t first = SidecarPidForTest(*resolver);
  std::cout << "first=" << first << "\n" << std::flush;
  if (mode == "foreign") PROBE_CHECK(kill(first, SIGSTOP) == 0);  // while still root
  // Become the daemon: rpc.statd drops to the owner of the state directory.
  PROBE_CHECK(setgroups(0, nullptr) == 0);
  PROBE_CHECK(setresgid(kDaemonGid, kDaemonGid, kDaemonGid) == 0);
  PROBE_CHECK(setresuid(kDaemonUid, kDaemonUid, kDaemonUid) == 0);
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // for LeakSanitizer's exit check only
  if (mode == "foreign") {
    PROBE_CHECK(kill(first, SIGKILL) != 0 && errno == EPERM);  // the bug's condition
    auto t0 = SteadyClock::now();
    resolver->Shutdown();
    PROBE_CHECK(SteadyClock::now() - t0 < kShutdownReapLimit + 300ms);
    std::cout << "probe: ok\n";
    return 0;
  }
  std::string u = std::to_string(kDaemonUid), g = std::to_string(kDaemonGid);
  PROBE_CHECK(ProcStatus(first, "Uid") == (std::vector<std::string>{u, u, u, u}));
  // Same uid as the daemon, yet it cannot signal it (Landlock ABI 6 / seccomp).
  auto probe = resolve("daemon");
  PROBE_CHECK(!probe.ok());
  PROBE_CHECK(probe.status().message().find("Operation not permitted") != std::string::npos);
  // The daemon can kill it; the replacement, started unprivileged, has its identity.
  PROBE_CHECK(kill(first, SIGKILL) == 0);
  PROBE_CHECK(wait_for([&] {
    pid_t p = SidecarPidForTest(*resolver);
    return p > 0 && p != first;
  }));
  PROBE_CHECK(resolve("two").ok());  // not cached: answered by the replacement
  pid_t second = SidecarPidForTest(*resolver);
  std::cout << "second=" << second << "\n" << std::flush;
  PROBE_CHECK(ProcStatus(second, "Uid") == (std::vector<std::string>{u, u, u, u}));
  PROBE_CHECK(ProcStatus(second, "Gid") == (std::vector<std::string>{g, g, g, g}));
  PROBE_CHECK(wait_for([&] { return ProcessGone(first); }));  // reaped
  // A stopped sidecar is killed and reaped by Shutdown without delay.
  PROBE_CHECK(kill(second, SIGSTOP) == 0);
  auto t0 = SteadyClock::now();
  resolver->Shutdown();
  PROBE_CHECK(SteadyClock::now() - t0 < kShutdownReapLimit);
  PROBE_CHECK(ProcessGone(second));
  std::cout << "probe: ok\n";
  return 0;
}

}  // namespace
}  // namespace nsm::resolver

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // this binary is also the sidecar
  if (argc == 4 && std::strcmp(argv[1], "--identity-probe") == 0) {
    return nsm::resolver::IdentityProbe(argv[2], argv[3]);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
