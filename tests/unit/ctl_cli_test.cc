// statdctl commands run in-process on temporary state directories: output, JSON,
// exit codes and error paths (no store, no daemon, bad input, usage), export | import
// between two directories, stats from a control server.
#include "ctl/cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "control/daemon.h"
#include "control/json.h"
#include "control/server.h"
#include "ctl/legacy.h"

namespace nsm::ctl {
namespace {

namespace fs = std::filesystem;
using control::Json;

struct Out {
  int code = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-ctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    a_ = root_ + "/a";
    b_ = root_ + "/b";
    fs::create_directories(a_);
    fs::create_directories(b_);
    sock_ = root_ + "/ctl.sock";
  }
  void TearDown() override { fs::remove_all(root_); }

  // statdctl -P dir --socket sock ARGS..., stdin = in.
  Out Run(const std::string& dir, std::vector<std::string> args, const std::string& in = "") {
    std::vector<std::string> all = {"-P", dir, "--socket", sock_};
    all.insert(all.end(), args.begin(), args.end());
    std::ostringstream out, err;
    std::istringstream input(in);
    Out o;
    o.code = Main(all, out, err, input);
    o.out = out.str();
    o.err = err.str();
    return o;
  }

  Json RunJson(const std::string& dir, std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    Out o = Run(dir, args);
    EXPECT_EQ(o.code, 0) << o.err;
    Result<Json> j = control::ParseJson(o.out);
    EXPECT_TRUE(j.ok()) << o.out;
    return j.ok() ? *j : Json();
  }

  std::string root_, a_, b_, sock_;
};

TEST_F(CliTest, UsageErrors) {
  std::ostringstream out, err;
  std::istringstream in;
  EXPECT_EQ(Main({}, out, err, in), kExitUsage);
  EXPECT_EQ(Main({"frobnicate"}, out, err, in), kExitUsage);
  EXPECT_EQ(Main({"list", "--bogus"}, out, err, in), kExitUsage);
  EXPECT_EQ(Main({"status", "--prometheus"}, out, err, in), kExitUsage);  // not for status
  EXPECT_EQ(Main({"-P"}, out, err, in), kExitUsage);
  EXPECT_EQ(Main({"forget", "a", "b"}, out, err, in), kExitUsage);
  EXPECT_EQ(Main({"--help"}, out, err, in), kExitOk);
  EXPECT_NE(out.str().find("Exit codes"), std::string::npos);
  EXPECT_EQ(Run(a_, {"add", "x", "--prog", "abc"}).code, kExitUsage);
  EXPECT_EQ(Run(a_, {"add", "bad/name"}).code, kExitUsage);
  EXPECT_EQ(Run(a_, {"add", "x", "--priv", "123"}).code, kExitUsage);
  EXPECT_EQ(Run(a_, {"notify"}).code, kExitUsage);
  EXPECT_EQ(Run(a_, {"notify", "p", "--all"}).code, kExitUsage);
}

TEST_F(CliTest, NoStore) {
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"status"}, {"list"}, {"export"}, {"add", "h"}, {"remove", "h"}, {"forget", "h"}}) {
    Out o = Run(a_, cmd);
    EXPECT_EQ(o.code, kExitNoStore) << cmd[0] << ": " << o.err;
    EXPECT_NE(o.err.find("no database"), std::string::npos) << o.err;
  }
  Out o = Run(root_ + "/missing", {"status"});
  EXPECT_EQ(o.code, kExitNoStore);
  EXPECT_NE(o.err.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(a_ + "/" NSM_DB_NAME));  // reading never creates
}

