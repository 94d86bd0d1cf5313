// File-system side of legacy (nfs-utils) state directories: sm-notify's policy. The
// format itself is legacy/format.h, the file mechanics base/files.h.
#include "notify/legacy_dir.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"

namespace nsm::notify {
namespace {

constexpr const char* kMonitorDir = "sm";
constexpr const char* kNotifyDir = "sm.bak";
constexpr const char* kStateFile = "state";

void LoadSubdir(const std::string& base, const char* sub, bool notify_dir, LegacyDir* out) {
  const std::string dir = base + "/" + sub;
  Result<std::vector<std::string>> names = files::ListNames(dir);
  if (!names.ok()) {
    // A missing sub-directory is an empty one.
    if (names.status().code() != Code::kNotFound) out->warnings.push_back(names.status().message());
    return;
  }
  for (const std::string& name : *names) {
    if (!legacy::ValidFileName(name)) {
      out->warnings.push_back(dir + ": skipping file with an invalid host name");
      continue;
    }
    Result<std::string> text = files::ReadSmallFile(dir + "/" + name, legacy::kMaxFileSize);
    if (!text.ok()) {
      out->warnings.push_back("skipping " + text.status().message());
      continue;
    }
    legacy::ParsedFile parsed = legacy::ParseRecords(*text);
    for (const std::string& e : parsed.errors) {
      out->warnings.push_back(dir + "/" + name + ": " + e);
    }
    if (parsed.records.empty()) {
      if (!parsed.errors.empty()) continue;  // garbage only: nothing to trust
      LegacyEntry e;
      e.file = name;
      e.in_notify_dir = notify_dir;
      out->entries.push_back(std::move(e));
      continue;
    }
    for (legacy::Record& r : parsed.records) {
      LegacyEntry e;
      e.file = name;
      e.in_notify_dir = notify_dir;
      e.has_record = true;
      e.record = std::move(r);
      out->entries.push_back(std::move(e));
    }
  }
}

}  // namespace

bool HasLegacyFiles(const std::string& dir) {
  struct stat st {};
  if (lstat((dir + "/" + kStateFile).c_str(), &st) == 0) return true;
  for (const char* sub : {kNotifyDir, kMonitorDir}) {
    Result<std::vector<std::string>> names = files::ListNames(dir + "/" + sub);
    if (names.ok() && !names->empty()) return true;
  }
  return false;
}

Result<LegacyDir> LoadLegacyDir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("cannot stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status(Code::kInvalidArgument, dir + " is not a directory");
  LegacyDir out;
  LoadSubdir(dir, kNotifyDir, true, &out);
  LoadSubdir(dir, kMonitorDir, false, &out);
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
