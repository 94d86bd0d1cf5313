// An nfs-utils state directory as sm-notify uses it (-P DIR without nsm's database):
// reading sm/ and sm.bak/ record files and the `state` file, removing a notified
// peer's lines from sm.bak/ the way nfs-utils does, and bumping `state`.
//
// nsm never modifies sm/ (the monitor list of whichever statd writes it) and never
// creates a database in such a directory: see docs/sm-notify.md, "Legacy directories".
//
// Threading: plain blocking file I/O; no shared state. Errors: Status with the path.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "legacy/format.h"

namespace nsm::notify {

// One record of one file. A file with no record line (old CTDB call-outs `touch`
// sm/<client>) yields one entry with has_record = false: a peer known by name only.
struct LegacyEntry {
  std::string file;            // the file name: the peer's name as statd recorded it
  bool in_notify_dir = false;  // sm.bak/ (true) or sm/ (false)
  bool has_record = false;
  legacy::Record record;
};

// A record file of a listing: its name, in sm.bak/ (true) or sm/ (false).
struct LegacyFile {
  std::string name;
  bool in_notify_dir = false;
};

// A directory's record files before any is read, and its `state`.
struct LegacyListing {
  std::vector<LegacyFile> files;      // sm.bak/ first, then sm/; each sorted by name
  std::optional<uint32_t> state;      // nullopt: `state` missing or short
  std::vector<std::string> warnings;  // invalid names, unreadable sub-directories
};

// True when `dir` holds nfs-utils state: a `state` file, or a regular file in sm/ or
// sm.bak/ (dot files ignored).
bool HasLegacyFiles(const std::string& dir);

// Lists sm.bak/ and sm/ and reads `state`. Missing sub-directories are empty; invalid
// names are skipped with a warning. Errors: only when `dir` itself cannot be read.
Result<LegacyListing> ListLegacyDir(const std::string& dir);

// Reads and parses `files` of the listing of `dir`, appending their entries in the
// files' order (a file with several records gives one entry each). Non-regular,
// unreadable or oversized files and bad lines are skipped with a warning.
void ReadLegacyFiles(const std::string& dir, const std::vector<LegacyFile>& files,
                     std::vector<LegacyEntry>* entries, std::vector<std::string>* warnings);

// Removes from sm.bak/<file> every line whose (mon_name, my_name) match, like
// nfs-utils' nsm_delete_notified_host: the rest of the file is rewritten atomically
// (temporary file, fsync, rename), an empty result unlinks the file. A file without
// record lines is unlinked when mon_name is empty. A missing file is not an error.
// The directory is not synced: a removal lost in a crash repeats a notification.
Status RemoveLegacyNotified(const std::string& dir, std::string_view file,
                            std::string_view mon_name, std::string_view my_name);

// Writes `state` atomically (temporary file, fsync, rename, fsync of the directory).
Status WriteLegacyState(const std::string& dir, uint32_t state);

}  // namespace nsm::notify
