// RPC server: listeners, TCP connections, dispatch.
#include "rpc/server.h"

#include <deque>
#include <map>
#include <set>

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "base/log.h"
#include "rpc/record.h"

namespace nsm::rpc {

const char* TransportName(Transport t) { return t == Transport::kUdp ? "udp" : "tcp"; }

void Responder::Success(std::span<const uint8_t> results) {
  if (!send_) return;
  auto send = std::move(send_);
  send_ = nullptr;
  send(BuildAcceptedReply(xid_, AcceptStat::kSuccess, results));
}

void Responder::Error(AcceptStat stat) {
  if (!send_) return;
  auto send = std::move(send_);
  send_ = nullptr;
  send(BuildAcceptedReply(xid_, stat));
}

namespace {

struct Program {
  uint32_t low = 0;
  uint32_t high = 0;
  Handler handler;
};

template <class Endpoint>
net::Address ToAddress(const Endpoint& ep) {
  return net::Address::FromSockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  class Connection;

  Impl(asio::io_context& ctx, const ServerOptions& o, ServerStats* s)
      : io(ctx), opts(o), stats(s) {}

  asio::io_context& io;
  ServerOptions opts;
  ServerStats* stats;
  std::map<uint32_t, Program> programs;
  std::vector<std::unique_ptr<asio::ip::udp::socket>> udp;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
  std::set<std::shared_ptr<Connection>> connections;
  bool stopped = false;

  // Handles one decoded message; `send` transmits a reply on the same transport.
  void Handle(std::span<const uint8_t> msg, const net::Address& peer, Transport t,
              const Responder::SendFn& send) {
    ParsedCall pc = ParseCall(msg);
    switch (pc.verdict) {
      case CallVerdict::kDrop:
        stats->dropped++;
        log::Debug("dropped undecodable ", TransportName(t), " message from ", peer.ToString());
        return;
      case CallVerdict::kRpcMismatch:
        stats->rejected++;
        send(BuildRpcMismatchReply(pc.header.xid));
        return;
      case CallVerdict::kAuthError:
        stats->rejected++;
        send(BuildAuthErrorReply(pc.header.xid, pc.auth_stat));
        return;
      case CallVerdict::kDispatch:
        break;
    }
    auto it = programs.find(pc.header.prog);
    if (it == programs.end()) {
      stats->rejected++;
      send(BuildAcceptedReply(pc.header.xid, AcceptStat::kProgUnavail));
      return;
    }
    const Program& p = it->second;
    if (pc.header.vers < p.low || pc.header.vers > p.high) {
      stats->rejected++;
      send(BuildProgMismatchReply(pc.header.xid, p.low, p.high));
      return;
    }
    stats->calls++;
    CallContext ctx{peer, t, pc.header};
    p.handler(ctx, pc.args, Responder(pc.header.xid, send));
  }

  // Per UDP socket: one receive buffer, and for the wildcard sockets (which the network
  // can flood) a token bucket: past `udp_max_rate` datagrams per second the socket is
  // not read for a moment and the kernel drops the excess at no cost to this thread.
  // The loopback sockets, where local callers arrive, are never throttled.
  struct UdpState {
    std::vector<uint8_t> buf = std::vector<uint8_t>(65536);
    asio::ip::udp::endpoint from;
    bool throttled = false;
    double tokens = 0;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::map<asio::ip::udp::socket*, UdpState> udp_state;

  void StartUdp(asio::ip::udp::socket* sock) {
    UdpState& st = udp_state[sock];
    if (!st.timer) {
      std::error_code lec;
      auto local = sock->local_endpoint(lec);
      st.throttled = !lec && !local.address().is_loopback() && opts.udp_max_rate > 0;
      st.tokens = static_cast<double>(opts.udp_max_rate);
      st.timer = std::make_unique<asio::steady_timer>(io);
    }
    auto self = shared_from_this();
    sock->async_receive_from(
        asio::buffer(st.buf), st.from, [this, self, sock](std::error_code ec, size_t n) {
          if (stopped) return;
          UdpState& us = udp_state[sock];
          if (ec) {
            if (ec == asio::error::operation_aborted) return;
            log::Warning("UDP receive: ", ec.message());
          } else {
            asio::ip::udp::endpoint to = us.from;
            std::weak_ptr<Impl> weak = self;
            auto send = [weak, sock, to](std::vector<uint8_t> reply) {
              auto impl = weak.lock();
              if (!impl) return;
              asio::post(impl->io, [weak, sock, to, reply = std::move(reply)] {
                auto i = weak.lock();
                if (!i || i->stopped) return;
                std::error_code wec;
                sock->send_to(asio::buffer(reply), to, 0, wec);
                if (wec) log::Debug("UDP reply dropped: ", wec.message());
              });
            };
            Handle(std::span<const uint8_t>(us.buf.data(), n), ToAddress(to), Transport::kUdp,
                   send);
          }
          if (us.throttled) {
            auto now = std::chrono::steady_clock::now();
            double rate = static_cast<double>(opts.udp_max_rate);
            us.tokens = std::min(
                rate, us.tokens + std::chrono::duration<double>(now - us.last).count() * rate);
            us.last = now;
            us.tokens -= 1;
            if (us.tokens < 0) {
              stats->udp_throttled++;
              us.timer->expires_after(
                  std::chrono::microseconds(static_cast<int64_t>(-us.tokens / rate * 1e6) + 1000));
              us.timer->async_wait([this, self, sock](std::error_code tec) {
                if (!tec && !stopped) StartUdp(sock);
              });
              return;
            }
          }
          StartUdp(sock);
        });
  }

  void StartAccept(asio::ip::tcp::acceptor* acc);
  void MakeRoom();
};

class Server::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Accounts for one call's reply slot: sends the reply on the io thread, or releases
  // the slot when the call was dropped unanswered (every copy of the sender is gone).
  class ReplyTicket {
   public:
    ReplyTicket(std::weak_ptr<Connection> conn, asio::io_context& io) : conn_(conn), io_(io) {}
    ~ReplyTicket() {
      if (sent_) return;
      asio::post(io_, [conn = conn_] {
        if (auto c = conn.lock()) c->Queue({});
      });
    }
    void Send(std::vector<uint8_t> reply) {
      if (sent_.exchange(true)) return;
      asio::post(io_, [conn = conn_, reply = std::move(reply)]() mutable {
        if (auto c = conn.lock()) c->Queue(std::move(reply));
      });
    }

   private:
    std::weak_ptr<Connection> conn_;
    asio::io_context& io_;
    std::atomic<bool> sent_{false};
  };

  Connection(std::shared_ptr<Impl> server, asio::ip::tcp::socket sock)
      : server_(std::move(server)),
        sock_(std::move(sock)),
        idle_(server_->io),
        assembler_(server_->opts.max_record) {
    std::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) peer_ = ToAddress(ep);
  }

