// HA callout runner: nfs-utils' arguments, no blocking, bounded concurrency and queue,
// time-outs that kill the callout's process group, spawn errors.
#include "hacallout/runner.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace nsm::hacallout {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class HaCalloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-hacallout-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/calls";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A callout script with `body` after a line that records its arguments.
  std::string Script(const std::string& body) {
    const std::string path = dir_ + "/callout" + std::to_string(++n_);
    std::ofstream f(path);
    f << "#!/bin/sh\necho \"$@\" >> " << log_ << "\n" << body << "\n";
    f.close();
    chmod(path.c_str(), 0755);
    return path;
  }

  std::string Calls() {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  bool RunUntil(const std::function<bool()>& pred, milliseconds limit = milliseconds(10000)) {
    return nsm::testing::RunIoUntil(io_, pred, limit);
  }

  asio::io_context io_;
  std::string dir_, log_;
  int n_ = 0;
};

TEST_F(HaCalloutTest, PassesNfsUtilsArguments) {
  Runner r(io_, Options{Script("exit 0")});
  ASSERT_TRUE(r.enabled());
  r.AddClient("10.0.0.2", "client-a");
  ASSERT_TRUE(RunUntil([&] { return r.stats().succeeded == 1; }));
  r.DelClient("10.0.0.2", "client-a");
  ASSERT_TRUE(RunUntil([&] { return r.stats().succeeded == 2; }));
  r.SmNotify("peer.example", "198.18.1.2", 17);
  ASSERT_TRUE(RunUntil([&] { return r.stats().succeeded == 3; }));
  EXPECT_EQ(Calls(),
            "add-client 10.0.0.2 client-a\n"
            "del-client 10.0.0.2 client-a\n"
            "sm-notify peer.example 198.18.1.2 17\n");
  Stats s = r.stats();
  EXPECT_EQ(s.requested, 3u);
  EXPECT_EQ(s.started, 3u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.running, 0u);
}

TEST_F(HaCalloutTest, DisabledWithoutProgram) {
  Runner r(io_, Options{});
  EXPECT_FALSE(r.enabled());
  r.AddClient("a", "b");
  EXPECT_EQ(r.stats().requested, 0u);
  EXPECT_EQ(r.stats().started, 0u);
}

TEST_F(HaCalloutTest, NeverBlocksTheCaller) {
  Options o{Script("sleep 2")};
  Runner r(io_, o);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) r.SmNotify("peer", "198.18.1.2", 3);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  EXPECT_EQ(r.stats().running, 3u);
  ASSERT_TRUE(RunUntil([&] { return r.stats().succeeded == 3; }));
}

TEST_F(HaCalloutTest, BoundsRunningAndQueued) {
  Options o{Script("sleep 0.3")};
  o.max_running = 2;
  o.max_queued = 3;
  Runner r(io_, o);
  for (int i = 0; i < 7; ++i) r.AddClient("h" + std::to_string(i), "me");
  Stats s = r.stats();
  EXPECT_EQ(s.running, 2u);
  EXPECT_EQ(s.queued, 3u);
  EXPECT_EQ(s.dropped, 2u);
  size_t max_seen = 0;
  ASSERT_TRUE(RunUntil([&] {
    max_seen = std::max<size_t>(max_seen, r.running_pids().size());
    return r.stats().succeeded == 5;
  }));
  EXPECT_LE(max_seen, 2u);
  EXPECT_EQ(r.stats().started, 5u);
  // FIFO order: the queued ones ran after the first two, in order.
  std::string calls = Calls();
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(calls.find("add-client h" + std::to_string(i) + " me"), std::string::npos) << calls;
  }
  EXPECT_EQ(calls.find("h5"), std::string::npos);
  EXPECT_LT(calls.find("h2"), calls.find("h4"));
}

TEST_F(HaCalloutTest, KillsHungCalloutAndItsChildren) {
  // The callout starts a grandchild and waits: the whole process group must die.
  const std::string pidfile = dir_ + "/grandchild";
  Options o{Script("sleep 60 & echo $! > " + pidfile + "\nwait")};
  o.timeout = milliseconds(300);
  Runner r(io_, o);
  r.AddClient("hung", "me");
  ASSERT_EQ(r.running_pids().size(), 1u);
  const pid_t pid = r.running_pids()[0];
  ASSERT_TRUE(RunUntil([&] { return r.stats().failed == 1; }));
  Stats s = r.stats();
  EXPECT_EQ(s.timed_out, 1u);
  EXPECT_EQ(s.running, 0u);
  EXPECT_EQ(kill(pid, 0), -1);  // reaped: gone
  std::ifstream f(pidfile);
  pid_t grandchild = 0;
  f >> grandchild;
  ASSERT_GT(grandchild, 0);
  // The grandchild was killed too (it may linger as a zombie of init for a moment).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::ifstream st("/proc/" + std::to_string(grandchild) + "/stat");
    std::string line;
    std::getline(st, line);
    gone = !st || line.find(") Z") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST_F(HaCalloutTest, CountsFailuresAndSpawnErrors) {
  Runner bad(io_, Options{Script("exit 3")});
  bad.AddClient("a", "b");
  ASSERT_TRUE(RunUntil([&] { return bad.stats().failed == 1; }));
  EXPECT_EQ(bad.stats().succeeded, 0u);

  Runner missing(io_, Options{dir_ + "/does-not-exist"});
  missing.AddClient("a", "b");
  EXPECT_EQ(missing.stats().spawn_errors, 1u);
  EXPECT_EQ(missing.stats().running, 0u);
}

TEST_F(HaCalloutTest, ShutdownDropsQueueAndLaterEvents) {
  Options o{Script("sleep 0.2")};
  o.max_running = 1;
  Runner r(io_, o);
  r.AddClient("a", "me");
  r.AddClient("b", "me");
  r.Shutdown();
  r.AddClient("c", "me");
  EXPECT_EQ(r.stats().dropped, 2u);
  ASSERT_TRUE(RunUntil([&] { return r.stats().succeeded == 1; }));
  EXPECT_EQ(r.stats().started, 1u);
}

TEST_F(HaCalloutTest, DestructorDoesNotWait) {
  pid_t pid = 0;
  {
    Runner r(io_, Options{Script("sleep 0.5")});
    r.AddClient("a", "me");
    pid = r.running_pids().at(0);
  }
  // The child is still ours to reap (the runner forgot it): do it so the test leaves
  // nothing behind.
  int st = 0;
  EXPECT_EQ(waitpid(pid, &st, 0), pid);
  io_.restart();
  io_.run_for(milliseconds(50));  // aborted handlers of the destroyed runner are harmless
}

}  // namespace
}  // namespace nsm::hacallout
