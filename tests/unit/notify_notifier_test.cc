// The notify state machine on a fake clock and a simulated network: parallel
// addresses, black holes, backoff, TCP fallback, retry limit, names, pacing.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "notify/notifier.h"
#include "notify_fakes.h"
#include "resolver/resolver.h"

namespace nsm::notify {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeHost;
using test::FakeNetwork;
using test::ManualScheduler;

Target T(std::string peer, std::vector<std::string> addrs = {}, std::string name = "server",
         size_t source = 0) {
  Target t;
  t.peer = std::move(peer);
  t.notify_name = std::move(name);
  t.addresses = std::move(addrs);
  t.sources = {source};
  return t;
}

struct Harness {
  explicit Harness(NotifierOptions o = Defaults(), resolver::FakeTable table = {})
      : sched(&io), net(sched), res(resolver::MakeFakeResolver(io, std::move(table))) {
    notifier = std::make_unique<Notifier>(sched, net, res.get(), o);
  }
  static NotifierOptions Defaults() {
    NotifierOptions o;
    o.state = 7;
    o.retry_limit = seconds(60);
    o.seed = 42;
    return o;
  }
  void Start(std::vector<Target> targets) {
    notifier->Start(
        std::move(targets),
        [this](const Target& t) {
          done.push_back(t.peer);
          done_at.push_back(sched.Elapsed());
          if (on_done_hook) on_done_hook(t);
        },
        [this](const Target& t, const Failure& f) {
          failed.push_back(t.peer);
          failures.push_back(f);
          failed_at.push_back(sched.Elapsed());
        },
        [this] { finished_at = sched.Elapsed(); });
  }
  bool Finished() const { return finished_at.count() >= 0; }

  asio::io_context io;
  ManualScheduler sched;
  FakeNetwork net;
  std::unique_ptr<resolver::FakeResolver> res;
  std::unique_ptr<Notifier> notifier;
  std::vector<std::string> done, failed;
  std::vector<milliseconds> done_at, failed_at;
  std::vector<Failure> failures;
  milliseconds finished_at{-1};
  std::function<void(const Target&)> on_done_hook;
};

TEST(Notifier, LivePeerIsNotifiedOverUdpWithStateAndName) {
  Harness h;
  h.net.hosts["192.0.2.1"] = FakeHost{};
  h.Start({T("192.0.2.1", {}, "server")});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));
  EXPECT_EQ(h.done, std::vector<std::string>{"192.0.2.1"});
  EXPECT_TRUE(h.failed.empty());
  ASSERT_EQ(h.net.notifies.size(), 1u);
  EXPECT_EQ(h.net.notifies[0].server, "192.0.2.1:32765");
  EXPECT_EQ(h.net.notifies[0].transport, rpc::Transport::kUdp);
  EXPECT_EQ(h.net.notifies[0].mon_name, "server");
  EXPECT_EQ(h.net.notifies[0].state, 7);
  EXPECT_EQ(h.notifier->stats().done, 1u);
}

TEST(Notifier, TargetsAddedLaterAreNotifiedAndTheRunEndsOnlyAfterNoMore) {
  Harness h;
  for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) h.net.hosts[a] = FakeHost{};
  h.notifier->ExpectMore();
  h.Start({T("192.0.2.1")});
  h.sched.Advance(seconds(1));
  EXPECT_EQ(h.done, std::vector<std::string>{"192.0.2.1"});
  EXPECT_FALSE(h.Finished());  // more may come
  h.notifier->Add({T("192.0.2.2"), T("192.0.2.3")});
  h.sched.Advance(seconds(1));
  EXPECT_EQ(h.done.size(), 3u);
  EXPECT_FALSE(h.Finished());
  h.notifier->NoMore();
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));
  EXPECT_EQ(h.notifier->stats().targets, 3u);
  EXPECT_EQ(h.notifier->stats().done, 3u);
}

