// Asynchronous host name resolution for rpc.statd and sm-notify. Every blocking
// lookup (getaddrinfo) runs in a privilege-separated sidecar process, so a hung or
// slow DNS can never stall the RPC listener (nsm-reference.md section 4). This
// header is the whole public API of the module; the protocol, process model,
// cache and failure handling are described in docs/resolver.md.
//
// Threading: Resolve(), stats() and Shutdown() may be called from any thread. Every
// callback is posted to the io_context given at construction (never run inline
// inside Resolve() or Shutdown()) and runs exactly once, provided that io_context
// keeps running; a Resolver must be destroyed before its io_context. Destroying a
// Resolver performs Shutdown().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// After a standard header: Asio 1.22 picks its allocator by a libstdc++ macro, and
// TUs that disagree mix operator new with free() (see docs/resolver.md).
#include <asio/io_context.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "net/address.h"

namespace nsm::resolver {

using Addresses = std::vector<net::Address>;  // Normalized(), deduplicated, port 0
using Callback = std::function<void(Result<Addresses>)>;

struct Stats {
  uint64_t lookups = 0;           // Resolve() calls, all outcomes included
  uint64_t cache_hits = 0;        // answered from the cache (positive or negative)
  uint64_t timeouts = 0;          // callbacks completed with kTimeout
  uint64_t failures = 0;          // callbacks completed with any other error except kFull
  uint64_t sidecar_restarts = 0;  // sidecars started to replace a dead/hung/misbehaving one
  uint64_t queue_full = 0;        // callbacks completed with kFull
  // Additions (not in the original contract):
  uint64_t sidecar_queries = 0;  // queries sent to a sidecar (one per coalesced group)
  uint64_t coalesced = 0;        // lookups that joined a query already in flight
  uint64_t literals = 0;         // IP literals answered without a query
  uint64_t remote_deferred = 0;  // remote queries that waited in the parent for a worker
  uint64_t remote_dropped = 0;   // of those, dropped unsent: all their callers timed out
};

// Who asked for a lookup. The sidecar's worker threads are shared between the two
// classes, but remote lookups may never occupy all of them (SidecarOptions::
// local_threads are kept for local ones), may fill at most 3/4 of max_pending, and
// wait in the parent while their share of the workers is busy. A local lookup of a
// name whose remote query is still waiting in the parent takes that query over.
enum class Priority {
  kLocal,   // asked by a trusted local caller (rpc.statd: SM_MON from lockd; sm-notify;
            // statdctl). The default.
  kRemote,  // triggered by a remote host (rpc.statd: SM_NOTIFY), which can name anything
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Resolves a host name to all its addresses (getaddrinfo AF_UNSPEC, so /etc/hosts and
  // nsswitch work). An IP literal is answered without a lookup. The callback runs exactly
  // once, on the io_context thread given at construction, never inline inside Resolve().
  // Errors: kTimeout after `timeout`; kNotFound (name does not exist / no addresses);
  // kUnavailable (sidecar down or restarting; shutting down; also a temporary resolver
  // failure such as EAI_AGAIN, which is never cached); kFull (too many pending).
  // kInvalidArgument for a name that cannot be a host name (empty, longer than
  // kMaxNameLength, or containing a NUL byte or control character).
  // Names are compared case-insensitively (ASCII) for caching and coalescing. An empty
  // cb makes the call a no-op. Any lookup a remote host can trigger must pass
  // Priority::kRemote.
  virtual void Resolve(std::string_view name, std::chrono::milliseconds timeout, Priority priority,
                       Callback cb) = 0;
  // The same with Priority::kLocal.
  void Resolve(std::string_view name, std::chrono::milliseconds timeout, Callback cb) {
    Resolve(name, timeout, Priority::kLocal, std::move(cb));
  }
  virtual Stats stats() const = 0;
  // Fails every pending lookup with kUnavailable and stops the sidecar. Idempotent.
  // Later Resolve() calls fail with kUnavailable. Never blocks for long: it waits at
  // most kShutdownReapLimit for the killed sidecar to be reaped, then logs and returns.
  virtual void Shutdown() = 0;
};

// Longest name accepted by Resolve() (SM_MAXSTRLEN of the NSM protocol).
inline constexpr size_t kMaxNameLength = 1024;

// How long Shutdown() waits for a killed sidecar before giving up on it.
inline constexpr std::chrono::milliseconds kShutdownReapLimit{500};

struct SidecarOptions {
  std::string exe = "/proc/self/exe";  // re-executed with the sidecar role argument
  size_t max_pending = 4096;           // pending Resolve() calls, and also queries in the sidecar
  std::chrono::seconds positive_ttl{60}, negative_ttl{10};
  size_t cache_entries = 10000;
  int child_threads = 16;  // lookups in flight inside the sidecar (1..64)
  // Of child_threads, how many remote lookups can never use (0..child_threads-1):
  // at most child_threads - local_threads remote queries are in the sidecar at once.
  int local_threads = 8;
  // Identity of a sidecar started as root. When drop_to_uid is set it wins over
  // drop_to_user (then no name lookup is needed). rpc.statd passes the identity it
  // drops to itself (privsep::DaemonIdentity), so the daemon can still kill its
  // sidecar after dropping root, and a replacement started after the drop (which
  // cannot change uid) has the same identity as the first. uid 0 is refused.
  std::string drop_to_user = "nobody";  // empty (and no drop_to_uid): keep root (tests only)
  std::optional<uid_t> drop_to_uid;
  gid_t drop_to_gid = 0;  // with drop_to_uid
  // Liveness: while the sidecar owes queries, the parent pings it; the sidecar's main
  // loop answers at once, whatever its worker threads are doing (a lookup may take
  // 10-20 s or more with dead nameservers: that is no hang). A ping unanswered for
  // hang_timeout gets the sidecar killed and replaced. Pings go out every
  // hang_timeout / 3 (clamped to 5 ms..1 s).
  std::chrono::milliseconds hang_timeout{3000};
  // Safety valve for lookups that never end (a wedged NSS module): when the sidecar
  // has answered nothing for stall_limit while the oldest query it owes is at least
  // that old, it is replaced. Zero disables it.
  std::chrono::milliseconds stall_limit{600000};
  // Cache expiry clock (tests pass a fake one); nullptr = Clock::Real(). Not owned.
  const Clock* clock = nullptr;
  // TEST ONLY. When non-empty, the sidecar is started with NSM_RESOLVER_TEST_HOSTS=<file>
  // and answers from that table instead of getaddrinfo (format in docs/resolver.md).
  // The variable is removed from the environment handed to the sidecar otherwise.
  std::string test_hosts_file;
};

// Starts the first sidecar at once. Never fails: if the sidecar cannot be started,
// lookups fail with kUnavailable while it is retried with backoff (logged).
// Process rules: the sidecar can change uid only when spawned while the caller is root,
// so create the resolver before dropping root, and give it drop_to_uid/gid = the
// identity the program drops to (replacements spawned later run with the caller's
// uid, still unable to write any file or signal anyone: docs/resolver.md). Call this
// on a thread that lives as long as the resolver (the sidecar's parent-death signal
// follows the spawning thread); replacements are spawned on the io_context. The
// program must not reap children with waitpid(-1); no SIGCHLD handler is installed.
std::unique_ptr<Resolver> MakeSidecarResolver(asio::io_context& io, SidecarOptions opts = {});

// Test accessor: pid of the current sidecar of a resolver made by MakeSidecarResolver,
// or -1 (none running, or another kind of Resolver).
pid_t SidecarPidForTest(const Resolver& r);

// ---- Fake, for unit tests of code that uses a Resolver ----

// What a FakeResolver answers for one name.
struct FakeAnswer {
  Result<Addresses> result = Status(Code::kNotFound, "not in the fake table");
  std::chrono::milliseconds delay{0};  // answer after this delay (kTimeout if >= timeout)
  bool hang = false;                   // never answer: the caller gets kTimeout

