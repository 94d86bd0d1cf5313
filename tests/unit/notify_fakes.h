// Test doubles for the notifier: a manual clock (Scheduler) and a simulated network
// (Transport) of peers whose rpcbind and statd answer, stay silent, or are missing.
// Header-only, shared by the notify_*_test.cc files.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "notify/scheduler.h"
#include "notify/transport.h"

namespace nsm::notify::test {

using std::chrono::milliseconds;

// Time moves only when the test says so. Runs due timers in time order, and polls an
// optional io_context (for the FakeResolver's posted callbacks) between them.
class ManualScheduler : public Scheduler {
 public:
  explicit ManualScheduler(asio::io_context* io = nullptr) : io_(io) {}

  TimePoint Now() const override { return now_; }
  TimerId At(TimePoint when, std::function<void()> fn) override {
    TimerId id = ++next_;
    timers_.emplace(std::make_pair(std::max(when, now_), id), std::move(fn));
    return id;
  }
  void Cancel(TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }

  // Runs everything due up to now + d, advancing the clock timer by timer.
  void Advance(milliseconds d) { RunUntil(now_ + d); }
  void RunUntil(TimePoint until) {
    for (;;) {
      Poll();
      if (timers_.empty() || timers_.begin()->first.first > until) break;
      auto it = timers_.begin();
      now_ = it->first.first;
      auto fn = std::move(it->second);
      timers_.erase(it);
      fn();
    }
    now_ = std::max(now_, until);
    Poll();
  }
  // Runs until pred() or `limit` passes; returns pred().
  bool RunUntilTrue(const std::function<bool()>& pred, milliseconds limit) {
    const TimePoint end = now_ + limit;
    for (;;) {
      Poll();
      if (pred()) return true;
      if (timers_.empty() || timers_.begin()->first.first > end) break;
      RunUntil(timers_.begin()->first.first);
    }
    return pred();
  }
  milliseconds Elapsed() const {
    return std::chrono::duration_cast<milliseconds>(now_ - TimePoint{});
  }
  size_t pending() const { return timers_.size(); }

 private:
  void Poll() {
    if (io_ == nullptr) return;
    io_->restart();
    io_->poll();
  }
  asio::io_context* io_;
  TimePoint now_{};
  TimerId next_ = 0;
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> timers_;
};

// One simulated host.
struct FakeHost {
  bool up = true;             // false: nothing answers (black hole)
  uint16_t udp_port = 32765;  // 0: NSM not registered for UDP
  uint16_t tcp_port = 32766;  // 0: NSM not registered for TCP
  bool statd_udp = true;      // statd answers SM_NOTIFY over UDP
  bool statd_tcp = true;      // ... over TCP
  milliseconds latency{1};
};

struct NotifyRecord {
  milliseconds at;
  std::string server;  // address with port
  rpc::Transport transport;
  std::string mon_name;
  int32_t state;
  bool answered;
};

// Hosts by address text; unknown addresses behave like hosts that are down.
class FakeNetwork : public Transport {
 public:
  explicit FakeNetwork(ManualScheduler& s) : s_(s) {}
  std::map<std::string, FakeHost> hosts;
  std::vector<NotifyRecord> notifies;
  std::vector<std::pair<milliseconds, std::string>> lookups;  // (time, "addr/udp")
  size_t inflight = 0, peak_inflight = 0;

  void GetPort(const net::Address& host, rpc::Transport t, milliseconds timeout,
               PortCallback cb) override {
    const std::string a = host.ToString();
    lookups.emplace_back(s_.Elapsed(), a + (t == rpc::Transport::kUdp ? "/udp" : "/tcp"));
    Begin();
    auto it = hosts.find(a);
    if (it == hosts.end() || !it->second.up) {
      s_.At(s_.Now() + timeout, [this, cb] {
        End();
        cb(Status(Code::kTimeout, "no reply from rpcbind"));
      });
      return;
    }
    const FakeHost& h = it->second;
    const uint16_t port = t == rpc::Transport::kUdp ? h.udp_port : h.tcp_port;
    s_.At(s_.Now() + h.latency, [this, cb, port] {
      End();
      if (port == 0) return cb(Status(Code::kNotFound, "program not registered"));
      cb(port);
    });
  }

  void Notify(const net::Address& server, rpc::Transport t, const std::string& mon_name,
              int32_t state, milliseconds timeout, milliseconds, NotifyCallback cb) override {
    const std::string a = server.ToString();
    auto it = hosts.find(a);
    bool answers = it != hosts.end() && it->second.up &&
                   (t == rpc::Transport::kUdp ? it->second.statd_udp : it->second.statd_tcp);
    notifies.push_back(
        NotifyRecord{s_.Elapsed(), server.ToStringWithPort(), t, mon_name, state, answers});
    Begin();
    if (!answers) {
      s_.At(s_.Now() + timeout, [this, cb] {
        End();
        cb(Status(Code::kTimeout, "no reply"));
      });
      return;
    }
    s_.At(s_.Now() + it->second.latency, [this, cb] {
      End();
      cb(Status::Ok());
    });
  }

  size_t NotifiesTo(const std::string& addr) const {
    size_t n = 0;
    for (const auto& r : notifies) {
      if (r.server.rfind(addr + ":", 0) == 0 || r.server.rfind("[" + addr + "]:", 0) == 0) ++n;
    }
    return n;
  }

 private:
  void Begin() { peak_inflight = std::max(peak_inflight, ++inflight); }
  void End() { --inflight; }
  ManualScheduler& s_;
};

}  // namespace nsm::notify::test