TEST(Notifier, TargetsAddedAfterTheRetryLimitFailAtOnceAndAfterStopAreIgnored) {
  NotifierOptions o = Harness::Defaults();
  o.retry_limit = seconds(10);
  Harness h(o);
  FakeHost dead;
  dead.up = false;
  h.net.hosts["192.0.2.9"] = dead;
  h.net.hosts["192.0.2.1"] = FakeHost{};
  h.notifier->ExpectMore();
  h.Start({T("192.0.2.9")});
  h.sched.Advance(seconds(11));
  EXPECT_EQ(h.failed, std::vector<std::string>{"192.0.2.9"});
  const size_t lookups = h.net.lookups.size();
  h.notifier->Add({T("192.0.2.1")});
  EXPECT_EQ(h.failed.size(), 2u);
  EXPECT_NE(h.failures.back().error.find("retry limit"), std::string::npos);
  EXPECT_EQ(h.net.lookups.size(), lookups);  // nothing sent for it
  h.notifier->NoMore();
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));

  Harness s;
  s.net.hosts["192.0.2.1"] = FakeHost{};
  s.notifier->ExpectMore();
  s.Start({});
  s.notifier->Stop();
  s.notifier->Add({T("192.0.2.1")});
  s.sched.Advance(seconds(5));
  EXPECT_TRUE(s.net.lookups.empty());
  EXPECT_EQ(s.notifier->stats().targets, 0u);
}

TEST(Notifier, EveryAddressIsTriedInParallelAndOneAnswerCompletes) {
  Harness h;
  FakeHost dead;
  dead.up = false;
  h.net.hosts["192.0.2.9"] = dead;
  h.net.hosts["2001:db8::1"] = FakeHost{};
  h.Start({T("peer", {"192.0.2.9", "2001:db8::1"})});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));
  EXPECT_EQ(h.done, std::vector<std::string>{"peer"});
  EXPECT_LT(h.done_at[0], milliseconds(100));
  // Both addresses were asked at time 0: the dead one first did not hold the other back.
  ASSERT_GE(h.net.lookups.size(), 2u);
  EXPECT_EQ(h.net.lookups[0].first, milliseconds(0));
  EXPECT_EQ(h.net.lookups[1].first, milliseconds(0));
  EXPECT_EQ(h.net.NotifiesTo("2001:db8::1"), 1u);
  // Nothing more is sent once the peer answered.
  const size_t lookups = h.net.lookups.size();
  h.sched.Advance(seconds(300));
  EXPECT_EQ(h.net.lookups.size(), lookups);
}

TEST(Notifier, BlackHolePeerDoesNotDelayLiveOnesAndFailsAtTheRetryLimit) {
  NotifierOptions o = Harness::Defaults();
  o.max_inflight = 4;  // tight pacing: the black holes must not hog it
  o.retry_limit = seconds(90);
  Harness h(o);
  std::vector<Target> targets;
  for (int i = 0; i < 5; ++i) targets.push_back(T("198.51.100." + std::to_string(i + 1)));
  for (int i = 0; i < 100; ++i) {
    std::string a = "192.0.2." + std::to_string(i + 1);
    h.net.hosts[a] = FakeHost{};
    targets.push_back(T(a));
  }
  h.Start(std::move(targets));
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.done.size() == 100; }, seconds(5)));
  EXPECT_LT(h.sched.Elapsed(), seconds(3));  // the live ones waited at most one hold
  EXPECT_TRUE(h.failed.empty());
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(200)));
  ASSERT_EQ(h.failed.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(h.failed_at[i], seconds(90));
    EXPECT_GE(h.failures[i].attempts, 4);  // 2 + 4 + 8 + 16 + 32 s (jittered) fit in 90 s
    EXPECT_NE(h.failures[i].error.find("rpcbind"), std::string::npos) << h.failures[i].error;
  }
  EXPECT_EQ(h.finished_at, seconds(90));
  EXPECT_LE(h.notifier->stats().peak_inflight, 4u);
}

