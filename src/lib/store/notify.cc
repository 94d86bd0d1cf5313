// The reboot step and the notify list (sm-notify's work list): BeginReboot moves the
// monitor list into the notify list and bumps the state number in one transaction;
// the other calls read and update single entries. All synchronous, on the sync
// connection.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "net/address.h"
#include "store/impl.h"
#include "store/names.h"
#include "store/store.h"

namespace nsm::store {
namespace {

using internal::Stmt;

// The next odd number above `s` (odd s: s + 2; even s: s + 1), wrapping past 2^32 - 1
// to 1 so the state stays odd ("up").
uint32_t NextOdd(uint32_t s) {
  const uint64_t next = (s % 2 == 1) ? uint64_t{s} + 2 : uint64_t{s} + 1;
  return next > std::numeric_limits<uint32_t>::max() ? 1u : static_cast<uint32_t>(next);
}

}  // namespace

Result<uint32_t> Store::BeginReboot(bool bump, bool keep_monitors) {
  Impl& im = *impl_;
  uint32_t state = 0;
  const int64_t now = im.clock->UnixSeconds();
  Status s = im.Write([&]() -> Status {
    Stmt get;
    Status st = get.Prepare(im.conn, "SELECT value FROM meta WHERE key = 'state'");
    if (!st.ok()) return st;
    Result<bool> row = get.Step();
    if (!row.ok()) return row.status();
    const int64_t cur = *row ? get.Int(0) : -1;
    get.Reset();
    if (cur < 0 || cur > std::numeric_limits<uint32_t>::max()) {
      return Status(Code::kCorruption, im.path + ": bad or missing state number");
    }
    state = static_cast<uint32_t>(cur);
    if (bump) {
      state = NextOdd(state);
      Stmt set;
      st = set.Prepare(im.conn, "UPDATE meta SET value = ?1 WHERE key = 'state'");
      if (!st.ok()) return st;
      set.Bind(1, static_cast<int64_t>(state));
      st = set.Run();
      if (!st.ok()) return st;
    }
    // One entry per distinct (mon_name, my_name), in the order the monitors were added,
    // with the union of their addresses.
    std::vector<NotifyEntry> groups;
    std::map<std::pair<std::string, std::string>, size_t> index;
    Stmt sel;
    st = sel.Prepare(im.conn, "SELECT mon_name, my_name, addresses FROM monitors ORDER BY id");
    if (!st.ok()) return st;
    for (;;) {
      Result<bool> r = sel.Step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      auto [it, fresh] = index.try_emplace({sel.Text(0), sel.Text(1)}, groups.size());
      if (fresh) {
        NotifyEntry& e = groups.emplace_back();
        e.mon_name = it->first.first;
        e.my_name = it->first.second;
      }
      internal::MergeAddresses(groups[it->second].addresses, internal::SplitAddresses(sel.Text(2)));
    }
    sel.Reset();
    // An entry left from an earlier boot keeps its addresses, gains the new ones, and
    // becomes pending again with a fresh attempt count.
    Stmt lookup, put;
    st = lookup.Prepare(im.conn,
                        "SELECT addresses FROM notify WHERE mon_name = ?1 AND my_name = ?2");
    if (!st.ok()) return st;
    st = put.Prepare(im.conn,
                     "INSERT INTO notify(mon_name, my_name, addresses, status, attempts, "
                     "last_error, added, last_attempt) VALUES (?1, ?2, ?3, 0, 0, '', ?4, 0) "
                     "ON CONFLICT(mon_name, my_name) DO UPDATE SET "
                     "addresses = excluded.addresses, status = 0, attempts = 0");
    if (!st.ok()) return st;
    for (NotifyEntry& e : groups) {
      lookup.Bind(1, e.mon_name);
      lookup.Bind(2, e.my_name);
      Result<bool> r = lookup.Step();
      if (!r.ok()) return r.status();
      std::vector<std::string> addresses;
      if (*r) addresses = internal::SplitAddresses(lookup.Text(0));
      lookup.Reset();
      internal::MergeAddresses(addresses, e.addresses);
      put.Bind(1, e.mon_name);
      put.Bind(2, e.my_name);
      put.Bind(3, internal::JoinAddresses(addresses));
      put.Bind(4, now);
      st = put.Run();
      if (!st.ok()) return st;
    }
    if (!keep_monitors) st = im.conn.Exec("DELETE FROM monitor_addresses; DELETE FROM monitors");
    return st;
  });
  if (!s.ok()) return s;
  return state;
}

Result<std::vector<NotifyEntry>> Store::ListNotify() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  Stmt st;
  Status s = st.Prepare(im.conn,
                        "SELECT mon_name, my_name, addresses, status, attempts, last_error, "
                        "added, last_attempt FROM notify ORDER BY rowid");
  if (!s.ok()) return s;
  std::vector<NotifyEntry> out;
  for (;;) {
    Result<bool> row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    NotifyEntry& e = out.emplace_back();
    e.mon_name = st.Text(0);
    e.my_name = st.Text(1);
    e.addresses = internal::SplitAddresses(st.Text(2));
    e.status = st.Int(3) == 0 ? NotifyStatus::kPending : NotifyStatus::kFailed;
    e.attempts = static_cast<int>(st.Int(4));
    e.last_error = st.Text(5);
    e.added = st.Int(6);
    e.last_attempt = st.Int(7);
  }
  return out;
}

