// Parent side of the sidecar resolver, supervision: spawning the sidecar, its socket
// on Asio, liveness pings (a hang is a sidecar whose main loop stops answering, never
// a lookup that takes long), replacing it when it dies, hangs, stalls or breaks the
// protocol (kill, bounded non-blocking reaping, restart with backoff), and Shutdown,
// which never blocks for more than kShutdownReapLimit. Lookups are in
// sidecar_resolver.cc.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <asio/post.hpp>

#include "base/log.h"
#include "resolver/resolver_internal.h"
#include "resolver/sidecar_resolver_impl.h"

namespace nsm::resolver {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxBackoff{30000};
constexpr std::chrono::seconds kHealthyLifetime{10};  // a sidecar living this long was fine
constexpr int kFramesPerWakeup = 64;
constexpr milliseconds kReapFastPoll{10};    // reap polling for the first second
constexpr milliseconds kReapSlowPoll{1000};  // and after that
constexpr std::chrono::seconds kReapWarnAfter{5};

int64_t Ms(SteadyClock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

}  // namespace

// ---- Life cycle ----

void SidecarImpl::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  Spawn();
}

void SidecarImpl::Spawn() {
  if (shut_down_ || pid_ > 0) return;
  auto r = SpawnSidecar(opts_);
  if (!r.ok()) {
    log::Error("resolver: cannot start the sidecar: ", r.status().ToString());
    quick_failures_ = std::max(quick_failures_ + 1, 2);  // never retry without a delay
    ScheduleRestart();
    return;
  }
  pid_ = r->pid;
  sock_ = std::make_unique<asio::posix::stream_descriptor>(io_, r->fd);
  ++gen_;
  spawned_at_ = last_answer_ = SteadyClock::now();
  spawned_as_root_ = geteuid() == 0;
  hello_ = false;
  ping_id_ = 0;
  if (started_once_) ++stats_.sidecar_restarts;
  started_once_ = true;
  log::Info("resolver: sidecar started, pid ", pid_);
  StartRead();
}

// Replacements are spawned on the io_context, never inside Resolve() on a caller's
// thread: the sidecar's parent-death signal fires when the spawning *thread* exits.
void SidecarImpl::ScheduleRestart() {
  if (shut_down_) return;
  milliseconds delay{0};
  if (quick_failures_ > 1) {
    delay = std::min(kMaxBackoff, milliseconds(int64_t{100} << std::min(quick_failures_ - 2, 10)));
  }
  auto spawn = [weak = weak_from_this()](const std::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (auto self = weak.lock()) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->restart_posted_ = false;
      self->Spawn();
    }
  };
  if (restart_posted_) return;
  restart_posted_ = true;
  if (delay.count() == 0) {
    asio::post(io_, [spawn] { spawn(std::error_code()); });
    return;
  }
  log::Notice("resolver: restarting the sidecar in ", delay.count(), " ms");
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait(spawn);
}

void SidecarImpl::KillCurrent() {
  if (kill(pid_, SIGKILL) != 0 && errno != ESRCH) {
    log::Warning("resolver: cannot kill sidecar pid ", pid_, ": ", std::strerror(errno),
                 "; closing its socket, which ends it as soon as it runs");
  }
}

// The sidecar died, hung or broke the protocol: kill it, fail its lookups, replace it.
void SidecarImpl::ReplaceSidecar(const std::string& reason) {
  if (pid_ < 0) return;
  log::Warning("resolver: sidecar pid ", pid_, " ", reason, "; failing ", waiters_.size(),
               " pending lookups (", queries_.size(), " queries owed by it), killing and ",
               "replacing it");
  bool quick = !answered_ && SteadyClock::now() - spawned_at_ < kHealthyLifetime;
  quick_failures_ = quick ? quick_failures_ + 1 : 0;
  KillCurrent();
  zombies_.push_back(Zombie{pid_, SteadyClock::now()});
  pid_ = -1;
  sock_.reset();
  ++gen_;
  answered_ = false;
  ping_id_ = 0;
  // The watchdog keeps ticking (only Shutdown cancels it): it re-arms itself only
  // while queries are owed, and re-arming after a cancel here could be lost.
  // The restart is posted before the failed callbacks, so they run after it.
  ScheduleRestart();
  FailAll(Status(Code::kUnavailable, "resolver sidecar failed (" + reason + ")"));
  Reap();
}

