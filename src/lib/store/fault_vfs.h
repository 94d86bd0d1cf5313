// Test hook (not for production use): an SQLite VFS that wraps the default one and can
// make every sync fail with an I/O error (a failed fsync) or every write fail with a
// full disk, so tests reach the store's poison and kNoSpace paths deterministically,
// and can show every change of a file to an Observer (store_powerloss_test records the
// writes not yet synced and simulates a power cut with them). Pass FaultVfsName() as
// Options::vfs. Settings are process-wide and thread-safe; they affect every
// connection opened through this VFS.
#pragma once

#include <cstdint>

namespace nsm::store::testing {

// Registers the VFS on first use (not as the default) and returns its name.
const char* FaultVfsName();

// true: xSync returns SQLITE_IOERR_FSYNC without syncing.
void SetFailSync(bool fail);
// true: xWrite returns SQLITE_FULL without writing (as a write hitting ENOSPC does).
void SetFailWriteFull(bool fail);
// Number of successful xSync calls so far through this VFS.
uint64_t SyncCount();

// Sees every change of a named file (database, -wal, -journal; not temporary files, not
// the -shm, which SQLite maps without this VFS) before it reaches the wrapped VFS. A
// `false` return refuses the call: it fails with an I/O error and changes nothing on
// disk (the simulated power is off). Called on the thread of whichever connection does
// the I/O, possibly several at once: implementations serialise themselves, and must not
// call back into SQLite.
class Observer {
 public:
  virtual ~Observer() = default;
  // After a successful xOpen; `created`: the file did not exist before. On `false` the
  // file is closed again and xOpen fails with SQLITE_CANTOPEN.
  virtual bool OnOpen(const char* path, bool created) = 0;
  virtual bool OnWrite(const char* path, const void* data, int n, int64_t offset) = 0;
  virtual bool OnTruncate(const char* path, int64_t size) = 0;
  // Before the wrapped xSync, which may also fsync the directory (CurrentVfsCallPath).
  virtual bool OnSync(const char* path) = 0;
  // Before the wrapped xDelete (which may fsync the directory as well).
  virtual bool OnDelete(const char* path) = 0;
};
// Installs `o` (nullptr: none). Only while no connection uses this VFS; `o` must stay
// alive until it is replaced.
void SetObserver(Observer* o);
// The path of the file whose xSync or xDelete the calling thread is running inside the
// wrapped VFS, else nullptr. A directory fsync seen while it is set was made by SQLite
// on behalf of that file (SQLite syncs the directory after creating a -wal or -journal).
const char* CurrentVfsCallPath();

}  // namespace nsm::store::testing
