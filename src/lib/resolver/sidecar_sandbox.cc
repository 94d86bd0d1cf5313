// Confinement of the sidecar process, applied once at start-up before any worker
// thread exists: drop root to an unprivileged user, then (whatever the uid) a
// Landlock domain that forbids every filesystem modification and signals to
// processes outside the sidecar. Reads stay allowed: NSS needs /etc and its modules.
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "resolver/resolver_internal.h"

namespace nsm::resolver {
namespace {

// Bits newer than Debian 12's <linux/landlock.h> (ABI 2); values from the kernel UAPI.
constexpr uint64_t kFsTruncate = 1ULL << 14;        // ABI 3
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;        // ABI 6

// The ABI 6 layout of landlock_ruleset_attr; older kernels are given a prefix of it.
struct RulesetAttr {
  uint64_t handled_access_fs = 0;
  uint64_t handled_access_net = 0;
  uint64_t scoped = 0;
};

}  // namespace

Status DropPrivileges(const std::string& user) {
  if (geteuid() != 0 && getuid() != 0) return Status::Ok();
  if (user.empty()) return Status::Ok();
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Status(Code::kNotFound, "user " + user + " not found; refusing to resolve as root");
  }
  uid_t uid = pw.pw_uid;
  gid_t gid = pw.pw_gid;
  if (uid == 0) return Status(Code::kPermission, "user " + user + " is root; refusing");
  if (setgroups(1, &gid) != 0) return ErrnoStatus("setgroups", errno);
  if (setresgid(gid, gid, gid) != 0) return ErrnoStatus("setresgid", errno);
  if (setresuid(uid, uid, uid) != 0) return ErrnoStatus("setresuid", errno);
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) {
    return Status(Code::kInternal, "uid did not change");
  }
  if (setuid(0) == 0) return Status(Code::kInternal, "could regain root after dropping it");
  return Status::Ok();
}

Result<int> ForbidFilesystemWrites() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return ErrnoStatus("Landlock unavailable", errno);
  RulesetAttr attr;
  attr.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                           LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                           LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                           LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                           LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  size_t size = sizeof attr.handled_access_fs;
  if (abi >= 2) attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) attr.handled_access_fs |= kFsTruncate;
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size = sizeof attr;
  }
  // No rules added: every handled access is denied everywhere.
  long fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (fd < 0) return ErrnoStatus("landlock_create_ruleset", errno);
  long rc = syscall(SYS_landlock_restrict_self, fd, 0);
  int err = errno;
  close(static_cast<int>(fd));
  if (rc != 0) return ErrnoStatus("landlock_restrict_self", err);
  return static_cast<int>(abi);
}

}  // namespace nsm::resolver
