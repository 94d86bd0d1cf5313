// rpc.statd option parsing: command line first (so -h/-v never depend on the
// file), then the environment and nfs.conf fill whatever the command line left unset.
#include "config/statd_options.h"

#include <getopt.h>

#include <cstdlib>

#include "config/options_common.h"

namespace nsm::config {
namespace {

using internal::CheckHostName;
using internal::CheckStateDir;
using internal::ConfPort;
using internal::ParsePortArg;

// nfs-utils: "h?vVFNH:dn:p:o:P:LT:U:". '?' is left out so that getopt reports "-?"
// as unknown with optopt '?', which GetoptRunner turns back into '?'; the leading ':'
// makes a missing argument distinguishable from an unknown option.
constexpr char kShortOpts[] = ":hvVFNH:dn:p:o:P:LT:U:";
const struct option kLongOpts[] = {
    {"foreground", no_argument, nullptr, 'F'},
    {"no-syslog", no_argument, nullptr, 'd'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'v'},
    {"outgoing-port", required_argument, nullptr, 'o'},
    {"port", required_argument, nullptr, 'p'},
    {"name", required_argument, nullptr, 'n'},
    {"state-directory-path", required_argument, nullptr, 'P'},
    {"notify-mode", no_argument, nullptr, 'N'},
    {"ha-callout", required_argument, nullptr, 'H'},
    {"no-notify", no_argument, nullptr, 'L'},
    {"nlm-port", required_argument, nullptr, 'T'},
    {"nlm-udp-port", required_argument, nullptr, 'U'},
    {"config", required_argument, nullptr, kConfigOptionVal},
    {nullptr, 0, nullptr, 0},
};

// What the command line said; unset fields fall back to nfs.conf.
struct CommandLine {
  std::optional<uint16_t> port, outgoing_port, nlm_port, nlm_udp_port;
  std::optional<std::string> name, state_dir, ha_callout, config;
};

Status Located(const NfsConf& conf, std::string_view section, std::string_view key,
               const Status& s) {
  return Status(s.code(),
                conf.Where(section, key) + ": [" + std::string(section) + "] " + s.message());
}

// Fills *out from nfs.conf for everything the command line did not set.
Status ApplyConf(const NfsConf& conf, const CommandLine& cli, StatdOptions* out) {
  if (!cli.port) {
    Result<uint16_t> p = ConfPort(conf, "statd", "port");
    if (!p.ok()) return p.status();
    out->port = *p;
  }
  if (!cli.outgoing_port) {
    Result<uint16_t> p = ConfPort(conf, "statd", "outgoing-port");
    if (!p.ok()) return p.status();
    out->outgoing_port = *p;
  }
  if (!cli.name) {
    if (std::optional<std::string> v = conf.Get("statd", "name")) {
      Status s = CheckHostName(*v, "name");
      if (!s.ok()) return Located(conf, "statd", "name", s);
      out->name = *v;
    }
  }
  if (!cli.state_dir) {
    if (std::optional<std::string> v = conf.Get("statd", "state-directory-path")) {
      Status s = CheckStateDir(*v, "state-directory-path");
      if (!s.ok()) return Located(conf, "statd", "state-directory-path", s);
      out->state_dir = *v;
    }
  }
  if (!cli.ha_callout) {
    if (std::optional<std::string> v = conf.Get("statd", "ha-callout")) out->ha_callout = *v;
  }
  if (!out->no_notify) {  // -L or the environment already said so
    Result<std::optional<bool>> no_notify = conf.GetBool("statd", "no-notify");
    if (!no_notify.ok()) return no_notify.status();
    if (no_notify->value_or(false)) out->no_notify = true;
  }
  if (std::optional<std::string> v = conf.Get("statd", "max-connections")) {
    Result<int64_t> n = internal::ParseCount(*v, 1000000, "max-connections");
    if (!n.ok() || *n < 1) {
      return Located(conf, "statd", "max-connections",
                     Status(Code::kInvalidArgument, "max-connections must be 1..1000000"));
    }
    out->max_connections = static_cast<uint32_t>(*n);
  }
  if (std::optional<std::string> v = conf.Get("statd", "idle-timeout")) {
    Result<int64_t> n = internal::ParseCount(*v, 86400, "idle-timeout");
    if (!n.ok() || *n < 1) {
      return Located(conf, "statd", "idle-timeout",
                     Status(Code::kInvalidArgument, "idle-timeout must be 1..86400 seconds"));
    }
    out->idle_timeout = static_cast<uint32_t>(*n);
  }
  if (std::optional<std::string> v = conf.Get("statd", "notify-source-check")) {
    if (*v != "off" && *v != "log" && *v != "refuse") {
      return Located(
          conf, "statd", "notify-source-check",
          Status(Code::kInvalidArgument, "notify-source-check must be off, log or refuse"));
    }
    out->notify_source_check = *v;
  }
  if (std::optional<std::string> v = conf.Get("statd", "debug")) {
    // nfs-utils takes a list of facilities ("all", "general", ...); any value but
    // a false one turns on verbose logging here.
    out->debug = ParseConfBool(*v).value_or(true);
  }

  uint16_t conf_nlm = 0;
  uint16_t conf_nlm_udp = 0;
  {
    Result<uint16_t> p = ConfPort(conf, "lockd", "port");
    if (!p.ok() && !cli.nlm_port) return p.status();
    if (p.ok()) conf_nlm = *p;
    Result<uint16_t> u = ConfPort(conf, "lockd", "udp-port");
    if (!u.ok() && !cli.nlm_udp_port) return u.status();
    if (u.ok()) conf_nlm_udp = *u;
  }
  out->nlm_port = cli.nlm_port.value_or(conf_nlm);
  // The UDP port follows the TCP port unless it is set itself (command line first).
  if (cli.nlm_udp_port) {
    out->nlm_udp_port = *cli.nlm_udp_port;
  } else if (conf_nlm_udp != 0) {
    out->nlm_udp_port = conf_nlm_udp;
  } else {
    out->nlm_udp_port = out->nlm_port;
  }
  return Status::Ok();
}

}  // namespace

Result<StatdOptions> ParseStatdOptions(int argc, char** argv, const NfsConf& conf) {
  StatdOptions opts;
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
        case 'v':
        case 'V':
          opts.version = true;
          return opts;
        case 'h':
        case '?':
          opts.help = true;
          return opts;
        case 'F':
          opts.foreground = true;
          break;
        case 'd':
          opts.no_syslog = true;
          break;
        case 'L':
          opts.no_notify = true;
          break;
        case 'N':
          opts.notify_only = true;
          break;
        case 'p':
        case 'o':
        case 'T':
        case 'U': {
          const char* what = c == 'T' ? "nlm port" : c == 'U' ? "nlm UDP port" : "port";
          Result<uint16_t> p = ParsePortArg(arg, what);
          if (!p.ok()) return p.status();
          std::optional<uint16_t>* slot = &cli.nlm_udp_port;
          if (c == 'p') slot = &cli.port;
          if (c == 'o') slot = &cli.outgoing_port;
          if (c == 'T') slot = &cli.nlm_port;
          *slot = *p;
          break;
        }
        case 'n': {
          Status s = CheckHostName(arg, "-n/--name");
          if (!s.ok()) return s;
          cli.name = arg;
          break;
        }
        case 'P': {
          Status s = CheckStateDir(arg, "-P/--state-directory-path");
          if (!s.ok()) return s;
          cli.state_dir = arg;
          break;
        }
        case 'H':
          if (arg.empty()) return Status(Code::kInvalidArgument, "-H/--ha-callout: empty path");
          cli.ha_callout = arg;
          break;
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

  // nfs-utils: RPC_STATD_NO_NOTIFY set to a positive integer (atoi) means -L.
  if (const char* env = std::getenv("RPC_STATD_NO_NOTIFY"); env != nullptr && std::atoi(env) > 0) {
    opts.no_notify = true;
  }
  Status s = ApplyConf(conf, cli, &opts);
  if (!s.ok()) return s;

  if (cli.port) opts.port = *cli.port;
  if (cli.outgoing_port) opts.outgoing_port = *cli.outgoing_port;
  if (cli.name) opts.name = cli.name;
  if (cli.state_dir) opts.state_dir = *cli.state_dir;
  if (cli.ha_callout) opts.ha_callout = cli.ha_callout;
  opts.config_path = cli.config.value_or(internal::DefaultConfigPath());

  if (opts.port != 0 && opts.port == opts.outgoing_port) {
    return Status(Code::kInvalidArgument, "listening and outgoing ports cannot be the same (" +
                                              std::to_string(opts.port) + ")");
  }
  return opts;
}

std::string StatdConfigPath(int argc, char** argv) {
  return internal::FindConfigPath(argc, argv, kShortOpts, kLongOpts);
}

Result<StatdOptions> LoadStatdOptions(int argc, char** argv, std::vector<std::string>* warnings) {
  std::string path = StatdConfigPath(argc, argv);
  Result<NfsConf> conf = NfsConf::Load(path);
  if (!conf.ok()) return conf.status();
  if (warnings != nullptr) {
    warnings->insert(warnings->end(), conf->warnings().begin(), conf->warnings().end());
  }
  Result<StatdOptions> opts = ParseStatdOptions(argc, argv, *conf);
  if (opts.ok()) opts->config_path = path;
  return opts;
}

std::string StatdUsage(const char* prog) {
  std::string u = "usage: " + std::string(prog) + " [options]\n";
  u += "      -h, -?, --help       Print this help screen.\n"
       "      -F, --foreground     Foreground (no-daemon mode)\n"
       "      -d, --no-syslog      Verbose logging to stderr.  Foreground mode only.\n"
       "      -p, --port           Port to listen on\n"
       "      -o, --outgoing-port  Port for outgoing connections\n"
       "      -T, --nlm-port       NLM TCP port (and UDP, unless set separately)\n"
       "      -U, --nlm-udp-port   NLM UDP port\n"
       "      -V, -v, --version    Display version information and exit.\n"
       "      -n, --name           Specify a local hostname.\n"
       "      -P                   State directory path.\n"
       "      -N                   Run in notify only mode.\n"
       "      -L, --no-notify      Do not perform any notification.\n"
       "      -H                   Specify a high-availability callout program.\n"
       "      --config FILE        Read FILE instead of /etc/nfs.conf (nsm).\n";
  return u;
}

}  // namespace nsm::config
