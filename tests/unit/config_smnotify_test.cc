// sm-notify options: every option, nfs.conf keys ([sm-notify] and [statd]
// state-directory-path), precedence, bad values.
#include <gtest/gtest.h>

#include <string>

#include "config/smnotify_options.h"
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

Result<SmNotifyOptions> Parse(Argv&& args, const NfsConf& conf = NfsConf()) {
  ScopedEnv e("NSM_NFS_CONF", std::nullopt);
  return ParseSmNotifyOptions(args.argc(), args.argv(), conf);
}

std::string Error(Argv&& args, const NfsConf& conf = NfsConf()) {
  Result<SmNotifyOptions> r = Parse(std::move(args), conf);
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(SmNotifyOptions, Defaults) {
  Result<SmNotifyOptions> r = Parse({"sm-notify"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->debug);
  EXPECT_FALSE(r->verbose);
  EXPECT_FALSE(r->force);
  EXPECT_EQ(r->retry_minutes, 15);
  EXPECT_TRUE(r->update_state);
  EXPECT_EQ(r->port, 0);
  EXPECT_EQ(r->source, std::nullopt);
  EXPECT_EQ(r->state_dir, NSM_DEFAULT_STATE_DIR);
  EXPECT_TRUE(r->UsesDefaultStateDir());
  EXPECT_TRUE(r->lift_grace);
  EXPECT_FALSE(r->help);
  EXPECT_EQ(r->config_path, "/etc/nfs.conf");
}

TEST(SmNotifyOptions, EveryOption) {
  // What CTDB and Pacemaker's nfsserver agent run per floating address.
  Result<SmNotifyOptions> r = Parse({"sm-notify", "-d", "-f", "-m", "0", "-n", "-P",
                                     "/shared/statd", "-v", "192.0.2.10", "-p", "2020"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->debug);
  EXPECT_TRUE(r->verbose);
  EXPECT_TRUE(r->force);
  EXPECT_EQ(r->retry_minutes, 0);
  EXPECT_FALSE(r->update_state);
  EXPECT_EQ(r->state_dir, "/shared/statd");
  EXPECT_FALSE(r->UsesDefaultStateDir());
  EXPECT_EQ(r->source, "192.0.2.10");
  EXPECT_EQ(r->port, 2020);
  // The attached forms rpc.statd uses ("-p%d").
  Result<SmNotifyOptions> attached = Parse({"sm-notify", "-dfn", "-p2020", "-m5", "-vhost"});
  ASSERT_TRUE(attached.ok()) << attached.status().ToString();
  EXPECT_TRUE(attached->debug && attached->force && !attached->update_state);
  EXPECT_EQ(attached->port, 2020);
  EXPECT_EQ(attached->retry_minutes, 5);
  EXPECT_EQ(attached->source, "host");
}

TEST(SmNotifyOptions, DefaultDirectorySpelledExplicitlyIsStillTheDefault) {
  Result<SmNotifyOptions> r = Parse({"sm-notify", "-P", NSM_DEFAULT_STATE_DIR});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->UsesDefaultStateDir());
}

TEST(SmNotifyOptions, BadValues) {
  for (const char* bad : {"0", "65536", "x", "", "-5"}) {
    EXPECT_NE(Error({"sm-notify", "-p", bad}).find("bad port number"), std::string::npos) << bad;
  }
  for (const char* bad : {"-1", "abc", "", "15m", "35791395"}) {
    EXPECT_NE(Error({"sm-notify", "-m", bad}).find("bad retry time"), std::string::npos) << bad;
  }
  Result<SmNotifyOptions> max = Parse({"sm-notify", "-m", "35791394"});
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->retry_minutes, SmNotifyOptions::kMaxRetryMinutes);
  EXPECT_NE(Error({"sm-notify", "-P", "relative"}), "<ok>");
  EXPECT_NE(Error({"sm-notify", "-v", ""}), "<ok>");
  EXPECT_NE(Error({"sm-notify", "-v", "bad name"}), "<ok>");
}

TEST(SmNotifyOptions, UsageErrors) {
  EXPECT_EQ(Error({"sm-notify", "-q"}), "invalid option -- 'q'");
  EXPECT_EQ(Error({"sm-notify", "-?"}), "invalid option -- '?'");
  EXPECT_EQ(Error({"sm-notify", "-h"}), "invalid option -- 'h'");  // not in nfs-utils
  EXPECT_EQ(Error({"sm-notify", "-m"}), "option requires an argument -- 'm'");
  EXPECT_EQ(Error({"sm-notify", "--force"}), "unrecognized option '--force'");
  EXPECT_EQ(Error({"sm-notify", "-d", "extra"}), "unexpected argument 'extra'");
  EXPECT_EQ(Error({"sm-notify", "--config"}), "option '--config' requires an argument");
  Result<SmNotifyOptions> help = Parse({"sm-notify", "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
}

TEST(SmNotifyOptions, ConfKeys) {
  NfsConf conf = Conf(
      "[statd]\nstate-directory-path = /var/lib/nfs/statd\n"
      "[sm-notify]\n"
      "retry-time = 3\n"
      "outgoing-port = 2020\n"
      "outgoing-addr = nfs.example\n"
      "lift-grace = n\n"
      "force = yes\n"
      "update-state = no\n"
      "debug = 1\n");
  Result<SmNotifyOptions> r = Parse({"sm-notify"}, conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state_dir, "/var/lib/nfs/statd");
  EXPECT_EQ(r->retry_minutes, 3);
  EXPECT_EQ(r->port, 2020);
  EXPECT_EQ(r->source, "nfs.example");
  EXPECT_FALSE(r->lift_grace);
  EXPECT_TRUE(r->force);
  EXPECT_FALSE(r->update_state);
  EXPECT_TRUE(r->verbose);
  EXPECT_FALSE(r->debug);  // conf debug is verbosity only, not the foreground
}

TEST(SmNotifyOptions, DebianDefaultsMeanUnset) {
  NfsConf conf = Conf(
      "[sm-notify]\ndebug=0\nforce=0\nretry-time=900\noutgoing-port=\noutgoing-addr=\n"
      "lift-grace=y\n");
  Result<SmNotifyOptions> r = Parse({"sm-notify"}, conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->verbose);
  EXPECT_FALSE(r->force);
  EXPECT_EQ(r->retry_minutes, 900);  // minutes, as nfs-utils reads it
  EXPECT_EQ(r->port, 0);
  EXPECT_EQ(r->source, std::nullopt);
  EXPECT_TRUE(r->lift_grace);
}

TEST(SmNotifyOptions, CommandLineWinsOverConf) {
  NfsConf conf = Conf(
      "[statd]\nstate-directory-path = /conf/dir\n"
      "[sm-notify]\nretry-time = 3\noutgoing-port = 2020\noutgoing-addr = conf-name\n");
  Result<SmNotifyOptions> r =
      Parse({"sm-notify", "-m", "0", "-p", "700", "-v", "cli-name", "-P", "/cli/dir"}, conf);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->retry_minutes, 0);
  EXPECT_EQ(r->port, 700);
  EXPECT_EQ(r->source, "cli-name");
  EXPECT_EQ(r->state_dir, "/cli/dir");
  // -f and -n win over "force = no" / "update-state = yes".
  Result<SmNotifyOptions> flags =
      Parse({"sm-notify", "-f", "-n"}, Conf("[sm-notify]\nforce = no\nupdate-state = yes\n"));
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->force);
  EXPECT_FALSE(flags->update_state);
  // [sm-notify] has no state-directory-path: only [statd]'s counts.
  Result<SmNotifyOptions> wrong =
      Parse({"sm-notify"}, Conf("[sm-notify]\nstate-directory-path = /nope\n"));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->state_dir, NSM_DEFAULT_STATE_DIR);
}

