// The small system-facing pieces of sm-notify: the once-per-boot marker, the kernel
// control files (lockd's grace period, the kernel's copy of the NSM state), our node
// name, and the command-line options nsm adds to nfs-utils' set.
//
// Threading: plain blocking calls; call from the main thread at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nsm::notify {

// nfs-utils' marker that sm-notify ran since boot (/run is a tmpfs).
inline constexpr const char* kBootMarker = "/run/sm-notify.pid";
inline constexpr const char* kEndGraceFile = "/proc/fs/lockd/nlm_end_grace";
inline constexpr const char* kKernelStateFile = "/proc/sys/fs/nfs/nsm_local_state";

// Creates `path` exclusively (never through a symlink) holding our pid, and leaves it
// there: it records that sm-notify ran this boot, like nfs-utils' record_pid(). Not a
// lock (privsep::Pidfile is one, and removes its file at exit, which would defeat the
// purpose). Returns true when this call created it, false when it already existed.
Result<bool> MarkRunThisBoot(const std::string& path);

// A kernel control file opened early (while still root) and written later (after
// dropping privileges). A missing file is not an error: is_open() is false.
class ControlFile {
 public:
  ControlFile() = default;
  static Result<ControlFile> OpenIfExists(const std::string& path);
  ControlFile(ControlFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  ControlFile& operator=(ControlFile&& o) noexcept;
  ControlFile(const ControlFile&) = delete;
  ControlFile& operator=(const ControlFile&) = delete;
  ~ControlFile();

  bool is_open() const { return fd_ >= 0; }
  Status Write(std::string_view text);  // one write(2); closes the file
  void Close();

 private:
  int fd_ = -1;
  std::string path_;
};

// The UTS node name (what Linux lockd sends as my_name).
std::string NodeName();

// nsm's additions to the nfs-utils command line, removed from argv before the shared
// nfs-utils-compatible parser sees it:
//   --keep-list  notify without consuming the list (no peer is removed, no failure
//                recorded); the state number is still bumped unless -n.
struct NsmArgs {
  bool keep_list = false;
  std::vector<char*> argv;  // the remaining arguments, argv[argc] == nullptr
  int argc() const { return static_cast<int>(argv.size()) - 1; }
};
NsmArgs SplitNsmArgs(int argc, char** argv);
// Usage lines for the additions (appended to the nfs-utils usage text).
std::string NsmArgsUsage();

}  // namespace nsm::notify
