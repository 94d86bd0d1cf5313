// File-system side of legacy (nfs-utils) state directories; the format itself is
// legacy/format.h.
#include "notify/legacy_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace nsm::notify {
namespace {

constexpr const char* kMonitorDir = "sm";
constexpr const char* kNotifyDir = "sm.bak";
constexpr const char* kStateFile = "state";

// Lists regular-looking entries (not starting with '.') of dir; nullopt if the
// directory is missing. Sorted for a deterministic order.
Result<std::vector<std::string>> ListNames(const std::string& dir, bool* missing) {
  *missing = false;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      *missing = true;
      return std::vector<std::string>{};
    }
    return ErrnoStatus("cannot open " + dir, errno);
  }
  std::vector<std::string> names;
  while (dirent* de = readdir(d)) {
    if (de->d_name[0] == '.') continue;
    names.emplace_back(de->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Reads a whole regular file of at most `limit` bytes, without following symlinks.
Result<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus("cannot open " + path, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus("cannot stat " + path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status(Code::kInvalidArgument, path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    close(fd);
    return Status(Code::kInvalidArgument, path + " is too large");
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus("cannot read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      close(fd);
      return Status(Code::kInvalidArgument, path + " is too large");
    }
  }
  close(fd);
  return out;
}

Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open " + dir, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus("fsync " + dir, err);
  return Status::Ok();
}

// Replaces dir/name with content: a temporary ".name.new" (nfs-utils' own temporary
// name, skipped by every reader because of the leading dot), fsync, rename, and, if
// sync_dir, fsync of the directory.
Status AtomicWrite(const std::string& dir, const std::string& name, std::string_view content,
                   mode_t mode, bool sync_dir) {
  const std::string path = dir + "/" + name;
  const std::string tmp = dir + "/." + name + ".new";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("cannot create " + tmp, errno);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoStatus("cannot write " + tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return ErrnoStatus("fsync " + tmp, err);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus("cannot rename " + tmp + " to " + path, err);
  }
  return sync_dir ? FsyncDir(dir) : Status::Ok();
}

void LoadSubdir(const std::string& base, const char* sub, bool notify_dir, LegacyDir* out) {
  const std::string dir = base + "/" + sub;
  bool missing = false;
  Result<std::vector<std::string>> names = ListNames(dir, &missing);
  if (!names.ok()) {
    out->warnings.push_back(names.status().message());
    return;
  }
  for (const std::string& name : *names) {
    if (!legacy::ValidFileName(name)) {
      out->warnings.push_back(dir + ": skipping file with an invalid host name");
      continue;
    }
    Result<std::string> text = ReadSmallFile(dir + "/" + name, legacy::kMaxFileSize);
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
    bool missing = false;
    Result<std::vector<std::string>> names = ListNames(dir + "/" + sub, &missing);
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
  Result<std::string> state = ReadSmallFile(dir + "/" + kStateFile, legacy::kMaxStateFileSize);
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
  Result<std::string> text = ReadSmallFile(path, legacy::kMaxFileSize);
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
  return AtomicWrite(sub, std::string(file), kept, 0600, /*sync_dir=*/false);
}

Status WriteLegacyState(const std::string& dir, uint32_t state) {
  return AtomicWrite(dir, kStateFile, legacy::EncodeState(state), 0644, /*sync_dir=*/true);
}

}  // namespace nsm::notify
