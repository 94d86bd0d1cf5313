// SQLite wrappers and error mapping for the store (see sqlite_util.h).
#include "store/sqlite_util.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace nsm::store::internal {

Status SqliteStatus(int rc, sqlite3* db, std::string_view context) {
  const int primary = rc & 0xff;
  const int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  // sqlite3_errmsg describes the most recent failure on db; fall back to the generic
  // text of the code when db is null or holds a different error.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    msg += sqlite3_errmsg(db);
  } else {
    msg += sqlite3_errstr(rc);
  }
  const bool io_like = primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN ||
                       primary == SQLITE_FULL || primary == SQLITE_READONLY;
  if (io_like && rc != primary) {
    msg += " [sqlite code " + std::to_string(rc) + "]";  // e.g. 1034 = SQLITE_IOERR_FSYNC
  }
  if (io_like && sys_errno != 0) {
    msg += " (";
    msg += std::strerror(sys_errno);
    msg += ")";
  }
  Code code = Code::kInternal;
  switch (primary) {
    case SQLITE_FULL:
      code = Code::kNoSpace;
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = Code::kBusy;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = Code::kCorruption;
      break;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      code = Code::kPermission;
      break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      code = Code::kInvalidArgument;
      break;
    case SQLITE_NOMEM:
      code = Code::kInternal;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      code = Code::kIoError;
      if (sys_errno == EACCES || sys_errno == EPERM || sys_errno == EROFS) {
        code = Code::kPermission;
      } else if (sys_errno == ENOENT) {
        code = Code::kNotFound;
      } else if (sys_errno == ENOSPC || sys_errno == EDQUOT) {
        code = Code::kNoSpace;
      }
      break;
    default:
      break;
  }
  return Status(code, msg);
}

// ---- Conn

Conn::~Conn() { Close(); }

void Conn::Close() {
  if (db_ != nullptr) {
    // Statements are owned by their Stmt objects, which the owner destroys first.
    int rc = sqlite3_close(db_);
    if (rc != SQLITE_OK) {
      log::Error("store: closing ", path_, ": ", sqlite3_errstr(rc));
      sqlite3_close_v2(db_);
    }
    db_ = nullptr;
  }
}

Status Conn::Open(const std::string& path, int flags, const std::string& vfs, int busy_timeout_ms,
                  const std::string& uri) {
  path_ = path;
  const std::string& name = uri.empty() ? path : uri;
  int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX,
                           vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(rc, db_, path);
    Close();
    return s;
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  return Status::Ok();
}

Status Conn::Error(int rc, std::string_view what) const {
  std::string ctx = path_;
  if (!what.empty()) {
    ctx += ": ";
    ctx += what;
  }
  return SqliteStatus(rc, db_, ctx);
}

Status Conn::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, path_);
  return Status::Ok();
}

Result<std::string> Conn::QueryText(const char* sql) {
  Stmt st;
  Status s = st.Prepare(*this, sql);
  if (!s.ok()) return s;
  Result<bool> row = st.Step();
  if (!row.ok()) return row.status();
  std::string out = *row ? st.Text(0) : std::string();
  st.Reset();
  return out;
}

// ---- Stmt

Stmt::~Stmt() { Finalize(); }

void Stmt::Finalize() {
  if (s_ != nullptr) sqlite3_finalize(s_);
  s_ = nullptr;
}

Status Stmt::Prepare(Conn& conn, const char* sql) {
  conn_ = &conn;
  Finalize();
  int rc = sqlite3_prepare_v3(conn.db(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) return conn.Error(rc, "");
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

void Stmt::Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }

void Stmt::Bind(int i, std::string_view text) {
  sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void Stmt::BindBlob(int i, const void* data, size_t n) {
  sqlite3_bind_blob(s_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = conn_->Error(rc, "");
  sqlite3_reset(s_);
  return s;
}

Status Stmt::Run() {
  for (;;) {
    Result<bool> r = Step();
    if (!r.ok()) {
      Reset();
      return r.status();
    }
    if (!*r) break;
  }
  Reset();
  return Status::Ok();
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::string_view Stmt::Blob(int col) const {
  const void* p = sqlite3_column_blob(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
}

// ---- Txn

Txn::~Txn() {
  if (open_ && !sqlite3_get_autocommit(c_.db())) {
    sqlite3_exec(c_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Txn::Begin(bool immediate) {
  int rc =
      sqlite3_exec(c_.db(), immediate ? "BEGIN IMMEDIATE" : "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return c_.Error(rc, "begin transaction");
  open_ = true;
  return Status::Ok();
}

int Txn::Commit() {
  int rc = sqlite3_exec(c_.db(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    // Keep the connection's error for the caller: rollback only after reading it.
    return rc;
  }
  open_ = false;
  return SQLITE_DONE;
}

// ---- Poison

Status Poison::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Status(Code::kIoError, "store is unusable after an earlier commit failure (" + cause_ +
                                    "); restart the daemon");
}

void Poison::Set(const Status& cause) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (poisoned_.load(std::memory_order_relaxed)) return;
    cause_ = cause.ToString();
    poisoned_.store(true, std::memory_order_release);
  }
  log::Error("store: COMMIT FAILED, database writes are now refused until restart: ",
             cause.ToString());
}

Status CommitWrite(Txn& txn, Conn& conn, Poison& poison) {
  int rc = txn.Commit();
  if (rc == SQLITE_DONE) return Status::Ok();
  Status s = conn.Error(rc, "commit");
  const int primary = rc & 0xff;
  if (primary != SQLITE_FULL && primary != SQLITE_BUSY) {
    poison.Set(s);
    return poison.status();
  }
  return s;
}

}  // namespace nsm::store::internal
