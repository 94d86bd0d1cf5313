// The real sidecar resolver end to end: this test binary is also the sidecar's
// executable (main() calls MaybeRunSidecar), and the sidecar answers from a test
// hosts table (NSM_RESOLVER_TEST_HOSTS), so no test ever queries the machine's DNS.
// The only real getaddrinfo call resolves "localhost" from /etc/hosts. Liveness,
// priority classes and identity have their own files (resolver_*_test.cc).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <asio/executor_work_guard.hpp>

#include "base/log.h"
#include "resolver/protocol.h"
#include "resolver/resolver.h"
#include "resolver/resolver_internal.h"
#include "resolver_test_util.h"

namespace nsm::resolver {
namespace {

using namespace test_util;  // NOLINT: the shared fixture (resolver_test_util.h)

TEST_F(ResolverSidecar, LiteralIsAnsweredWithoutALookup) {
  Make();
  auto v6 = Resolve("::ffff:192.0.2.7");
  ASSERT_TRUE(v6->result->ok());
  EXPECT_EQ(Join(**v6->result), "192.0.2.7");
  auto v4 = Resolve("2001:db8::7");
  EXPECT_EQ(Join(**v4->result), "2001:db8::7");
  Stats s = resolver_->stats();
  EXPECT_EQ(s.lookups, 2u);
  EXPECT_EQ(s.literals, 2u);
  EXPECT_EQ(s.sidecar_queries, 0u);
}

TEST_F(ResolverSidecar, NameResolvesToAllAddressesNormalisedAndDeduplicated) {
  Make();
  auto o = Resolve("multi");
  ASSERT_TRUE(o->result->ok()) << o->result->status().ToString();
  EXPECT_EQ(Join(**o->result), "192.0.2.1 2001:db8::1 192.0.2.2");
  for (const auto& a : **o->result) EXPECT_EQ(a.port(), 0);
  auto again = Resolve("MULTI");  // case-insensitive cache hit
  EXPECT_EQ(Join(**again->result), "192.0.2.1 2001:db8::1 192.0.2.2");
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 1u);
  EXPECT_EQ(s.cache_hits, 1u);
}

TEST_F(ResolverSidecar, NotFoundIsCachedNegativelyTemporaryFailureIsNot) {
  Make();
  EXPECT_EQ(Resolve("nx")->code(), Code::kNotFound);
  EXPECT_EQ(Resolve("nx")->code(), Code::kNotFound);
  EXPECT_EQ(Resolve("not-in-table")->code(), Code::kNotFound);
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 2u);  // the second "nx" never reached the sidecar
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.failures, 3u);
  EXPECT_EQ(Resolve("tmp")->code(), Code::kUnavailable);
  EXPECT_EQ(Resolve("tmp")->code(), Code::kUnavailable);
  EXPECT_EQ(resolver_->stats().sidecar_queries, 4u);
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 0u);
}

TEST_F(ResolverSidecar, CacheEntriesExpireOnTheClock) {
  struct FakeClock : Clock {
    SteadyClock::time_point Now() const override { return now; }
    int64_t UnixSeconds() const override { return 0; }
    SteadyClock::time_point now{std::chrono::hours(1)};
  } clock;
  opts_.clock = &clock;
  Make();
  EXPECT_TRUE(Resolve("one")->result->ok());
  EXPECT_EQ(Resolve("nx")->code(), Code::kNotFound);
  clock.now += 10s;  // negative_ttl: nx expired, one still cached
  EXPECT_TRUE(Resolve("one")->result->ok());
  EXPECT_EQ(Resolve("nx")->code(), Code::kNotFound);
  EXPECT_EQ(resolver_->stats().sidecar_queries, 3u);
  clock.now += 50s;  // positive_ttl
  EXPECT_TRUE(Resolve("one")->result->ok());
  EXPECT_EQ(resolver_->stats().sidecar_queries, 4u);
}

