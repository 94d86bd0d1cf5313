// sm-notify's list: taking it from the database (reboot step, keep mode) or from
// nfs-utils files, merging entries into targets, recording outcomes; the nsm-only
// options, the once-per-boot marker and the kernel control files.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "legacy/format.h"
#include "notify/notify_list.h"
#include "notify/system.h"
#include "notify_legacy_util.h"
#include "store/store.h"

namespace nsm::notify {
namespace {

namespace fs = std::filesystem;

class Dir {
 public:
  Dir() {
    char tmpl[] = "/tmp/nsm-notify-list-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~Dir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  void Write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(path_ + "/" + rel).parent_path());
    std::ofstream(path_ + "/" + rel, std::ios::binary) << text;
  }

 private:
  std::string path_;
};

std::unique_ptr<store::Store> OpenStore(const std::string& dir) {
  auto r = store::Store::Open(dir, store::Options{});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

void AddMonitor(store::Store& s, const std::string& mon, const std::string& my,
                std::vector<std::string> addrs, uint32_t vers = 3) {
  store::Monitor m;
  m.key = store::MonitorKey{mon, my, 100021, vers, 16};
  m.addresses = std::move(addrs);
  m.caller = "127.0.0.1";
  std::promise<Status> p;
  s.AddMonitor(m, [&p](Status st) { p.set_value(st); });
  ASSERT_TRUE(p.get_future().get().ok());
}

std::string Line(const std::string& mon, const std::string& my) {
  return "0100007f 000186b5 00000003 00000010 00000000000000000000000000000000 " + mon + " " + my +
         "\n";
}

TakeOptions Take(const Dir& d) {
  TakeOptions o;
  o.state_dir = d.path();
  o.nodename = "node";
  return o;
}

// ---------------------------------------------------------------- targets
TEST(NotifyTargets, MergesEntriesOfOnePeerThatSendTheSameName) {
  std::vector<store::NotifyEntry> e(4);
  e[0].mon_name = "Client.Example";
  e[0].my_name = "server";
  e[0].addresses = {"192.0.2.1"};
  e[1].mon_name = "client.example";
  e[1].my_name = "server";
  e[1].addresses = {"192.0.2.1", "::ffff:192.0.2.2"};
  e[2].mon_name = "client.example";
  e[2].my_name = "alias";
  e[3].mon_name = "2001:DB8::1";
  e[3].my_name = "server";
  std::vector<Target> t = BuildTargets(e, std::nullopt);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].peer, "Client.Example");
  EXPECT_EQ(t[0].notify_name, "server");
  EXPECT_EQ(t[0].sources, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(t[0].addresses, (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(t[1].notify_name, "alias");
  EXPECT_EQ(t[2].peer, "2001:DB8::1");
  // With -v every entry of a peer sends the same name: one target per peer.
  t = BuildTargets(e, std::string("198.18.0.9"));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].sources, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(t[0].notify_name, "198.18.0.9");
}

TEST(NotifyTargets, LegacyEntriesUseTheFileNameAndIpMonNames) {
  std::vector<LegacyEntry> e(3);
  e[0].file = "client.example";
  e[0].has_record = true;
  e[0].record.mon_name = "192.0.2.7";
  e[0].record.my_name = "server";
  e[1].file = "client.example";
  e[1].in_notify_dir = true;
  e[1].has_record = true;
  e[1].record.mon_name = "client";
  e[1].record.my_name = "server";
  e[2].file = "touched";  // no record
  std::vector<Target> t = BuildLegacyTargets(e, std::nullopt, "node");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].peer, "client.example");
  EXPECT_EQ(t[0].addresses, std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(t[0].sources, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(t[1].notify_name, "node");
  t = BuildLegacyTargets(e, std::string("10.0.0.1"), "node");
  EXPECT_EQ(t[1].notify_name, "10.0.0.1");
}

// ---------------------------------------------------------------- database
TEST(NotifyList, RebootMovesMonitorsToTheNotifyListAndBumpsTheState) {
  Dir d;
  {
    auto s = OpenStore(d.path());
    ASSERT_TRUE(s->SetState(5).ok());
    AddMonitor(*s, "192.0.2.1", "server", {"192.0.2.1"});
    AddMonitor(*s, "client.example", "server", {"192.0.2.2", "2001:db8::2"});
  }
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->source, ListSource::kDatabase);
  EXPECT_FALSE(p->keep);
  EXPECT_EQ(p->state, 7u);
  EXPECT_TRUE(p->bumped);
  ASSERT_EQ(p->targets.size(), 2u);
  EXPECT_EQ(p->targets[1].addresses, (std::vector<std::string>{"192.0.2.2", "2001:db8::2"}));
  {
    auto s = OpenStore(d.path());
    EXPECT_EQ(*s->CountMonitors(), 0u);
    EXPECT_EQ(s->ListNotify()->size(), 2u);
    EXPECT_EQ(*s->GetState(), 7u);
  }
  // A rerun (after a crash) finds the same list, and -n leaves the state alone.
  TakeOptions o = Take(d);
  o.bump = false;
  p = TakeNotifyList(o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->targets.size(), 2u);
  EXPECT_EQ(p->state, 7u);
  EXPECT_FALSE(p->bumped);
}

TEST(NotifyList, NothingToNotifyLeavesTheStateAlone) {
  Dir d;
  { ASSERT_TRUE(OpenStore(d.path())->SetState(9).ok()); }
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->targets.empty());
  EXPECT_EQ(p->state, 9u);
  EXPECT_EQ(*OpenStore(d.path())->GetState(), 9u);
}

TEST(NotifyList, EmptyDirectoryIsNothingToNotifyAndCreatesNothing) {
  Dir d;
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->source, ListSource::kNone);
  EXPECT_TRUE(p->targets.empty());
  EXPECT_TRUE(fs::is_empty(d.path()));
  TakeOptions o = Take(d);
  o.state_dir = d.path() + "/missing";
  EXPECT_FALSE(TakeNotifyList(o).ok());
}

