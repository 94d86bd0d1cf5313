// Parent side of the sidecar resolver, lookups: cache, coalescing, the two priority
// classes, bounded pending queue, per-lookup timers and answers; plus the public
// SidecarResolver wrapper. Remote lookups (anything a remote host can trigger) may
// have at most RemoteWorkers() queries in the sidecar at once, so they can never
// occupy every worker thread; the others wait here ("parked") and are dropped unsent
// if all their callers time out. The sidecar's life is in sidecar_supervisor.cc.
#include <asio/post.hpp>

#include "base/log.h"
#include "resolver/resolver_internal.h"
#include "resolver/sidecar_resolver_impl.h"

namespace nsm::resolver {
namespace {

std::string QuotedStr(std::string_view s) {
  std::ostringstream os;
  os << log::Quoted{s};
  return os.str();
}

}  // namespace

SidecarImpl::SidecarImpl(asio::io_context& io, SidecarOptions opts)
    : io_(io),
      opts_(std::move(opts)),
      cache_(opts_.cache_entries, opts_.clock != nullptr ? *opts_.clock : Clock::Real()),
      restart_timer_(io),
      watchdog_(io),
      reap_timer_(io),
      rxbuf_(proto::kMaxFrame + 1) {}

void SidecarImpl::Resolve(std::string_view name, milliseconds timeout, Priority prio, Callback cb) {
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
  const bool remote = prio == Priority::kRemote;
  if (waiters_.size() >= opts_.max_pending) return Refuse(cb, prio);
  if (remote && remote_waiters_ >= RemoteCap()) return Refuse(cb, prio);
  if (pid_ < 0) return Complete(cb, Status(Code::kUnavailable, "resolver sidecar is restarting"));

  // Join a query in flight: a local one serves either class; a remote one serves a
  // local caller too, after taking it over if it is still parked here.
  auto& local = ByName(Priority::kLocal);
  auto& rem = ByName(Priority::kRemote);
  uint64_t join = 0;
  if (auto it = local.find(key); it != local.end()) {
    join = it->second;
  } else if (auto r = rem.find(key); r != rem.end()) {
    join = r->second;
  }
  if (join != 0) {
    ++stats_.coalesced;
    AddWaiter(join, std::move(cb), timeout, prio);
    if (!remote && !queries_[join].sent) Promote(join);  // may replace the sidecar
    return;
  }

  if (queries_.size() >= opts_.max_pending) return Refuse(cb, prio);
  if (remote && remote_queries_ >= RemoteCap()) return Refuse(cb, prio);
  uint64_t qid = next_id_++;
  queries_.emplace(qid, Query{key, prio, {}, false, {}});
  ByName(prio).emplace(key, qid);
  if (remote) ++remote_queries_;
  AddWaiter(qid, std::move(cb), timeout, prio);
  if (remote && remote_in_sidecar_ >= RemoteWorkers()) {
    ++stats_.remote_deferred;
    remote_parked_.push_back(qid);
    return;
  }
  SendQuery(qid);  // may replace the sidecar (failing this lookup)
}

Stats SidecarImpl::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

pid_t SidecarImpl::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

size_t SidecarImpl::RemoteCap() const {
  return std::max<size_t>(1, opts_.max_pending - opts_.max_pending / 4);
}

size_t SidecarImpl::RemoteWorkers() const {
  int threads = std::clamp(opts_.child_threads, 1, kMaxChildThreads);
  int local = std::clamp(opts_.local_threads, 0, threads - 1);
  return static_cast<size_t>(threads - local);
}

void SidecarImpl::Complete(Callback& cb, Result<Addresses> r) {
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

void SidecarImpl::Refuse(Callback& cb, Priority prio) {
  ++refused_while_full_;
  if (!full_logged_) {
    full_logged_ = true;
    log::Warning("resolver: ", waiters_.size(), " lookups pending (", remote_waiters_,
                 " remote) and ", queries_.size(), " queries owed (", remote_queries_,
                 " remote; limits ", opts_.max_pending, " and ", RemoteCap(),
                 " for remote ones); refusing new ", prio == Priority::kRemote ? "remote " : "",
                 "lookups until some complete");
  }
  Complete(cb, Status(Code::kFull, prio == Priority::kRemote ? "too many pending remote lookups"
                                                             : "too many pending lookups"));
}

void SidecarImpl::NoteSlotsFreed() {
  if (full_logged_ && !shut_down_ && waiters_.size() < opts_.max_pending &&
      queries_.size() < opts_.max_pending && remote_waiters_ < RemoteCap() &&
      remote_queries_ < RemoteCap()) {
    log::Notice("resolver: accepting lookups again after refusing ", refused_while_full_);
    full_logged_ = false;
    refused_while_full_ = 0;
  }
}

void SidecarImpl::AddWaiter(uint64_t qid, Callback cb, milliseconds timeout, Priority prio) {
  uint64_t wid = next_waiter_++;
  auto timer = std::make_unique<asio::steady_timer>(io_, timeout);
  timer->async_wait([weak = weak_from_this(), wid](const std::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (auto self = weak.lock()) self->OnWaiterTimeout(wid);
  });
  queries_[qid].waiters.push_back(wid);
  if (prio == Priority::kRemote) ++remote_waiters_;
  waiters_.emplace(wid, Waiter{std::move(cb), std::move(timer), qid, prio});
}

void SidecarImpl::OnWaiterTimeout(uint64_t wid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiters_.find(wid);
  if (it == waiters_.end()) return;  // answered or failed meanwhile
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  if (w.prio == Priority::kRemote) --remote_waiters_;
  std::string name = "?";
  if (auto q = queries_.find(w.query); q != queries_.end()) {
    std::erase(q->second.waiters, wid);
    name = q->second.name;
    // A sent query stays: the sidecar still owes it, and its answer fills the cache.
    // A parked one nobody waits for any more is dropped before it costs a lookup.
    if (!q->second.sent && q->second.waiters.empty()) {
      ++stats_.remote_dropped;
      Forget(w.query);
    }
  }
  Complete(w.cb, Status(Code::kTimeout, "no answer for " + QuotedStr(name) + " in time"));
  NoteSlotsFreed();
}

void SidecarImpl::SendQuery(uint64_t qid) {
  Query& q = queries_[qid];
  q.sent = true;
  q.sent_at = SteadyClock::now();
  if (q.prio == Priority::kRemote) ++remote_in_sidecar_;
  ++stats_.sidecar_queries;
  std::vector<uint8_t> frame = proto::EncodeResolve(qid, q.name);
  Send(std::move(frame));  // may replace the sidecar: q may be gone after this
  ArmWatchdog();
}

void SidecarImpl::Promote(uint64_t qid) {
  Query& q = queries_[qid];
  if (q.sent || q.prio == Priority::kLocal) return;
  if (auto it = ByName(Priority::kRemote).find(q.name);
      it != ByName(Priority::kRemote).end() && it->second == qid) {
    ByName(Priority::kRemote).erase(it);
  }
  ByName(Priority::kLocal)[q.name] = qid;
  q.prio = Priority::kLocal;
  --remote_queries_;
  SendQuery(qid);  // its stale entry in remote_parked_ is skipped by Dispatch()
}

void SidecarImpl::Dispatch() {
  while (pid_ > 0 && remote_in_sidecar_ < RemoteWorkers() && !remote_parked_.empty()) {
    uint64_t qid = remote_parked_.front();
    remote_parked_.pop_front();
    auto it = queries_.find(qid);
    if (it == queries_.end() || it->second.sent) continue;  // dropped or promoted
    SendQuery(qid);
  }
}

void SidecarImpl::Forget(uint64_t qid) {
  auto it = queries_.find(qid);
  if (it == queries_.end()) return;
  Query& q = it->second;
  auto& names = ByName(q.prio);
  if (auto n = names.find(q.name); n != names.end() && n->second == qid) names.erase(n);
  if (q.prio == Priority::kRemote) {
    --remote_queries_;
    if (q.sent) --remote_in_sidecar_;
  }
  queries_.erase(it);
  // Dropped and promoted queries leave stale ids in remote_parked_; keep it bounded
  // even while Dispatch() cannot run (every remote slot busy).
  if (remote_parked_.size() > 2 * remote_queries_ + 64) {
    std::erase_if(remote_parked_, [this](uint64_t id) {
      auto found = queries_.find(id);
      return found == queries_.end() || found->second.sent;
    });
  }
}

void SidecarImpl::HandleAnswer(const proto::Frame& f) {
  auto a = proto::DecodeAnswer(f);
  if (!a.ok()) return ReplaceSidecar("sent a bad answer: " + a.status().message());
  auto it = queries_.find(f.id);
  if (it == queries_.end() || !it->second.sent) {
    return ReplaceSidecar("answered request id " + std::to_string(f.id) + ", which is not pending");
  }
  answered_ = true;
  quick_failures_ = 0;
  last_answer_ = SteadyClock::now();
  Query q = it->second;
  Forget(f.id);
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
    if (w->second.prio == Priority::kRemote) --remote_waiters_;
    Complete(w->second.cb, r);
    waiters_.erase(w);
  }
  NoteSlotsFreed();
  Dispatch();
}

void SidecarImpl::FailAll(const Status& why) {
  for (auto& [wid, w] : waiters_) {
    w.timer->cancel();
    Complete(w.cb, why);
  }
  waiters_.clear();
  queries_.clear();
  for (auto& m : by_name_) m.clear();
  remote_parked_.clear();
  remote_waiters_ = remote_queries_ = remote_in_sidecar_ = 0;
  outq_.clear();
  write_wait_ = false;
  NoteSlotsFreed();
}

namespace {

class SidecarResolver final : public Resolver {
 public:
  SidecarResolver(asio::io_context& io, SidecarOptions opts)
      : impl_(std::make_shared<SidecarImpl>(io, std::move(opts))) {
    impl_->Start();
  }
  ~SidecarResolver() override { impl_->Shutdown(); }
  using Resolver::Resolve;
  void Resolve(std::string_view name, std::chrono::milliseconds timeout, Priority priority,
               Callback cb) override {
    impl_->Resolve(name, timeout, priority, std::move(cb));
  }
  Stats stats() const override { return impl_->stats(); }
  void Shutdown() override { impl_->Shutdown(); }
  pid_t pid() const { return impl_->pid(); }

 private:
  std::shared_ptr<SidecarImpl> impl_;
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
