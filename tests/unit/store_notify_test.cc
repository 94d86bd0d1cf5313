// Store: BeginReboot (state bump, monitors merged into the notify list) and the
// notify-list calls sm-notify uses.
#include <gtest/gtest.h>

#include "store/store.h"
#include "store_test_util.h"

namespace nsm::store {
namespace {

using test::Add;
using test::MakeMonitor;
using test::OpenOrDie;
using test::TempDir;

class FixedClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override { return {}; }
  int64_t UnixSeconds() const override { return now; }
  int64_t now = 1750000000;
};

TEST(StoreReboot, BumpsOddByTwoAndEvenToNextOdd) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  auto r = s->BeginReboot(/*bump=*/true, /*keep_monitors=*/false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 3u);
  EXPECT_EQ(*s->GetState(), 3u);
  ASSERT_TRUE(s->SetState(10).ok());
  EXPECT_EQ(*s->BeginReboot(true, false), 11u);
  EXPECT_EQ(*s->BeginReboot(false, false), 11u);
  EXPECT_EQ(*s->GetState(), 11u);
  ASSERT_TRUE(s->SetState(0xffffffffu).ok());
  EXPECT_EQ(*s->BeginReboot(true, false), 1u);
  ASSERT_TRUE(s->SetState(0xfffffffeu).ok());
  EXPECT_EQ(*s->BeginReboot(true, false), 0xffffffffu);
}

TEST(StoreReboot, MergesMonitorsIntoNotifyList) {
  TempDir dir;
  FixedClock clock;
  Options o;
  o.clock = &clock;
  auto s = OpenOrDie(dir.path(), o);
  ASSERT_TRUE(s);
  // Two records (different callbacks) for the same (mon_name, my_name): one entry with
  // the union of their addresses. Another my_name: its own entry.
  ASSERT_TRUE(Add(*s, MakeMonitor("peer", "server", 1, {"192.0.2.1"}, 100021, 4, 16)).ok());
  ASSERT_TRUE(
      Add(*s, MakeMonitor("peer", "server", 2, {"2001:db8::1", "192.0.2.1"}, 100021, 4, 24)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("peer", "alias", 3, {"192.0.2.1"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("other", "server", 4)).ok());

  auto state = s->BeginReboot(/*bump=*/true, /*keep_monitors=*/false);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, 3u);
  EXPECT_EQ(*s->CountMonitors(), 0u);
  EXPECT_TRUE(s->FindMonitorsByAddress("192.0.2.1")->empty());
  EXPECT_TRUE(s->FindMonitorsByName("peer")->empty());

  auto list = s->ListNotify();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  const NotifyEntry& e = (*list)[0];
  EXPECT_EQ(e.mon_name, "peer");
  EXPECT_EQ(e.my_name, "server");
  EXPECT_EQ(e.addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  EXPECT_EQ(e.status, NotifyStatus::kPending);
  EXPECT_EQ(e.attempts, 0);
  EXPECT_EQ(e.added, clock.now);
  EXPECT_EQ((*list)[1].my_name, "alias");
  EXPECT_EQ((*list)[1].addresses, std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ((*list)[2].mon_name, "other");
  EXPECT_TRUE((*list)[2].addresses.empty());

  // The list survives a reopen.
  s.reset();
  s = OpenOrDie(dir.path(), o);
  EXPECT_EQ(s->ListNotify()->size(), 3u);
  EXPECT_EQ(*s->GetState(), 3u);
}

TEST(StoreReboot, KeepMonitorsAndMergeWithExistingEntries) {
  TempDir dir;
  FixedClock clock;
  Options o;
  o.clock = &clock;
  auto s = OpenOrDie(dir.path(), o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("peer", "server", 1, {"192.0.2.1"})).ok());
  ASSERT_TRUE(s->BeginReboot(true, /*keep_monitors=*/true).ok());
  EXPECT_EQ(*s->CountMonitors(), 1u);
  ASSERT_TRUE(s->NotifyAttempt("peer", "server", "timed out", NotifyStatus::kFailed).ok());
  // A second reboot: the monitor now has another address; the entry is pending again,
  // with the union of addresses.
  ASSERT_TRUE(Add(*s, MakeMonitor("peer", "server", 1, {"192.0.2.2"})).ok());
  EXPECT_EQ(*s->BeginReboot(true, false), 5u);
  auto list = *s->ListNotify();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].addresses, (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(list[0].status, NotifyStatus::kPending);
  EXPECT_EQ(list[0].attempts, 0);
  EXPECT_EQ(*s->CountMonitors(), 0u);
}

TEST(StoreNotify, AttemptAndDone) {
  TempDir dir;
  FixedClock clock;
  Options o;
  o.clock = &clock;
  auto s = OpenOrDie(dir.path(), o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "server", 1, {"192.0.2.1"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("b", "server", 2, {"192.0.2.2"})).ok());
  ASSERT_TRUE(s->BeginReboot(true, false).ok());

  clock.now += 30;
  ASSERT_TRUE(s->NotifyAttempt("a", "server", "no reply", NotifyStatus::kPending).ok());
  clock.now += 30;
  ASSERT_TRUE(s->NotifyAttempt("a", "server", "port unreachable", NotifyStatus::kFailed).ok());
  EXPECT_EQ(s->NotifyAttempt("zzz", "server", "x", NotifyStatus::kFailed).code(), Code::kNotFound);
  auto list = *s->ListNotify();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].attempts, 2);
  EXPECT_EQ(list[0].last_error, "port unreachable");
  EXPECT_EQ(list[0].last_attempt, clock.now);
  EXPECT_EQ(list[0].status, NotifyStatus::kFailed);
  EXPECT_EQ(list[1].attempts, 0);

  ASSERT_TRUE(s->NotifyDone("a", "server").ok());
  ASSERT_TRUE(s->NotifyDone("a", "server").ok());  // already gone: still fine
  list = *s->ListNotify();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].mon_name, "b");
  ASSERT_TRUE(s->NotifyDone("b", "server").ok());
  EXPECT_TRUE(s->ListNotify()->empty());
}

TEST(StoreNotify, AddNotifyUpserts) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  NotifyEntry e;
  e.mon_name = "legacy-peer";
  e.my_name = "server";
  e.addresses = {"192.0.2.7"};
  e.added = 1600000000;
  ASSERT_TRUE(s->AddNotify(e).ok());
  e.addresses = {"192.0.2.8", "::1"};
  e.attempts = 4;
  e.status = NotifyStatus::kFailed;
  e.last_error = "x";
  ASSERT_TRUE(s->AddNotify(e).ok());
  auto list = *s->ListNotify();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].addresses, (std::vector<std::string>{"192.0.2.8", "::1"}));
  EXPECT_EQ(list[0].attempts, 4);
  EXPECT_EQ(list[0].status, NotifyStatus::kFailed);
  EXPECT_EQ(list[0].added, 1600000000);
  e.mon_name = "bad/name";
  EXPECT_EQ(s->AddNotify(e).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace nsm::store
