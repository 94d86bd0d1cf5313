// Store group commit: batching under concurrency, order within a batch, draining at
// destruction, a failed fsync poisoning the store, and a full disk failing only the
// batches it hits (through the fault-injecting VFS and through a real full tmpfs).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "store/fault_vfs.h"
#include "store/store.h"
#include "store_test_util.h"

namespace nsm::store {
namespace {

using test::Add;
using test::MakeMonitor;
using test::OpenOrDie;
using test::Remove;
using test::RunInChild;
using test::TempDir;

const std::vector<std::string> kOnlyDb{NSM_DB_NAME};

TEST(StoreCommit, SixteenThreadsShareCommits) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  constexpr int kThreads = 16, kEach = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Each thread waits for its reply before the next request, like an SM_MON
        // handler; concurrency comes from the threads.
        Status st = Add(*s, MakeMonitor("c" + std::to_string(t) + "-" + std::to_string(i), "server",
                                        static_cast<uint8_t>(i), {"192.0.2.1"}));
        if (!st.ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*s->CountMonitors(), uint64_t{kThreads * kEach});
  const Stats st = s->stats();
  EXPECT_EQ(st.requests, uint64_t{kThreads * kEach});
  EXPECT_FALSE(st.poisoned);
  EXPECT_EQ(st.failed_batches, 0u);
  // Every commit carries the requests that queued during the previous one.
  EXPECT_LT(st.commits, uint64_t{kThreads * kEach} / 3) << "commits " << st.commits;
  EXPECT_GT(st.max_batch, 1u);
  std::printf("16x200 adds: %llu commits, largest batch %llu\n",
              static_cast<unsigned long long>(st.commits),
              static_cast<unsigned long long>(st.max_batch));
}

TEST(StoreCommit, BurstIsCappedPerBatch) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  constexpr int kN = 5000;
  std::atomic<int> ok{0};
  std::promise<void> last;
  for (int i = 0; i < kN; ++i) {
    s->AddMonitor(MakeMonitor("c" + std::to_string(i)), [&, i](Status st) {
      if (st.ok()) ok++;
      if (i == kN - 1) last.set_value();
    });
  }
  last.get_future().get();
  EXPECT_EQ(ok.load(), kN);
  const Stats st = s->stats();
  EXPECT_LE(st.max_batch, 1024u);
  EXPECT_LT(st.commits, uint64_t{kN} / 10);
  std::printf("burst of %d adds: %llu commits, largest batch %llu\n", kN,
              static_cast<unsigned long long>(st.commits),
              static_cast<unsigned long long>(st.max_batch));
}

TEST(StoreCommit, RequestsApplyInOrderWithinABatch) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  std::vector<int> order;
  std::mutex mu;
  auto note = [&](int n) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(n);
  };
  std::promise<void> done;
  const MonitorKey gone{"gone", "server", 100021, 4, 16};
  const MonitorKey kept{"kept", "server", 100021, 4, 16};
  s->AddMonitor(MakeMonitor("gone"), [&](Status st) {
    EXPECT_TRUE(st.ok());
    note(1);
  });
  s->RemoveMonitor(gone, [&](Status st, bool removed) {
    EXPECT_TRUE(st.ok());
    EXPECT_TRUE(removed);
    note(2);
  });
  s->RemoveMonitor(kept, [&](Status st, bool removed) {
    EXPECT_TRUE(st.ok());
    EXPECT_FALSE(removed);
    note(3);
  });
  s->AddMonitor(MakeMonitor("kept"), [&](Status st) {
    EXPECT_TRUE(st.ok());
    note(4);
    done.set_value();
  });
  done.get_future().get();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(test::MonNames(*s->ListMonitors()), std::vector<std::string>{"kept"});
}

TEST(StoreCommit, DestructorDrainsTheQueue) {
  TempDir dir;
  constexpr int kN = 3000;
  std::atomic<int> ok{0}, called{0};
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s);
    for (int i = 0; i < kN; ++i) {
      s->AddMonitor(MakeMonitor("c" + std::to_string(i)), [&](Status st) {
        called++;
        if (st.ok()) ok++;
      });
    }
  }
  EXPECT_EQ(called.load(), kN);
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(dir.List(), kOnlyDb);
  auto s = OpenOrDie(dir.path());
  EXPECT_EQ(*s->CountMonitors(), uint64_t{kN});
}

// Resets the process-wide fault switches whatever the test outcome.
struct FaultGuard {
  FaultGuard() { vfs = testing::FaultVfsName(); }
  ~FaultGuard() {
    testing::SetFailSync(false);
    testing::SetFailWriteFull(false);
  }
  std::string vfs;
};

