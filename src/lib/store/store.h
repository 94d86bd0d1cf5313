// Store: the only module that talks to SQLite. One database file (NSM_DB_NAME,
// "nsm.db") inside the state directory holds the state number, the monitor list and
// the notify list. See docs/store.md for the schema and durability rules.
//
// Threading: a Store may be used from any thread. Mutations of the monitor list go
// through a single committer thread that batches every queued request into one
// transaction with one fsync (group commit); each request's `done` runs on that
// committer thread only after its transaction committed durably, or failed. After an
// I/O error during commit (a failed fsync) the store is poisoned: every later write
// fails with kIoError (never "retry the fsync and carry on"). A full disk (SQLITE_FULL)
// fails only the batch it hit; later writes may succeed once space is freed.
//
// Several processes (rpc.statd, sm-notify, statdctl) may open the same database at
// once; SQLite serialises them (WAL mode, busy timeout). Never carry a Store across
// fork(). Callers must not use a Store while (or after) it is being destroyed, and
// must not destroy it from inside a `done` callback (the destructor joins that thread).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace nsm::store {

using Priv = std::array<uint8_t, 16>;

// Identity of one SM_MON record: (mon_name, my_id). Never merged by name lookup.
struct MonitorKey {
  std::string mon_name;
  std::string my_name;
  uint32_t my_prog = 0;
  uint32_t my_vers = 0;
  uint32_t my_proc = 0;
  bool operator==(const MonitorKey&) const = default;
};

struct Monitor {
  MonitorKey key;
  Priv priv{};
  std::vector<std::string> addresses;  // canonical IP text the peer had at SM_MON time
  std::string caller;                  // address text of the SM_MON caller
  int64_t added = 0;                   // unix seconds of the (latest) SM_MON
};

enum class NotifyStatus { kPending = 0, kFailed = 1 };

// One peer to tell that this host rebooted (sm-notify's list).
struct NotifyEntry {
  std::string mon_name;                // the peer
  std::string my_name;                 // our name as recorded from lockd; sent as mon_name
  std::vector<std::string> addresses;  // union of the addresses of its monitors
  NotifyStatus status = NotifyStatus::kPending;
  int attempts = 0;
  std::string last_error;
  int64_t added = 0;
  int64_t last_attempt = 0;
};

struct Options {
  bool create = true;  // create the database file if missing (directory must exist)
  // statdctl list/status: never writes data; every write call fails with kPermission
  // (the monitor mutations call `done` at once on the calling thread). Needs write
  // access to the directory unless a writer has the database open or the file system
  // is read-only (docs/store.md).
  bool read_only = false;
  int busy_timeout_ms = 10000;
  std::string vfs;               // SQLite VFS name; empty = default (tests inject faults here)
  const Clock* clock = nullptr;  // timestamps (added, last_attempt); null = Clock::Real()
};

// Counters of the committer, for tests and statdctl status.
struct Stats {
  uint64_t commits = 0;         // group-commit transactions that committed
  uint64_t failed_batches = 0;  // batches that failed (and were rolled back)
  uint64_t requests = 0;        // requests completed by the committer, including refused ones
  uint64_t max_batch = 0;       // most requests applied in one transaction
  bool poisoned = false;        // a commit failed with an I/O error: writes are refused
};

class Store {
 public:
  // Opens (or creates) <state_dir>/NSM_DB_NAME. Runs PRAGMA integrity_check (quick_check
  // for big databases is not acceptable: full check) and schema migrations. A corrupt or
  // unreadable file is a kCorruption / kIoError error naming the file; it is never
  // replaced. A missing directory is kNotFound; an unwritable one kPermission.
  static Result<std::unique_ptr<Store>> Open(const std::string& state_dir, const Options& opts);
  // Drains the committer, checkpoints the WAL (TRUNCATE) so the directory holds one
  // file at rest, and closes.
  ~Store();

  const std::string& path() const;  // <state_dir>/NSM_DB_NAME
  Stats stats() const;              // thread-safe

