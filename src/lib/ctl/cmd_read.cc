// The reading commands: status, list, export, stats. The database is opened
// read-only; the daemon is asked over its control socket where needed.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <ostream>

#include "base/clock.h"
#include "control/client.h"
#include "ctl/commands.h"
#include "ctl/dump.h"
#include "ctl/format.h"
#include "ctl/legacy.h"
#include "legacy/format.h"

namespace nsm::ctl::internal {
namespace {

using control::Json;

constexpr std::chrono::milliseconds kControlTimeout{5000};

Json NotifyCounts(const std::vector<store::NotifyEntry>& list) {
  uint64_t pending = 0, failed = 0, attempts = 0;
  for (const auto& e : list) {
    (e.status == store::NotifyStatus::kFailed ? failed : pending)++;
    attempts += static_cast<uint64_t>(e.attempts);
  }
  return Json{
      {"total", list.size()}, {"pending", pending}, {"failed", failed}, {"attempts", attempts}};
}

Json MonitorJson(const store::Monitor& m) {
  return Json{
      {"mon_name", m.key.mon_name}, {"my_name", m.key.my_name}, {"my_prog", m.key.my_prog},
      {"my_vers", m.key.my_vers},   {"my_proc", m.key.my_proc}, {"priv", legacy::PrivToHex(m.priv)},
      {"addresses", m.addresses},   {"caller", m.caller},       {"added", m.added}};
}

Json NotifyJson(const store::NotifyEntry& e) {
  return Json{{"mon_name", e.mon_name},   {"my_name", e.my_name},
              {"addresses", e.addresses}, {"status", NotifyStatusName(e.status)},
              {"attempts", e.attempts},   {"last_error", e.last_error},
              {"added", e.added},         {"last_attempt", e.last_attempt}};
}

// Resolves "USER[:GROUP]" (names or numbers).
bool ParseOwner(const std::string& spec, uid_t* uid, gid_t* gid, bool* have_gid) {
  const size_t colon = spec.find(':');
  const std::string user = spec.substr(0, colon);
  if (passwd* pw = getpwnam(user.c_str())) {
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    *have_gid = true;
  } else if (std::optional<uint32_t> n = ParseU32(user)) {
    *uid = *n;
    *have_gid = false;
  } else {
    return false;
  }
  if (colon != std::string::npos) {
    const std::string gname = spec.substr(colon + 1);
    if (struct group* gr = getgrnam(gname.c_str())) {
      *gid = gr->gr_gid;
    } else if (std::optional<uint32_t> n = ParseU32(gname)) {
      *gid = *n;
    } else {
      return false;
    }
    *have_gid = true;
  }
  return true;
}

}  // namespace

int CmdStatus(Context& c) {
  auto st = OpenStore(c, Access::kRead);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  store::Store& s = **st;
  Result<uint32_t> state = s.GetState();
  Result<uint64_t> mons = s.CountMonitors();
  Result<std::vector<store::NotifyEntry>> notify = s.ListNotify();
  for (const Status* e : {&state.status(), &mons.status(), &notify.status()}) {
    if (!e->ok()) return Fail(c, kExitError, e->ToString());
  }
  const Json counts = NotifyCounts(*notify);

  Json daemon;
  Result<Json> reply = control::Call(c.socket, Json{{"cmd", "status"}}, kControlTimeout);
  if (reply.ok() && control::GetBool(*reply, "ok") == true) {
    daemon = *reply;
    daemon.erase("ok");
    daemon["running"] = true;
  } else {
    daemon = Json{{"running", false}};
    const Status err =
        reply.ok() ? Status(Code::kInternal, control::GetString(*reply, "error").value_or("error"))
                   : reply.status();
    daemon["error"] = err.message();
    if (err.code() == Code::kPermission) daemon["running"] = nullptr;  // unknown
  }
  daemon["socket"] = c.socket;

  if (c.json) {
    Json j{{"state_dir", c.state_dir}, {"database", s.path()}, {"state", *state},
           {"up", *state % 2 == 1},    {"monitors", *mons},    {"notify", counts},
           {"daemon", daemon}};
    *c.out << control::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  Table t({"ITEM", "VALUE"});
  t.Add({"state directory", c.state_dir});
  t.Add({"database", s.path()});
  t.Add({"state number", std::to_string(*state) + (*state % 2 == 1 ? " (odd: up)" : " (even)")});
  t.Add({"monitors", std::to_string(*mons)});
  t.Add({"notify list", std::to_string(counts["total"].get<uint64_t>()) + " (" +
                            std::to_string(counts["pending"].get<uint64_t>()) + " pending, " +
                            std::to_string(counts["failed"].get<uint64_t>()) + " failed)"});
  std::string d;
  if (daemon["running"] == true) {
    d = "running, pid " + std::to_string(control::GetInt(daemon, "pid", 0, INT32_MAX).value_or(0));
    if (auto port = control::GetInt(daemon, "port", 0, 65535))
      d += ", port " + std::to_string(*port);
    if (daemon.contains("netids") && daemon["netids"].is_array()) {
      std::vector<std::string> ids;
      for (const auto& n : daemon["netids"]) {
        if (n.is_string()) ids.push_back(n.get<std::string>());
      }
      d += " (" + JoinOrDash(ids) + ")";
    }
    d += ", up " + FormatDuration(control::GetInt(daemon, "uptime", 0, INT64_MAX).value_or(0));
    if (auto v = control::GetString(daemon, "version")) d += ", nsm " + Printable(*v);
  } else {
    d = (daemon["running"].is_null() ? "unknown: " : "not running: ") +
        Printable(control::GetString(daemon, "error").value_or(""));
  }
  t.Add({"daemon", d});
  if (auto ha = control::GetString(daemon, "ha_callout")) t.Add({"ha callout", Printable(*ha)});
  *c.out << t.Render();
  return kExitOk;
}

int CmdList(Context& c) {
  const bool want_mons = !c.Flag("notify") || c.Flag("monitors");
  const bool want_notify = !c.Flag("monitors") || c.Flag("notify");
  auto st = OpenStore(c, Access::kRead);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  std::vector<store::Monitor> mons;
  std::vector<store::NotifyEntry> notify;
  if (want_mons) {
    auto r = (*st)->ListMonitors();
    if (!r.ok()) return Fail(c, kExitError, r.status().ToString());
    mons = std::move(*r);
  }
  if (want_notify) {
    auto r = (*st)->ListNotify();
    if (!r.ok()) return Fail(c, kExitError, r.status().ToString());
    notify = std::move(*r);
  }
  if (c.json) {
    Json j = Json::object();
    if (want_mons) {
      j["monitors"] = Json::array();
      for (const auto& m : mons) j["monitors"].push_back(MonitorJson(m));
    }
    if (want_notify) {
      j["notify"] = Json::array();
      for (const auto& e : notify) j["notify"].push_back(NotifyJson(e));
    }
    *c.out << control::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  if (want_mons) {
    *c.out << "Monitors (" << mons.size() << "):\n";
    Table t({"MON_NAME", "MY_NAME", "CALLBACK", "ADDRESSES", "ADDED"});
    for (const auto& m : mons) {
      t.Add({m.key.mon_name, m.key.my_name,
             std::to_string(m.key.my_prog) + "/" + std::to_string(m.key.my_vers) + "/" +
                 std::to_string(m.key.my_proc),
             JoinOrDash(m.addresses), FormatTime(m.added)});
    }
    if (!mons.empty()) *c.out << t.Render();
  }
  if (want_mons && want_notify) *c.out << "\n";
  if (want_notify) {
    *c.out << "Notify list (" << notify.size() << "):\n";
    Table t(
        {"MON_NAME", "MY_NAME", "ADDRESSES", "STATUS", "ATTEMPTS", "LAST_ATTEMPT", "LAST_ERROR"});
    for (const auto& e : notify) {
      t.Add({e.mon_name, e.my_name, JoinOrDash(e.addresses), NotifyStatusName(e.status),
             std::to_string(e.attempts), FormatTime(e.last_attempt),
             e.last_error.empty() ? "-" : Printable(e.last_error)});
    }
    if (!notify.empty()) *c.out << t.Render();
  }
  return kExitOk;
}

int CmdExport(Context& c) {
  const std::optional<std::string> legacy = c.Value("legacy");
  if (!legacy && (c.Flag("force") || c.Value("owner"))) {
    return Fail(c, kExitUsage, "--force and --owner apply to export --legacy only");
  }
  if (legacy && c.Value("output")) {
    return Fail(c, kExitUsage, "export: give either --legacy DIR or -o FILE");
  }
  auto st = OpenStore(c, Access::kRead);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  Result<Dump> d = ReadStore(**st);
  if (!d.ok()) return Fail(c, kExitError, d.status().ToString());

  if (legacy) {
    LegacyWriteOptions o;
    o.replace = c.Flag("force");
    if (std::optional<std::string> owner = c.Value("owner")) {
      uid_t uid = 0;
      gid_t gid = 0;
      bool have_gid = false;
      if (!ParseOwner(*owner, &uid, &gid, &have_gid)) {
        return Fail(c, kExitUsage, "unknown user or group in --owner " + *owner);
      }
      o.uid = uid;
      if (have_gid) o.gid = gid;
    }
    Status s = WriteLegacyDir(*legacy, *d, o);
    if (!s.ok()) {
      const int code = s.code() == Code::kPermission ? kExitPermission : kExitError;
      return Fail(c, code, "export --legacy " + *legacy + ": " + s.message());
    }
    if (c.json) {
      *c.out << control::DumpJson(Json{{"directory", *legacy},
                                       {"monitors", d->monitors.size()},
                                       {"notify", d->notify.size()},
                                       {"state", d->state.value_or(0)}},
                                  2)
             << "\n";
    } else {
      *c.out << "wrote " << d->monitors.size() << " monitor(s), " << d->notify.size()
             << " notify entr" << (d->notify.size() == 1 ? "y" : "ies") << " and state "
             << d->state.value_or(0) << " to " << *legacy << "\n";
    }
    return kExitOk;
  }

  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const Json extra{{"exported_at", Clock::Real().UnixSeconds()},
                   {"host", host},
                   {"state_dir", c.state_dir},
                   {"nsm_version", NSM_VERSION}};
  const std::string text = control::DumpJson(DumpToJson(*d, extra), 2) + "\n";
  if (std::optional<std::string> path = c.Value("output"); path && *path != "-") {
    // The privs are lockd's cookies: keep the file private.
    int fd = open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      return Fail(c, err == EACCES || err == EPERM ? kExitPermission : kExitError,
                  ErrnoStatus("cannot write " + *path, err).message());
    }
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = write(fd, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Status s = ErrnoStatus("write " + *path, errno);
        close(fd);
        return Fail(c, kExitError, s.message());
      }
      off += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
      return Fail(c, kExitError, ErrnoStatus("write " + *path, errno).message());
    }
    return kExitOk;
  }
  *c.out << text;
  c.out->flush();
  return c.out->good() ? kExitOk : Fail(c, kExitError, "cannot write the export to stdout");
}

int CmdStats(Context& c) {
  // Gauges from the database when it can be read (not required).
  Json db = Json::object();
  if (auto st = OpenStore(c, Access::kRead); st.ok()) {
    if (auto s = (*st)->GetState(); s.ok()) db["state"] = *s;
    if (auto n = (*st)->CountMonitors(); n.ok()) db["monitors"] = *n;
    if (auto l = (*st)->ListNotify(); l.ok()) {
      Json counts = NotifyCounts(*l);
      db["notify_pending"] = counts["pending"];
      db["notify_failed"] = counts["failed"];
      db["notify_attempts"] = counts["attempts"];
    }
  }
  Result<Json> reply = control::Call(c.socket, Json{{"cmd", "stats"}}, kControlTimeout);
  Status err;
  if (!reply.ok()) {
    err = reply.status();
  } else if (control::GetBool(*reply, "ok") != true || !(*reply)["stats"].is_object()) {
    err = Status(Code::kInternal,
                 "rpc.statd answered: " + control::GetString(*reply, "error").value_or("no stats"));
  }
  if (c.Flag("prometheus")) {
    *c.out << PrometheusText(err.ok() ? (*reply)["stats"] : Json::object(), db, err.ok());
    if (!err.ok()) return Fail(c, ControlExitCode(err), err.message());
    return kExitOk;
  }
  if (!err.ok()) return Fail(c, ControlExitCode(err), err.message());
  if (c.json) {
    Json j{{"pid", control::GetInt(*reply, "pid", 0, INT32_MAX).value_or(0)},
           {"uptime", control::GetInt(*reply, "uptime", 0, INT64_MAX).value_or(0)},
           {"stats", (*reply)["stats"]},
           {"database", db}};
    *c.out << control::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  *c.out << "rpc.statd pid " << control::GetInt(*reply, "pid", 0, INT32_MAX).value_or(0) << ", up "
         << FormatDuration(control::GetInt(*reply, "uptime", 0, INT64_MAX).value_or(0)) << "\n"
         << StatsTable((*reply)["stats"], db);
  return kExitOk;
}

}  // namespace nsm::ctl::internal
