// Running a helper program to completion: rpc.statd starts sm-notify at boot and waits
// for its parent process, which exits once the monitor list has become the notify
// list (the notifying itself goes on in sm-notify's daemon).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace nsm::privsep {

// posix_spawn(argv[0], argv) with the current environment, then waits for it up to
// `timeout` (killing it after that). Returns its exit code; a death by signal is an
// error. Never uses a shell or PATH.
Result<int> SpawnAndWait(const std::vector<std::string>& argv, std::chrono::seconds timeout);

// The directory of the running executable (/proc/self/exe), for sibling programs.
std::string SelfDirectory();

}  // namespace nsm::privsep