TEST_F(CliTest, AddListRemoveForget) {
  // import of an empty export creates the database.
  ASSERT_EQ(Run(a_, {"import"}, R"({"format":"nsm-state","version":1})").code, kExitOk);
  Out o = Run(
      a_, {"add", "198.18.1.2", "--my-name", "me", "--priv", "000102030405060708090a0b0c0d0e0f"});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  ASSERT_EQ(Run(a_, {"add", "198.18.1.2", "--my-name", "ganesha", "--vers", "4"}).code, kExitOk);
  ASSERT_EQ(Run(a_, {"add", "Peer.Example", "--my-name", "me", "--address", "198.18.3.2"}).code,
            kExitOk);

  o = Run(a_, {"list"});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  EXPECT_NE(o.out.find("Monitors (3):"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("MON_NAME"), std::string::npos);
  EXPECT_NE(o.out.find("100021/4/16"), std::string::npos);
  EXPECT_NE(o.out.find("Notify list (0):"), std::string::npos);

  Json j = RunJson(a_, {"list", "--monitors"});
  ASSERT_EQ(j["monitors"].size(), 3u);
  EXPECT_FALSE(j.contains("notify"));
  EXPECT_EQ(j["monitors"][0]["priv"], "000102030405060708090a0b0c0d0e0f");
  EXPECT_EQ(j["monitors"][0]["addresses"][0], "198.18.1.2");
  EXPECT_EQ(j["monitors"][2]["addresses"][0], "198.18.3.2");

  j = RunJson(a_, {"status"});
  EXPECT_EQ(j["monitors"], 3);
  EXPECT_EQ(j["state"], 1);
  EXPECT_EQ(j["daemon"]["running"], false);
  o = Run(a_, {"status"});
  EXPECT_EQ(o.code, kExitOk);  // no daemon is not an error for status
  EXPECT_NE(o.out.find("not running"), std::string::npos) << o.out;

  // remove: exact mon_name, filtered.
  o = Run(a_, {"remove", "198.18.1.2", "--my-name", "ganesha"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_NE(o.out.find("removed 1 monitor"), std::string::npos);
  EXPECT_EQ(Run(a_, {"remove", "198.18.1.2", "--my-name", "ganesha"}).code, kExitNotFound);
  EXPECT_EQ(Run(a_, {"remove", "nobody.example"}).code, kExitNotFound);

  // forget: case-insensitive, monitors and notify entries.
  o = Run(a_, {"forget", "peer.EXAMPLE"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_NE(o.out.find("1 monitor(s)"), std::string::npos) << o.out;
  EXPECT_EQ(Run(a_, {"forget", "peer.example"}).code, kExitNotFound);
  j = RunJson(a_, {"list"});
  ASSERT_EQ(j["monitors"].size(), 1u);
  EXPECT_EQ(j["monitors"][0]["my_name"], "me");
}

TEST_F(CliTest, ExportImportBetweenDirectories) {
  const std::string dump = R"({"format":"nsm-state","version":1,"state":57,
    "monitors":[{"mon_name":"198.18.1.2","my_name":"me","my_prog":100021,"my_vers":3,
      "my_proc":16,"priv":"0102030405060708090a0b0c0d0e0f10","addresses":["198.18.1.2"],
      "caller":"127.0.0.1","added":1700000000}],
    "notify":[{"mon_name":"gone.example","my_name":"me","addresses":["198.18.9.9"],
      "status":"pending","attempts":2,"last_error":"timed out","added":1700000001,
      "last_attempt":1700000002}]})";
  Out o = Run(a_, {"import", "-"}, dump);
  ASSERT_EQ(o.code, kExitOk) << o.err;
  EXPECT_NE(o.out.find("imported 1 monitor(s) and 1 notify entry"), std::string::npos) << o.out;

  o = Run(a_, {"export"});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  Out in = Run(b_, {"import"}, o.out);
  ASSERT_EQ(in.code, kExitOk) << in.err;
  Json ja = RunJson(a_, {"list"}), jb = RunJson(b_, {"list"});
  EXPECT_EQ(ja, jb);
  EXPECT_EQ(RunJson(b_, {"status"})["state"], 57);
  EXPECT_EQ(jb["notify"][0]["attempts"], 2);
  EXPECT_EQ(jb["notify"][0]["last_error"], "timed out");

  // -o FILE, then import FILE.
  const std::string file = root_ + "/export.json";
  ASSERT_EQ(Run(a_, {"export", "-o", file}).code, kExitOk);
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string c = root_ + "/c";
  fs::create_directories(c);
  ASSERT_EQ(Run(c, {"import", file}).code, kExitOk);
  EXPECT_EQ(RunJson(c, {"list"}), ja);
}

TEST_F(CliTest, ImportRejectsBadInput) {
  for (const std::string& bad : std::vector<std::string>{
           "", "{", "[]", R"({"format":"other"})",
           R"({"format":"nsm-state","version":1,"monitors":[{"mon_name":"x"}]})"}) {
    Out o = Run(a_, {"import"}, bad);
    EXPECT_EQ(o.code, kExitBadInput) << bad << ": " << o.err;
  }
  EXPECT_FALSE(fs::exists(a_ + "/" NSM_DB_NAME));  // nothing was created
  EXPECT_EQ(Run(a_, {"import", root_ + "/no-such-file"}).code, kExitBadInput);
  EXPECT_EQ(Run(a_, {"import", "--legacy", root_ + "/no-such-dir"}).code, kExitBadInput);
}

TEST_F(CliTest, LegacyImportAndExport) {
  const std::string legacy = root_ + "/nfs";
  fs::create_directories(legacy + "/sm");
  fs::create_directories(legacy + "/sm.bak");
  std::ofstream(legacy + "/sm/localhost")
      << "0100007f 000186b5 00000003 00000010 00000000000000000000000000000000 127.0.0.1 me\n";
  std::ofstream(legacy + "/sm.bak/198.18.4.2")
      << "0100007f 000186b5 00000003 00000010 00000000000000000000000000000000 198.18.4.2 me\n";
  const int32_t state = 12;
  std::ofstream(legacy + "/state", std::ios::binary)
      .write(reinterpret_cast<const char*>(&state), 4);

  Out o = Run(a_, {"import", "--legacy", legacy});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  Json j = RunJson(a_, {"status"});
  EXPECT_EQ(j["state"], 12);
  EXPECT_EQ(j["monitors"], 1);
  EXPECT_EQ(j["notify"]["pending"], 1);

  // A bad line: refused as a whole, unless --skip-invalid.
  std::ofstream(legacy + "/sm/broken") << "not a record\n";
  o = Run(b_, {"import", "--legacy", legacy});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_NE(o.err.find("sm/broken line 1"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(b_ + "/" NSM_DB_NAME));
  o = Run(b_, {"import", "--legacy", legacy, "--skip-invalid"});
  EXPECT_EQ(o.code, kExitOk) << o.err;

  // Export for a downgrade, then read it back.
  const std::string out = root_ + "/down";
  o = Run(a_, {"export", "--legacy", out});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  Result<LegacyDir> back = ReadLegacyDir(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data.state, 12u);
  ASSERT_EQ(back->data.monitors.size(), 1u);
  EXPECT_EQ(back->data.monitors[0].key.mon_name, "127.0.0.1");
  ASSERT_EQ(back->data.notify.size(), 1u);
  // Not into a directory that already holds records, unless --force.
  EXPECT_EQ(Run(a_, {"export", "--legacy", out}).code, kExitError);
  EXPECT_EQ(Run(a_, {"export", "--legacy", out, "--force"}).code, kExitOk);
}

TEST_F(CliTest, StatsNeedsTheDaemon) {
  ASSERT_EQ(Run(a_, {"import"}, R"({"format":"nsm-state","version":1,"state":7})").code, 0);
  Out o = Run(a_, {"stats"});
  EXPECT_EQ(o.code, kExitNoDaemon);
  EXPECT_NE(o.err.find("not running"), std::string::npos) << o.err;
  o = Run(a_, {"stats", "--prometheus"});
  EXPECT_EQ(o.code, kExitNoDaemon);
  EXPECT_NE(o.out.find("nsm_up 0\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("nsm_state 7\n"), std::string::npos) << o.out;
}

TEST_F(CliTest, StatsAndStatusFromTheDaemon) {
  ASSERT_EQ(Run(a_, {"import"}, R"({"format":"nsm-state","version":1,"state":9})").code, 0);
  asio::io_context io;
  control::DaemonInfo info{12345, a_, a_ + "/" NSM_DB_NAME, 1};
  control::DaemonSources src;
  src.extra = [](Json& st) { st["sm"] = {{"calls", {{"SM_MON", 4}}}}; };
  control::Server server(io, sock_, control::MakeDaemonHandler(info, src));
  ASSERT_TRUE(server.Listen().ok());
  auto work = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });

  Out o = Run(a_, {"stats", "--prometheus"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_NE(o.out.find("nsm_up 1\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("nsm_sm_calls_total{proc=\"SM_MON\"} 4\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("nsm_state 9\n"), std::string::npos) << o.out;
  Json j = RunJson(a_, {"stats"});
  EXPECT_EQ(j["pid"], 12345);
  EXPECT_EQ(j["stats"]["sm"]["calls"]["SM_MON"], 4);
  o = Run(a_, {"stats"});
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_NE(o.out.find("sm.calls.SM_MON"), std::string::npos) << o.out;
  j = RunJson(a_, {"status"});
  EXPECT_EQ(j["daemon"]["running"], true);
  EXPECT_EQ(j["daemon"]["pid"], 12345);

  asio::post(io, [&] {
    server.Stop();
    work.reset();
  });
  t.join();
}

TEST_F(CliTest, NotifyUnknownPeer) {
  ASSERT_EQ(Run(a_, {"import"}, R"({"format":"nsm-state","version":1})").code, 0);
  EXPECT_EQ(Run(a_, {"notify", "nobody"}).code, kExitNotFound);
  Out o = Run(a_, {"notify", "--all"});
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_NE(o.out.find("empty"), std::string::npos);
}

}  // namespace
}  // namespace nsm::ctl
