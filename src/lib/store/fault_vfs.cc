// A pass-through SQLite VFS with switchable sync and write failures and an optional
// observer of every file change (see fault_vfs.h). Each file is a FaultFile header
// followed by the wrapped VFS's own file object.
#include "store/fault_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <mutex>

namespace nsm::store::testing {
namespace {

std::atomic<bool> g_fail_sync{false};
std::atomic<bool> g_fail_write{false};
std::atomic<uint64_t> g_syncs{0};
std::atomic<Observer*> g_observer{nullptr};
thread_local const char* t_call_path = nullptr;
sqlite3_vfs* g_base = nullptr;
sqlite3_vfs g_vfs;

struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
  const char* path;  // SQLite keeps the name alive until xClose; null: not observed
};

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

// The observer, if there is one and the file is observed.
Observer* Watching(sqlite3_file* f) {
  return reinterpret_cast<FaultFile*>(f)->path != nullptr ? g_observer.load() : nullptr;
}
const char* PathOf(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->path; }

// Marks the calling thread as running a wrapped call on behalf of `path`.
class InCall {
 public:
  explicit InCall(const char* path) : saved_(t_call_path) { t_call_path = path; }
  ~InCall() { t_call_path = saved_; }
  InCall(const InCall&) = delete;
  InCall& operator=(const InCall&) = delete;

 private:
  const char* saved_;
};

int Close(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (g_fail_write.load()) return SQLITE_FULL;
  if (Observer* o = Watching(f); o != nullptr && !o->OnWrite(PathOf(f), buf, n, off)) {
    return SQLITE_IOERR_WRITE;
  }
  return Real(f)->pMethods->xWrite(Real(f), buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (Observer* o = Watching(f); o != nullptr && !o->OnTruncate(PathOf(f), size)) {
    return SQLITE_IOERR_TRUNCATE;
  }
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) {
  if (g_fail_sync.load()) return SQLITE_IOERR_FSYNC;
  if (Observer* o = Watching(f); o != nullptr && !o->OnSync(PathOf(f))) {
    return SQLITE_IOERR_FSYNC;
  }
  InCall in_call(PathOf(f));
  int rc = Real(f)->pMethods->xSync(Real(f), flags);
  if (rc == SQLITE_OK) g_syncs.fetch_add(1);
  return rc;
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int Unlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** pp) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, pp);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  if (Real(f)->pMethods->iVersion < 3) {
    *pp = nullptr;
    return SQLITE_OK;
  }
  return Real(f)->pMethods->xFetch(Real(f), off, n, pp);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  if (Real(f)->pMethods->iVersion < 3) return SQLITE_OK;
  return Real(f)->pMethods->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* ff = reinterpret_cast<FaultFile*>(f);
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  ff->base.pMethods = nullptr;
  Observer* o = g_observer.load();
  const bool observed = o != nullptr && name != nullptr && (flags & SQLITE_OPEN_DELETEONCLOSE) == 0;
  int existed = 1;
  if (observed && g_base->xAccess(g_base, name, SQLITE_ACCESS_EXISTS, &existed) != SQLITE_OK) {
    existed = 1;
  }
  ff->path = observed ? name : nullptr;
  int rc = g_base->xOpen(g_base, name, ff->real, flags, out_flags);
  if (rc == SQLITE_OK && observed && !o->OnOpen(name, existed == 0)) {
    ff->real->pMethods->xClose(ff->real);
    return SQLITE_CANTOPEN;
  }
  if (ff->real->pMethods != nullptr) ff->base.pMethods = &kMethods;
  return rc;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  Observer* o = g_observer.load();
  if (o != nullptr && name != nullptr && !o->OnDelete(name)) return SQLITE_IOERR_DELETE;
  InCall in_call(name);
  return g_base->xDelete(g_base, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_base->xAccess(g_base, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_base->xFullPathname(g_base, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void DlError(sqlite3_vfs*, int n, char* msg) { g_base->xDlError(g_base, n, msg); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_base->xDlSym(g_base, h, sym);
}
void DlClose(sqlite3_vfs*, void* h) { g_base->xDlClose(g_base, h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int CurrentTime(sqlite3_vfs*, double* t) { return g_base->xCurrentTime(g_base, t); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_base->xGetLastError != nullptr ? g_base->xGetLastError(g_base, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* t) {
  if (g_base->iVersion >= 2 && g_base->xCurrentTimeInt64 != nullptr) {
    return g_base->xCurrentTimeInt64(g_base, t);
  }
  double d = 0;
  int rc = g_base->xCurrentTime(g_base, &d);
  *t = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}

}  // namespace

const char* FaultVfsName() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_initialize();
    g_base = sqlite3_vfs_find(nullptr);
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_base->szOsFile;
    g_vfs.mxPathname = g_base->mxPathname;
    g_vfs.zName = "nsm-fault";
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
  return g_vfs.zName;
}

void SetFailSync(bool fail) { g_fail_sync.store(fail); }
void SetFailWriteFull(bool fail) { g_fail_write.store(fail); }
uint64_t SyncCount() { return g_syncs.load(); }
void SetObserver(Observer* o) { g_observer.store(o); }
const char* CurrentVfsCallPath() { return t_call_path; }

}  // namespace nsm::store::testing
