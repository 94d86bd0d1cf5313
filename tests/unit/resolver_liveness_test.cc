// Hang detection of the sidecar resolver: a sidecar is hung when its main loop stops
// answering the parent's liveness pings, never because a lookup takes long (glibc
// takes 10-20 s and more per name when the nameservers are dead). Lookups that
// outlive their callers' timeouts complete those callers with kTimeout and their late
// answers fill the cache; a frozen sidecar (SIGSTOP) is killed and replaced; lookups
// that never end are replaced only after the stall limit. This binary is also the
// sidecar (main() calls MaybeRunSidecar); answers come from a test hosts table.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resolver/protocol.h"
#include "resolver/resolver.h"
#include "resolver/resolver_internal.h"
#include "resolver_test_util.h"

namespace nsm::resolver {
namespace {

using namespace test_util;  // NOLINT: the shared fixture (resolver_test_util.h)

// The sidecar is busy, not hung: a lookup that outlives its timeout and the hang
// timeout several times over (the integration test's DNS outage, in small).
TEST_F(ResolverSidecar, LongLookupsAreNotTakenForAHang) {
  opts_.hang_timeout = 150ms;
  AddToTable("late slow 1200 192.0.2.77\n");
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t pid = Pid();
  auto t0 = SteadyClock::now();
  auto hung = Start("hang", 100ms);  // never answers
  auto late = Start("late", 200ms);  // answers after 1.2 s
  ASSERT_TRUE(RunUntil([&] { return hung->done() && late->done(); }));
  EXPECT_EQ(hung->code(), Code::kTimeout);
  EXPECT_EQ(late->code(), Code::kTimeout);
  EXPECT_LT(late->at - t0, 600ms);
  RunFor(1500ms);  // 10 hang timeouts with both lookups still running in the sidecar
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_restarts, 0u);
  EXPECT_EQ(Pid(), pid);
  // The late answer was not lost: it is in the cache now.
  auto again = Resolve("late");
  ASSERT_TRUE(again->result->ok()) << again->result->status().ToString();
  EXPECT_EQ(Join(**again->result), "192.0.2.77");
  EXPECT_EQ(resolver_->stats().cache_hits, s.cache_hits + 1);
  // Other lookups are still answered by the same sidecar.
  EXPECT_TRUE(Resolve("two")->result->ok());
  EXPECT_EQ(Pid(), pid);
}

// Every worker of the sidecar stuck in a lookup is still no hang: the main loop answers.
TEST_F(ResolverSidecar, AllWorkersBusyIsNotAHang) {
  opts_.hang_timeout = 150ms;
  opts_.child_threads = 2;
  opts_.local_threads = 0;
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t pid = Pid();
  EXPECT_EQ(Resolve("hang", 50ms)->code(), Code::kTimeout);
  EXPECT_EQ(Resolve("hang2", 50ms)->code(), Code::kTimeout);
  EXPECT_EQ(Resolve("two", 100ms)->code(), Code::kTimeout);  // queued behind them
  RunFor(1s);
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 0u);
  EXPECT_EQ(Pid(), pid);
}

// A sidecar that stops running (here SIGSTOP, as a debugger or a stuck process would)
// is killed and replaced once a ping has gone unanswered for hang_timeout.
TEST_F(ResolverSidecar, FrozenSidecarIsKilledAndReplaced) {
  opts_.hang_timeout = 300ms;
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t old = Pid();
  auto t0 = SteadyClock::now();
  auto frozen = Start("freeze", 10s);
  ASSERT_TRUE(RunUntil([&] { return frozen->done(); }, 5s));
  EXPECT_EQ(frozen->code(), Code::kUnavailable);
  EXPECT_NE(frozen->result->status().message().find("unresponsive"), std::string::npos)
      << frozen->result->status().ToString();
  EXPECT_GE(SteadyClock::now() - t0, 300ms);
  EXPECT_LT(SteadyClock::now() - t0, 2s);
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 1u);
  EXPECT_TRUE(RunUntil([&] { return ProcessGone(old); }, 2s)) << "frozen sidecar not reaped";
  EXPECT_NE(Pid(), old);
  EXPECT_TRUE(Resolve("two")->result->ok());
}

