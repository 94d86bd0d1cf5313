// rpc.statd options: every option in short and long form, nfs.conf keys,
// precedence (defaults < environment < nfs.conf < command line), bad values.
#include "config/statd_options.h"

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"

namespace nsm::config {
namespace {

using testing::Argv;
using testing::ScopedEnv;
using testing::TempDir;

NfsConf Conf(std::string_view text) {
  Result<NfsConf> c = NfsConf::Parse(text, "/etc/nfs.conf");
  EXPECT_TRUE(c.ok());
  return c.ok() ? *c : NfsConf();
}

// Parses with no RPC_STATD_NO_NOTIFY / NSM_NFS_CONF in the environment.
Result<StatdOptions> Parse(Argv&& args, const NfsConf& conf = NfsConf()) {
  ScopedEnv e1("RPC_STATD_NO_NOTIFY", std::nullopt);
  ScopedEnv e2("NSM_NFS_CONF", std::nullopt);
  return ParseStatdOptions(args.argc(), args.argv(), conf);
}

std::string Error(Argv&& args, const NfsConf& conf = NfsConf()) {
  Result<StatdOptions> r = Parse(std::move(args), conf);
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(StatdOptions, Defaults) {
  Result<StatdOptions> r = Parse({"rpc.statd"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 0);
  EXPECT_EQ(r->outgoing_port, 0);
  EXPECT_EQ(r->name, std::nullopt);
  EXPECT_EQ(r->state_dir, NSM_DEFAULT_STATE_DIR);
  EXPECT_EQ(r->ha_callout, std::nullopt);
  EXPECT_FALSE(r->foreground || r->no_syslog || r->no_notify || r->notify_only);
  EXPECT_EQ(r->nlm_port, 0);
  EXPECT_EQ(r->nlm_udp_port, 0);
  EXPECT_FALSE(r->debug || r->help || r->version);
  EXPECT_EQ(r->config_path, "/etc/nfs.conf");
  EXPECT_FALSE(r->LogToStderr());
}

TEST(StatdOptions, ShortOptions) {
  Result<StatdOptions> r =
      Parse({"rpc.statd", "-F", "-d", "-L", "-N", "-p", "662", "-o2020", "-n", "server.example",
             "-P", "/srv/nfs/statd", "-H", "/usr/lib/callout", "-T", "4045", "-U", "4046"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->foreground);
  EXPECT_TRUE(r->no_syslog);
  EXPECT_TRUE(r->LogToStderr());
  EXPECT_TRUE(r->no_notify);
  EXPECT_TRUE(r->notify_only);
  EXPECT_EQ(r->port, 662);
  EXPECT_EQ(r->outgoing_port, 2020);
  EXPECT_EQ(r->name, "server.example");
  EXPECT_EQ(r->state_dir, "/srv/nfs/statd");
  EXPECT_EQ(r->ha_callout, "/usr/lib/callout");
  EXPECT_EQ(r->nlm_port, 4045);
  EXPECT_EQ(r->nlm_udp_port, 4046);
}

TEST(StatdOptions, LongOptions) {
  Result<StatdOptions> r =
      Parse({"rpc.statd", "--foreground", "--no-syslog", "--no-notify", "--notify-mode",
             "--port=662", "--outgoing-port", "2020", "--name=10.0.0.1", "--state-directory-path",
             "/var/lib/nfs2", "--ha-callout=/bin/ha", "--nlm-port", "4045", "--nlm-udp-port=4046",
             "--config=/tmp/nsm.conf"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->foreground && r->no_syslog && r->no_notify && r->notify_only);
  EXPECT_EQ(r->port, 662);
  EXPECT_EQ(r->outgoing_port, 2020);
  EXPECT_EQ(r->name, "10.0.0.1");
  EXPECT_EQ(r->state_dir, "/var/lib/nfs2");
  EXPECT_EQ(r->ha_callout, "/bin/ha");
  EXPECT_EQ(r->nlm_port, 4045);
  EXPECT_EQ(r->nlm_udp_port, 4046);
  EXPECT_EQ(r->config_path, "/tmp/nsm.conf");
}

TEST(StatdOptions, LongOptionAbbreviations) {
  Result<StatdOptions> r = Parse({"rpc.statd", "--fore", "--no-s", "--state=/x"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->foreground && r->no_syslog);
  EXPECT_EQ(r->state_dir, "/x");
}

TEST(StatdOptions, HelpAndVersion) {
  for (const char* h : {"-h", "-?", "--help"}) {
    Result<StatdOptions> r = Parse({"rpc.statd", h});
    ASSERT_TRUE(r.ok()) << h;
    EXPECT_TRUE(r->help) << h;
  }
  for (const char* v : {"-v", "-V", "--version"}) {
    Result<StatdOptions> r = Parse({"rpc.statd", v});
    ASSERT_TRUE(r.ok()) << v;
    EXPECT_TRUE(r->version) << v;
  }
  // Like nfs-utils, -h acts when it is reached: what follows is not looked at...
  Result<StatdOptions> first = Parse({"rpc.statd", "-h", "-p", "bad"});
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->help);
  // ...nor is a broken nfs.conf.
  Result<StatdOptions> conf = Parse({"rpc.statd", "-V"}, Conf("[statd]\nport = x\n"));
  ASSERT_TRUE(conf.ok());
  EXPECT_TRUE(conf->version);
  // But an error before it counts.
  EXPECT_NE(Error({"rpc.statd", "-p", "bad", "-h"}), "<ok>");
}

TEST(StatdOptions, BadPorts) {
  for (const char* bad : {"0", "65536", "-1", "abc", "12abc", "", "1e3", " 5", "999999"}) {
    std::string e = Error({"rpc.statd", "-p", bad});
    EXPECT_NE(e.find("bad port number"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(Error({"rpc.statd", "-o", bad}), "<ok>") << bad;
    EXPECT_NE(Error({"rpc.statd", "-T", bad}).find("bad nlm port number"), std::string::npos);
    EXPECT_NE(Error({"rpc.statd", "-U", bad}).find("bad nlm UDP port number"), std::string::npos);
  }
  Result<StatdOptions> edge = Parse({"rpc.statd", "-p", "1", "-o", "65535"});
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(edge->port, 1);
  EXPECT_EQ(edge->outgoing_port, 65535);
}

TEST(StatdOptions, UsageErrors) {
  EXPECT_EQ(Error({"rpc.statd", "-x"}), "invalid option -- 'x'");
  EXPECT_EQ(Error({"rpc.statd", "-Fx"}), "invalid option -- 'x'");
  EXPECT_EQ(Error({"rpc.statd", "--bogus"}), "unrecognized option '--bogus'");
  EXPECT_EQ(Error({"rpc.statd", "-p"}), "option requires an argument -- 'p'");
  EXPECT_EQ(Error({"rpc.statd", "--port"}), "option '--port' requires an argument");
  EXPECT_EQ(Error({"rpc.statd", "--foreground=yes"}),
            "option '--foreground' doesn't allow an argument");
  EXPECT_EQ(Error({"rpc.statd", "--no"}), "option '--no' is ambiguous");
  EXPECT_EQ(Error({"rpc.statd", "--nlm"}), "option '--nlm' is ambiguous");
  EXPECT_EQ(Error({"rpc.statd", "-F", "stray"}), "unexpected argument 'stray'");
  EXPECT_NE(Error({"rpc.statd", "-P", "relative/dir"}).find("not an absolute path"),
            std::string::npos);
  EXPECT_NE(Error({"rpc.statd", "-n", ""}), "<ok>");
  EXPECT_NE(Error({"rpc.statd", "-n", "two words"}), "<ok>");
  EXPECT_NE(Error({"rpc.statd", "-n", std::string(1025, 'a')}), "<ok>");
  EXPECT_NE(Error({"rpc.statd", "-H", ""}), "<ok>");
  EXPECT_NE(Error({"rpc.statd", "--config="}), "<ok>");
}

TEST(StatdOptions, SameListeningAndOutgoingPort) {
  EXPECT_NE(Error({"rpc.statd", "-p", "700", "-o", "700"}).find("cannot be the same"),
            std::string::npos);
  // Also when one comes from nfs.conf (nfs-utils checks after merging).
  EXPECT_NE(Error({"rpc.statd", "-p", "700"}, Conf("[statd]\noutgoing-port = 700\n")), "<ok>");
}

TEST(StatdOptions, ArgvIsNotPermuted) {
  Argv a{"rpc.statd", "-F", "-p", "662", "-L"};
  std::vector<char*> before = a.pointers();
  ScopedEnv e("RPC_STATD_NO_NOTIFY", std::nullopt);
  Result<StatdOptions> r = ParseStatdOptions(a.argc(), a.argv(), NfsConf());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a.pointers(), before);
  // And it can be parsed twice with the same result (getopt state is reset).
  Result<StatdOptions> again = ParseStatdOptions(a.argc(), a.argv(), NfsConf());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->port, 662);
}

TEST(StatdOptions, ConfKeys) {
  NfsConf conf = Conf(
      "[statd]\n"
      "port = 662\n"
      "outgoing-port = 2020\n"
      "name = nfs.example\n"
      "state-directory-path = /var/lib/nfs/statd\n"
      "ha-callout = /usr/sbin/ha\n"
      "no-notify = yes\n"
      "debug = all\n"
      "[lockd]\n"
      "port = 4045\n"
      "udp-port = 4046\n");
  Result<StatdOptions> r = Parse({"rpc.statd"}, conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 662);
  EXPECT_EQ(r->outgoing_port, 2020);
  EXPECT_EQ(r->name, "nfs.example");
  EXPECT_EQ(r->state_dir, "/var/lib/nfs/statd");
  EXPECT_EQ(r->ha_callout, "/usr/sbin/ha");
  EXPECT_TRUE(r->no_notify);
  EXPECT_TRUE(r->debug);
  EXPECT_EQ(r->nlm_port, 4045);
  EXPECT_EQ(r->nlm_udp_port, 4046);
}

TEST(StatdOptions, DebianDefaultsMeanUnset) {
  // Debian's /etc/nfs.conf, uncommented: zeros and empty values are defaults.
  NfsConf conf = Conf(
      "[lockd]\nport=0\nudp-port=0\n"
      "[statd]\ndebug=0\nport=0\noutgoing-port=0\nname=\nha-callout=\nno-notify=0\n");
  Result<StatdOptions> r = Parse({"rpc.statd"}, conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 0);
  EXPECT_EQ(r->outgoing_port, 0);
  EXPECT_EQ(r->name, std::nullopt);
  EXPECT_EQ(r->ha_callout, std::nullopt);
  EXPECT_FALSE(r->no_notify);
  EXPECT_FALSE(r->debug);
  EXPECT_EQ(r->nlm_port, 0);
  EXPECT_EQ(r->nlm_udp_port, 0);
}

TEST(StatdOptions, CommandLineWinsOverConf) {
  NfsConf conf = Conf(
      "[statd]\nport = 662\noutgoing-port = 2020\nname = conf-name\n"
      "state-directory-path = /conf/dir\nha-callout = /conf/ha\n"
      "[lockd]\nport = 4045\nudp-port = 4046\n");
  Result<StatdOptions> r = Parse({"rpc.statd", "-p", "700", "-o", "701", "-n", "cli-name", "-P",
                                  "/cli/dir", "-H", "/cli/ha", "-T", "5000", "-U", "5001"},
                                 conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 700);
  EXPECT_EQ(r->outgoing_port, 701);
  EXPECT_EQ(r->name, "cli-name");
  EXPECT_EQ(r->state_dir, "/cli/dir");
  EXPECT_EQ(r->ha_callout, "/cli/ha");
  EXPECT_EQ(r->nlm_port, 5000);
  EXPECT_EQ(r->nlm_udp_port, 5001);
}

TEST(StatdOptions, NlmUdpPortFollowsTcpPortUnlessSet) {
  Result<StatdOptions> t = Parse({"rpc.statd", "-T", "4045"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->nlm_udp_port, 4045);
  Result<StatdOptions> c = Parse({"rpc.statd"}, Conf("[lockd]\nport = 4045\n"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->nlm_udp_port, 4045);
  Result<StatdOptions> cli_over_conf =
      Parse({"rpc.statd", "-T", "5000"}, Conf("[lockd]\nport = 4045\n"));
  ASSERT_TRUE(cli_over_conf.ok());
  EXPECT_EQ(cli_over_conf->nlm_port, 5000);
  EXPECT_EQ(cli_over_conf->nlm_udp_port, 5000);
  Result<StatdOptions> conf_udp =
      Parse({"rpc.statd", "-T", "5000"}, Conf("[lockd]\nudp-port = 4046\n"));
  ASSERT_TRUE(conf_udp.ok());
  EXPECT_EQ(conf_udp->nlm_udp_port, 4046);
  Result<StatdOptions> u_only = Parse({"rpc.statd", "-U", "4046"});
  ASSERT_TRUE(u_only.ok());
  EXPECT_EQ(u_only->nlm_port, 0);
  EXPECT_EQ(u_only->nlm_udp_port, 4046);
}

TEST(StatdOptions, BadConfValuesNameTheLine) {
  std::string e = Error({"rpc.statd"}, Conf("[statd]\n\nport = 70000\n"));
  EXPECT_NE(e.find("/etc/nfs.conf:3"), std::string::npos) << e;
  EXPECT_NE(e.find("not a port number"), std::string::npos) << e;
  EXPECT_NE(Error({"rpc.statd"}, Conf("[statd]\noutgoing-port = abc\n")).find(":2:"),
            std::string::npos);
  EXPECT_NE(Error({"rpc.statd"}, Conf("[lockd]\nudp-port = -1\n")), "<ok>");
  EXPECT_NE(Error({"rpc.statd"}, Conf("[statd]\nno-notify = perhaps\n")).find("not a boolean"),
            std::string::npos);
  EXPECT_NE(Error({"rpc.statd"}, Conf("[statd]\nstate-directory-path = rel\n")).find(":2:"),
            std::string::npos);
  EXPECT_NE(Error({"rpc.statd"}, Conf("[statd]\nname = 'a b'\n")), "<ok>");
  // A bad value the command line overrides does not matter.
  NfsConf bad = Conf("[statd]\nport = x\nno-notify = maybe\n[lockd]\nport = y\nudp-port = z\n");
  Result<StatdOptions> r = Parse({"rpc.statd", "-p", "700", "-L", "-T", "1", "-U", "2"}, bad);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(StatdOptions, EnvironmentNoNotify) {
  struct Case {
    const char* value;
    bool no_notify;
  };
  for (Case c : {Case{"1", true}, Case{"2", true}, Case{"7x", true}, Case{"0", false},
                 Case{"", false}, Case{"yes", false}, Case{"-1", false}}) {
    ScopedEnv e("RPC_STATD_NO_NOTIFY", c.value);
    Argv a{"rpc.statd"};
    Result<StatdOptions> r = ParseStatdOptions(a.argc(), a.argv(), NfsConf());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->no_notify, c.no_notify) << "RPC_STATD_NO_NOTIFY=" << c.value;
  }
  // The environment only switches -L on; nfs.conf "no-notify = no" cannot undo it.
  ScopedEnv e("RPC_STATD_NO_NOTIFY", "1");
  Argv a{"rpc.statd"};
  Result<StatdOptions> r = ParseStatdOptions(a.argc(), a.argv(), Conf("[statd]\nno-notify=no\n"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->no_notify);
}

TEST(StatdOptions, ConfigPathPrecedence) {
  {
    ScopedEnv e("NSM_NFS_CONF", std::nullopt);
    Argv a{"rpc.statd", "-F"};
    EXPECT_EQ(StatdConfigPath(a.argc(), a.argv()), "/etc/nfs.conf");
  }
  {
    ScopedEnv e("NSM_NFS_CONF", "/env/nfs.conf");
    Argv a{"rpc.statd", "-F"};
    EXPECT_EQ(StatdConfigPath(a.argc(), a.argv()), "/env/nfs.conf");
    Argv b{"rpc.statd", "--config", "/cli/nfs.conf", "-F"};
    EXPECT_EQ(StatdConfigPath(b.argc(), b.argv()), "/cli/nfs.conf");
    Argv c{"rpc.statd", "--config=/one", "--config=/two"};
    EXPECT_EQ(StatdConfigPath(c.argc(), c.argv()), "/two");
    // The value of another option is not mistaken for --config.
    Argv d{"rpc.statd", "-H", "--config"};
    EXPECT_EQ(StatdConfigPath(d.argc(), d.argv()), "/env/nfs.conf");
    Result<StatdOptions> r = ParseStatdOptions(a.argc(), a.argv(), NfsConf());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->config_path, "/env/nfs.conf");
  }
}

TEST(StatdOptions, LoadReadsTheChosenFileAndDropIns) {
  TempDir t;
  std::string path = t.Write("nfs.conf", "[statd]\nport = 662\nbroken line\n");
  t.Write("nfs.conf.d/local.conf", "[statd]\nname = from-drop-in\n");
  ScopedEnv e1("RPC_STATD_NO_NOTIFY", std::nullopt);
  ScopedEnv e2("NSM_NFS_CONF", std::nullopt);
  Argv a{"rpc.statd", "--config", path, "-o", "2020"};
  std::vector<std::string> warnings;
  Result<StatdOptions> r = LoadStatdOptions(a.argc(), a.argv(), &warnings);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 662);
  EXPECT_EQ(r->outgoing_port, 2020);
  EXPECT_EQ(r->name, "from-drop-in");
  EXPECT_EQ(r->config_path, path);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("nfs.conf:3"), std::string::npos);

  ScopedEnv e3("NSM_NFS_CONF", path);
  Argv b{"rpc.statd"};
  Result<StatdOptions> via_env = LoadStatdOptions(b.argc(), b.argv());
  ASSERT_TRUE(via_env.ok());
  EXPECT_EQ(via_env->port, 662);

  Argv bad{"rpc.statd", "--config", t.path()};  // a directory: unreadable
  EXPECT_FALSE(LoadStatdOptions(bad.argc(), bad.argv()).ok());
}

TEST(StatdOptions, Usage) {
  std::string u = StatdUsage("rpc.statd");
  EXPECT_EQ(u.rfind("usage: rpc.statd [options]\n", 0), 0u);
  for (const char* opt :
       {"-h, -?, --help", "-F, --foreground", "-d, --no-syslog", "-p, --port",
        "-o, --outgoing-port", "-T, --nlm-port", "-U, --nlm-udp-port", "-V, -v, --version",
        "-n, --name", "-P", "-N", "-L, --no-notify", "-H", "--config FILE"}) {
    EXPECT_NE(u.find(opt), std::string::npos) << opt;
  }
  EXPECT_EQ(u.back(), '\n');
}

}  // namespace
}  // namespace nsm::config

namespace nsm::config {
namespace {

TEST(StatdNsmKeys, ConnectionLimitsAndSourceCheckFromNfsConf) {
  auto conf = NfsConf::Parse(
      "[statd]\nmax-connections = 50\nidle-timeout = 30\nnotify-source-check = refuse\n", "test");
  ASSERT_TRUE(conf.ok());
  char prog[] = "rpc.statd";
  char* argv[] = {prog, nullptr};
  auto o = ParseStatdOptions(1, argv, *conf);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->max_connections, 50u);
  EXPECT_EQ(o->idle_timeout, 30u);
  EXPECT_EQ(o->notify_source_check, "refuse");
  auto defaults = ParseStatdOptions(1, argv, *NfsConf::Parse("", "empty"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_connections, 1024u);
  EXPECT_EQ(defaults->notify_source_check, "log");
  for (const char* bad : {"[statd]\nmax-connections = 0\n", "[statd]\nidle-timeout = x\n",
                          "[statd]\nnotify-source-check = maybe\n"}) {
    auto c = NfsConf::Parse(bad, "bad");
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(ParseStatdOptions(1, argv, *c).ok()) << bad;
  }
}

}  // namespace
}  // namespace nsm::config
