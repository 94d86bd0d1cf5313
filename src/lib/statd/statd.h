// rpc.statd's start-up, main loop and shutdown: wires the modules together in the
// order that keeps every promise (see the ORDER comments in statd.cc).
#pragma once

#include "config/statd_options.h"

namespace nsm::statd {

// Runs the daemon until SIGTERM/SIGINT/SIGHUP. Returns the process exit code.
int Run(const config::StatdOptions& opts);

}  // namespace nsm::statd
