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
  // cb makes the call a no-op.
  virtual void Resolve(std::string_view name, std::chrono::milliseconds timeout, Callback cb) = 0;
  virtual Stats stats() const = 0;
  // Fails every pending lookup with kUnavailable and stops the sidecar. Idempotent.
  // Later Resolve() calls fail with kUnavailable.
  virtual void Shutdown() = 0;
};

// Longest name accepted by Resolve() (SM_MAXSTRLEN of the NSM protocol).
inline constexpr size_t kMaxNameLength = 1024;

struct SidecarOptions {
  std::string exe = "/proc/self/exe";  // re-executed with the sidecar role argument
  size_t max_pending = 4096;           // pending Resolve() calls, and also queries in the sidecar
  std::chrono::seconds positive_ttl{60}, negative_ttl{10};
  size_t cache_entries = 10000;
  int child_threads = 8;                // lookups in flight inside the sidecar (1..64)
  std::string drop_to_user = "nobody";  // when started as root; empty: keep root (tests only)
  // Additions:
  // A sidecar is declared hung, killed and replaced when a query has been outstanding
  // for its timeout plus this margin and the sidecar sent nothing since that timeout.
  std::chrono::milliseconds hang_margin{5000};
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
// so create the resolver before dropping root (replacements spawned later run with
// the caller's uid, still unable to write any file: docs/resolver.md). The program
// must not reap children with waitpid(-1); no SIGCHLD handler is installed.
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
  // How many Resolve() calls consulted the table for this name.
  virtual uint64_t QueriesFor(std::string_view name) const = 0;
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