TEST(StoreCommit, FailedFsyncPoisonsTheStore) {
  TempDir dir;
  FaultGuard faults;
  Options o;
  o.vfs = faults.vfs;
  {
    auto s = OpenOrDie(dir.path(), o);
    ASSERT_TRUE(s);
    ASSERT_TRUE(Add(*s, MakeMonitor("before")).ok());
    const uint64_t syncs = testing::SyncCount();
    testing::SetFailSync(true);
    Status st = Add(*s, MakeMonitor("during"));
    EXPECT_EQ(st.code(), Code::kIoError) << st.ToString();
    EXPECT_TRUE(s->stats().poisoned);
    EXPECT_EQ(s->stats().failed_batches, 1u);
    testing::SetFailSync(false);
    // The disk "works" again: the store still refuses every write.
    st = Add(*s, MakeMonitor("after"));
    EXPECT_EQ(st.code(), Code::kIoError) << st.ToString();
    EXPECT_NE(st.message().find("restart"), std::string::npos) << st.ToString();
    EXPECT_EQ(Remove(*s, MakeMonitor("before").key).first.code(), Code::kIoError);
    EXPECT_EQ(s->SetState(5).code(), Code::kIoError);
    EXPECT_EQ(s->SetMeta("k", "v").code(), Code::kIoError);
    EXPECT_EQ(s->BeginReboot(true, false).status().code(), Code::kIoError);
    EXPECT_EQ(s->NotifyDone("a", "b").code(), Code::kIoError);
    EXPECT_EQ(testing::SyncCount(), syncs);  // no write reached the disk after poisoning
    // Reads still work and show the last durable state.
    EXPECT_EQ(test::MonNames(*s->ListMonitors()), std::vector<std::string>{"before"});
    EXPECT_EQ(*s->GetState(), 1u);
  }
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(test::MonNames(*s->ListMonitors()), std::vector<std::string>{"before"});
  EXPECT_TRUE(Add(*s, MakeMonitor("restarted")).ok());
}

TEST(StoreCommit, FailedFsyncOfASynchronousWritePoisonsToo) {
  TempDir dir;
  FaultGuard faults;
  Options o;
  o.vfs = faults.vfs;
  auto s = OpenOrDie(dir.path(), o);
  ASSERT_TRUE(s);
  testing::SetFailSync(true);
  EXPECT_EQ(s->SetState(3).code(), Code::kIoError);
  testing::SetFailSync(false);
  EXPECT_TRUE(s->stats().poisoned);
  EXPECT_EQ(Add(*s, MakeMonitor("a")).code(), Code::kIoError);
  EXPECT_EQ(*s->GetState(), 1u);
}

TEST(StoreCommit, FullDiskFailsOnlyItsBatch) {
  TempDir dir;
  FaultGuard faults;
  Options o;
  o.vfs = faults.vfs;
  auto s = OpenOrDie(dir.path(), o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("before")).ok());
  testing::SetFailWriteFull(true);
  Status st = Add(*s, MakeMonitor("during", "server", 0, {"192.0.2.1"}));
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
  EXPECT_EQ(s->SetState(7).code(), Code::kNoSpace);
  EXPECT_EQ(s->BeginReboot(true, false).status().code(), Code::kNoSpace);
  EXPECT_FALSE(s->stats().poisoned);
  EXPECT_EQ(test::MonNames(*s->ListMonitors()), std::vector<std::string>{"before"});
  EXPECT_EQ(*s->GetState(), 1u);
  testing::SetFailWriteFull(false);
  EXPECT_TRUE(Add(*s, MakeMonitor("after")).ok());
  EXPECT_TRUE(s->SetState(7).ok());
  EXPECT_EQ(test::MonNames(*s->ListMonitors()), (std::vector<std::string>{"before", "after"}));
  EXPECT_TRUE(s->FindMonitorsByAddress("192.0.2.1")->empty());
}

// Fills the file system of `dir` completely; returns the filler's path.
std::string FillUp(const std::string& dir) {
  const std::string filler = dir + "/filler";
  int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "";
  std::string chunk(65536, 'x');
  for (size_t size : {size_t{65536}, size_t{4096}, size_t{1}}) {
    while (write(fd, chunk.data(), size) == static_cast<ssize_t>(size)) {
    }
  }
  close(fd);
  return filler;
}

// A real ENOSPC: a 1 MiB tmpfs in a private mount namespace of a forked child.
TEST(StoreCommit, RealFullTmpfs) {
  TempDir dir;
  std::string err = RunInChild([&]() -> std::string {
    if (unshare(CLONE_NEWNS) != 0) return "unshare failed";
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "private failed";
    if (mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
      return "mount tmpfs failed";
    }
    {
      auto s = Store::Open(dir.path(), {});
      if (!s.ok()) return "open: " + s.status().ToString();
      for (int i = 0; i < 20; ++i) {
        if (!Add(**s, MakeMonitor("c" + std::to_string(i))).ok()) return "initial add failed";
      }
    }
    auto r = Store::Open(dir.path(), {});  // a fresh, empty WAL that must grow
    if (!r.ok()) return "reopen: " + r.status().ToString();
    Store& s = **r;
    const std::string filler = FillUp(dir.path());
    if (filler.empty()) return "cannot create filler";
    Status st = Add(s, MakeMonitor("full", "server", 0, {"192.0.2.1", "192.0.2.2"}));
    if (st.code() != Code::kNoSpace) return "add on a full disk: " + st.ToString();
    if (s.SetState(9).code() != Code::kNoSpace) return "SetState on a full disk did not fail";
    if (s.stats().poisoned) return "poisoned by a full disk";
    auto n = s.CountMonitors();
    if (!n.ok() || *n != 20) return "records not readable while full";
    if (unlink(filler.c_str()) != 0) return "unlink filler failed";
    st = Add(s, MakeMonitor("after"));
    if (!st.ok()) return "add after freeing space: " + st.ToString();
    n = s.CountMonitors();
    if (!n.ok() || *n != 21) return "count after freeing space wrong";
    if (!s.SetState(9).ok()) return "SetState after freeing space failed";
    return "";
  });
  EXPECT_EQ(err, "");
  EXPECT_TRUE(dir.List().empty());  // the tmpfs went away with the child's namespace
}

}  // namespace
}  // namespace nsm::store
