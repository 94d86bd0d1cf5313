// File-system side of legacy (nfs-utils) state directories: sm-notify's policy. The
// format itself is legacy/format.h, the file mechanics base/files.h.
#include "notify/legacy_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "base/files.h"

namespace nsm::notify {
namespace {

constexpr const char* kMonitorDir = "sm";
constexpr const char* kNotifyDir = "sm.bak";
constexpr const char* kStateFile = "state";

// One record file as a reader thread left it.
struct FileRead {
  Status error;  // not ok: the file was skipped
  legacy::ParsedFile parsed;
};

// Reads and parses files[i] into (*out)[i] for every i, on up to `threads` threads (the
// calling one included). dir_fd[0] is sm/, dir_fd[1] sm.bak/ (-1: not open).
void ReadAll(const std::string& base, const int dir_fd[2], const std::vector<LegacyFile>& files,
             size_t threads, std::vector<FileRead>* out) {
  constexpr size_t kPerThread = 512, kBlock = 64;
  out->resize(files.size());
  std::atomic<size_t> next{0};
  const std::string dirs[2] = {base + "/" + kMonitorDir, base + "/" + kNotifyDir};
  auto work = [&] {
    for (;;) {
      const size_t begin = next.fetch_add(kBlock);
      if (begin >= files.size()) return;
      for (size_t i = begin; i < std::min(begin + kBlock, files.size()); ++i) {
        const int d = files[i].in_notify_dir ? 1 : 0;
        FileRead& r = (*out)[i];
        if (dir_fd[d] < 0) {
          r.error = Status(Code::kNotFound, "cannot open " + dirs[d]);
          continue;
        }
        Result<std::string> text =
            files::ReadSmallFileAt(dir_fd[d], dirs[d], files[i].name, legacy::kMaxFileSize);
        if (text.ok()) {
          r.parsed = legacy::ParseRecords(*text);
        } else {
          r.error = text.status();
        }
      }
    }
  };
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min({threads, cores, 1 + files.size() / kPerThread});
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
}

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

void ReadLegacyFiles(const std::string& dir, const std::vector<LegacyFile>& files, size_t threads,
                     std::vector<LegacyEntry>* entries, std::vector<std::string>* warnings) {
  int dir_fd[2] = {-1, -1};
  for (int d : {0, 1}) {
    const std::string sub = dir + "/" + (d == 1 ? kNotifyDir : kMonitorDir);
    const bool wanted = std::any_of(files.begin(), files.end(), [d](const LegacyFile& f) {
      return f.in_notify_dir == (d == 1);
    });
    if (!wanted) continue;
    dir_fd[d] = open(sub.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd[d] < 0) warnings->push_back(ErrnoStatus("cannot open " + sub, errno).message());
  }
  std::vector<FileRead> reads;
  ReadAll(dir, dir_fd, files, threads, &reads);
  for (int fd : dir_fd) {
    if (fd >= 0) close(fd);
  }

  for (size_t i = 0; i < files.size(); ++i) {
    const LegacyFile& f = files[i];
    FileRead& r = reads[i];
    if (!r.error.ok()) {
      // A sub-directory that could not be opened was reported once above.
      if (dir_fd[f.in_notify_dir ? 1 : 0] >= 0) {
        warnings->push_back("skipping " + r.error.message());
      }
      continue;
    }
    for (const std::string& e : r.parsed.errors) {
      warnings->push_back(dir + "/" + (f.in_notify_dir ? kNotifyDir : kMonitorDir) + "/" + f.name +
                          ": " + e);
    }
    if (r.parsed.records.empty()) {
      if (!r.parsed.errors.empty()) continue;  // garbage only: nothing to trust
      LegacyEntry e;
      e.file = f.name;
      e.in_notify_dir = f.in_notify_dir;
      entries->push_back(std::move(e));
      continue;
    }
    for (legacy::Record& rec : r.parsed.records) {
      LegacyEntry e;
      e.file = f.name;
      e.in_notify_dir = f.in_notify_dir;
      e.has_record = true;
      e.record = std::move(rec);
      entries->push_back(std::move(e));
    }
  }
}

Result<LegacyDir> LoadLegacyDir(const std::string& dir) {
  Result<LegacyListing> listing = ListLegacyDir(dir);
  if (!listing.ok()) return listing.status();
  LegacyDir out;
  out.state = listing->state;
  out.warnings = std::move(listing->warnings);
  // The second core has nothing else to do yet: with 10,000 peers, reading their
  // files is a quarter of sm-notify's start.
  ReadLegacyFiles(dir, listing->files, /*threads=*/4, &out.entries, &out.warnings);
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
