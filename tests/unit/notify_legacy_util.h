// Tests' whole read of an nfs-utils directory (sm-notify itself streams it:
// notify_list.h, LegacyStream): ListLegacyDir, then ReadLegacyFiles of every file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "notify/legacy_dir.h"

namespace nsm::notify::test {

struct WholeDir {
  std::vector<LegacyEntry> entries;   // sm.bak/ first, then sm/; each sorted by file name
  std::optional<uint32_t> state;      // nullopt: `state` missing or short
  std::vector<std::string> warnings;  // skipped names, files and lines
};

inline Result<WholeDir> ReadWholeDir(const std::string& dir) {
  Result<LegacyListing> listing = ListLegacyDir(dir);
  if (!listing.ok()) return listing.status();
  WholeDir out;
  out.state = listing->state;
  out.warnings = std::move(listing->warnings);
  ReadLegacyFiles(dir, listing->files, &out.entries, &out.warnings);
  return out;
}

}  // namespace nsm::notify::test
