// nfs-utils' on-disk record format (nsm-reference.md section 3), as pure functions with
// no file system access, so that they can be fuzzed: one record file of sm/ or sm.bak/
// (one line per monitor), one line as nfs-utils writes it, the 4-byte `state` file and
// the rule for the file names nfs-utils would accept. The directory readers and
// writers are notify/legacy_dir.h (sm-notify) and ctl/legacy.h (statdctl, rpc.statd's
// first-start import); the file mechanics they share are base/files.h.
//
//   0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 127.1.0.1 vm
//   <callback addr hex> <prog hex> <vers hex> <proc hex> <priv 32 hex> <mon_name> <my_name>
//
// Threading: pure functions. Errors: never fatal for a whole file; every line that is
// not a record is reported in ParsedFile::errors and skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "store/store.h"

namespace nsm::legacy {

struct Record {
  // The first field as written: nfs-utils prints the network-order IPv4 s_addr of the
  // local lockd as a host integer ("0100007f" for 127.0.0.1 on little-endian
  // machines). Unused by sm-notify; statdctl imports it as the caller.
  uint32_t callback_addr = 0;
  uint32_t prog = 0;
  uint32_t vers = 0;
  uint32_t proc = 0;
  store::Priv priv{};
  std::string mon_name;
  std::string my_name;
  // The line as read, without its end of line (for faithful rewrites). Not used by
  // FormatLine.
  std::string line;
};

struct ParsedFile {
  std::vector<Record> records;
  std::vector<std::string> errors;  // "line N: reason"
};

// Largest record file the directory readers read (a file holds one line per callback
// of one host; nfs-utils lines are at most ~2.1 kB), and largest `state` file.
inline constexpr size_t kMaxFileSize = 1 << 20;
inline constexpr size_t kMaxStateFileSize = 4096;

// Parses the content of one record file. Lines end with '\n' (a final line without
// one is accepted; one '\r' before it is ignored); lines of blanks are skipped. A
// record line has exactly seven fields separated by runs of blanks (space or tab;
// leading and trailing blanks are allowed): four hex numbers of 1..8 digits (nfs-utils
// reads them with sscanf "%8x"), a 32-digit hex priv, then mon_name and my_name, which
// must be valid names (store::ValidName: 1..1024 printable ASCII bytes, no '/', no
// leading '.'). nfs-utils' own sscanf parser accepts a superset of what it writes;
// this one accepts everything nfs-utils, CTDB and Pacemaker write, and nothing with
// unsafe names.
ParsedFile ParseRecords(std::string_view content);

// One line, with or without its end of line ("\n" or "\r\n"), by the same rules.
// kInvalidArgument with the reason (the text ParseRecords puts after "line N: ").
Result<Record> ParseLine(std::string_view line);

// "%08x %08x %08x %08x <priv: 32 lower-case hex> <mon_name> <my_name>\n", as nfs-utils
// writes it. The names are not checked (the caller's come from the store).
std::string FormatLine(const Record& r);

// The priv field <-> its 16 bytes ("00112233..." in lower case; either case is read).
std::string PrivToHex(const store::Priv& priv);
std::optional<store::Priv> PrivFromHex(std::string_view hex);

// The callback address field <-> dotted IPv4 text ("127.0.0.1" <-> 0x0100007f on x86).
uint32_t CallbackAddrFromIpv4(std::string_view ipv4);  // 127.0.0.1 when not IPv4
std::string Ipv4FromCallbackAddr(uint32_t addr);

// Whether `name` can be the name of a record file (and so of a peer): a valid name as
// above. nfs-utils skips names starting with '.', which is also where its own
// temporary files (".<name>.new") live.
bool ValidFileName(std::string_view name);

// The `state` file: a raw 4-byte native-endian int. nullopt when shorter than 4 bytes
// (nfs-utils then starts again from 1). Bytes beyond the fourth are ignored.
std::optional<uint32_t> ParseState(std::string_view bytes);
std::string EncodeState(uint32_t state);

// nfs-utils' rule for the state number at sm-notify start: unknown (missing or short
// file) -> 1 and forced update; even -> +1; then +2 if `bump`. Returns the state and
// whether it must be written back.
struct StateStep {
  uint32_t state = 0;
  bool write = false;
};
StateStep NextState(std::optional<uint32_t> current, bool bump);

}  // namespace nsm::legacy