TEST(NotifyList, KeepListReadsMonitorsAndNotifyEntriesWithoutMovingThem) {
  Dir d;
  {
    auto s = OpenStore(d.path());
    AddMonitor(*s, "192.0.2.1", "server", {"192.0.2.1"});
    store::NotifyEntry owed;
    owed.mon_name = "192.0.2.9";
    owed.my_name = "server";
    ASSERT_TRUE(s->AddNotify(owed).ok());
  }
  TakeOptions o = Take(d);
  o.keep_list = true;
  Result<NotifyPlan> p = TakeNotifyList(o);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->keep);
  ASSERT_EQ(p->targets.size(), 2u);
  EXPECT_EQ(p->targets[0].peer, "192.0.2.9");
  EXPECT_EQ(p->targets[1].peer, "192.0.2.1");
  EXPECT_EQ(p->state, 3u);  // 1 -> next odd
  auto s = OpenStore(d.path());
  EXPECT_EQ(*s->CountMonitors(), 1u);
  EXPECT_EQ(s->ListNotify()->size(), 1u);
}

TEST(NotifyList, StoreRecorderRemovesAnsweredPeersAndMarksFailedOnes) {
  Dir d;
  {
    auto s = OpenStore(d.path());
    AddMonitor(*s, "192.0.2.1", "server", {"192.0.2.1"});
    AddMonitor(*s, "192.0.2.2", "server", {"192.0.2.2"});
  }
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok());
  auto plan = std::make_shared<const NotifyPlan>(std::move(*p));
  Result<std::unique_ptr<Recorder>> r = MakeRecorder(plan);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  {
    AsyncRecorder rec(std::move(*r));
    rec.Done(plan->targets[0]);
    rec.Failed(plan->targets[1], Failure{12, "192.0.2.2: rpcbind: no reply"});
    EXPECT_EQ(rec.Finish(), 0u);
  }
  auto s = OpenStore(d.path());
  auto list = s->ListNotify();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].mon_name, "192.0.2.2");
  EXPECT_EQ((*list)[0].status, store::NotifyStatus::kFailed);
  EXPECT_EQ((*list)[0].attempts, 1);
  EXPECT_NE((*list)[0].last_error.find("rpcbind: no reply (12 attempts"), std::string::npos)
      << (*list)[0].last_error;
}

