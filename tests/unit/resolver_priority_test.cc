// Priority classes of the sidecar resolver: lookups a remote host can trigger
// (Priority::kRemote, rpc.statd's SM_NOTIFY) may never occupy every worker of the
// sidecar nor fill the pending table, so local lookups (SM_MON from lockd) are
// answered while remote ones hang; remote queries beyond their share wait in the
// parent, are dropped unsent when their callers give up, and are taken over by a
// local lookup of the same name. This binary is also the sidecar (main() calls
// MaybeRunSidecar); answers come from a test hosts table.
#include <gtest/gtest.h>

#include <algorithm>

#include "resolver/resolver.h"
#include "resolver_test_util.h"

namespace nsm::resolver {
namespace {

using namespace test_util;  // NOLINT: the shared fixture (resolver_test_util.h)

class ResolverPriority : public ResolverSidecar {
 protected:
  void SetUp() override {
    ResolverSidecar::SetUp();
    opts_.child_threads = 4;
    opts_.local_threads = 2;  // remote lookups get at most 2 workers
    std::string extra;
    for (int i = 0; i < 8; ++i) extra += "busy" + std::to_string(i) + " hang\n";
    extra += "slowa slow 300 192.0.2.10\nslowb slow 300 192.0.2.11\n";
    AddToTable(extra);
  }
  // Remote lookups of busy0..busy<n-1>, which never answer.
  std::vector<std::shared_ptr<Outcome>> FillWithRemoteHangs(int n, std::chrono::milliseconds t) {
    std::vector<std::shared_ptr<Outcome>> out;
    for (int i = 0; i < n; ++i) out.push_back(StartRemote("busy" + std::to_string(i), t));
    return out;
  }
};

// The integration test's attack in small: remote lookups of names that hang (more
// than there are workers), then local lookups, which must be answered at once.
TEST_F(ResolverPriority, LocalLookupsAreAnsweredWhileRemoteOnesHang) {
  Make();
  ASSERT_TRUE(Resolve("one")->result->ok());
  auto busy = FillWithRemoteHangs(8, 10s);
  RunFor(100ms);
  auto t0 = SteadyClock::now();
  auto two = Start("two");  // the 3-argument overload is Priority::kLocal
  auto slow = Start("slow", 5s, Priority::kLocal);
  ASSERT_TRUE(RunUntil([&] { return two->done() && slow->done(); }));
  ASSERT_TRUE(two->result->ok());
  EXPECT_LT(two->at - t0, 200ms);
  ASSERT_TRUE(slow->result->ok());
  EXPECT_LT(slow->at - t0, 300ms + 250ms);
  for (auto& b : busy) EXPECT_FALSE(b->done());
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 1u + 2u + 2u);  // one, two remote hangs, two, slow
  EXPECT_EQ(s.remote_deferred, 6u);
  EXPECT_EQ(s.sidecar_restarts, 0u);
}

// Without a reserve the same load starves local lookups (the bug this fixes).
TEST_F(ResolverPriority, WithoutAReserveLocalLookupsQueueBehindRemoteHangs) {
  opts_.local_threads = 0;
  Make();
  auto busy = FillWithRemoteHangs(4, 10s);
  RunFor(100ms);
  EXPECT_EQ(Resolve("two", 300ms)->code(), Code::kTimeout);
}

// Remote queries beyond their share wait in the parent; when a slot frees, the next
// one is sent; one whose callers all timed out is dropped before it costs a lookup.
TEST_F(ResolverPriority, ParkedRemoteQueriesAreSentInTurnOrDropped) {
  Make();
  auto a = StartRemote("slowa"), b = StartRemote("slowb");  // both remote slots, 300 ms
  auto gone = StartRemote("busy0", 100ms);                  // parked, then given up
  auto three = StartRemote("three");                        // parked
  ASSERT_TRUE(RunUntil([&] { return gone->done(); }));
  EXPECT_EQ(gone->code(), Code::kTimeout);
  EXPECT_EQ(resolver_->stats().sidecar_queries, 2u);
  ASSERT_TRUE(RunUntil([&] { return a->done() && b->done() && three->done(); }));
  EXPECT_TRUE(a->result->ok() && b->result->ok());
  ASSERT_TRUE(three->result->ok());
  // Sent only when slowa or slowb had answered (either may be first: two workers).
  EXPECT_GE(three->at - std::min(a->at, b->at), 0ms);
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 3u);  // busy0 never reached the sidecar
  EXPECT_EQ(s.remote_deferred, 2u);
  EXPECT_EQ(s.remote_dropped, 1u);
  EXPECT_EQ(s.timeouts, 1u);
}

