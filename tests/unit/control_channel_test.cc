// Control channel: request/answer framing, errors, bounds, SO_PEERCRED access check,
// stale sockets, the daemon handler's JSON, the socket path rule.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "control/client.h"
#include "control/daemon.h"
#include "control/server.h"
#include "hacallout/runner.h"

namespace nsm::control {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-control-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);
    path_ = dir_ + "/ctl.sock";
  }
  void TearDown() override {
    StopThread();
    fs::remove_all(dir_);
  }

  // Serves `server` on a background thread until StopThread().
  void StartThread() {
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void StopThread() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      if (server_) server_->Stop();
      work_.reset();
    });
    thread_.join();
  }

  Handler Echo() {
    return [](const Request& r) -> Json {
      if (r.cmd == "echo") return Json{{"got", r.body}, {"uid", r.uid}};
      if (r.cmd == "fail") return ErrorReply("internal", "as asked");
      return ErrorReply("unknown_command", "unknown command \"" + r.cmd + "\"");
    };
  }

  // Raw exchange: sends `data`, returns everything read until EOF or timeout.
  std::string Raw(const std::string& data, milliseconds wait = milliseconds(2000)) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    timeval tv{static_cast<time_t>(wait.count() / 1000),
               static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (!data.empty()) {
      EXPECT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), ssize_t(data.size()));
    }
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::unique_ptr<Server> server_;
  std::string dir_, path_;
};