  // ---- state number (odd = up). Synchronous, durable before returning.
  Result<uint32_t> GetState();
  Status SetState(uint32_t state);

  // ---- group-committed monitor mutations (the SM_MON path)
  // Each returns at once; `done` (may be empty) runs later on the committer thread,
  // in request order, after the batch holding the request committed (or failed: every
  // request of a batch gets the same status). kNoSpace: disk full, that batch only.
  // kIoError: the store is poisoned (see above). kInvalidArgument: refused before the
  // database (ValidName fails for mon_name or my_name, an address is not an IP literal).
  using Done = std::function<void(Status)>;
  // Insert, or replace priv/addresses/caller/added of the record with the same key.
  // Duplicate addresses are dropped; added == 0 means now.
  void AddMonitor(Monitor m, Done done);
  // `removed` is false when no record had that key (still a success).
  void RemoveMonitor(MonitorKey key, std::function<void(Status, bool removed)> done);
  // Removes every record whose my_id equals (my_name, prog, vers, proc).
  void RemoveAllMonitors(std::string my_name, uint32_t prog, uint32_t vers, uint32_t proc,
                         std::function<void(Status, std::vector<MonitorKey> removed)> done);

  // ---- reads (synchronous; a consistent snapshot each)
  Result<std::vector<Monitor>> ListMonitors();
  Result<uint64_t> CountMonitors();
  // Case-insensitive match on mon_name; IP literals compared in canonical form
  // ("::FFFF:127.0.0.1" finds records named "127.0.0.1" and vice versa).
  Result<std::vector<Monitor>> FindMonitorsByName(std::string_view mon_name);
  // Records whose stored addresses contain this canonical IP (another spelling of the
  // same IP, e.g. "::ffff:192.0.2.1", is canonicalised first).
  Result<std::vector<Monitor>> FindMonitorsByAddress(std::string_view canonical_ip);

  // ---- reboot / notify list (sm-notify)
  // One transaction: if bump, state becomes the next odd number above the current one
  // (+2 from odd); every monitor is merged into the notify list (one entry per distinct
  // (mon_name, my_name), addresses unioned, status pending); unless keep_monitors, the
  // monitor list is emptied. Returns the (possibly new) state. An entry already in the
  // list keeps its addresses, gains the new ones and becomes pending with attempts = 0.
  // Synchronous, like the calls below.
  Result<uint32_t> BeginReboot(bool bump, bool keep_monitors);
  Result<std::vector<NotifyEntry>> ListNotify();  // in the order entries were added
  // Upsert by (mon_name, my_name), replacing every field (added == 0 means now).
  // kInvalidArgument for invalid names or non-IP addresses.
  Status AddNotify(const NotifyEntry& e);
  // The peer answered: remove its entry (ok if there is none).
  Status NotifyDone(std::string_view mon_name, std::string_view my_name);
  // Record an attempt (attempts += 1, last_error, last_attempt = now, status).
  // kNotFound if there is no such entry.
  Status NotifyAttempt(std::string_view mon_name, std::string_view my_name, std::string_view error,
                       NotifyStatus status);

  // ---- small key/value metadata (e.g. "legacy_imported")
  Result<std::string> GetMeta(std::string_view key);  // kNotFound if absent
  // "state" is reserved (use SetState): kInvalidArgument.
  Status SetMeta(std::string_view key, std::string_view value);

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Name validation shared by every entry point (SM_MON, import, statdctl): 1..1024
// bytes, printable ASCII without spaces, no '/', not starting with '.'.
bool ValidName(std::string_view name);

// The key monitors are matched by name with (FindMonitorsByName, SM_NOTIFY, statdctl):
// the canonical IP text if `name` is an IP literal ("::FFFF:127.0.0.1" -> "127.0.0.1"),
// otherwise the name with ASCII letters lower-cased.
std::string NameKey(std::string_view name);

}  // namespace nsm::store
