// sm-notify option parsing: command line first, then nfs.conf for what it left unset.
#include "config/smnotify_options.h"

#include <getopt.h>

#include "config/options_common.h"

namespace nsm::config {
namespace {

using internal::CheckHostName;
using internal::CheckStateDir;

constexpr char kShortOpts[] = ":dm:np:v:P:f";
const struct option kLongOpts[] = {
    {"config", required_argument, nullptr, kConfigOptionVal},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};

struct CommandLine {
  bool force = false;
  bool no_update = false;
  std::optional<int64_t> retry_minutes;
  std::optional<uint16_t> port;
  std::optional<std::string> source, state_dir, config;
};

Status Located(const NfsConf& conf, std::string_view section, std::string_view key,
               const Status& s) {
  return Status(s.code(),
                conf.Where(section, key) + ": [" + std::string(section) + "] " + s.message());
}

Status ApplyConf(const NfsConf& conf, const CommandLine& cli, SmNotifyOptions* out) {
  if (!cli.retry_minutes) {
    Result<std::optional<int64_t>> m = conf.GetInt("sm-notify", "retry-time");
    if (!m.ok()) return m.status();
    if (m->has_value()) {
      if (**m < 0 || **m > SmNotifyOptions::kMaxRetryMinutes) {
        return Located(conf, "sm-notify", "retry-time",
                       Status(Code::kInvalidArgument,
                              "retry-time = " + std::to_string(**m) + " is out of range (0-" +
                                  std::to_string(SmNotifyOptions::kMaxRetryMinutes) + " minutes)"));
      }
      out->retry_minutes = **m;
    }
  }
  if (!cli.port) {
    // nfs-utils hands "0" to bind(), which gives an ephemeral, unreserved port;
    // here 0 means the default (a reserved port), as for [statd] outgoing-port.
    Result<uint16_t> p = internal::ConfPort(conf, "sm-notify", "outgoing-port");
    if (!p.ok()) return p.status();
    out->port = *p;
  }
  if (!cli.source) {
    if (std::optional<std::string> v = conf.Get("sm-notify", "outgoing-addr")) {
      Status s = CheckHostName(*v, "outgoing-addr");
      if (!s.ok()) return Located(conf, "sm-notify", "outgoing-addr", s);
      out->source = *v;
    }
  }
  if (!cli.state_dir) {
    if (std::optional<std::string> v = conf.Get("statd", "state-directory-path")) {
      Status s = CheckStateDir(*v, "state-directory-path");
      if (!s.ok()) return Located(conf, "statd", "state-directory-path", s);
      out->state_dir = *v;
    }
  }
  Result<std::optional<bool>> lift = conf.GetBool("sm-notify", "lift-grace");
  if (!lift.ok()) return lift.status();
  out->lift_grace = lift->value_or(true);
  if (!cli.force) {
    Result<std::optional<bool>> force = conf.GetBool("sm-notify", "force");
    if (!force.ok()) return force.status();
    out->force = force->value_or(false);
  }
  if (!cli.no_update) {
    Result<std::optional<bool>> update = conf.GetBool("sm-notify", "update-state");
    if (!update.ok()) return update.status();
    out->update_state = update->value_or(true);
  }
  if (std::optional<std::string> v = conf.Get("sm-notify", "debug")) {
    if (ParseConfBool(*v).value_or(true)) out->verbose = true;
  }
  return Status::Ok();
}

}  // namespace

Result<SmNotifyOptions> ParseSmNotifyOptions(int argc, char** argv, const NfsConf& conf) {
  SmNotifyOptions opts;
  CommandLine cli;
  {
    internal::GetoptRunner run(argc, argv, kShortOpts, kLongOpts);
    std::string arg;
    for (;;) {
      Status err;
      int c = run.Next(&arg, &err);
      if (c == -1) break;
      switch (c) {
        case 0:
          return err;
        case '?':  // nfs-utils' sm-notify has no -?; it is a usage error there too
          return Status(Code::kInvalidArgument, "invalid option -- '?'");
        case 'h':
          opts.help = true;
          return opts;
        case 'd':
          opts.debug = true;
          opts.verbose = true;
          break;
        case 'f':
          cli.force = true;
          break;
        case 'n':
          cli.no_update = true;
          break;
        case 'm': {
          Result<int64_t> m = internal::ParseCount(arg, SmNotifyOptions::kMaxRetryMinutes,
                                                   "retry time (-m, minutes)");
          if (!m.ok()) return m.status();
          cli.retry_minutes = *m;
          break;
        }
        case 'p': {
          Result<uint16_t> p = internal::ParsePortArg(arg, "port");
          if (!p.ok()) return p.status();
          cli.port = *p;
          break;
        }
        case 'v': {
          Status s = CheckHostName(arg, "-v");
          if (!s.ok()) return s;
          cli.source = arg;
          break;
        }
        case 'P': {
          Status s = CheckStateDir(arg, "-P");
          if (!s.ok()) return s;
          cli.state_dir = arg;
          break;
        }
        case kConfigOptionVal:
          if (arg.empty()) return Status(Code::kInvalidArgument, "--config: empty path");
          cli.config = arg;
          break;
        default:
          return Status(Code::kInternal, "unhandled option " + std::to_string(c));
      }
    }
    std::vector<std::string> rest = run.Remaining();
    if (!rest.empty()) {
      return Status(Code::kInvalidArgument, "unexpected argument '" + rest.front() + "'");
    }
  }

  Status s = ApplyConf(conf, cli, &opts);
  if (!s.ok()) return s;
  if (cli.force) opts.force = true;
  if (cli.no_update) opts.update_state = false;
  if (cli.retry_minutes) opts.retry_minutes = *cli.retry_minutes;
  if (cli.port) opts.port = *cli.port;
  if (cli.source) opts.source = cli.source;
  if (cli.state_dir) opts.state_dir = *cli.state_dir;
  opts.config_path = cli.config.value_or(internal::DefaultConfigPath());
  return opts;
}

std::string SmNotifyConfigPath(int argc, char** argv) {
  return internal::FindConfigPath(argc, argv, kShortOpts, kLongOpts);
}

Result<SmNotifyOptions> LoadSmNotifyOptions(int argc, char** argv,
                                            std::vector<std::string>* warnings) {
  std::string path = SmNotifyConfigPath(argc, argv);
  Result<NfsConf> conf = NfsConf::Load(path);
  if (!conf.ok()) return conf.status();
  if (warnings != nullptr) {
    warnings->insert(warnings->end(), conf->warnings().begin(), conf->warnings().end());
  }
  Result<SmNotifyOptions> opts = ParseSmNotifyOptions(argc, argv, *conf);
  if (opts.ok()) opts->config_path = path;
  return opts;
}

std::string SmNotifyUsage(const char* prog) {
  return "Usage: " + std::string(prog) +
         " [-dfn] [-m max-retry-minutes] [-p srcport]\n"
         "            [-P /path/to/state/directory] [-v my_host_name] [--config FILE]\n";
}

}  // namespace nsm::config
