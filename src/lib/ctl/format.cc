// Tables, times and the counters' table and Prometheus renderings (see format.h).
#include "ctl/format.h"

#include <ctime>
#include <map>
#include <sstream>

namespace nsm::ctl {

using control::Json;

void Table::Add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size(), 0);
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string FormatTime(int64_t t) {
  if (t <= 0) return "-";
  time_t tt = static_cast<time_t>(t);
  tm utc{};
  if (gmtime_r(&tt, &utc) == nullptr) return std::to_string(t);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &utc);
  return buf;
}

std::string FormatDuration(int64_t s) {
  if (s < 0) s = 0;
  char buf[32];
  if (s >= 86400) {
    snprintf(buf, sizeof(buf), "%lldd%02lldh", static_cast<long long>(s / 86400),
             static_cast<long long>(s % 86400 / 3600));
  } else if (s >= 3600) {
    snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
             static_cast<long long>(s % 3600 / 60));
  } else if (s >= 60) {
    snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
             static_cast<long long>(s % 60));
  } else {
    snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  }
  return buf;
}

std::string Printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string JoinOrDash(const std::vector<std::string>& items) {
  if (items.empty()) return "-";
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + Printable(i);
  return out;
}

namespace {

enum class Kind { kCounter, kGauge, kUntyped };

struct Meta {
  Kind kind;
  const char* help;
  const char* label;  // for object values
};

// Known counters; anything else the daemon sends is rendered as untyped.
const std::map<std::string, Meta>& Known() {
  static const std::map<std::string, Meta> m = {
      {"rpc.calls", {Kind::kCounter, "RPC calls received", nullptr}},
      {"rpc.dropped", {Kind::kCounter, "RPC messages dropped (undecodable, oversized)", nullptr}},
      {"rpc.rejected", {Kind::kCounter, "RPC calls rejected (version, auth, program)", nullptr}},
      {"rpc.tcp_accepted", {Kind::kCounter, "TCP connections accepted", nullptr}},
      {"rpc.tcp_refused", {Kind::kCounter, "TCP connections refused (too many)", nullptr}},
      {"rpc.tcp_idle_closed", {Kind::kCounter, "idle TCP connections closed", nullptr}},
      {"rpc.tcp_connections", {Kind::kGauge, "open TCP connections", nullptr}},
      {"sm.calls", {Kind::kCounter, "SM procedure calls", "proc"}},
      {"sm.refused", {Kind::kCounter, "SM calls refused by policy", nullptr}},
      {"sm.store_failures", {Kind::kCounter, "SM calls failed by the database", nullptr}},
      {"sm.notify_matched", {Kind::kCounter, "SM_NOTIFY received matching a monitor", nullptr}},
      {"sm.notify_unmatched", {Kind::kCounter, "SM_NOTIFY received matching nothing", nullptr}},
      {"callbacks.requested", {Kind::kCounter, "lockd callbacks requested", nullptr}},
      {"callbacks.merged", {Kind::kCounter, "lockd callbacks merged with one in flight", nullptr}},
      {"callbacks.sent", {Kind::kCounter, "lockd callbacks answered", nullptr}},
      {"callbacks.retried", {Kind::kCounter, "lockd callback retries", nullptr}},
      {"callbacks.failed", {Kind::kCounter, "lockd callbacks given up", nullptr}},
      {"callbacks.in_flight", {Kind::kGauge, "lockd callbacks in flight", nullptr}},
      {"client.calls", {Kind::kCounter, "outgoing RPC calls", nullptr}},
      {"client.retransmits", {Kind::kCounter, "outgoing RPC retransmissions", nullptr}},
      {"client.timeouts", {Kind::kCounter, "outgoing RPC calls timed out", nullptr}},
      {"client.errors", {Kind::kCounter, "outgoing RPC calls failed", nullptr}},
      {"client.pending", {Kind::kGauge, "outgoing RPC calls pending", nullptr}},
      {"resolver.lookups", {Kind::kCounter, "name look-ups", nullptr}},
      {"resolver.cache_hits", {Kind::kCounter, "name look-ups answered from the cache", nullptr}},
      {"resolver.timeouts", {Kind::kCounter, "name look-ups timed out", nullptr}},
      {"resolver.failures", {Kind::kCounter, "name look-ups failed", nullptr}},
      {"resolver.sidecar_restarts", {Kind::kCounter, "resolver sidecars restarted", nullptr}},
      {"resolver.queue_full", {Kind::kCounter, "name look-ups refused (queue full)", nullptr}},
      {"resolver.sidecar_queries", {Kind::kCounter, "queries sent to the sidecar", nullptr}},
      {"resolver.coalesced", {Kind::kCounter, "look-ups joined to one in flight", nullptr}},
      {"resolver.literals", {Kind::kCounter, "IP literals answered without a query", nullptr}},
      {"store.commits", {Kind::kCounter, "group-commit transactions", nullptr}},
      {"store.failed_batches", {Kind::kCounter, "group-commit batches failed", nullptr}},
      {"store.requests", {Kind::kCounter, "requests completed by the committer", nullptr}},
      {"store.max_batch", {Kind::kGauge, "most requests in one transaction", nullptr}},
      {"store.poisoned", {Kind::kGauge, "1 if a failed fsync stopped all writes", nullptr}},
      {"ha_callout.requested", {Kind::kCounter, "HA callout events", nullptr}},
      {"ha_callout.started", {Kind::kCounter, "HA callouts started", nullptr}},
      {"ha_callout.succeeded", {Kind::kCounter, "HA callouts that exited 0", nullptr}},
      {"ha_callout.failed", {Kind::kCounter, "HA callouts that failed", nullptr}},
      {"ha_callout.timed_out", {Kind::kCounter, "HA callouts killed after the timeout", nullptr}},
      {"ha_callout.spawn_errors", {Kind::kCounter, "HA callouts that could not start", nullptr}},
      {"ha_callout.dropped", {Kind::kCounter, "HA callout events dropped", nullptr}},
      {"ha_callout.running", {Kind::kGauge, "HA callouts running", nullptr}},
      {"ha_callout.queued", {Kind::kGauge, "HA callout events queued", nullptr}},
      {"control.connections", {Kind::kCounter, "control connections", nullptr}},
      {"control.requests", {Kind::kCounter, "control requests", nullptr}},
      {"control.refused", {Kind::kCounter, "control connections refused", nullptr}},
      {"control.bad_requests", {Kind::kCounter, "malformed control requests", nullptr}},
  };
  return m;
}

const std::map<std::string, Meta>& DbGauges() {
  static const std::map<std::string, Meta> m = {
      {"state", {Kind::kGauge, "local NSM state number", nullptr}},
      {"monitors", {Kind::kGauge, "monitor records in the database", nullptr}},
      {"notify_pending", {Kind::kGauge, "peers still to notify", nullptr}},
      {"notify_failed", {Kind::kGauge, "peers whose notification was given up", nullptr}},
      {"notify_attempts", {Kind::kGauge, "notification attempts of listed peers", nullptr}},
  };
  return m;
}

std::string MetricName(const std::string& path) {
  std::string n = "nsm_";
  for (char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    n.push_back(ok ? c : '_');
  }
  return n;
}

std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Number(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    std::ostringstream os;
    os << v.get<double>();
    return os.str();
  }
  return "";
}

