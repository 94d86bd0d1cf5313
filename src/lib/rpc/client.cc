// Asynchronous RPC client: UDP with xid demultiplexing and retransmission, TCP one
// connection per call.
#include "rpc/client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <random>
#include <unordered_map>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "base/log.h"
#include "privsep/privileges.h"
#include "rpc/message.h"
#include "rpc/record.h"

namespace nsm::rpc {
namespace {

template <class Endpoint>
Endpoint ToEndpoint(const net::Address& a) {
  Endpoint ep;
  std::memcpy(ep.data(), a.sockaddr_ptr(), a.sockaddr_len());
  ep.resize(a.sockaddr_len());
  return ep;
}

template <class Endpoint>
net::Address FromEndpoint(const Endpoint& ep) {
  return net::Address::FromSockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
}

Result<std::vector<uint8_t>> ResultsOf(std::span<const uint8_t> msg) {
  auto r = ParseReply(msg);
  if (!r.ok()) return r.status();
  if (!r->accepted || r->accept_stat != AcceptStat::kSuccess) {
    return Status(Code::kInvalidArgument, "call rejected: " + r->ToString());
  }
  return std::vector<uint8_t>(r->results.begin(), r->results.end());
}

uint32_t RandomXid() {
  std::random_device rd;
  return rd();
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  struct UdpCall {
    CallSpec spec;
    ReplyCallback cb;
    std::vector<uint8_t> bytes;
    std::unique_ptr<asio::steady_timer> timer;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds interval{};
    asio::ip::udp::socket* sock = nullptr;
  };

  Impl(asio::io_context& ctx, ClientOptions o)
      : io(ctx), opts(std::move(o)), next_xid(RandomXid()) {}

  asio::io_context& io;
  ClientOptions opts;
  uint32_t next_xid;
  std::unique_ptr<asio::ip::udp::socket> udp4, udp6;
  std::array<uint8_t, 65536> rbuf4{}, rbuf6{};
  asio::ip::udp::endpoint from4, from6;
  std::unordered_map<uint32_t, UdpCall> udp_calls;  // by xid; thousands may be pending
  size_t tcp_pending = 0;
  ClientStats stats;
  bool closed = false;

  Status BindSource(int fd, int family) {
    const net::Address* src = nullptr;
    if (family == AF_INET && opts.source_v4) src = &*opts.source_v4;
    if (family == AF_INET6 && opts.source_v6) src = &*opts.source_v6;
    if (opts.source_port != 0) {
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      net::Address a = src != nullptr       ? src->WithPort(opts.source_port)
                       : family == AF_INET6 ? *net::Address::Parse("::", opts.source_port)
                                            : *net::Address::Parse("0.0.0.0", opts.source_port);
      if (::bind(fd, a.sockaddr_ptr(), a.sockaddr_len()) != 0) {
        return ErrnoStatus("cannot bind source " + a.ToStringWithPort(), errno);
      }
      return Status::Ok();
    }
    if (opts.reserved_port) {
      return src != nullptr
                 ? privsep::BindReservedPort(fd, src->sockaddr_ptr(), src->sockaddr_len()).status()
                 : privsep::BindReservedPort(fd, family).status();
    }
    if (src != nullptr) {
      net::Address a = src->WithPort(0);
      if (::bind(fd, a.sockaddr_ptr(), a.sockaddr_len()) != 0) {
        return ErrnoStatus("cannot bind source " + a.ToString(), errno);
      }
    }
    return Status::Ok();
  }

  Status OpenUdp(bool v6) {
    auto s = std::make_unique<asio::ip::udp::socket>(io);
    std::error_code ec;
    s->open(v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
    if (ec) return Status(Code::kUnavailable, "udp socket: " + ec.message());
    if (v6) s->set_option(asio::ip::v6_only(true), ec);
    s->set_option(asio::socket_base::receive_buffer_size(opts.udp_buffer), ec);
    s->set_option(asio::socket_base::send_buffer_size(opts.udp_buffer), ec);
    // SO_RCVBUF is capped by net.core.rmem_max; when privileged, ask past the cap so a
    // burst of thousands of replies is not dropped.
    int want = opts.udp_buffer;
    setsockopt(s->native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want);
    setsockopt(s->native_handle(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want);
    Status st = BindSource(s->native_handle(), v6 ? AF_INET6 : AF_INET);
    if (!st.ok()) return st;
    s->non_blocking(true, ec);
    (v6 ? udp6 : udp4) = std::move(s);
    Receive(v6);
    return Status::Ok();
  }

  void Receive(bool v6) {
    auto* sock = (v6 ? udp6 : udp4).get();
    auto& buf = v6 ? rbuf6 : rbuf4;
    auto& from = v6 ? from6 : from4;
    auto self = shared_from_this();
    sock->async_receive_from(
        asio::buffer(buf), from, [this, self, v6](std::error_code ec, size_t n) {
          if (closed || ec == asio::error::operation_aborted) return;
          if (!ec)
            OnDatagram(std::span<const uint8_t>((v6 ? rbuf6 : rbuf4).data(), n),
                       FromEndpoint(v6 ? from6 : from4));
          Receive(v6);
        });
  }

  void OnDatagram(std::span<const uint8_t> msg, const net::Address& from) {
    uint32_t xid = 0;
    bool is_reply = false;
    if (!PeekXid(msg, &xid, &is_reply) || !is_reply) return;
    auto it = udp_calls.find(xid);
    if (it == udp_calls.end()) return;  // late duplicate
    if (!it->second.spec.server.SameHost(from)) {
      log::Debug("ignoring reply xid ", xid, " from unexpected ", from.ToString());
      return;
    }
    FinishUdp(it, ResultsOf(msg));
  }

  void FinishUdp(std::unordered_map<uint32_t, UdpCall>::iterator it,
                 Result<std::vector<uint8_t>> r) {
    auto cb = std::move(it->second.cb);
    it->second.timer->cancel();
    udp_calls.erase(it);
    if (!r.ok()) stats.errors++;
    cb(std::move(r));
  }

  void SendUdp(uint32_t xid) {
    auto it = udp_calls.find(xid);
    if (it == udp_calls.end()) return;
    UdpCall& c = it->second;
    std::error_code ec;
    c.sock->send_to(asio::buffer(c.bytes), ToEndpoint<asio::ip::udp::endpoint>(c.spec.server), 0,
                    ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::no_buffer_space) {
      FinishUdp(it, Status(Code::kUnavailable,
                           "send to " + c.spec.server.ToStringWithPort() + ": " + ec.message()));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    auto next = now + c.interval;
    if (next > c.deadline) next = c.deadline;
    c.timer->expires_at(next);
    auto self = shared_from_this();
    c.timer->async_wait([this, self, xid](std::error_code tec) {
      if (tec || closed) return;
      auto i = udp_calls.find(xid);
      if (i == udp_calls.end()) return;
      if (std::chrono::steady_clock::now() >= i->second.deadline) {
        stats.timeouts++;
        FinishUdp(
            i, Status(Code::kTimeout, "no reply from " + i->second.spec.server.ToStringWithPort()));
        return;
      }
      stats.retransmits++;
      i->second.interval = std::min(i->second.interval * 2, i->second.spec.timeout);
      SendUdp(xid);
    });
  }

  void CallUdp(CallSpec spec, ReplyCallback cb) {
    auto* sock = spec.server.is_v6() ? udp6.get() : udp4.get();
    if (sock == nullptr) {
      cb(Status(Code::kUnavailable, "no UDP socket for this address family"));
      return;
    }
    uint32_t xid = next_xid++;
    while (udp_calls.count(xid) != 0) xid = next_xid++;
    UdpCall c;
    c.bytes = BuildCall(xid, spec.prog, spec.vers, spec.proc, spec.args);
    c.deadline = std::chrono::steady_clock::now() + spec.timeout;
    c.interval = std::max(spec.retransmit, std::chrono::milliseconds(10));
    c.timer = std::make_unique<asio::steady_timer>(io);
    c.sock = sock;
    c.spec = std::move(spec);
    c.cb = std::move(cb);
    udp_calls.emplace(xid, std::move(c));
    SendUdp(xid);
  }

  struct TcpCall : std::enable_shared_from_this<TcpCall> {
    TcpCall(std::shared_ptr<Impl> o, uint32_t x, CallSpec s, ReplyCallback c)
        : owner(std::move(o)),
          xid(x),
          spec(std::move(s)),
          cb(std::move(c)),
          sock(owner->io),
          timer(owner->io),
          assembler(1 << 20) {}
    std::shared_ptr<Impl> owner;
    uint32_t xid;
    CallSpec spec;
    ReplyCallback cb;
    asio::ip::tcp::socket sock;
    asio::steady_timer timer;
    RecordAssembler assembler;
    std::vector<uint8_t> out;
    std::array<uint8_t, 4096> buf{};
    bool done = false;

    void Finish(Result<std::vector<uint8_t>> r) {
      if (done) return;
      done = true;
      owner->tcp_pending--;
      std::error_code ec;
      sock.close(ec);
      timer.cancel();
      if (!r.ok()) owner->stats.errors++;
      auto c = std::move(cb);
      c(std::move(r));
    }

    void Start() {
      std::error_code ec;
      bool v6 = spec.server.is_v6();
      sock.open(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ec);
      if (ec) return Finish(Status(Code::kIoError, "tcp socket: " + ec.message()));
      Status st = owner->BindSource(sock.native_handle(), v6 ? AF_INET6 : AF_INET);
      if (!st.ok()) return Finish(st);
      auto self = shared_from_this();
      timer.expires_after(spec.timeout);
      timer.async_wait([self](std::error_code tec) {
        if (tec || self->done) return;
        self->owner->stats.timeouts++;
        self->Finish(Status(Code::kTimeout,
                            "no reply over TCP from " + self->spec.server.ToStringWithPort()));
      });
      out = FrameRecord(BuildCall(xid, spec.prog, spec.vers, spec.proc, spec.args));
      sock.async_connect(
          ToEndpoint<asio::ip::tcp::endpoint>(spec.server), [self](std::error_code cec) {
            if (self->done) return;
            if (cec) {
              return self->Finish(Status(
                  Code::kUnavailable,
                  "connect to " + self->spec.server.ToStringWithPort() + ": " + cec.message()));
            }
            asio::async_write(
                self->sock, asio::buffer(self->out), [self](std::error_code wec, size_t) {
                  if (self->done) return;
                  if (wec) {
                    return self->Finish(Status(Code::kUnavailable, "send: " + wec.message()));
                  }
                  self->Read();
                });
          });
    }

    void Read() {
      auto self = shared_from_this();
      sock.async_read_some(asio::buffer(buf), [self](std::error_code ec, size_t n) {
        if (self->done) return;
        if (ec)
          return self->Finish(Status(Code::kUnavailable, "connection closed: " + ec.message()));
        std::vector<std::vector<uint8_t>> recs;
        if (!self->assembler.Feed(std::span<const uint8_t>(self->buf.data(), n), &recs)) {
          return self->Finish(Status(Code::kInvalidArgument, "oversized reply record"));
        }
        for (auto& r : recs) {
          uint32_t x = 0;
          bool is_reply = false;
          if (PeekXid(r, &x, &is_reply) && is_reply && x == self->xid) {
            return self->Finish(ResultsOf(r));
          }
        }
        self->Read();
      });
    }
  };

  void CallTcp(CallSpec spec, ReplyCallback cb) {
    tcp_pending++;
    auto call =
        std::make_shared<TcpCall>(shared_from_this(), next_xid++, std::move(spec), std::move(cb));
    call->Start();
  }
};

Client::Client(asio::io_context& io, ClientOptions opts)
    : impl_(std::make_shared<Impl>(io, std::move(opts))) {}

Client::~Client() { Close(); }

Status Client::Open() {
  Status s4 = impl_->OpenUdp(false);
  Status s6 = impl_->OpenUdp(true);
  if (!s4.ok() && !s6.ok()) return s4;
  if (!s4.ok()) log::Warning("RPC client: no IPv4 UDP socket: ", s4.ToString());
  if (!s6.ok()) log::Debug("RPC client: no IPv6 UDP socket: ", s6.ToString());
  return Status::Ok();
}

void Client::Call(CallSpec spec, ReplyCallback cb) {
  impl_->stats.calls++;
  if (impl_->closed) {
    cb(Status(Code::kUnavailable, "client closed"));
    return;
  }
  if (spec.transport == Transport::kUdp) {
    impl_->CallUdp(std::move(spec), std::move(cb));
  } else {
    impl_->CallTcp(std::move(spec), std::move(cb));
  }
}

void Client::Close() {
  if (impl_->closed) return;
  impl_->closed = true;
  std::error_code ec;
  if (impl_->udp4) impl_->udp4->close(ec);
  if (impl_->udp6) impl_->udp6->close(ec);
  auto calls = std::move(impl_->udp_calls);
  impl_->udp_calls.clear();
  for (auto& [xid, c] : calls) {
    c.timer->cancel();
    c.cb(Status(Code::kUnavailable, "client closed"));
  }
}

ClientStats Client::stats() const { return impl_->stats; }
size_t Client::pending() const { return impl_->udp_calls.size() + impl_->tcp_pending; }

}  // namespace nsm::rpc
