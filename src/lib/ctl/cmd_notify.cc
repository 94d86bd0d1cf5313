// statdctl notify: one immediate SM_NOTIFY round to one peer of the notify list or to
// all of them, from this process (no daemon needed). For each peer: its stored
// addresses (or its name, if an IP literal, or the name resolved through the resolver
// sidecar), in order, until one answers: rpcbind GETPORT for 100024/1/udp, then
// SM_NOTIFY {mon_name = the entry's my_name (or --name), state = the current state
// number}. A peer that answered leaves the list; one that did not gets an attempt
// recorded (attempts + 1, last error) and stays, for sm-notify's next retry.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <ostream>

#include <asio/io_context.hpp>

#include "ctl/commands.h"
#include "ctl/format.h"
#include "net/address.h"
#include "proto/nsm.h"
#include "resolver/resolver.h"
#include "rpc/client.h"
#include "rpc/rpcbind.h"

namespace nsm::ctl::internal {
namespace {

using control::Json;

constexpr size_t kParallel = 32;

struct Target {
  store::NotifyEntry entry;
  std::vector<net::Address> addrs;
  size_t next = 0;
  bool done = false;
  bool ok = false;
  std::string answered_by;
  std::string error;
};

class Round {
 public:
  Round(asio::io_context& io, rpc::Client& client, std::vector<Target>& targets,
        std::chrono::milliseconds timeout, std::optional<std::string> name, uint32_t state)
      : io_(io),
        client_(client),
        targets_(targets),
        timeout_(timeout),
        name_(std::move(name)),
        state_(state) {}

  void Run() {
    for (size_t i = 0; i < kParallel && next_ < targets_.size(); ++i) StartNext();
    io_.run();
    if (resolver_) resolver_->Shutdown();
  }

 private:
  void StartNext() {
    if (next_ >= targets_.size()) return;
    Target& t = targets_[next_++];
    for (const auto& a : t.entry.addresses) {
      if (auto addr = net::Address::Parse(a)) t.addrs.push_back(addr->Normalized());
    }
    if (t.addrs.empty()) {
      if (auto addr = net::Address::Parse(t.entry.mon_name)) {
        t.addrs.push_back(addr->Normalized());
      } else {
        if (!resolver_) resolver_ = resolver::MakeSidecarResolver(io_);
        resolver_->Resolve(t.entry.mon_name, timeout_, [this, &t](Result<resolver::Addresses> r) {
          if (!r.ok()) {
            Finish(t, false, "cannot resolve: " + r.status().message());
            return;
          }
          t.addrs = *r;
          Try(t);
        });
        return;
      }
    }
    Try(t);
  }

  void Try(Target& t) {
    if (t.next >= t.addrs.size()) {
      Finish(t, false, t.error.empty() ? "no address" : t.error);
      return;
    }
    const net::Address host = t.addrs[t.next++];
    rpc::GetPort(client_, host, proto::kSmProg, proto::kSmVers, rpc::Transport::kUdp, timeout_,
                 [this, &t, host](Result<uint16_t> port) {
                   if (!port.ok()) {
                     t.error = host.ToString() + ": rpcbind: " + port.status().message();
                     Try(t);
                     return;
                   }
                   Send(t, host.WithPort(*port));
                 });
  }

  void Send(Target& t, const net::Address& to) {
    rpc::CallSpec spec;
    spec.server = to;
    spec.transport = rpc::Transport::kUdp;
    spec.prog = proto::kSmProg;
    spec.vers = proto::kSmVers;
    spec.proc = proto::kSmNotify;
    spec.args =
        proto::EncodeStatChge({name_.value_or(t.entry.my_name), static_cast<int32_t>(state_)});
    spec.timeout = timeout_;
    client_.Call(std::move(spec), [this, &t, to](Result<std::vector<uint8_t>> r) {
      if (r.ok()) {
        t.answered_by = to.ToString();
        Finish(t, true, "");
        return;
      }
      t.error = to.ToStringWithPort() + ": SM_NOTIFY: " + r.status().message();
      Try(t);
    });
  }

