// Blocking control-channel client (see client.h): connect, write one line, poll and
// read one line, with one overall deadline.
#include "control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/server.h"

namespace nsm::control {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on fd until the deadline. kTimeout / kIoError.
Status WaitFor(int fd, short events, Clock::time_point deadline, const std::string& path) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, RemainingMs(deadline));
    if (n > 0) return Status::Ok();
    if (n == 0) {
      return Status(Code::kTimeout, "rpc.statd did not answer on " + path + " in time");
    }
    if (errno != EINTR) return ErrnoStatus("poll " + path, errno);
  }
}

}  // namespace

Result<Json> Call(const std::string& path, const Json& request, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    return Status(Code::kInvalidArgument, "control socket path too long: " + path);
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return ErrnoStatus("socket", errno);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Status(Code::kUnavailable,
                    "rpc.statd is not running (" +
                        std::string(err == ENOENT ? "no control socket " : "nothing listens on ") +
                        path + ")");
    }
    if (err == EACCES || err == EPERM) {
      return Status(Code::kPermission, "permission denied: cannot connect to " + path);
    }
    if (err != EINPROGRESS && err != EAGAIN) return ErrnoStatus("connect " + path, err);
    Status s = WaitFor(fd.get(), POLLOUT, deadline, path);
    if (!s.ok()) return s;
  }

  std::string out = DumpJson(request) + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Status s = WaitFor(fd.get(), POLLOUT, deadline, path);
      if (!s.ok()) return s;
      continue;
    }
    if (n < 0 && errno == EPIPE) break;  // the daemon may have answered and closed
    return ErrnoStatus("send to " + path, errno);
  }

  std::string in;
  char buf[65536];
  for (;;) {
    size_t nl = in.find('\n');
    if (nl != std::string::npos) {
      in.resize(nl);
      break;
    }
    if (in.size() > kMaxResponse) {
      return Status(Code::kInvalidArgument, "answer from rpc.statd is too long");
    }
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      if (in.empty()) {
        return Status(Code::kUnavailable, "rpc.statd closed the control connection " + path);
      }
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Status s = WaitFor(fd.get(), POLLIN, deadline, path);
      if (!s.ok()) return s;
      continue;
    }
    return ErrnoStatus("recv from " + path, errno);
  }
  Result<Json> reply = ParseJson(in);
  if (!reply.ok() || !reply->is_object()) {
    return Status(Code::kInvalidArgument, "malformed answer from rpc.statd on " + path);
  }
  if (GetBool(*reply, "ok") == false && GetString(*reply, "code") == "permission") {
    return Status(Code::kPermission, GetString(*reply, "error").value_or("permission denied"));
  }
  return std::move(*reply);
}

}  // namespace nsm::control
