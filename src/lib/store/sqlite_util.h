// Private to store/: thin RAII wrappers over sqlite3 connections and statements, the
// mapping of SQLite result codes to nsm::Status, and the poison flag shared by every
// connection of one Store. Nothing here is thread-safe by itself: each Conn is used by
// one thread at a time (the owner serialises it with its own mutex or thread).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"

// UPSERT (3.24) is the newest feature the store relies on.
static_assert(SQLITE_VERSION_NUMBER >= 3024000, "nsm store needs SQLite 3.24 or newer");

namespace nsm::store::internal {

// Maps an SQLite result code (extended codes allowed) to a Status. `db` (may be null)
// supplies sqlite3_errmsg and the OS errno; `context` prefixes the message (usually the
// database path).
Status SqliteStatus(int rc, sqlite3* db, std::string_view context);

class Stmt;

// One connection. Opened with extended result codes; closed by the destructor.
class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();

  // Opens `path` (or `uri` if not empty, with SQLITE_OPEN_URI in flags; messages still
  // name `path`) with SQLITE_OPEN_* flags (NOMUTEX added: the owner serialises).
  Status Open(const std::string& path, int flags, const std::string& vfs, int busy_timeout_ms,
              const std::string& uri = "");
  void Close();

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }
  // Runs one or more SQL statements that return no rows of interest.
  Status Exec(const char* sql);
  // Runs a single-value query (e.g. a PRAGMA) and returns column 0 of its first row
  // as text ("" if no row).
  Result<std::string> QueryText(const char* sql);
  Status Error(int rc, std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// A prepared statement bound to a Conn. Reset (and bindings cleared) by Reset() and
// before each reuse by the caller.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Status Prepare(Conn& conn, const char* sql);
  void Finalize();
  void Reset();
  // Binds are 1-based like sqlite3_bind_*. Text and blobs are copied (SQLITE_TRANSIENT).
  void Bind(int i, int64_t v);
  void Bind(int i, std::string_view text);
  void BindBlob(int i, const void* data, size_t n);
  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else -> error Status.
  Result<bool> Step();
  // Step() until SQLITE_DONE, then Reset().
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const;
  std::string_view Blob(int col) const;
  sqlite3_stmt* get() const { return s_; }

 private:
  Conn* conn_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

// Rolls back on destruction unless Commit() ran (whatever its outcome).
class Txn {
 public:
  explicit Txn(Conn& c) : c_(c) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();
  // BEGIN IMMEDIATE (writers) or BEGIN (deferred; a read snapshot on first read).
  Status Begin(bool immediate);
  // Raw COMMIT result code (SQLITE_DONE or an error); rolls back if the commit failed
  // and left the transaction open.
  int Commit();

 private:
  Conn& c_;
  bool open_ = false;
};

// After an I/O error during a commit every later write of the Store fails. Shared by
// all connections of one Store; thread-safe.
class Poison {
 public:
  bool poisoned() const { return poisoned_.load(std::memory_order_acquire); }
  // The status every write returns once poisoned.
  Status status() const;
  // Sets the flag and logs the cause loudly (once).
  void Set(const Status& cause);

 private:
  std::atomic<bool> poisoned_{false};
  mutable std::mutex mu_;
  std::string cause_;
};

// Commits an open write transaction. SQLITE_FULL or BUSY -> that error only; any other
// failure of COMMIT poisons `poison` and returns its kIoError status.
Status CommitWrite(Txn& txn, Conn& conn, Poison& poison);

}  // namespace nsm::store::internal
