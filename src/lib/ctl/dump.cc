// Dump <-> JSON, and reading/importing a Dump through the store (see dump.h).
#include "ctl/dump.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "legacy/format.h"
#include "net/address.h"

namespace nsm::ctl {

using control::Json;

const char* NotifyStatusName(store::NotifyStatus s) {
  return s == store::NotifyStatus::kFailed ? "failed" : "pending";
}

Json DumpToJson(const Dump& d, const Json& extra) {
  Json j = {{"format", kDumpFormat}, {"version", kDumpVersion}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  if (d.state) j["state"] = *d.state;
  Json mons = Json::array();
  for (const auto& m : d.monitors) {
    mons.push_back({{"mon_name", m.key.mon_name},
                    {"my_name", m.key.my_name},
                    {"my_prog", m.key.my_prog},
                    {"my_vers", m.key.my_vers},
                    {"my_proc", m.key.my_proc},
                    {"priv", legacy::PrivToHex(m.priv)},
                    {"addresses", m.addresses},
                    {"caller", m.caller},
                    {"added", m.added}});
  }
  j["monitors"] = std::move(mons);
  Json notify = Json::array();
  for (const auto& e : d.notify) {
    notify.push_back({{"mon_name", e.mon_name},
                      {"my_name", e.my_name},
                      {"addresses", e.addresses},
                      {"status", NotifyStatusName(e.status)},
                      {"attempts", e.attempts},
                      {"last_error", e.last_error},
                      {"added", e.added},
                      {"last_attempt", e.last_attempt}});
  }
  j["notify"] = std::move(notify);
  return j;
}

namespace {

constexpr int64_t kU32Max = 0xffffffffLL;
constexpr int64_t kTimeMax = int64_t{1} << 50;

class Checker {
 public:
  void Fail(const std::string& where, const std::string& what) {
    if (problems_.size() < 5) problems_.push_back(where + ": " + what);
    ++count_;
  }
  bool ok() const { return count_ == 0; }
  Status status() const {
    std::string msg = "invalid export data: ";
    for (size_t i = 0; i < problems_.size(); ++i) msg += (i ? "; " : "") + problems_[i];
    if (count_ > problems_.size()) {
      msg += "; and " + std::to_string(count_ - problems_.size()) + " more";
    }
    return Status(Code::kInvalidArgument, msg);
  }

  std::string Name(const Json& o, const char* key, const std::string& where) {
    std::optional<std::string> v = control::GetString(o, key);
    if (!v || !store::ValidName(*v)) {
      Fail(where + "." + key, v ? "not a valid name" : "missing or not a string");
      return {};
    }
    return *v;
  }
  uint32_t U32(const Json& o, const char* key, const std::string& where) {
    std::optional<int64_t> v = control::GetInt(o, key, 0, kU32Max);
    if (!v) Fail(where + "." + key, "missing or not an integer in 0..4294967295");
    return static_cast<uint32_t>(v.value_or(0));
  }
  int64_t Time(const Json& o, const char* key, const std::string& where) {
    if (!o.contains(key)) return 0;
    std::optional<int64_t> v = control::GetInt(o, key, 0, kTimeMax);
    if (!v) Fail(where + "." + key, "not a unix time");
    return v.value_or(0);
  }
  std::vector<std::string> Addresses(const Json& o, const std::string& where) {
    std::vector<std::string> out;
    auto it = o.find("addresses");
    if (it == o.end()) return out;
    if (!it->is_array()) {
      Fail(where + ".addresses", "not an array");
      return out;
    }
    for (const auto& a : *it) {
      std::optional<std::string> c;
      if (a.is_string()) c = net::CanonicalIp(a.get<std::string>());
      if (!c) {
        Fail(where + ".addresses", "not an IP address: " + control::DumpJson(a));
        continue;
      }
      if (std::find(out.begin(), out.end(), *c) == out.end()) out.push_back(*c);
    }
    return out;
  }

 private:
  std::vector<std::string> problems_;
  size_t count_ = 0;
};

}  // namespace

Result<Dump> DumpFromJson(const Json& j) {
  if (!j.is_object()) return Status(Code::kInvalidArgument, "export data is not a JSON object");
  std::optional<std::string> format = control::GetString(j, "format");
  if (format != kDumpFormat) {
    return Status(Code::kInvalidArgument,
                  std::string("not an nsm export (\"format\" is not \"") + kDumpFormat + "\")");
  }
  std::optional<int64_t> version = control::GetInt(j, "version", 1, INT32_MAX);
  if (!version) return Status(Code::kInvalidArgument, "export data has no valid \"version\"");
  if (*version > kDumpVersion) {
    return Status(Code::kInvalidArgument, "export format version " + std::to_string(*version) +
                                              " is newer than this statdctl understands (" +
                                              std::to_string(kDumpVersion) + ")");
  }
  Checker c;
  Dump d;
  if (j.contains("state") && !j["state"].is_null()) {
    std::optional<int64_t> st = control::GetInt(j, "state", 0, kU32Max);
    if (!st) c.Fail("state", "not an integer in 0..4294967295");
    if (st) d.state = static_cast<uint32_t>(*st);
  }
  auto mons = j.find("monitors");
  if (mons != j.end() && !mons->is_array()) c.Fail("monitors", "not an array");
  if (mons != j.end() && mons->is_array()) {
    for (size_t i = 0; i < mons->size(); ++i) {
      const Json& o = (*mons)[i];
      const std::string w = "monitors[" + std::to_string(i) + "]";
      if (!o.is_object()) {
        c.Fail(w, "not an object");
        continue;
      }
      store::Monitor m;
      m.key.mon_name = c.Name(o, "mon_name", w);
      m.key.my_name = c.Name(o, "my_name", w);
      m.key.my_prog = c.U32(o, "my_prog", w);
      m.key.my_vers = c.U32(o, "my_vers", w);
      m.key.my_proc = c.U32(o, "my_proc", w);
      std::optional<std::string> priv = control::GetString(o, "priv");
      std::optional<store::Priv> p = priv ? legacy::PrivFromHex(*priv) : std::nullopt;
      if (!p) c.Fail(w + ".priv", "missing or not 32 hex digits");
      m.priv = p.value_or(store::Priv{});
      m.addresses = c.Addresses(o, w);
      if (o.contains("caller")) {
        std::optional<std::string> caller = control::GetString(o, "caller");
        if (!caller || caller->size() > 1024) c.Fail(w + ".caller", "not a short string");
        m.caller = caller.value_or("");
      }
      m.added = c.Time(o, "added", w);
      d.monitors.push_back(std::move(m));
    }
  }
  auto notify = j.find("notify");
  if (notify != j.end() && !notify->is_array()) c.Fail("notify", "not an array");
  if (notify != j.end() && notify->is_array()) {
    for (size_t i = 0; i < notify->size(); ++i) {
      const Json& o = (*notify)[i];
      const std::string w = "notify[" + std::to_string(i) + "]";
      if (!o.is_object()) {
        c.Fail(w, "not an object");
        continue;
      }
      store::NotifyEntry e;
      e.mon_name = c.Name(o, "mon_name", w);
      e.my_name = c.Name(o, "my_name", w);
      e.addresses = c.Addresses(o, w);
      std::optional<std::string> status = control::GetString(o, "status");
      if (status == "failed") {
        e.status = store::NotifyStatus::kFailed;
      } else if (status && *status != "pending") {
        c.Fail(w + ".status", "not \"pending\" or \"failed\"");
      }
      if (o.contains("attempts")) {
        std::optional<int64_t> a = control::GetInt(o, "attempts", 0, INT32_MAX);
        if (!a) c.Fail(w + ".attempts", "not a count");
        e.attempts = static_cast<int>(a.value_or(0));
      }
      if (o.contains("last_error")) {
        std::optional<std::string> le = control::GetString(o, "last_error");
        if (!le || le->size() > 4096) c.Fail(w + ".last_error", "not a short string");
        e.last_error = le.value_or("");
      }
      e.added = c.Time(o, "added", w);
      e.last_attempt = c.Time(o, "last_attempt", w);
      d.notify.push_back(std::move(e));
    }
  }
  if (!c.ok()) return c.status();
  return d;
}

Result<Dump> ReadStore(store::Store& s) {
  Dump d;
  Result<uint32_t> st = s.GetState();
  if (!st.ok()) return st.status();
  d.state = *st;
  Result<std::vector<store::Monitor>> mons = s.ListMonitors();
  if (!mons.ok()) return mons.status();
  d.monitors = std::move(*mons);
  Result<std::vector<store::NotifyEntry>> notify = s.ListNotify();
  if (!notify.ok()) return notify.status();
  d.notify = std::move(*notify);
  return d;
}

Result<ImportReport> ImportDump(store::Store& s, const Dump& d) {
  ImportReport rep;
  Result<uint32_t> cur = s.GetState();
  if (!cur.ok()) return cur.status();
  rep.state_before = rep.state_after = *cur;
  if (d.state) {
    if (*d.state > *cur) {
      Status st = s.SetState(*d.state);
      if (!st.ok()) return Status(st.code(), "setting the state number: " + st.message());
      rep.state_after = *d.state;
    } else if (*d.state < *cur) {
      rep.state_kept = true;
    }
  }

  // Queue every monitor, then wait: the committer groups them into few transactions.
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = d.monitors.size();
  size_t done_ok = 0;
  Status first_error;
  for (const auto& m : d.monitors) {
    s.AddMonitor(m, [&](Status st) {
      std::lock_guard<std::mutex> lock(mu);
      if (st.ok()) {
        ++done_ok;
      } else if (first_error.ok()) {
        first_error = st;
      }
      if (--pending == 0) cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  rep.monitors = done_ok;
  if (!first_error.ok()) {
    return Status(first_error.code(), "importing monitors (" + std::to_string(done_ok) + " of " +
                                          std::to_string(d.monitors.size()) +
                                          " written): " + first_error.message());
  }
  for (const auto& e : d.notify) {
    Status st = s.AddNotify(e);
    if (!st.ok()) {
      return Status(st.code(), "importing the notify list (" + std::to_string(rep.notify) + " of " +
                                   std::to_string(d.notify.size()) + " written): " + st.message());
    }
    ++rep.notify;
  }
  return rep;
}

}  // namespace nsm::ctl