// A local lookup of a name whose remote query is parked takes it over: sent at once,
// one query for both callers.
TEST_F(ResolverPriority, LocalLookupTakesOverAParkedRemoteQuery) {
  Make();
  auto busy = FillWithRemoteHangs(2, 10s);
  auto remote = StartRemote("slow", 5s);
  RunFor(100ms);
  EXPECT_FALSE(remote->done());
  auto t0 = SteadyClock::now();
  auto local = Start("SLOW", 5s, Priority::kLocal);
  ASSERT_TRUE(RunUntil([&] { return remote->done() && local->done(); }));
  ASSERT_TRUE(local->result->ok());
  ASSERT_TRUE(remote->result->ok());
  EXPECT_LT(local->at - t0, 300ms + 250ms);
  Stats s = resolver_->stats();
  EXPECT_EQ(s.sidecar_queries, 3u);
  EXPECT_EQ(s.coalesced, 1u);
}

// Remote lookups join a local query in flight, and local ones a remote query that is
// already in the sidecar: one query per name either way.
TEST_F(ResolverPriority, ClassesShareQueriesInFlight) {
  Make();
  auto l = Start("slowa", 5s, Priority::kLocal);
  auto r = StartRemote("slowa");
  auto r2 = StartRemote("slowb");
  auto l2 = Start("slowb", 5s, Priority::kLocal);
  ASSERT_TRUE(RunUntil([&] { return l->done() && r->done() && r2->done() && l2->done(); }));
  for (auto& o : {l, r, r2, l2}) EXPECT_TRUE(o->result->ok());
  EXPECT_EQ(resolver_->stats().sidecar_queries, 2u);
  EXPECT_EQ(resolver_->stats().coalesced, 2u);
}

// Remote lookups may fill at most 3/4 of max_pending: local ones always find room.
TEST_F(ResolverPriority, RemoteLookupsCannotFillThePendingTable) {
  opts_.max_pending = 8;  // remote: 6
  Make();
  auto busy = FillWithRemoteHangs(6, 10s);
  auto refused = StartRemote("busy6", 10s);
  auto local = Start("one");
  auto local_hang = Start("busy7", 10s);  // a 7th query: local ones may use the rest
  ASSERT_TRUE(RunUntil([&] { return refused->done() && local->done(); }));
  EXPECT_EQ(refused->code(), Code::kFull);
  EXPECT_TRUE(local->result->ok());
  EXPECT_FALSE(local_hang->done());
  EXPECT_EQ(resolver_->stats().queue_full, 1u);
}

// The fake records the class of every lookup, for tests of the code that chooses it.
TEST(ResolverPriorityFake, FakeCountsQueriesPerClass) {
  asio::io_context io;
  auto fake = MakeFakeResolver(io, {{"peer", FakeAnswer::Addrs({"192.0.2.1"})}});
  int done = 0;
  fake->Resolve("peer", 1s, [&](Result<Addresses>) { ++done; });
  fake->Resolve("PEER", 1s, Priority::kRemote, [&](Result<Addresses>) { ++done; });
  fake->Resolve("peer", 1s, Priority::kRemote, [&](Result<Addresses>) { ++done; });
  io.run();
  EXPECT_EQ(done, 3);
  EXPECT_EQ(fake->QueriesFor("peer"), 3u);
  EXPECT_EQ(fake->QueriesFor("peer", Priority::kLocal), 1u);
  EXPECT_EQ(fake->QueriesFor("peer", Priority::kRemote), 2u);
}

}  // namespace
}  // namespace nsm::resolver

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // this binary is also the sidecar
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
