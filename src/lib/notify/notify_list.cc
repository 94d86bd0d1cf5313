// Taking sm-notify's list from the database or nfs-utils files, building targets,
// and recording outcomes (see notify_list.h).
#include "notify/notify_list.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "base/log.h"
#include "net/address.h"

namespace nsm::notify {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// How two spellings of one peer compare: canonical IP, else lower-case name.
std::string PeerKey(std::string_view name) {
  if (auto ip = net::CanonicalIp(name)) return *ip;
  return Lower(name);
}

// Collects targets keyed by (peer, name sent), keeping first-seen order. A peer has
// few addresses: they are told apart by a linear search.
class TargetBuilder {
 public:
  void Add(size_t source, const std::string& peer, const std::string& notify_name,
           const std::vector<std::string>& addresses) {
    std::string key = PeerKey(peer);
    key += '\0';  // in neither a name nor an address
    key += notify_name;
    auto [it, inserted] = index_.emplace(std::move(key), targets_.size());
    if (inserted) {
      Target t;
      t.peer = peer;
      t.notify_name = notify_name;
      targets_.push_back(std::move(t));
    }
    Target& t = targets_[it->second];
    t.sources.push_back(source);
    for (const std::string& a : addresses) {
      std::string canon = net::CanonicalIp(a).value_or(a);
      if (std::find(t.addresses.begin(), t.addresses.end(), canon) == t.addresses.end()) {
        t.addresses.push_back(std::move(canon));
      }
    }
  }
  std::vector<Target> Take() { return std::move(targets_); }