TEST_F(ResolverSidecar, HangTimesOutWhileOtherLookupsAnswerPromptly) {
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());  // the sidecar is up
  auto t0 = SteadyClock::now();
  auto hung = Start("hang", 400ms);
  auto slow = Start("slow", 5s);
  auto quick = Start("two", 5s);
  EXPECT_LT(SteadyClock::now() - t0, 50ms) << "Resolve() blocked";
  ASSERT_TRUE(RunUntil([&] { return quick->done(); }));
  EXPECT_LT(quick->at - t0, 200ms);
  EXPECT_FALSE(hung->done());
  ASSERT_TRUE(RunUntil([&] { return hung->done() && slow->done(); }));
  EXPECT_EQ(hung->code(), Code::kTimeout);
  EXPECT_GE(hung->at - t0, 400ms);
  EXPECT_LT(hung->at - t0, 400ms + 250ms);
  ASSERT_TRUE(slow->result->ok());
  EXPECT_GE(slow->at - t0, 300ms);
  EXPECT_LT(slow->at - t0, 300ms + 250ms);
  Stats s = resolver_->stats();
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_EQ(s.sidecar_restarts, 0u);
  // The hung query is still owed by the sidecar: a new lookup joins it and times out.
  auto again = Resolve("hang", 50ms);
  EXPECT_EQ(again->code(), Code::kTimeout);
  EXPECT_EQ(resolver_->stats().coalesced, 1u);
}

TEST_F(ResolverSidecar, SidecarKilledMidLookupFailsPendingAndIsRestarted) {
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t old = Pid();
  ASSERT_GT(old, 0);
  auto pending = Start("hang", 10s);
  auto pending2 = Start("hang2", 10s);
  ASSERT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_queries == 3; }));
  auto t0 = SteadyClock::now();
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_TRUE(RunUntil([&] { return pending->done() && pending2->done(); }));
  EXPECT_LT(SteadyClock::now() - t0, 1s);
  EXPECT_EQ(pending->code(), Code::kUnavailable);
  EXPECT_EQ(pending2->code(), Code::kUnavailable);
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 1u);
  EXPECT_TRUE(RunUntil([&] { return ProcessGone(old); }, 2s)) << "old sidecar not reaped";
  auto later = Resolve("two");
  ASSERT_TRUE(later->result->ok()) << later->result->status().ToString();
  EXPECT_EQ(Join(**later->result), "198.18.0.2");
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 1u);
}

TEST_F(ResolverSidecar, SidecarCrashingOnALookupIsRestarted) {
  Make();
  EXPECT_EQ(Resolve("crash")->code(), Code::kUnavailable);
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 1u);
  EXPECT_TRUE(Resolve("one")->result->ok());
}

TEST_F(ResolverSidecar, MalformedOrMisroutedFramesGetTheSidecarReplaced) {
  Make();
  int restarts = 0;
  for (const char* name : {"garbage", "wrongid", "misroute"}) {
    pid_t old = Pid();
    auto o = Resolve(name);
    EXPECT_EQ(o->code(), Code::kUnavailable) << name;
    EXPECT_EQ(resolver_->stats().sidecar_restarts, uint64_t(++restarts)) << name;
    EXPECT_NE(Pid(), old) << name;
    EXPECT_TRUE(Resolve("one")->result->ok()) << name;
  }
}

TEST_F(ResolverSidecar, FullQueueRefusesWithKFull) {
  opts_.max_pending = 3;
  Make();
  auto a = Start("hang", 10s), b = Start("hang", 10s), c = Start("hang2", 10s);
  auto d = Start("one", 10s);
  auto lit = Start("192.0.2.1", 10s);  // literals need no slot
  ASSERT_TRUE(RunUntil([&] { return d->done() && lit->done(); }));
  EXPECT_EQ(d->code(), Code::kFull);
  EXPECT_TRUE(lit->result->ok());
  EXPECT_FALSE(a->done() || b->done() || c->done());
  EXPECT_EQ(resolver_->stats().queue_full, 1u);
}

