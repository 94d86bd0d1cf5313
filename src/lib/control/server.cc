// Control channel server: Unix stream acceptor, per-connection line reader with a size
// bound and an idle timer, SO_PEERCRED check, dispatch to the handler (see server.h).
#include "control/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "base/log.h"

namespace nsm::control {

using asio::local::stream_protocol;

std::string SocketPath(const std::string& state_dir) {
  // The same directory must give the same path in rpc.statd and statdctl however it
  // is spelt: resolve it (symlinks, "..", trailing '/') when it exists.
  std::string s = state_dir;
  if (char* real = realpath(state_dir.c_str(), nullptr)) {
    s = real;
    free(real);
  }
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s == NSM_DEFAULT_STATE_DIR) return "/run/rpc.statd.ctl";
  const std::string dir = s;
  for (char& c : s) {
    if (c == '/') c = '_';
  }
  std::string path = "/run/rpc.statd" + s + ".ctl";
  if (path.size() < sizeof(sockaddr_un::sun_path)) return path;
  // Too long for a Unix socket address: a digest of the directory (FNV-1a, 64 bits).
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : dir) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return std::string("/run/rpc.statd-") + hex + ".ctl";
}

Json ErrorReply(const std::string& code, const std::string& message) {
  return Json{{"ok", false}, {"code", code}, {"error", message}};
}

namespace {

class Connection;

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& io_ctx, Handler h, ServerOptions o)
      : io(io_ctx), acceptor(io_ctx), handler(std::move(h)), opts(o) {}
  void Accept();

  asio::io_context& io;
  stream_protocol::acceptor acceptor;
  Handler handler;
  ServerOptions opts;
  ServerStats stats;
  std::set<std::shared_ptr<Connection>> conns;
  bool stopped = false;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Server::Impl> srv, stream_protocol::socket sock)
      : keep_(std::move(srv)), srv_(*keep_), sock_(std::move(sock)), timer_(srv_.io) {}

  void Start() {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(sock_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      Finish(ErrorReply("internal", "cannot read the client's credentials"));
      return;
    }
    uid_ = cred.uid;
    pid_ = cred.pid;
    if (uid_ != 0 && uid_ != geteuid()) {
      srv_.stats.refused++;
      log::Info("control: refused uid ", uid_, " (pid ", pid_, "): only root and uid ", geteuid(),
                " may use the control socket");
      Finish(ErrorReply("permission", "permission denied: only root and uid " +
                                          std::to_string(geteuid()) +
                                          " may use the control socket of rpc.statd"));
      return;
    }
    Read();
  }

  void Close() {
    std::error_code ec;
    timer_.cancel();
    sock_.close(ec);
  }

 private:
  void Arm() {
    timer_.expires_after(srv_.opts.idle_timeout);
    auto self = shared_from_this();
    timer_.async_wait([self](std::error_code ec) {
      if (!ec) self->Drop();
    });
  }

  void Read() {
    Arm();
    auto self = shared_from_this();
    asio::async_read_until(sock_, asio::dynamic_buffer(buf_, srv_.opts.max_request + 1), '\n',
                           [self](std::error_code ec, size_t n) { self->OnLine(ec, n); });
  }

  void OnLine(std::error_code ec, size_t n) {
    if (srv_.stopped) return;
    if (ec) {
      if (ec == asio::error::not_found ||
          ec == asio::error::no_buffer_space) {  // the line outgrew max_request
        srv_.stats.bad_requests++;
        Finish(ErrorReply("bad_request", "request longer than " +
                                             std::to_string(srv_.opts.max_request) + " bytes"));
        return;
      }
      Drop();  // EOF, reset or cancelled
      return;
    }
    std::string line = buf_.substr(0, n - 1);
    buf_.erase(0, n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    srv_.stats.requests++;
    Json reply = Dispatch(line);
    Write(DumpJson(reply) + "\n", /*then_close=*/false);
  }

  Json Dispatch(const std::string& line) {
    Result<Json> req = ParseJson(line);
    if (!req.ok() || !req->is_object()) {
      srv_.stats.bad_requests++;
      return ErrorReply("bad_request",
                        req.ok() ? "request is not a JSON object" : req.status().message());
    }
    std::optional<std::string> cmd = GetString(*req, "cmd");
    if (!cmd) {
      srv_.stats.bad_requests++;
      return ErrorReply("bad_request", "request has no \"cmd\" string");
    }
    Request r{*cmd, std::move(*req), uid_, pid_};
    Json reply;
    try {
      reply = srv_.handler ? srv_.handler(r) : ErrorReply("internal", "no handler");
    } catch (const std::exception& e) {
      reply = ErrorReply("internal", std::string("handler failed: ") + e.what());
    }
    if (!reply.is_object()) reply = ErrorReply("internal", "handler returned no object");
    if (!reply.contains("ok")) reply["ok"] = true;
    return reply;
  }

  void Write(std::string data, bool then_close) {
    out_ = std::move(data);
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_), [self, then_close](std::error_code ec, size_t) {
      if (self->srv_.stopped) return;
      if (ec || then_close) {
        self->Drop();
        return;
      }
      self->Read();
    });
  }

  // Answers and closes.
  void Finish(const Json& reply) { Write(DumpJson(reply) + "\n", /*then_close=*/true); }

  void Drop() {
    Close();
    srv_.conns.erase(shared_from_this());
  }

  std::shared_ptr<Server::Impl> keep_;  // outlives the Server while handlers are pending
  Server::Impl& srv_;
  stream_protocol::socket sock_;
  asio::steady_timer timer_;
  std::string buf_;
  std::string out_;
  uid_t uid_ = 0;
  pid_t pid_ = 0;
};

}  // namespace

