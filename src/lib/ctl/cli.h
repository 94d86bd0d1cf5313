// statdctl: the administration tool of nsm (docs/statdctl.md). Main() parses the
// command line and runs one command against the state directory's database (read
// directly, SQLite serialising writers with a running rpc.statd) or, for `stats` and
// the daemon part of `status`, against rpc.statd's control socket.
//
// Exit codes (documented in docs/statdctl.md; scripts may rely on them):
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace nsm::ctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,       // anything else: I/O error, corrupt database, store failure
  kExitUsage = 2,       // bad command line
  kExitNoStore = 3,     // no state directory or no database in it
  kExitPermission = 4,  // permission denied (database, directory or control socket)
  kExitNoDaemon = 5,    // rpc.statd is not running (stats), or did not answer
  kExitBadInput = 6,    // invalid import data (JSON or nfs-utils files)
  kExitNotFound = 7,    // remove/forget/notify: no such monitor or peer
  kExitPartial = 8,     // notify: some peers did not answer
};

// Runs statdctl with args (without the program name). Normal output goes to `out`,
// errors and warnings to `err`; `in` is read by `import -`. Returns the exit code.
int Main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
         std::istream& in);

// With the process's argv and standard streams.
int Main(int argc, char** argv);

}  // namespace nsm::ctl