TEST(SmNotifyOptions, BadConfValuesNameTheLine) {
  EXPECT_NE(Error({"sm-notify"}, Conf("[sm-notify]\nretry-time = soon\n")).find(":2:"),
            std::string::npos);
  EXPECT_NE(Error({"sm-notify"}, Conf("[sm-notify]\nretry-time = -1\n")).find("out of range"),
            std::string::npos);
  EXPECT_NE(Error({"sm-notify"}, Conf("[sm-notify]\noutgoing-port = 99999\n")), "<ok>");
  EXPECT_NE(Error({"sm-notify"}, Conf("[sm-notify]\nlift-grace = sometimes\n")), "<ok>");
  EXPECT_NE(Error({"sm-notify"}, Conf("[sm-notify]\nforce = 2\n")), "<ok>");
  EXPECT_NE(Error({"sm-notify"}, Conf("[statd]\nstate-directory-path = x/y\n")), "<ok>");
  // Overridden by the command line: not looked at.
  EXPECT_EQ(Error({"sm-notify", "-m", "1", "-p", "9", "-f", "-n"},
                  Conf("[sm-notify]\nretry-time = x\noutgoing-port = y\nforce = z\n"
                       "update-state = w\n")),
            "<ok>");
}

TEST(SmNotifyOptions, LoadAndConfigPath) {
  TempDir t;
  std::string path = t.Write("my.conf", "[sm-notify]\nretry-time = 2\n");
  t.Write("my.conf.d/ha.conf", "[sm-notify]\nlift-grace = off\n");
  {
    ScopedEnv e("NSM_NFS_CONF", std::nullopt);
    Argv a{"sm-notify", "-d", "--config", path};
    EXPECT_EQ(SmNotifyConfigPath(a.argc(), a.argv()), path);
    Result<SmNotifyOptions> r = LoadSmNotifyOptions(a.argc(), a.argv());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->retry_minutes, 2);
    EXPECT_FALSE(r->lift_grace);
    EXPECT_EQ(r->config_path, path);
  }
  {
    ScopedEnv e("NSM_NFS_CONF", path);
    Argv a{"sm-notify"};
    EXPECT_EQ(SmNotifyConfigPath(a.argc(), a.argv()), path);
    Result<SmNotifyOptions> r = LoadSmNotifyOptions(a.argc(), a.argv());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->retry_minutes, 2);
  }
}

TEST(SmNotifyOptions, Usage) {
  std::string u = SmNotifyUsage("sm-notify");
  EXPECT_EQ(u.rfind("Usage: sm-notify [-dfn]", 0), 0u);
  for (const char* opt : {"-m", "-p", "-P", "-v", "--config"}) {
    EXPECT_NE(u.find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace nsm::config
