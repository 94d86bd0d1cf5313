// Everything a state directory carries (state number, monitors, notify list) as one
// value, its JSON form (statdctl export/import, docs/statdctl.md "Export format") and
// the two store operations on it: reading a snapshot and importing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "control/json.h"
#include "store/store.h"

namespace nsm::ctl {

inline constexpr const char* kDumpFormat = "nsm-state";
inline constexpr int kDumpVersion = 1;

struct Dump {
  std::optional<uint32_t> state;  // absent: leave the target's state number alone
  std::vector<store::Monitor> monitors;
  std::vector<store::NotifyEntry> notify;
};

// {"format":"nsm-state","version":1,"state":N,"monitors":[...],"notify":[...]}.
// `extra` members (e.g. "exported_at", "host") are merged in at the top level.
control::Json DumpToJson(const Dump& d, const control::Json& extra = control::Json::object());

// Strict: every member is checked (names by store::ValidName, priv = 32 hex digits,
// prog/vers/proc 0..2^32-1, addresses IP literals, stored in canonical form). Unknown
// members are ignored; a newer "version" is refused. kInvalidArgument naming the first
// problems ("monitors[3].priv: ...").
Result<Dump> DumpFromJson(const control::Json& j);

// A consistent-enough snapshot of a store (three reads).
Result<Dump> ReadStore(store::Store& s);

struct ImportReport {
  size_t monitors = 0;
  size_t notify = 0;
  uint32_t state_before = 0;
  uint32_t state_after = 0;
  bool state_kept = false;  // the store already had a higher state number
};

// Merges `d` into the store: monitors are upserted by key (priv, addresses, caller and
// added replaced), notify entries by (mon_name, my_name); the state number becomes
// max(current, d.state), so it never goes back. Waits for the group commits. Not one
// transaction: on an error, what was written before it stays (the message says how far).
Result<ImportReport> ImportDump(store::Store& s, const Dump& d);

const char* NotifyStatusName(store::NotifyStatus s);  // "pending" / "failed"

}  // namespace nsm::ctl
