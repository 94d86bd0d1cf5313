// File-system side of legacy (nfs-utils) state directories: sm-notify's policy. The
// format itself is legacy/format.h, the file mechanics base/files.h.
#include "notify/legacy_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"

namespace nsm::notify {
namespace {

constexpr const char* kMonitorDir = "sm";
constexpr const char* kNotifyDir = "sm.bak";
constexpr const char* kStateFile = "state";

void ListSubdir(const std::string& base, const char* sub, bool notify_dir, LegacyListing* out) {
  const std::string dir = base + "/" + sub;
  Result<std::vector<std::string>> listed = files::ListNames(dir);
  if (!listed.ok()) {
    // A missing sub-directory is an empty one.
    if (listed.status().code() != Code::kNotFound) {
      out->warnings.push_back(listed.status().message());
    }
    return;
  }
  for (std::string& name : *listed) {
    if (legacy::ValidFileName(name)) {
      out->files.push_back(LegacyFile{std::move(name), notify_dir});
    } else {
      out->warnings.push_back(dir + ": skipping file with an invalid host name");
    }
  }
}

}  // namespace

bool HasLegacyFiles(const std::string& dir) {
  struct stat st {};
  if (lstat((dir + "/" + kStateFile).c_str(), &st) == 0) return true;
  for (const char* sub : {kNotifyDir, kMonitorDir}) {
    if (files::HasNames(dir + "/" + sub)) return true;
  }
  return false;
}

Result<LegacyListing> ListLegacyDir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("cannot stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status(Code::kInvalidArgument, dir + " is not a directory");
  LegacyListing out;
  ListSubdir(dir, kNotifyDir, true, &out);
  ListSubdir(dir, kMonitorDir, false, &out);
  Result<std::string> state =
      files::ReadSmallFile(dir + "/" + kStateFile, legacy::kMaxStateFileSize);
  if (state.ok()) {
    out.state = legacy::ParseState(*state);
    if (!out.state) out.warnings.push_back(dir + "/state is shorter than 4 bytes");
  } else if (lstat((dir + "/" + kStateFile).c_str(), &st) == 0) {
    out.warnings.push_back(state.status().message());
  }
  return out;
}

void ReadLegacyFiles(const std::string& dir, const std::vector<LegacyFile>& files,
                     std::vector<LegacyEntry>* entries, std::vector<std::string>* warnings) {
  // One descriptor per sub-directory: openat(2) saves a path walk per file.
  struct Sub {
    std::string path;
    int fd = -1;
    bool tried = false;
  } subs[2] = {{dir + "/" + kMonitorDir}, {dir + "/" + kNotifyDir}};
  for (const LegacyFile& f : files) {
    Sub& sub = subs[f.in_notify_dir ? 1 : 0];
    if (!sub.tried) {
      sub.tried = true;
      sub.fd = open(sub.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sub.fd < 0) warnings->push_back(ErrnoStatus("cannot open " + sub.path, errno).message());
    }
    if (sub.fd < 0) continue;  // reported once above
    Result<std::string> text =
        files::ReadSmallFileAt(sub.fd, sub.path, f.name, legacy::kMaxFileSize);
    if (!text.ok()) {
      warnings->push_back("skipping " + text.status().message());
      continue;
    }
    legacy::ParsedFile parsed = legacy::ParseRecords(*text);
    for (const std::string& e : parsed.errors) {
      warnings->push_back(sub.path + "/" + f.name + ": " + e);
    }
    if (parsed.records.empty()) {
      if (!parsed.errors.empty()) continue;  // garbage only: nothing to trust
      LegacyEntry e;
      e.file = f.name;
      e.in_notify_dir = f.in_notify_dir;
      entries->push_back(std::move(e));
      continue;
    }
    for (legacy::Record& rec : parsed.records) {
      LegacyEntry e;
      e.file = f.name;
      e.in_notify_dir = f.in_notify_dir;
      e.has_record = true;
      e.record = std::move(rec);
      entries->push_back(std::move(e));
    }
  }
  for (const Sub& sub : subs) {
    if (sub.fd >= 0) close(sub.fd);
  }
}

Status RemoveLegacyNotified(const std::string& dir, std::string_view file,
                            std::string_view mon_name, std::string_view my_name) {
  if (!legacy::ValidFileName(file)) {
    return Status(Code::kInvalidArgument, "invalid record file name");
  }
  const std::string sub = dir + "/" + kNotifyDir;
  const std::string path = sub + "/" + std::string(file);
  Result<std::string> text = files::ReadSmallFile(path, legacy::kMaxFileSize);
  if (!text.ok()) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 && errno == ENOENT) return Status::Ok();
    return text.status();
  }
  legacy::ParsedFile parsed = legacy::ParseRecords(*text);
  if (!parsed.errors.empty()) {
    // nfs-utils refuses to rewrite a file it cannot parse; so do we.
    return Status(Code::kCorruption, path + ": " + parsed.errors.front() + "; left as is");
  }
  std::string kept;
  bool removed = false;
  for (const legacy::Record& r : parsed.records) {
    if (r.mon_name == mon_name && r.my_name == my_name) {
      removed = true;
      continue;
    }
    kept += r.line;
    kept += '\n';
  }
  if (kept.empty()) {
    // No fsync of the directory: a removal lost in a crash only means the peer is
    // notified once more, which is harmless; 10,000 directory syncs are not.
    if ((removed || mon_name.empty()) && unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot remove " + path, errno);
    }
    return Status::Ok();
  }
  if (!removed) return Status::Ok();
  // The remaining lines must survive a crash (the temporary file is synced before the
  // rename); whether the rename itself does is not important, as above.
  return files::AtomicWrite(sub, std::string(file), kept, {.mode = 0600});
}

Status WriteLegacyState(const std::string& dir, uint32_t state) {
  return files::AtomicWrite(dir, kStateFile, legacy::EncodeState(state),
                            {.mode = 0644, .sync_dir = true});
}

}  // namespace nsm::notify
