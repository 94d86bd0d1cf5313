// Private to store/: Store::Impl, shared by store.cc (open, state, meta, monitor reads)
// and notify.cc (reboot and notify list). The "sync" connection serves every
// synchronous call under `mu`; the committer has its own connection and thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "store/committer.h"
#include "store/sqlite_util.h"
#include "store/store.h"

namespace nsm::store {

struct Store::Impl {
  std::string path;
  Options opts;
  const Clock* clock = nullptr;
  internal::Poison poison;

  std::mutex mu;  // serialises `conn` and the statements prepared on it
  internal::Conn conn;
  // Cached read statements on `conn` (prepared at open).
  internal::Stmt list_all, find_by_key, find_by_addr, get_meta;

  // Null when read-only. Destroyed (drained) before `conn` closes.
  std::unique_ptr<internal::Committer> committer;

  ~Impl();

  // A status for every write refused because the store was opened read-only.
  Status ReadOnlyError() const;
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT on `conn` under `mu`. Fails without
  // touching the database when read-only or poisoned; a failed COMMIT poisons.
  Status Write(const std::function<Status()>& body);
};

}  // namespace nsm::store
