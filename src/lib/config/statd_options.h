// rpc.statd's options: the nfs-utils 2.6 command line and nfs.conf keys, merged.
//
// Precedence, lowest to highest (as nfs-utils): built-in defaults, the environment
// (RPC_STATD_NO_NOTIFY), nfs.conf ([statd], [lockd]), the command line. Flags only
// ever switch on. See docs/config.md for the full table.
//
// Command line (getopt_long, same spellings as nfs-utils):
//   -d --no-syslog   -F --foreground   -h -? --help   -H --ha-callout PROG
//   -L --no-notify   -n --name NAME    -N (--notify-mode)   -o --outgoing-port PORT
//   -p --port PORT   -P --state-directory-path DIR   -T --nlm-port PORT
//   -U --nlm-udp-port PORT   -v -V --version
//   nsm addition: --config FILE (default: $NSM_NFS_CONF, else /etc/nfs.conf)
// nfs.conf: [statd] port, outgoing-port, name, state-directory-path, ha-callout,
//   no-notify, debug; [lockd] port, udp-port.
//
// Errors: kInvalidArgument with a one-line message meant for "prog: <message>"
// followed by the usage text (unknown option, missing argument, port not 1..65535,
// stray argument, same listening and outgoing port) or naming the nfs.conf line of a
// bad value. Not thread-safe (getopt's globals).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/nfs_conf.h"

namespace nsm::config {

struct StatdOptions {
  uint16_t port = 0;                              // -p: listener port; 0 = any
  uint16_t outgoing_port = 0;                     // -o: source port given to sm-notify; 0 = default
  std::optional<std::string> name;                // -n: sm-notify's source address / mon_name
  std::string state_dir = NSM_DEFAULT_STATE_DIR;  // -P
  std::optional<std::string> ha_callout;          // -H
  bool foreground = false;                        // -F
  bool no_syslog = false;                         // -d: log to stderr (effective only with -F)
  bool no_notify = false;                         // -L, [statd] no-notify, RPC_STATD_NO_NOTIFY > 0
  bool notify_only = false;                       // -N: run sm-notify, then exit (deprecated)
  uint16_t nlm_port = 0;      // -T, [lockd] port: lockd's TCP (and UDP) port; 0 = leave
  uint16_t nlm_udp_port = 0;  // -U, [lockd] udp-port; defaults to nlm_port
  bool debug = false;         // [statd] debug set to anything but 0/false: verbose log
  bool help = false;          // -h/-?/--help: print StatdUsage, exit 0
  bool version = false;       // -v/-V/--version: print version, exit 0
  std::string config_path;    // the nfs.conf read (--config, $NSM_NFS_CONF, default)

  // nsm additions, nfs.conf [statd] only (nfs-utils ignores unknown keys):
  uint32_t max_connections = 1024;  // max-connections: open TCP connections at once
  uint32_t idle_timeout = 900;      // idle-timeout: seconds before an idle TCP connection closes
  // notify-source-check: what to do with an SM_NOTIFY whose source address is none of
  // the matched peer's stored or current addresses: "off", "log" (default), "refuse".
  std::string notify_source_check = "log";

  // nfs-utils logs to stderr only in the foreground with -d.
  bool LogToStderr() const { return foreground && no_syslog; }
};

// Parses argv (argv[0] is the program name) over the values of conf. On -h/-v
// returns at once with help/version set and the rest unvalidated.
Result<StatdOptions> ParseStatdOptions(int argc, char** argv, const NfsConf& conf);

// The configuration file this command line asks for: --config FILE, else
// $NSM_NFS_CONF, else /etc/nfs.conf.
std::string StatdConfigPath(int argc, char** argv);

// StatdConfigPath + NfsConf::Load + ParseStatdOptions. Warnings from the file are
// appended to *warnings when it is non-null.
Result<StatdOptions> LoadStatdOptions(int argc, char** argv,
                                      std::vector<std::string>* warnings = nullptr);

// The usage text, as nfs-utils prints it (plus --config), ending in a newline.
std::string StatdUsage(const char* prog);

}  // namespace nsm::config
