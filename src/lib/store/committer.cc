// The group-commit thread of the store (see committer.h). Every request of a batch
// gets the status of the one transaction that carried it; callbacks run only after
// that transaction committed durably (one fsync of the WAL) or was rolled back.
#include "store/committer.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "store/names.h"

namespace nsm::store::internal {
namespace {

// The key columns in the order of the UNIQUE index, so lookups use it.
#define NSM_KEY_WHERE                                                                       \
  "mon_name_key = ?1 AND mon_name = ?2 AND my_name = ?3 AND my_prog = ?4 AND my_vers = ?5 " \
  "AND my_proc = ?6"
constexpr const char* kSelectByKey = "SELECT id, addresses FROM monitors WHERE " NSM_KEY_WHERE;
constexpr const char* kInsert =
    "INSERT INTO monitors(mon_name_key, mon_name, my_name, my_prog, my_vers, my_proc, priv, "
    "caller, added, addresses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr const char* kUpdate =
    "UPDATE monitors SET priv = ?2, caller = ?3, added = ?4, addresses = ?5 WHERE id = ?1";
constexpr const char* kDeleteById = "DELETE FROM monitors WHERE id = ?1";
constexpr const char* kInsertAddr =
    "INSERT OR IGNORE INTO monitor_addresses(address, monitor_id) VALUES (?1, ?2)";
constexpr const char* kDeleteAddr =
    "DELETE FROM monitor_addresses WHERE address = ?1 AND monitor_id = ?2";
constexpr const char* kSelectByMyId =
    "SELECT id, mon_name, addresses FROM monitors WHERE my_name = ?1 AND my_prog = ?2 AND "
    "my_vers = ?3 AND my_proc = ?4 ORDER BY id";
#undef NSM_KEY_WHERE

void BindKey(Stmt& st, const MonitorKey& k) {
  st.Bind(1, NameKey(k.mon_name));
  st.Bind(2, k.mon_name);
  st.Bind(3, k.my_name);
  st.Bind(4, static_cast<int64_t>(k.my_prog));
  st.Bind(5, static_cast<int64_t>(k.my_vers));
  st.Bind(6, static_cast<int64_t>(k.my_proc));
}

}  // namespace

Committer::Committer(std::unique_ptr<Conn> conn, Poison* poison, const Clock* clock)
    : conn_(std::move(conn)), poison_(poison), clock_(clock) {}

Committer::~Committer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // A request enqueued without a running thread (Start failed) still gets an answer.
  std::vector<Request> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::move(queue_.begin(), queue_.end(), std::back_inserter(rest));
    queue_.clear();
  }
  if (!rest.empty()) Process(rest);
}

Status Committer::Start() {
  struct {
    Stmt* st;
    const char* sql;
  } const stmts[] = {
      {&select_by_key_, kSelectByKey},   {&insert_, kInsert},          {&update_, kUpdate},
      {&delete_by_id_, kDeleteById},     {&insert_addr_, kInsertAddr}, {&delete_addr_, kDeleteAddr},
      {&select_by_my_id_, kSelectByMyId}};
  for (const auto& s : stmts) {
    Status st = s.st->Prepare(*conn_, s.sql);
    if (!st.ok()) return st;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Committer::Enqueue(Request r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(r));
  }
  cv_.notify_one();
}

Stats Committer::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  Stats s = stats_;
  s.poisoned = poison_->poisoned();
  return s;
}

void Committer::Run() {
  std::vector<Request> batch;
  batch.reserve(kMaxBatch);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      const size_t n = std::min(queue_.size(), kMaxBatch);
      auto end = queue_.begin() + static_cast<std::ptrdiff_t>(n);
      std::move(queue_.begin(), end, std::back_inserter(batch));
      queue_.erase(queue_.begin(), end);
    }
    Process(batch);
    batch.clear();
  }
}

void Committer::Process(std::vector<Request>& batch) {
  std::vector<Outcome> out(batch.size());
  size_t live = 0;
  for (const Request& r : batch) live += r.refused.ok() ? 1 : 0;

  Status status;
  bool attempted = false;
  if (live > 0 && poison_->poisoned()) {
    status = poison_->status();
  } else if (live > 0) {
    attempted = true;
    Txn txn(*conn_);
    status = txn.Begin(/*immediate=*/true);
    for (size_t i = 0; i < batch.size() && status.ok(); ++i) {
      if (batch[i].refused.ok()) status = Apply(batch[i], out[i]);
    }
    if (status.ok()) status = CommitWrite(txn, *conn_, *poison_);
    // ~Txn rolls back a failed batch before any callback runs.
  }

  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.requests += batch.size();
    if (attempted && status.ok()) {
      ++stats_.commits;
      stats_.max_batch = std::max<uint64_t>(stats_.max_batch, live);
    } else if (live > 0) {
      ++stats_.failed_batches;
    }
  }

  for (size_t i = 0; i < batch.size(); ++i) {
    Request& r = batch[i];
    const Status& s = r.refused.ok() ? status : r.refused;
    if (!s.ok()) out[i] = Outcome{};
    if (auto* add = std::get_if<AddOp>(&r.op)) {
      if (add->done) add->done(s);
    } else if (auto* rm = std::get_if<RemoveOp>(&r.op)) {
      if (rm->done) rm->done(s, out[i].removed);
    } else if (auto* all = std::get_if<RemoveAllOp>(&r.op)) {
      if (all->done) all->done(s, std::move(out[i].removed_keys));
    }
  }
}