// waitpid(WNOHANG) on a timer: 10 ms polls for a second, then 1 s polls. A sidecar
// that has not gone 5 s after SIGKILL (stuck in the kernel, or not ours to kill) is
// logged once; checking it costs nothing, so it continues.
void SidecarImpl::Reap() {
  auto now = SteadyClock::now();
  bool slow = true;
  for (auto it = zombies_.begin(); it != zombies_.end();) {
    if (auto how = TryReap(it->pid)) {
      log::Info("resolver: sidecar pid ", it->pid, " ", *how);
      it = zombies_.erase(it);
      continue;
    }
    if (!it->warned && now - it->killed_at >= kReapWarnAfter) {
      it->warned = true;
      log::Warning("resolver: sidecar pid ", it->pid, " has not exited ", Ms(now - it->killed_at),
                   " ms after being killed; still checking, ", "without waiting for it");
    }
    if (now - it->killed_at < std::chrono::seconds(1)) slow = false;
    ++it;
  }
  if (zombies_.empty() || reap_armed_) return;
  reap_armed_ = true;
  reap_timer_.expires_after(slow ? kReapSlowPoll : kReapFastPoll);
  reap_timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (auto self = weak.lock()) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->reap_armed_ = false;
      self->Reap();
    }
  });
}

void SidecarImpl::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  restart_timer_.cancel();
  watchdog_.cancel();
  reap_timer_.cancel();
  FailAll(Status(Code::kUnavailable, "resolver is shut down"));
  if (pid_ > 0) {
    KillCurrent();
    zombies_.push_back(Zombie{pid_, SteadyClock::now()});
    pid_ = -1;
  }
  sock_.reset();  // EOF ends a sidecar we could not kill, once it runs
  ++gen_;
  // Killed sidecars go within milliseconds; one that does not (stuck in the kernel,
  // or another uid's) is not waited for: it dies with us (parent-death signal).
  auto deadline = SteadyClock::now() + kShutdownReapLimit;
  for (;;) {
    std::erase_if(zombies_, [](const Zombie& z) { return TryReap(z.pid).has_value(); });
    if (zombies_.empty()) break;
    if (SteadyClock::now() >= deadline) {
      for (const Zombie& z : zombies_) {
        log::Warning("resolver: sidecar pid ", z.pid, " has not exited ",
                     Ms(SteadyClock::now() - z.killed_at), " ms after being killed; ",
                     "not waiting for it");
      }
      break;
    }
    timespec ts{0, 2'000'000};
    nanosleep(&ts, nullptr);
  }
  zombies_.clear();
}

// ---- Liveness ----

milliseconds SidecarImpl::WatchdogTick() const {
  return std::clamp(std::chrono::duration_cast<milliseconds>(opts_.hang_timeout / 3),
                    milliseconds(5), milliseconds(1000));
}

void SidecarImpl::ArmWatchdog() {
  if (watchdog_armed_ || pid_ < 0 || (queries_.empty() && ping_id_ == 0)) return;
  watchdog_armed_ = true;
  watchdog_.expires_after(WatchdogTick());
  watchdog_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> lock(self->mu_);
    self->watchdog_armed_ = false;
    if (ec == asio::error::operation_aborted || self->shut_down_) return;
    self->CheckLiveness();
    self->ArmWatchdog();
  });
}

// Runs every tick while the sidecar owes queries: a ping goes out whenever none is
// outstanding; a ping unanswered for hang_timeout means the main loop is stuck.
void SidecarImpl::CheckLiveness() {
  if (pid_ < 0) return;
  auto now = SteadyClock::now();
  if (ping_id_ != 0 && now - ping_sent_at_ >= opts_.hang_timeout) {
    // This thread may itself have been late: take what has arrived first.
    if (!ReadFrames()) return;
    if (ping_id_ != 0) {
      return ReplaceSidecar("is unresponsive: no answer to a liveness ping for " +
                            std::to_string(Ms(now - ping_sent_at_)) + " ms (" +
                            std::to_string(queries_.size()) + " queries owed)");
    }
  }
  if (opts_.stall_limit.count() > 0 && now - last_answer_ >= opts_.stall_limit) {
    for (const auto& [id, q] : queries_) {
      if (q.sent && now - q.sent_at >= opts_.stall_limit) {
        return ReplaceSidecar("answers pings but has answered no query for " +
                              std::to_string(Ms(now - last_answer_)) + " ms (query " +
                              std::to_string(id) + " outstanding for " +
                              std::to_string(Ms(now - q.sent_at)) + " ms): its lookups are stuck");
      }
    }
  }
  if (ping_id_ == 0 && !queries_.empty()) {
    ping_id_ = next_id_++;
    ping_sent_at_ = now;
    Send(proto::EncodePing(ping_id_));
  }
}

// ---- Connection ----

