// Shared helpers of the store unit tests: a temporary state directory removed at the
// end of each test, monitor builders, and synchronous wrappers around the
// group-committed calls.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace nsm::store::test {

class TempDir {
 public:
  // `base`: the parent directory (e.g. /dev/shm, where fsync costs nothing).
  explicit TempDir(const std::string& base = "/tmp") {
    std::string tmpl = base + "/nsm-store-test-XXXXXX";
    const char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = p != nullptr ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string db() const { return file(NSM_DB_NAME); }
  // Names of the entries in the directory, sorted.
  std::vector<std::string> List() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::unique_ptr<Store> OpenOrDie(const std::string& dir, Options o = {}) {
  auto r = Store::Open(dir, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

inline Monitor MakeMonitor(std::string mon_name, std::string my_name = "server", uint8_t priv0 = 0,
                           std::vector<std::string> addrs = {}, uint32_t prog = 100021,
                           uint32_t vers = 4, uint32_t proc = 16) {
  Monitor m;
  m.key = MonitorKey{std::move(mon_name), std::move(my_name), prog, vers, proc};
  m.priv[0] = priv0;
  m.priv[15] = static_cast<uint8_t>(0xa0 | (priv0 & 0x0f));
  m.addresses = std::move(addrs);
  m.caller = "127.0.0.1";
  m.added = 1700000000;
  return m;
}

inline Status Add(Store& s, Monitor m) {
  std::promise<Status> p;
  auto f = p.get_future();
  s.AddMonitor(std::move(m), [&p](Status st) { p.set_value(std::move(st)); });
  return f.get();
}

inline std::pair<Status, bool> Remove(Store& s, MonitorKey k) {
  std::promise<std::pair<Status, bool>> p;
  auto f = p.get_future();
  s.RemoveMonitor(std::move(k), [&p](Status st, bool removed) {
    p.set_value({std::move(st), removed});
  });
  return f.get();
}

inline std::pair<Status, std::vector<MonitorKey>> RemoveAll(Store& s, const std::string& my_name,
                                                            uint32_t prog = 100021,
                                                            uint32_t vers = 4, uint32_t proc = 16) {
  std::promise<std::pair<Status, std::vector<MonitorKey>>> p;
  auto f = p.get_future();
  s.RemoveAllMonitors(my_name, prog, vers, proc, [&p](Status st, std::vector<MonitorKey> keys) {
    p.set_value({std::move(st), std::move(keys)});
  });
  return f.get();
}

// Runs `fn` in a forked child (for set*id, mount namespaces) and returns what it
// returned: "" for success, else a description of the failure. Call before this
// process starts threads of its own where possible; the child never returns.
inline std::string RunInChild(const std::function<std::string()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    std::string r = fn();
    if (r.empty()) r = "ok";
    (void)!write(fds[1], r.data(), r.size());
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child died: " + out;
  if (out == "ok") return "";
  return out.empty() ? "child wrote nothing" : out;
}

inline std::vector<std::string> MonNames(const std::vector<Monitor>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.key.mon_name);
  return out;
}

}  // namespace nsm::store::test
