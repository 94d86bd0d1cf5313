// Power loss: a workload of SM_MON (AddMonitor), SM_UNMON (RemoveMonitor), SM_UNMON_ALL
// (RemoveAllMonitors), state changes (SetState, BeginReboot) and restarts runs through
// the real Store on the fault VFS with a simulated disk (store_sim_disk.h). A clean run
// counts the sync points (file and directory syncs); then the power is cut at each one
// in turn, in each cut mode (drop, tear, garble the unsynced writes), the files that
// survived are "rebooted" into a fresh directory, and the store opened there must hold
// every change acknowledged before the cut: monitors with their priv and addresses,
// removals removed, notify entries of an acknowledged reboot, and a state number that
// never went backwards. Store::Open running the full integrity check must succeed.
// Directory fsyncs are seen by interposing fsync/fdatasync in this test binary.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/log.h"
#include "store/fault_vfs.h"
#include "store/store.h"
#include "store_sim_disk.h"
#include "store_test_util.h"

namespace nsm::store::test {
namespace {

// ---- directory fsyncs: the interposer below reports those of the watched directory.
std::atomic<SimDisk*> g_disk{nullptr};
std::atomic<dev_t> g_dir_dev{0};
std::atomic<ino_t> g_dir_ino{0};

// false: the simulated power is off, the fsync fails with EIO.
bool NoteFsync(int fd) {
  SimDisk* d = g_disk.load();
  if (d == nullptr) return true;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) return true;
  if (st.st_dev != g_dir_dev.load() || st.st_ino != g_dir_ino.load()) return true;
  return d->OnDirSync(testing::CurrentVfsCallPath());
}

int RealSync(const char* fn, int fd) {
  using Fn = int (*)(int);
  static Fn real_fsync = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "fsync"));
  static Fn real_fdatasync = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "fdatasync"));
  Fn f = fn[1] == 's' ? real_fsync : real_fdatasync;
  if (f == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return f(fd);
}

}  // namespace
}  // namespace nsm::store::test

// Both the store (FsyncDir) and libsqlite3 (its directory sync after creating a -wal or
// -journal) reach these instead of libc's.
extern "C" int fsync(int fd) {
  if (!nsm::store::test::NoteFsync(fd)) {
    errno = EIO;
    return -1;
  }
  return nsm::store::test::RealSync("fsync", fd);
}
extern "C" int fdatasync(int fd) {
  if (!nsm::store::test::NoteFsync(fd)) {
    errno = EIO;
    return -1;
  }
  return nsm::store::test::RealSync("fdatasync", fd);
}

