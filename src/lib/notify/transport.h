// Network seam of the notifier: the two calls a notification is made of, a look-up
// of NSM (100024 v1) with the peer's portmapper/rpcbind and SM_NOTIFY itself. The
// production implementation uses rpc::Client (UDP with xid demultiplexing and
// retransmission, TCP one connection per call); unit tests use a scripted fake.
//
// Threading: called on the io_context thread; callbacks run on it, never inline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "base/status.h"
#include "net/address.h"
#include "rpc/client.h"
#include "rpc/server.h"

namespace nsm::notify {

class Transport {
 public:
  using PortCallback = std::function<void(Result<uint16_t>)>;
  using NotifyCallback = std::function<void(Status)>;

  virtual ~Transport() = default;
  // Asks rpcbind on `host` (port ignored) where NSM listens for `transport`. kNotFound
  // when NSM is not registered for it; kTimeout / kUnavailable / ... otherwise.
  virtual void GetPort(const net::Address& host, rpc::Transport transport,
                       std::chrono::milliseconds timeout, PortCallback cb) = 0;
  // SM_NOTIFY{mon_name, state} to `server` (address with port). Ok when the peer
  // answered (the procedure's result is void). UDP retransmits after `retransmit`,
  // doubling, until `timeout`.
  virtual void Notify(const net::Address& server, rpc::Transport transport,
                      const std::string& mon_name, int32_t state, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds retransmit, NotifyCallback cb) = 0;
};

// Over open rpc::Clients running on `io` (none owned; all must outlive the
// transport): UDP calls go through `udp`, TCP calls through `tcp`. They may be the
// same client; sm-notify gives TCP its own, without reserved source ports, because a
// reserved port stays in TIME_WAIT for a minute after each TCP call and there are
// only a few hundred of them. Callbacks are posted to `io`; after the io_context
// stops they are dropped, so the notifier must be finished or stopped before that.
std::unique_ptr<Transport> MakeRpcTransport(asio::io_context& io, rpc::Client& udp,
                                            rpc::Client& tcp);

}  // namespace nsm::notify