TEST(Notifier, RetriesBackOffExponentiallyWithJitterUpToTheCap) {
  NotifierOptions o = Harness::Defaults();
  o.retry_limit = seconds(1000);
  Harness h(o);
  h.Start({T("198.51.100.7")});
  h.sched.Advance(seconds(999));
  std::vector<milliseconds> starts;
  for (const auto& [at, what] : h.net.lookups) starts.push_back(at);
  ASSERT_GE(starts.size(), 10u);
  for (size_t i = 1; i < starts.size(); ++i) {
    const double gap = static_cast<double>((starts[i] - starts[i - 1]).count()) / 1000.0;
    const double nominal = std::min(2.0 * (1 << std::min<size_t>(i - 1, 10)), 120.0);
    EXPECT_GE(gap, nominal * 0.8 - 0.001) << "retry " << i;
    EXPECT_LE(gap, nominal * 1.2 + 0.001) << "retry " << i;
  }
  // The gaps are not all exactly nominal: jitter is applied.
  std::set<int64_t> distinct;
  for (size_t i = 1; i < starts.size(); ++i) distinct.insert((starts[i] - starts[i - 1]).count());
  EXPECT_GT(distinct.size(), starts.size() / 2);
}

TEST(Notifier, PeerRegisteredOnlyForTcpIsNotifiedOverTcp) {
  Harness h;
  FakeHost tcp_only;
  tcp_only.udp_port = 0;
  h.net.hosts["192.0.2.5"] = tcp_only;
  h.Start({T("192.0.2.5")});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));
  EXPECT_EQ(h.done.size(), 1u);
  ASSERT_EQ(h.net.notifies.size(), 1u);
  EXPECT_EQ(h.net.notifies[0].transport, rpc::Transport::kTcp);
  EXPECT_EQ(h.net.notifies[0].server, "192.0.2.5:32766");
}

TEST(Notifier, UdpWithoutAnswerFallsBackToTcpOnTheNextAttempt) {
  Harness h;
  FakeHost udp_mute;
  udp_mute.statd_udp = false;
  h.net.hosts["192.0.2.6"] = udp_mute;
  h.Start({T("192.0.2.6")});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(10)));
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_GE(h.done_at[0], milliseconds(1600));  // after the first attempt's time-out
  EXPECT_LT(h.done_at[0], seconds(6));
  // First attempt: UDP only (no answer). Second: UDP and TCP; TCP answered.
  EXPECT_EQ(h.net.notifies[0].transport, rpc::Transport::kUdp);
  EXPECT_FALSE(h.net.notifies[0].answered);
  auto tcp = std::find_if(h.net.notifies.begin(), h.net.notifies.end(),
                          [](const auto& r) { return r.transport == rpc::Transport::kTcp; });
  ASSERT_NE(tcp, h.net.notifies.end());
  EXPECT_TRUE(tcp->answered);
  EXPECT_EQ(h.notifier->stats().tcp_notifies, 1u);
}

TEST(Notifier, PeerThatComesUpLaterIsNotifiedWhenRetryingForever) {
  NotifierOptions o = Harness::Defaults();
  o.retry_limit = milliseconds(0);  // -m 0
  Harness h(o);
  h.Start({T("192.0.2.8")});
  h.sched.Advance(std::chrono::hours(2));
  EXPECT_TRUE(h.failed.empty());
  EXPECT_FALSE(h.Finished());
  const size_t before = h.net.lookups.size();
  EXPECT_GT(before, 60u);  // still trying, at most every ~2 minutes
  EXPECT_LT(before, 80u);
  h.net.hosts["192.0.2.8"] = FakeHost{};
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(150)));
  EXPECT_EQ(h.done.size(), 1u);
}