namespace nsm::store::test {
namespace {

constexpr uint32_t kSeed = 20240611;
constexpr int kSteps = 36;
constexpr uint32_t kProg = 100021, kVers = 4, kProc = 16;

// ---- the workload, fixed in advance (the same in every run).
struct PlanOp {
  enum Kind { kAdd, kRemove, kRemoveAll } kind;
  int arg;  // name index (kAdd, kRemove) or group (kRemoveAll)
};
enum class Sync { kNone, kSetState, kBeginReboot, kRestart };
struct Step {
  std::vector<PlanOp> ops;  // issued at once, answered in any batching
  Sync sync = Sync::kNone;  // on the calling thread while the ops are in flight
};
struct Plan {
  std::vector<Step> steps;
  std::vector<int> group_of;                // name index -> group (its my_name)
  std::map<int, std::vector<int>> members;  // group -> name indexes
};

// Every name is added once and removed at most once (by SM_UNMON or with its group by
// SM_UNMON_ALL), so what each acknowledgement promises is exact.
Plan MakePlan(uint32_t seed, int steps) {
  std::mt19937 rng(seed);
  Plan p;
  int group = 0, adds_in_group = 0;
  std::vector<int> removable;
  std::vector<int> closed;  // groups no longer added to, not yet removed
  for (int s = 0; s < steps; ++s) {
    Step st;
    if (s > 0 && s % 4 == 0 && adds_in_group > 0) {
      closed.push_back(group++);
      adds_in_group = 0;
    }
    std::vector<int> added;
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      const uint32_t r = rng() % 100;
      if (r < 25 && !removable.empty()) {
        const size_t at = rng() % removable.size();
        st.ops.push_back({PlanOp::kRemove, removable[at]});
        removable.erase(removable.begin() + static_cast<std::ptrdiff_t>(at));
      } else if (r < 35 && !closed.empty()) {
        const int g = closed.front();
        closed.erase(closed.begin());
        for (int m : p.members[g]) std::erase(removable, m);
        st.ops.push_back({PlanOp::kRemoveAll, g});
      } else {
        const int name = static_cast<int>(p.group_of.size());
        p.group_of.push_back(group);
        p.members[group].push_back(name);
        st.ops.push_back({PlanOp::kAdd, name});
        added.push_back(name);
        ++adds_in_group;
      }
    }
    removable.insert(removable.end(), added.begin(), added.end());
    const uint32_t r = rng() % 10;
    if (s == steps / 3 || s == 2 * steps / 3) {
      st.sync = Sync::kRestart;
    } else if (r < 3) {
      st.sync = Sync::kSetState;
    } else if (r < 5) {
      st.sync = Sync::kBeginReboot;
    }
    p.steps.push_back(std::move(st));
  }
  return p;
}

std::string GroupName(int g) { return "srv" + std::to_string(g); }

Monitor MonitorOf(const Plan& p, int i) {
  Monitor m;
  m.key = MonitorKey{i % 4 == 3 ? "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200)
                                : "host-" + std::to_string(i) + ".example",
                     GroupName(p.group_of[static_cast<size_t>(i)]), kProg, kVers, kProc};
  for (size_t j = 0; j < m.priv.size(); ++j) m.priv[j] = static_cast<uint8_t>(i * 31 + j * 7 + 1);
  const std::string v4 = "192.0.2." + std::to_string(1 + i % 8);
  const std::string v6 = "2001:db8::" + std::to_string(1 + i % 5);
  if (i % 3 == 1) m.addresses = {v4};
  if (i % 3 == 2) m.addresses = {v6, v4};
  m.caller = "127.0.0.1";
  m.added = 1700000000 + i;
  return m;
}

uint32_t NextOdd(uint32_t s) { return s == 0xffffffffu ? 1 : (s % 2 == 1 ? s + 2 : s + 1); }

// ---- what was promised before the cut.
struct NameState {
  bool add_issued = false, add_acked = false, removal_issued = false, removal_acked = false;
};
struct Ledger {
  std::vector<NameState> names;
  uint32_t state_acked = 1;  // the fresh database's state, or the last acknowledged one
  uint32_t state_bound = 1;  // no state above this was ever asked for
  std::vector<std::vector<int>> notify_expect;  // per acknowledged BeginReboot
  int acks = 0;
};

class Workload {
 public:
  Workload(const Plan& plan, std::string dir, Options opts, SimDisk* disk)
      : plan_(plan), dir_(std::move(dir)), opts_(std::move(opts)), disk_(disk) {
    ledger_.names.resize(plan.group_of.size());
  }

  // Runs the plan until it ends or the power fails; then (if there is a disk) cuts the
  // power if it has not failed yet and closes the store. Returns "" or what went wrong.
  std::string Run() {
    std::string err;
    std::unique_ptr<Store> s = Open(err);
    for (size_t i = 0; s && i < plan_.steps.size() && !Dead(); ++i) {
      const Step& step = plan_.steps[i];
      for (const PlanOp& op : step.ops) Issue(*s, op);
      RunSync(*s, step.sync, err);
      WaitIdle();
      if (step.sync == Sync::kRestart) {
        s.reset();
        s = Open(err);
      }
    }
    if (disk_ != nullptr) disk_->CutNow();
    s.reset();
    std::lock_guard<std::mutex> lock(mu_);
    return err.empty() ? errors_ : err;
  }

  const Ledger& ledger() const { return ledger_; }

 private:
  bool Dead() const { return disk_ != nullptr && disk_->dead(); }

  std::unique_ptr<Store> Open(std::string& err) {
    auto r = Store::Open(dir_, opts_);
    if (r.ok()) return std::move(r.value());
    if (!Dead()) err += "open: " + r.status().ToString() + "; ";
    return nullptr;
  }

  // Records an outcome: success before the cut is a promise; a failure before the cut
  // is a bug (nothing else fails here).
  bool Acked(const Status& st, const char* what) {
    if (Dead()) return false;
    if (!st.ok()) {
      errors_ += std::string(what) + " failed before the cut: " + st.ToString() + "; ";
      return false;
    }
    ++ledger_.acks;
    return true;
  }

