// Transport over rpc::Client: finding NSM through portmap/rpcbind, and SM_NOTIFY.
#include "notify/transport.h"

#include <algorithm>

#include <asio/post.hpp>

#include "proto/nsm.h"
#include "rpc/rpcbind.h"
#include "xdr/xdr.h"

namespace nsm::notify {
namespace {

constexpr uint32_t kPmapVers = 2, kPmapGetPort = 3, kRpcbGetAddr = 3;
constexpr uint32_t kIpprotoTcp = 6, kIpprotoUdp = 17;

// Finds NSM's port for `transport` at `host` the way nfs-utils' sm-notify does:
//   IPv4: portmap v2 GETPORT over UDP. Its protocol field is honoured, and rpcbind
//         answers it without the per-request interface walk of GETADDR (which grows
//         with the number of addresses on the peer).
//   IPv6: rpcbind v4 GETADDR (v3 if refused), sent over the transport it asks about:
//         rpcbind answers GETADDR for the netid of the transport the request arrived
//         on, not the r_netid it names, so a TCP registration is invisible to a
//         GETADDR over UDP (rpc::GetPort's method, which therefore misses peers that
//         registered TCP only).
// An IPv4 rpcbind that refuses portmap v2 is asked with GETADDR as for IPv6.
void Lookup(rpc::Client& udp, rpc::Client& tcp_client, const net::Address& host,
            rpc::Transport transport, std::chrono::milliseconds timeout, uint32_t vers,
            Transport::PortCallback cb) {
  const bool tcp = transport == rpc::Transport::kTcp;
  std::vector<uint8_t> args;
  xdr::Encoder e(&args);
  e.U32(proto::kSmProg);
  e.U32(proto::kSmVers);
  rpc::CallSpec spec;
  spec.server = host.Normalized().WithPort(rpc::kRpcbPort);
  spec.prog = rpc::kRpcbProg;
  spec.vers = vers;
  spec.timeout = timeout;
  spec.retransmit =
      std::clamp(timeout / 4, std::chrono::milliseconds(250), std::chrono::milliseconds(5000));
  const bool pmap = vers == kPmapVers;
  if (pmap) {
    e.U32(tcp ? kIpprotoTcp : kIpprotoUdp);
    e.U32(0);
    spec.transport = rpc::Transport::kUdp;
    spec.proc = kPmapGetPort;
  } else {
    const bool v6 = spec.server.is_v6();
    e.String(std::string(tcp ? "tcp" : "udp") + (v6 ? "6" : ""));
    e.String("");
    e.String("");
    spec.transport = transport;
    spec.proc = kRpcbGetAddr;
  }
  spec.args = std::move(args);
  rpc::Client& client = spec.transport == rpc::Transport::kTcp ? tcp_client : udp;
  client.Call(std::move(spec), [&udp, &tcp_client, host, transport, timeout, vers, pmap,
                                cb = std::move(cb)](Result<std::vector<uint8_t>> r) mutable {
    if (!r.ok()) {
      // A rejection (PROG_MISMATCH...) means an older or newer rpcbind: ask another way.
      if (r.status().code() == Code::kInvalidArgument && (pmap || vers == 4)) {
        return Lookup(udp, tcp_client, host, transport, timeout, pmap ? 4 : 3, std::move(cb));
      }
      return cb(r.status());
    }
    xdr::Decoder d(*r);
    if (pmap) {
      uint32_t port = 0;
      if (!d.U32(&port) || port > 65535) {
        return cb(Status(Code::kInvalidArgument, "malformed portmap reply"));
      }
      if (port == 0) return cb(Status(Code::kNotFound, "program not registered"));
      return cb(static_cast<uint16_t>(port));
    }
    std::string uaddr;
    if (!d.String(&uaddr, 256)) {
      return cb(Status(Code::kInvalidArgument, "malformed rpcbind reply"));
    }
    if (uaddr.empty()) return cb(Status(Code::kNotFound, "program not registered"));
    auto a = rpc::ParseUniversalAddress(uaddr);
    if (!a || a->port() == 0) {
      return cb(Status(Code::kInvalidArgument, "bad universal address from rpcbind"));
    }
    cb(a->port());
  });
}

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
    Lookup(udp_, tcp_, host, transport, timeout, host.Normalized().is_v4() ? kPmapVers : 4,
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
