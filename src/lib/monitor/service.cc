// SM procedures.
#include "monitor/service.h"

#include <algorithm>

#include <asio/post.hpp>

#include "base/log.h"
#include "net/address.h"
#include "proto/nsm.h"

namespace nsm::monitor {
namespace {

constexpr uint32_t kNlmNsmNotify = 16;     // NLMPROC_NSM_NOTIFY
constexpr uint32_t kNlmNsmNotifyAlt = 24;  // accepted by nfs-utils as well

std::string KeyString(const store::MonitorKey& k) {
  return k.mon_name + '\0' + k.my_name + '\0' + std::to_string(k.my_prog) + '/' +
         std::to_string(k.my_vers) + '/' + std::to_string(k.my_proc);
}

std::string PeerText(const rpc::CallContext& ctx) {
  return ctx.peer.Normalized().ToString() + " (" + rpc::TransportName(ctx.transport) + ")";
}

}  // namespace

Service::Service(asio::io_context& io, store::Store& store, resolver::Resolver& resolver,
                 callback::Callbacks& callbacks, uint32_t state, Options opts, Hooks hooks)
    : io_(io),
      store_(store),
      resolver_(resolver),
      callbacks_(callbacks),
      state_(state),
      opts_(opts),
      hooks_(std::move(hooks)) {}

void Service::Register(rpc::Server& server) {
  server.AddProgram(proto::kSmProg, proto::kSmVers, proto::kSmVers,
                    [this](const rpc::CallContext& ctx, std::span<const uint8_t> args,
                           rpc::Responder r) { Handle(ctx, args, std::move(r)); });
}

void Service::Handle(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r) {
  uint32_t proc = ctx.header.proc;
  if (proc <= proto::kSmNotify) stats_.calls[proc]++;
  switch (proc) {
    case proto::kSmNull:
      return r.Success();
    case proto::kSmStat:
      return Stat(ctx, args, std::move(r));
    case proto::kSmMon:
      return Mon(ctx, args, std::move(r));
    case proto::kSmUnmon:
      return Unmon(ctx, args, std::move(r));
    case proto::kSmUnmonAll:
      return UnmonAll(ctx, args, std::move(r));
    case proto::kSmSimuCrash:
      return SimuCrash(ctx, std::move(r));
    case proto::kSmNotify:
      return Notify(ctx, args, std::move(r));
    default:
      return r.Error(rpc::AcceptStat::kProcUnavail);
  }
}

bool Service::LocalCaller(const rpc::CallContext& ctx, const char* proc) {
  if (ctx.peer.IsLoopback()) return true;
  stats_.refused++;
  log::Warning(proc, " refused: call from non-local address ", PeerText(ctx));
  return false;
}

void Service::Stat(const rpc::CallContext&, std::span<const uint8_t> args, rpc::Responder r) {
  auto name = proto::DecodeSmName(args);
  if (!name.ok()) return r.Error(rpc::AcceptStat::kGarbageArgs);
  auto res = store::ValidName(*name) ? proto::kStatSucc : proto::kStatFail;
  r.Success(proto::EncodeSmStatRes(res, static_cast<int32_t>(state())));
}

void Service::Mon(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r) {
  auto mon = proto::DecodeMon(args);
  if (!mon.ok()) return r.Error(rpc::AcceptStat::kGarbageArgs);
  auto fail = [this](rpc::Responder& resp) {
    resp.Success(proto::EncodeSmStatRes(proto::kStatFail, static_cast<int32_t>(state())));
  };
  if (!LocalCaller(ctx, "SM_MON")) return fail(r);
  const auto& id = mon->mon_id;
  if (!store::ValidName(id.mon_name) || !store::ValidName(id.my_id.my_name)) {
    stats_.refused++;
    log::Warning("SM_MON refused: invalid mon_name ", log::Quoted{id.mon_name}, " or my_name ",
                 log::Quoted{id.my_id.my_name});
    return fail(r);
  }
  if (id.my_id.my_prog != proto::kNlmProg ||
      (id.my_id.my_proc != kNlmNsmNotify && id.my_id.my_proc != kNlmNsmNotifyAlt)) {
    stats_.refused++;
    log::Warning("SM_MON refused: callback ", id.my_id.my_prog, "/", id.my_id.my_vers, "/",
                 id.my_id.my_proc, " for ", log::Quoted{id.mon_name}, " is not the lock manager's");
    return fail(r);
  }

  auto m = std::make_shared<store::Monitor>();
  m->key = {id.mon_name, id.my_id.my_name, id.my_id.my_prog, id.my_id.my_vers, id.my_id.my_proc};
  m->priv = mon->priv;
  m->caller = ctx.peer.Normalized().ToString();
  m->added = Clock::Real().UnixSeconds();
  auto resp = std::make_shared<rpc::Responder>(std::move(r));

  auto commit = [this, m, resp] {
    // On the committer thread: `this` only before the answer (see the header).
    store_.AddMonitor(*m, [this, m, resp](Status st) {
      const auto state = static_cast<int32_t>(this->state());
      if (!st.ok()) {
        stats_.store_failures++;
        log::Error("SM_MON ", log::Quoted{m->key.mon_name}, " for ", log::Quoted{m->key.my_name},
                   " not recorded: ", st.ToString());
        resp->Success(proto::EncodeSmStatRes(proto::kStatFail, state));
        return;
      }
      asio::io_context& io = io_;
      const bool hook = static_cast<bool>(hooks_.add_client);
      resp->Success(proto::EncodeSmStatRes(proto::kStatSucc, state));
      log::Debug("monitoring ", log::Quoted{m->key.mon_name}, " for ", log::Quoted{m->key.my_name});
      if (hook) {
        asio::post(io, [this, m] { hooks_.add_client(m->key.mon_name, m->key.my_name); });
      }
    });
  };

  if (auto ip = net::CanonicalIp(id.mon_name)) {
    m->addresses.push_back(*ip);
    return commit();
  }
  // A host name: record the addresses it has now, so a notification from any of them
  // can be matched later. A name that does not resolve is still monitored (lock
  // recovery must not depend on DNS being up); the look-up is repeated at notify time.
  resolver_.Resolve(id.mon_name, opts_.mon_resolve_timeout, resolver::Priority::kLocal,
                    [m, commit](Result<resolver::Addresses> addrs) {
                      if (addrs.ok()) {
                        for (const auto& a : *addrs) m->addresses.push_back(a.ToString());
                      } else {
                        log::Warning("SM_MON ", log::Quoted{m->key.mon_name},
                                     ": no addresses recorded (", addrs.status().ToString(), ")");
                      }
                      commit();
                    });
}

void Service::Unmon(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r) {
  auto id = proto::DecodeMonId(args);
  if (!id.ok()) return r.Error(rpc::AcceptStat::kGarbageArgs);
  if (!LocalCaller(ctx, "SM_UNMON")) {
    return r.Success(proto::EncodeSmStat(static_cast<int32_t>(state())));
  }
  store::MonitorKey key{id->mon_name, id->my_id.my_name, id->my_id.my_prog, id->my_id.my_vers,
                        id->my_id.my_proc};
  auto resp = std::make_shared<rpc::Responder>(std::move(r));
  // On the committer thread: `this` only before the answer (see the header).
  store_.RemoveMonitor(key, [this, key, resp](Status st, bool removed) {
    if (!st.ok()) {
      stats_.store_failures++;
      log::Error("SM_UNMON ", log::Quoted{key.mon_name}, ": ", st.ToString());
    } else if (!removed) {
      log::Debug("SM_UNMON ", log::Quoted{key.mon_name}, ": not monitored");
    }
    asio::io_context& io = io_;
    const bool hook = st.ok() && removed && hooks_.del_client;
    resp->Success(proto::EncodeSmStat(static_cast<int32_t>(state())));
    if (hook) asio::post(io, [this, key] { hooks_.del_client(key.mon_name, key.my_name); });
  });
}

void Service::UnmonAll(const rpc::CallContext& ctx, std::span<const uint8_t> args,
                       rpc::Responder r) {
  auto id = proto::DecodeMyId(args);
  if (!id.ok()) return r.Error(rpc::AcceptStat::kGarbageArgs);
  if (!LocalCaller(ctx, "SM_UNMON_ALL")) {
    return r.Success(proto::EncodeSmStat(static_cast<int32_t>(state())));
  }
  auto resp = std::make_shared<rpc::Responder>(std::move(r));
  // On the committer thread: `this` only before the answer (see the header).
  store_.RemoveAllMonitors(id->my_name, id->my_prog, id->my_vers, id->my_proc,
                           [this, resp](Status st, std::vector<store::MonitorKey> removed) {
                             if (!st.ok()) {
                               stats_.store_failures++;
                               log::Error("SM_UNMON_ALL: ", st.ToString());
                             }
                             asio::io_context& io = io_;
                             const bool hook = st.ok() && hooks_.del_client && !removed.empty();
                             resp->Success(proto::EncodeSmStat(static_cast<int32_t>(state())));
                             if (hook) {
                               asio::post(io, [this, removed = std::move(removed)] {
                                 for (const auto& k : removed)
                                   hooks_.del_client(k.mon_name, k.my_name);
                               });
                             }
                           });
}

void Service::SimuCrash(const rpc::CallContext& ctx, rpc::Responder r) {
  if (!LocalCaller(ctx, "SM_SIMU_CRASH")) return r.Success();
  if (ctx.peer.port() >= 1024) {
    stats_.refused++;
    log::Warning("SM_SIMU_CRASH refused: unprivileged source port from ", PeerText(ctx));
    return r.Success();
  }
  // Classic meaning: this host "rebooted". Bump the state durably, turn the monitor
  // list into the notify list, then let the notifier tell every peer.
  auto st = store_.BeginReboot(/*bump=*/true, /*keep_monitors=*/false);
  if (!st.ok()) {
    log::Error("SM_SIMU_CRASH: cannot record the new state: ", st.status().ToString());
    return r.Success();
  }
  state_ = *st;
  log::Notice("SM_SIMU_CRASH: state is now ", *st, "; notifying peers");
  r.Success();
  if (hooks_.rebooted) hooks_.rebooted(*st);
}

void Service::Notify(const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r) {
  auto chg = proto::DecodeStatChge(args);
  if (!chg.ok()) return r.Error(rpc::AcceptStat::kGarbageArgs);
  r.Success();  // void result; the work below never delays the answer
  std::string caller = ctx.peer.Normalized().ToString();
  std::string name = chg->mon_name;
  int32_t state = chg->state;
  log::Debug("SM_NOTIFY from ", caller, ": ", log::Quoted{name}, " is now in state ", state);
  if (hooks_.notified) hooks_.notified(name, caller, state);
  if (!store::ValidName(name)) {
    log::Warning("SM_NOTIFY from ", caller, " ignored: invalid mon_name ", log::Quoted{name});
    return;
  }

  // 1. Records monitored under this name (IP literals compared canonically). Their
  //    callbacks go out at once unless the source check must refuse them; the check
  //    itself needs the name's current addresses (step 2), so it runs afterwards.
  auto done = std::make_shared<std::set<std::string>>();
  auto by_name = store_.FindMonitorsByName(name);
  if (!by_name.ok()) {
    log::Error("SM_NOTIFY: store: ", by_name.status().ToString());
    return;
  }
  auto unchecked = std::make_shared<std::vector<store::Monitor>>();
  for (const auto& m : *by_name) {
    bool known = std::find(m.addresses.begin(), m.addresses.end(), caller) != m.addresses.end();
    if (known || opts_.source_check == SourceCheck::kOff) {
      CallBackMatches({m}, state, done);
      continue;
    }
    if (opts_.source_check == SourceCheck::kLog) CallBackMatches({m}, state, done);
    unchecked->push_back(m);
  }

  // 2. Records whose stored addresses include an address the name has now.
  // 3. Only if nothing matched: records whose stored addresses include the caller's
  //    address (a peer announcing a name we cannot relate).
  auto by_addresses = [this, done, unchecked, state, name,
                       caller](const std::vector<std::string>& addrs) {
    bool caller_is_name = std::find(addrs.begin(), addrs.end(), caller) != addrs.end();
    std::vector<store::Monitor> matched = *unchecked;
    for (const auto& a : addrs) {
      auto found = store_.FindMonitorsByAddress(a);
      if (!found.ok()) {
        log::Error("SM_NOTIFY: store: ", found.status().ToString());
        return;
      }
      matched.insert(matched.end(), found->begin(), found->end());
    }
    std::set<std::string> checked;
    for (const auto& m : matched) {
      if (!checked.insert(KeyString(m.key)).second) continue;
      bool known = caller_is_name ||
                   std::find(m.addresses.begin(), m.addresses.end(), caller) != m.addresses.end();
      if (!known && opts_.source_check != SourceCheck::kOff) {
        bool refuse = opts_.source_check == SourceCheck::kRefuse;
        stats_.notify_foreign_source++;
        log::Warning("SM_NOTIFY for ", log::Quoted{name}, " from ", caller,
                     ": the source is none of the addresses of monitor ",
                     log::Quoted{m.key.mon_name}, " for ", log::Quoted{m.key.my_name},
                     refuse ? "; refused" : "; accepted", " (notify-source-check)");
        if (refuse) continue;
      }
      CallBackMatches({m}, state, done);
    }
    if (done->empty()) {
      auto found = store_.FindMonitorsByAddress(caller);
      if (found.ok()) CallBackMatches(*found, state, done);
    }
    if (done->empty()) {
      stats_.notify_unmatched++;  // counted, not logged: anyone may send these, in floods
      log::Debug("SM_NOTIFY for ", log::Quoted{name}, " from ", caller, " matches no monitor");
    } else {
      log::Info("SM_NOTIFY from ", caller, ": ", log::Quoted{name}, " is now in state ", state,
                "; ", done->size(), " monitor(s) called back");
    }
  };
  if (auto ip = net::CanonicalIp(name)) {
    return by_addresses({*ip});
  }
  resolver_.Resolve(name, opts_.notify_resolve_timeout, resolver::Priority::kRemote,
                    [by_addresses, name](Result<resolver::Addresses> addrs) {
                      std::vector<std::string> text;
                      if (addrs.ok()) {
                        for (const auto& a : *addrs) text.push_back(a.ToString());
                      } else {
                        log::Info("SM_NOTIFY: cannot resolve ", log::Quoted{name}, ": ",
                                  addrs.status().ToString());
                      }
                      by_addresses(text);
                    });
}

void Service::CallBackMatches(const std::vector<store::Monitor>& found, int32_t state,
                              std::shared_ptr<std::set<std::string>> done) {
  for (const auto& m : found) {
    if (!done->insert(KeyString(m.key)).second) continue;
    stats_.notify_matched++;
    callbacks_.Send(m, state);
  }
}

}  // namespace nsm::monitor