TEST_F(ResolverSidecar, QueriesOwedBySidecarAlsoCountAgainstTheBound) {
  opts_.max_pending = 2;
  Make();
  EXPECT_EQ(Resolve("hang", 50ms)->code(), Code::kTimeout);
  EXPECT_EQ(Resolve("hang2", 50ms)->code(), Code::kTimeout);
  EXPECT_EQ(Resolve("one")->code(), Code::kFull);  // both hung queries still in the sidecar
  EXPECT_EQ(resolver_->stats().queue_full, 1u);
}

TEST_F(ResolverSidecar, HundredConcurrentLookupsOfOneNameMakeOneQuery) {
  Make();
  std::vector<std::shared_ptr<Outcome>> all;
  for (int i = 0; i < 100; ++i) all.push_back(Start(i % 2 ? "slow" : "SLOW"));
  ASSERT_TRUE(RunUntil([&] {
    for (auto& o : all) {
      if (!o->done()) return false;
    }
    return true;
  }));
  for (auto& o : all) {
    ASSERT_TRUE(o->result->ok());
    EXPECT_EQ(Join(**o->result), "192.0.2.9");
  }
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 1u);
  EXPECT_EQ(s.coalesced, 99u);
  EXPECT_EQ(s.lookups, 100u);
}

TEST_F(ResolverSidecar, InvalidNamesAreRefused) {
  Make();
  EXPECT_EQ(Resolve("")->code(), Code::kInvalidArgument);
  EXPECT_EQ(Resolve("a b")->code(), Code::kInvalidArgument);
  EXPECT_EQ(Resolve(std::string("a\0b", 3))->code(), Code::kInvalidArgument);
  EXPECT_EQ(Resolve(std::string(kMaxNameLength + 1, 'a'))->code(), Code::kInvalidArgument);
  EXPECT_EQ(resolver_->stats().sidecar_queries, 0u);
}

TEST_F(ResolverSidecar, ShutdownFailsPendingStopsTheSidecarAndIsIdempotent) {
  Make();
  auto pending = Start("hang", 10s);
  ASSERT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_queries == 1; }));
  pid_t pid = Pid();
  resolver_->Shutdown();
  EXPECT_TRUE(ProcessGone(pid));  // killed and reaped synchronously
  resolver_->Shutdown();
  auto after = Start("one");
  ASSERT_TRUE(RunUntil([&] { return pending->done() && after->done(); }));
  EXPECT_EQ(pending->code(), Code::kUnavailable);
  EXPECT_EQ(after->code(), Code::kUnavailable);
  EXPECT_EQ(Pid(), -1);
}

TEST_F(ResolverSidecar, DestroyingTheResolverCompletesPendingCallbacks) {
  Make();
  auto pending = Start("hang", 10s);
  pid_t pid = Pid();
  resolver_.reset();
  EXPECT_TRUE(ProcessGone(pid));
  ASSERT_TRUE(RunUntil([&] { return pending->done(); }));
  EXPECT_EQ(pending->code(), Code::kUnavailable);
}

TEST_F(ResolverSidecar, SidecarInheritsOnlyItsSocketAndNoTestVariable) {
  int leak = open("/dev/null", O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(leak, 0);
  opts_.test_hosts_file.clear();
  setenv("NSM_RESOLVER_TEST_HOSTS", table_.c_str(), 1);  // must not reach the sidecar
  Make();
  unsetenv("NSM_RESOLVER_TEST_HOSTS");
  close(leak);
  // The only real lookup of the suite: "localhost" from /etc/hosts (nsswitch "files").
  auto o = Resolve("localhost");
  ASSERT_TRUE(o->result->ok()) << o->result->status().ToString();
  bool has_loopback = false;
  for (const auto& a : **o->result) has_loopback |= a.IsLoopback();
  EXPECT_TRUE(has_loopback) << Join(**o->result);
  pid_t pid = Pid();
  std::vector<std::string> fds;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    fds.push_back(e.path().filename());
  }
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2", "3"}));
  std::ifstream env("/proc/" + std::to_string(pid) + "/environ");
  std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find("NSM_RESOLVER_TEST_HOSTS"), std::string::npos);
  EXPECT_EQ(ProcStatus(pid, "NoNewPrivs"), std::vector<std::string>{"1"});
}

