// Fuzz target legacy_sm: the parsers of nfs-utils' state directory files
// (src/lib/notify/legacy_format.h): one sm/ or sm.bak/ record file, the file-name
// rule and the 4-byte `state` file, all fed the same input. Checks:
//  - every non-blank line becomes exactly one record or one error;
//  - a record's names pass store::ValidName (no '/', no leading '.', printable);
//  - a record's own line parses back to the same record, and so does the line
//    nfs-utils would write for it ("%08x %08x %08x %08x <priv hex> mon_name my_name");
//  - the state file round-trips through EncodeLegacyState, and NextLegacyState always
//    gives an odd state, written back exactly when it changed or was unknown.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "notify/legacy_format.h"
#include "store/store.h"

namespace {

using nsm::notify::LegacyRecord;

bool SameFields(const LegacyRecord& a, const LegacyRecord& b) {
  return a.callback_addr == b.callback_addr && a.prog == b.prog && a.vers == b.vers &&
         a.proc == b.proc && a.priv == b.priv && a.mon_name == b.mon_name && a.my_name == b.my_name;
}

std::string NfsUtilsLine(const LegacyRecord& r) {
  char head[64];
  std::snprintf(head, sizeof head, "%08x %08x %08x %08x ", r.callback_addr, r.prog, r.vers, r.proc);
  std::string line = head;
  for (uint8_t b : r.priv) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", b);
    line += hex;
  }
  return line + " " + r.mon_name + " " + r.my_name + "\n";
}

size_t NonBlankLines(std::string_view s) {
  size_t n = 0, pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string_view::npos) end = s.size();
    std::string_view line = s.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) ++n;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace notify = nsm::notify;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  notify::LegacyParse p = notify::ParseLegacyRecords(in);
  FUZZ_CHECK(p.records.size() + p.errors.size() == NonBlankLines(in));
  for (const std::string& e : p.errors) FUZZ_CHECK(e.rfind("line ", 0) == 0);
  for (const LegacyRecord& r : p.records) {
    FUZZ_CHECK(nsm::store::ValidName(r.mon_name) && nsm::store::ValidName(r.my_name));
    FUZZ_CHECK(r.line.find('\n') == std::string::npos);
    notify::LegacyParse again = notify::ParseLegacyRecords(r.line);
    FUZZ_CHECK(again.errors.empty() && again.records.size() == 1);
    FUZZ_CHECK(SameFields(again.records[0], r) && again.records[0].line == r.line);
    notify::LegacyParse canonical = notify::ParseLegacyRecords(NfsUtilsLine(r));
    FUZZ_CHECK(canonical.errors.empty() && canonical.records.size() == 1);
    FUZZ_CHECK(SameFields(canonical.records[0], r));
  }

  FUZZ_CHECK(notify::ValidLegacyFileName(in) == nsm::store::ValidName(in));

  std::optional<uint32_t> state = notify::ParseLegacyState(in);
  FUZZ_CHECK(state.has_value() == (size >= 4));
  if (state) FUZZ_CHECK(notify::EncodeLegacyState(*state) == in.substr(0, 4));
  for (bool bump : {false, true}) {
    notify::LegacyStateStep step = notify::NextLegacyState(state, bump);
    FUZZ_CHECK(step.state % 2 == 1);
    FUZZ_CHECK(step.write == (bump || !state));
    if (state && *state % 2 == 1 && !bump) FUZZ_CHECK(step.state == *state);
  }
  return 0;
}
