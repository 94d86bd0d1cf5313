// The parent side of the sidecar resolver, shared by its two source files:
// sidecar_resolver.cc (lookups: cache, coalescing, priority classes, per-lookup
// timers, answers) and sidecar_supervisor.cc (the sidecar's life: spawn, liveness
// pings, kill, bounded reaping, restart with backoff, and the socket). Internal to the
// module; the contract is resolver.h and docs/resolver.md.
//
// Threading: one mutex (mu_) guards every member. Public calls take it; every Asio
// handler holds only a weak_ptr, takes the lock and checks the sidecar generation it
// was armed for. Methods below "Lookups" and "Supervision" expect the lock held.
// Callbacks are posted to the io_context, never called under the lock.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "resolver/cache.h"
#include "resolver/protocol.h"
#include "resolver/resolver.h"

namespace nsm::resolver {

class SidecarImpl : public std::enable_shared_from_this<SidecarImpl> {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using milliseconds = std::chrono::milliseconds;

  SidecarImpl(asio::io_context& io, SidecarOptions opts);

  void Start();  // spawns the first sidecar (on the calling thread)
  void Resolve(std::string_view name, milliseconds timeout, Priority prio, Callback cb);
  Stats stats() const;
  pid_t pid() const;
  void Shutdown();

 private:
  struct Query {
    std::string name;  // lower case
    Priority prio = Priority::kLocal;
    std::vector<uint64_t> waiters;  // waiter ids still waiting for this answer
    bool sent = false;              // false: a remote query parked in remote_parked_
    SteadyClock::time_point sent_at;
  };
  struct Waiter {
    Callback cb;
    std::unique_ptr<asio::steady_timer> timer;
    uint64_t query;
    Priority prio;
  };
  struct Zombie {
    pid_t pid;
    SteadyClock::time_point killed_at;
    bool warned = false;
  };

  // ---- Lookups (sidecar_resolver.cc) ----
  void Complete(Callback& cb, Result<Addresses> r);  // counts the outcome, posts cb
  void Refuse(Callback& cb, Priority prio);
  void NoteSlotsFreed();
  void AddWaiter(uint64_t qid, Callback cb, milliseconds timeout, Priority prio);
  void OnWaiterTimeout(uint64_t wid);
  void SendQuery(uint64_t qid);  // may replace the sidecar (failing everything)
  void Promote(uint64_t qid);    // a local lookup takes over a parked remote query
  void Dispatch();               // sends parked remote queries while remote slots are free
  void Forget(uint64_t qid);     // removes a query from queries_, by_name_ and the counts
  void HandleAnswer(const proto::Frame& f);
  void FailAll(const Status& why);  // fails every waiter, forgets every query
  size_t RemoteCap() const;         // remote waiters / remote queries allowed
  size_t RemoteWorkers() const;     // remote queries allowed in the sidecar at once
  std::unordered_map<std::string, uint64_t>& ByName(Priority p) {
    return by_name_[p == Priority::kLocal ? 0 : 1];
  }

  // ---- Supervision (sidecar_supervisor.cc) ----
  void Spawn();
  void ScheduleRestart();
  void ReplaceSidecar(const std::string& reason);
  void KillCurrent();  // SIGKILL; a failure (EPERM) is logged
  void Reap();
  milliseconds WatchdogTick() const;
  void ArmWatchdog();
  void CheckLiveness();
  void StartRead();
  bool ReadFrames();  // false when the sidecar was replaced while reading
  void HandleFrame(const proto::Frame& f);
  void Send(std::vector<uint8_t> frame);
  void Flush();

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
  SteadyClock::time_point spawned_at_, last_answer_;
  bool hello_ = false, answered_ = false, started_once_ = false, spawned_as_root_ = false;
  bool restart_posted_ = false;
  int quick_failures_ = 0;  // consecutive sidecars that died young without answering
  uint64_t ping_id_ = 0;    // the ping awaiting its pong (0: none)
  SteadyClock::time_point ping_sent_at_;
  std::deque<std::vector<uint8_t>> outq_;
  bool write_wait_ = false;
  asio::steady_timer restart_timer_, watchdog_, reap_timer_;
  bool watchdog_armed_ = false, reap_armed_ = false;
  std::vector<Zombie> zombies_;
  std::vector<uint8_t> rxbuf_;

  // Lookups.
  uint64_t next_id_ = 1, next_waiter_ = 1;                // request and ping ids share next_id_
  std::map<uint64_t, Query> queries_;                     // id -> query, sent or parked
  std::unordered_map<std::string, uint64_t> by_name_[2];  // [local, remote]: name -> query
  std::unordered_map<uint64_t, Waiter> waiters_;          // Resolve() calls not yet completed
  std::deque<uint64_t> remote_parked_;  // remote queries waiting for a slot (stale ids skipped)
  size_t remote_waiters_ = 0;           // waiters_ of Priority::kRemote
  size_t remote_queries_ = 0;           // queries_ of Priority::kRemote, sent or parked
  size_t remote_in_sidecar_ = 0;        // of those, sent and not answered
  bool full_logged_ = false;
  uint64_t refused_while_full_ = 0;
};

}  // namespace nsm::resolver