// A recorder that logs what it was asked, slowly, to see batching and order.
class SlowRecorder : public Recorder {
 public:
  Status Done(const Target& t) override {
    calls.push_back("done " + t.peer);
    return t.peer == "bad" ? Status(Code::kIoError, "disk") : Status::Ok();
  }
  Status DoneMany(const std::vector<Target>& ts) override {
    writing = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    batches.push_back(ts.size());
    return Recorder::DoneMany(ts);
  }
  Status Failed(const Target& t, const Failure& f) override {
    calls.push_back("failed " + t.peer + " " + std::to_string(f.attempts));
    return Status::Ok();
  }
  std::vector<std::string> calls;
  std::vector<size_t> batches;
  std::atomic<bool> writing{false};
};

TEST(AsyncRecorder, BatchesAnsweredPeersKeepsOrderAndCountsErrors) {
  auto inner = std::make_unique<SlowRecorder>();
  SlowRecorder* r = inner.get();
  AsyncRecorder rec(std::move(inner));
  auto target = [](std::string peer) {
    Target t;
    t.peer = std::move(peer);
    return t;
  };
  rec.Done(target("first"));
  while (!r->writing)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // "first" is being written
  for (int i = 0; i < 50; ++i) rec.Done(target("p" + std::to_string(i)));
  rec.Failed(target("dead"), Failure{3, "no answer"});
  rec.Done(target("bad"));
  EXPECT_EQ(rec.Finish(), 1u);
  ASSERT_EQ(r->calls.size(), 53u);
  EXPECT_EQ(r->calls[0], "done first");
  EXPECT_EQ(r->calls[51], "failed dead 3");
  EXPECT_EQ(r->calls[52], "done bad");
  // The 50 queued while "first" was written went in one batch.
  ASSERT_GE(r->batches.size(), 2u);
  EXPECT_EQ(r->batches[0], 1u);
  EXPECT_EQ(r->batches[1], 50u);
  EXPECT_EQ(rec.Finish(), 1u);  // idempotent
}

// ---------------------------------------------------------------- legacy
// Runs a stream to its end, collecting its batches.
struct Streamed {
  std::vector<std::vector<Target>> batches;
  int lasts = 0;
  std::vector<Target> All() const {
    std::vector<Target> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
  }
};
Streamed RunStream(LegacyStream& s) {
  Streamed out;
  std::promise<void> done;
  std::mutex mu;
  s.Start([&](std::vector<Target> batch, bool last) {
    std::lock_guard<std::mutex> lock(mu);
    out.batches.push_back(std::move(batch));
    if (last) {
      ++out.lasts;
      done.set_value();
    }
  });
  done.get_future().wait();
  s.Stop();
  return out;
}

TEST(NotifyList, LegacyDirectoryIsReadAndItsStateBumped) {
  Dir d;
  d.Write("sm/192.0.2.1", Line("192.0.2.1", "server"));
  d.Write("sm.bak/client.example", Line("client.example", "server"));
  d.Write("state", legacy::EncodeState(11));
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->source, ListSource::kLegacy);
  EXPECT_FALSE(p->keep);
  EXPECT_EQ(p->state, 13u);
  ASSERT_NE(p->stream, nullptr);
  const std::vector<Target> targets = RunStream(*p->stream).All();
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].peer, "client.example");  // sm.bak/ first
  EXPECT_FALSE(fs::exists(d.path() + "/" NSM_DB_NAME));
  std::ifstream f(d.path() + "/state", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(legacy::ParseState(bytes), 13u);

  // Recording: the answered sm.bak/ peer is removed; sm/ is never touched.
  auto plan = std::make_shared<const NotifyPlan>(std::move(*p));
  Result<std::unique_ptr<Recorder>> r = MakeRecorder(plan);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*r)->Done(targets[0]).ok());
  ASSERT_TRUE((*r)->Done(targets[1]).ok());
  EXPECT_FALSE(fs::exists(d.path() + "/sm.bak/client.example"));
  EXPECT_TRUE(fs::exists(d.path() + "/sm/192.0.2.1"));
}

