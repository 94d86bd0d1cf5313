// Small-file mechanics for the readers and writers of state directories (nfs-utils'
// sm/, sm.bak/ and `state`: notify/legacy_dir.h for sm-notify, ctl/legacy.h for
// statdctl and rpc.statd's first-start import): listing a directory, reading a small
// regular file, syncing a directory, replacing a file atomically. Only the mechanics:
// which errors stop a caller, which names it accepts and what it makes of a file's
// content stay with the caller.
//
// Threading: plain blocking system calls, no shared state. Errors: Status whose
// message names the path; from a failed system call the codes of ErrnoStatus
// (kNotFound for ENOENT, kPermission for EACCES/EPERM/EROFS, kNoSpace, else kIoError);
// kInvalidArgument for a file that is not regular or is too large.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nsm::files {

enum class DotFiles { kSkip, kInclude };

// The names in `dir`, sorted, without "." and "..". Names that start with '.' (hidden
// and temporary files, AtomicWrite's among them) are left out unless kInclude. A
// missing `dir` is kNotFound.
Result<std::vector<std::string>> ListNames(const std::string& dir,
                                           DotFiles dot_files = DotFiles::kSkip);

// True when ListNames(dir, dot_files) would list at least one name; stops at the first
// (a directory of 10,000 files is not read to the end). False when `dir` cannot be read.
bool HasNames(const std::string& dir, DotFiles dot_files = DotFiles::kSkip);

enum class Symlinks { kRefuse, kFollow };

// The whole content of the regular file `path` if it holds at most `limit` bytes, and,
// when `mtime` is not null, its modification time (Unix seconds). A symlink at `path`
// is an error (ELOOP) unless kFollow (configuration files), a FIFO does not block the
// open; a file that is not regular, or larger than `limit` (also when it grows while
// read), is kInvalidArgument.
Result<std::string> ReadSmallFile(const std::string& path, size_t limit, int64_t* mtime = nullptr,
                                  Symlinks symlinks = Symlinks::kRefuse);

// ReadSmallFile of `name` in the directory open as `dir_fd` (openat(2): no path walk
// per file, for readers of thousands of files); `dir` names it in error messages.
Result<std::string> ReadSmallFileAt(int dir_fd, const std::string& dir, const std::string& name,
                                    size_t limit, int64_t* mtime = nullptr);

// fsync(2) of the directory `dir`, so that the entries created, renamed or removed in
// it survive a crash.
Status FsyncDir(const std::string& dir);

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct AtomicWriteOptions {
  mode_t mode = 0600;
  // Set the mode exactly (fchmod); otherwise the process umask narrows it.
  bool exact_mode = false;
  // Owner given to the file (fchown, needs the privilege); unset: the writer's.
  std::optional<Owner> owner = std::nullopt;
  // fsync `dir` after the rename, so that the new file itself survives a crash.
  bool sync_dir = false;
};

// Replaces dir/name with `content`: writes the temporary dir/.name.new (a stale one is
// removed first; created with O_EXCL, so never through a symlink), sets its owner and
// mode, fsyncs it, renames it over dir/name and, with sync_dir, fsyncs `dir`. Readers
// that skip dot files never see the temporary file. On failure it is removed and
// dir/name is left as it was (unless only the directory fsync failed).
Status AtomicWrite(const std::string& dir, const std::string& name, std::string_view content,
                   const AtomicWriteOptions& opts = {});

}  // namespace nsm::files
