// Status and counters of a running rpc.statd as JSON for the control channel.
#include "control/daemon.h"

#include <unistd.h>

#include "base/clock.h"
#include "callback/callbacks.h"
#include "hacallout/runner.h"
#include "monitor/service.h"
#include "proto/nsm.h"
#include "resolver/resolver.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "store/store.h"

namespace nsm::control {

Json DaemonStatus(const DaemonInfo& info, const DaemonSources& src) {
  const int64_t now = Clock::Real().UnixSeconds();
  Json j = {{"ok", true},
            {"pid", info.pid},
            {"uid", geteuid()},
            {"version", NSM_VERSION},
            {"started", info.started},
            {"uptime", info.started > 0 ? now - info.started : 0},
            {"state_dir", info.state_dir},
            {"database", info.db_path}};
  if (src.server != nullptr) {
    Json ports = Json::array({"udp", "tcp"});
    if (src.server->has_ipv6()) {
      ports.push_back("udp6");
      ports.push_back("tcp6");
    }
    j["port"] = src.server->port();
    j["netids"] = ports;
    j["tcp_connections"] = src.server->tcp_connections();
  }
  if (src.service != nullptr) j["state"] = src.service->state();
  if (src.store != nullptr) {
    Result<uint64_t> n = src.store->CountMonitors();
    if (n.ok()) j["monitors"] = *n;
    j["store_poisoned"] = src.store->stats().poisoned;
  }
  if (src.ha != nullptr && src.ha->enabled()) j["ha_callout"] = src.ha->program();
  return j;
}

Json DaemonStats(const DaemonSources& src) {
  Json st = Json::object();
  if (src.server != nullptr) {
    const rpc::ServerStats& s = src.server->stats();
    st["rpc"] = {{"calls", s.calls.load()},
                 {"dropped", s.dropped.load()},
                 {"rejected", s.rejected.load()},
                 {"tcp_accepted", s.tcp_accepted.load()},
                 {"tcp_refused", s.tcp_refused.load()},
                 {"tcp_idle_closed", s.tcp_idle_closed.load()},
                 {"tcp_connections", src.server->tcp_connections()}};
  }
  if (src.service != nullptr) {
    const monitor::Stats& s = src.service->stats();
    Json calls = Json::object();
    for (uint32_t p = 0; p < 7; ++p) calls[proto::ProcName(p)] = s.calls[p].load();
    st["sm"] = {{"calls", calls},
                {"refused", s.refused.load()},
                {"store_failures", s.store_failures.load()},
                {"notify_matched", s.notify_matched.load()},
                {"notify_unmatched", s.notify_unmatched.load()}};
  }
  if (src.callbacks != nullptr) {
    const callback::Stats& s = src.callbacks->stats();
    st["callbacks"] = {{"requested", s.requested}, {"merged", s.merged},
                       {"sent", s.sent},           {"retried", s.retried},
                       {"failed", s.failed},       {"in_flight", src.callbacks->in_flight()}};
  }
  if (src.client != nullptr) {
    const rpc::ClientStats s = src.client->stats();
    st["client"] = {{"calls", s.calls},
                    {"retransmits", s.retransmits},
                    {"timeouts", s.timeouts},
                    {"errors", s.errors},
                    {"pending", src.client->pending()}};
  }
  if (src.resolver != nullptr) {
    const resolver::Stats s = src.resolver->stats();
    st["resolver"] = {{"lookups", s.lookups},
                      {"cache_hits", s.cache_hits},
                      {"timeouts", s.timeouts},
                      {"failures", s.failures},
                      {"sidecar_restarts", s.sidecar_restarts},
                      {"queue_full", s.queue_full},
                      {"sidecar_queries", s.sidecar_queries},
                      {"coalesced", s.coalesced},
                      {"literals", s.literals}};
  }
  if (src.store != nullptr) {
    const store::Stats s = src.store->stats();
    st["store"] = {{"commits", s.commits},
                   {"failed_batches", s.failed_batches},
                   {"requests", s.requests},
                   {"max_batch", s.max_batch},
                   {"poisoned", s.poisoned ? 1 : 0}};
  }
  if (src.ha != nullptr && src.ha->enabled()) {
    const hacallout::Stats s = src.ha->stats();
    st["ha_callout"] = {
        {"requested", s.requested}, {"started", s.started},     {"succeeded", s.succeeded},
        {"failed", s.failed},       {"timed_out", s.timed_out}, {"spawn_errors", s.spawn_errors},
        {"dropped", s.dropped},     {"running", s.running},     {"queued", s.queued}};
  }
  if (src.control != nullptr) {
    const ServerStats s = src.control->stats();
    st["control"] = {{"connections", s.connections},
                     {"requests", s.requests},
                     {"refused", s.refused},
                     {"bad_requests", s.bad_requests}};
  }
  if (src.extra) src.extra(st);
  return st;
}

Handler MakeDaemonHandler(DaemonInfo info, DaemonSources src) {
  return [info = std::move(info), src = std::move(src)](const Request& r) -> Json {
    if (r.cmd == "ping") return Json{{"ok", true}, {"pid", info.pid}};
    if (r.cmd == "status") return DaemonStatus(info, src);
    if (r.cmd == "stats") {
      return Json{{"ok", true},
                  {"pid", info.pid},
                  {"uptime", Clock::Real().UnixSeconds() - info.started},
                  {"stats", DaemonStats(src)}};
    }
    return ErrorReply("unknown_command", "unknown command \"" + r.cmd + "\"");
  };
}

}  // namespace nsm::control