// A hang right after a replacement must still be detected (the watchdog survives it).
TEST_F(ResolverSidecar, HangAfterAReplacementIsStillDetected) {
  opts_.hang_timeout = 200ms;
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  auto hung = Start("hang", 5s);  // arms the watchdog
  ASSERT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_queries == 2; }));
  ASSERT_EQ(kill(Pid(), SIGKILL), 0);
  ASSERT_TRUE(RunUntil([&] { return hung->done(); }));
  ASSERT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_restarts == 1; }));
  ASSERT_TRUE(Resolve("two")->result->ok());
  EXPECT_EQ(Resolve("freeze", 5s)->code(), Code::kUnavailable);
  EXPECT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_restarts == 2; }, 3s));
  EXPECT_TRUE(Resolve("three")->result->ok());
}

// Safety valve: a sidecar that answers pings but no query for stall_limit, while a
// query has been owed that long, has wedged lookups and is replaced.
TEST_F(ResolverSidecar, StalledLookupsAreReplacedAfterTheStallLimit) {
  opts_.hang_timeout = 100ms;
  opts_.stall_limit = 600ms;
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  pid_t old = Pid();
  auto t0 = SteadyClock::now();
  EXPECT_EQ(Resolve("hang", 50ms)->code(), Code::kTimeout);
  ASSERT_TRUE(RunUntil([&] { return resolver_->stats().sidecar_restarts == 1; }, 3s));
  EXPECT_GE(SteadyClock::now() - t0, 600ms);
  EXPECT_NE(Pid(), old);
  EXPECT_TRUE(Resolve("two")->result->ok());
}

// ... but answers to other queries show progress: no replacement then.
TEST_F(ResolverSidecar, AnswersKeepTheStallLimitAway) {
  opts_.hang_timeout = 100ms;
  opts_.stall_limit = 500ms;
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  EXPECT_EQ(Resolve("hang", 50ms)->code(), Code::kTimeout);
  for (int i = 0; i < 12; ++i) {  // 1.2 s: a fresh name answered every 100 ms
    EXPECT_EQ(Resolve("absent-" + std::to_string(i))->code(), Code::kNotFound);
    RunFor(100ms);
  }
  EXPECT_EQ(resolver_->stats().sidecar_restarts, 0u);
}

// The sidecar's side, driven by hand: it answers a ping at once from its main loop
// even while every worker thread is blocked in a lookup.
class SidecarPing : public ResolverSidecar {
 protected:
  void TearDown() override {
    if (child_.pid > 0) {
      kill(child_.pid, SIGKILL);
      waitpid(child_.pid, nullptr, 0);
    }
    if (child_.fd >= 0) close(child_.fd);
    ResolverSidecar::TearDown();
  }
  void SpawnRaw() {
    auto s = SpawnSidecar(opts_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    child_ = *s;
    timeval tv{5, 0};
    setsockopt(child_.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto hello = Recv();
    ASSERT_TRUE(hello.ok()) << hello.status().ToString();
    ASSERT_EQ(hello->type, proto::MsgType::kHello);
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
  SpawnedSidecar child_;
};

TEST_F(SidecarPing, PongComesAtOnceWhileEveryWorkerIsBlocked) {
  opts_.child_threads = 2;
  SpawnRaw();
  Send(proto::EncodeResolve(1, "hang"));
  Send(proto::EncodeResolve(2, "hang2"));
  Send(proto::EncodeResolve(3, "one"));  // queued: both workers are blocked
  usleep(50000);
  for (uint64_t id : {100u, 101u, 102u}) {
    auto t0 = SteadyClock::now();
    Send(proto::EncodePing(id));
    auto f = Recv();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_EQ(f->type, proto::MsgType::kPong);
    EXPECT_EQ(f->id, id);
    EXPECT_LT(SteadyClock::now() - t0, 500ms);
  }
}

TEST_F(SidecarPing, PingWithAPayloadEndsTheSidecar) {
  SpawnRaw();
  Send(proto::EncodeFrame(proto::MsgType::kPing, 5, std::vector<uint8_t>{1}));
  auto log = Recv();
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->type, proto::MsgType::kLog);
  EXPECT_EQ(Recv().status().message(), "EOF");
  int st = 0;
  ASSERT_EQ(waitpid(child_.pid, &st, 0), child_.pid);
  child_.pid = -1;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << st;
}

}  // namespace
}  // namespace nsm::resolver

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // this binary is also the sidecar
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