  void Issue(Store& s, const PlanOp& op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    if (op.kind == PlanOp::kAdd) {
      const int i = op.arg;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ledger_.names[static_cast<size_t>(i)].add_issued = true;
      }
      s.AddMonitor(MonitorOf(plan_, i), [this, i](Status st) {
        Finish([&] {
          if (Acked(st, "AddMonitor")) ledger_.names[static_cast<size_t>(i)].add_acked = true;
        });
      });
    } else if (op.kind == PlanOp::kRemove) {
      const int i = op.arg;
      Mark({i});
      s.RemoveMonitor(MonitorOf(plan_, i).key, [this, i](Status st, bool) {
        Finish([&] {
          if (Acked(st, "RemoveMonitor"))
            ledger_.names[static_cast<size_t>(i)].removal_acked = true;
        });
      });
    } else {
      const std::vector<int>& members = plan_.members.at(op.arg);
      Mark(members);
      s.RemoveAllMonitors(GroupName(op.arg), kProg, kVers, kProc,
                          [this, &members](Status st, std::vector<MonitorKey>) {
                            Finish([&] {
                              if (!Acked(st, "RemoveAllMonitors")) return;
                              for (int m : members) {
                                ledger_.names[static_cast<size_t>(m)].removal_acked = true;
                              }
                            });
                          });
    }
  }

  void Mark(const std::vector<int>& names) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i : names) ledger_.names[static_cast<size_t>(i)].removal_issued = true;
  }

  template <class F>
  void Finish(F record) {
    std::lock_guard<std::mutex> lock(mu_);
    record();
    if (--in_flight_ == 0) idle_.notify_all();
  }

  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return in_flight_ == 0; });
  }

  void RunSync(Store& s, Sync sync, std::string& err) {
    if (sync == Sync::kSetState) {
      uint32_t v;
      {
        std::lock_guard<std::mutex> lock(mu_);
        v = ++ledger_.state_bound;
      }
      Status st = s.SetState(v);
      std::lock_guard<std::mutex> lock(mu_);
      if (Acked(st, "SetState")) ledger_.state_acked = v;
    } else if (sync == Sync::kBeginReboot) {
      std::vector<int> expect;
      uint32_t before;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t i = 0; i < ledger_.names.size(); ++i) {
          const NameState& n = ledger_.names[i];
          if (n.add_acked && !n.removal_issued) expect.push_back(static_cast<int>(i));
        }
        before = ledger_.state_acked;
        ledger_.state_bound = NextOdd(ledger_.state_bound);
      }
      Result<uint32_t> r = s.BeginReboot(/*bump=*/true, /*keep_monitors=*/true);
      std::lock_guard<std::mutex> lock(mu_);
      if (Acked(r.status(), "BeginReboot")) {
        if (*r <= before || *r % 2 != 1) err += "BeginReboot went to " + std::to_string(*r) + "; ";
        ledger_.state_acked = *r;
        ledger_.notify_expect.push_back(std::move(expect));
      }
    }
  }

  const Plan& plan_;
  const std::string dir_;
  const Options opts_;
  SimDisk* const disk_;

  std::mutex mu_;  // guards everything below
  std::condition_variable idle_;
  int in_flight_ = 0;
  Ledger ledger_;
  std::string errors_;
};

