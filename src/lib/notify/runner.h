// The run loop of sm-notify: one io_context thread with the RPC client (UDP sockets
// with large buffers, reserved or fixed source port, -v source address), the resolver
// sidecar, the Notifier, and SIGTERM/SIGINT handling.
//
// Threading: RunNotifier blocks the calling thread until the run ends; every callback
// runs on that thread. Start the resolver sidecar only after daemonizing: call this
// in the process that stays.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "notify/notifier.h"
#include "resolver/resolver.h"

namespace nsm::notify {

struct RunConfig {
  std::vector<Target> targets;
  NotifierOptions notifier;
  uint16_t source_port = 0;           // -p; 0 = a reserved port (or any, if not allowed)
  std::optional<std::string> source;  // -v: IP literal, or a name resolved for the source
  int udp_buffer = 4 << 20;           // SO_RCVBUF / SO_SNDBUF of the UDP sockets
  // false: stored addresses only (and -v must be an IP). Even when true, the sidecar
  // is started only if a target's name or the -v value is not an IP literal.
  bool use_resolver = true;
  resolver::SidecarOptions resolver;
  // Targets still being read (null: `targets` is the whole list). Started once the first
  // ones are under way; stopped (and waited for) before RunNotifier returns.
  std::shared_ptr<TargetSource> more;
};

struct RunOutcome {
  NotifierStats stats;
  bool interrupted = false;          // SIGTERM/SIGINT: unfinished peers were left as they were
  std::string source_v4, source_v6;  // the source addresses used, if fixed
  std::chrono::microseconds cpu{0};  // CPU time (user + system) of the notifying thread
};

// Runs the notifier to its end: every target done or failed, the retry limit, or a
// signal. `ready` runs once the sockets are open, before the first packet; errors
// before that (socket, bind, -v name that does not resolve) are returned and `ready`
// does not run.
Result<RunOutcome> RunNotifier(RunConfig cfg, Notifier::DoneFn on_done, Notifier::FailFn on_failed,
                               std::function<void()> ready);

}  // namespace nsm::notify
