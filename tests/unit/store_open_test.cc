// Store::Open: creation, persistence, files at rest, read-only use, and refusal of
// missing, unwritable, foreign, newer or corrupt databases (which stay untouched).
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store_test_util.h"

namespace nsm::store {
namespace {

using test::Add;
using test::MakeMonitor;
using test::OpenOrDie;
using test::ReadFile;
using test::RunInChild;
using test::TempDir;
using test::WriteFile;

const std::vector<std::string> kOnlyDb{NSM_DB_NAME};

// A closed database with some records, for tests that damage or inspect the file.
void MakeDb(const TempDir& dir, int monitors) {
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  for (int i = 0; i < monitors; ++i) {
    s->AddMonitor(MakeMonitor("client" + std::to_string(i) + ".example", "server",
                              static_cast<uint8_t>(i), {"192.0.2.1"}),
                  nullptr);
  }
  ASSERT_TRUE(Add(*s, MakeMonitor("last")).ok());
}

void Patch(const std::string& path, size_t offset, const std::string& bytes) {
  std::string data = ReadFile(path);
  ASSERT_LE(offset + bytes.size(), data.size());
  data.replace(offset, bytes.size(), bytes);
  WriteFile(path, data);
}

TEST(StoreOpen, CreatesAndLeavesOnlyTheDatabaseAtRest) {
  TempDir dir;
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s);
    EXPECT_EQ(s->path(), dir.db());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(Add(*s, MakeMonitor("c" + std::to_string(i))).ok());
    // While open, SQLite's WAL files exist beside it.
    auto files = dir.List();
    EXPECT_NE(std::find(files.begin(), files.end(), std::string(NSM_DB_NAME) + "-wal"),
              files.end());
  }
  EXPECT_EQ(dir.List(), kOnlyDb);
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->CountMonitors(), 50u);
}

TEST(StoreOpen, TrailingSlashAndRelativeDirsWork) {
  TempDir dir;
  auto s = OpenOrDie(dir.path() + "//");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path(), dir.db());
}