// Opens the store in `dir` (plain VFS) and checks it against the promises. `exact`:
// nothing was cut, so everything issued must be there exactly.
std::string Verify(const Plan& plan, const Ledger& l, const std::string& dir, bool exact) {
  auto r = Store::Open(dir, {});
  if (!r.ok()) return "reopen after the cut: " + r.status().ToString();
  Store& s = **r;
  std::string err;
  auto ms = s.ListMonitors();
  if (!ms.ok()) return "ListMonitors: " + ms.status().ToString();
  std::map<std::string, const Monitor*> present;
  for (const Monitor& m : *ms) present[m.key.mon_name] = &m;
  std::map<std::string, std::set<std::string>> by_address;  // address -> mon_names
  size_t known = 0;
  for (size_t i = 0; i < l.names.size(); ++i) {
    const Monitor want = MonitorOf(plan, static_cast<int>(i));
    const NameState& n = l.names[i];
    auto it = present.find(want.key.mon_name);
    const bool must = exact ? n.add_acked && !n.removal_acked : n.add_acked && !n.removal_issued;
    const bool must_not = exact ? !must : n.removal_acked;
    if (it == present.end()) {
      if (must) err += "acknowledged monitor " + want.key.mon_name + " lost; ";
      continue;
    }
    if (n.add_issued) ++known;
    const Monitor& got = *it->second;
    if (must_not) err += "acknowledged removal of " + want.key.mon_name + " undone; ";
    if (!(got.key == want.key) || got.priv != want.priv || got.addresses != want.addresses ||
        got.caller != want.caller || got.added != want.added) {
      err += "monitor " + want.key.mon_name + " has wrong contents; ";
    }
    for (const std::string& a : got.addresses) by_address[a].insert(got.key.mon_name);
  }
  if (known != present.size()) err += "monitors that were never added; ";
  // The address index (monitor_addresses) agrees with the rows.
  for (const auto& [addr, names] : by_address) {
    auto found = s.FindMonitorsByAddress(addr);
    std::set<std::string> got;
    if (found.ok()) {
      for (const Monitor& m : *found) got.insert(m.key.mon_name);
    }
    if (got != names) err += "address index of " + addr + " disagrees; ";
  }
  auto state = s.GetState();
  if (!state.ok()) {
    err += "GetState: " + state.status().ToString() + "; ";
  } else if (*state < l.state_acked || *state > l.state_bound) {
    err += "state " + std::to_string(*state) + " outside [" + std::to_string(l.state_acked) + ", " +
           std::to_string(l.state_bound) + "]; ";
  }
  auto notify = s.ListNotify();
  std::set<std::pair<std::string, std::string>> listed;
  if (notify.ok()) {
    for (const NotifyEntry& e : *notify) listed.insert({e.mon_name, e.my_name});
  }
  for (const auto& expect : l.notify_expect) {
    for (int i : expect) {
      const Monitor m = MonitorOf(plan, i);
      if (listed.count({m.key.mon_name, m.key.my_name}) == 0) {
        err += "notify entry of " + m.key.mon_name + " lost; ";
      }
    }
  }
  return err;
}

// Quiets the store's (expected) "COMMIT FAILED" errors during the cuts.
class QuietLog {
 public:
  QuietLog() { log::SetLevel(static_cast<log::Level>(static_cast<int>(log::Level::kError) + 1)); }
  ~QuietLog() { log::SetLevel(log::Level::kInfo); }
};

struct CutResult {
  std::string error;      // "" = every promise kept
  uint64_t syncs = 0;     // sync points the run reached
  uint64_t cut_sync = 0;  // where the power failed (0: after the workload)
  int acks = 0;
  std::vector<std::string> files;  // what survived
};

// Routes the fault VFS and the fsync interposer to `disk` while alive.
class Watch {
 public:
  explicit Watch(SimDisk& disk) {
    struct stat st;
    EXPECT_EQ(stat(disk.dir().c_str(), &st), 0);
    g_dir_dev = st.st_dev;
    g_dir_ino = st.st_ino;
    g_disk = &disk;
    testing::SetObserver(&disk);
  }
  ~Watch() {
    testing::SetObserver(nullptr);
    g_disk = nullptr;
  }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
};

const std::string kScratch = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

CutResult RunOnce(const Plan& plan, DirModel dirs, uint64_t cut_at, CutMode mode, uint32_t seed) {
  CutResult out;
  TempDir live(kScratch), rebooted(kScratch);
  SimDisk disk(live.path(), dirs, cut_at, mode, seed);
  Options o;
  o.vfs = testing::FaultVfsName();
  Workload w(plan, live.path(), o, &disk);
  {
    Watch watch(disk);
    out.error = w.Run();
  }
  out.syncs = disk.syncs();
  out.cut_sync = disk.cut_sync();
  out.acks = w.ledger().acks;
  out.files = disk.Files();
  if (!out.error.empty()) return out;
  disk.Materialize(rebooted.path());
  out.error = Verify(plan, w.ledger(), rebooted.path(), /*exact=*/false);
  return out;
}

std::string Describe(const CutResult& r, uint64_t k, CutMode mode) {
  std::string files;
  for (const auto& f : r.files) files += " " + f;
  return std::string("cut at sync ") + std::to_string(k) + " (" + CutModeName(mode) + ", reached " +
         std::to_string(r.cut_sync) + "), " + std::to_string(r.acks) + " acks, files:" + files +
         ": " + r.error;
}