TEST(NotifyList, LegacyWithVKeepsTheListAndWithNLeavesTheState) {
  Dir d;
  d.Write("sm.bak/client.example", Line("client.example", "server"));
  d.Write("state", legacy::EncodeState(11));
  TakeOptions o = Take(d);
  o.notify_as = "198.18.0.1";
  o.bump = false;
  Result<NotifyPlan> p = TakeNotifyList(o);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->keep);
  EXPECT_EQ(p->state, 11u);
  EXPECT_FALSE(p->bumped);
  ASSERT_NE(p->stream, nullptr);
  const std::vector<Target> targets = RunStream(*p->stream).All();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].notify_name, "198.18.0.1");
  auto plan = std::make_shared<const NotifyPlan>(std::move(*p));
  Result<std::unique_ptr<Recorder>> r = MakeRecorder(plan);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*r)->Done(targets[0]).ok());
  EXPECT_TRUE(fs::exists(d.path() + "/sm.bak/client.example"));
}

TEST(NotifyList, StreamedLegacyListGivesWhatTheWholeReadGives) {
  // More peers than one batch; one peer in both sm.bak/ and sm/, one under two spellings
  // of its name far apart in name order, a file with two records, garbage.
  Dir d;
  const size_t kPeers = LegacyStream::kFirstBatch + LegacyStream::kBatch + 10;
  for (size_t i = 0; i < kPeers; ++i) {
    const std::string name = "peer" + std::to_string(10000 + i) + ".example";
    d.Write("sm/" + name, Line(name, "server"));
  }
  d.Write("sm.bak/peer10000.example", Line("peer10000.example", "server"));
  d.Write("sm/Alpha.example", Line("Alpha.example", "server"));
  d.Write("sm/alpha.example", Line("alpha.example", "server") + Line("alpha.example", "alias"));
  d.Write("sm/garbage.example", "not a record\n");
  d.Write("state", legacy::EncodeState(11));

  Result<test::WholeDir> whole = test::ReadWholeDir(d.path());
  ASSERT_TRUE(whole.ok());
  std::vector<Target> expected = BuildLegacyTargets(whole->entries, std::nullopt, "node");

  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_NE(p->stream, nullptr);
  EXPECT_TRUE(p->targets.empty());
  EXPECT_EQ(p->state, 13u);                   // bumped before anything is read
  EXPECT_EQ(p->stream->hosts(), kPeers + 2);  // Alpha/alpha one host; garbage one too
  Streamed got = RunStream(*p->stream);
  EXPECT_EQ(got.lasts, 1);
  ASSERT_GE(got.batches.size(), 3u);
  EXPECT_LE(got.batches.front().size(), LegacyStream::kFirstBatch);

  // The same targets, each with sources naming the same entries.
  auto key = [](const Target& t) { return t.peer + "|" + t.notify_name; };
  std::map<std::string, std::set<std::string>> want, have;
  for (const Target& t : expected) {
    for (size_t src : t.sources) {
      const LegacyEntry& e = whole->entries[src];
      want[key(t)].insert(std::string(e.in_notify_dir ? "bak/" : "sm/") + e.file + "/" +
                          e.record.my_name);
    }
  }
  for (const Target& t : got.All()) {
    ASSERT_EQ(have.count(key(t)), 0u) << "target twice: " << key(t);
    for (size_t src : t.sources) {
      LegacyEntry e = p->stream->Entry(src);
      have[key(t)].insert(std::string(e.in_notify_dir ? "bak/" : "sm/") + e.file + "/" +
                          e.record.my_name);
    }
  }
  EXPECT_EQ(have, want);
  EXPECT_EQ(want.size(), kPeers + 2);  // peer10000 merged; Alpha/alpha: server and alias
  EXPECT_EQ(want["peer10000.example|server"].size(), 2u);

  // The recorder finds the streamed entries: the sm.bak/ record of peer10000 goes.
  auto plan = std::make_shared<const NotifyPlan>(std::move(*p));
  Result<std::unique_ptr<Recorder>> r = MakeRecorder(plan);
  ASSERT_TRUE(r.ok());
  for (const Target& t : got.All()) {
    if (t.peer == "peer10000.example") {
      ASSERT_TRUE((*r)->Done(t).ok());
    }
  }
  EXPECT_FALSE(fs::exists(d.path() + "/sm.bak/peer10000.example"));
  EXPECT_TRUE(fs::exists(d.path() + "/sm/peer10000.example"));
}

