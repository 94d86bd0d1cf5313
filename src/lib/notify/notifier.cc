// The per-peer notify state machine (see notifier.h). Peers and their addresses live
// in vectors and are named by index in every callback, together with the attempt's
// generation number, so a late answer for an attempt that ended is recognised and
// dropped. A shared token guards every callback against the Notifier's destruction.
#include "notify/notifier.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <random>

#include "base/log.h"

namespace nsm::notify {

namespace {
using std::chrono::milliseconds;
using TimerId = Scheduler::TimerId;

const char* Name(rpc::Transport t) { return t == rpc::Transport::kUdp ? "udp" : "tcp"; }
}  // namespace

struct Notifier::Impl {
  struct Addr {
    Addr(net::Address a, Backoff b) : addr(a), backoff(b) {}
    net::Address addr;  // port 0
    Backoff backoff;
    bool queued = false;    // waiting for an in-flight slot
    bool busy = false;      // an attempt is running
    bool want_tcp = false;  // attempts also go over TCP
    uint64_t gen = 0;       // attempt generation
    int branches = 0;       // UDP/TCP branches of the running attempt still going
    bool slot = false;      // holds an in-flight slot
    TimerId retry_timer = 0;
    Scheduler::TimePoint start{};
    milliseconds interval{0};
  };
  enum class State { kActive, kDone, kFailed, kAbandoned };
  struct Peer {
    Peer(Target target, Backoff b) : t(std::move(target)), resolve_backoff(b) {}
    Target t;
    std::vector<std::unique_ptr<Addr>> addrs;
    State state = State::kActive;
    int attempts = 0;
    std::string last_error;
    bool resolving = false;
    Backoff resolve_backoff;
    TimerId resolve_timer = 0;
  };

  Impl(Scheduler& s, Transport& t, resolver::Resolver* r, NotifierOptions o)
      : sched(s), transport(t), resolver(r), opts(std::move(o)) {
    seed = opts.seed != 0 ? opts.seed
                          : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    opts.max_inflight = std::max<size_t>(opts.max_inflight, 1);
    opts.max_tcp = std::max<size_t>(opts.max_tcp, 1);
    opts.max_resolving = std::max<size_t>(opts.max_resolving, 1);
  }

  Scheduler& sched;
  Transport& transport;
  resolver::Resolver* resolver;
  NotifierOptions opts;
  uint64_t seed;
  std::shared_ptr<int> token = std::make_shared<int>(0);

  std::vector<std::unique_ptr<Peer>> peers;
  DoneFn on_done;
  FailFn on_failed;
  std::function<void()> on_finished;
  bool started = false, stopped = false, finished = false;
  bool more = false;        // ExpectMore() until NoMore(): Add() may still bring targets
  bool past_limit = false;  // the retry limit passed: no new attempts
  size_t active = 0;        // peers in State::kActive
  size_t followups = 0;     // short-name notifications in flight
  TimerId deadline_timer = 0;
  NotifierStats stats;

  std::deque<std::pair<size_t, size_t>> first_q, retry_q;  // (peer, address) wanting a slot
  size_t inflight = 0;
  struct Held {
    size_t pi, ai;
    uint64_t gen;
    Scheduler::TimePoint start;
  };
  std::deque<Held> held;  // slots in the order taken (entries go stale when released)
  TimerId hold_timer = 0;
  std::optional<Scheduler::Duration> min_rtt;  // shortest attempt start -> first answer
  std::deque<std::function<bool()>> tcp_wait;  // returns false when stale (slot unused)
  size_t tcp_inflight = 0;
  std::deque<size_t> resolve_q;
  size_t resolving = 0;

  // Wraps a callback so that it does nothing once the Notifier is gone or stopped.
  template <class F>
  auto Guard(F f) {
    return [w = std::weak_ptr<int>(token), this, f = std::move(f)](auto&&... args) mutable {
      if (w.expired() || stopped) return;
      f(std::forward<decltype(args)>(args)...);
    };
  }

  Peer& P(size_t pi) { return *peers[pi]; }
  Addr& A(size_t pi, size_t ai) { return *peers[pi]->addrs[ai]; }
  bool Current(size_t pi, size_t ai, uint64_t gen) {
    Peer& p = P(pi);
    return p.state == State::kActive && p.addrs[ai]->busy && p.addrs[ai]->gen == gen;
  }

