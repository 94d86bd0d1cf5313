// Private to store/: the group-commit thread (the LevelDB DBImpl::Write model). Callers
// enqueue monitor mutations from any thread; one thread takes everything queued (up to
// kMaxBatch), applies it in one IMMEDIATE transaction on its own connection, commits
// with one fsync, then runs every request's callback with the batch's status.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "store/sqlite_util.h"
#include "store/store.h"

namespace nsm::store::internal {

struct AddOp {
  Monitor monitor;
  Store::Done done;
};
struct RemoveOp {
  MonitorKey key;
  std::function<void(Status, bool)> done;
};
struct RemoveAllOp {
  std::string my_name;
  uint32_t prog = 0, vers = 0, proc = 0;
  std::function<void(Status, std::vector<MonitorKey>)> done;
};

struct Request {
  std::variant<AddOp, RemoveOp, RemoveAllOp> op;
  // Not ok: refused before reaching the database (bad argument); its callback gets this
  // status and the request takes no part in the transaction.
  Status refused;
};

class Committer {
 public:
  static constexpr size_t kMaxBatch = 1024;

  // Takes an open read-write connection to the store's database. `poison` outlives this.
  Committer(std::unique_ptr<Conn> conn, Poison* poison, const Clock* clock);
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;
  // Drains the queue (every queued request is applied or failed, callbacks run), stops
  // the thread and closes the connection. Must not run on the committer thread.
  ~Committer();

  // Prepares the statements and starts the thread.
  Status Start();
  void Enqueue(Request r);
  Stats stats() const;

 private:
  struct Outcome {
    bool removed = false;
    std::vector<MonitorKey> removed_keys;
  };
  struct Row {
    int64_t id = 0;
    std::vector<std::string> addresses;
  };

  void Run();
  void Process(std::vector<Request>& batch);
  Status Apply(Request& r, Outcome& out);
  // The record with this key, if any.
  Result<std::optional<Row>> Find(const MonitorKey& k);
  // Adds (or deletes) the monitor_addresses rows of record `id`.
  Status IndexAddresses(int64_t id, const std::vector<std::string>& addresses, bool add);
  Status Delete(int64_t id, const std::vector<std::string>& addresses);
  Status ApplyAdd(const Monitor& m);
  Status ApplyRemove(const MonitorKey& k, Outcome& out);
  Status ApplyRemoveAll(const RemoveAllOp& op, Outcome& out);

  std::unique_ptr<Conn> conn_;
  Poison* poison_;
  const Clock* clock_;

  // Statements on conn_ (committer thread only).
  Stmt select_by_key_, insert_, update_, delete_by_id_, insert_addr_, delete_addr_,
      select_by_my_id_;

  std::mutex mu_;  // guards queue_ and stop_
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool stop_ = false;

  mutable std::mutex stats_mu_;
  Stats stats_;

  std::thread thread_;
};

}  // namespace nsm::store::internal
