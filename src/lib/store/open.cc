// Opening and closing a Store: checks of the state directory and file, connection
// set-up (WAL, synchronous=FULL, foreign keys), the full integrity check, schema
// migration, the directory fsync after creating the file, and the final checkpoint
// that leaves only nsm.db at rest.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <string>
#include <utility>

#include "base/files.h"
#include "base/log.h"
#include "store/impl.h"
#include "store/schema.h"

namespace nsm::store {
namespace {

using internal::Conn;

struct OpenPlan {
  bool exists = false;
  int flags = 0;
  bool query_only = false;  // read_only, but opened read-write so it can clean up the WAL
  std::string uri;          // non-empty: open this URI instead of the path
};

// "file:" URI of `path` with SQLite URI parameter `param` (percent-encoding all but
// unreserved characters and '/').
std::string FileUri(const std::string& path, const char* param) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      uri.push_back(static_cast<char>(c));
    } else {
      uri.push_back('%');
      uri.push_back(kHex[c >> 4]);
      uri.push_back(kHex[c & 15]);
    }
  }
  return uri + "?" + param;
}

bool Accessible(const std::string& p, int mode) {
  return faccessat(AT_FDCWD, p.c_str(), mode, AT_EACCESS) == 0;
}

Result<OpenPlan> Plan(const std::string& dir, const std::string& path, const Options& o) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Status(Code::kNotFound, "state directory " + dir + " does not exist");
    }
    return ErrnoStatus("state directory " + dir, err);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status(Code::kInvalidArgument, "state directory " + dir + " is not a directory");
  }
  OpenPlan plan;
  if (stat(path.c_str(), &st) == 0) {
    plan.exists = true;
    if (!S_ISREG(st.st_mode)) {
      return Status(Code::kInvalidArgument, path + " is not a regular file");
    }
  } else if (errno != ENOENT) {
    return ErrnoStatus(path, errno);
  }

  const bool dir_writable = Accessible(dir, W_OK | X_OK);
  const int dir_errno = errno;
  if (!plan.exists) {
    if (o.read_only || !o.create) {
      return Status(Code::kNotFound, path + ": no such database");
    }
    if (!dir_writable) return ErrnoStatus("cannot create " + path, dir_errno);
    plan.flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    return plan;
  }
  if (o.read_only) {
    if (!Accessible(path, R_OK)) return ErrnoStatus(path, errno);
    // A read-only connection leaves -wal/-shm behind when it is the last one to close;
    // a read-write one with query_only removes them. Use it when we may write.
    if (dir_writable && Accessible(path, R_OK | W_OK)) {
      plan.flags = SQLITE_OPEN_READWRITE;
      plan.query_only = true;
      return plan;
    }
    plan.flags = SQLITE_OPEN_READONLY;
    // Reading a WAL database needs its -shm (and -wal) file. Without them and without
    // the right to create them only a read-only file system can be read: nothing can
    // write there, so the file may be read as immutable.
    if (stat((path + "-wal").c_str(), &st) != 0 && stat((path + "-shm").c_str(), &st) != 0) {
      struct statvfs vfs;
      if (statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
        plan.flags |= SQLITE_OPEN_URI;
        plan.uri = FileUri(path, "immutable=1");
      } else {
        return Status(Code::kPermission,
                      path + ": reading it needs write access to " + dir +
                          " (to create its -shm file) while no writer has it open");
      }
    }
    return plan;
  }
  if (!Accessible(path, R_OK | W_OK)) return ErrnoStatus(path, errno);
  // In a directory we cannot write (Debian's root-owned /var/lib/nfs, with the files
  // handed to statd by a root process that opened them first), SQLite can still work
  // if its -wal and -shm files exist and are ours to write.
  if (!dir_writable &&
      !(Accessible(path + "-wal", R_OK | W_OK) && Accessible(path + "-shm", R_OK | W_OK))) {
    return ErrnoStatus(dir + " (the database needs to create its -wal and -shm files here)",
                       dir_errno);
  }
  plan.flags = SQLITE_OPEN_READWRITE;
  return plan;
}

// Per-connection settings (journal_mode is persistent in the file, set once at open).
Status Configure(Conn& c, bool writer, bool query_only) {
  Status s = c.Exec("PRAGMA foreign_keys = ON");
  if (s.ok() && writer) {
    s = c.Exec("PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 4194304");
  }
  if (s.ok() && query_only) s = c.Exec("PRAGMA query_only = ON");
  return s;
}

