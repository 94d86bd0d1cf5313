// Store operations on the monitor list and metadata: the state number and meta keys
// (synchronous, on the sync connection), monitor mutations (validated here, then
// handed to the committer) and monitor reads (one statement = one snapshot each).
#include "store/store.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>

#include "base/log.h"
#include "net/address.h"
#include "store/impl.h"
#include "store/names.h"

namespace nsm::store {
namespace {

using internal::Request;
using internal::Stmt;

Status Invalid(std::string_view what, std::string_view value) {
  std::ostringstream os;
  os << "invalid " << what << " " << log::Quoted{value};
  return Status(Code::kInvalidArgument, os.str());
}

// Refuses what must never reach the database; de-duplicates addresses in place.
Status CheckMonitor(Monitor& m) {
  if (!ValidName(m.key.mon_name)) return Invalid("mon_name", m.key.mon_name);
  if (!ValidName(m.key.my_name)) return Invalid("my_name", m.key.my_name);
  if (m.caller.size() > 1024) return Invalid("caller", m.caller);
  std::vector<std::string> unique;
  for (std::string& a : m.addresses) {
    if (!net::IsIpLiteral(a)) return Invalid("address", a);
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) {
      unique.push_back(std::move(a));
    }
  }
  m.addresses = std::move(unique);
  return Status::Ok();
}

// Rows of kMonitorSelect (open.cc) to Monitors.
Result<std::vector<Monitor>> ReadMonitors(Stmt& st) {
  std::vector<Monitor> out;
  for (;;) {
    Result<bool> row = st.Step();
    if (!row.ok()) {
      st.Reset();
      return row.status();
    }
    if (!*row) break;
    Monitor& m = out.emplace_back();
    m.key.mon_name = st.Text(1);
    m.key.my_name = st.Text(2);
    m.key.my_prog = static_cast<uint32_t>(st.Int(3));
    m.key.my_vers = static_cast<uint32_t>(st.Int(4));
    m.key.my_proc = static_cast<uint32_t>(st.Int(5));
    std::string_view priv = st.Blob(6);
    std::copy_n(priv.begin(), std::min(priv.size(), m.priv.size()), m.priv.begin());
    m.caller = st.Text(7);
    m.added = st.Int(8);
    m.addresses = internal::SplitAddresses(st.Text(9));
  }
  st.Reset();
  return out;
}

}  // namespace

// ---- Impl helpers

Status Store::Impl::ReadOnlyError() const {
  return Status(Code::kPermission, path + ": store was opened read-only");
}

Status Store::Impl::Write(const std::function<Status()>& body) {
  if (opts.read_only) return ReadOnlyError();
  if (poison.poisoned()) return poison.status();
  std::lock_guard<std::mutex> lock(mu);
  internal::Txn txn(conn);
  Status s = txn.Begin(/*immediate=*/true);
  if (s.ok()) s = body();
  if (s.ok()) s = internal::CommitWrite(txn, conn, poison);
  return s;  // ~Txn rolls back a failure while `mu` is still held
}

// ---- state number and meta

Result<uint32_t> Store::GetState() {
  Result<std::string> v = GetMeta("state");
  if (!v.ok()) {
    if (v.status().code() == Code::kNotFound) {
      return Status(Code::kCorruption, impl_->path + ": state number missing");
    }
    return v.status();
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0 || n > std::numeric_limits<uint32_t>::max()) {
    return Status(Code::kCorruption, impl_->path + ": bad state number \"" + *v + "\"");
  }
  return static_cast<uint32_t>(n);
}

Status Store::SetState(uint32_t state) {
  Impl& im = *impl_;
  return im.Write([&]() -> Status {
    Stmt st;
    Status s = st.Prepare(im.conn,
                          "INSERT INTO meta(key, value) VALUES ('state', ?1) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!s.ok()) return s;
    st.Bind(1, static_cast<int64_t>(state));
    return st.Run();
  });
}

Result<std::string> Store::GetMeta(std::string_view key) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  im.get_meta.Bind(1, key);
  Result<bool> row = im.get_meta.Step();
  if (!row.ok()) {
    im.get_meta.Reset();
    return row.status();
  }
  if (!*row) {
    im.get_meta.Reset();
    return Status(Code::kNotFound, "meta key \"" + std::string(key) + "\" not set");
  }
  std::string value = im.get_meta.Text(0);
  im.get_meta.Reset();
  return value;
}

Status Store::SetMeta(std::string_view key, std::string_view value) {
  if (key == "state") return Status(Code::kInvalidArgument, "use SetState for the state number");
  if (key.empty()) return Status(Code::kInvalidArgument, "empty meta key");
  Impl& im = *impl_;
  return im.Write([&]() -> Status {
    Stmt st;
    Status s = st.Prepare(im.conn,
                          "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!s.ok()) return s;
    st.Bind(1, key);
    st.Bind(2, value);
    return st.Run();
  });
}

// ---- monitor mutations (group commit)

namespace {

// Answers a request that cannot be queued (read-only store) on the calling thread.
void FailNow(Request& r, const Status& s) {
  if (auto* add = std::get_if<internal::AddOp>(&r.op)) {
    if (add->done) add->done(s);
  } else if (auto* rm = std::get_if<internal::RemoveOp>(&r.op)) {
    if (rm->done) rm->done(s, false);
  } else if (auto* all = std::get_if<internal::RemoveAllOp>(&r.op)) {
    if (all->done) all->done(s, {});
  }
}

void Submit(Store::Impl& im, Request r) {
  if (!im.committer) {
    FailNow(r, im.ReadOnlyError());
    return;
  }
  im.committer->Enqueue(std::move(r));
}

}  // namespace

void Store::AddMonitor(Monitor m, Done done) {
  Request r;
  r.refused = CheckMonitor(m);
  r.op = internal::AddOp{std::move(m), std::move(done)};
  Submit(*impl_, std::move(r));
}

void Store::RemoveMonitor(MonitorKey key, std::function<void(Status, bool removed)> done) {
  Request r;
  r.op = internal::RemoveOp{std::move(key), std::move(done)};
  Submit(*impl_, std::move(r));
}

void Store::RemoveAllMonitors(std::string my_name, uint32_t prog, uint32_t vers, uint32_t proc,
                              std::function<void(Status, std::vector<MonitorKey>)> done) {
  Request r;
  r.op = internal::RemoveAllOp{std::move(my_name), prog, vers, proc, std::move(done)};
  Submit(*impl_, std::move(r));
}

// ---- monitor reads

Result<std::vector<Monitor>> Store::ListMonitors() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return ReadMonitors(impl_->list_all);
}

Result<uint64_t> Store::CountMonitors() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  Result<std::string> n = im.conn.QueryText("SELECT count(*) FROM monitors");
  if (!n.ok()) return n.status();
  return static_cast<uint64_t>(std::strtoull(n->c_str(), nullptr, 10));
}

Result<std::vector<Monitor>> Store::FindMonitorsByName(std::string_view mon_name) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  im.find_by_key.Bind(1, NameKey(mon_name));
  return ReadMonitors(im.find_by_key);
}

Result<std::vector<Monitor>> Store::FindMonitorsByAddress(std::string_view canonical_ip) {
  // Addresses are stored in canonical form; accept another spelling of the same IP too.
  const std::string canonical = net::CanonicalIp(canonical_ip).value_or(std::string(canonical_ip));
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  im.find_by_addr.Bind(1, canonical_ip);
  im.find_by_addr.Bind(2, canonical);
  return ReadMonitors(im.find_by_addr);
}

}  // namespace nsm::store
