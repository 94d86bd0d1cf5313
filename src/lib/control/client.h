// The control channel's client side (statdctl): one blocking request/answer exchange
// with a running rpc.statd over its Unix socket (protocol in server.h). For a
// command-line tool only: it blocks the calling thread for up to `timeout`.
#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "control/json.h"

namespace nsm::control {

// Sends `request` (an object with "cmd") and returns the daemon's answer object.
// Errors:
//   kUnavailable  no daemon: the socket is missing, or nothing listens on it (stale)
//   kPermission   connect(2) refused (EACCES) or the daemon answered "permission"
//   kTimeout      no complete answer within `timeout`
//   kInvalidArgument / kIoError  a malformed answer / a socket error
// A well-formed answer with "ok": false (other than "permission") is returned as is.
Result<Json> Call(const std::string& socket_path, const Json& request,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace nsm::control