  // ------------------------------------------------------------------ start / end
  void Start(std::vector<Target> targets) {
    started = true;
    if (opts.retry_limit.count() > 0) {
      deadline_timer = sched.At(sched.Now() + opts.retry_limit, Guard([this] { Deadline(); }));
    }
    Add(std::move(targets));
    sched.At(sched.Now(), Guard([this] { CheckFinished(); }));
  }

  void Add(std::vector<Target> targets) {
    if (stopped || finished) return;
    const size_t first = peers.size();
    stats.targets += targets.size();
    peers.reserve(first + targets.size());
    for (size_t k = 0; k < targets.size(); ++k) {
      const size_t i = first + k;
      peers.push_back(std::make_unique<Peer>(std::move(targets[k]),
                                             Backoff(opts.backoff, seed ^ (i * 0x9e3779b9ULL))));
    }
    active += targets.size();
    for (size_t i = first; i < peers.size(); ++i) {
      StartPeer(i);
      if (past_limit && P(i).state == State::kActive) {
        P(i).last_error = "retry limit reached before the peer was read";
        Fail(i);
      }
    }
  }

  void NoMore() {
    more = false;
    CheckFinished();
  }

  void StartPeer(size_t pi) {
    Peer& p = P(pi);
    for (const std::string& text : p.t.addresses) {
      if (auto a = net::Address::Parse(text)) {
        AddAddress(pi, *a);
      } else {
        log::Warning("ignoring stored address ", log::Quoted{text}, " of ", log::Quoted{p.t.peer},
                     ": not an IP address");
      }
    }
    bool will_resolve = false;
    if (auto lit = net::Address::Parse(p.t.peer)) {
      AddAddress(pi, *lit);
    } else if (resolver != nullptr) {
      will_resolve = true;
      QueueResolve(pi);
    }
    if (p.addrs.empty() && !will_resolve) {
      // Nothing to try and no way to learn an address: give up at once.
      p.last_error = "no address to notify and no resolver";
      Fail(pi);
    }
  }

  void AddAddress(size_t pi, const net::Address& raw) {
    Peer& p = P(pi);
    if (p.state != State::kActive) return;
    net::Address a = raw.Normalized().WithPort(0);
    if (!a.valid()) return;
    for (const auto& existing : p.addrs) {
      if (existing->addr.SameHost(a)) return;
    }
    const uint64_t s = seed ^ (pi * 0x9e3779b97f4a7c15ULL) ^ (p.addrs.size() + 1);
    p.addrs.push_back(std::make_unique<Addr>(a, Backoff(opts.backoff, s)));
    Enqueue(pi, p.addrs.size() - 1, /*first=*/true);
  }

  void CancelAddr(Addr& a) {
    if (a.retry_timer != 0) sched.Cancel(a.retry_timer);
    a.retry_timer = 0;
    ReleaseSlot(a, /*pump=*/false);
    a.busy = false;
    a.queued = false;
    ++a.gen;
  }

  void EndPeer(size_t pi, State state) {
    Peer& p = P(pi);
    p.state = state;
    --active;
    for (auto& a : p.addrs) CancelAddr(*a);
    if (p.resolve_timer != 0) sched.Cancel(p.resolve_timer);
    p.resolve_timer = 0;
  }

  void Fail(size_t pi) {
    Peer& p = P(pi);
    if (p.state != State::kActive) return;
    EndPeer(pi, State::kFailed);
    ++stats.failed;
    Failure f{p.attempts, p.last_error.empty() ? "no answer" : p.last_error};
    log::Notice("Unable to notify ", log::Quoted{p.t.peer}, ", giving up after ", f.attempts,
                " attempts: ", f.error);
    if (on_failed) on_failed(p.t, f);
    Pump();
    CheckFinished();
  }

  void Done(size_t pi, const net::Address& server, rpc::Transport t) {
    Peer& p = P(pi);
    EndPeer(pi, State::kDone);
    ++stats.done;
    log::Debug("Host ", log::Quoted{p.t.peer}, " notified successfully at ",
               server.ToStringWithPort(), " over ", Name(t), " (", p.attempts, " attempts)");
    if (on_done) on_done(p.t);
    ShortName(p.t.notify_name, server, t);
    Pump();
    CheckFinished();
  }

  void Deadline() {
    deadline_timer = 0;
    past_limit = true;
    for (size_t pi = 0; pi < peers.size(); ++pi) {
      if (P(pi).state == State::kActive) Fail(pi);
    }
  }

