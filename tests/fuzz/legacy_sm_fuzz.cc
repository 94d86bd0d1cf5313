// Fuzz target legacy_sm: nfs-utils' on-disk record format (src/lib/legacy/format.h):
// one sm/ or sm.bak/ record file, one line, the file-name rule and the 4-byte `state`
// file, all fed the same input. Checks:
//  - every non-blank line becomes exactly one record or one error;
//  - a record's names pass store::ValidName (no '/', no leading '.', printable);
//  - a record's own line parses back to the same record, and so does the line
//    nfs-utils would write for it ("%08x %08x %08x %08x <priv hex> mon_name my_name"),
//    which is what FormatLine writes; the priv and callback address fields round-trip;
//  - an input of one line gets the same verdict (and reason) from ParseLine as from
//    ParseRecords;
//  - the state file round-trips through EncodeState, and NextState always gives an
//    odd state, written back exactly when it changed or was unknown.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "legacy/format.h"
#include "store/store.h"

namespace {

namespace legacy = nsm::legacy;

bool SameFields(const legacy::Record& a, const legacy::Record& b) {
  return a.callback_addr == b.callback_addr && a.prog == b.prog && a.vers == b.vers &&
         a.proc == b.proc && a.priv == b.priv && a.mon_name == b.mon_name && a.my_name == b.my_name;
}

// An independent oracle: nfs-utils' fprintf, byte by byte.
std::string NfsUtilsLine(const legacy::Record& r) {
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
  std::string_view in(reinterpret_cast<const char*>(data), size);

  legacy::ParsedFile p = legacy::ParseRecords(in);
  const size_t lines = NonBlankLines(in);
  FUZZ_CHECK(p.records.size() + p.errors.size() == lines);
  for (const std::string& e : p.errors) FUZZ_CHECK(e.rfind("line ", 0) == 0);
  for (const legacy::Record& r : p.records) {
    FUZZ_CHECK(nsm::store::ValidName(r.mon_name) && nsm::store::ValidName(r.my_name));
    FUZZ_CHECK(r.line.find('\n') == std::string::npos);
    legacy::ParsedFile again = legacy::ParseRecords(r.line);
    FUZZ_CHECK(again.errors.empty() && again.records.size() == 1);
    FUZZ_CHECK(SameFields(again.records[0], r) && again.records[0].line == r.line);
    const std::string canonical_line = NfsUtilsLine(r);
    FUZZ_CHECK(legacy::FormatLine(r) == canonical_line);
    legacy::ParsedFile canonical = legacy::ParseRecords(canonical_line);
    FUZZ_CHECK(canonical.errors.empty() && canonical.records.size() == 1);
    FUZZ_CHECK(SameFields(canonical.records[0], r));
    nsm::Result<legacy::Record> one = legacy::ParseLine(canonical_line);
    FUZZ_CHECK(one.ok() && SameFields(*one, r));
    FUZZ_CHECK(legacy::PrivFromHex(legacy::PrivToHex(r.priv)) == r.priv);
    FUZZ_CHECK(legacy::CallbackAddrFromIpv4(legacy::Ipv4FromCallbackAddr(r.callback_addr)) ==
               r.callback_addr);
  }

  // One line (at most one '\n', at the end): ParseLine agrees with ParseRecords.
  const size_t nl = in.find('\n');
  if (lines == 1 && (nl == std::string_view::npos || nl + 1 == in.size())) {
    nsm::Result<legacy::Record> one = legacy::ParseLine(in);
    FUZZ_CHECK(one.ok() == (p.records.size() == 1));
    if (one.ok()) {
      FUZZ_CHECK(SameFields(*one, p.records[0]) && one->line == p.records[0].line);
    } else {
      FUZZ_CHECK(one.status().code() == nsm::Code::kInvalidArgument);
      FUZZ_CHECK(p.errors[0] == "line 1: " + one.status().message());
    }
  }

  FUZZ_CHECK(legacy::ValidFileName(in) == nsm::store::ValidName(in));

  std::optional<uint32_t> state = legacy::ParseState(in);
  FUZZ_CHECK(state.has_value() == (size >= 4));
  if (state) FUZZ_CHECK(legacy::EncodeState(*state) == in.substr(0, 4));
  for (bool bump : {false, true}) {
    legacy::StateStep step = legacy::NextState(state, bump);
    FUZZ_CHECK(step.state % 2 == 1);
    FUZZ_CHECK(step.write == (bump || !state));
    if (state && *state % 2 == 1 && !bump) FUZZ_CHECK(step.state == *state);
  }
  return 0;
}
