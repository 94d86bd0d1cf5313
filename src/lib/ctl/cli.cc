// statdctl's command line: option parsing, usage, dispatch to the commands, and the
// helpers they share (opening the database, exit codes).
#include "ctl/cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "base/log.h"
#include "config/nfs_conf.h"
#include "config/options_common.h"
#include "control/server.h"
#include "ctl/commands.h"

namespace nsm::ctl {
namespace internal {
namespace {

const char kUsage[] =
    "Usage: statdctl [-P DIR] [--json] COMMAND [ARGS]\n"
    "Administration of nsm's rpc.statd (Network Status Monitor).\n"
    "\n"
    "Commands:\n"
    "  status                       state number, counts, database, daemon pid and port\n"
    "  list [--monitors|--notify]   monitor records and the notify list\n"
    "  add MON_NAME [--my-name N] [--prog P] [--vers V] [--proc P] [--priv HEX]\n"
    "               [--address IP]...   add (or replace) a monitor record\n"
    "  remove MON_NAME [--my-name N] [--prog P] [--vers V] [--proc P]\n"
    "                               remove the monitor records of MON_NAME (filtered)\n"
    "  forget PEER                  remove every monitor and notify entry of PEER\n"
    "  export [-o FILE]             write everything as JSON (stdout by default)\n"
    "  export --legacy DIR [--force] [--owner USER[:GROUP]]\n"
    "                               write an nfs-utils state directory (downgrade)\n"
    "  import [FILE|-]              merge a JSON export (stdin by default)\n"
    "  import --legacy DIR [--skip-invalid]\n"
    "                               merge an nfs-utils state directory\n"
    "  notify (PEER|--all) [--timeout SEC] [--name NAME]\n"
    "                               send SM_NOTIFY now to peers of the notify list\n"
    "  stats [--prometheus]         the daemon's counters (needs rpc.statd running)\n"
    "\n"
    "Options:\n"
    "  -P, --state-directory-path DIR  state directory (default " NSM_DEFAULT_STATE_DIR
    ")\n"
    "  --json                       machine-readable output\n"
    "  --config FILE                nfs.conf to read [statd] state-directory-path from\n"
    "                               when -P is not given (default /etc/nfs.conf)\n"
    "  --socket PATH                rpc.statd's control socket (default derived from -P)\n"
    "  -h, --help                   this text;  -V, --version  the version\n"
    "\n"
    "Exit codes: 0 ok, 1 error, 2 usage, 3 no state directory or database,\n"
    "4 permission denied, 5 rpc.statd not running, 6 invalid input,\n"
    "7 no such monitor or peer, 8 some peers did not answer.\n";

struct OptSpec {
  const char* canonical;
  bool takes_value;
};

// Every spelling -> its canonical name.
const std::map<std::string, OptSpec>& Options() {
  static const std::map<std::string, OptSpec> m = {
      {"-P", {"state-dir", true}},
      {"--state-directory-path", {"state-dir", true}},
      {"--socket", {"socket", true}},
      {"--config", {"config", true}},
      {"--json", {"json", false}},
      {"-h", {"help", false}},
      {"--help", {"help", false}},
      {"-V", {"version", false}},
      {"--version", {"version", false}},
      {"--monitors", {"monitors", false}},
      {"--notify", {"notify", false}},
      {"--my-name", {"my-name", true}},
      {"--prog", {"prog", true}},
      {"--vers", {"vers", true}},
      {"--proc", {"proc", true}},
      {"--priv", {"priv", true}},
      {"--address", {"address", true}},
      {"-o", {"output", true}},
      {"--output", {"output", true}},
      {"--legacy", {"legacy", true}},
      {"--force", {"force", false}},
      {"--owner", {"owner", true}},
      {"--skip-invalid", {"skip-invalid", false}},
      {"--all", {"all", false}},
      {"--timeout", {"timeout", true}},
      {"--name", {"name", true}},
      {"--prometheus", {"prometheus", false}},
  };
  return m;
}

struct CommandSpec {
  int (*run)(Context&);
  std::set<std::string> options;
  size_t max_positional;
};

const std::map<std::string, CommandSpec>& Commands() {
  static const std::map<std::string, CommandSpec> m = {
      {"status", {CmdStatus, {}, 0}},
      {"list", {CmdList, {"monitors", "notify"}, 0}},
      {"add", {CmdAdd, {"my-name", "prog", "vers", "proc", "priv", "address"}, 1}},
      {"remove", {CmdRemove, {"my-name", "prog", "vers", "proc"}, 1}},
      {"forget", {CmdForget, {}, 1}},
      {"export", {CmdExport, {"output", "legacy", "force", "owner"}, 0}},
      {"import", {CmdImport, {"legacy", "skip-invalid"}, 1}},
      {"notify", {CmdNotify, {"all", "timeout", "name"}, 1}},
      {"stats", {CmdStats, {"prometheus"}, 0}},
  };
  return m;
}

const std::set<std::string> kGlobal = {"state-dir", "socket", "config", "json", "help", "version"};

// Returns an error message, or empty on success.
std::string Parse(const std::vector<std::string>& args, Context& c) {
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      if (c.command.empty()) {
        c.command = a;
      } else {
        c.positional.push_back(a);
      }
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::optional<std::string> inline_value;
    if (a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        inline_value = a.substr(eq + 1);
        a.resize(eq);
      }
    } else if (a.size() > 2 && a[0] == '-' && a[1] != '-') {
      inline_value = a.substr(2);  // -PDIR, -oFILE
      a.resize(2);
    }
    auto it = Options().find(a);
    if (it == Options().end()) return "unknown option " + args[i];
    const OptSpec& spec = it->second;
    if (!spec.takes_value) {
      if (inline_value) return "option " + a + " takes no value";
      c.flags.insert(spec.canonical);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) return "option " + a + " needs a value";
      inline_value = args[++i];
    }
    c.values[spec.canonical].push_back(*inline_value);
  }
  return {};
}

}  // namespace