  void Start() {
    ArmIdle();
    Read();
  }

  // Evictable when no reply is owed; the longest-idle such connection makes room for
  // a new one at the connection limit.
  bool evictable() const { return !closed_ && pending_ == 0; }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }
  const net::Address& peer() const { return peer_; }

  void Close() {
    if (closed_) return;
    closed_ = true;
    std::error_code ec;
    sock_.close(ec);
    idle_.cancel();
    server_->connections.erase(shared_from_this());
  }

 private:
  void ArmIdle() {
    last_active_ = std::chrono::steady_clock::now();
    idle_.expires_after(server_->opts.tcp_idle_timeout);
    auto self = shared_from_this();
    idle_.async_wait([self](std::error_code ec) {
      if (ec || self->closed_) return;
      if (self->pending_ > 0) {  // a deferred reply is still owed: not idle
        self->ArmIdle();
        return;
      }
      self->server_->stats->tcp_idle_closed++;
      log::Debug("closing idle TCP connection from ", self->peer_.ToString());
      self->Close();
    });
  }

  void Read() {
    if (closed_ || reading_ || pending_ >= server_->opts.max_pending_per_connection) return;
    reading_ = true;
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_), [self](std::error_code ec, size_t n) {
      self->reading_ = false;
      if (self->closed_) return;
      if (ec) {
        self->Close();
        return;
      }
      self->ArmIdle();
      std::vector<std::vector<uint8_t>> records;
      if (!self->assembler_.Feed(std::span<const uint8_t>(self->buf_.data(), n), &records)) {
        self->server_->stats->dropped++;
        log::Warning("closing TCP connection from ", self->peer_.ToString(),
                     ": record larger than ", self->server_->opts.max_record, " bytes");
        self->Close();
        return;
      }
      for (auto& rec : records) {
        self->pending_++;
        auto ticket = std::make_shared<ReplyTicket>(self, self->server_->io);
        auto send = [ticket](std::vector<uint8_t> reply) { ticket->Send(std::move(reply)); };
        self->server_->Handle(rec, self->peer_, Transport::kTcp, send);
        if (self->closed_) return;
      }
      self->Read();
    });
  }

 public:
  // Called on the io thread with one reply for this connection (empty: no reply).
  void Queue(std::vector<uint8_t> reply) {
    if (pending_ > 0) pending_--;
    if (closed_) return;
    if (!reply.empty()) out_.push_back(FrameRecord(reply));
    Write();
    Read();
  }

 private:
  void Write() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_.front()), [self](std::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->Close();
        return;
      }
      self->out_.pop_front();
      self->Write();
    });
  }

  std::shared_ptr<Impl> server_;
  asio::ip::tcp::socket sock_;
  asio::steady_timer idle_;
  RecordAssembler assembler_;
  net::Address peer_;
  std::array<uint8_t, 16384> buf_{};
  std::deque<std::vector<uint8_t>> out_;
  size_t pending_ = 0;
  std::chrono::steady_clock::time_point last_active_;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