Status SetWal(Conn& c) {
  Result<std::string> mode = c.QueryText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") {
    return Status(Code::kIoError,
                  c.path() + ": cannot switch to WAL mode (journal_mode is " + *mode + ")");
  }
  return Status::Ok();
}

constexpr const char* kMonitorSelect =
    "SELECT id, mon_name, my_name, my_prog, my_vers, my_proc, priv, caller, added, addresses "
    "FROM monitors ";

Status PrepareReads(Store::Impl& im) {
  const std::string all = std::string(kMonitorSelect) + "ORDER BY id";
  const std::string by_key = std::string(kMonitorSelect) + "WHERE mon_name_key = ?1 ORDER BY id";
  const std::string by_addr = std::string(kMonitorSelect) +
                              "WHERE id IN (SELECT monitor_id FROM monitor_addresses "
                              "WHERE address IN (?1, ?2)) ORDER BY id";
  Status s = im.list_all.Prepare(im.conn, all.c_str());
  if (s.ok()) s = im.find_by_key.Prepare(im.conn, by_key.c_str());
  if (s.ok()) s = im.find_by_addr.Prepare(im.conn, by_addr.c_str());
  if (s.ok()) s = im.get_meta.Prepare(im.conn, "SELECT value FROM meta WHERE key = ?1");
  return s;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& state_dir, const Options& opts) {
  auto im = std::make_unique<Impl>();
  std::string dir = state_dir.empty() ? std::string(".") : state_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  im->path = (dir == "/" ? std::string() : dir) + "/" + NSM_DB_NAME;
  im->opts = opts;
  im->clock = opts.clock != nullptr ? opts.clock : &Clock::Real();

  Result<OpenPlan> plan = Plan(dir, im->path, opts);
  if (!plan.ok()) return plan.status();
  Status s = im->conn.Open(im->path, plan->flags, opts.vfs, opts.busy_timeout_ms, plan->uri);
  // The first read: a file that is not SQLite, or not nsm's, stops here untouched.
  if (s.ok()) s = internal::CheckIdentity(im->conn);
  if (s.ok()) s = internal::CheckIntegrity(im->conn);
  if (s.ok() && !opts.read_only) s = SetWal(im->conn);
  if (s.ok()) s = Configure(im->conn, !opts.read_only, plan->query_only);
  bool created = false;
  if (s.ok()) s = internal::Migrate(im->conn, opts.read_only, &created);
  if (s.ok() && created) {
    // SQLite syncs the directory for the -wal file, but not for a new main database file.
    s = files::FsyncDir(dir);
    if (s.ok()) log::Info("store: created ", im->path);
  }
  if (s.ok()) s = PrepareReads(*im);
  if (s.ok() && !opts.read_only) {
    auto conn = std::make_unique<Conn>();
    s = conn->Open(im->path, SQLITE_OPEN_READWRITE, opts.vfs, opts.busy_timeout_ms);
    if (s.ok()) s = Configure(*conn, /*writer=*/true, /*query_only=*/false);
    if (s.ok()) {
      im->committer =
          std::make_unique<internal::Committer>(std::move(conn), &im->poison, im->clock);
      s = im->committer->Start();
    }
  }
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(new Store(std::move(im)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() = default;

Store::Impl::~Impl() {
  committer.reset();  // drains the queue; every callback has run after this
  std::lock_guard<std::mutex> lock(mu);
  for (internal::Stmt* st : {&list_all, &find_by_key, &find_by_addr, &get_meta}) st->Finalize();
  if (conn.db() != nullptr && !opts.read_only) {
    // Empty the WAL into the database; the close of the last connection then deletes
    // -wal and -shm. With another process still attached the empty files stay.
    int log_frames = 0, ckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(conn.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                       &ckpt);
    if (rc != SQLITE_OK) {
      log::Warning("store: final checkpoint of ", path, ": ", sqlite3_errstr(rc));
    }
  }
  conn.Close();
}

const std::string& Store::path() const { return impl_->path; }

Stats Store::stats() const {
  if (impl_->committer) return impl_->committer->stats();
  Stats s;
  s.poisoned = impl_->poison.poisoned();
  return s;
}

}  // namespace nsm::store