// Cuts at every sync point of a clean run in each mode; returns the number of cuts.
int Sweep(DirModel dirs, const std::vector<CutMode>& modes, const char* label) {
  const Plan plan = MakePlan(kSeed, kSteps);
  QuietLog quiet;
  // A clean run: nothing may fail; a cut after the workload keeps every change.
  CutResult clean = RunOnce(plan, dirs, 0, CutMode::kDrop, 1);
  EXPECT_EQ(clean.error, "") << Describe(clean, 0, CutMode::kDrop);
  const uint64_t n = clean.syncs;
  EXPECT_GT(n, 30u);
  int cuts = 1, at_sync = 0, failures = 0;
  for (CutMode mode : modes) {
    for (uint64_t k = 1; k <= n + 1; ++k) {
      CutResult r = RunOnce(plan, dirs, k, mode, static_cast<uint32_t>(k * 7919 + 13));
      ++cuts;
      if (r.cut_sync != 0) ++at_sync;
      if (!r.error.empty() && ++failures <= 5)
        ADD_FAILURE() << label << ": " << Describe(r, k, mode);
    }
  }
  EXPECT_EQ(failures, 0);
  std::printf(
      "%s: %llu sync points in a clean run, %d power cuts (%d at a sync point, the rest "
      "after the workload), %d failed\n",
      label, static_cast<unsigned long long>(n), cuts, at_sync, failures);
  return cuts;
}

TEST(StorePowerLoss, WorkloadIsCleanWithoutACut) {
  const Plan plan = MakePlan(kSeed, kSteps);
  TempDir live(kScratch);
  Workload w(plan, live.path(), {}, nullptr);
  ASSERT_EQ(w.Run(), "");
  // Every operation answered success, and the store holds exactly the plan's outcome.
  size_t ops = 0;
  for (const Step& s : plan.steps)
    ops += s.ops.size() + (s.sync == Sync::kSetState || s.sync == Sync::kBeginReboot);
  EXPECT_EQ(static_cast<size_t>(w.ledger().acks), ops);
  EXPECT_FALSE(w.ledger().notify_expect.empty());
  EXPECT_EQ(Verify(plan, w.ledger(), live.path(), /*exact=*/true), "");
}

TEST(StorePowerLoss, CutAtEverySyncPoint) {
  Sweep(DirModel::kPosix, {CutMode::kDrop, CutMode::kTear, CutMode::kGarble}, "posix directories");
}

// The same with directory fsyncs that count only for the file SQLite made them for:
// nsm.db's own entry is durable only through the store's directory fsync after it
// created the file. Without that fsync every cut loses the whole database.
TEST(StorePowerLoss, CutAtEverySyncPointPerFileDirectorySyncs) {
  Sweep(DirModel::kPerFile, {CutMode::kDrop, CutMode::kGarble}, "per-file directory syncs");
}

// The directory entry case on its own: a fresh database, one acknowledged SM_MON, then
// the power fails; the database file must still be in the directory.
TEST(StorePowerLoss, NewDatabaseFileSurvivesInItsDirectory) {
  QuietLog quiet;
  TempDir live(kScratch), rebooted(kScratch);
  SimDisk disk(live.path(), DirModel::kPerFile, 0, CutMode::kDrop, 1);
  Options o;
  o.vfs = testing::FaultVfsName();
  {
    Watch watch(disk);
    auto s = OpenOrDie(live.path(), o);
    ASSERT_TRUE(s);
    EXPECT_TRUE(Add(*s, MakeMonitor("peer", "server", 7, {"192.0.2.7"})).ok());
    EXPECT_GE(disk.full_dir_syncs(), 1u) << "the store never fsynced the directory itself";
    disk.CutNow();
  }
  const std::vector<std::string> files = disk.Files();
  EXPECT_NE(std::find(files.begin(), files.end(), NSM_DB_NAME), files.end())
      << "the directory entry of " NSM_DB_NAME " did not survive the power cut";
  disk.Materialize(rebooted.path());
  auto s = OpenOrDie(rebooted.path());
  ASSERT_TRUE(s);
  auto ms = s->ListMonitors();
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ((*ms)[0].priv, MakeMonitor("peer", "server", 7).priv);
}

}  // namespace
}  // namespace nsm::store::test
