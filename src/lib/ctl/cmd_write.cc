// The writing commands: add, remove, forget, import. They write through the store, so
// a running rpc.statd sees the change at its next database read (SQLite serialises
// the two writers).
#include <sys/utsname.h>

#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <ostream>
#include <sstream>

#include "ctl/commands.h"
#include "ctl/dump.h"
#include "ctl/format.h"
#include "ctl/legacy.h"
#include "legacy/format.h"
#include "net/address.h"

namespace nsm::ctl::internal {
namespace {

using control::Json;

constexpr uint32_t kNlmProg = 100021;
constexpr size_t kMaxImport = 256u << 20;

std::string NodeName() {
  utsname u{};
  if (uname(&u) != 0) return "localhost";
  return u.nodename;
}

// Blocks until the committer answered a RemoveMonitor.
Result<bool> RemoveSync(store::Store& s, const store::MonitorKey& key) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, removed = false;
  Status result;
  s.RemoveMonitor(key, [&](Status st, bool r) {
    std::lock_guard<std::mutex> lock(mu);
    result = st;
    removed = r;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (!result.ok()) return result;
  return removed;
}

// Optional --prog/--vers/--proc filters or values.
bool ReadCallback(Context& c, std::optional<uint32_t>* prog, std::optional<uint32_t>* vers,
                  std::optional<uint32_t>* proc, std::string* problem) {
  const std::pair<const char*, std::optional<uint32_t>*> fields[] = {
      {"prog", prog}, {"vers", vers}, {"proc", proc}};
  for (const auto& [name, out] : fields) {
    if (std::optional<std::string> v = c.Value(name)) {
      *out = ParseU32(*v);
      if (!*out) {
        *problem = std::string("--") + name + " " + *v + " is not a 32-bit unsigned number";
        return false;
      }
    }
  }
  return true;
}

int ReportImport(Context& c, const ImportReport& r, const std::string& from, size_t skipped) {
  if (c.json) {
    *c.out << control::DumpJson(Json{{"source", from},
                                     {"monitors", r.monitors},
                                     {"notify", r.notify},
                                     {"state_before", r.state_before},
                                     {"state", r.state_after},
                                     {"state_kept", r.state_kept},
                                     {"skipped", skipped}},
                                2)
           << "\n";
  } else {
    *c.out << "imported " << r.monitors << " monitor(s) and " << r.notify << " notify entr"
           << (r.notify == 1 ? "y" : "ies") << " from " << from << "; state " << r.state_after;
    if (r.state_kept) *c.out << " (kept: higher than the imported one)";
    *c.out << "\n";
  }
  if (r.state_kept) {
    *c.err << "statdctl: warning: the database's state number " << r.state_before
           << " is higher than the imported one; kept it (state numbers never go back)\n";
  }
  return kExitOk;
}

}  // namespace

int CmdAdd(Context& c) {
  if (c.positional.size() != 1) return Fail(c, kExitUsage, "add: give one MON_NAME");
  store::Monitor m;
  m.key.mon_name = c.positional[0];
  m.key.my_name = c.Value("my-name").value_or(NodeName());
  std::optional<uint32_t> prog, vers, proc;
  std::string problem;
  if (!ReadCallback(c, &prog, &vers, &proc, &problem)) return Fail(c, kExitUsage, problem);
  m.key.my_prog = prog.value_or(kNlmProg);
  m.key.my_vers = vers.value_or(3);
  m.key.my_proc = proc.value_or(16);
  if (!store::ValidName(m.key.mon_name)) {
    return Fail(c, kExitUsage,
                "invalid MON_NAME (1..1024 printable bytes, no blanks or '/', "
                "not starting with '.')");
  }
  if (!store::ValidName(m.key.my_name)) return Fail(c, kExitUsage, "invalid --my-name");
  if (std::optional<std::string> priv = c.Value("priv")) {
    std::optional<store::Priv> p = legacy::PrivFromHex(*priv);
    if (!p) return Fail(c, kExitUsage, "--priv must be 32 hex digits");
    m.priv = *p;
  }
  for (const auto& a : c.Values("address")) {
    std::optional<std::string> ip = net::CanonicalIp(a);
    if (!ip) return Fail(c, kExitUsage, "--address " + a + " is not an IP address");
    m.addresses.push_back(*ip);
  }
  if (m.addresses.empty()) {
    if (std::optional<std::string> ip = net::CanonicalIp(m.key.mon_name)) m.addresses = {*ip};
  }
  auto st = OpenStore(c, Access::kWrite);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  Dump d;
  d.monitors.push_back(m);
  Result<ImportReport> r = ImportDump(**st, d);
  if (!r.ok()) {
    const int code = r.status().code() == Code::kPermission ? kExitPermission : kExitError;
    return Fail(c, code, r.status().message());
  }
  if (!c.json) {
    *c.out << "monitoring " << m.key.mon_name << " for " << m.key.my_name << " (" << m.key.my_prog
           << "/" << m.key.my_vers << "/" << m.key.my_proc << ")\n";
  } else {
    *c.out << control::DumpJson(Json{{"added", 1}}) << "\n";
  }
  return kExitOk;
}

int CmdRemove(Context& c) {
  if (c.positional.size() != 1) return Fail(c, kExitUsage, "remove: give one MON_NAME");
  std::optional<uint32_t> prog, vers, proc;
  std::string problem;
  if (!ReadCallback(c, &prog, &vers, &proc, &problem)) return Fail(c, kExitUsage, problem);
  const std::optional<std::string> my_name = c.Value("my-name");
  auto st = OpenStore(c, Access::kWrite);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  auto found = (*st)->FindMonitorsByName(c.positional[0]);
  if (!found.ok()) return Fail(c, kExitError, found.status().ToString());
  size_t removed = 0;
  for (const auto& m : *found) {
    if (m.key.mon_name != c.positional[0]) continue;  // exact name: use forget for aliases
    if (my_name && m.key.my_name != *my_name) continue;
    if ((prog && m.key.my_prog != *prog) || (vers && m.key.my_vers != *vers) ||
        (proc && m.key.my_proc != *proc)) {
      continue;
    }
    Result<bool> r = RemoveSync(**st, m.key);
    if (!r.ok()) return Fail(c, kExitError, r.status().ToString());
    if (*r) ++removed;
  }
  if (c.json) {
    *c.out << control::DumpJson(Json{{"removed", removed}}) << "\n";
  } else {
    *c.out << "removed " << removed << " monitor(s)\n";
  }
  if (removed == 0) return Fail(c, kExitNotFound, "no monitor of " + c.positional[0] + " matched");
  return kExitOk;
}

int CmdForget(Context& c) {
  if (c.positional.size() != 1) return Fail(c, kExitUsage, "forget: give one PEER");
  const std::string peer = c.positional[0];
  auto st = OpenStore(c, Access::kWrite);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  auto found = (*st)->FindMonitorsByName(peer);
  if (!found.ok()) return Fail(c, kExitError, found.status().ToString());
  size_t monitors = 0, notify = 0;
  for (const auto& m : *found) {
    Result<bool> r = RemoveSync(**st, m.key);
    if (!r.ok()) return Fail(c, kExitError, r.status().ToString());
    if (*r) ++monitors;
  }
  auto list = (*st)->ListNotify();
  if (!list.ok()) return Fail(c, kExitError, list.status().ToString());
  const std::string key = store::NameKey(peer);
  for (const auto& e : *list) {
    if (store::NameKey(e.mon_name) != key) continue;
    Status s = (*st)->NotifyDone(e.mon_name, e.my_name);
    if (!s.ok()) return Fail(c, kExitError, s.ToString());
    ++notify;
  }
  if (c.json) {
    *c.out << control::DumpJson(Json{{"monitors", monitors}, {"notify", notify}}) << "\n";
  } else {
    *c.out << "forgot " << peer << ": " << monitors << " monitor(s), " << notify << " notify entr"
           << (notify == 1 ? "y" : "ies") << "\n";
  }
  if (monitors + notify == 0) return Fail(c, kExitNotFound, "nothing is known about " + peer);
  return kExitOk;
}

int CmdImport(Context& c) {
  const std::optional<std::string> legacy = c.Value("legacy");
  if (legacy && !c.positional.empty()) {
    return Fail(c, kExitUsage, "import: give either FILE or --legacy DIR");
  }
  if (!legacy && c.Flag("skip-invalid")) {
    return Fail(c, kExitUsage, "--skip-invalid applies to import --legacy only");
  }
  Dump d;
  std::string from;
  size_t skipped = 0;
  if (legacy) {
    from = *legacy;
    Result<LegacyDir> r = ReadLegacyDir(*legacy);
    if (!r.ok()) {
      const Code code = r.status().code();
      return Fail(c,
                  code == Code::kPermission ? kExitPermission
                  : code == Code::kNotFound ? kExitBadInput
                                            : kExitError,
                  "import --legacy: " + r.status().message());
    }
    skipped = r->problems.size();
    for (const auto& p : r->problems) *c.err << "statdctl: " << *legacy << "/" << p << "\n";
    if (!r->problems.empty() && !c.Flag("skip-invalid")) {
      return Fail(c, kExitBadInput,
                  std::to_string(r->problems.size()) + " problem(s) in " + *legacy +
                      "; nothing imported (--skip-invalid imports the rest)");
    }
    d = std::move(r->data);
  } else {
    const std::string path = c.positional.empty() ? "-" : c.positional[0];
    from = path == "-" ? "standard input" : path;
    std::string text;
    if (path == "-") {
      std::ostringstream os;
      os << c.in->rdbuf();
      text = os.str();
    } else {
      std::ifstream f(path, std::ios::binary);
      if (!f) {
        const int err = errno;
        return Fail(c, err == EACCES ? kExitPermission : kExitBadInput,
                    ErrnoStatus("cannot read " + path, err).message());
      }
      text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    if (text.size() > kMaxImport) return Fail(c, kExitBadInput, from + " is too large");
    Result<Json> j = control::ParseJson(text);
    if (!j.ok()) return Fail(c, kExitBadInput, from + ": " + j.status().message());
    Result<Dump> parsed = DumpFromJson(*j);
    if (!parsed.ok()) return Fail(c, kExitBadInput, from + ": " + parsed.status().message());
    d = std::move(*parsed);
  }
  auto st = OpenStore(c, Access::kCreate);
  if (!st.ok()) return Fail(c, StoreExitCode(st.status()), st.status().message());
  Result<ImportReport> r = ImportDump(**st, d);
  if (!r.ok()) {
    const int code = r.status().code() == Code::kPermission ? kExitPermission : kExitError;
    return Fail(c, code, r.status().message());
  }
  return ReportImport(c, *r, from, skipped);
}

}  // namespace nsm::ctl::internal
