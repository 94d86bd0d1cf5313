// The nfs-utils on-disk record format (nsm-reference.md section 3), as pure functions
// with no file system access, so that they can be fuzzed: one record file of sm/ or
// sm.bak/ (one line per monitor), the 4-byte `state` file, and the rule for the file
// names nfs-utils would accept.
//
//   0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 127.1.0.1 vm
//   <callback addr hex> <prog hex> <vers hex> <proc hex> <priv 32 hex> <mon_name> <my_name>
//
// Threading: pure functions. Errors: never fatal for a whole file; every line that is
// not a record is reported in LegacyParse::errors and skipped.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nsm::notify {

struct LegacyRecord {
  // The first field as written: nfs-utils prints the network-order IPv4 s_addr as a
  // host integer ("0100007f" for 127.0.0.1 on little-endian machines). Unused by
  // sm-notify (it is the address of the local lockd), kept for faithful rewrites.
  uint32_t callback_addr = 0;
  uint32_t prog = 0;
  uint32_t vers = 0;
  uint32_t proc = 0;
  std::array<uint8_t, 16> priv{};
  std::string mon_name;
  std::string my_name;
  std::string line;  // the line as read, without its end of line (for rewrites)
};

struct LegacyParse {
  std::vector<LegacyRecord> records;
  std::vector<std::string> errors;  // "line N: reason"
};

// Largest record file the directory loader reads (a file holds one line per callback
// of one host; nfs-utils lines are at most ~2.1 kB).
inline constexpr size_t kMaxLegacyFileSize = 1 << 20;

// Parses the content of one record file. Lines end with '\n' (a final line without
// one is accepted; a trailing '\r' is ignored); blank lines are skipped. A record
// line has exactly seven fields separated by blanks (space or tab): four hex numbers
// of 1..8 digits, a 32-digit hex priv, then mon_name and my_name, which must be valid
// names (store::ValidName: 1..1024 printable ASCII bytes, no '/', no leading '.').
// nfs-utils' own sscanf parser accepts a superset of what it writes; this one accepts
// everything nfs-utils, CTDB and Pacemaker write, and nothing with unsafe names.
LegacyParse ParseLegacyRecords(std::string_view content);

// Whether `name` can be the name of a record file (and so of a peer): a valid name as
// above. nfs-utils skips names starting with '.', which is also where its own
// temporary files (".<name>.new") live.
bool ValidLegacyFileName(std::string_view name);

// The `state` file: a raw 4-byte native-endian int. nullopt when shorter than 4 bytes
// (nfs-utils then starts again from 1). Bytes beyond the fourth are ignored.
std::optional<uint32_t> ParseLegacyState(std::string_view bytes);
std::string EncodeLegacyState(uint32_t state);

// nfs-utils' rule for the state number at sm-notify start: unknown (missing or short
// file) -> 1 and forced update; even -> +1; then +2 if `bump`. Returns the state and
// whether it must be written back.
struct LegacyStateStep {
  uint32_t state = 0;
  bool write = false;
};
LegacyStateStep NextLegacyState(std::optional<uint32_t> current, bool bump);

}  // namespace nsm::notify