TEST_F(ControlTest, RequestAndAnswer) {
  server_ = std::make_unique<Server>(io_, path_, Echo());
  ASSERT_TRUE(server_->Listen().ok());
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  StartThread();

  Result<Json> r = Call(path_, Json{{"cmd", "echo"}, {"x", 5}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["ok"], true);
  EXPECT_EQ((*r)["got"]["x"], 5);
  EXPECT_EQ((*r)["uid"], geteuid());

  r = Call(path_, Json{{"cmd", "nope"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["ok"], false);
  EXPECT_EQ((*r)["code"], "unknown_command");

  // Several requests on one connection, answered in order.
  std::string two = Raw("{\"cmd\":\"echo\",\"n\":1}\n{\"cmd\":\"fail\"}\n", milliseconds(300));
  EXPECT_NE(two.find("\"n\":1"), std::string::npos) << two;
  EXPECT_NE(two.find("as asked"), std::string::npos) << two;
  EXPECT_EQ(std::count(two.begin(), two.end(), '\n'), 2);
}

TEST_F(ControlTest, MalformedRequests) {
  ServerOptions o;
  o.max_request = 100;
  server_ = std::make_unique<Server>(io_, path_, Echo(), o);
  ASSERT_TRUE(server_->Listen().ok());
  StartThread();
  for (const std::string& bad :
       std::vector<std::string>{"not json\n", "[1,2]\n", "{\"x\":1}\n", "{\"cmd\":5}\n"}) {
    std::string a = Raw(bad, milliseconds(300));
    EXPECT_NE(a.find("\"code\":\"bad_request\""), std::string::npos) << bad << " -> " << a;
  }
  // Longer than max_request: answered, then closed (Raw returns at EOF).
  std::string a = Raw("{\"cmd\":\"echo\",\"pad\":\"" + std::string(200, 'x') + "\"}\n");
  EXPECT_NE(a.find("longer than 100 bytes"), std::string::npos) << a;
  EXPECT_EQ(server_->stats().bad_requests, 5u);
}

TEST_F(ControlTest, IdleConnectionsAreClosed) {
  ServerOptions o;
  o.idle_timeout = milliseconds(200);
  server_ = std::make_unique<Server>(io_, path_, Echo(), o);
  ASSERT_TRUE(server_->Listen().ok());
  StartThread();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Raw("", milliseconds(5000)), "");  // EOF from the server, not our time-out
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(3000));
}

TEST_F(ControlTest, NoDaemonAndStaleSocket) {
  Result<Json> r = Call(path_, Json{{"cmd", "ping"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("not running"), std::string::npos);

  // A socket file nobody listens on (a daemon killed with -9).
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  close(fd);
  r = Call(path_, Json{{"cmd", "ping"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);

  // The next daemon replaces it.
  server_ = std::make_unique<Server>(io_, path_, Echo());
  ASSERT_TRUE(server_->Listen().ok());
  StartThread();
  r = Call(path_, Json{{"cmd", "echo"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(ControlTest, RefusesToReplaceANonSocket) {
  std::ofstream(path_) << "precious";
  Server s(io_, path_, Echo());
  Status st = s.Listen();
  EXPECT_FALSE(st.ok());
  std::ifstream f(path_);
  std::string content;
  f >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlTest, OtherUsersAreRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  server_ = std::make_unique<Server>(io_, path_, Echo());
  ASSERT_TRUE(server_->Listen().ok());
  // Fork before any thread exists; the child asks as uid 65534 (nobody).
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    Result<Json> r = Call(path_, Json{{"cmd", "echo"}}, milliseconds(5000));
    if (r.ok()) _exit(11);
    _exit(r.status().code() == Code::kPermission ? 0 : 12);
  }
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) io_.run_for(milliseconds(20));
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_EQ(server_->stats().refused, 1u);
  EXPECT_EQ(server_->stats().requests, 0u);
}

TEST_F(ControlTest, TooManyConnections) {
  ServerOptions o;
  o.max_connections = 1;
  server_ = std::make_unique<Server>(io_, path_, Echo(), o);
  ASSERT_TRUE(server_->Listen().ok());
  StartThread();
  int held = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(connect(held, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  std::this_thread::sleep_for(milliseconds(100));
  Result<Json> r = Call(path_, Json{{"cmd", "echo"}}, milliseconds(2000));
  EXPECT_FALSE(r.ok());
  close(held);
  std::this_thread::sleep_for(milliseconds(100));
  r = Call(path_, Json{{"cmd", "echo"}}, milliseconds(2000));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(ControlTest, DaemonHandler) {
  hacallout::Runner ha(io_, hacallout::Options{"/bin/true"});
  DaemonInfo info{4242, "/var/lib/nfs", "/var/lib/nfs/nsm.db", 1000};
  DaemonSources src;
  src.ha = &ha;
  src.extra = [](Json& st) { st["notify"] = {{"sent", 7}}; };
  Handler h = MakeDaemonHandler(info, src);
  Json ping = h(Request{"ping", Json::object(), 0, 1});
  EXPECT_EQ(ping["pid"], 4242);
  Json status = h(Request{"status", Json::object(), 0, 1});
  EXPECT_EQ(status["ok"], true);
  EXPECT_EQ(status["state_dir"], "/var/lib/nfs");
  EXPECT_EQ(status["database"], "/var/lib/nfs/nsm.db");
  EXPECT_EQ(status["version"], NSM_VERSION);
  EXPECT_EQ(status["ha_callout"], "/bin/true");
  EXPECT_GT(status["uptime"].get<int64_t>(), 0);
  Json stats = h(Request{"stats", Json::object(), 0, 1});
  EXPECT_EQ(stats["stats"]["notify"]["sent"], 7);
  EXPECT_EQ(stats["stats"]["ha_callout"]["started"], 0);
  EXPECT_FALSE(stats["stats"].contains("rpc"));  // no server given
  EXPECT_EQ(h(Request{"reboot", Json::object(), 0, 1})["code"], "unknown_command");
}

TEST(SocketPathTest, FollowsThePidfileRule) {
  EXPECT_EQ(SocketPath(NSM_DEFAULT_STATE_DIR), "/run/rpc.statd.ctl");
  EXPECT_EQ(SocketPath("/nonexistent/nsm/dir"), "/run/rpc.statd_nonexistent_nsm_dir.ctl");
  EXPECT_EQ(SocketPath("/nonexistent/nsm/dir/"), "/run/rpc.statd_nonexistent_nsm_dir.ctl");
  // An existing directory however spelt.
  EXPECT_EQ(SocketPath("/tmp/"), "/run/rpc.statd_tmp.ctl");
  EXPECT_EQ(SocketPath("/tmp/../tmp"), "/run/rpc.statd_tmp.ctl");
  // Too long for sun_path: a digest, the same for the same directory.
  const std::string long_dir = "/nonexistent/" + std::string(150, 'x');
  const std::string p = SocketPath(long_dir);
  EXPECT_EQ(p.rfind("/run/rpc.statd-", 0), 0u) << p;
  EXPECT_LT(p.size(), sizeof(sockaddr_un::sun_path));
  EXPECT_EQ(p, SocketPath(long_dir + "/"));
  EXPECT_NE(p, SocketPath(long_dir + "y"));
}

TEST_F(ControlTest, TooLongPathIsAnErrorNotACrash) {
  Server s(io_, dir_ + "/" + std::string(200, 's'), Echo());
  Status st = s.Listen();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
}

}  // namespace
}  // namespace nsm::control