  // Convenience: addresses from IP literals (invalid ones are skipped), normalised.
  static FakeAnswer Addrs(std::initializer_list<std::string_view> literals,
                          std::chrono::milliseconds delay = std::chrono::milliseconds{0});
  static FakeAnswer Error(Status s, std::chrono::milliseconds delay = std::chrono::milliseconds{0});
  static FakeAnswer Hang();
};
using FakeTable = std::map<std::string, FakeAnswer, std::less<>>;

// Answers from a table (keys compared case-insensitively). IP literals are answered
// like the real resolver; names not in the table get kNotFound. No cache, no
// coalescing: every Resolve() consults the table. Same threading and callback rules
// as the real resolver; Stats fields lookups/timeouts/failures/literals are kept.
class FakeResolver : public Resolver {
 public:
  virtual void Set(std::string_view name, FakeAnswer answer) = 0;
  virtual void Remove(std::string_view name) = 0;
  // How many Resolve() calls consulted the table for this name (of either priority,
  // or of the given one).
  virtual uint64_t QueriesFor(std::string_view name) const = 0;
  virtual uint64_t QueriesFor(std::string_view name, Priority priority) const = 0;
  // Resolve() calls whose callback has not run yet (hanging or delayed).
  virtual size_t pending() const = 0;
};
std::unique_ptr<FakeResolver> MakeFakeResolver(asio::io_context& io, FakeTable table = {});

// ---- Helpers ----

// Normalized() (::ffff:a.b.c.d folded to v4), port 0, invalid ones dropped,
// duplicates removed keeping the first occurrence's position.
Addresses NormalizeAddresses(std::span<const net::Address> in);

// Must be called first thing in every program's main(): when argv asks for the
// sidecar role (argv[1] == "--nsm-resolver-sidecar", followed by the socket fd and
// options, as MakeSidecarResolver passes them), runs the sidecar and exits the
// process; otherwise returns at once without side effects.
void MaybeRunSidecar(int argc, char** argv);

}  // namespace nsm::resolver