Status Committer::Apply(Request& r, Outcome& out) {
  if (auto* add = std::get_if<AddOp>(&r.op)) return ApplyAdd(add->monitor);
  if (auto* rm = std::get_if<RemoveOp>(&r.op)) return ApplyRemove(rm->key, out);
  return ApplyRemoveAll(std::get<RemoveAllOp>(r.op), out);
}

Result<std::optional<Committer::Row>> Committer::Find(const MonitorKey& k) {
  BindKey(select_by_key_, k);
  Result<bool> row = select_by_key_.Step();
  if (!row.ok()) {
    select_by_key_.Reset();
    return row.status();
  }
  std::optional<Row> found;
  if (*row) found = Row{select_by_key_.Int(0), SplitAddresses(select_by_key_.Text(1))};
  select_by_key_.Reset();
  return found;
}

Status Committer::IndexAddresses(int64_t id, const std::vector<std::string>& addresses, bool add) {
  Stmt& st = add ? insert_addr_ : delete_addr_;
  for (const std::string& a : addresses) {
    st.Bind(1, a);
    st.Bind(2, id);
    Status s = st.Run();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Committer::ApplyAdd(const Monitor& m) {
  Result<std::optional<Row>> old = Find(m.key);
  if (!old.ok()) return old.status();
  const std::string addresses = JoinAddresses(m.addresses);
  const int64_t added = m.added != 0 ? m.added : clock_->UnixSeconds();
  int64_t id = 0;
  Status s;
  if (old->has_value()) {
    id = (*old)->id;
    update_.Bind(1, id);
    update_.BindBlob(2, m.priv.data(), m.priv.size());
    update_.Bind(3, m.caller);
    update_.Bind(4, added);
    update_.Bind(5, addresses);
    s = update_.Run();
    if (s.ok() && (*old)->addresses != m.addresses) {
      s = IndexAddresses(id, (*old)->addresses, /*add=*/false);
    } else if (s.ok()) {
      return s;  // same addresses: the index is already right
    }
  } else {
    BindKey(insert_, m.key);
    insert_.BindBlob(7, m.priv.data(), m.priv.size());
    insert_.Bind(8, m.caller);
    insert_.Bind(9, added);
    insert_.Bind(10, addresses);
    s = insert_.Run();
    id = sqlite3_last_insert_rowid(conn_->db());
  }
  if (!s.ok()) return s;
  return IndexAddresses(id, m.addresses, /*add=*/true);
}

Status Committer::Delete(int64_t id, const std::vector<std::string>& addresses) {
  Status s = IndexAddresses(id, addresses, /*add=*/false);
  if (!s.ok()) return s;
  delete_by_id_.Bind(1, id);
  return delete_by_id_.Run();
}

Status Committer::ApplyRemove(const MonitorKey& k, Outcome& out) {
  Result<std::optional<Row>> old = Find(k);
  if (!old.ok()) return old.status();
  if (!old->has_value()) return Status::Ok();
  out.removed = true;
  return Delete((*old)->id, (*old)->addresses);
}

Status Committer::ApplyRemoveAll(const RemoveAllOp& op, Outcome& out) {
  Stmt& sel = select_by_my_id_;
  sel.Bind(1, op.my_name);
  sel.Bind(2, static_cast<int64_t>(op.prog));
  sel.Bind(3, static_cast<int64_t>(op.vers));
  sel.Bind(4, static_cast<int64_t>(op.proc));
  std::vector<Row> rows;
  out.removed_keys.clear();
  for (;;) {
    Result<bool> row = sel.Step();
    if (!row.ok()) {
      sel.Reset();
      return row.status();
    }
    if (!*row) break;
    rows.push_back(Row{sel.Int(0), SplitAddresses(sel.Text(2))});
    out.removed_keys.push_back(MonitorKey{sel.Text(1), op.my_name, op.prog, op.vers, op.proc});
  }
  sel.Reset();
  for (const Row& r : rows) {
    Status s = Delete(r.id, r.addresses);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace nsm::store::internal
