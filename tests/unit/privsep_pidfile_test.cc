// Pidfile: flock-based single instance, pid written, removal at clean exit, the
// lock carried over fork to a daemon, and emptying when unlink is no longer allowed.
#include "privsep/pidfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "privsep/privileges.h"
#include "privsep_test_util.h"

namespace nsm::privsep {
namespace {

using testing::RunInChild;
using testing::TempDir;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

off_t SizeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(Pidfile, AcquireWritesPidAndReleaseRemoves) {
  TempDir t;
  std::string path = t.path() + "/rpc.statd.pid";
  {
    Result<Pidfile> p = Pidfile::Acquire(path);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(p->held());
    EXPECT_EQ(Pidfile::ReadPid(path), getpid());
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    EXPECT_EQ(st.st_mode & 0777, 0644u & ~mask);
    Pidfile moved = std::move(*p);
    EXPECT_FALSE(p->held());
    EXPECT_TRUE(moved.held());
  }  // the moved-to object releases once
  EXPECT_FALSE(Exists(path));
}

TEST(Pidfile, SecondAcquireIsBusy) {
  TempDir t;
  std::string path = t.path() + "/statd.pid";
  Result<Pidfile> first = Pidfile::Acquire(path);
  ASSERT_TRUE(first.ok());
  // Same process, another open file description: flock still conflicts.
  Result<Pidfile> second = Pidfile::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(getpid())), std::string::npos)
      << second.status().message();
  // Another process: the real "second instance".
  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Pidfile> p = Pidfile::Acquire(path);
    if (p.ok()) return "second instance got the lock";
    if (p.status().code() != Code::kBusy) return "wrong error: " + p.status().ToString();
    return "";
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
  // The failed attempts did not disturb the holder's file.
  EXPECT_EQ(Pidfile::ReadPid(path), getpid());
  first->Release();
  EXPECT_FALSE(Exists(path));
  Result<Pidfile> third = Pidfile::Acquire(path);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(Pidfile, StaleFileWithoutLockIsTakenOver) {
  TempDir t;
  std::string path = t.path() + "/statd.pid";
  std::ofstream(path) << "999999\n";
  Result<Pidfile> p = Pidfile::Acquire(path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Pidfile::ReadPid(path), getpid());
}

TEST(Pidfile, SymlinkIsRefused) {
  TempDir t;
  std::string target = t.path() + "/target";
  std::string path = t.path() + "/statd.pid";
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
  Result<Pidfile> p = Pidfile::Acquire(path);
  EXPECT_FALSE(p.ok());
  EXPECT_FALSE(Exists(target));
}

TEST(Pidfile, LockFollowsTheForkedDaemon) {
  TempDir t;
  std::string path = t.path() + "/statd.pid";
  Result<Pidfile> p = Pidfile::Acquire(path);
  ASSERT_TRUE(p.ok());
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    close(go[1]);
    int rc = p->WritePid().ok() ? 0 : 1;
    ssize_t ignored = write(ready[1], "r", 1);
    char b;
    ignored = read(go[0], &b, 1);  // wait for the parent's checks
    (void)ignored;
    p->Release();  // the owner removes the file
    _exit(rc);
  }
  close(ready[1]);
  close(go[0]);
  char b;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  p->Abandon();  // the "original process" lets go without touching the file
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(Pidfile::ReadPid(path), child);
  Result<Pidfile> again = Pidfile::Acquire(path);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("pid " + std::to_string(child)), std::string::npos);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(go[1]);
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(Pidfile::Acquire(path).ok());
}

TEST(Pidfile, ReleaseInANonOwnerKeepsTheFile) {
  TempDir t;
  std::string path = t.path() + "/statd.pid";
  Result<Pidfile> p = Pidfile::Acquire(path);
  ASSERT_TRUE(p.ok());
  testing::ChildResult c = RunInChild([&]() -> std::string {
    p->Release();  // a forked helper that inherited the object
    return "";
  });
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(Pidfile::ReadPid(path), getpid());
  EXPECT_EQ(Pidfile::Acquire(path).status().code(), Code::kBusy);
}

TEST(Pidfile, ReleaseAfterDroppingRootEmptiesTheFile) {
  auto statd = testing::StatdUser();
  if (geteuid() != 0 || !statd) GTEST_SKIP() << "needs root and a statd user";
  TempDir run;    // stands for /run: root's, not writable by statd
  TempDir state;  // the state directory, sm/ owned by statd
  std::string sm = state.path() + "/sm";
  ASSERT_EQ(mkdir(sm.c_str(), 0755), 0);
  ASSERT_EQ(chown(sm.c_str(), statd->first, statd->second), 0);
  std::string path = run.path() + "/rpc.statd.pid";
  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Pidfile> p = Pidfile::Acquire(path);
    if (!p.ok()) return "acquire: " + p.status().ToString();
    Result<Identity> id = DropPrivileges(state.path());
    if (!id.ok() || !id->dropped) return "drop failed";
    p->Release();
    return "";
  });
  ASSERT_EQ(c.exit_code, 0) << c.report;
  EXPECT_TRUE(Exists(path));                 // could not unlink...
  EXPECT_EQ(SizeOf(path), 0);                // ...so it was emptied
  EXPECT_TRUE(Pidfile::Acquire(path).ok());  // and the lock is gone
}

}  // namespace
}  // namespace nsm::privsep