int Fail(Context& c, int code, const std::string& message) {
  *c.err << "statdctl: " << message << "\n";
  return code;
}

int StoreExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
      return kExitNoStore;
    case Code::kPermission:
      return kExitPermission;
    default:
      return kExitError;
  }
}

int ControlExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kTimeout:
      return kExitNoDaemon;
    case Code::kPermission:
      return kExitPermission;
    default:
      return kExitError;
  }
}

std::optional<uint32_t> ParseU32(const std::string& s) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0' || v > 0xffffffffULL) return std::nullopt;
  return static_cast<uint32_t>(v);
}

Result<std::unique_ptr<store::Store>> OpenStore(const Context& c, Access a) {
  const std::string db = c.state_dir + "/" + NSM_DB_NAME;
  struct stat st {};
  if (stat(c.state_dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status(Code::kNotFound, "state directory " + c.state_dir + " does not exist");
    }
    return ErrnoStatus("state directory " + c.state_dir, errno);
  }
  const bool existed = stat(db.c_str(), &st) == 0;
  if (!existed && a != Access::kCreate) {
    return Status(Code::kNotFound,
                  "no database " + db + " (rpc.statd has never run with this state directory?)");
  }
  store::Options o;
  o.create = a == Access::kCreate;
  o.read_only = a == Access::kRead;
  Result<std::unique_ptr<store::Store>> s = store::Store::Open(c.state_dir, o);
  if (!s.ok()) return s;
  if (!existed && geteuid() == 0) {
    // Created by root: hand it to the user rpc.statd will run as (it drops to the
    // owner of DIR/sm, else of DIR), with its -wal and -shm files.
    struct stat owner {};
    const std::string sm = c.state_dir + "/sm";
    if (stat(sm.c_str(), &owner) == 0 || stat(c.state_dir.c_str(), &owner) == 0) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        const std::string p = db + suffix;
        if (lchown(p.c_str(), owner.st_uid, owner.st_gid) != 0 && errno != ENOENT) {
          return ErrnoStatus("chown " + p, errno);
        }
      }
    }
  }
  return s;
}

}  // namespace internal

int Main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
         std::istream& in) {
  internal::Context c;
  c.out = &out;
  c.err = &err;
  c.in = &in;
  std::string problem = internal::Parse(args, c);
  if (!problem.empty()) {
    err << "statdctl: " << problem << "\n" << internal::kUsage;
    return kExitUsage;
  }
  if (c.Flag("help")) {
    out << internal::kUsage;
    return kExitOk;
  }
  if (c.Flag("version")) {
    out << "statdctl (nsm) " NSM_VERSION "\n";
    return kExitOk;
  }
  if (c.command.empty()) {
    err << "statdctl: no command given\n" << internal::kUsage;
    return kExitUsage;
  }
  auto cmd = internal::Commands().find(c.command);
  if (cmd == internal::Commands().end()) {
    err << "statdctl: unknown command \"" << c.command << "\"\n" << internal::kUsage;
    return kExitUsage;
  }
  for (const auto& f : c.flags) {
    if (!internal::kGlobal.count(f) && !cmd->second.options.count(f)) {
      return internal::Fail(c, kExitUsage, "option --" + f + " does not apply to " + c.command);
    }
  }
  for (const auto& [name, vals] : c.values) {
    if (!internal::kGlobal.count(name) && !cmd->second.options.count(name)) {
      return internal::Fail(c, kExitUsage, "option --" + name + " does not apply to " + c.command);
    }
  }
  if (c.positional.size() > cmd->second.max_positional) {
    return internal::Fail(c, kExitUsage, "too many arguments for " + c.command);
  }
  if (std::optional<std::string> dir = c.Value("state-dir")) {
    c.state_dir = *dir;
  } else {
    // As rpc.statd: [statd] state-directory-path of nfs.conf, else the default.
    const char* env = std::getenv(config::kNfsConfEnv);
    const std::string conf_path =
        c.Value("config").value_or(env != nullptr && *env != '\0' ? env : config::kSystemNfsConf);
    Result<config::NfsConf> conf = config::NfsConf::Load(conf_path);
    if (!conf.ok()) return internal::Fail(c, kExitUsage, conf.status().ToString());
    c.state_dir = conf->Get("statd", "state-directory-path").value_or(NSM_DEFAULT_STATE_DIR);
  }
  if (c.state_dir.empty()) return internal::Fail(c, kExitUsage, "empty state directory");
  while (c.state_dir.size() > 1 && c.state_dir.back() == '/') c.state_dir.pop_back();
  c.socket = c.Value("socket").value_or(control::SocketPath(c.state_dir));
  c.json = c.Flag("json");
  return cmd->second.run(c);
}

int Main(int argc, char** argv) {
  // Library messages (the store's, the resolver's) go to stderr; info is noise here.
  log::Init("statdctl", /*to_syslog=*/false, log::Level::kWarning);
  std::vector<std::string> args(argv + 1, argv + argc);
  return Main(args, std::cout, std::cerr, std::cin);
}

}  // namespace nsm::ctl
