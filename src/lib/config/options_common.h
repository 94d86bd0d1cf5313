// Helpers shared by the rpc.statd and sm-notify option parsers (internal to the
// config module): a getopt_long wrapper that reports errors as Status instead of
// printing them, strict number parsing, and the nfs.conf path lookup.
//
// Threading: getopt_long keeps global state (optind, optarg, ...). GetoptRunner
// saves and restores it, but two parsers must not run concurrently.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/nfs_conf.h"

namespace nsm::config {

// The nfs.conf that nfs-utils reads.
inline constexpr const char* kSystemNfsConf = "/etc/nfs.conf";
// Environment variable overriding the default configuration file (nsm addition).
inline constexpr const char* kNfsConfEnv = "NSM_NFS_CONF";
// The val of the nsm-only long option --config in both parsers' tables.
inline constexpr int kConfigOptionVal = 0x100;

namespace internal {

// NSM_NFS_CONF when set and non-empty, else /etc/nfs.conf.
std::string DefaultConfigPath();

// Runs getopt_long over a private copy of argv (the caller's argv is not permuted).
class GetoptRunner {
 public:
  // optstring must start with ':' (missing arguments reported as ':').
  GetoptRunner(int argc, char** argv, const char* optstring, const struct option* longopts);
  ~GetoptRunner();
  GetoptRunner(const GetoptRunner&) = delete;
  GetoptRunner& operator=(const GetoptRunner&) = delete;

  // The next option's val, or -1 at the end. '?' only for a literal "-?". On a bad
  // option returns 0 and sets *error (kInvalidArgument, text like getopt's). *arg
  // receives the option's argument, if any.
  int Next(std::string* arg, Status* error);
  // Non-option arguments left after the last Next() returned -1.
  std::vector<std::string> Remaining() const;

 private:
  std::string DescribeError(int c) const;

  std::vector<char*> args_;
  const char* optstring_;
  const struct option* longopts_;
  // Saved getopt globals.
  int saved_optind_, saved_opterr_, saved_optopt_;
  char* saved_optarg_;
};

// The --config FILE value if argv has one (the last one wins), else
// DefaultConfigPath(). Bad options are ignored here; the real parse reports them.
std::string FindConfigPath(int argc, char** argv, const char* optstring,
                           const struct option* longopts);

// A port number on the command line: decimal digits only, 1..65535.
Result<uint16_t> ParsePortArg(std::string_view text, std::string_view what);
// A port in nfs.conf: 0..65535 (0 and unset both mean "not set").
Result<uint16_t> ConfPort(const NfsConf& conf, std::string_view section, std::string_view key);
// A non-negative decimal number of at most max.
Result<int64_t> ParseCount(std::string_view text, int64_t max, std::string_view what);
// A state directory: non-empty, absolute, shorter than PATH_MAX.
Status CheckStateDir(std::string_view dir, std::string_view what);
// A host name or address given by the administrator: 1..1024 bytes (SM_MAXSTRLEN),
// printable, no blanks.
Status CheckHostName(std::string_view name, std::string_view what);

}  // namespace internal
}  // namespace nsm::config
