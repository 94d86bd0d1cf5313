// The rpc.statd side of the control commands: "ping", "status" and "stats" answered
// from the daemon's own counters (docs/statdctl.md gives the JSON shapes). Every
// source is optional (null: that section is left out) and is only read, on the
// io_context thread, when a request arrives; the pointers must outlive the Server.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "control/json.h"
#include "control/server.h"

namespace nsm::rpc {
class Server;
class Client;
}  // namespace nsm::rpc
namespace nsm::monitor {
class Service;
}
namespace nsm::callback {
class Callbacks;
}
namespace nsm::resolver {
class Resolver;
}
namespace nsm::store {
class Store;
}
namespace nsm::hacallout {
class Runner;
}

namespace nsm::control {

struct DaemonInfo {
  pid_t pid = 0;
  std::string state_dir;
  std::string db_path;
  int64_t started = 0;  // unix seconds
};

struct DaemonSources {
  const rpc::Server* server = nullptr;
  const rpc::Client* client = nullptr;
  const monitor::Service* service = nullptr;
  const callback::Callbacks* callbacks = nullptr;
  const resolver::Resolver* resolver = nullptr;
  store::Store* store = nullptr;          // stats() and a COUNT of the monitors
  const hacallout::Runner* ha = nullptr;  // null or disabled: no "ha_callout" section
  const Server* control = nullptr;        // the control server's own counters
  // Called last for "stats": may add sections to the "stats" object (e.g. a notifier).
  std::function<void(Json& stats)> extra;
};

// The daemon's handler: "ping" -> {"ok":true,"pid":N}; "status" -> pid, version,
// uptime, port, state, monitors, ...; "stats" -> {"stats":{section:{counter:N}}};
// anything else -> "unknown_command".
Handler MakeDaemonHandler(DaemonInfo info, DaemonSources sources);

// The pieces of MakeDaemonHandler, for tests and for other daemons.
Json DaemonStatus(const DaemonInfo& info, const DaemonSources& src);
Json DaemonStats(const DaemonSources& src);

}  // namespace nsm::control
