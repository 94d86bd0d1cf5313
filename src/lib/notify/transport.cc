// Transport over rpc::Client: finding NSM through portmap/rpcbind, and SM_NOTIFY.
#include "notify/transport.h"

#include <algorithm>

#include <asio/post.hpp>

#include "proto/nsm.h"
#include "rpc/rpcbind.h"
#include "xdr/xdr.h"

namespace nsm::notify {
namespace {

class RpcTransport : public Transport {
 public:
  RpcTransport(asio::io_context& io, rpc::Client& udp, rpc::Client& tcp)
      : io_(io), udp_(udp), tcp_(tcp) {}

  // rpc::Client reports some errors (closed client, failed send) inline; the
  // Transport contract promises callbacks from the io_context, so every one is posted.
  void GetPort(const net::Address& host, rpc::Transport transport,
               std::chrono::milliseconds timeout, PortCallback cb) override {
    auto posted = [this, cb = std::move(cb)](Result<uint16_t> r) mutable {
      asio::post(io_, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
    };
    // Portmap GETPORT for IPv4, GETADDR over the transport asked about for IPv6.
    rpc::GetPort(udp_, tcp_, host, proto::kSmProg, proto::kSmVers, transport, timeout,
                 std::move(posted));
  }

  void Notify(const net::Address& server, rpc::Transport transport, const std::string& mon_name,
              int32_t state, std::chrono::milliseconds timeout,
              std::chrono::milliseconds retransmit, NotifyCallback cb) override {
    rpc::CallSpec spec;
    spec.server = server;
    spec.transport = transport;
    spec.prog = proto::kSmProg;
    spec.vers = proto::kSmVers;
    spec.proc = proto::kSmNotify;
    spec.args = proto::EncodeStatChge(proto::StatChge{mon_name, state});
    spec.timeout = timeout;
    spec.retransmit = retransmit;
    rpc::Client& client = transport == rpc::Transport::kTcp ? tcp_ : udp_;
    client.Call(
        std::move(spec), [this, cb = std::move(cb)](Result<std::vector<uint8_t>> r) mutable {
          asio::post(io_, [cb = std::move(cb), s = r.ok() ? Status::Ok() : r.status()]() mutable {
            cb(std::move(s));
          });
        });
  }

 private:
  asio::io_context& io_;
  rpc::Client& udp_;
  rpc::Client& tcp_;
};

}  // namespace

std::unique_ptr<Transport> MakeRpcTransport(asio::io_context& io, rpc::Client& udp,
                                            rpc::Client& tcp) {
  return std::make_unique<RpcTransport>(io, udp, tcp);
}

}  // namespace nsm::notify
