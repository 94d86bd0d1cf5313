// Shared fixture of the sidecar resolver's end-to-end tests (resolver_sidecar_test,
// resolver_liveness_test, resolver_priority_test, resolver_identity_test). Each of
// those binaries is also the sidecar's executable (its main() calls MaybeRunSidecar),
// and the sidecar answers from a test hosts table (NSM_RESOLVER_TEST_HOSTS), so no
// test ever queries the machine's DNS.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <asio/executor_work_guard.hpp>

#include "resolver/resolver.h"

namespace nsm::resolver::test_util {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

inline constexpr char kBaseTable[] = R"(# resolver test table
multi    192.0.2.1 2001:db8::1 ::ffff:192.0.2.1 192.0.2.2 2001:DB8::1
one      198.18.0.1
two      198.18.0.2
three    198.18.0.3
nx       nxdomain
tmp      tempfail
hang     hang
hang2    hang
slow     slow 300 192.0.2.9
crash    crash
garbage  garbage
wrongid  wrongid
misroute misroute
freeze   freeze
)";

struct Outcome {
  std::optional<Result<Addresses>> result;
  SteadyClock::time_point at;
  bool done() const { return result.has_value(); }
  Code code() const { return result->status().code(); }
};

inline std::string Join(const Addresses& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : " ") + x.ToString();
  return s;
}

// Fields of a "Key:\tv1\tv2..." line of /proc/<pid>/status.
inline std::vector<std::string> ProcStatus(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::vector<std::string> out;
    for (std::string f; fields >> f;) out.push_back(f);
    return out;
  }
  return {};
}

inline bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

class ResolverSidecar : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-resolver-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    table_ = dir_ + "/hosts";
    std::ofstream(table_) << kBaseTable;
    opts_.test_hosts_file = table_;
    opts_.hang_timeout = 60s;  // tests of hang detection lower it
  }
  void TearDown() override {
    resolver_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddToTable(const std::string& lines) { std::ofstream(table_, std::ios::app) << lines; }
  Resolver& Make() {
    resolver_ = MakeSidecarResolver(io_, opts_);
    return *resolver_;
  }
  std::shared_ptr<Outcome> Start(std::string_view name, std::chrono::milliseconds timeout = 5s,
                                 std::optional<Priority> prio = std::nullopt) {
    auto o = std::make_shared<Outcome>();
    auto cb = [o](Result<Addresses> r) {
      EXPECT_FALSE(o->done()) << "callback ran twice";
      o->result = std::move(r);
      o->at = SteadyClock::now();
    };
    if (prio) {
      resolver_->Resolve(name, timeout, *prio, cb);
    } else {
      resolver_->Resolve(name, timeout, cb);
    }
    EXPECT_FALSE(o->done()) << "callback ran inline";
    return o;
  }
  std::shared_ptr<Outcome> StartRemote(std::string_view name,
                                       std::chrono::milliseconds timeout = 5s) {
    return Start(name, timeout, Priority::kRemote);
  }
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto deadline = SteadyClock::now() + limit;
    while (!done() && SteadyClock::now() < deadline) io_.run_one_for(5ms);
    return done();
  }
  void RunFor(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }
  std::shared_ptr<Outcome> Resolve(std::string_view name, std::chrono::milliseconds t = 5s,
                                   std::optional<Priority> prio = std::nullopt) {
    auto o = Start(name, t, prio);
    EXPECT_TRUE(RunUntil([&] { return o->done(); })) << name;
    return o;
  }
  pid_t Pid() { return SidecarPidForTest(*resolver_); }

  std::string dir_, table_;
  SidecarOptions opts_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<Resolver> resolver_;
};

}  // namespace nsm::resolver::test_util