TEST_F(ResolverSidecar, SidecarDropsPrivilegesWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  passwd* pw = getpwnam("nobody");
  ASSERT_NE(pw, nullptr);
  std::string uid = std::to_string(pw->pw_uid), gid = std::to_string(pw->pw_gid);
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());  // answers come only after the drop
  pid_t pid = Pid();
  EXPECT_EQ(ProcStatus(pid, "Uid"), (std::vector<std::string>{uid, uid, uid, uid}));
  EXPECT_EQ(ProcStatus(pid, "Gid"), (std::vector<std::string>{gid, gid, gid, gid}));
  EXPECT_EQ(ProcStatus(pid, "Groups"), std::vector<std::string>{gid});
  EXPECT_EQ(ProcStatus(pid, "CapEff"), std::vector<std::string>{"0000000000000000"});
  EXPECT_EQ(ProcStatus(getpid(), "Uid")[0], "0");
}

// Whatever its uid, the sidecar cannot create files, even in a directory whose
// permissions would allow it (a state directory, /tmp): Landlock forbids writes.
TEST_F(ResolverSidecar, SidecarCannotWriteTheFilesystem) {
  if (syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) < 1) {
    GTEST_SKIP() << "kernel without Landlock";
  }
  std::string state = dir_ + "/state";
  ASSERT_EQ(mkdir(state.c_str(), 0777), 0);
  ASSERT_EQ(chmod(state.c_str(), 0777), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  std::string tmp_probe = "/tmp/nsm-resolver-probe." + std::to_string(getpid());
  std::ofstream(table_, std::ios::app) << "probe writeprobe " << state << "/sm-probe\n"
                                       << "tmpprobe writeprobe " << tmp_probe << "\n";
  Make();
  for (const char* name : {"probe", "tmpprobe"}) {
    auto o = Resolve(name);
    ASSERT_FALSE(o->result->ok());
    EXPECT_NE(o->result->status().message().find("Permission denied"), std::string::npos)
        << o->result->status().ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(state + "/sm-probe"));
  EXPECT_FALSE(std::filesystem::exists(tmp_probe));
  std::filesystem::remove(tmp_probe);
}

TEST_F(ResolverSidecar, UnstartableSidecarIsRetriedWithBackoff) {
  opts_.exe = dir_ + "/no-such-program";
  Make();
  EXPECT_EQ(Pid(), -1);
  EXPECT_EQ(Resolve("one")->code(), Code::kUnavailable);
  EXPECT_TRUE(Resolve("192.0.2.3")->result->ok());  // literals still work
  RunUntil([] { return false; }, 400ms);            // a few retries, no busy loop
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 0u);
}

TEST_F(ResolverSidecar, UnknownDropUserMeansNoSidecarNotARootOne) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  opts_.drop_to_user = "nsm-no-such-user";
  Make();
  auto o = Resolve("one");
  EXPECT_EQ(o->code(), Code::kUnavailable);
  // It keeps trying, with backoff, and never answers as root.
  RunUntil([] { return false; }, 500ms);
  EXPECT_GE(resolver_->stats().sidecar_restarts, 1u);
  EXPECT_EQ(Resolve("one")->code(), Code::kUnavailable);
}