// At the connection limit, a new caller (lockd reconnecting for its next SM_MON)
// must not be locked out by idle or half-open connections: the one idle longest and
// owing no reply is closed to make room.
void Server::Impl::MakeRoom() {
  std::shared_ptr<Connection> oldest;
  for (const auto& c : connections) {
    if (c->evictable() && (!oldest || c->last_active() < oldest->last_active())) oldest = c;
  }
  if (!oldest) return;
  stats->tcp_evicted++;
  log::Debug("connection limit: closing the longest-idle connection, from ",
             oldest->peer().ToString());
  oldest->Close();
}

void Server::Impl::StartAccept(asio::ip::tcp::acceptor* acc) {
  auto self = shared_from_this();
  acc->async_accept([this, self, acc](std::error_code ec, asio::ip::tcp::socket sock) {
    if (stopped) return;
    if (!ec) {
      if (connections.size() >= opts.max_tcp_connections) MakeRoom();
      if (connections.size() >= opts.max_tcp_connections) {
        stats->tcp_refused++;
        log::Warning("refusing TCP connection: ", connections.size(), " open (limit ",
                     opts.max_tcp_connections, "), each owing a reply");
        std::error_code cec;
        sock.close(cec);
      } else {
        stats->tcp_accepted++;
        auto c = std::make_shared<Connection>(self, std::move(sock));
        connections.insert(c);
        c->Start();
      }
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      log::Warning("TCP accept: ", ec.message());
      if (ec == asio::error::no_descriptors) {  // EMFILE: make room, retry shortly
        MakeRoom();
        auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
        t->async_wait([this, self, acc, t](std::error_code) {
          if (!stopped) StartAccept(acc);
        });
        return;
      }
    }
    StartAccept(acc);
  });
}

Server::Server(asio::io_context& io, ServerOptions opts)
    : io_(io), opts_(opts), impl_(std::make_shared<Impl>(io, opts, &stats_)) {}

Server::~Server() { Stop(); }

void Server::AddProgram(uint32_t prog, uint32_t vers_low, uint32_t vers_high, Handler handler) {
  impl_->programs[prog] = Program{vers_low, vers_high, std::move(handler)};
}

size_t Server::tcp_connections() const { return impl_->connections.size(); }