 private:
  std::unordered_map<std::string, size_t> index_;
  std::vector<Target> targets_;
};

uint32_t NextOddState(uint32_t s) {
  const uint64_t next = (s % 2 == 1) ? uint64_t{s} + 2 : uint64_t{s} + 1;
  return next > std::numeric_limits<uint32_t>::max() ? 1u : static_cast<uint32_t>(next);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

Status TakeFromDatabase(const TakeOptions& o, NotifyPlan* plan) {
  plan->source = ListSource::kDatabase;
  plan->keep = o.keep_list;
  store::Options so;
  so.create = false;
  Result<std::unique_ptr<store::Store>> opened = store::Store::Open(o.state_dir, so);
  if (!opened.ok()) return opened.status();
  store::Store& st = **opened;
  Result<std::vector<store::NotifyEntry>> pending = st.ListNotify();
  if (!pending.ok()) return pending.status();
  if (o.keep_list) {
    Result<std::vector<store::Monitor>> monitors = st.ListMonitors();
    if (!monitors.ok()) return monitors.status();
    // Entries of the notify list first (they were owed from an earlier run), then
    // the monitors; the same (mon_name, my_name) in both is one entry.
    std::vector<store::NotifyEntry> entries = std::move(*pending);
    std::set<std::pair<std::string, std::string>> have;
    for (const auto& e : entries) have.emplace(e.mon_name, e.my_name);
    for (auto& e : MonitorsAsEntries(*monitors)) {
      if (have.emplace(e.mon_name, e.my_name).second) entries.push_back(std::move(e));
    }
    Result<uint32_t> state = st.GetState();
    if (!state.ok()) return state.status();
    plan->state = *state;
    if (!entries.empty() && o.bump) {
      plan->state = NextOddState(*state);
      Status s = st.SetState(plan->state);
      if (!s.ok()) return s;
      plan->bumped = true;
    }
    plan->db_entries = std::move(entries);
  } else {
    Result<uint64_t> monitors = st.CountMonitors();
    if (!monitors.ok()) return monitors.status();
    if (*monitors == 0 && pending->empty()) {
      // Like nfs-utils: nothing to notify, so the state number is left alone.
      Result<uint32_t> state = st.GetState();
      if (!state.ok()) return state.status();
      plan->state = *state;
      return Status::Ok();
    }
    Result<uint32_t> state = st.BeginReboot(o.bump, /*keep_monitors=*/false);
    if (!state.ok()) return state.status();
    plan->state = *state;
    plan->bumped = o.bump;
    Result<std::vector<store::NotifyEntry>> list = st.ListNotify();
    if (!list.ok()) return list.status();
    plan->db_entries = std::move(*list);
  }
  plan->targets = BuildTargets(plan->db_entries, o.notify_as);
  return Status::Ok();
}

// Only the names are listed here (and `state` bumped when there is any file); the files
// are read while the first are notified (LegacyStream).
Status TakeFromLegacy(const TakeOptions& o, NotifyPlan* plan) {
  plan->source = ListSource::kLegacy;
  plan->keep = o.keep_list || o.notify_as.has_value();
  Result<LegacyListing> listing = ListLegacyDir(o.state_dir);
  if (!listing.ok()) return listing.status();
  plan->warnings = std::move(listing->warnings);
  const bool anything = !listing->files.empty();
  legacy::StateStep step = legacy::NextState(listing->state, anything && o.bump);
  if (anything && step.write) {
    Status s = WriteLegacyState(o.state_dir, step.state);
    if (!s.ok()) return s;
    plan->bumped = true;
  }
  plan->state = step.state;
  if (anything) {
    plan->stream = std::make_shared<LegacyStream>(o.state_dir, std::move(listing->files),
                                                  o.notify_as, o.nodename);
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ recorders
class NullRecorder : public Recorder {
 public:
  Status Done(const Target&) override { return Status::Ok(); }
  Status Failed(const Target&, const Failure&) override { return Status::Ok(); }
};

class StoreRecorder : public Recorder {
 public:
  StoreRecorder(std::shared_ptr<const NotifyPlan> plan, std::unique_ptr<store::Store> st)
      : plan_(std::move(plan)), store_(std::move(st)) {}

  Status Done(const Target& t) override {
    Status first;
    for (size_t i : t.sources) {
      const store::NotifyEntry& e = plan_->db_entries.at(i);
      Status s = store_->NotifyDone(e.mon_name, e.my_name);
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }

  Status Failed(const Target& t, const Failure& f) override {
    const std::string error =
        f.error + " (" + std::to_string(f.attempts) + " attempts in this run)";
    Status first;
    for (size_t i : t.sources) {
      const store::NotifyEntry& e = plan_->db_entries.at(i);
      Status s = store_->NotifyAttempt(e.mon_name, e.my_name, error, store::NotifyStatus::kFailed);
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }

 private:
  std::shared_ptr<const NotifyPlan> plan_;
  std::unique_ptr<store::Store> store_;
};

class LegacyRecorder : public Recorder {
 public:
  explicit LegacyRecorder(std::shared_ptr<const NotifyPlan> plan) : plan_(std::move(plan)) {}

  Status Done(const Target& t) override {
    Status first;
    std::set<std::tuple<std::string, std::string, std::string>> removed;
    for (size_t i : t.sources) {
      const LegacyEntry e = plan_->stream->Entry(i);
      if (!e.in_notify_dir) continue;  // sm/ belongs to statd: never touched
      const std::string mon = e.has_record ? e.record.mon_name : "";
      const std::string my = e.has_record ? e.record.my_name : "";
      if (!removed.emplace(e.file, mon, my).second) continue;
      Status s = RemoveLegacyNotified(plan_->state_dir, e.file, mon, my);
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }
  Status Failed(const Target&, const Failure&) override { return Status::Ok(); }

 private:
  std::shared_ptr<const NotifyPlan> plan_;
};

}  // namespace

const char* ListSourceName(ListSource s) {
  switch (s) {
    case ListSource::kNone:
      return "none";
    case ListSource::kDatabase:
      return "database";
    case ListSource::kLegacy:
      return "nfs-utils files";
  }
  return "?";
}

std::vector<store::NotifyEntry> MonitorsAsEntries(const std::vector<store::Monitor>& monitors) {
  std::vector<store::NotifyEntry> out;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const store::Monitor& m : monitors) {
    auto [it, inserted] = index.emplace(std::make_pair(m.key.mon_name, m.key.my_name), out.size());
    if (inserted) {
      store::NotifyEntry e;
      e.mon_name = m.key.mon_name;
      e.my_name = m.key.my_name;
      e.added = m.added;
      out.push_back(std::move(e));
    }
    store::NotifyEntry& e = out[it->second];
    for (const std::string& a : m.addresses) {
      if (std::find(e.addresses.begin(), e.addresses.end(), a) == e.addresses.end()) {
        e.addresses.push_back(a);
      }
    }
  }
  return out;
}

std::vector<Target> BuildTargets(const std::vector<store::NotifyEntry>& entries,
                                 const std::optional<std::string>& notify_as) {
  TargetBuilder b;
  for (size_t i = 0; i < entries.size(); ++i) {
    const store::NotifyEntry& e = entries[i];
    b.Add(i, e.mon_name, notify_as.value_or(e.my_name), e.addresses);
  }
  return b.Take();
}

std::vector<Target> BuildLegacyTargets(const std::vector<LegacyEntry>& entries,
                                       const std::optional<std::string>& notify_as,
                                       const std::string& nodename) {
  TargetBuilder b;
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegacyEntry& e = entries[i];
    std::string name;
    if (notify_as) {
      name = *notify_as;
    } else if (e.has_record) {
      name = e.record.my_name;
    } else {
      name = nodename;
    }
    if (name.empty()) continue;
    // The file is named by the peer's name as statd canonicalised it; a mon_name that
    // is an IP literal is an address of the same peer.
    std::vector<std::string> addrs;
    if (e.has_record && net::IsIpLiteral(e.record.mon_name)) addrs.push_back(e.record.mon_name);
    b.Add(i, e.file, name, addrs);
  }
  return b.Take();
}

Result<NotifyPlan> TakeNotifyList(const TakeOptions& o) {
  NotifyPlan plan;
  plan.state_dir = o.state_dir;
  Status s;
  if (Exists(o.state_dir + "/" + NSM_DB_NAME)) {
    s = TakeFromDatabase(o, &plan);
  } else if (HasLegacyFiles(o.state_dir)) {
    s = TakeFromLegacy(o, &plan);
  } else {
    struct stat st {};
    if (stat(o.state_dir.c_str(), &st) != 0)
      return ErrnoStatus("cannot stat " + o.state_dir, errno);
    plan.source = ListSource::kNone;
    plan.keep = true;
  }
  if (!s.ok()) return s;
  return plan;
}

Result<std::unique_ptr<Recorder>> MakeRecorder(std::shared_ptr<const NotifyPlan> plan) {
  if (plan->keep || plan->source == ListSource::kNone) {
    return std::unique_ptr<Recorder>(std::make_unique<NullRecorder>());
  }
  if (plan->source == ListSource::kLegacy) {
    return std::unique_ptr<Recorder>(std::make_unique<LegacyRecorder>(std::move(plan)));
  }
  store::Options so;
  so.create = false;
  Result<std::unique_ptr<store::Store>> st = store::Store::Open(plan->state_dir, so);
  if (!st.ok()) return st.status();
  return std::unique_ptr<Recorder>(
      std::make_unique<StoreRecorder>(std::move(plan), std::move(*st)));
}

// ------------------------------------------------------------------ LegacyStream
LegacyStream::LegacyStream(std::string dir, std::vector<LegacyFile> files,
                           std::optional<std::string> notify_as, std::string nodename)
    : dir_(std::move(dir)),
      files_(std::move(files)),
      notify_as_(std::move(notify_as)),
      nodename_(std::move(nodename)) {
  std::unordered_map<std::string, size_t> group_of;
  for (size_t i = 0; i < files_.size(); ++i) {
    auto [it, inserted] = group_of.emplace(PeerKey(files_[i].name), groups_.size());
    if (inserted) groups_.emplace_back();
    groups_[it->second].push_back(i);
  }
}

LegacyStream::~LegacyStream() { Stop(); }

void LegacyStream::Start(Feed feed) {
  if (thread_.joinable()) return;
  thread_ = std::thread([this, feed = std::move(feed)] { Run(feed); });
}

void LegacyStream::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

LegacyEntry LegacyStream::Entry(size_t source) const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.at(source);
}

void LegacyStream::Run(const Feed& feed) {
  size_t next = 0, batch = kFirstBatch;
  do {
    const size_t end = std::min(next + batch, groups_.size());
    std::vector<LegacyFile> files;
    for (size_t g = next; g < end; ++g) {
      for (size_t i : groups_[g]) files.push_back(files_[i]);
    }
    std::vector<LegacyEntry> entries;
    std::vector<std::string> warnings;
    ReadLegacyFiles(dir_, files, &entries, &warnings);
    for (const std::string& w : warnings) log::Warning(w);
    std::vector<Target> targets = BuildLegacyTargets(entries, notify_as_, nodename_);
    size_t base = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      base = entries_.size();
      for (LegacyEntry& e : entries) entries_.push_back(std::move(e));
    }
    for (Target& t : targets) {
      for (size_t& src : t.sources) src += base;
    }
    next = end;
    batch = std::min(2 * batch, kBatch);  // each read while the last is notified
    feed(std::move(targets), next >= groups_.size());
  } while (next < groups_.size() && !stop_);
}

// ------------------------------------------------------------------ AsyncRecorder
Status Recorder::DoneMany(const std::vector<Target>& targets) {
  Status first;
  for (const Target& t : targets) {
    Status s = Done(t);
    if (!s.ok()) {
      log::Error("cannot record that ", log::Quoted{t.peer}, " was notified: ", s.ToString());
      if (first.ok()) first = s;
    }
  }
  return first;
}

AsyncRecorder::AsyncRecorder(std::unique_ptr<Recorder> inner)
    : inner_(std::move(inner)), thread_([this] { Loop(); }) {}

AsyncRecorder::~AsyncRecorder() { Finish(); }

// The thread waits only on an empty queue, so only the first item of a batch wakes
// it, and once woken it lets the batch fill for kRecordBatchDelay: 10,000 answers in a
// burst cost a few hundred wake-ups of this thread, not 10,000 (each one a futex wake
// and a context switch on the notifier's thread too).
void AsyncRecorder::Done(const Target& t) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(Item{t, std::nullopt});
  if (queue_.size() == 1) cv_.notify_one();
}

void AsyncRecorder::Failed(const Target& t, const Failure& f) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(Item{t, f});
  if (queue_.size() == 1) cv_.notify_one();
}

void AsyncRecorder::Loop() {
  // Recording an outcome is never urgent: a removal lost in a crash only repeats a
  // notification, and Finish() drains the queue without waiting.
  constexpr auto kRecordBatchDelay = std::chrono::milliseconds(2);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    if (!stopping_) {
      lock.unlock();
      std::this_thread::sleep_for(kRecordBatchDelay);
      lock.lock();
    }
    std::deque<Item> batch;
    batch.swap(queue_);
    lock.unlock();
    size_t errors = 0;
    std::vector<Target> done;
    auto flush = [&] {
      if (done.empty()) return;
      if (!inner_->DoneMany(done).ok()) ++errors;
      done.clear();
    };
    for (Item& item : batch) {
      if (!item.failure) {
        done.push_back(std::move(item.target));
        continue;
      }
      flush();  // keep the order of outcomes
      Status s = inner_->Failed(item.target, *item.failure);
      if (!s.ok()) {
        log::Error("cannot record that ", log::Quoted{item.target.peer}, " failed: ", s.ToString());
        ++errors;
      }
    }
    flush();
    lock.lock();
    errors_ += errors;
  }
}

size_t AsyncRecorder::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  return errors_;
}

}  // namespace nsm::notify
