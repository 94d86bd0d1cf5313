// Helpers for the privsep unit tests: temporary directories, and running a
// function in a forked child whose verdict comes back through a pipe. The child
// leaves with _exit(), so no gtest or sanitizer exit handlers run twice.
#pragma once

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace nsm::privsep::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nsm-privsep-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ChildResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string report;  // what the child function returned ("" = all good)
};

// Reads everything from fd until EOF.
inline std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Runs fn in a forked child; fn returns "" on success or a description of what
// went wrong. Waits for the child.
inline ChildResult RunInChild(const std::function<std::string()>& fn) {
  int p[2];
  if (pipe(p) != 0) return {-1, "pipe failed"};
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    std::string r = fn();
    ssize_t ignored = write(p[1], r.data(), r.size());
    (void)ignored;
    _exit(r.empty() ? 0 : 1);
  }
  close(p[1]);
  ChildResult out;
  out.report = ReadAll(p[0]);
  close(p[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// The uid/gid of the `statd` user, if this machine has one.
inline std::optional<std::pair<uid_t, gid_t>> StatdUser() {
  struct passwd* pw = getpwnam("statd");
  if (pw == nullptr) return std::nullopt;
  return std::make_pair(pw->pw_uid, pw->pw_gid);
}

}  // namespace nsm::privsep::testing
