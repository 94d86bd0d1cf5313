// Small-file mechanics (see files.h).
#include "base/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace nsm::files {
namespace {

Status TooLarge(const std::string& path, size_t limit) {
  return Status(Code::kInvalidArgument, path + ": larger than " + std::to_string(limit) + " bytes");
}

// ReadSmallFile on an open descriptor, which the caller closes. The first read asks
// for one byte more than fstat's size: getting exactly the size means the whole file
// was read (a regular file reads short only at its end), which saves the read that
// would return 0 (one system call of four per file, for 10,000 files).
Result<std::string> ReadOpenFile(int fd, const std::string& path, size_t limit, int64_t* mtime) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return ErrnoStatus("cannot stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status(Code::kInvalidArgument, path + ": not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > limit) return TooLarge(path, limit);
  if (mtime != nullptr) *mtime = st.st_mtime;
  std::string data;
  char buf[8192];
  for (;;) {
    const size_t want = data.empty() && size < sizeof buf ? size + 1 : sizeof buf;
    const ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read " + path, errno);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > limit) return TooLarge(path, limit);
    if (want == size + 1 && data.size() == size) return data;
  }
}

// Writes, sets owner and mode, and fsyncs the temporary file `tmp` open as `fd`,
// which the caller closes.
Status FillOpenFile(int fd, const std::string& tmp, std::string_view content,
                    const AtomicWriteOptions& opts) {
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write " + tmp, errno);
    off += static_cast<size_t>(n);
  }
  if (opts.owner && fchown(fd, opts.owner->uid, opts.owner->gid) != 0) {
    return ErrnoStatus("cannot chown " + tmp, errno);
  }
  if (opts.exact_mode && fchmod(fd, opts.mode) != 0) {
    return ErrnoStatus("cannot chmod " + tmp, errno);
  }
  if (fsync(fd) != 0) return ErrnoStatus("fsync " + tmp, errno);
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> ListNames(const std::string& dir, DotFiles dot_files) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("cannot open " + dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (dot_files == DotFiles::kSkip && n.front() == '.') continue;
    names.emplace_back(n);
  }
  const int err = errno;
  closedir(d);
  if (err != 0) return ErrnoStatus("cannot read " + dir, err);
  std::sort(names.begin(), names.end());
  return names;
}

bool HasNames(const std::string& dir, DotFiles dot_files) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (const dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (dot_files == DotFiles::kSkip && n.front() == '.') continue;
    found = true;
    break;
  }
  closedir(d);
  return found;
}

Result<std::string> ReadSmallFile(const std::string& path, size_t limit, int64_t* mtime,
                                  Symlinks symlinks) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                        (symlinks == Symlinks::kRefuse ? O_NOFOLLOW : 0));
  if (fd < 0) return ErrnoStatus("cannot open " + path, errno);
  Result<std::string> data = ReadOpenFile(fd, path, limit, mtime);
  close(fd);
  return data;
}

Result<std::string> ReadSmallFileAt(int dir_fd, const std::string& dir, const std::string& name,
                                    size_t limit, int64_t* mtime) {
  const int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus("cannot open " + dir + "/" + name, errno);
  Result<std::string> data = ReadOpenFile(fd, dir + "/" + name, limit, mtime);
  close(fd);
  return data;
}

Status FsyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open " + dir, errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus("fsync " + dir, err);
  return Status::Ok();
}

Status AtomicWrite(const std::string& dir, const std::string& name, std::string_view content,
                   const AtomicWriteOptions& opts) {
  const std::string path = dir + "/" + name;
  const std::string tmp = dir + "/." + name + ".new";
  unlink(tmp.c_str());  // left by a crash
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, opts.mode);
  if (fd < 0) return ErrnoStatus("cannot create " + tmp, errno);
  Status s = FillOpenFile(fd, tmp, content, opts);
  close(fd);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("cannot rename " + tmp + " to " + path, errno);
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return opts.sync_dir ? FsyncDir(dir) : Status::Ok();
}

}  // namespace nsm::files