TEST_F(ResolverSidecar, ResolveIsThreadSafeAndCallbacksRunOnTheIoThread) {
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  std::mutex mu;
  std::vector<std::thread::id> ran_on;
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const char* name = (i % 3 == 0) ? "one" : (i % 3 == 1) ? "three" : "192.0.2.5";
        resolver_->Resolve(name, 5s, [&](Result<Addresses> r) {
          if (r.ok()) ++ok;
          std::lock_guard<std::mutex> lock(mu);
          ran_on.push_back(std::this_thread::get_id());
        });
      }
      (void)t;
    });
  }
  for (auto& c : callers) c.join();
  ASSERT_TRUE(RunUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return ran_on.size() == 200;
  }));
  EXPECT_EQ(ok.load(), 200);
  for (auto id : ran_on) EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(resolver_->stats().sidecar_queries, 2u);  // "one" at the start, "three" once
}

// The sidecar's side of the protocol, driven by hand over its socket.
class SidecarProcess : public ResolverSidecar {
 protected:
  void SpawnRaw() {
    if (child_.fd >= 0) close(child_.fd);
    auto s = SpawnSidecar(opts_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    child_ = *s;
    timeval tv{5, 0};
    setsockopt(child_.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto hello = Recv();
    ASSERT_TRUE(hello.ok()) << hello.status().ToString();
    EXPECT_EQ(hello->type, proto::MsgType::kHello);
  }
  void TearDown() override {
    if (child_.pid > 0) {
      kill(child_.pid, SIGKILL);
      waitpid(child_.pid, nullptr, 0);
    }
    if (child_.fd >= 0) close(child_.fd);
    ResolverSidecar::TearDown();
  }
  Result<proto::Frame> Recv() {
    std::vector<uint8_t> buf(proto::kMaxFrame);
    ssize_t n = recv(child_.fd, buf.data(), buf.size(), 0);
    if (n <= 0) return Status(Code::kUnavailable, n == 0 ? "EOF" : "recv error");
    return proto::DecodeFrame(std::span<const uint8_t>(buf.data(), size_t(n)));
  }
  void Send(const std::vector<uint8_t>& b) {
    ASSERT_EQ(send(child_.fd, b.data(), b.size(), MSG_NOSIGNAL), ssize_t(b.size()));
  }
  // The sidecar must log an error, close the connection and exit with status 3.
  void ExpectRejected(const std::string& what) {
    auto log = Recv();
    ASSERT_TRUE(log.ok()) << what << ": " << log.status().ToString();
    ASSERT_EQ(log->type, proto::MsgType::kLog) << what;
    auto line = proto::DecodeLog(*log);
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(line->level, log::Level::kError);
    EXPECT_EQ(Recv().status().message(), "EOF") << what;
    int st = 0;
    ASSERT_EQ(waitpid(child_.pid, &st, 0), child_.pid);
    child_.pid = -1;
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << what << ": " << st;
  }
  SpawnedSidecar child_;
};

TEST_F(SidecarProcess, AnswersWellFormedRequests) {
  SpawnRaw();
  Send(proto::EncodeResolve(41, "multi"));
  auto f = Recv();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, proto::MsgType::kAnswer);
  EXPECT_EQ(f->id, 41u);
  auto a = proto::DecodeAnswer(*f);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, proto::AnswerStatus::kOk);
  EXPECT_EQ(a->addresses.size(), 5u);  // as written in the table: the parent normalises
}

TEST_F(SidecarProcess, RejectsGarbage) {
  SpawnRaw();
  Send({1, 2, 3});
  ExpectRejected("garbage");
}

TEST_F(SidecarProcess, RejectsMisroutedFrame) {
  SpawnRaw();
  Send(proto::EncodeAnswer(1, proto::Answer{}));
  ExpectRejected("answer sent to the sidecar");
}

TEST_F(SidecarProcess, RejectsOversizedFrameAndBadName) {
  SpawnRaw();
  Send(std::vector<uint8_t>(proto::kMaxFrame + 100, 'a'));
  ExpectRejected("oversized");
  SpawnRaw();
  Send(proto::EncodeFrame(proto::MsgType::kResolve, 1, std::vector<uint8_t>{'a', 0, 'b'}));
  ExpectRejected("NUL in name");
}

}  // namespace
}  // namespace nsm::resolver

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // this binary is also the sidecar
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
