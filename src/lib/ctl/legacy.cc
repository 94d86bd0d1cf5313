// Reading and writing nfs-utils state directories (see legacy.h): statdctl's policy.
// The line and state formats are legacy/format.h, the file mechanics base/files.h.
#include "ctl/legacy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>

#include "base/files.h"
#include "legacy/format.h"
#include "net/address.h"

namespace nsm::ctl {
namespace {

// The address an nfs-utils record file tells about its host: the mon_name if it is an
// IP literal, else the file name if that is one.
std::vector<std::string> AddressesFor(const std::string& mon_name, const std::string& file) {
  if (auto ip = net::CanonicalIp(mon_name)) return {*ip};
  if (auto ip = net::CanonicalIp(file)) return {*ip};
  return {};
}

struct RecordFile {
  std::string name;
  int64_t mtime = 0;
  std::vector<legacy::Record> lines;
};

// Reads every record file of DIR/sub. A missing sub is no error (found = false).
Status ReadRecordDir(const std::string& dir, const char* sub, std::vector<RecordFile>* out,
                     std::vector<std::string>* problems, bool* found) {
  const std::string path = dir + "/" + sub;
  Result<std::vector<std::string>> names = files::ListNames(path);
  *found = names.ok();
  if (!names.ok()) {
    if (names.status().code() == Code::kNotFound) return Status::Ok();
    return names.status();
  }
  for (const auto& n : *names) {
    const std::string where = std::string(sub) + "/" + n;
    RecordFile f;
    f.name = n;
    Result<std::string> data = files::ReadSmallFile(path + "/" + n, legacy::kMaxFileSize, &f.mtime);
    if (!data.ok()) {
      if (data.status().code() == Code::kPermission) return data.status();
      problems->push_back(where + ": skipped: " + data.status().message());
      continue;
    }
    legacy::ParsedFile parsed = legacy::ParseRecords(*data);
    for (const std::string& e : parsed.errors) problems->push_back(where + " " + e);
    f.lines = std::move(parsed.records);
    out->push_back(std::move(f));
  }
  return Status::Ok();
}

using Owner = std::optional<files::Owner>;

Status ApplyOwner(const std::string& path, const Owner& o) {
  if (o && lchown(path.c_str(), o->uid, o->gid) != 0) return ErrnoStatus("chown " + path, errno);
  return Status::Ok();
}

// Writes DIR/name atomically through DIR/.name.new, with exactly `mode`.
Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view data,
                       const Owner& o, mode_t mode = 0600) {
  return files::AtomicWrite(dir, name, data, {.mode = mode, .exact_mode = true, .owner = o});
}

// Makes DIR/sub exist (mode 0700, owned as requested) and lists its entries, dot files
// included.
Result<std::vector<std::string>> PrepareRecordDir(const std::string& path, const Owner& o) {
  if (mkdir(path.c_str(), 0700) == 0) {
    Status s = ApplyOwner(path, o);
    if (!s.ok()) return s;
  } else if (errno != EEXIST) {
    return ErrnoStatus("mkdir " + path, errno);
  }
  return files::ListNames(path, files::DotFiles::kInclude);
}

// One sm/ or sm.bak/ line as nfs-utils writes it; a caller that is not IPv4 is written
// as 127.0.0.1.
std::string LineFor(const std::string& caller, const store::MonitorKey& key,
                    const store::Priv& priv) {
  legacy::Record r;
  r.callback_addr = legacy::CallbackAddrFromIpv4(caller);
  r.prog = key.my_prog;
  r.vers = key.my_vers;
  r.proc = key.my_proc;
  r.priv = priv;
  r.mon_name = key.mon_name;
  r.my_name = key.my_name;
  return legacy::FormatLine(r);
}

}  // namespace

