// Pidfile: open, flock(LOCK_EX|LOCK_NB), check we locked the file that is still at
// the path (a previous owner may have unlinked it meanwhile), write the pid.
#include "privsep/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>

namespace nsm::privsep {
namespace {

Status WritePidTo(int fd) {
  std::string text = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0) return ErrnoStatus("pidfile truncate", errno);
  ssize_t n = pwrite(fd, text.data(), text.size(), 0);
  if (n < 0) return ErrnoStatus("pidfile write", errno);
  if (static_cast<size_t>(n) != text.size()) return Status(Code::kIoError, "pidfile: short write");
  return Status::Ok();
}

}  // namespace

pid_t Pidfile::ReadPid(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  if (n <= 0) return 0;
  long v = std::strtol(buf, nullptr, 10);
  return v > 0 ? static_cast<pid_t>(v) : 0;
}

Result<Pidfile> Pidfile::Acquire(const std::string& path) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return ErrnoStatus("pidfile " + path, errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      close(fd);
      if (err == EWOULDBLOCK) {
        pid_t holder = ReadPid(path);
        return Status(Code::kBusy,
                      "pidfile " + path + " is locked by another instance" +
                          (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()));
      }
      return ErrnoStatus("pidfile lock " + path, err);
    }
    struct stat by_fd, by_path;
    if (fstat(fd, &by_fd) != 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus("pidfile stat " + path, err);
    }
    if (!S_ISREG(by_fd.st_mode)) {
      close(fd);
      return Status(Code::kInvalidArgument, "pidfile " + path + " is not a regular file");
    }
    if (stat(path.c_str(), &by_path) != 0 || by_path.st_ino != by_fd.st_ino ||
        by_path.st_dev != by_fd.st_dev) {
      close(fd);  // we locked a file its previous owner just removed: start over
      continue;
    }
    Pidfile p(path, fd);
    Status s = p.WritePid();
    if (!s.ok()) return s;  // p's destructor closes it, dropping the lock
    return p;
  }
  return Status(Code::kBusy, "pidfile " + path + " keeps being replaced");
}

Pidfile::Pidfile(Pidfile&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), owner_(other.owner_) {
  other.fd_ = -1;
  other.owner_ = -1;
}

Pidfile& Pidfile::operator=(Pidfile&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    owner_ = other.owner_;
    other.fd_ = -1;
    other.owner_ = -1;
  }
  return *this;
}

Status Pidfile::WritePid() {
  if (fd_ < 0) return Status(Code::kInvalidArgument, "pidfile not held");
  Status s = WritePidTo(fd_);
  if (s.ok()) owner_ = getpid();
  return s;
}

void Pidfile::Release() {
  if (fd_ < 0) return;
  if (owner_ == getpid()) {
    // Unlink while still holding the lock, so no one can lock the old inode after us
    // without noticing (Acquire compares the inode with the path's).
    if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
      if (ftruncate(fd_, 0) != 0) {
        // Nothing more to do: the lock goes away with the descriptor below.
      }
    }
  }
  close(fd_);
  fd_ = -1;
  owner_ = -1;
}

void Pidfile::Abandon() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  owner_ = -1;
}

}  // namespace nsm::privsep
