// Parent side of the sidecar's process model: posix_spawn (safe in a multi-threaded
// parent, unlike fork) of the program itself in the sidecar role, and non-blocking
// reaping. The socketpair is created close-on-exec on both ends so that no other
// child of this process inherits it; only the dup2 to fd 3 in the spawn actions
// makes the child's end survive its exec.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "resolver/resolver_internal.h"
#include "resolver/test_table.h"

extern char** environ;

namespace nsm::resolver {
namespace {

// Owns the posix_spawn attribute objects.
struct SpawnAttrs {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  SpawnAttrs() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
};

std::vector<std::string> ChildEnvironment(const SidecarOptions& opts) {
  std::vector<std::string> env;
  const std::string prefix = std::string(kTestHostsEnv) + "=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env.emplace_back(*e);
  }
  if (!opts.test_hosts_file.empty()) env.push_back(prefix + opts.test_hosts_file);
  return env;
}

}  // namespace

Result<SpawnedSidecar> SpawnSidecar(const SidecarOptions& opts) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("resolver: socketpair", errno);
  }
  int parent_end = sv[0], child_end = sv[1];
  if (child_end == kSidecarFd) {
    // dup2(3, 3) would leave close-on-exec set; move it out of the way first.
    int moved = fcntl(child_end, F_DUPFD_CLOEXEC, kSidecarFd + 1);
    int err = errno;
    close(child_end);
    if (moved < 0) {
      close(parent_end);
      return ErrnoStatus("resolver: fcntl(F_DUPFD_CLOEXEC)", err);
    }
    child_end = moved;
  }

  SpawnAttrs a;
  int rc = posix_spawn_file_actions_addopen(&a.fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&a.fa, 1, "/dev/null", O_WRONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&a.fa, child_end, kSidecarFd);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&a.fa, kSidecarFd + 1);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  }
  if (rc == 0) rc = posix_spawnattr_setsigmask(&a.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&a.attr, &defaults);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&a.attr, 0);
  if (rc == 0) {
    rc = posix_spawnattr_setflags(
        &a.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  if (rc != 0) {
    close(parent_end);
    close(child_end);
    return ErrnoStatus("resolver: posix_spawn attributes", rc);
  }

  int threads = std::clamp(opts.child_threads, 1, kMaxChildThreads);
  DropTarget target{opts.drop_to_user, opts.drop_to_uid, opts.drop_to_gid};
  std::vector<std::string> args = {"nsm-resolver", kSidecarRoleArg, std::to_string(kSidecarFd),
                                   "threads=" + std::to_string(threads), DropTargetArg(target)};
  std::vector<std::string> env = ChildEnvironment(opts);
  std::vector<char*> argv, envp;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  rc = posix_spawn(&pid, opts.exe.c_str(), &a.fa, &a.attr, argv.data(), envp.data());
  close(child_end);
  if (rc != 0) {
    close(parent_end);
    return ErrnoStatus("resolver: posix_spawn " + opts.exe, rc);
  }
  return SpawnedSidecar{pid, parent_end};
}

std::optional<std::string> TryReap(pid_t pid) {
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  if (r < 0) return std::string("already reaped (") + std::strerror(errno) + ")";
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* name = sigabbrev_np(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(st);
}

}  // namespace nsm::resolver
