// The sidecar process: the only code in nsm that calls a blocking resolver function
// (getaddrinfo). Started by SpawnSidecar() as a fresh exec of the program in the
// sidecar role, it keeps nothing but its socket (fd 3), drops privileges when root,
// then its main thread reads requests and queues them for worker threads, each
// answering one name at a time, and answers the parent's liveness pings itself at
// once (never through a worker), so a lookup that takes long is never taken for a
// hang. Any malformed or misrouted frame from the parent ends the process. Nothing
// here may use the parent's logging: log lines go to the parent as frames.
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "resolver/protocol.h"
#include "resolver/resolver_internal.h"
#include "resolver/test_table.h"

namespace nsm::resolver {
namespace {

constexpr size_t kMaxQueued = 65536;  // far above the parent's max_pending

class Sidecar {
 public:
  explicit Sidecar(int fd) : fd_(fd) {}

  // Sends one whole frame; if the parent is gone there is nothing left to do.
  void Send(const std::vector<uint8_t>& frame) {
    std::lock_guard<std::mutex> lock(send_mu_);
    for (;;) {
      ssize_t n = send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(frame.size())) return;
      if (n < 0 && errno == EINTR) continue;
      _exit(0);
    }
  }
  void Log(log::Level level, const std::string& text) { Send(proto::EncodeLog(level, text)); }
  [[noreturn]] void Fatal(const std::string& text, int code) {
    Log(log::Level::kError, text);
    _exit(code);
  }

  void LoadTestTable(const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) Fatal(std::string("cannot read test hosts table ") + path, 2);
    auto t = ParseTestTable(text.str());
    if (!t.ok()) Fatal(t.status().ToString(), 2);
    table_ = std::move(t.value());
  }

  void StartWorkers(int n) {
    for (int i = 0; i < n; ++i) std::thread([this] { Worker(); }).detach();
  }

  // Reads requests until the parent closes the socket.
  [[noreturn]] void ReadLoop() {
    std::vector<uint8_t> buf(proto::kMaxFrame + 1);
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_TRUNC);
      if (n == 0) _exit(0);
      if (n < 0) {
        if (errno == EINTR) continue;
        _exit(0);
      }
      if (static_cast<size_t>(n) > proto::kMaxFrame) {
        Fatal("oversized frame (" + std::to_string(n) + " bytes) from the parent", 3);
      }
      auto f = proto::DecodeFrame(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
      if (!f.ok()) Fatal("malformed frame from the parent: " + f.status().message(), 3);
      if (proto::SenderOf(f->type) != proto::Sender::kParent) {
        Fatal("misrouted frame (type " + std::to_string(static_cast<int>(f->type)) +
                  ") from the parent",
              3);
      }
      if (f->type == proto::MsgType::kPing) {
        auto id = proto::DecodePing(*f);
        if (!id.ok()) Fatal("bad ping from the parent: " + id.status().message(), 3);
        Send(proto::EncodePong(*id));  // from this thread, whatever the workers do
        continue;
      }
      auto name = proto::DecodeResolve(*f);
      if (!name.ok()) Fatal("bad request from the parent: " + name.status().message(), 3);
      std::lock_guard<std::mutex> lock(q_mu_);
      if (queue_.size() >= kMaxQueued) Fatal("parent exceeded the request queue bound", 3);
      queue_.emplace_back(f->id, std::move(name.value()));
      q_cv_.notify_one();
    }
  }

 private:
  void Worker() {
    for (;;) {
      std::pair<uint64_t, std::string> req;
      {
        std::unique_lock<std::mutex> lock(q_mu_);
        q_cv_.wait(lock, [this] { return !queue_.empty(); });
        req = std::move(queue_.front());
        queue_.pop_front();
      }
      if (table_) {
        AnswerFromTable(req.first, req.second);
      } else {
        Send(proto::EncodeAnswer(req.first, Lookup(req.second)));
      }
    }
  }

  static proto::Answer Lookup(const std::string& name) {
    proto::Answer a;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;  // one entry per address instead of one per socket type
    addrinfo* res = nullptr;
    int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
    switch (rc) {
      case 0:
        for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
          auto addr = net::Address::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
          if (addr.valid()) a.addresses.push_back(addr);
        }
        freeaddrinfo(res);
        a.addresses = NormalizeAddresses(a.addresses);
        a.status = a.addresses.empty() ? proto::AnswerStatus::kNotFound : proto::AnswerStatus::kOk;
        if (a.addresses.empty()) a.detail = "no IPv4 or IPv6 address";
        return a;
      case EAI_NONAME:
      case EAI_NODATA:
      case EAI_ADDRFAMILY:
        a.status = proto::AnswerStatus::kNotFound;
        break;
      case EAI_AGAIN:
        a.status = proto::AnswerStatus::kTemporary;
        break;
      default:
        a.status = proto::AnswerStatus::kFailed;
        break;
    }
    a.detail = rc == EAI_SYSTEM ? std::string("system error: ") + std::strerror(errno)
                                : std::string(gai_strerror(rc));
    return a;
  }

  void AnswerFromTable(uint64_t id, const std::string& name) {
    auto it = table_->find(LowerName(name));
    proto::Answer a;
    if (it == table_->end()) {
      a.status = proto::AnswerStatus::kNotFound;
      a.detail = "not in the test hosts table";
      Send(proto::EncodeAnswer(id, a));
      return;
    }
    const TestEntry& e = it->second;
    if (e.delay.count() > 0) std::this_thread::sleep_for(e.delay);
    switch (e.kind) {
      case TestEntry::Kind::kAddresses:
        a.status = proto::AnswerStatus::kOk;
        a.addresses = e.addresses;  // as written: the parent must normalise
        break;
      case TestEntry::Kind::kNotFound:
        a.status = proto::AnswerStatus::kNotFound;
        a.detail = "test table: nxdomain";
        break;
      case TestEntry::Kind::kTemporary:
        a.status = proto::AnswerStatus::kTemporary;
        a.detail = "test table: tempfail";
        break;
      case TestEntry::Kind::kHang:
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
      case TestEntry::Kind::kFreeze:
        // The whole process, main loop included. The stop is asynchronous: this thread
        // must not answer in the meantime, nor after a SIGCONT.
        kill(getpid(), SIGSTOP);
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
      case TestEntry::Kind::kSignalProbe:
        a.status = proto::AnswerStatus::kFailed;
        a.detail = kill(e.pid, 0) == 0 ? "signalled" : std::strerror(errno);
        break;
      case TestEntry::Kind::kCrash:
        kill(getpid(), SIGKILL);
        _exit(9);
      case TestEntry::Kind::kGarbage:
        Send({0xde, 0xad, 0xbe, 0xef});
        return;
      case TestEntry::Kind::kWrongId:
        a.status = proto::AnswerStatus::kNotFound;
        Send(proto::EncodeAnswer(id + (uint64_t{1} << 40), a));
        return;
      case TestEntry::Kind::kMisroute:
        Send(proto::EncodeResolve(id, name));
        return;
      case TestEntry::Kind::kWriteProbe: {
        int fd = open(e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        a.status = proto::AnswerStatus::kFailed;
        a.detail = fd >= 0 ? "created" : std::strerror(errno);
        if (fd >= 0) close(fd);
        break;
      }
    }
    Send(proto::EncodeAnswer(id, a));
  }

  int fd_;
  std::mutex send_mu_;
  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<std::pair<uint64_t, std::string>> queue_;
  std::optional<TestTable> table_;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "nsm-resolver sidecar: %s (this role is started by the daemon)\n", why);
  _exit(2);
}

