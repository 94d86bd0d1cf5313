// Parent side of the sidecar resolver: cache, coalescing, bounded pending queue,
// per-lookup timers, the protocol connection on Asio, and supervision of the
// sidecar (death, hang and protocol-violation detection; kill, reap, restart with
// backoff). One mutex guards all state, so the public calls are thread-safe; every
// Asio handler holds only a weak_ptr and checks the sidecar generation it was armed
// for. Callbacks are always posted to the io_context, never called under the lock.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "base/log.h"
#include "resolver/cache.h"
#include "resolver/protocol.h"
#include "resolver/resolver_internal.h"

namespace nsm::resolver {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxBackoff{30000};
constexpr std::chrono::seconds kHealthyLifetime{10};  // a sidecar living this long was fine
constexpr int kFramesPerWakeup = 64;

int64_t Ms(SteadyClock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

class Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, SidecarOptions opts)
      : io_(io),
        opts_(std::move(opts)),
        cache_(opts_.cache_entries, opts_.clock != nullptr ? *opts_.clock : Clock::Real()),
        restart_timer_(io),
        watchdog_(io),
        reap_timer_(io),
        rxbuf_(proto::kMaxFrame + 1) {}

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    Spawn();
  }

  void Resolve(std::string_view name, milliseconds timeout, Callback cb) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.lookups;
    if (!cb) return;  // nobody to tell
    if (shut_down_) return Complete(cb, Status(Code::kUnavailable, "resolver is shut down"));
    if (auto lit = net::Address::Parse(name)) {
      ++stats_.literals;
      return Complete(cb, Addresses{lit->Normalized().WithPort(0)});
    }
    if (!proto::IsAcceptableName(name)) {
      return Complete(cb,
                      Status(Code::kInvalidArgument, "not a valid host name: " + QuotedStr(name)));
    }
    std::string key = LowerName(name);
    if (auto hit = cache_.Lookup(key)) {
      ++stats_.cache_hits;
      return Complete(cb, std::move(*hit));
    }
    if (waiters_.size() >= opts_.max_pending) return Refuse(cb);
    if (pid_ < 0) {
      return Complete(cb, Status(Code::kUnavailable, "resolver sidecar is restarting"));
    }
    if (auto it = by_name_.find(key); it != by_name_.end()) {
      ++stats_.coalesced;
      AddWaiter(it->second, std::move(cb), timeout);
      return;
    }
    if (inflight_.size() >= opts_.max_pending) return Refuse(cb);
    uint64_t qid = next_id_++;
    auto now = SteadyClock::now();
    inflight_.emplace(qid, Query{key, {}, now, now + timeout});
    by_name_.emplace(key, qid);
    AddWaiter(qid, std::move(cb), timeout);
    ++stats_.sidecar_queries;
    Send(proto::EncodeResolve(qid, key));  // may replace the sidecar (failing this lookup)
    ArmWatchdog();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  pid_t pid() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pid_;
  }

  void Shutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    restart_timer_.cancel();
    watchdog_.cancel();
    reap_timer_.cancel();
    FailAll(Status(Code::kUnavailable, "resolver is shut down"));
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      zombies_.push_back(pid_);
      pid_ = -1;
    }
    sock_.reset();
    ++gen_;
    for (pid_t z : zombies_) {  // SIGKILLed: this wait is short
      int st;
      while (waitpid(z, &st, 0) < 0 && errno == EINTR) {
      }
    }
    zombies_.clear();
  }

 private:
  struct Query {
    std::string name;
    std::vector<uint64_t> waiters;  // waiter ids still waiting for this answer
    SteadyClock::time_point sent_at;
    SteadyClock::time_point due;  // latest deadline of any waiter that joined
  };
  struct Waiter {
    Callback cb;
    std::unique_ptr<asio::steady_timer> timer;
    uint64_t query;
  };

  static std::string QuotedStr(std::string_view s) {
    std::ostringstream os;
    os << log::Quoted{s};
    return os.str();
  }

  // Counts the outcome and posts the callback.
  void Complete(Callback& cb, Result<Addresses> r) {
    if (!r.ok()) {
      Code c = r.status().code();
      if (c == Code::kTimeout) {
        ++stats_.timeouts;
      } else if (c == Code::kFull) {
        ++stats_.queue_full;
      } else {
        ++stats_.failures;
      }
    }
    asio::post(io_, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
  }

  void Refuse(Callback& cb) {
    ++refused_while_full_;
    if (!full_logged_) {
      full_logged_ = true;
      log::Warning("resolver: ", waiters_.size(), " lookups pending and ", inflight_.size(),
                   " queries in the sidecar (limit ", opts_.max_pending,
                   "); refusing new lookups until some complete");
    }
    Complete(cb, Status(Code::kFull, "too many pending lookups"));
  }

  void NoteSlotsFreed() {
    if (full_logged_ && !shut_down_ && waiters_.size() < opts_.max_pending &&
        inflight_.size() < opts_.max_pending) {
      log::Notice("resolver: accepting lookups again after refusing ", refused_while_full_);
      full_logged_ = false;
      refused_while_full_ = 0;
    }
  }

  void AddWaiter(uint64_t qid, Callback cb, milliseconds timeout) {
    uint64_t wid = next_waiter_++;
    auto timer = std::make_unique<asio::steady_timer>(io_, timeout);
    timer->async_wait([weak = weak_from_this(), wid](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (auto self = weak.lock()) self->OnWaiterTimeout(wid);
    });
    Query& q = inflight_[qid];
    q.waiters.push_back(wid);
    q.due = std::max(q.due, SteadyClock::now() + timeout);
    waiters_.emplace(wid, Waiter{std::move(cb), std::move(timer), qid});
  }

  void OnWaiterTimeout(uint64_t wid) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = waiters_.find(wid);
    if (it == waiters_.end()) return;  // answered or failed meanwhile
    Waiter w = std::move(it->second);
    waiters_.erase(it);
    std::string name = "?";
    if (auto q = inflight_.find(w.query); q != inflight_.end()) {
      std::erase(q->second.waiters, wid);
      name = q->second.name;  // the query stays in flight: the sidecar still owes it
    }
    Complete(w.cb, Status(Code::kTimeout, "no answer for " + QuotedStr(name) + " in time"));
    NoteSlotsFreed();
  }

  // Fails every waiter and forgets every query (the sidecar is gone or going).
  void FailAll(const Status& why) {
    for (auto& [wid, w] : waiters_) {
      w.timer->cancel();
      Complete(w.cb, why);
    }
    waiters_.clear();
    inflight_.clear();
    by_name_.clear();
    outq_.clear();
    write_wait_ = false;
    NoteSlotsFreed();
  }

  // ---- Sidecar lifecycle ----

  void Spawn() {
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
    spawned_at_ = last_rx_ = SteadyClock::now();
    hello_ = false;
    if (started_once_) ++stats_.sidecar_restarts;
    started_once_ = true;
    log::Info("resolver: sidecar started, pid ", pid_);
    StartRead();
  }

  void ScheduleRestart() {
    if (shut_down_) return;
    milliseconds delay{0};
    if (quick_failures_ > 1) {
      delay =
          std::min(kMaxBackoff, milliseconds(int64_t{100} << std::min(quick_failures_ - 2, 10)));
    }
    if (delay.count() == 0) return Spawn();
    log::Notice("resolver: restarting the sidecar in ", delay.count(), " ms");
    restart_timer_.expires_after(delay);
    restart_timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (auto self = weak.lock()) {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->Spawn();
      }
    });
  }

  // The sidecar died, hung or broke the protocol: kill it, fail its lookups, replace it.
  void ReplaceSidecar(const std::string& reason) {
    if (pid_ < 0) return;
    log::Warning("resolver: sidecar pid ", pid_, " ", reason, "; failing ", waiters_.size(),
                 " pending lookups (", inflight_.size(), " queries owed by it), killing and ",
                 "replacing it");
    bool quick = !answered_ && SteadyClock::now() - spawned_at_ < kHealthyLifetime;
    quick_failures_ = quick ? quick_failures_ + 1 : 0;
    kill(pid_, SIGKILL);
    zombies_.push_back(pid_);
    pid_ = -1;
    sock_.reset();
    ++gen_;
    answered_ = false;
    // The watchdog keeps ticking (only Shutdown cancels it): it re-arms itself only
    // while queries are owed, and re-arming after a cancel here could be lost.
    FailAll(Status(Code::kUnavailable, "resolver sidecar failed (" + reason + ")"));
    Reap();
    ScheduleRestart();
  }

  void Reap() {
    for (auto it = zombies_.begin(); it != zombies_.end();) {
      if (auto how = TryReap(*it)) {
        log::Info("resolver: sidecar pid ", *it, " ", *how);
        it = zombies_.erase(it);
      } else {
        ++it;
      }
    }
    if (zombies_.empty() || reap_armed_) return;
    reap_armed_ = true;
    reap_timer_.expires_after(milliseconds(10));
    reap_timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (auto self = weak.lock()) {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->reap_armed_ = false;
        self->Reap();
      }
    });
  }

  // ---- Hang detection ----

  milliseconds WatchdogTick() const {
    return std::clamp(std::chrono::duration_cast<milliseconds>(opts_.hang_margin / 4),
                      milliseconds(10), milliseconds(1000));
  }

  void ArmWatchdog() {
    if (watchdog_armed_ || inflight_.empty() || pid_ < 0) return;
    watchdog_armed_ = true;
    watchdog_.expires_after(WatchdogTick());
    watchdog_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      std::lock_guard<std::mutex> lock(self->mu_);
      self->watchdog_armed_ = false;
      if (ec == asio::error::operation_aborted || self->shut_down_) return;
      self->CheckHang();
      self->ArmWatchdog();
    });
  }

  // Hung = some query is past its deadline plus the margin, and the sidecar has sent
  // nothing at all since that deadline.
  void CheckHang() {
    auto now = SteadyClock::now();
    for (const auto& [id, q] : inflight_) {
      if (now >= q.due + opts_.hang_margin && last_rx_ < q.due) {
        return ReplaceSidecar("is unresponsive: query " + std::to_string(id) + " for " +
                              QuotedStr(q.name) + " outstanding for " +
                              std::to_string(Ms(now - q.sent_at)) + " ms, nothing received for " +
                              std::to_string(Ms(now - last_rx_)) + " ms");
      }
    }
  }

  // ---- Connection ----

  void StartRead() {
    sock_->async_wait(asio::posix::descriptor_base::wait_read,
                      [weak = weak_from_this(), gen = gen_](const std::error_code& ec) {
                        auto self = weak.lock();
                        if (!self) return;
                        std::lock_guard<std::mutex> lock(self->mu_);
                        if (gen != self->gen_ || ec == asio::error::operation_aborted) return;
                        self->OnReadable();
                      });
  }

  void OnReadable() {
    uint64_t gen = gen_;
    for (int i = 0; i < kFramesPerWakeup && gen == gen_; ++i) {
      ssize_t n =
          recv(sock_->native_handle(), rxbuf_.data(), rxbuf_.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n > 0) {
        last_rx_ = SteadyClock::now();
        if (static_cast<size_t>(n) > proto::kMaxFrame) {
          return ReplaceSidecar("sent an oversized frame (" + std::to_string(n) + " bytes)");
        }
        auto f = proto::DecodeFrame(std::span<const uint8_t>(rxbuf_.data(), size_t(n)));
        if (!f.ok()) return ReplaceSidecar("sent a malformed frame: " + f.status().message());
        HandleFrame(*f);
        continue;
      }
      if (n == 0) return ReplaceSidecar("died (its socket closed)");
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return ReplaceSidecar("died (connection reset)");
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return ReplaceSidecar(std::string("socket error: ") + std::strerror(errno));
    }
    if (gen == gen_) StartRead();
  }

  void HandleFrame(const proto::Frame& f) {
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
        if (geteuid() == 0 && !opts_.drop_to_user.empty() && h->uid == 0) {
          return ReplaceSidecar("still runs as root");
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
      case proto::MsgType::kAnswer:
        return HandleAnswer(f);
      case proto::MsgType::kResolve:
        break;  // excluded by the sender check
    }
  }

  void HandleAnswer(const proto::Frame& f) {
    auto a = proto::DecodeAnswer(f);
    if (!a.ok()) return ReplaceSidecar("sent a bad answer: " + a.status().message());
    auto it = inflight_.find(f.id);
    if (it == inflight_.end()) {
      return ReplaceSidecar("answered request id " + std::to_string(f.id) +
                            ", which is not pending");
    }
    answered_ = true;
    quick_failures_ = 0;
    Query q = std::move(it->second);
    inflight_.erase(it);
    by_name_.erase(q.name);
    Result<Addresses> r = Status(Code::kInternal, "unset");
    std::string detail = a->detail.empty() ? "" : " (" + a->detail + ")";
    switch (a->status) {
      case proto::AnswerStatus::kOk:
        r = NormalizeAddresses(a->addresses);
        cache_.Put(q.name, r, opts_.positive_ttl);
        break;
      case proto::AnswerStatus::kNotFound:
        r = Status(Code::kNotFound, "host " + QuotedStr(q.name) + " not found" + detail);
        cache_.Put(q.name, r, opts_.negative_ttl);
        break;
      case proto::AnswerStatus::kTemporary:
        r = Status(Code::kUnavailable, "temporary failure resolving " + QuotedStr(q.name) + detail);
        break;
      case proto::AnswerStatus::kFailed:
        r = Status(Code::kUnavailable, "resolving " + QuotedStr(q.name) + " failed" + detail);
        break;
    }
    for (uint64_t wid : q.waiters) {
      auto w = waiters_.find(wid);
      if (w == waiters_.end()) continue;
      w->second.timer->cancel();
      Complete(w->second.cb, r);
      waiters_.erase(w);
    }
    NoteSlotsFreed();
  }

  void Send(std::vector<uint8_t> frame) {
    outq_.push_back(std::move(frame));
    if (!write_wait_) Flush();
  }

  void Flush() {
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

  asio::io_context& io_;
  const SidecarOptions opts_;
  mutable std::mutex mu_;
  bool shut_down_ = false;
  Stats stats_;
  Cache cache_;

  // The current sidecar (pid_ < 0: none) and its connection.
  pid_t pid_ = -1;
  std::unique_ptr<asio::posix::stream_descriptor> sock_;
  uint64_t gen_ = 0;  // bumped whenever the sidecar changes; stale handlers ignore themselves
  SteadyClock::time_point spawned_at_, last_rx_;
  bool hello_ = false, answered_ = false, started_once_ = false;
  int quick_failures_ = 0;  // consecutive sidecars that died young without answering
  std::deque<std::vector<uint8_t>> outq_;
  bool write_wait_ = false;
  asio::steady_timer restart_timer_, watchdog_, reap_timer_;
  bool watchdog_armed_ = false, reap_armed_ = false;
  std::vector<pid_t> zombies_;
  std::vector<uint8_t> rxbuf_;

  // Lookups.
  uint64_t next_id_ = 1, next_waiter_ = 1;
  std::map<uint64_t, Query> inflight_;                 // request id -> query the sidecar owes
  std::unordered_map<std::string, uint64_t> by_name_;  // name -> its query, for coalescing
  std::unordered_map<uint64_t, Waiter> waiters_;       // Resolve() calls not yet completed
  bool full_logged_ = false;
  uint64_t refused_while_full_ = 0;
};

class SidecarResolver final : public Resolver {
 public:
  SidecarResolver(asio::io_context& io, SidecarOptions opts)
      : impl_(std::make_shared<Impl>(io, std::move(opts))) {
    impl_->Start();
  }
  ~SidecarResolver() override { impl_->Shutdown(); }
  void Resolve(std::string_view name, milliseconds timeout, Callback cb) override {
    impl_->Resolve(name, timeout, std::move(cb));
  }
  Stats stats() const override { return impl_->stats(); }
  void Shutdown() override { impl_->Shutdown(); }
  pid_t pid() const { return impl_->pid(); }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace

std::unique_ptr<Resolver> MakeSidecarResolver(asio::io_context& io, SidecarOptions opts) {
  return std::make_unique<SidecarResolver>(io, std::move(opts));
}

pid_t SidecarPidForTest(const Resolver& r) {
  const auto* s = dynamic_cast<const SidecarResolver*>(&r);
  return s != nullptr ? s->pid() : -1;
}

}  // namespace nsm::resolver