TEST(Notifier, NamesAreResolvedAndTheirAddressesJoinTheStoredOnes) {
  resolver::FakeTable table;
  table["client.example"] = resolver::FakeAnswer::Addrs({"192.0.2.20", "192.0.2.21"});
  Harness h(Harness::Defaults(), table);
  FakeHost dead;
  dead.up = false;
  h.net.hosts["192.0.2.30"] = dead;  // stored at SM_MON time, gone now
  h.net.hosts["192.0.2.21"] = FakeHost{};
  h.Start({T("client.example", {"192.0.2.30"})});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(1)));
  EXPECT_EQ(h.done, std::vector<std::string>{"client.example"});
  EXPECT_EQ(h.net.NotifiesTo("192.0.2.21"), 1u);
  EXPECT_EQ(h.res->QueriesFor("client.example"), 1u);
}

TEST(Notifier, UnresolvableNameIsRetriedThenFailsWithTheReason) {
  resolver::FakeTable table;
  table["later.example"] = resolver::FakeAnswer::Error(Status(Code::kNotFound, "no such host"));
  table["never.example"] = resolver::FakeAnswer::Error(Status(Code::kNotFound, "no such host"));
  Harness h(Harness::Defaults(), table);
  h.net.hosts["192.0.2.40"] = FakeHost{};
  h.Start({T("later.example"), T("never.example")});
  h.sched.Advance(seconds(10));
  EXPECT_GE(h.res->QueriesFor("later.example"), 2u);
  h.res->Set("later.example", resolver::FakeAnswer::Addrs({"192.0.2.40"}));
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(120)));
  EXPECT_EQ(h.done, std::vector<std::string>{"later.example"});
  ASSERT_EQ(h.failed, std::vector<std::string>{"never.example"});
  EXPECT_NE(h.failures[0].error.find("cannot resolve never.example"), std::string::npos)
      << h.failures[0].error;
}

TEST(Notifier, WithoutResolverAPeerWithoutAddressFailsAtOnce) {
  asio::io_context io;
  ManualScheduler sched(&io);
  FakeNetwork net(sched);
  Notifier n(sched, net, nullptr, Harness::Defaults());
  std::vector<std::string> failed;
  bool finished = false;
  n.Start(
      {T("no-address.example")}, [](const Target&) {},
      [&](const Target& t, const Failure&) { failed.push_back(t.peer); }, [&] { finished = true; });
  sched.Advance(milliseconds(1));
  EXPECT_EQ(failed, std::vector<std::string>{"no-address.example"});
  EXPECT_TRUE(finished);
}

TEST(Notifier, ShortNameFollowsTheFullNameOnceAndIpLiteralsHaveNone) {
  Harness h;
  h.net.hosts["192.0.2.50"] = FakeHost{};
  h.net.hosts["192.0.2.51"] = FakeHost{};
  h.Start({T("192.0.2.50", {}, "server.example.com"), T("192.0.2.51", {}, "198.18.0.1")});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(10)));
  std::vector<std::string> names;
  for (const auto& r : h.net.notifies) names.push_back(r.server + " " + r.mon_name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"192.0.2.50:32765 server",
                                             "192.0.2.50:32765 server.example.com",
                                             "192.0.2.51:32765 198.18.0.1"}));
}

TEST(Notifier, ShortNameIsBestEffortAndBoundedInTime) {
  NotifierOptions o = Harness::Defaults();
  Harness h(o);
  h.net.hosts["192.0.2.52"] = FakeHost{};
  // The peer goes silent right after answering the full name.
  h.on_done_hook = [&](const Target&) { h.net.hosts["192.0.2.52"].up = false; };
  h.Start({T("192.0.2.52", {}, "server.example.com")});
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return !h.done.empty(); }, seconds(1)));
  EXPECT_FALSE(h.Finished());
  h.sched.Advance(seconds(1));
  EXPECT_FALSE(h.Finished());
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(10)));
  EXPECT_GE(h.finished_at, o.short_name_timeout);
  EXPECT_LE(h.finished_at, o.short_name_timeout + seconds(1));
  EXPECT_EQ(h.net.notifies.size(), 2u);
  EXPECT_FALSE(h.net.notifies[1].answered);
  EXPECT_TRUE(h.failed.empty());
}

