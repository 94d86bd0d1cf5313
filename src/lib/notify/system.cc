// Boot marker, kernel control files, node name and nsm-only options (see system.h).
#include "notify/system.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>

namespace nsm::notify {

Result<bool> MarkRunThisBoot(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    return ErrnoStatus("cannot create " + path, errno);
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  ssize_t n = write(fd, pid.data(), pid.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(pid.size())) return ErrnoStatus("cannot write " + path, err);
  return true;
}

Result<ControlFile> ControlFile::OpenIfExists(const std::string& path) {
  ControlFile f;
  f.path_ = path;
  f.fd_ = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (f.fd_ < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return f;
    return ErrnoStatus("cannot open " + path, errno);
  }
  return f;
}

ControlFile& ControlFile::operator=(ControlFile&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

ControlFile::~ControlFile() { Close(); }

void ControlFile::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Status ControlFile::Write(std::string_view text) {
  if (fd_ < 0) return Status(Code::kNotFound, path_ + " is not open");
  ssize_t n = write(fd_, text.data(), text.size());
  int err = errno;
  Close();
  if (n != static_cast<ssize_t>(text.size())) return ErrnoStatus("cannot write " + path_, err);
  return Status::Ok();
}

std::string NodeName() {
  utsname u{};
  if (uname(&u) != 0) return "";
  return u.nodename;
}

namespace {

// Whether argument `arg` of the nfs-utils command line ("dm:np:v:P:f" plus --config
// FILE) leaves the next argument to be its option's value.
bool TakesNextArgument(const char* arg) {
  if (std::strcmp(arg, "--config") == 0) return true;
  if (arg[0] != '-' || arg[1] == '-' || arg[1] == '\0') return false;
  for (const char* c = arg + 1; *c != '\0'; ++c) {
    if (std::strchr("mpvP", *c) != nullptr) return c[1] == '\0';
  }
  return false;
}

}  // namespace

NsmArgs SplitNsmArgs(int argc, char** argv) {
  NsmArgs out;
  bool options_end = false;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && !options_end) {
      if (std::strcmp(argv[i], "--") == 0) {
        options_end = true;
      } else if (std::strcmp(argv[i], "--keep-list") == 0) {
        out.keep_list = true;
        continue;
      } else if (TakesNextArgument(argv[i]) && i + 1 < argc) {
        out.argv.push_back(argv[i]);
        out.argv.push_back(argv[++i]);
        continue;
      }
    }
    out.argv.push_back(argv[i]);
  }
  out.argv.push_back(nullptr);
  return out;
}

std::string NsmArgsUsage() {
  return "            [--keep-list]   notify without consuming the notify list\n";
}

}  // namespace nsm::notify