  void Finish(Target& t, bool ok, std::string error) {
    if (t.done) return;
    t.done = true;
    t.ok = ok;
    t.error = std::move(error);
    if (++finished_ == targets_.size()) {
      client_.Close();
      if (resolver_) resolver_->Shutdown();
      return;
    }
    StartNext();
  }

  asio::io_context& io_;
  rpc::Client& client_;
  std::vector<Target>& targets_;
  std::chrono::milliseconds timeout_;
  std::optional<std::string> name_;
  uint32_t state_;
  size_t next_ = 0;
  size_t finished_ = 0;
  std::unique_ptr<resolver::Resolver> resolver_;
};

}  // namespace

int CmdNotify(Context& c) {
  const bool all = c.Flag("all");
  if (all == !c.positional.empty()) return Fail(c, kExitUsage, "notify: give either PEER or --all");
  int64_t timeout_s = 5;
  if (std::optional<std::string> t = c.Value("timeout")) {
    std::optional<uint32_t> v = ParseU32(*t);
    if (!v || *v < 1 || *v > 600) return Fail(c, kExitUsage, "--timeout must be 1..600 seconds");
    timeout_s = *v;
  }
  const std::optional<std::string> name = c.Value("name");
  if (name && !store::ValidName(*name)) return Fail(c, kExitUsage, "invalid --name");

  auto st = OpenStore(c, Access::kWrite);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  store::Store& s = **st;
  Result<uint32_t> state = s.GetState();
  if (!state.ok()) return Fail(c, kExitError, state.status().ToString());
  auto list = s.ListNotify();
  if (!list.ok()) return Fail(c, kExitError, list.status().ToString());
  std::vector<Target> targets;
  const std::string key = all ? "" : store::NameKey(c.positional[0]);
  for (auto& e : *list) {
    if (all || store::NameKey(e.mon_name) == key) {
      Target t;
      t.entry = std::move(e);
      targets.push_back(std::move(t));
    }
  }
  if (targets.empty()) {
    if (all) {
      if (c.json) *c.out << control::DumpJson(Json{{"notified", Json::array()}}) << "\n";
      if (!c.json) *c.out << "the notify list is empty\n";
      return kExitOk;
    }
    return Fail(c, kExitNotFound, c.positional[0] + " is not on the notify list");
  }

  asio::io_context io;
  rpc::ClientOptions co;
  co.reserved_port = geteuid() == 0;  // as sm-notify; peers do not require it
  rpc::Client client(io, co);
  if (Status o = client.Open(); !o.ok()) return Fail(c, kExitError, o.ToString());
  Round(io, client, targets, std::chrono::seconds(timeout_s), name, *state).Run();

  size_t failed = 0;
  Json results = Json::array();
  Table t({"MON_NAME", "MY_NAME", "RESULT"});
  for (const auto& tg : targets) {
    Status rec =
        tg.ok ? s.NotifyDone(tg.entry.mon_name, tg.entry.my_name)
              : s.NotifyAttempt(tg.entry.mon_name, tg.entry.my_name, tg.error, tg.entry.status);
    if (!rec.ok()) *c.err << "statdctl: recording the result: " << rec.ToString() << "\n";
    if (!tg.ok) ++failed;
    results.push_back({{"mon_name", tg.entry.mon_name},
                       {"my_name", tg.entry.my_name},
                       {"ok", tg.ok},
                       {"address", tg.answered_by},
                       {"error", tg.error}});
    t.Add({tg.entry.mon_name, tg.entry.my_name,
           tg.ok ? "notified (" + tg.answered_by + ")" : "failed: " + Printable(tg.error)});
  }
  if (c.json) {
    *c.out << control::DumpJson(Json{{"state", *state}, {"notified", results}}, 2) << "\n";
  } else {
    *c.out << t.Render();
  }
  if (failed > 0) {
    return Fail(c, kExitPartial,
                std::to_string(failed) + " of " + std::to_string(targets.size()) +
                    " peer(s) did not answer; they stay on the notify list");
  }
  return kExitOk;
}

}  // namespace nsm::ctl::internal