bool ParseIntArg(std::string_view s, std::string_view key, int* out) {
  if (s.substr(0, key.size()) != key) return false;
  s.remove_prefix(key.size());
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

void RunSidecarProcess(int fd, int threads, const DropTarget& target) {
  pid_t parent = getppid();
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    Usage("fd is not a SOCK_SEQPACKET socket");
  }
  // Keep stdin/stdout/stderr and the socket; nothing else may leak in.
  if (fd > 3) close_range(3, static_cast<unsigned>(fd) - 1, 0);
  close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
  signal(SIGPIPE, SIG_IGN);

  Sidecar sidecar(fd);
  if (const char* path = std::getenv(kTestHostsEnv); path != nullptr && *path != '\0') {
    sidecar.LoadTestTable(path);  // before dropping privileges: the file may be private
  }
  if (Status st = DropPrivileges(target); !st.ok()) sidecar.Fatal(st.ToString(), 1);
  if (chdir("/") != 0) sidecar.Fatal("chdir /: " + std::string(std::strerror(errno)), 1);
  umask(077);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    sidecar.Fatal("PR_SET_NO_NEW_PRIVS: " + std::string(std::strerror(errno)), 1);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // after the uid change, which clears it
  if (getppid() != parent) _exit(0);          // the parent died before that
  if (auto ll = ForbidFilesystemWrites(); !ll.ok()) {
    // Old kernels: the uid change above is then the only barrier (documented).
    sidecar.Log(log::Level::kNotice, "no filesystem sandbox: " + ll.status().ToString());
  }
  // The sidecar may have the daemon's uid: it must not be able to signal it (Landlock
  // ABI 6 forbids that too, older kernels do not).
  if (Status st = ForbidSignalsToOthers(); !st.ok()) {
    sidecar.Log(log::Level::kNotice, "no signal sandbox: " + st.ToString());
  }

  sidecar.StartWorkers(threads);
  // All threads exist now: forbid creating any more processes (no fork/exec).
  rlimit none{0, 0};
  setrlimit(RLIMIT_NPROC, &none);

  proto::Hello hello;
  hello.pid = static_cast<uint32_t>(getpid());
  hello.uid = static_cast<uint32_t>(getuid());
  hello.gid = static_cast<uint32_t>(getgid());
  sidecar.Send(proto::EncodeHello(hello));
  sidecar.ReadLoop();
}

void MaybeRunSidecar(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], kSidecarRoleArg) != 0) return;
  if (argc != 5) Usage("expected: <fd> threads=<n> (user=<name> | ids=<uid>:<gid>)");
  int fd = -1, threads = 0;
  auto fd_arg = std::string_view(argv[2]);
  auto [p, ec] = std::from_chars(fd_arg.data(), fd_arg.data() + fd_arg.size(), fd);
  if (ec != std::errc() || p != fd_arg.data() + fd_arg.size() || fd < 3) Usage("bad fd");
  if (!ParseIntArg(argv[3], "threads=", &threads) || threads < 1 || threads > kMaxChildThreads) {
    Usage("bad threads=");
  }
  auto target = ParseDropTargetArg(argv[4]);
  if (!target) Usage("bad user= or ids=");
  RunSidecarProcess(fd, threads, *target);
}

}  // namespace nsm::resolver
