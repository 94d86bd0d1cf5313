// nfs-utils' state directories (nsm-reference.md section 3), read and written exactly
// as nfs-utils 2.6 does, so that statdctl can import a directory written by nfs-utils
// (or CTDB / Pacemaker scripts) and export one for a downgrade. The line and `state`
// formats themselves are legacy/format.h:
//
//   DIR/state      the state number: a raw 4-byte native-endian int
//   DIR/sm/NAME    one file per monitored host, one line per (host, callback):
//   DIR/sm.bak/NAME  the hosts still to notify after a reboot (same line format)
//     0100007f 000186b5 00000003 00000010 000102030405060708090a0b0c0d0e0f 10.0.0.2 client
//     <callback addr> <prog> <vers> <proc> <priv: 32 hex> <mon_name> <my_name>
//
// The first field is the IPv4 address of the local lockd (sin_addr.s_addr printed as
// a host integer: "0100007f" = 127.0.0.1 on little-endian machines). nfs-utils names
// each file by the host's name as it resolved it at SM_MON time (127.0.0.1 is filed
// under "localhost"), and sm-notify contacts that file name; the lines keep the
// mon_name as lockd gave it. Files whose names start with '.' are temporary files.
//
// These are plain functions with no global state, usable from any thread; rpc.statd's
// first-start import may use ReadLegacyDir + ImportDump.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ctl/dump.h"

namespace nsm::ctl {

struct LegacyDir {
  Dump data;  // state (if DIR/state holds 4 bytes), sm/ -> monitors, sm.bak/ -> notify
  std::vector<std::string> problems;  // skipped lines and files: "sm/NAME line 3: ..."
};

// Reads DIR. A missing DIR, or one with none of state, sm/ and sm.bak/, is kNotFound;
// an unreadable one kPermission / kIoError. Bad lines and odd files are skipped and
// listed in `problems`. Monitors: caller = the address field, added = the file's
// mtime, addresses = the mon_name if it is an IP literal, else the file name if that
// is one. Notify entries (sm.bak/): one per (mon_name, my_name), pending, with the
// same address rule. Duplicate keys: the last line wins.
Result<LegacyDir> ReadLegacyDir(const std::string& dir);

struct LegacyWriteOptions {
  // Remove the files already in sm/ and sm.bak/ first. Without it, a non-empty sm/ or
  // sm.bak/ is an error (kInvalidArgument) and nothing is written.
  bool replace = false;
  // Owner of what is written; unset: the owner of DIR/sm, else of DIR (the user
  // nfs-utils' rpc.statd will run as). Applied only when running as root.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Writes `d` into DIR (created if missing) in nfs-utils' format: sm/<mon_name> per
// monitored name, sm.bak/<mon_name> per notify entry (callback 100021/3/16, zero priv:
// the list does not keep them and sm-notify does not use them), and `state` when
// d.state is set. Each file is written to ".<name>.new", fsynced and renamed; the
// directories are fsynced. Files are mode 0600, directories 0700 (as nfs-utils).
Status WriteLegacyDir(const std::string& dir, const Dump& d, const LegacyWriteOptions& opts);

}  // namespace nsm::ctl
