// Confinement of the sidecar process, applied once at start-up before any worker
// thread exists: drop root to an unprivileged identity, then (whatever the uid) a
// Landlock domain that forbids every filesystem modification and signals to
// processes outside the sidecar, and a seccomp filter that forbids signals to other
// processes on kernels whose Landlock cannot. Reads stay allowed: NSS needs /etc and
// its modules.
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
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

std::string DropTargetArg(const DropTarget& t) {
  if (t.uid) return "ids=" + std::to_string(*t.uid) + ":" + std::to_string(t.gid);
  return "user=" + t.user;
}

std::optional<DropTarget> ParseDropTargetArg(std::string_view arg) {
  DropTarget t;
  if (arg.substr(0, 5) == "user=") {
    t.user = std::string(arg.substr(5));
    return t;
  }
  if (arg.substr(0, 4) != "ids=") return std::nullopt;
  arg.remove_prefix(4);
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uid_t uid = 0;
  gid_t gid = 0;
  auto u = arg.substr(0, colon), g = arg.substr(colon + 1);
  auto [pu, eu] = std::from_chars(u.data(), u.data() + u.size(), uid);
  auto [pg, eg] = std::from_chars(g.data(), g.data() + g.size(), gid);
  if (eu != std::errc() || pu != u.data() + u.size() || u.empty()) return std::nullopt;
  if (eg != std::errc() || pg != g.data() + g.size() || g.empty()) return std::nullopt;
  t.uid = uid;
  t.gid = gid;
  return t;
}

Status DropPrivileges(const DropTarget& target) {
  if (geteuid() != 0 && getuid() != 0) return Status::Ok();
  uid_t uid;
  gid_t gid;
  std::string who;
  if (target.uid) {
    uid = *target.uid;
    gid = target.gid;
    who = "uid " + std::to_string(uid);
  } else {
    if (target.user.empty()) return Status::Ok();
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = getpwnam_r(target.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
      return Status(Code::kNotFound,
                    "user " + target.user + " not found; refusing to resolve as root");
    }
    uid = pw.pw_uid;
    gid = pw.pw_gid;
    who = "user " + target.user;
  }
  if (uid == 0) return Status(Code::kPermission, who + " is root; refusing");
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

namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#elif defined(__i386__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_I386;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr uint32_t kAuditArch = AUDIT_ARCH_PPC64LE;
#elif defined(__s390x__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_S390X;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr uint32_t kAuditArch = AUDIT_ARCH_RISCV64;
#else
#define NSM_NO_SECCOMP_ARCH 1
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr uint32_t kArg0Low = offsetof(seccomp_data, args[0]);
#else
constexpr uint32_t kArg0Low = offsetof(seccomp_data, args[0]) + 4;
#endif

sock_filter Stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

}  // namespace

Status ForbidSignalsToOthers() {
#ifdef NSM_NO_SECCOMP_ARCH
  return Status(Code::kUnavailable, "no seccomp filter for this architecture");
#else
  const auto self = static_cast<uint32_t>(getpid());
  constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
  constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  // Syscalls whose first argument is the target process: allowed only at ourselves.
  const long to_self[] = {__NR_kill, __NR_tgkill, __NR_rt_sigqueueinfo, __NR_rt_tgsigqueueinfo};
  // Syscalls that could reach another process without naming it by pid: denied.
  const long denied[] = {__NR_tkill, __NR_pidfd_send_signal};
  std::vector<sock_filter> f;
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
  f.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  // x32 system call numbers are another table: none of them is needed.
  f.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
  f.push_back(Stmt(BPF_RET | BPF_K, kDeny));
#endif
  // Layout after this point, with n = size(to_self) and m = size(denied):
  //   n jumps to CHECK, m jumps to DENY, ALLOW, CHECK: load arg0, compare, ALLOW/DENY.
  const size_t n = std::size(to_self), m = std::size(denied);
  for (size_t i = 0; i < n; ++i) {
    // Distance to CHECK: the remaining to_self jumps, the m denied jumps, ALLOW.
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(to_self[i]),
                     static_cast<uint8_t>(n - i - 1 + m + 1), 0));
  }
  for (size_t i = 0; i < m; ++i) {
    // Distance to DENY (after CHECK's three instructions).
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(denied[i]),
                     static_cast<uint8_t>(m - i - 1 + 1 + 3), 0));
  }
  f.push_back(Stmt(BPF_RET | BPF_K, kAllow));
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, kArg0Low));  // CHECK
  f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, self, 0, 1));
  f.push_back(Stmt(BPF_RET | BPF_K, kAllow));
  f.push_back(Stmt(BPF_RET | BPF_K, kDeny));  // DENY
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    return ErrnoStatus("seccomp", errno);
  }
  return Status::Ok();
#endif
}

}  // namespace nsm::resolver
