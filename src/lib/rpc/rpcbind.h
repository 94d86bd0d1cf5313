// rpcbind: asking a host's rpcbind where a program listens (asynchronously, RPCBIND
// v4/v3 GETADDR with a portmap v2 GETPORT fallback), and registering our own service
// with the local rpcbind (through libtirpc's rpcb_set/rpcb_unset, by netid).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/address.h"
#include "rpc/client.h"

namespace nsm::rpc {

constexpr uint32_t kRpcbProg = 100000;
constexpr uint16_t kRpcbPort = 111;

// Looks up prog/vers for `transport` at `host` (port ignored; 111 is used): portmap v2
// GETPORT over UDP for IPv4 (GETADDR if rejected), RPCBIND v4/v3 GETADDR over
// `transport` itself for IPv6 (rpcbind answers for the transport asked over). The callback gets the
// port, kNotFound when the program is not registered for that transport, or the call's error.
void GetPort(Client& client, const net::Address& host, uint32_t prog, uint32_t vers,
             Transport transport, std::chrono::milliseconds timeout,
             std::function<void(Result<uint16_t>)> cb);
// The same, asking TCP questions through `tcp_client` (e.g. one without reserved ports).
void GetPort(Client& udp_client, Client& tcp_client, const net::Address& host, uint32_t prog,
             uint32_t vers, Transport transport, std::chrono::milliseconds timeout,
             std::function<void(Result<uint16_t>)> cb);

// "h1.h2.h3.h4.p1.p2" / "x:x::x.p1.p2" <-> address with port.
std::optional<net::Address> ParseUniversalAddress(std::string_view uaddr);
std::string UniversalAddress(const net::Address& a);

struct Registration {
  std::string netid;  // "udp", "tcp", "udp6", "tcp6"
  uint16_t port = 0;
};
// Replaces any previous registration of prog/vers with ours (unset, then set each netid).
// Blocking local call: only at start-up and shutdown.
Status RegisterService(uint32_t prog, uint32_t vers, const std::vector<Registration>& regs);
void UnregisterService(uint32_t prog, uint32_t vers);

}  // namespace nsm::rpc
