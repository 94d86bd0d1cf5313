// Private to store/: the versioned schema (PRAGMA user_version), its migrations, the
// application id that marks a file as nsm's, and the full integrity check run at open.
// docs/store.md describes the tables.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "store/sqlite_util.h"

namespace nsm::store::internal {

// 'NSMD': PRAGMA application_id of every nsm database.
inline constexpr int32_t kApplicationId = 0x4E534D44;
// The schema version this build writes. Migrations bring older files up to it.
int SchemaVersion();

// Checks, reading only, that `conn` holds an nsm database or an empty file (no
// application id, no version, no tables) of a version this build understands. A file
// that is not an nsm database is kCorruption naming it; a newer schema is
// kInvalidArgument. The first read of a file that is not SQLite at all fails here with
// kCorruption "<path>: file is not a database".
Status CheckIdentity(Conn& conn);

// Brings the database to SchemaVersion() in one IMMEDIATE transaction (re-checking the
// identity inside it, as another process may have migrated meanwhile), creating the
// schema and state number 1 on an empty file; sets *created then. read_only: no
// changes; an empty or older file is an error.
Status Migrate(Conn& conn, bool read_only, bool* created);

// PRAGMA integrity_check (full) and PRAGMA foreign_key_check; kCorruption naming the
// file with the first problems reported if either finds anything.
Status CheckIntegrity(Conn& conn);

}  // namespace nsm::store::internal
