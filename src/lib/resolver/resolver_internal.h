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

// argv of a sidecar: {"nsm-resolver", kSidecarRoleArg, "3", "threads=<n>", "user=<name>"}.
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

// Sandbox steps of the sidecar (sidecar_sandbox.cc). DropPrivileges: when root and
// user is not empty, setgroups/setresgid/setresuid to user and verify root is gone.
// ForbidFilesystemWrites: a Landlock domain denying every filesystem modification
// (and, from Landlock ABI 6, signals and abstract sockets outside the domain); needs
// no_new_privs; returns the Landlock ABI version. Both act on the calling thread's
// credentials/domain only, so they run before any other thread is started.
Status DropPrivileges(const std::string& user);
Result<int> ForbidFilesystemWrites();

// The sidecar process itself (sidecar_main.cc). Never returns.
[[noreturn]] void RunSidecarProcess(int fd, int threads, const std::string& user);

}  // namespace nsm::resolver
