// Schema definition, migrations and integrity check of nsm.db (see schema.h and
// docs/store.md). A migration list entry N brings user_version N to N+1; later
// versions append entries and never edit old ones.
#include "store/schema.h"

#include <algorithm>
#include <string>
#include <vector>

namespace nsm::store::internal {
namespace {

// Version 0 -> 1: the initial schema. Fresh databases start at state 1 (odd = up).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY NOT NULL,
  value NOT NULL) WITHOUT ROWID;
CREATE TABLE monitors(
  id INTEGER PRIMARY KEY,
  mon_name TEXT NOT NULL,
  mon_name_key TEXT NOT NULL,
  my_name TEXT NOT NULL,
  my_prog INTEGER NOT NULL,
  my_vers INTEGER NOT NULL,
  my_proc INTEGER NOT NULL,
  priv BLOB NOT NULL CHECK (length(priv) = 16),
  caller TEXT NOT NULL,
  added INTEGER NOT NULL,
  addresses TEXT NOT NULL,
  UNIQUE (mon_name_key, mon_name, my_name, my_prog, my_vers, my_proc));
CREATE TABLE monitor_addresses(
  address TEXT NOT NULL,
  monitor_id INTEGER NOT NULL,
  PRIMARY KEY (address, monitor_id)) WITHOUT ROWID;
CREATE TABLE notify(
  mon_name TEXT NOT NULL,
  my_name TEXT NOT NULL,
  addresses TEXT NOT NULL,
  status INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  added INTEGER NOT NULL,
  last_attempt INTEGER NOT NULL,
  PRIMARY KEY (mon_name, my_name));
INSERT INTO meta(key, value) VALUES ('state', 1);
)sql";

using Migration = Status (*)(Conn&);

Status MigrateTo1(Conn& c) { return c.Exec(kSchemaV1); }

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kList = {MigrateTo1};
  return kList;
}

Result<int64_t> QueryInt(Conn& c, const char* sql) {
  Stmt st;
  Status s = st.Prepare(c, sql);
  if (!s.ok()) return s;
  Result<bool> row = st.Step();
  if (!row.ok()) return row.status();
  int64_t v = *row ? st.Int(0) : 0;
  st.Reset();
  return v;
}

struct Identity {
  int64_t app_id = 0;
  int64_t version = 0;
  int64_t objects = 0;  // rows in sqlite_master
};

Result<Identity> ReadIdentity(Conn& c) {
  Identity id;
  // The first read of the file: a file that is not SQLite fails here (SQLITE_NOTADB).
  Result<int64_t> app = QueryInt(c, "PRAGMA application_id");
  if (!app.ok()) return app.status();
  Result<int64_t> ver = QueryInt(c, "PRAGMA user_version");
  if (!ver.ok()) return ver.status();
  Result<int64_t> n = QueryInt(c, "SELECT count(*) FROM sqlite_master");
  if (!n.ok()) return n.status();
  id.app_id = *app;
  id.version = *ver;
  id.objects = *n;
  return id;
}

// Refuses files that belong to someone else or to a newer nsm.
Status VerifyIdentity(const Conn& c, const Identity& id) {
  const bool empty = id.app_id == 0 && id.version == 0 && id.objects == 0;
  if (empty) return Status::Ok();
  if (id.app_id != kApplicationId) {
    return Status(Code::kCorruption, c.path() + ": not an nsm database (application_id " +
                                         std::to_string(id.app_id) + "); refusing to touch it");
  }
  if (id.version > SchemaVersion()) {
    return Status(Code::kInvalidArgument, c.path() + ": schema version " +
                                              std::to_string(id.version) +
                                              " is newer than this nsm understands (" +
                                              std::to_string(SchemaVersion()) + ")");
  }
  return Status::Ok();
}

}  // namespace

int SchemaVersion() { return static_cast<int>(Migrations().size()); }

Status CheckIdentity(Conn& conn) {
  Result<Identity> id = ReadIdentity(conn);
  if (!id.ok()) return id.status();
  return VerifyIdentity(conn, *id);
}

Status Migrate(Conn& conn, bool read_only, bool* created) {
  *created = false;
  Result<Identity> id = ReadIdentity(conn);
  if (!id.ok()) return id.status();
  Status s = VerifyIdentity(conn, *id);
  if (!s.ok()) return s;
  if (id->version == SchemaVersion()) return Status::Ok();
  if (read_only) {
    if (id->version == 0) {
      return Status(Code::kNotFound, conn.path() + ": database is empty (never initialised)");
    }
    return Status(Code::kUnavailable, conn.path() + ": schema version " +
                                          std::to_string(id->version) +
                                          " needs migration; open it read-write first");
  }

  // Re-read inside the write transaction: another process may have migrated meanwhile.
  Txn txn(conn);
  s = txn.Begin(/*immediate=*/true);
  if (!s.ok()) return s;
  id = ReadIdentity(conn);
  if (!id.ok()) return id.status();
  s = VerifyIdentity(conn, *id);
  if (!s.ok()) return s;
  const int64_t from = id->version;
  for (int64_t v = from; v < SchemaVersion(); ++v) {
    s = Migrations()[v](conn);
    if (!s.ok()) return s;
  }
  const std::string set_version = "PRAGMA application_id = " + std::to_string(kApplicationId) +
                                  "; PRAGMA user_version = " + std::to_string(SchemaVersion());
  s = conn.Exec(set_version.c_str());
  if (!s.ok()) return s;
  int rc = txn.Commit();
  if (rc != SQLITE_DONE) return conn.Error(rc, "commit schema");
  *created = from == 0;
  return Status::Ok();
}

Status CheckIntegrity(Conn& conn) {
  const char* checks[] = {"PRAGMA integrity_check", "PRAGMA foreign_key_check"};
  for (const char* sql : checks) {
    Stmt st;
    Status s = st.Prepare(conn, sql);
    if (!s.ok()) return s;
    std::vector<std::string> problems;
    const bool is_integrity = sql == checks[0];
    for (;;) {
      Result<bool> row = st.Step();
      if (!row.ok()) {
        return Status(row.status().code(), conn.path() + ": database is corrupt (" + sql +
                                               " failed: " + sqlite3_errmsg(conn.db()) + ")");
      }
      if (!*row) break;
      std::string line;
      if (is_integrity) {
        line = st.Text(0);
        if (line == "ok") continue;
        std::replace(line.begin(), line.end(), '\n', ' ');
      } else {
        // table, rowid, parent, fkid
        line =
            "foreign key violation in " + st.Text(0) + " row " + st.Text(1) + " -> " + st.Text(2);
      }
      if (problems.size() < 5) problems.push_back(line);
    }
    if (!problems.empty()) {
      std::string msg = conn.path() + ": database is corrupt (" + sql + "):";
      for (const auto& p : problems) msg += " " + p + ";";
      return Status(Code::kCorruption, msg);
    }
  }
  return Status::Ok();
}

}  // namespace nsm::store::internal