void Server::Impl::Accept() {
  auto self = shared_from_this();
  acceptor.async_accept([this, self](std::error_code ec, stream_protocol::socket sock) {
    if (stopped) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      log::Warning("control: accept: ", ec.message());
    } else {
      stats.connections++;
      if (conns.size() >= opts.max_connections) {
        stats.refused++;
        log::Warning("control: ", conns.size(), " connections open; refusing another");
        std::error_code ignored;
        sock.close(ignored);
      } else {
        auto c = std::make_shared<Connection>(self, std::move(sock));
        conns.insert(c);
        c->Start();
      }
    }
    Accept();
  });
}

Server::Server(asio::io_context& io, std::string path, Handler handler, ServerOptions opts)
    : path_(std::move(path)), impl_(std::make_shared<Impl>(io, std::move(handler), opts)) {}

Server::~Server() { Stop(); }

Status Server::Listen() {
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status(Code::kInvalidArgument,
                    path_ + " exists and is not a socket; refusing to replace it");
    }
    if (unlink(path_.c_str()) != 0) return ErrnoStatus("remove stale " + path_, errno);
  }
  if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status(Code::kInvalidArgument, "control socket path too long: " + path_);
  }
  std::error_code ec;
  stream_protocol::endpoint ep(path_);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (ec) {
    impl_->acceptor.close();
    return Status(ec == std::errc::permission_denied ? Code::kPermission : Code::kIoError,
                  "control socket " + path_ + ": " + ec.message());
  }
  if (chmod(path_.c_str(), 0666) != 0) {
    Status s = ErrnoStatus("chmod " + path_, errno);
    impl_->acceptor.close();
    unlink(path_.c_str());
    return s;
  }
  impl_->acceptor.listen(16, ec);
  if (ec) {
    impl_->acceptor.close();
    unlink(path_.c_str());
    return Status(Code::kIoError, "control socket " + path_ + ": listen: " + ec.message());
  }
  impl_->stopped = false;
  impl_->Accept();
  return Status::Ok();
}

void Server::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->acceptor.is_open()) {
    std::error_code ec;
    impl_->acceptor.close(ec);
    if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
      log::Debug("control: cannot remove ", path_, " (", std::strerror(errno),
                 "); the next start replaces it");
    }
  }
  for (const auto& c : impl_->conns) c->Close();
  impl_->conns.clear();
}

ServerStats Server::stats() const { return impl_->stats; }

}  // namespace nsm::control