namespace {

// Opens the four sockets on `port` (0 = let the first one choose). Returns the port.
Result<uint16_t> BindAll(asio::io_context& io, const ServerOptions& opts, uint16_t port,
                         bool* has_v6, std::vector<std::unique_ptr<asio::ip::udp::socket>>* udp,
                         std::vector<std::unique_ptr<asio::ip::tcp::acceptor>>* tcp) {
  udp->clear();
  tcp->clear();
  std::error_code ec;
  *has_v6 = false;
  auto fail = [&](const std::string& what) {
    return Status(Code::kIoError,
                  "cannot bind " + what + " port " + std::to_string(port) + ": " + ec.message());
  };
  struct Fam {
    asio::ip::address any;
    bool v6;
  };
  std::vector<Fam> fams = {{asio::ip::address_v4::any(), false}};
  if (opts.ipv6) fams.insert(fams.begin(), {asio::ip::address_v6::any(), true});
  for (const auto& f : fams) {
    auto u = std::make_unique<asio::ip::udp::socket>(io);
    u->open(f.v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
    if (ec && f.v6) {
      log::Warning("IPv6 unavailable (", ec.message(), "): serving IPv4 only");
      continue;
    }
    if (ec) return fail("udp");
    if (f.v6) u->set_option(asio::ip::v6_only(true), ec);
    u->set_option(asio::socket_base::reuse_address(true), ec);
    u->set_option(asio::socket_base::receive_buffer_size(opts.udp_receive_buffer), ec);
    u->bind(asio::ip::udp::endpoint(f.any, port), ec);
    if (ec) return fail(f.v6 ? "udp6" : "udp");
    if (port == 0) port = u->local_endpoint().port();
    u->non_blocking(true, ec);
    udp->push_back(std::move(u));

    auto a = std::make_unique<asio::ip::tcp::acceptor>(io);
    a->open(f.v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ec);
    if (ec) return fail("tcp");
    if (f.v6) a->set_option(asio::ip::v6_only(true), ec);
    a->set_option(asio::socket_base::reuse_address(true), ec);
    a->bind(asio::ip::tcp::endpoint(f.any, port), ec);
    if (ec) return fail(f.v6 ? "tcp6" : "tcp");
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("tcp listen");
    tcp->push_back(std::move(a));
    if (f.v6) *has_v6 = true;
  }
  // Local callers (lockd, mount.nfs) get UDP sockets of their own on the loopback
  // addresses: the kernel delivers to the most specific bind, so a flood of datagrams
  // from the network fills the wildcard socket's buffer, never these.
  for (const char* lo : {"127.0.0.1", "::1"}) {
    auto u = std::make_unique<asio::ip::udp::socket>(io);
    auto addr = asio::ip::make_address(lo);
    u->open(addr.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
    if (ec) continue;
    u->set_option(asio::socket_base::reuse_address(true), ec);
    u->bind(asio::ip::udp::endpoint(addr, port), ec);
    if (ec) {
      log::Debug("no loopback UDP socket on ", lo, ": ", ec.message());
      continue;
    }
    u->non_blocking(true, ec);
    udp->push_back(std::move(u));
  }
  return port;
}

}  // namespace

Status Server::Listen() {
  Status last;
  for (int attempt = 0; attempt < (opts_.port == 0 ? 32 : 1); ++attempt) {
    auto r = BindAll(io_, opts_, opts_.port, &has_ipv6_, &impl_->udp, &impl_->acceptors);
    if (r.ok()) {
      port_ = *r;
      for (auto& u : impl_->udp) impl_->StartUdp(u.get());
      for (auto& a : impl_->acceptors) impl_->StartAccept(a.get());
      return Status::Ok();
    }
    last = r.status();
  }
  return last;
}

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  std::error_code ec;
  for (auto& u : impl_->udp) u->close(ec);
  for (auto& a : impl_->acceptors) a->close(ec);
  auto conns = impl_->connections;
  for (auto& c : conns) c->Close();
}

}  // namespace nsm::rpc
