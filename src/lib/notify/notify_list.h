// sm-notify's work list: where it comes from and where outcomes go.
//
// TakeNotifyList (before daemonizing; it closes everything it opens, so nothing is
// carried across fork()) reads the state directory:
//   * <dir>/nsm.db exists -> the database. Normal run: if there is anything to notify
//     (monitors or notify entries), one transaction bumps the state number (unless
//     -n) and moves the monitor list into the notify list (Store::BeginReboot). With
//     keep_list nothing is moved: monitors and notify entries are read as they are.
//   * otherwise nfs-utils files (sm/, sm.bak/, state) -> legacy mode, read-only
//     except for `state` (bumped unless -n, as nfs-utils does) and, unless the list
//     is kept, the removal of a notified peer's sm.bak/ lines. In legacy mode -v
//     implies keep_list: HA scripts (CTDB, Pacemaker) run one sm-notify per floating
//     IP over the same files, and each run must find the whole list. Only the file
//     names are listed here; the plan's LegacyStream reads the files while notifying.
//   * neither -> nothing to notify (nothing is created).
// Entries for the same peer that send the same name are merged into one Target.
//
// MakeRecorder (after daemonizing) opens what recording needs. Recorders do blocking
// I/O (fsync); AsyncRecorder runs them on a thread of their own so the notifier's
// io_context never waits on the disk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "notify/legacy_dir.h"
#include "notify/notifier.h"
#include "store/store.h"

namespace nsm::notify {

enum class ListSource { kNone, kDatabase, kLegacy };
const char* ListSourceName(ListSource s);

struct TakeOptions {
  std::string state_dir;
  bool bump = true;                      // false with -n
  bool keep_list = false;                // --keep-list
  std::optional<std::string> notify_as;  // -v: the name sent instead of each my_name
  std::string nodename;                  // sent for legacy files that hold no record (and no -v)
};

// A legacy list read while it is notified (sm-notify -P on nfs-utils files): the files
// are read on a thread of the stream's own, a batch at a time (small ones first), and
// each batch's targets go to the notifier at once, so the first SM_NOTIFY does not wait
// for the 10,000th file, and reading overlaps notifying. Files whose names are one peer
// (case, IP spelling, the same name in sm.bak/ and sm/) are read in one batch, so their
// entries still merge into one Target; sources index the stream's entries (Entry()).
// Skipped files and lines are logged as warnings as they are met.
class LegacyStream : public TargetSource {
 public:
  LegacyStream(std::string dir, std::vector<LegacyFile> files, std::optional<std::string> notify_as,
               std::string nodename);
  ~LegacyStream() override;  // Stop()
  void Start(Feed feed) override;
  void Stop() override;
  // The peers the files name (files of one peer counted once): the hosts to notify.
  size_t hosts() const { return groups_.size(); }
  // The entry a Target source index names. Any thread.
  LegacyEntry Entry(size_t source) const;

  // Peers per batch: 64, doubling up to 1,024 (each batch is read while the one before
  // is notified; reading a peer is several times quicker than notifying it).
  static constexpr size_t kFirstBatch = 64, kBatch = 1024;

 private:
  void Run(const Feed& feed);
  const std::string dir_;
  const std::vector<LegacyFile> files_;
  const std::optional<std::string> notify_as_;
  const std::string nodename_;
  std::vector<std::vector<size_t>> groups_;  // indices into files_, one group per peer
  mutable std::mutex mu_;
  std::deque<LegacyEntry> entries_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct NotifyPlan {
  ListSource source = ListSource::kNone;
  std::string state_dir;
  bool keep = false;                           // outcomes are not recorded: the list stays as it is
  uint32_t state = 0;                          // the state number to announce
  bool bumped = false;                         // the state number was changed by this run
  std::vector<Target> targets;                 // kDatabase; the recorders never read them
  std::vector<store::NotifyEntry> db_entries;  // kDatabase: what Target::sources index
  std::shared_ptr<LegacyStream> stream;        // kLegacy: the targets, and their entries
  std::vector<std::string> warnings;           // skipped files / lines, for the log
};

Result<NotifyPlan> TakeNotifyList(const TakeOptions& options);

// Pure helpers (unit-tested): entries -> targets, merging entries of the same peer
// (case-insensitive name, canonical IP) that send the same name.
std::vector<Target> BuildTargets(const std::vector<store::NotifyEntry>& entries,
                                 const std::optional<std::string>& notify_as);
std::vector<Target> BuildLegacyTargets(const std::vector<LegacyEntry>& entries,
                                       const std::optional<std::string>& notify_as,
                                       const std::string& nodename);
// Monitors as notify entries: one per (mon_name, my_name), addresses unioned.
std::vector<store::NotifyEntry> MonitorsAsEntries(const std::vector<store::Monitor>& monitors);

// Records outcomes. Done: the peer answered (it leaves the list). Failed: it never
// answered within the retry limit (it stays, marked failed with its last error).
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual Status Done(const Target& t) = 0;
  virtual Status Failed(const Target& t, const Failure& f) = 0;
  // Several answered targets at once (a recorder that can batch them overrides it).
  // Returns the first error; every target is attempted.
  virtual Status DoneMany(const std::vector<Target>& targets);
};

// keep -> records nothing; kDatabase -> Store::NotifyDone / NotifyAttempt(kFailed);
// kLegacy -> removes sm.bak/ lines of answered peers (failed ones stay).
Result<std::unique_ptr<Recorder>> MakeRecorder(std::shared_ptr<const NotifyPlan> plan);

// Runs a Recorder on its own thread, in order. Done()/Failed() only queue (any
// thread); the answered targets queued while the previous write ran go to DoneMany
// together. Finish() waits until everything queued is recorded, stops the thread and
// returns how many writes failed (each failure is logged).
class AsyncRecorder {
 public:
  explicit AsyncRecorder(std::unique_ptr<Recorder> inner);
  ~AsyncRecorder();  // Finish()
  void Done(const Target& t);
  void Failed(const Target& t, const Failure& f);
  size_t Finish();

 private:
  struct Item {
    Target target;
    std::optional<Failure> failure;  // nullopt: done
  };
  void Loop();
  std::unique_ptr<Recorder> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  size_t errors_ = 0;
  std::thread thread_;
};

}  // namespace nsm::notify
