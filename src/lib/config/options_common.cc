// Shared option-parsing helpers: getopt_long wrapper, numbers, paths, names.
#include "config/options_common.h"

#include <climits>
#include <cstdlib>
#include <cstring>

namespace nsm::config::internal {
namespace {

bool AllDigits(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string DefaultConfigPath() {
  const char* env = std::getenv(kNfsConfEnv);
  if (env != nullptr && *env != '\0') return env;
  return kSystemNfsConf;
}

GetoptRunner::GetoptRunner(int argc, char** argv, const char* optstring,
                           const struct option* longopts)
    : optstring_(optstring), longopts_(longopts) {
  args_.assign(argv, argv + argc);
  args_.push_back(nullptr);
  saved_optind_ = optind;
  saved_opterr_ = opterr;
  saved_optopt_ = optopt;
  saved_optarg_ = optarg;
  optind = 0;  // glibc: 0 forces a full re-initialisation
  opterr = 0;  // we build our own messages
}

GetoptRunner::~GetoptRunner() {
  optind = saved_optind_;
  opterr = saved_opterr_;
  optopt = saved_optopt_;
  optarg = saved_optarg_;
}

int GetoptRunner::Next(std::string* arg, Status* error) {
  int argc = static_cast<int>(args_.size()) - 1;
  int c = getopt_long(argc, args_.data(), optstring_, longopts_, nullptr);
  arg->clear();
  if (c == -1) return -1;
  if (c == '?' && optopt == '?') return '?';  // a literal "-?"
  if (c == '?' || c == ':') {
    *error = Status(Code::kInvalidArgument, DescribeError(c));
    return 0;
  }
  if (optarg != nullptr) *arg = optarg;
  return c;
}

std::string GetoptRunner::DescribeError(int c) const {
  const char* token =
      optind > 0 && optind <= static_cast<int>(args_.size()) - 1 ? args_[optind - 1] : "";
  bool is_long = std::strncmp(token, "--", 2) == 0;
  if (c == ':') {
    if (is_long) return "option '" + std::string(token) + "' requires an argument";
    return std::string("option requires an argument -- '") + static_cast<char>(optopt) + "'";
  }
  if (!is_long) return std::string("invalid option -- '") + static_cast<char>(optopt) + "'";
  std::string_view name(token + 2);
  name = name.substr(0, name.find('='));
  int prefix_matches = 0;
  for (const struct option* o = longopts_; o->name != nullptr; ++o) {
    std::string_view on(o->name);
    if (on == name) return "option '--" + std::string(name) + "' doesn't allow an argument";
    if (on.substr(0, name.size()) == name) ++prefix_matches;
  }
  if (prefix_matches > 1) return "option '--" + std::string(name) + "' is ambiguous";
  if (prefix_matches == 1) return "option '" + std::string(token) + "' doesn't allow an argument";
  return "unrecognized option '" + std::string(token) + "'";
}

std::vector<std::string> GetoptRunner::Remaining() const {
  std::vector<std::string> out;
  int argc = static_cast<int>(args_.size()) - 1;
  for (int i = optind; i < argc; ++i) out.emplace_back(args_[i]);
  return out;
}

std::string FindConfigPath(int argc, char** argv, const char* optstring,
                           const struct option* longopts) {
  std::string path = DefaultConfigPath();
  GetoptRunner run(argc, argv, optstring, longopts);
  std::string arg;
  for (;;) {
    Status ignored;
    int c = run.Next(&arg, &ignored);
    if (c == -1) break;
    if (c == kConfigOptionVal) path = arg;
  }
  return path;
}

Result<uint16_t> ParsePortArg(std::string_view text, std::string_view what) {
  if (AllDigits(text) && text.size() <= 5) {
    int v = std::atoi(std::string(text).c_str());
    if (v >= 1 && v <= 65535) return static_cast<uint16_t>(v);
  }
  return Status(Code::kInvalidArgument,
                "bad " + std::string(what) + " number: '" + std::string(text) + "' (1-65535)");
}

Result<uint16_t> ConfPort(const NfsConf& conf, std::string_view section, std::string_view key) {
  Result<std::optional<int64_t>> v = conf.GetInt(section, key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return uint16_t{0};
  int64_t p = **v;
  if (p < 0 || p > 65535) {
    return Status(Code::kInvalidArgument, conf.Where(section, key) + ": [" + std::string(section) +
                                              "] " + std::string(key) + " = " + std::to_string(p) +
                                              " is not a port number (0-65535)");
  }
  return static_cast<uint16_t>(p);
}

Result<int64_t> ParseCount(std::string_view text, int64_t max, std::string_view what) {
  if (AllDigits(text) && text.size() <= 18) {
    int64_t v = std::strtoll(std::string(text).c_str(), nullptr, 10);
    if (v <= max) return v;
  }
  return Status(Code::kInvalidArgument, "bad " + std::string(what) + ": '" + std::string(text) +
                                            "' (0-" + std::to_string(max) + ")");
}

Status CheckStateDir(std::string_view dir, std::string_view what) {
  if (dir.empty() || dir.front() != '/') {
    return Status(Code::kInvalidArgument,
                  std::string(what) + ": '" + std::string(dir) + "' is not an absolute path");
  }
  if (dir.size() >= PATH_MAX) {
    return Status(Code::kInvalidArgument, std::string(what) + ": path too long");
  }
  if (dir.find('\0') != std::string_view::npos) {
    return Status(Code::kInvalidArgument, std::string(what) + ": NUL in path");
  }
  return Status::Ok();
}

Status CheckHostName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 1024) {
    return Status(Code::kInvalidArgument, std::string(what) + ": must be 1 to 1024 bytes long");
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Status(Code::kInvalidArgument,
                    std::string(what) + ": blanks and control characters are not allowed");
    }
  }
  return Status::Ok();
}

}  // namespace nsm::config::internal
