// The SM program (100024 v1): procedure logic and caller policy. Decodes arguments,
// applies nfs-utils' edge checks (local callers only for SM_MON/UNMON/UNMON_ALL/
// SIMU_CRASH, lockd-only callbacks, name validation), records monitors through the
// store's group commit and answers only once the change is durable, and turns an
// incoming SM_NOTIFY into lockd callbacks. No blocking I/O on the calling thread
// except short SQLite reads; name look-ups go through the resolver.
//
// Threading: io_context thread; store completions hop back through the Responder.
// Store completions run on the store's committer thread: they touch the Service only
// before answering (a caller may destroy it once every call is answered), and post
// the HA hooks to the io_context.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>

#include <asio/io_context.hpp>

#include "callback/callbacks.h"
#include "resolver/resolver.h"
#include "rpc/server.h"
#include "store/store.h"

namespace nsm::monitor {

// Events for the HA callout (-H): see docs/ha.md.
struct Hooks {
  std::function<void(const std::string& mon_name, const std::string& my_name)> add_client;
  std::function<void(const std::string& mon_name, const std::string& my_name)> del_client;
  std::function<void(const std::string& mon_name, const std::string& caller_ip, int32_t state)>
      notified;
  // SM_SIMU_CRASH after the state was bumped durably: start notifying peers.
  std::function<void(uint32_t new_state)> rebooted;
};

// What to do with an SM_NOTIFY whose source address is none of the matched record's
// stored addresses nor of the addresses its name has now (docs/design.md).
enum class SourceCheck { kOff, kLog, kRefuse };

struct Options {
  SourceCheck source_check = SourceCheck::kLog;
  // SM_NOTIFY admission (anyone may send them): a token bucket for all sources and one
  // per source address. Datagrams over budget are dropped unanswered (senders retry),
  // so a flood costs a counter increment, not a store look-up.
  double notify_rate = 1000;           // per second, all sources
  double notify_rate_per_source = 20;  // per second, one source address
  std::chrono::milliseconds mon_resolve_timeout{5000};
  std::chrono::milliseconds notify_resolve_timeout{30000};
};

struct Stats {
  std::atomic<uint64_t> calls[7] = {};
  std::atomic<uint64_t> refused{0};  // policy refusals (non-local, bad name, bad callback)
  std::atomic<uint64_t> store_failures{0};
  std::atomic<uint64_t> notify_matched{0};
  std::atomic<uint64_t> notify_unmatched{0};
  std::atomic<uint64_t> notify_foreign_source{0};
  std::atomic<uint64_t> notify_over_budget{
      0};  // dropped unanswered by admission control  // source check failed (logged or refused)
};

class Service {
 public:
  Service(asio::io_context& io, store::Store& store, resolver::Resolver& resolver,
          callback::Callbacks& callbacks, uint32_t state, Options opts = {}, Hooks hooks = {});

  void Register(rpc::Server& server);
  void Handle(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);

  uint32_t state() const { return state_.load(); }
  const Stats& stats() const { return stats_; }

 private:
  void Stat(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);
  void Mon(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);
  void Unmon(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);
  void UnmonAll(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);
  void SimuCrash(const rpc::CallContext& ctx, rpc::Responder r);
  void Notify(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r);
  bool LocalCaller(const rpc::CallContext& ctx, const char* proc);
  bool AdmitNotify(const net::Address& from);
  void CallBackMatches(const std::vector<store::Monitor>& found, int32_t state,
                       std::shared_ptr<std::set<std::string>> done);

  asio::io_context& io_;
  store::Store& store_;
  resolver::Resolver& resolver_;
  callback::Callbacks& callbacks_;
  std::atomic<uint32_t> state_;
  Options opts_;
  Hooks hooks_;
  Stats stats_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  Bucket global_bucket_;
  std::map<std::string, Bucket> source_buckets_;
};

}  // namespace nsm::monitor