  void CheckFinished() {
    if (!started || finished || stopped || more || active != 0 || followups != 0) return;
    finished = true;
    if (deadline_timer != 0) sched.Cancel(deadline_timer);
    deadline_timer = 0;
    if (hold_timer != 0) sched.Cancel(hold_timer);
    hold_timer = 0;
    if (on_finished) sched.At(sched.Now(), Guard([this] { on_finished(); }));
  }

  void Stop() {
    if (stopped) return;
    for (size_t pi = 0; pi < peers.size(); ++pi) {
      if (P(pi).state == State::kActive) {
        EndPeer(pi, State::kAbandoned);
        ++stats.abandoned;
      }
    }
    if (deadline_timer != 0) sched.Cancel(deadline_timer);
    deadline_timer = 0;
    if (hold_timer != 0) sched.Cancel(hold_timer);
    hold_timer = 0;
    stopped = true;
  }

  // ------------------------------------------------------------------ pacing
  void Enqueue(size_t pi, size_t ai, bool first) {
    Addr& a = A(pi, ai);
    if (a.queued || a.busy) return;
    a.queued = true;
    (first ? first_q : retry_q).emplace_back(pi, ai);
    Pump();
  }

  void Pump() {
    if (past_limit) return;
    while (inflight < opts.max_inflight && (!first_q.empty() || !retry_q.empty())) {
      auto& q = !first_q.empty() ? first_q : retry_q;
      auto [pi, ai] = q.front();
      q.pop_front();
      Addr& a = A(pi, ai);
      if (!a.queued || P(pi).state != State::kActive) continue;
      a.queued = false;
      StartAttempt(pi, ai);
    }
  }

  bool Stale(const Held& h) {
    const Addr& x = A(h.pi, h.ai);
    return x.gen != h.gen || !x.slot;
  }

  void AcquireSlot(size_t pi, size_t ai) {
    Addr& a = A(pi, ai);
    a.slot = true;
    ++inflight;
    stats.peak_inflight = std::max(stats.peak_inflight, inflight);
    const uint64_t gen = a.gen;
    while (!held.empty() && Stale(held.front())) held.pop_front();
    held.push_back(Held{pi, ai, gen, a.start});
    ArmHoldTimer();
  }

  // One timer for all held places (they are in start order): at the oldest one's
  // start + inflight_hold, every place that old is given back.
  void ArmHoldTimer() {
    if (hold_timer != 0 || held.empty()) return;
    hold_timer =
        sched.At(held.front().start + opts.inflight_hold, Guard([this] {
                   hold_timer = 0;
                   const Scheduler::TimePoint now = sched.Now();
                   bool freed = false;
                   while (!held.empty() && held.front().start + opts.inflight_hold <= now) {
                     const Held h = held.front();
                     held.pop_front();
                     if (Stale(h)) continue;
                     ReleaseSlot(A(h.pi, h.ai), /*pump=*/false);
                     freed = true;
                   }
                   while (!held.empty() && Stale(held.front())) held.pop_front();
                   ArmHoldTimer();
                   if (freed) Pump();
                 }));
  }

  void ReleaseSlot(Addr& a, bool pump) {
    if (!a.slot) return;
    a.slot = false;
    --inflight;
    if (pump) Pump();
  }

  // An attempt that started at `start` had an answer: the places of attempts started
  // more than the reorder window before it, still silent, are given back. The window
  // is a quarter of the shortest round trip seen (as in RACK), at most reorder_window.
  void Answered(Scheduler::TimePoint start) {
    if (opts.reorder_window.count() == 0) return;  // off: only inflight_hold
    const Scheduler::Duration rtt = sched.Now() - start;
    if (!min_rtt || rtt < *min_rtt) min_rtt = rtt;
    const Scheduler::Duration window =
        std::min<Scheduler::Duration>(opts.reorder_window, *min_rtt / 4);
    bool freed = false;
    while (!held.empty() && held.front().start + window < start) {
      const Held h = held.front();
      held.pop_front();
      if (Stale(h)) continue;
      ReleaseSlot(A(h.pi, h.ai), /*pump=*/false);
      ++stats.presumed_silent;
      freed = true;
    }
    if (freed) Pump();
  }

  void PumpTcp() {
    while (tcp_inflight < opts.max_tcp && !tcp_wait.empty()) {
      auto f = std::move(tcp_wait.front());
      tcp_wait.pop_front();
      ++tcp_inflight;
      if (!f()) {
        --tcp_inflight;
      } else {
        stats.peak_tcp = std::max(stats.peak_tcp, tcp_inflight);
      }
    }
  }

  void ReleaseTcp() {
    --tcp_inflight;
    PumpTcp();
  }

