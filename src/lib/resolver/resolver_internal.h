// Internals shared by the resolver's files: the sidecar role arguments, name
// folding, and process spawning/reaping. Not part of the module's public API.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "resolver/resolver.h"

namespace nsm::resolver {

// argv of a sidecar: {"nsm-resolver", kSidecarRoleArg, "3", "threads=<n>", <who>}, where
// <who> is "user=<name>" or "ids=<uid>:<gid>" (SidecarOptions::drop_to_uid/gid).
inline constexpr char kSidecarRoleArg[] = "--nsm-resolver-sidecar";
inline constexpr int kSidecarFd = 3;  // the socketpair end inside the sidecar
inline constexpr int kMaxChildThreads = 64;

// ASCII lower case: the cache, coalescing and test-table key of a name.
std::string LowerName(std::string_view name);

struct SpawnedSidecar {
  pid_t pid = -1;
  int fd = -1;  // the parent's end (SOCK_SEQPACKET, close-on-exec); caller owns it
};
// posix_spawn of opts.exe in the sidecar role with one end of a new socketpair as
// fd 3, fds 0/1 on /dev/null, fd 2 inherited, nothing else; signals reset to default
// and unblocked; own process group; environment = ours minus kTestHostsEnv, plus
// kTestHostsEnv=opts.test_hosts_file when that is set.
Result<SpawnedSidecar> SpawnSidecar(const SidecarOptions& opts);

// waitpid(pid, WNOHANG): a description of how it ended ("exited with status 1",
// "killed by signal 9", or "already reaped" on ECHILD), or nullopt while it runs.
std::optional<std::string> TryReap(pid_t pid);

// Whom a sidecar started as root becomes: numeric ids when uid is set, else the user
// named `user` (empty: stay root, tests only).
struct DropTarget {
  std::string user;
  std::optional<uid_t> uid;
  gid_t gid = 0;
};
// The <who> argument for a target, and back (nullopt: malformed).
std::string DropTargetArg(const DropTarget& t);
std::optional<DropTarget> ParseDropTargetArg(std::string_view arg);

// Sandbox steps of the sidecar (sidecar_sandbox.cc). DropPrivileges: when root and a
// target is given, setgroups/setresgid/setresuid to it and verify root is gone (uid 0
// or an unknown user is refused). ForbidFilesystemWrites: a Landlock domain denying
// every filesystem modification (and, from Landlock ABI 6, signals and abstract
// sockets outside the domain); needs no_new_privs; returns the Landlock ABI version.
// ForbidSignalsToOthers: a seccomp filter that lets the process signal only itself
// (kill/tgkill/rt_sigqueueinfo/rt_tgsigqueueinfo aimed elsewhere, tkill and
// pidfd_send_signal fail with EPERM), since the sidecar may share the daemon's uid;
// needs no_new_privs. All act on the calling thread only, so they run before any
// other thread is started.
Status DropPrivileges(const DropTarget& target);
Result<int> ForbidFilesystemWrites();
Status ForbidSignalsToOthers();

// The sidecar process itself (sidecar_main.cc). Never returns.
[[noreturn]] void RunSidecarProcess(int fd, int threads, const DropTarget& target);

}  // namespace nsm::resolver
