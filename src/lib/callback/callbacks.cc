// Lockd callbacks with rpcbind look-up, transport fallback and retries.
#include "callback/callbacks.h"

#include <asio/steady_timer.hpp>

#include "base/log.h"
#include "proto/nsm.h"
#include "rpc/rpcbind.h"

namespace nsm::callback {

struct Callbacks::Job {
  JobKey key;
  store::Monitor monitor;
  int32_t state = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds backoff{};
  std::unique_ptr<asio::steady_timer> timer;
  int attempts = 0;
  bool cancelled = false;
};

Callbacks::Callbacks(asio::io_context& io, rpc::Client& client, Options opts)
    : io_(io), client_(client), opts_(opts) {}

Callbacks::~Callbacks() {
  for (auto& [k, j] : jobs_) {
    j->cancelled = true;
    if (j->timer) j->timer->cancel();
  }
}

void Callbacks::Send(const store::Monitor& m, int32_t state) {
  stats_.requested++;
  JobKey key{m.key.mon_name, m.key.my_name, m.key.my_prog, m.key.my_vers, m.key.my_proc};
  auto it = jobs_.find(key);
  if (it != jobs_.end()) {
    if (it->second->state == state) {
      stats_.merged++;
      return;
    }
    // A newer state supersedes the pending one: lockd only needs the latest.
    it->second->cancelled = true;
    if (it->second->timer) it->second->timer->cancel();
    jobs_.erase(it);
  }
  auto job = std::make_shared<Job>();
  job->key = key;
  job->monitor = m;
  job->state = state;
  job->started = std::chrono::steady_clock::now();
  job->backoff = opts_.first_retry;
  job->timer = std::make_unique<asio::steady_timer>(io_);
  jobs_[key] = job;
  Attempt(job);
}

void Callbacks::Attempt(std::shared_ptr<Job> job) {
  if (job->cancelled) return;
  job->attempts++;
  const auto& k = job->monitor.key;
  if (opts_.fixed_udp_port != 0) return Call(job, rpc::Transport::kUdp, opts_.fixed_udp_port);
  rpc::GetPort(client_, opts_.lockd_host, k.my_prog, k.my_vers, rpc::Transport::kUdp,
               opts_.call_timeout, [this, job](Result<uint16_t> udp) {
                 if (job->cancelled) return;
                 if (udp.ok()) return Call(job, rpc::Transport::kUdp, *udp);
                 if (udp.status().code() != Code::kNotFound) {
                   return Retry(job, "rpcbind: " + udp.status().ToString());
                 }
                 const auto& key = job->monitor.key;
                 rpc::GetPort(client_, opts_.lockd_host, key.my_prog, key.my_vers,
                              rpc::Transport::kTcp, opts_.call_timeout,
                              [this, job](Result<uint16_t> tcp) {
                                if (job->cancelled) return;
                                if (!tcp.ok()) {
                                  return Retry(job, "program not registered with rpcbind");
                                }
                                Call(job, rpc::Transport::kTcp, *tcp);
                              });
               });
}

void Callbacks::Call(std::shared_ptr<Job> job, rpc::Transport t, uint16_t port) {
  const auto& m = job->monitor;
  proto::CallbackStatus arg{m.key.mon_name, job->state, m.priv};
  rpc::CallSpec spec{opts_.lockd_host.WithPort(port),
                     t,
                     m.key.my_prog,
                     m.key.my_vers,
                     m.key.my_proc,
                     proto::EncodeCallbackStatus(arg),
                     opts_.call_timeout,
                     std::chrono::milliseconds(1000)};
  client_.Call(std::move(spec), [this, job, t](Result<std::vector<uint8_t>> r) {
    if (job->cancelled) return;
    if (!r.ok())
      return Retry(job, std::string(rpc::TransportName(t)) + " call: " + r.status().ToString());
    stats_.sent++;
    const auto& k = job->monitor.key;
    log::Info("called back ", k.my_prog, "/", k.my_vers, "/", k.my_proc, " for ",
              log::Quoted{k.mon_name}, " state ", job->state, " over ", rpc::TransportName(t));
    auto it = jobs_.find(job->key);
    if (it != jobs_.end() && it->second == job) jobs_.erase(it);
  });
}

void Callbacks::Retry(std::shared_ptr<Job> job, const std::string& why) {
  const auto& k = job->monitor.key;
  auto elapsed = std::chrono::steady_clock::now() - job->started;
  if (elapsed >= opts_.give_up_after) {
    stats_.failed++;
    log::Error("giving up calling back ", k.my_prog, "/", k.my_vers, "/", k.my_proc, " for ",
               log::Quoted{k.mon_name}, " after ", job->attempts, " attempts: ", why);
    auto it = jobs_.find(job->key);
    if (it != jobs_.end() && it->second == job) jobs_.erase(it);
    return;
  }
  stats_.retried++;
  log::Warning("callback for ", log::Quoted{k.mon_name}, " to ", k.my_prog, "/", k.my_vers,
               " failed (", why, "); retrying in ", job->backoff.count(), " ms");
  job->timer->expires_after(job->backoff);
  job->backoff = std::min(job->backoff * 2, opts_.max_retry);
  job->timer->async_wait([this, job](std::error_code ec) {
    if (!ec) Attempt(job);
  });
}

}  // namespace nsm::callback