  // ------------------------------------------------------------------ attempts
  void StartAttempt(size_t pi, size_t ai) {
    Peer& p = P(pi);
    Addr& a = A(pi, ai);
    a.busy = true;
    ++a.gen;
    ++p.attempts;
    ++stats.attempts;
    a.interval = a.backoff.Next();
    a.start = sched.Now();
    AcquireSlot(pi, ai);
    a.branches = a.want_tcp ? 2 : 1;
    if (a.want_tcp) TcpBranch(pi, ai, a.gen);
    UdpBranch(pi, ai, a.gen);
  }

  void UdpBranch(size_t pi, size_t ai, uint64_t gen) {
    Addr& a = A(pi, ai);
    ++stats.lookups;
    transport.GetPort(a.addr, rpc::Transport::kUdp, a.interval,
                      Guard([this, pi, ai, gen](Result<uint16_t> r) {
                        if (!Current(pi, ai, gen)) return;
                        Addr& x = A(pi, ai);
                        if (r.ok() || r.status().code() == Code::kNotFound) Answered(x.start);
                        if (r.ok()) return SendNotify(pi, ai, gen, rpc::Transport::kUdp, *r);
                        if (r.status().code() == Code::kNotFound) {
                          if (!x.want_tcp) {
                            // Registered for TCP only, perhaps: this branch turns to TCP.
                            x.want_tcp = true;
                            return TcpBranch(pi, ai, gen);
                          }
                          return BranchFailed(pi, ai, gen, "NSM is not registered for UDP");
                        }
                        BranchFailed(pi, ai, gen, "rpcbind: " + r.status().message());
                      }));
  }

  void TcpBranch(size_t pi, size_t ai, uint64_t gen) {
    Addr& a = A(pi, ai);
    ++stats.lookups;
    transport.GetPort(a.addr, rpc::Transport::kTcp, a.interval,
                      Guard([this, pi, ai, gen](Result<uint16_t> r) {
                        if (!Current(pi, ai, gen)) return;
                        if (r.ok() || r.status().code() == Code::kNotFound) {
                          Answered(A(pi, ai).start);
                        }
                        if (r.ok()) {
                          const uint16_t port = *r;
                          tcp_wait.push_back([this, pi, ai, gen, port] {
                            if (!Current(pi, ai, gen)) return false;
                            SendNotify(pi, ai, gen, rpc::Transport::kTcp, port);
                            return true;
                          });
                          return PumpTcp();
                        }
                        if (r.status().code() == Code::kNotFound) {
                          return BranchFailed(pi, ai, gen, "NSM is not registered with rpcbind");
                        }
                        BranchFailed(pi, ai, gen, "rpcbind: " + r.status().message());
                      }));
  }

  void SendNotify(size_t pi, size_t ai, uint64_t gen, rpc::Transport t, uint16_t port) {
    Peer& p = P(pi);
    Addr& a = A(pi, ai);
    const net::Address server = a.addr.WithPort(port);
    ++(t == rpc::Transport::kUdp ? stats.udp_notifies : stats.tcp_notifies);
    const milliseconds retransmit =
        std::clamp(a.interval / 4, milliseconds(250), milliseconds(10000));
    transport.Notify(server, t, p.t.notify_name, opts.state, a.interval, retransmit,
                     [w = std::weak_ptr<int>(token), this, pi, ai, gen, server, t](Status s) {
                       if (w.expired()) return;
                       if (t == rpc::Transport::kTcp) ReleaseTcp();
                       if (stopped || !Current(pi, ai, gen)) return;
                       if (s.ok()) {
                         Answered(A(pi, ai).start);
                         return Done(pi, server, t);
                       }
                       // statd's rpcbind answered but statd did not: try TCP too.
                       if (t == rpc::Transport::kUdp) A(pi, ai).want_tcp = true;
                       BranchFailed(pi, ai, gen,
                                    std::string("SM_NOTIFY over ") + Name(t) + " to port " +
                                        std::to_string(server.port()) + ": " + s.message());
                     });
  }

  void BranchFailed(size_t pi, size_t ai, uint64_t gen, const std::string& why) {
    Peer& p = P(pi);
    Addr& a = A(pi, ai);
    p.last_error = a.addr.ToString() + ": " + why;
    if (--a.branches > 0) return;
    a.busy = false;
    ReleaseSlot(a, /*pump=*/false);
    log::Debug("notify ", log::Quoted{p.t.peer}, " attempt ", a.backoff.count(),
               " failed: ", p.last_error);
    const Scheduler::TimePoint next = std::max(sched.Now(), a.start + a.interval);
    a.retry_timer = sched.At(next, Guard([this, pi, ai, gen] {
                               Addr& x = A(pi, ai);
                               if (x.gen != gen) return;
                               x.retry_timer = 0;
                               if (P(pi).state == State::kActive) Enqueue(pi, ai, false);
                             }));
    Pump();
  }

