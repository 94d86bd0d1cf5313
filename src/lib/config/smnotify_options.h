// sm-notify's options: the nfs-utils 2.6 command line and nfs.conf keys, merged.
//
// Precedence, lowest to highest: built-in defaults, nfs.conf, the command line.
// Command line (getopt, as nfs-utils: "dm:np:v:P:f"):
//   -d  stay in the foreground and log to stderr (verbose)
//   -f  notify even if sm-notify already ran since boot
//   -m MINUTES  how long to retry unresponsive peers (default 15, 0 = forever)
//   -n  do not bump the local NSM state number
//   -p PORT  source port of the notifications (default: a reserved port)
//   -P DIR   state directory
//   -v ADDR|NAME  source address, and the mon_name sent in SM_NOTIFY
//   nsm additions: --config FILE (default: $NSM_NFS_CONF, else /etc/nfs.conf), --help
// nfs.conf: [sm-notify] retry-time, outgoing-port, outgoing-addr, lift-grace, force,
//   update-state, debug; [statd] state-directory-path (the default for -P).
//
// Errors: kInvalidArgument with a one-line message for "prog: <message>" plus the
// usage text, or naming the nfs.conf line of a bad value. Not thread-safe (getopt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/nfs_conf.h"

namespace nsm::config {

struct SmNotifyOptions {
  // nfs-utils' cap: minutes * 60 must fit an int.
  static constexpr int64_t kMaxRetryMinutes = 35791394;

  bool debug = false;                 // -d: foreground, log to stderr, verbose
  bool verbose = false;               // -d or [sm-notify] debug
  bool force = false;                 // -f, [sm-notify] force
  int64_t retry_minutes = 15;         // -m, [sm-notify] retry-time; 0 = retry forever
  bool update_state = true;           // cleared by -n or [sm-notify] update-state = no
  uint16_t port = 0;                  // -p, [sm-notify] outgoing-port; 0 = any reserved port
  std::optional<std::string> source;  // -v, [sm-notify] outgoing-addr
  std::string state_dir = NSM_DEFAULT_STATE_DIR;  // -P, [statd] state-directory-path
  bool lift_grace = true;                         // [sm-notify] lift-grace (no command-line option)
  bool help = false;                              // --help: print SmNotifyUsage, exit 0
  std::string config_path;                        // the nfs.conf read

  // nfs-utils applies its once-per-boot check (/run/sm-notify.pid) only when the
  // state directory is the built-in default, however it was spelled in.
  bool UsesDefaultStateDir() const { return state_dir == NSM_DEFAULT_STATE_DIR; }
};

// Parses argv (argv[0] is the program name) over the values of conf.
Result<SmNotifyOptions> ParseSmNotifyOptions(int argc, char** argv, const NfsConf& conf);

// --config FILE, else $NSM_NFS_CONF, else /etc/nfs.conf.
std::string SmNotifyConfigPath(int argc, char** argv);

// SmNotifyConfigPath + NfsConf::Load + ParseSmNotifyOptions; file warnings are
// appended to *warnings when it is non-null.
Result<SmNotifyOptions> LoadSmNotifyOptions(int argc, char** argv,
                                            std::vector<std::string>* warnings = nullptr);

// The usage text, ending in a newline.
std::string SmNotifyUsage(const char* prog);

}  // namespace nsm::config