void SidecarImpl::StartRead() {
  sock_->async_wait(asio::posix::descriptor_base::wait_read,
                    [weak = weak_from_this(), gen = gen_](const std::error_code& ec) {
                      auto self = weak.lock();
                      if (!self) return;
                      std::lock_guard<std::mutex> lock(self->mu_);
                      if (gen != self->gen_ || ec == asio::error::operation_aborted) return;
                      if (self->ReadFrames()) self->StartRead();
                    });
}

bool SidecarImpl::ReadFrames() {
  uint64_t gen = gen_;
  for (int i = 0; i < kFramesPerWakeup && gen == gen_; ++i) {
    ssize_t n =
        recv(sock_->native_handle(), rxbuf_.data(), rxbuf_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n > 0) {
      if (static_cast<size_t>(n) > proto::kMaxFrame) {
        ReplaceSidecar("sent an oversized frame (" + std::to_string(n) + " bytes)");
        break;
      }
      auto f = proto::DecodeFrame(std::span<const uint8_t>(rxbuf_.data(), size_t(n)));
      if (!f.ok()) {
        ReplaceSidecar("sent a malformed frame: " + f.status().message());
        break;
      }
      HandleFrame(*f);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    ReplaceSidecar(n == 0                ? std::string("died (its socket closed)")
                   : errno == ECONNRESET ? std::string("died (connection reset)")
                                         : std::string("socket error: ") + std::strerror(errno));
    break;
  }
  return gen == gen_;
}

void SidecarImpl::HandleFrame(const proto::Frame& f) {
  if (proto::SenderOf(f.type) != proto::Sender::kSidecar) {
    return ReplaceSidecar("sent a misrouted frame (type " +
                          std::to_string(static_cast<int>(f.type)) + ")");
  }
  switch (f.type) {
    case proto::MsgType::kHello: {
      auto h = proto::DecodeHello(f);
      if (!h.ok()) return ReplaceSidecar("sent a bad hello: " + h.status().message());
      if (hello_) return ReplaceSidecar("sent a second hello");
      if (static_cast<pid_t>(h->pid) != pid_) {
        return ReplaceSidecar("claims to be pid " + std::to_string(h->pid));
      }
      if (spawned_as_root_ && (opts_.drop_to_uid || !opts_.drop_to_user.empty()) && h->uid == 0) {
        return ReplaceSidecar("still runs as root");
      }
      if (spawned_as_root_ && opts_.drop_to_uid &&
          (h->uid != *opts_.drop_to_uid || h->gid != opts_.drop_to_gid)) {
        return ReplaceSidecar("runs as uid " + std::to_string(h->uid) + " gid " +
                              std::to_string(h->gid) + " instead of uid " +
                              std::to_string(*opts_.drop_to_uid) + " gid " +
                              std::to_string(opts_.drop_to_gid));
      }
      hello_ = true;
      log::Info("resolver: sidecar pid ", pid_, " ready (uid ", h->uid, ", gid ", h->gid, ")");
      return;
    }
    case proto::MsgType::kLog: {
      auto l = proto::DecodeLog(f);
      if (!l.ok()) return ReplaceSidecar("sent a bad log frame: " + l.status().message());
      log::Log(l->level, "resolver: sidecar pid ", pid_, ": ", log::Quoted{l->text});
      return;
    }
    case proto::MsgType::kPong: {
      auto id = proto::DecodePong(f);
      if (!id.ok()) return ReplaceSidecar("sent a bad pong: " + id.status().message());
      if (*id != ping_id_) {
        return ReplaceSidecar("answered ping " + std::to_string(*id) + ", which is not pending");
      }
      ping_id_ = 0;
      return;
    }
    case proto::MsgType::kAnswer:
      return HandleAnswer(f);
    case proto::MsgType::kResolve:
    case proto::MsgType::kPing:
      break;  // excluded by the sender check
  }
}

void SidecarImpl::Send(std::vector<uint8_t> frame) {
  outq_.push_back(std::move(frame));
  if (!write_wait_) Flush();
}

void SidecarImpl::Flush() {
  while (!outq_.empty() && sock_) {
    const auto& b = outq_.front();
    ssize_t n = send(sock_->native_handle(), b.data(), b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(b.size())) {
      outq_.pop_front();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      write_wait_ = true;
      sock_->async_wait(asio::posix::descriptor_base::wait_write,
                        [weak = weak_from_this(), gen = gen_](const std::error_code& ec) {
                          auto self = weak.lock();
                          if (!self) return;
                          std::lock_guard<std::mutex> lock(self->mu_);
                          if (gen != self->gen_ || ec == asio::error::operation_aborted) return;
                          self->write_wait_ = false;
                          self->Flush();
                        });
      return;
    }
    return ReplaceSidecar(std::string("cannot be written to: ") +
                          (n < 0 ? std::strerror(errno) : "short send"));
  }
}

}  // namespace nsm::resolver