  // ------------------------------------------------------------------ names
  void QueueResolve(size_t pi) {
    resolve_q.push_back(pi);
    PumpResolve();
  }

  void PumpResolve() {
    while (resolving < opts.max_resolving && !resolve_q.empty()) {
      const size_t pi = resolve_q.front();
      resolve_q.pop_front();
      Peer& p = P(pi);
      if (p.state != State::kActive) continue;
      p.resolving = true;
      ++resolving;
      ++stats.resolves;
      resolver->Resolve(p.t.peer, opts.resolve_timeout,
                        Guard([this, pi](Result<resolver::Addresses> r) { Resolved(pi, r); }));
    }
  }

  void Resolved(size_t pi, const Result<resolver::Addresses>& r) {
    --resolving;
    Peer& p = P(pi);
    p.resolving = false;
    if (p.state == State::kActive) {
      if (r.ok()) {
        for (const net::Address& a : *r) AddAddress(pi, a);
      } else {
        log::Debug("cannot resolve ", log::Quoted{p.t.peer}, ": ", r.status().ToString());
        if (p.addrs.empty()) {
          p.last_error = "cannot resolve " + p.t.peer + ": " + r.status().message();
        }
        // A name that does not exist is final when there are stored addresses; any
        // other failure (DNS down, time-out) is retried.
        if (r.status().code() != Code::kNotFound || p.addrs.empty()) {
          const milliseconds wait = p.resolve_backoff.Next();
          p.resolve_timer = sched.At(sched.Now() + wait, Guard([this, pi] {
                                       P(pi).resolve_timer = 0;
                                       if (P(pi).state == State::kActive) QueueResolve(pi);
                                     }));
        }
      }
    }
    PumpResolve();
  }

  void ShortName(const std::string& name, const net::Address& server, rpc::Transport t) {
    if (!opts.short_name || net::IsIpLiteral(name)) return;
    const size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0) return;
    const std::string short_name = name.substr(0, dot);
    ++followups;
    ++stats.short_notifies;
    auto send = [this, short_name, server, t] {
      transport.Notify(server, t, short_name, opts.state, opts.short_name_timeout,
                       std::min(opts.short_name_timeout, milliseconds(1000)),
                       [w = std::weak_ptr<int>(token), this, short_name, server, t](Status s) {
                         if (w.expired()) return;
                         if (t == rpc::Transport::kTcp) ReleaseTcp();
                         if (!s.ok()) {
                           log::Debug("short-name SM_NOTIFY ", log::Quoted{short_name}, " to ",
                                      server.ToStringWithPort(), ": ", s.ToString());
                         }
                         --followups;
                         CheckFinished();
                       });
    };
    if (t == rpc::Transport::kTcp) {
      tcp_wait.push_back([send] {
        send();
        return true;
      });
      PumpTcp();
    } else {
      send();
    }
  }
};

Notifier::Notifier(Scheduler& scheduler, Transport& transport, resolver::Resolver* resolver,
                   NotifierOptions options)
    : impl_(std::make_unique<Impl>(scheduler, transport, resolver, std::move(options))) {}

Notifier::~Notifier() {
  if (impl_) {
    impl_->Stop();
    impl_->token.reset();
  }
}

void Notifier::Start(std::vector<Target> targets, DoneFn on_done, FailFn on_failed,
                     std::function<void()> finished) {
  if (impl_->started) return;
  impl_->on_done = std::move(on_done);
  impl_->on_failed = std::move(on_failed);
  impl_->on_finished = std::move(finished);
  impl_->Start(std::move(targets));
}

void Notifier::ExpectMore() {
  if (!impl_->started) impl_->more = true;
}
void Notifier::Add(std::vector<Target> targets) {
  if (impl_->started) impl_->Add(std::move(targets));
}
void Notifier::NoMore() {
  if (impl_->more) impl_->NoMore();
}
void Notifier::Stop() { impl_->Stop(); }
bool Notifier::finished() const { return impl_->finished; }
NotifierStats Notifier::stats() const { return impl_->stats; }

}  // namespace nsm::notify