struct Sample {
  std::string label_name, label_value;  // empty: none
  std::string value;
};

struct Family {
  std::string path;  // "sm.calls"
  Meta meta;
  std::vector<Sample> samples;
};

// Flattens {section: {key: N | {label: N}}} into metric families, in input order.
std::vector<Family> Families(const Json& stats) {
  std::vector<Family> out;
  if (!stats.is_object()) return out;
  for (auto sec = stats.begin(); sec != stats.end(); ++sec) {
    if (!sec.value().is_object()) continue;
    for (auto it = sec.value().begin(); it != sec.value().end(); ++it) {
      Family f;
      f.path = sec.key() + "." + it.key();
      auto k = Known().find(f.path);
      f.meta = k != Known().end() ? k->second : Meta{Kind::kUntyped, "", nullptr};
      if (it.value().is_object()) {
        const std::string label = f.meta.label ? f.meta.label : "key";
        for (auto s = it.value().begin(); s != it.value().end(); ++s) {
          std::string v = Number(s.value());
          if (!v.empty()) f.samples.push_back({label, s.key(), v});
        }
      } else {
        std::string v = Number(it.value());
        if (!v.empty()) f.samples.push_back({"", "", v});
      }
      if (!f.samples.empty()) out.push_back(std::move(f));
    }
  }
  return out;
}

void WriteFamily(std::ostream& os, const std::string& name, const Meta& meta,
                 const std::vector<Sample>& samples) {
  const char* type = meta.kind == Kind::kCounter ? "counter"
                     : meta.kind == Kind::kGauge ? "gauge"
                                                 : "untyped";
  if (meta.help != nullptr && meta.help[0] != '\0')
    os << "# HELP " << name << ' ' << meta.help << '\n';
  os << "# TYPE " << name << ' ' << type << '\n';
  for (const auto& s : samples) {
    os << name;
    if (!s.label_name.empty())
      os << '{' << s.label_name << "=\"" << LabelValue(s.label_value) << "\"}";
    os << ' ' << s.value << '\n';
  }
}

}  // namespace

std::string PrometheusText(const Json& stats, const Json& db, bool up) {
  std::ostringstream os;
  WriteFamily(os, "nsm_up",
              {Kind::kGauge, "1 if rpc.statd answered on its control socket", nullptr},
              {{"", "", up ? "1" : "0"}});
  if (db.is_object()) {
    for (const auto& [key, meta] : DbGauges()) {
      auto it = db.find(key);
      if (it == db.end()) continue;
      std::string v = Number(*it);
      if (!v.empty()) WriteFamily(os, MetricName(key), meta, {{"", "", v}});
    }
  }
  if (up) {
    for (const auto& f : Families(stats)) {
      std::string name = MetricName(f.path);
      if (f.meta.kind == Kind::kCounter) name += "_total";
      WriteFamily(os, name, f.meta, f.samples);
    }
  }
  return os.str();
}

std::string StatsTable(const Json& stats, const Json& db) {
  Table t({"COUNTER", "VALUE", "DESCRIPTION"});
  if (db.is_object()) {
    for (const auto& [key, meta] : DbGauges()) {
      auto it = db.find(key);
      if (it != db.end()) t.Add({"db." + key, Number(*it), meta.help});
    }
  }
  for (const auto& f : Families(stats)) {
    for (const auto& s : f.samples) {
      std::string name = f.path;
      if (!s.label_name.empty()) name += "." + s.label_value;
      t.Add({Printable(name), s.value, f.meta.help});
    }
  }
  return t.Render();
}

}  // namespace nsm::ctl
