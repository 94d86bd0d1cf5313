// Asynchronous RPC client on Asio for the calls nsm makes: lockd callbacks, rpcbind
// look-ups and SM_NOTIFY. UDP calls share one socket per address family, demultiplexed
// by xid, with retransmission; TCP calls use one connection each. Source ports can be
// reserved (< 1024, needs root or CAP_NET_BIND_SERVICE) or fixed (-o/--outgoing-port).
//
// Threading: one io_context thread; Call() must be invoked on it; callbacks run on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <asio/io_context.hpp>

#include "base/status.h"
#include "net/address.h"
#include "rpc/server.h"

namespace nsm::rpc {

struct CallSpec {
  net::Address server;  // address with port
  Transport transport = Transport::kUdp;
  uint32_t prog = 0;
  uint32_t vers = 0;
  uint32_t proc = 0;
  std::vector<uint8_t> args;
  std::chrono::milliseconds timeout{10000};
  // UDP: first retransmission after this, doubling each time, capped at timeout.
  std::chrono::milliseconds retransmit{1000};
};

// On success: the procedure's result bytes. Errors: kTimeout; kUnavailable (connection
// refused/reset); kInvalidArgument (malformed reply, or the server rejected the call:
// the message says how); kIoError for local socket errors.
using ReplyCallback = std::function<void(Result<std::vector<uint8_t>>)>;

struct ClientOptions {
  bool reserved_port = false;             // bind source ports below 1024
  uint16_t source_port = 0;               // fixed source port (overrides reserved_port)
  std::optional<net::Address> source_v4;  // source address for IPv4 calls
  std::optional<net::Address> source_v6;  // source address for IPv6 calls
  int udp_buffer = 4 << 20;               // SO_RCVBUF/SO_SNDBUF of the UDP sockets
};

struct ClientStats {
  uint64_t calls = 0;
  uint64_t retransmits = 0;
  uint64_t timeouts = 0;
  uint64_t errors = 0;
};

class Client {
 public:
  Client(asio::io_context& io, ClientOptions opts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens the UDP sockets (both families; a family that cannot be opened is skipped).
  Status Open();
  void Call(CallSpec spec, ReplyCallback cb);
  // Fails every pending call with kUnavailable and closes the sockets.
  void Close();
  ClientStats stats() const;
  size_t pending() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace nsm::rpc
