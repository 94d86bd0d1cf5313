// Test hook (not for production use): an SQLite VFS that wraps the default one and can
// make every sync fail with an I/O error (a failed fsync) or every write fail with a
// full disk, so tests reach the store's poison and kNoSpace paths deterministically.
// Pass FaultVfsName() as Options::vfs. Settings are process-wide and thread-safe; they
// affect every connection opened through this VFS.
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

}  // namespace nsm::store::testing
