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

// Reads and parses names[i] into (*out)[i] for every i, on up to kReaders threads
// (the calling one included): with 10,000 peers, reading their files is a quarter of
// sm-notify's start, and the second core has nothing else to do yet.
void ReadAll(int dir_fd, const std::string& dir, const std::vector<std::string>& names,
             std::vector<FileRead>* out) {
  constexpr size_t kReaders = 4, kPerThread = 512, kBlock = 64;
  out->resize(names.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (;;) {
      const size_t begin = next.fetch_add(kBlock);
      if (begin >= names.size()) return;
      for (size_t i = begin; i < std::min(begin + kBlock, names.size()); ++i) {
        Result<std::string> text =
            files::ReadSmallFileAt(dir_fd, dir, names[i], legacy::kMaxFileSize);
        FileRead& r = (*out)[i];
        if (text.ok()) {
          r.parsed = legacy::ParseRecords(*text);
        } else {
          r.error = text.status();
        }
      }
    }
  };
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min({kReaders, cores, 1 + names.size() / kPerThread});
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
}

void LoadSubdir(const std::string& base, const char* sub, bool notify_dir, LegacyDir* out) {
  const std::string dir = base + "/" + sub;
  Result<std::vector<std::string>> listed = files::ListNames(dir);
  if (!listed.ok()) {
    // A missing sub-directory is an empty one.
    if (listed.status().code() != Code::kNotFound) {
      out->warnings.push_back(listed.status().message());
    }
    return;
  }
  std::vector<std::string> names;
  names.reserve(listed->size());
  for (std::string& name : *listed) {
    if (legacy::ValidFileName(name)) {
      names.push_back(std::move(name));
    } else {
      out->warnings.push_back(dir + ": skipping file with an invalid host name");
    }
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    out->warnings.push_back(ErrnoStatus("cannot open " + dir, errno).message());
    return;
  }
  std::vector<FileRead> reads;
  ReadAll(dir_fd, dir, names, &reads);
  close(dir_fd);

  for (size_t i = 0; i < names.size(); ++i) {
    FileRead& r = reads[i];
    if (!r.error.ok()) {
      out->warnings.push_back("skipping " + r.error.message());
      continue;
    }
    for (const std::string& e : r.parsed.errors) {
      out->warnings.push_back(dir + "/" + names[i] + ": " + e);
    }
    if (r.parsed.records.empty()) {
      if (!r.parsed.errors.empty()) continue;  // garbage only: nothing to trust
      LegacyEntry e;
      e.file = names[i];
      e.in_notify_dir = notify_dir;
      out->entries.push_back(std::move(e));
      continue;
    }
    for (legacy::Record& rec : r.parsed.records) {
      LegacyEntry e;
      e.file = names[i];
      e.in_notify_dir = notify_dir;
      e.has_record = true;
      e.record = std::move(rec);
      out->entries.push_back(std::move(e));
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
