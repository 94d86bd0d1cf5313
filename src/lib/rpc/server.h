// RPC server on Asio: UDP and TCP listeners on IPv4 and IPv6 (v6only) sharing one port
// number, record marking on TCP, dispatch to registered programs with correct
// rejections (RPC_MISMATCH, AUTH_ERROR, PROG_UNAVAIL, PROG_MISMATCH). Replies may be
// deferred: a handler keeps its Responder and answers later, from any thread.
//
// Threading: the Server lives on one io_context thread; handlers run on it.
// Responder::Success/Error may be called from any thread (they post to the io_context).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <asio/io_context.hpp>

#include "base/status.h"
#include "net/address.h"
#include "rpc/message.h"

namespace nsm::rpc {

enum class Transport { kUdp, kTcp };
const char* TransportName(Transport t);

struct CallContext {
  net::Address peer;  // as received (may be ::ffff:a.b.c.d on a v6 socket)
  Transport transport = Transport::kUdp;
  CallHeader header;
};

// A reply owed to one call. Move-only; answer at most once. Dropping it unanswered
// sends nothing (the client retransmits or times out).
class Responder {
 public:
  using SendFn = std::function<void(std::vector<uint8_t>)>;
  Responder() = default;
  Responder(uint32_t xid, SendFn send) : xid_(xid), send_(std::move(send)) {}
  Responder(Responder&&) = default;
  Responder& operator=(Responder&&) = default;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  void Success(std::span<const uint8_t> results = {});
  void Error(AcceptStat stat);
  bool pending() const { return static_cast<bool>(send_); }

 private:
  uint32_t xid_ = 0;
  SendFn send_;
};

using Handler = std::function<void(const CallContext&, std::span<const uint8_t> args, Responder)>;

struct ServerOptions {
  uint16_t port = 0;  // 0: any free port, the same number for all four sockets
  bool ipv6 = true;   // also listen on IPv6 (skipped with a warning if unavailable)
  size_t max_record = 64 * 1024;
  size_t max_tcp_connections = 1024;  // beyond: the longest-idle connection is closed
  std::chrono::seconds tcp_idle_timeout{900};
  size_t max_pending_per_connection = 64;  // reading pauses beyond this
  int udp_receive_buffer = 1 << 20;
  // Datagrams per second read from each wildcard UDP socket (0: unlimited); beyond it
  // the kernel drops the excess. Loopback sockets (local callers) are not limited.
  size_t udp_max_rate = 5000;
};

struct ServerStats {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> dropped{0};   // undecodable headers, oversized records
  std::atomic<uint64_t> rejected{0};  // RPC_MISMATCH, AUTH_ERROR, PROG_*, PROC_UNAVAIL
  std::atomic<uint64_t> tcp_accepted{0};
  std::atomic<uint64_t> tcp_refused{0};    // over max_tcp_connections, none evictable
  std::atomic<uint64_t> tcp_evicted{0};    // longest-idle closed to make room
  std::atomic<uint64_t> udp_throttled{0};  // pauses of a flooded wildcard UDP socket
  std::atomic<uint64_t> tcp_idle_closed{0};
};

class Server {
 public:
  Server(asio::io_context& io, ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void AddProgram(uint32_t prog, uint32_t vers_low, uint32_t vers_high, Handler handler);
  // Binds and starts listening. Errors name the address that failed.
  Status Listen();
  void Stop();

  uint16_t port() const { return port_; }
  bool has_ipv6() const { return has_ipv6_; }
  const ServerStats& stats() const { return stats_; }
  size_t tcp_connections() const;

  struct Impl;

 private:
  asio::io_context& io_;
  ServerOptions opts_;
  uint16_t port_ = 0;
  bool has_ipv6_ = false;
  ServerStats stats_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace nsm::rpc
