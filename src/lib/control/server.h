// The control channel's daemon side: a Unix stream socket served on rpc.statd's
// io_context. Protocol (docs/statdctl.md, "Control channel"): the client writes one
// JSON object per line, {"cmd": "<name>", ...}; the server answers each with one JSON
// object on one line, {"ok": true, ...} or {"ok": false, "code": "<code>", "error":
// "<text>"}. Codes: "permission", "bad_request", "unknown_command", "internal".
//
// Access: only root and the daemon's own effective uid (SO_PEERCRED); anyone else
// gets a "permission" answer and the connection is closed. The socket file is mode
// 0666 so that the refusal is an explicit answer rather than EACCES on connect.
// Bounds: a request line of at most `max_request` bytes (longer: "bad_request", then
// close), at most `max_connections` at once (more are closed at accept), an idle
// connection is closed after `idle_timeout`. Nothing blocks the io thread: reads and
// writes are asynchronous and the handler must return at once.
//
// Threading: construct, Listen, Stop and destroy on the io_context's thread (or before
// it runs); the handler runs on that thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "base/status.h"
#include "control/json.h"

namespace nsm::control {

// Path of the control socket for a state directory, next to the pidfile:
// /run/rpc.statd.ctl for NSM_DEFAULT_STATE_DIR, otherwise "/run/rpc.statd" + the
// directory with each '/' replaced by '_' + ".ctl" (the pidfile's rule). The directory
// is first resolved with realpath(3) when it exists, so "-P ./var/" and "-P
// /abs/var" name the same socket. A path too long for a Unix socket address (107
// bytes) becomes "/run/rpc.statd-" + a 64-bit FNV-1a digest of the directory in hex +
// ".ctl".
std::string SocketPath(const std::string& state_dir);

inline constexpr size_t kMaxRequest = 4096;
inline constexpr size_t kMaxResponse = 4 << 20;

struct Request {
  std::string cmd;  // the "cmd" member
  Json body;        // the whole request object
  uid_t uid = 0;    // the client's credentials (SO_PEERCRED)
  pid_t pid = 0;
};

// Returns the answer object; "ok": true is added when the answer has no "ok" member.
using Handler = std::function<Json(const Request&)>;

// An error answer: {"ok": false, "code": code, "error": message}.
Json ErrorReply(const std::string& code, const std::string& message);

struct ServerOptions {
  size_t max_request = kMaxRequest;
  size_t max_connections = 16;
  std::chrono::milliseconds idle_timeout{10000};
};

struct ServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t refused = 0;  // permission, too many connections
  uint64_t bad_requests = 0;
};

class Server {
 public:
  Server(asio::io_context& io, std::string path, Handler handler, ServerOptions opts = {});
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Removes a stale socket left at `path` (only if it is a socket: anything else is an
  // error), binds, sets mode 0666, listens. Call while the directory is writable
  // (rpc.statd: before dropping privileges; /run is root's).
  Status Listen();
  // Closes the listener and every connection; removes the socket file when permitted
  // (after a privilege drop it usually is not: the next Listen removes it).
  void Stop();

  const std::string& path() const { return path_; }
  ServerStats stats() const;

  struct Impl;

 private:
  std::string path_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace nsm::control
