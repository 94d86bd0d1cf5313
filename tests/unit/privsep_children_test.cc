// privsep::Children's outcome reporting (Run's callback): exit statuses, time-outs,
// spawn errors, and runs dropped by the queue bound or Shutdown(). Bounds, process
// groups and the destructor are tested through the HA callout (hacallout_runner_test).
#include "privsep/children.h"

#include <chrono>
#include <functional>
#include <optional>

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace nsm::privsep {
namespace {

using std::chrono::milliseconds;

class ChildrenTest : public ::testing::Test {
 protected:
  bool RunUntil(const std::function<bool()>& pred, milliseconds limit = milliseconds(10000)) {
    return nsm::testing::RunIoUntil(io_, pred, limit);
  }

  asio::io_context io_;
};

TEST_F(ChildrenTest, ReportsTheExitStatus) {
  Children c(io_, ChildOptions{"test", 2, 4, milliseconds(10000)});
  std::optional<ChildExit> ok, eight;
  c.Run({"/bin/sh", "-c", "exit 0"}, [&](const ChildExit& e) { ok = e; });
  c.Run({"/bin/sh", "-c", "exit 8"}, [&](const ChildExit& e) { eight = e; });
  ASSERT_TRUE(RunUntil([&] { return ok && eight; }));
  EXPECT_TRUE(ok->ok());
  EXPECT_EQ(ok->exit_status(), 0);
  EXPECT_FALSE(eight->ok());
  EXPECT_EQ(eight->exit_status(), 8);
  EXPECT_EQ(eight->ToString(), "exited with status 8");
  EXPECT_EQ(c.stats().succeeded, 1u);
  EXPECT_EQ(c.stats().failed, 1u);
  EXPECT_EQ(c.stats().running, 0u);
}

TEST_F(ChildrenTest, KillsAfterTheTimeout) {
  Children c(io_, ChildOptions{"test", 1, 0, milliseconds(100)});
  std::optional<ChildExit> e;
  c.Run({"/bin/sleep", "30"}, [&](const ChildExit& x) { e = x; });
  ASSERT_TRUE(RunUntil([&] { return e.has_value(); }));
  EXPECT_TRUE(e->timed_out);
  EXPECT_EQ(e->exit_status(), -1);
  EXPECT_EQ(e->ToString(), "timed out and was killed");
  EXPECT_EQ(c.stats().timed_out, 1u);
}

TEST_F(ChildrenTest, ReportsRunsThatNeverStarted) {
  Children c(io_, ChildOptions{"test", 1, 0, milliseconds(10000)});
  std::optional<ChildExit> missing, over, late, running;
  c.Run({"/nonexistent/program"}, [&](const ChildExit& e) { missing = e; });
  ASSERT_TRUE(missing.has_value());  // at once: posix_spawn failed
  EXPECT_FALSE(missing->spawned);
  EXPECT_EQ(c.stats().spawn_errors, 1u);

  c.Run({"/bin/sleep", "0.2"}, [&](const ChildExit& e) { running = e; });
  c.Run({"/bin/true"}, [&](const ChildExit& e) { over = e; });  // max 1 running, 0 queued
  ASSERT_TRUE(over.has_value());
  EXPECT_FALSE(over->spawned);
  EXPECT_EQ(c.stats().dropped, 1u);

  c.Shutdown();
  c.Run({"/bin/true"}, [&](const ChildExit& e) { late = e; });
  ASSERT_TRUE(late.has_value());
  EXPECT_FALSE(late->spawned);
  ASSERT_TRUE(RunUntil([&] { return running.has_value(); }));  // the running one goes on
  EXPECT_TRUE(running->ok());
}

}  // namespace
}  // namespace nsm::privsep
