// The notifier: tells every target (a peer that monitored this host) that this host's
// state changed, and reports each one as done (it answered) or failed (no answer
// within the retry limit). No I/O of its own: the network is a Transport, time is a
// Scheduler, names go through a resolver::Resolver.
//
// Per target: the stored addresses plus whatever the peer's name resolves to now
// (looked up in parallel; addresses learnt later join at once). Every address runs
// its own attempts, all in parallel: an rpcbind look-up of NSM for UDP, then
// SM_NOTIFY{notify_name, state} over UDP; over TCP when the peer registered only TCP,
// or (from the next attempt on) when UDP got no answer. The first answer from any
// address completes the target. A failed attempt is retried after an exponentially
// growing, jittered interval (BackoffPolicy); the whole run gives up at the retry
// limit (0 = never). Optionally, after a target answered, one best-effort SM_NOTIFY
// carries the short (first-label) form of the name, as nfs-utils does.
//
// Pacing, so that 10,000 peers lose no packets locally: at most max_inflight attempts
// at once (first attempts before retries, so dead peers never hold live ones back), at
// most max_tcp TCP calls, at most max_resolving look-ups in the resolver. An attempt
// stops counting when it ends, after inflight_hold, or as soon as an attempt started
// more than the reorder window after it has had an answer (a silent peer is then presumed
// down, as TCP's RACK presumes a packet lost; its retries go on): black holes cost
// about one round trip of a place each, not inflight_hold.
//
// Threading: one thread (the Scheduler's and Transport's io_context). Callbacks given
// to Start() run on it. The Notifier must outlive its pending callbacks or be
// destroyed first (late callbacks are then ignored).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "notify/backoff.h"
#include "notify/scheduler.h"
#include "notify/transport.h"
#include "resolver/resolver.h"

namespace nsm::notify {

// One notification to make. Several list entries may share one target (same peer,
// same name sent): `sources` are their indices in the caller's list.
struct Target {
  std::string peer;                    // the peer's name, resolved now (may be an IP literal)
  std::string notify_name;             // mon_name of our SM_NOTIFY
  std::vector<std::string> addresses;  // addresses stored for the peer (IP literals)
  std::vector<size_t> sources;
};

// Targets that arrive after Start(): a list still being read while the first of it is
// notified. The runner hands them to Notifier::Add on its thread.
class TargetSource {
 public:
  // Any thread; `last` is true on the final call (which may carry no target).
  using Feed = std::function<void(std::vector<Target> batch, bool last)>;
  virtual ~TargetSource() = default;
  // Starts producing on a thread of the source's own.
  virtual void Start(Feed feed) = 0;
  // Stops producing and waits: `feed` is not called once this returns. Idempotent.
  virtual void Stop() = 0;
};

struct Failure {
  int attempts = 0;   // attempts made, all addresses together
  std::string error;  // the last error, prefixed by the address it came from
};

struct NotifierOptions {
  int32_t state = 0;                                      // our (odd) state number
  std::chrono::milliseconds retry_limit{15 * 60 * 1000};  // -m; 0 = retry forever
  BackoffPolicy backoff;
  uint64_t seed = 0;  // jitter seed; 0 = random
  // 512 replies (~768 bytes of buffer each) fit even where net.core.rmem_max caps the
  // UDP receive buffer at its 416 kB default.
  size_t max_inflight = 512;
  // A silent peer holds its place at most this long, also when nothing else answers
  // (its retries go on): 1 s let 512 black holes stall a list for a second.
  std::chrono::milliseconds inflight_hold{100};
  // Upper bound of the reorder window (a quarter of the shortest round trip seen);
  // 0: silent attempts keep their place for inflight_hold.
  std::chrono::milliseconds reorder_window{5};
  size_t max_tcp = 128;
  size_t max_resolving = 256;
  std::chrono::milliseconds resolve_timeout{10000};
  bool short_name = true;
  std::chrono::milliseconds short_name_timeout{5000};
};

struct NotifierStats {
  size_t targets = 0;
  size_t done = 0;
  size_t failed = 0;
  size_t abandoned = 0;  // still pending when Stop() was called
  uint64_t attempts = 0;
  uint64_t lookups = 0;  // rpcbind look-ups
  uint64_t udp_notifies = 0;
  uint64_t tcp_notifies = 0;
  uint64_t short_notifies = 0;
  uint64_t resolves = 0;
  size_t peak_inflight = 0;
  uint64_t presumed_silent = 0;  // places given up early: a later attempt had an answer
  size_t peak_tcp = 0;
};

class Notifier {
 public:
  using DoneFn = std::function<void(const Target&)>;
  using FailFn = std::function<void(const Target&, const Failure&)>;

  // resolver may be null: names are then not looked up (stored addresses only).
  Notifier(Scheduler& scheduler, Transport& transport, resolver::Resolver* resolver,
           NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Starts notifying. Call once. on_done / on_failed run once per target (on_failed
  // may run inside Start() for a target with no address and no resolver). `finished`
  // runs (on the scheduler, not inline) when every target is done or failed and the
  // short-name notifications have ended.
  void Start(std::vector<Target> targets, DoneFn on_done, FailFn on_failed,
             std::function<void()> finished);
  // Called before Start(): more targets will come through Add(), and the run does not
  // finish before NoMore().
  void ExpectMore();
  // Adds targets to a started run, notified like the first ones (in order, after the
  // first attempts already queued). Targets added after the retry limit fail at once;
  // after Stop() they are ignored.
  void Add(std::vector<Target> targets);
  // No more Add(): the run may finish.
  void NoMore();
  // Abandons every unfinished target (reported neither done nor failed); `finished`
  // does not run. Idempotent.
  void Stop();
  bool finished() const;
  NotifierStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nsm::notify
