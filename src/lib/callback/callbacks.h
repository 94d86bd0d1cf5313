// Callbacks to the local lock manager: when a monitored peer reports a reboot, every
// matching monitor record is called back at its my_prog/my_vers/my_proc on this host
// with {mon_name as given in SM_MON, the peer's new state, the stored priv}.
//
// The program is found through the local rpcbind (UDP first, then TCP, as lockd
// registered) and called from the client's source port (reserved, as the kernel
// requires). A callback that fails (lockd away, not registered, no answer) is retried
// with exponential backoff until `give_up_after`; it never blocks the caller.
// Duplicate requests for a record and state already in flight are merged.
//
// Threading: io_context thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <asio/io_context.hpp>

#include "net/address.h"
#include "rpc/client.h"
#include "store/store.h"

namespace nsm::callback {

struct Options {
  net::Address lockd_host = net::Address::Loopback4();
  // Non-zero: call this UDP port directly instead of asking rpcbind (unit tests).
  uint16_t fixed_udp_port = 0;
  std::chrono::milliseconds call_timeout{5000};
  std::chrono::milliseconds first_retry{1000};
  std::chrono::milliseconds max_retry{60000};
  std::chrono::milliseconds give_up_after{std::chrono::hours(1)};
};

struct Stats {
  uint64_t requested = 0;
  uint64_t merged = 0;  // duplicates of a callback already in flight
  uint64_t sent = 0;    // answered by lockd
  uint64_t retried = 0;
  uint64_t failed = 0;  // given up
};

class Callbacks {
 public:
  Callbacks(asio::io_context& io, rpc::Client& client, Options opts = {});
  ~Callbacks();

  // Schedules the callback for `m` with the peer's new `state`.
  void Send(const store::Monitor& m, int32_t state);
  const Stats& stats() const { return stats_; }
  size_t in_flight() const { return jobs_.size(); }

 private:
  struct Job;
  using JobKey = std::tuple<std::string, std::string, uint32_t, uint32_t, uint32_t>;
  void Attempt(std::shared_ptr<Job> job);
  void Retry(std::shared_ptr<Job> job, const std::string& why);
  void Call(std::shared_ptr<Job> job, rpc::Transport t, uint16_t port);

  asio::io_context& io_;
  rpc::Client& client_;
  Options opts_;
  Stats stats_;
  std::map<JobKey, std::shared_ptr<Job>> jobs_;
};

}  // namespace nsm::callback