Status Store::AddNotify(const NotifyEntry& e) {
  if (!ValidName(e.mon_name) || !ValidName(e.my_name)) {
    return Status(Code::kInvalidArgument, "invalid name in notify entry");
  }
  std::vector<std::string> addresses;
  for (const std::string& a : e.addresses) {
    if (!net::IsIpLiteral(a)) return Status(Code::kInvalidArgument, "invalid notify address");
  }
  internal::MergeAddresses(addresses, e.addresses);
  Impl& im = *impl_;
  return im.Write([&]() -> Status {
    Stmt up;
    Status s = up.Prepare(im.conn,
                          "INSERT INTO notify(mon_name, my_name, addresses, status, attempts, "
                          "last_error, added, last_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                          "?8) ON CONFLICT(mon_name, my_name) DO UPDATE SET addresses = "
                          "excluded.addresses, status = excluded.status, attempts = "
                          "excluded.attempts, last_error = excluded.last_error, added = "
                          "excluded.added, last_attempt = excluded.last_attempt");
    if (!s.ok()) return s;
    up.Bind(1, e.mon_name);
    up.Bind(2, e.my_name);
    up.Bind(3, internal::JoinAddresses(addresses));
    up.Bind(4, static_cast<int64_t>(e.status));
    up.Bind(5, static_cast<int64_t>(e.attempts));
    up.Bind(6, e.last_error);
    up.Bind(7, e.added != 0 ? e.added : im.clock->UnixSeconds());
    up.Bind(8, e.last_attempt);
    return up.Run();
  });
}

Status Store::NotifyDone(std::string_view mon_name, std::string_view my_name) {
  Impl& im = *impl_;
  return im.Write([&]() -> Status {
    Stmt st;
    Status s = st.Prepare(im.conn, "DELETE FROM notify WHERE mon_name = ?1 AND my_name = ?2");
    if (!s.ok()) return s;
    st.Bind(1, mon_name);
    st.Bind(2, my_name);
    return st.Run();
  });
}

Status Store::NotifyAttempt(std::string_view mon_name, std::string_view my_name,
                            std::string_view error, NotifyStatus status) {
  Impl& im = *impl_;
  return im.Write([&]() -> Status {
    Stmt st;
    Status s = st.Prepare(im.conn,
                          "UPDATE notify SET attempts = attempts + 1, last_error = ?3, "
                          "last_attempt = ?4, status = ?5 WHERE mon_name = ?1 AND my_name = ?2");
    if (!s.ok()) return s;
    st.Bind(1, mon_name);
    st.Bind(2, my_name);
    st.Bind(3, error);
    st.Bind(4, im.clock->UnixSeconds());
    st.Bind(5, static_cast<int64_t>(status));
    s = st.Run();
    if (!s.ok()) return s;
    if (sqlite3_changes(im.conn.db()) == 0) {
      return Status(Code::kNotFound,
                    "no notify entry for " + std::string(mon_name) + " / " + std::string(my_name));
    }
    return Status::Ok();
  });
}

}  // namespace nsm::store