TEST(NotifyList, StreamedLegacyListCanStopEarlyAndEmptyOneIsNothingToNotify) {
  Dir d;
  for (size_t i = 0; i < 3 * LegacyStream::kBatch; ++i) {
    d.Write("sm/p" + std::to_string(i), Line("p" + std::to_string(i), "server"));
  }
  Result<NotifyPlan> p = TakeNotifyList(Take(d));
  ASSERT_TRUE(p.ok());
  std::atomic<int> calls{0};
  p->stream->Start([&](std::vector<Target>, bool) { ++calls; });
  p->stream->Stop();  // joins, whatever it had read
  const int seen = calls.load();
  EXPECT_LE(seen, 4);
  p->stream->Stop();  // idempotent
  EXPECT_EQ(calls.load(), seen);

  Dir empty;
  empty.Write("state", legacy::EncodeState(11));
  Result<NotifyPlan> none = TakeNotifyList(Take(empty));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->source, ListSource::kLegacy);
  EXPECT_EQ(none->stream, nullptr);
  EXPECT_TRUE(none->targets.empty());
  EXPECT_EQ(none->state, 11u);  // nothing to notify: left alone
}

// ---------------------------------------------------------------- system
TEST(NsmArgs, KeepListIsTakenOutAndOptionValuesAreLeftAlone) {
  std::vector<std::string> in = {"sm-notify", "-d", "--keep-list", "-v", "--keep-list",
                                 "-P",        "/x", "-dm",         "5",  "--config",
                                 "f",         "--", "--keep-list"};
  std::vector<char*> argv;
  for (auto& s : in) argv.push_back(s.data());
  NsmArgs a = SplitNsmArgs(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(a.keep_list);
  ASSERT_EQ(a.argc(), 12);
  EXPECT_EQ(a.argv.back(), nullptr);
  std::vector<std::string> out(a.argv.begin(), a.argv.end() - 1);
  EXPECT_EQ(out, (std::vector<std::string>{"sm-notify", "-d", "-v", "--keep-list", "-P", "/x",
                                           "-dm", "5", "--config", "f", "--", "--keep-list"}));
  std::vector<std::string> plain = {"sm-notify", "-f"};
  std::vector<char*> pv = {plain[0].data(), plain[1].data()};
  EXPECT_FALSE(SplitNsmArgs(2, pv.data()).keep_list);
}

TEST(BootMarker, FirstRunCreatesItLaterRunsSeeIt) {
  Dir d;
  const std::string path = d.path() + "/sm-notify.pid";
  Result<bool> first = MarkRunThisBoot(path);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  Result<bool> again = MarkRunThisBoot(path);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  std::ifstream f(path);
  int pid = 0;
  f >> pid;
  EXPECT_EQ(pid, getpid());
  // A symlink planted there is not followed.
  fs::create_symlink(d.path() + "/target", d.path() + "/link");
  EXPECT_FALSE(*MarkRunThisBoot(d.path() + "/link"));
  EXPECT_FALSE(fs::exists(d.path() + "/target"));
  EXPECT_FALSE(MarkRunThisBoot(d.path() + "/missing/x").ok());
}

TEST(ControlFiles, MissingIsNotAnErrorAndWritesGoThrough) {
  Dir d;
  Result<ControlFile> missing = ControlFile::OpenIfExists(d.path() + "/nlm_end_grace");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->is_open());
  d.Write("nsm_local_state", "");
  Result<ControlFile> f = ControlFile::OpenIfExists(d.path() + "/nsm_local_state");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->is_open());
  ASSERT_TRUE(f->Write("13").ok());
  EXPECT_FALSE(f->is_open());
  std::ifstream in(d.path() + "/nsm_local_state");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "13");
}

}  // namespace
}  // namespace nsm::notify
