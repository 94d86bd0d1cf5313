// rpcbind client and service registration.
#include "rpc/rpcbind.h"

#include <rpc/rpc.h>
#include <rpc/rpcb_clnt.h>

#include <algorithm>
#include <memory>

#include "base/log.h"
#include "xdr/xdr.h"

namespace nsm::rpc {
namespace {

constexpr uint32_t kRpcbGetAddr = 3;  // v3 and v4
constexpr uint32_t kPmapGetPort = 3;  // v2

std::string NetId(const net::Address& host, Transport t) {
  std::string n = t == Transport::kUdp ? "udp" : "tcp";
  return host.is_v6() ? n + "6" : n;
}

std::chrono::milliseconds Retransmit(std::chrono::milliseconds timeout) {
  return std::clamp(timeout / 4, std::chrono::milliseconds(250), std::chrono::milliseconds(5000));
}

struct Lookup {
  Client* client;      // UDP questions
  Client* tcp_client;  // GETADDR over TCP (for TCP registrations of IPv6 hosts)
  net::Address host;
  uint32_t prog, vers;
  Transport transport;
  std::chrono::milliseconds timeout;
  std::function<void(Result<uint16_t>)> cb;
};

void TryRpcbind(std::shared_ptr<Lookup> l, uint32_t rpcb_vers);

void TryPortmap(std::shared_ptr<Lookup> l) {
  std::vector<uint8_t> args;
  xdr::Encoder e(&args);
  e.U32(l->prog);
  e.U32(l->vers);
  e.U32(l->transport == Transport::kUdp ? IPPROTO_UDP : IPPROTO_TCP);
  e.U32(0);
  CallSpec spec{l->host.WithPort(kRpcbPort),
                Transport::kUdp,
                kRpcbProg,
                2,
                kPmapGetPort,
                std::move(args),
                l->timeout,
                Retransmit(l->timeout)};
  l->client->Call(std::move(spec), [l](Result<std::vector<uint8_t>> r) {
    // A rejection (an rpcbind without portmap v2) falls back to GETADDR.
    if (!r.ok() && r.status().code() == Code::kInvalidArgument) return TryRpcbind(l, 4);
    if (!r.ok()) return l->cb(r.status());
    xdr::Decoder d(*r);
    uint32_t port = 0;
    if (!d.U32(&port) || port > 65535) {
      return l->cb(Status(Code::kInvalidArgument, "malformed portmap reply"));
    }
    if (port == 0) return l->cb(Status(Code::kNotFound, "program not registered"));
    l->cb(static_cast<uint16_t>(port));
  });
}

// rpcbind answers GETADDR for the transport the request arrived on, whatever netid it
// names, so the question is asked over the transport being looked up.
void TryRpcbind(std::shared_ptr<Lookup> l, uint32_t rpcb_vers) {
  std::vector<uint8_t> args;
  xdr::Encoder e(&args);
  e.U32(l->prog);
  e.U32(l->vers);
  e.String(NetId(l->host, l->transport));
  e.String("");
  e.String("");
  CallSpec spec{l->host.WithPort(kRpcbPort),
                l->transport,
                kRpcbProg,
                rpcb_vers,
                kRpcbGetAddr,
                std::move(args),
                l->timeout,
                Retransmit(l->timeout)};
  Client* c = l->transport == Transport::kTcp ? l->tcp_client : l->client;
  c->Call(std::move(spec), [l, rpcb_vers](Result<std::vector<uint8_t>> r) {
    if (!r.ok()) {
      // Timeouts are final; a rejection falls back to the older version.
      if (r.status().code() == Code::kInvalidArgument && rpcb_vers == 4) {
        return TryRpcbind(l, 3);
      }
      return l->cb(r.status());
    }
    xdr::Decoder d(*r);
    std::string uaddr;
    if (!d.String(&uaddr, 256)) {
      return l->cb(Status(Code::kInvalidArgument, "malformed rpcbind reply"));
    }
    if (uaddr.empty()) return l->cb(Status(Code::kNotFound, "program not registered"));
    auto a = ParseUniversalAddress(uaddr);
    if (!a || a->port() == 0) {
      return l->cb(Status(Code::kInvalidArgument, "bad universal address from rpcbind"));
    }
    l->cb(a->port());
  });
}

}  // namespace

void GetPort(Client& client, const net::Address& host, uint32_t prog, uint32_t vers,
             Transport transport, std::chrono::milliseconds timeout,
             std::function<void(Result<uint16_t>)> cb) {
  GetPort(client, client, host, prog, vers, transport, timeout, std::move(cb));
}

void GetPort(Client& udp_client, Client& tcp_client, const net::Address& host, uint32_t prog,
             uint32_t vers, Transport transport, std::chrono::milliseconds timeout,
             std::function<void(Result<uint16_t>)> cb) {
  auto l = std::make_shared<Lookup>(Lookup{&udp_client, &tcp_client, host.Normalized(), prog, vers,
                                           transport, timeout, std::move(cb)});
  // IPv4: portmap GETPORT names the protocol in its arguments and is the cheapest
  // question for rpcbind. IPv6 registrations are only visible to GETADDR.
  if (l->host.is_v4()) return TryPortmap(l);
  TryRpcbind(l, 4);
}

std::optional<net::Address> ParseUniversalAddress(std::string_view uaddr) {
  auto last = uaddr.rfind('.');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  auto prev = uaddr.rfind('.', last - 1);
  if (prev == std::string_view::npos) return std::nullopt;
  auto num = [](std::string_view s, unsigned* out) {
    if (s.empty() || s.size() > 3) return false;
    unsigned v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    *out = v;
    return v <= 255;
  };
  unsigned hi = 0, lo = 0;
  if (!num(uaddr.substr(prev + 1, last - prev - 1), &hi) || !num(uaddr.substr(last + 1), &lo)) {
    return std::nullopt;
  }
  return net::Address::Parse(uaddr.substr(0, prev), static_cast<uint16_t>(hi * 256 + lo));
}

std::string UniversalAddress(const net::Address& a) {
  return a.ToString() + "." + std::to_string(a.port() >> 8) + "." + std::to_string(a.port() & 255);
}

Status RegisterService(uint32_t prog, uint32_t vers, const std::vector<Registration>& regs) {
  rpcb_unset(prog, vers, nullptr);
  for (const auto& r : regs) {
    netconfig* nc = getnetconfigent(r.netid.c_str());
    if (nc == nullptr) {
      return Status(Code::kUnavailable, "no netconfig entry for " + r.netid);
    }
    bool v6 = r.netid.back() == '6';
    net::Address any = *net::Address::Parse(v6 ? "::" : "0.0.0.0", r.port);
    std::string uaddr = UniversalAddress(any);
    netbuf* nb = uaddr2taddr(nc, uaddr.c_str());
    bool ok = nb != nullptr && rpcb_set(prog, vers, nc, nb);
    if (nb != nullptr) {
      free(nb->buf);
      free(nb);
    }
    freenetconfigent(nc);
    if (!ok) {
      return Status(Code::kUnavailable, "rpcbind refused or did not answer registering " +
                                            std::to_string(prog) + " v" + std::to_string(vers) +
                                            " " + r.netid + " (is rpcbind running?)");
    }
  }
  return Status::Ok();
}

void UnregisterService(uint32_t prog, uint32_t vers) { rpcb_unset(prog, vers, nullptr); }

}  // namespace nsm::rpc