TEST(StoreOpen, MissingDirectoryIsNotFound) {
  TempDir dir;
  const std::string missing = dir.file("no/such/dir");
  auto r = Store::Open(missing, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().ToString();
}

TEST(StoreOpen, StateDirThatIsAFileIsRefused) {
  TempDir dir;
  WriteFile(dir.file("plain"), "x");
  auto r = Store::Open(dir.file("plain"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a directory"), std::string::npos);
}

TEST(StoreOpen, DatabaseThatIsADirectoryIsRefused) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.db().c_str(), 0700), 0);
  auto r = Store::Open(dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(StoreOpen, NoCreateAndReadOnlyDoNotCreate) {
  TempDir dir;
  Options o;
  o.create = false;
  auto r = Store::Open(dir.path(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(dir.db()), std::string::npos);
  Options ro;
  ro.read_only = true;
  r = Store::Open(dir.path(), ro);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_TRUE(dir.List().empty());
}

TEST(StoreOpen, EmptyFileIsANewDatabase) {
  // What a crash between creating the file and the first commit leaves behind.
  TempDir dir;
  WriteFile(dir.db(), "");
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->GetState(), 1u);
}

TEST(StoreOpen, GarbageFileIsCorruptionAndUntouched) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage.push_back(static_cast<char>((i * 7919) % 251));
  WriteFile(dir.db(), garbage);
  for (bool ro : {false, true}) {
    Options o;
    o.read_only = ro;
    auto r = Store::Open(dir.path(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find(dir.db() + ": file is not a database"), std::string::npos)
        << r.status().ToString();
  }
  EXPECT_EQ(ReadFile(dir.db()), garbage);
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, DamagedPageHeadersFailTheIntegrityCheck) {
  TempDir dir;
  MakeDb(dir, 300);
  // Scribble over the b-tree headers of pages 4..6 (tables and indexes); the file
  // header and the schema page stay intact, so the file opens and only the full check
  // notices (SQLite reports this as an error of the check itself).
  std::string data = ReadFile(dir.db());
  ASSERT_GT(data.size(), 8u * 4096);
  for (size_t page = 3; page < 6; ++page) {
    for (size_t i = 0; i < 200; ++i) data[page * 4096 + i] = static_cast<char>(0x5a);
  }
  WriteFile(dir.db(), data);
  auto r = Store::Open(dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find(dir.db() + ": database is corrupt (PRAGMA integrity_check"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ReadFile(dir.db()), data);
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, DamagedLeafPageIsReportedByTheIntegrityCheck) {
  TempDir dir;
  MakeDb(dir, 300);
  // Zero the first cell pointers of the fullest table leaf page (type 0x0d): the page
  // still parses, the check reports the bad cells as rows.
  std::string data = ReadFile(dir.db());
  size_t best = 0, best_cells = 0;
  for (size_t p = 1; p < data.size() / 4096; ++p) {
    const auto* page = reinterpret_cast<const unsigned char*>(data.data() + p * 4096);
    const size_t cells = (size_t{page[3]} << 8) | page[4];
    if (page[0] == 0x0d && cells > best_cells) {
      best = p;
      best_cells = cells;
    }
  }
  ASSERT_GE(best_cells, 5u);
  for (size_t i = 8; i < 18; ++i) data[best * 4096 + i] = 0;
  WriteFile(dir.db(), data);
  auto r = Store::Open(dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find(dir.db() + ": database is corrupt (PRAGMA integrity_check):"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("On tree page " + std::to_string(best + 1)),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ReadFile(dir.db()), data);
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, ForeignSqliteFileIsRefusedUntouched) {
  TempDir dir;
  MakeDb(dir, 3);
  Patch(dir.db(), 68, std::string("\x12\x34\x56\x78", 4));  // application_id
  const std::string before = ReadFile(dir.db());
  auto r = Store::Open(dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("not an nsm database"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.db()), before);
}

TEST(StoreOpen, NewerSchemaIsRefusedUntouched) {
  TempDir dir;
  MakeDb(dir, 3);
  Patch(dir.db(), 60, std::string("\0\0\0\x63", 4));  // user_version 99
  const std::string before = ReadFile(dir.db());
  auto r = Store::Open(dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("newer"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.db()), before);
}

TEST(StoreOpen, ReadOnlySeesAnotherWritersCommitsAndRefusesWrites) {
  TempDir dir;
  auto w = OpenOrDie(dir.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(Add(*w, MakeMonitor("a")).ok());
  Options ro;
  ro.read_only = true;
  auto r = OpenOrDie(dir.path(), ro);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->CountMonitors(), 1u);
  ASSERT_TRUE(Add(*w, MakeMonitor("b")).ok());
  ASSERT_TRUE(w->SetState(5).ok());
  EXPECT_EQ(*r->CountMonitors(), 2u);
  EXPECT_EQ(*r->GetState(), 5u);
  // Writes through the read-only store fail at once, on the calling thread.
  bool called = false;
  r->AddMonitor(MakeMonitor("c"), [&](Status s) {
    called = true;
    EXPECT_EQ(s.code(), Code::kPermission);
  });
  EXPECT_TRUE(called);
  EXPECT_EQ(r->SetState(9).code(), Code::kPermission);
  EXPECT_EQ(r->SetMeta("k", "v").code(), Code::kPermission);
  EXPECT_EQ(r->BeginReboot(true, false).status().code(), Code::kPermission);
  w.reset();
  EXPECT_EQ(*r->CountMonitors(), 2u);
  r.reset();
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, ReadOnlyAloneLeavesNoFilesBehind) {
  TempDir dir;
  MakeDb(dir, 3);
  Options ro;
  ro.read_only = true;
  {
    auto r = OpenOrDie(dir.path(), ro);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r->CountMonitors(), 4u);
  }
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, TwoStoresOnOneDirectoryBothWork) {
  TempDir dir;
  auto a = OpenOrDie(dir.path());
  auto b = OpenOrDie(dir.path());
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Add(*a, MakeMonitor("a" + std::to_string(i))).ok());
    ASSERT_TRUE(Add(*b, MakeMonitor("b" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(b->SetState(9).ok());
  EXPECT_EQ(*a->GetState(), 9u);
  EXPECT_EQ(*a->CountMonitors(), 40u);
  EXPECT_EQ(*b->CountMonitors(), 40u);
  a.reset();
  ASSERT_TRUE(Add(*b, MakeMonitor("after")).ok());
  b.reset();
  EXPECT_EQ(dir.List(), kOnlyDb);
  auto c = OpenOrDie(dir.path());
  EXPECT_EQ(*c->CountMonitors(), 41u);
}

// Permission checks need a non-root user: run as nobody in a forked child.
std::string AsNobody(const std::function<std::string()>& fn) {
  return RunInChild([&]() -> std::string {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      return "cannot become nobody";
    }
    return fn();
  });
}

TEST(StoreOpen, UnwritableDirectoryIsPermission) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  std::string err = AsNobody([&]() -> std::string {
    auto r = Store::Open(dir.path(), {});
    if (r.ok()) return "open as nobody succeeded";
    if (r.status().code() != Code::kPermission) return "got " + r.status().ToString();
    return "";
  });
  EXPECT_EQ(err, "");
  EXPECT_TRUE(dir.List().empty());
}

TEST(StoreOpen, UnwritableDatabaseIsPermission) {
  TempDir dir;
  MakeDb(dir, 3);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir.db().c_str(), 0644), 0);
  std::string err = AsNobody([&]() -> std::string {
    auto r = Store::Open(dir.path(), {});
    if (r.ok()) return "read-write open as nobody succeeded";
    if (r.status().code() != Code::kPermission) return "rw: got " + r.status().ToString();
    // At rest (no -shm) a reader needs to create the -shm file.
    Options ro;
    ro.read_only = true;
    auto q = Store::Open(dir.path(), ro);
    if (q.ok()) return "read-only open without -shm succeeded";
    if (q.status().code() != Code::kPermission) return "ro: got " + q.status().ToString();
    return "";
  });
  EXPECT_EQ(err, "");
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, ReadOnlyWithoutWriteAccessWhileTheOwnerHasItOpen) {
  TempDir dir;
  auto w = OpenOrDie(dir.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(Add(*w, MakeMonitor("a")).ok());
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  for (const char* f : {"", "-wal", "-shm"}) {
    ASSERT_EQ(chmod((dir.db() + f).c_str(), 0644), 0) << f;
  }
  std::string err = AsNobody([&]() -> std::string {
    Options ro;
    ro.read_only = true;
    auto q = Store::Open(dir.path(), ro);
    if (!q.ok()) return "read-only open failed: " + q.status().ToString();
    auto n = (*q)->CountMonitors();
    if (!n.ok()) return "count failed: " + n.status().ToString();
    if (*n != 1) return "count wrong";
    return "";
  });
  EXPECT_EQ(err, "");
  ASSERT_TRUE(Add(*w, MakeMonitor("b")).ok());
  w.reset();
  EXPECT_EQ(dir.List(), kOnlyDb);
}

TEST(StoreOpen, ReadOnlyFilesystem) {
  TempDir dir;
  MakeDb(dir, 3);
  const std::string before = ReadFile(dir.db());
  std::string err = RunInChild([&]() -> std::string {
    if (unshare(CLONE_NEWNS) != 0) return "unshare failed";
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "private failed";
    const char* d = dir.path().c_str();
    if (mount(d, d, nullptr, MS_BIND, nullptr) != 0) return "bind failed";
    if (mount(nullptr, d, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      return "remount ro failed";
    }
    auto r = Store::Open(dir.path(), {});
    if (r.ok()) return "read-write open on a read-only fs succeeded";
    if (r.status().code() != Code::kPermission) return "rw: got " + r.status().ToString();
    Options ro;
    ro.read_only = true;
    auto q = Store::Open(dir.path(), ro);
    if (!q.ok()) return "read-only open failed: " + q.status().ToString();
    auto n = (*q)->CountMonitors();
    if (!n.ok() || *n != 4) return "read-only count wrong";
    return "";
  });
  EXPECT_EQ(err, "");
  EXPECT_EQ(ReadFile(dir.db()), before);
  EXPECT_EQ(dir.List(), kOnlyDb);
}

}  // namespace
}  // namespace nsm::store