Result<LegacyDir> ReadLegacyDir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status(Code::kNotFound, dir + ": no such directory");
    return ErrnoStatus(dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Status(Code::kInvalidArgument, dir + ": not a directory");
  LegacyDir out;
  std::vector<RecordFile> sm, bak;
  bool have_sm = false, have_bak = false;
  Status s = ReadRecordDir(dir, "sm", &sm, &out.problems, &have_sm);
  if (s.ok()) s = ReadRecordDir(dir, "sm.bak", &bak, &out.problems, &have_bak);
  if (!s.ok()) return s;

  bool have_state = false;
  Result<std::string> state = files::ReadSmallFile(dir + "/state", legacy::kMaxStateFileSize);
  if (state.ok()) {
    have_state = true;
    out.data.state = legacy::ParseState(*state);
    if (!out.data.state) {
      out.problems.push_back("state: shorter than 4 bytes (" + std::to_string(state->size()) +
                             "); state number not imported");
    }
  } else if (state.status().code() == Code::kPermission) {
    return state.status();
  } else if (state.status().code() != Code::kNotFound) {
    out.problems.push_back("state: " + state.status().message());
  }
  if (!have_sm && !have_bak && !have_state) {
    return Status(Code::kNotFound,
                  dir + ": not an nfs-utils state directory (no state, sm/ or sm.bak/)");
  }

  std::map<std::tuple<std::string, std::string, uint32_t, uint32_t, uint32_t>, size_t> mon_index;
  for (const auto& f : sm) {
    for (const auto& l : f.lines) {
      store::Monitor m;
      m.key = {l.mon_name, l.my_name, l.prog, l.vers, l.proc};
      m.priv = l.priv;
      m.caller = legacy::Ipv4FromCallbackAddr(l.callback_addr);
      m.addresses = AddressesFor(l.mon_name, f.name);
      m.added = f.mtime;
      auto k = std::make_tuple(l.mon_name, l.my_name, l.prog, l.vers, l.proc);
      auto it = mon_index.find(k);
      if (it != mon_index.end()) {
        out.data.monitors[it->second] = std::move(m);
      } else {
        mon_index[k] = out.data.monitors.size();
        out.data.monitors.push_back(std::move(m));
      }
    }
  }
  std::map<std::pair<std::string, std::string>, size_t> notify_index;
  for (const auto& f : bak) {
    for (const auto& l : f.lines) {
      auto k = std::make_pair(l.mon_name, l.my_name);
      auto it = notify_index.find(k);
      store::NotifyEntry* e;
      if (it != notify_index.end()) {
        e = &out.data.notify[it->second];
      } else {
        notify_index[k] = out.data.notify.size();
        e = &out.data.notify.emplace_back();
        e->mon_name = l.mon_name;
        e->my_name = l.my_name;
        e->added = f.mtime;
      }
      for (auto& a : AddressesFor(l.mon_name, f.name)) {
        if (std::find(e->addresses.begin(), e->addresses.end(), a) == e->addresses.end()) {
          e->addresses.push_back(std::move(a));
        }
      }
    }
  }
  return out;
}

Status WriteLegacyDir(const std::string& dir, const Dump& d, const LegacyWriteOptions& opts) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + dir, errno);
  Owner owner;
  if (geteuid() == 0) {
    struct stat st {};
    const std::string sm = dir + "/sm";
    if (stat(sm.c_str(), &st) != 0 && stat(dir.c_str(), &st) != 0) return ErrnoStatus(dir, errno);
    owner = files::Owner{opts.uid.value_or(st.st_uid), opts.gid.value_or(st.st_gid)};
  }

  // Check both directories before writing anything.
  const char* subs[] = {"sm", "sm.bak"};
  for (const char* sub : subs) {
    Result<std::vector<std::string>> names = PrepareRecordDir(dir + "/" + sub, owner);
    if (!names.ok()) return names.status();
    if (!names->empty() && !opts.replace) {
      return Status(Code::kInvalidArgument, dir + "/" + sub + " is not empty (" +
                                                std::to_string(names->size()) +
                                                " entries); refusing to mix records");
    }
  }
  if (opts.replace) {
    for (const char* sub : subs) {
      const std::string path = dir + "/" + sub;
      Result<std::vector<std::string>> names = PrepareRecordDir(path, owner);
      if (!names.ok()) return names.status();
      for (const auto& n : *names) {
        const std::string p = path + "/" + n;
        struct stat st {};
        if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        if (unlink(p.c_str()) != 0) return ErrnoStatus("remove " + p, errno);
      }
    }
  }

  // sm/: one file per mon_name, lines in the dump's order.
  std::map<std::string, std::string> files;
  for (const auto& m : d.monitors) {
    files[m.key.mon_name] += LineFor(m.caller, m.key, m.priv);
  }
  for (const auto& [name, content] : files) {
    Status s = WriteFileAtomic(dir + "/sm", name, content, owner);
    if (!s.ok()) return s;
  }
  // sm.bak/: the peers still to notify.
  files.clear();
  for (const auto& e : d.notify) {
    files[e.mon_name] += LineFor("127.0.0.1", {e.mon_name, e.my_name, 100021, 3, 16}, {});
  }
  for (const auto& [name, content] : files) {
    Status s = WriteFileAtomic(dir + "/sm.bak", name, content, owner);
    if (!s.ok()) return s;
  }
  if (d.state) {
    Status s = WriteFileAtomic(dir, "state", legacy::EncodeState(*d.state), owner, 0644);
    if (!s.ok()) return s;
  }
  for (const std::string& p : {dir + "/sm", dir + "/sm.bak", dir}) {
    Status s = files::FsyncDir(p);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace nsm::ctl
