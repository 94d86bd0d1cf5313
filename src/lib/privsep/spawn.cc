// SpawnAndWait.
#include "privsep/spawn.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <thread>

extern char** environ;

namespace nsm::privsep {

Result<int> SpawnAndWait(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (argv.empty()) return Status(Code::kInvalidArgument, "empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) return ErrnoStatus("cannot run " + argv[0], rc);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return ErrnoStatus("waitpid " + argv[0], errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return Status(Code::kTimeout, argv[0] + " did not finish within " +
                                        std::to_string(timeout.count()) + " s; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFSIGNALED(status)) {
    return Status(Code::kInternal, argv[0] + " died of signal " + std::to_string(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

std::string SelfDirectory() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace nsm::privsep