TEST(Notifier, StopAbandonsPendingPeersWithoutReportingThem) {
  Harness h;
  h.Start({T("198.51.100.1"), T("198.51.100.2")});
  h.sched.Advance(seconds(5));
  h.notifier->Stop();
  h.sched.Advance(seconds(600));
  EXPECT_TRUE(h.done.empty());
  EXPECT_TRUE(h.failed.empty());
  EXPECT_FALSE(h.Finished());
  EXPECT_EQ(h.notifier->stats().abandoned, 2u);
}

TEST(Notifier, ManyPeersArePacedByTheInflightBound) {
  NotifierOptions o = Harness::Defaults();
  o.max_inflight = 16;
  Harness h(o);
  std::vector<Target> targets;
  for (int i = 0; i < 2000; ++i) {
    std::string a = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    FakeHost host;
    host.latency = milliseconds(5);
    h.net.hosts[a] = host;
    targets.push_back(T(a, {}, "server", static_cast<size_t>(i)));
  }
  h.Start(std::move(targets));
  ASSERT_TRUE(h.sched.RunUntilTrue([&] { return h.Finished(); }, seconds(60)));
  EXPECT_EQ(h.done.size(), 2000u);
  // Each attempt holds a slot for its look-up and its SM_NOTIFY (2 x 5 ms).
  EXPECT_LE(h.notifier->stats().peak_inflight, 16u);
  EXPECT_LE(h.net.peak_inflight, 16u);
  EXPECT_EQ(h.notifier->stats().udp_notifies, 2000u);
}

// One peer in eleven is a black hole (as in bench/SMNOTIFY.md), spread among live ones
// (2 ms per call): a silent peer's place comes back as soon as a later attempt is
// answered, not after the 100 ms hold, so the black holes cost the live peers little.
TEST(Notifier, SilentPeersGiveTheirPlaceBackOnceLaterOnesAnswer) {
  struct Outcome {
    milliseconds live_done{0};
    uint64_t presumed_silent = 0;
  };
  auto run = [](bool black_holes, milliseconds reorder_window) {
    NotifierOptions o = Harness::Defaults();
    o.max_inflight = 16;
    o.reorder_window = reorder_window;
    Harness h(o);
    std::vector<Target> targets;
    for (int i = 0; i < 440; ++i) {
      std::string a = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      if (i % 11 != 5) {
        FakeHost host;
        host.latency = milliseconds(2);
        h.net.hosts[a] = host;
      } else if (!black_holes) {
        continue;
      }
      targets.push_back(T(a, {}, "server", static_cast<size_t>(i)));
    }
    h.Start(std::move(targets));
    EXPECT_TRUE(h.sched.RunUntilTrue([&] { return h.done.size() == 400; }, seconds(60)));
    return Outcome{h.sched.Elapsed(), h.notifier->stats().presumed_silent};
  };
  const Outcome alone = run(false, milliseconds(5));
  const Outcome mixed = run(true, milliseconds(5));
  const Outcome held = run(true, milliseconds(0));  // off: only the inflight_hold
  EXPECT_EQ(alone.presumed_silent, 0u);
  EXPECT_GE(mixed.presumed_silent, 30u);
  EXPECT_LE(mixed.live_done, alone.live_done * 5 / 4) << alone.live_done.count() << " ms alone";
  EXPECT_GT(held.live_done, mixed.live_done * 2) << mixed.live_done.count() << " ms mixed";
}

TEST(Notifier, EmptyListFinishesAtOnce) {
  Harness h;
  h.Start({});
  h.sched.Advance(milliseconds(1));
  EXPECT_TRUE(h.Finished());
}

}  // namespace
}  // namespace nsm::notify
