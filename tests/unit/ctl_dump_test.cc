// Export format: JSON round trip, strict validation, import into a store (merge,
// state never going back), output formats (tables, Prometheus).
#include "ctl/dump.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "ctl/format.h"

namespace nsm::ctl {
namespace {

namespace fs = std::filesystem;
using control::Json;

Dump Sample() {
  Dump d;
  d.state = 41;
  store::Monitor m;
  m.key = {"198.18.1.2", "nsm-a", 100021, 3, 16};
  m.priv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  m.addresses = {"198.18.1.2", "fd00::2"};
  m.caller = "127.0.0.1";
  m.added = 1700000000;
  store::Monitor g = m;
  g.key.my_name = "ganesha";
  g.key.my_vers = 4;
  g.priv = {};
  d.monitors = {m, g};
  store::NotifyEntry e;
  e.mon_name = "old.example";
  e.my_name = "nsm-a";
  e.addresses = {"198.18.3.2"};
  e.status = store::NotifyStatus::kFailed;
  e.attempts = 7;
  e.last_error = "timed out";
  e.added = 1700000001;
  e.last_attempt = 1700000500;
  d.notify = {e};
  return d;
}

TEST(DumpJsonTest, RoundTrip) {
  const Dump d = Sample();
  Json j = DumpToJson(d, Json{{"host", "h1"}});
  EXPECT_EQ(j["format"], "nsm-state");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["host"], "h1");
  EXPECT_EQ(j["monitors"][0]["priv"], "0102030405060708090a0b0c0d0e0f10");
  // Through text, as export | import does.
  Result<Json> parsed = control::ParseJson(control::DumpJson(j, 2));
  ASSERT_TRUE(parsed.ok());
  Result<Dump> back = DumpFromJson(*parsed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->state, 41u);
  ASSERT_EQ(back->monitors.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->monitors[i].key, d.monitors[i].key);
    EXPECT_EQ(back->monitors[i].priv, d.monitors[i].priv);
    EXPECT_EQ(back->monitors[i].addresses, d.monitors[i].addresses);
    EXPECT_EQ(back->monitors[i].caller, d.monitors[i].caller);
    EXPECT_EQ(back->monitors[i].added, d.monitors[i].added);
  }
  ASSERT_EQ(back->notify.size(), 1u);
  const auto& e = back->notify[0];
  EXPECT_EQ(e.mon_name, "old.example");
  EXPECT_EQ(e.status, store::NotifyStatus::kFailed);
  EXPECT_EQ(e.attempts, 7);
  EXPECT_EQ(e.last_error, "timed out");
  EXPECT_EQ(e.last_attempt, 1700000500);
}

TEST(DumpJsonTest, StrictValidation) {
  Json good = DumpToJson(Sample());
  auto expect_bad = [](Json j, const std::string& needle) {
    Result<Dump> r = DumpFromJson(j);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  Json j = good;
  j["format"] = "something";
  expect_bad(j, "not an nsm export");
  j = good;
  j["version"] = 99;
  expect_bad(j, "newer");
  j = good;
  j["monitors"][1]["priv"] = "abc";
  expect_bad(j, "monitors[1].priv");
  j = good;
  j["monitors"][0]["mon_name"] = "a/b";
  expect_bad(j, "monitors[0].mon_name");
  j = good;
  j["monitors"][0]["my_prog"] = -1;
  expect_bad(j, "monitors[0].my_prog");
  j = good;
  j["monitors"][0]["addresses"] = {"not-an-ip"};
  expect_bad(j, "monitors[0].addresses");
  j = good;
  j["notify"][0]["status"] = "done";
  expect_bad(j, "notify[0].status");
  j = good;
  j["state"] = "41";
  expect_bad(j, "state");
  EXPECT_FALSE(DumpFromJson(Json::array()).ok());
  // Addresses are stored canonical.
  j = good;
  j["monitors"][0]["addresses"] = {"::ffff:198.18.1.2", "FD00:0::2"};
  Result<Dump> r = DumpFromJson(j);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->monitors[0].addresses, (std::vector<std::string>{"198.18.1.2", "fd00::2"}));
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-import-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<store::Store> Open() {
    auto s = store::Store::Open(dir_, store::Options{});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string dir_;
};

TEST_F(ImportTest, ImportsAndReadsBack) {
  auto s = Open();
  ASSERT_TRUE(s);
  Result<ImportReport> r = ImportDump(*s, Sample());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->monitors, 2u);
  EXPECT_EQ(r->notify, 1u);
  EXPECT_EQ(r->state_after, 41u);
  EXPECT_FALSE(r->state_kept);

  Result<Dump> d = ReadStore(*s);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, 41u);
  ASSERT_EQ(d->monitors.size(), 2u);
  EXPECT_EQ(d->monitors[0].priv, Sample().monitors[0].priv);
  EXPECT_EQ(d->monitors[0].added, 1700000000);
  ASSERT_EQ(d->notify.size(), 1u);
  EXPECT_EQ(d->notify[0].attempts, 7);
  EXPECT_EQ(d->notify[0].status, store::NotifyStatus::kFailed);

  // Importing again merges (upsert): nothing doubles. A lower state is not applied.
  Dump again = Sample();
  again.state = 11;
  again.monitors[0].priv.fill(9);
  r = ImportDump(*s, again);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->state_kept);
  EXPECT_EQ(r->state_after, 41u);
  d = ReadStore(*s);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, 41u);
  ASSERT_EQ(d->monitors.size(), 2u);
  EXPECT_EQ(d->monitors[0].priv[0], 9);
  EXPECT_EQ(d->notify.size(), 1u);
}

TEST(FormatTest, TablesAndTimes) {
  Table t({"A", "LONGER", "C"});
  t.Add({"xxxx", "1", ""});
  t.Add({"y", "22", "z"});
  EXPECT_EQ(t.Render(),
            "A     LONGER  C\n"
            "xxxx  1\n"
            "y     22      z\n");
  EXPECT_EQ(FormatTime(0), "-");
  EXPECT_EQ(FormatTime(1700000000), "2023-11-14 22:13:20Z");
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(307), "5m07s");
  EXPECT_EQ(FormatDuration(7380), "2h03m");
  EXPECT_EQ(FormatDuration(273600), "3d04h");
  EXPECT_EQ(Printable("a\x1b[2Jb\\"), "a\\x1b[2Jb\\x5c");
  EXPECT_EQ(JoinOrDash({}), "-");
  EXPECT_EQ(JoinOrDash({"a", "b"}), "a, b");
}

TEST(FormatTest, Prometheus) {
  Json stats = {{"sm", {{"calls", {{"SM_MON", 3}, {"SM_NOTIFY", 1}}}, {"refused", 2}}},
                {"callbacks", {{"in_flight", 1}}},
                {"future", {{"thing", 5}}}};
  Json db = {{"state", 41}, {"monitors", 2}};
  EXPECT_EQ(PrometheusText(stats, db, true),
            "# HELP nsm_up 1 if rpc.statd answered on its control socket\n"
            "# TYPE nsm_up gauge\n"
            "nsm_up 1\n"
            "# HELP nsm_monitors monitor records in the database\n"
            "# TYPE nsm_monitors gauge\n"
            "nsm_monitors 2\n"
            "# HELP nsm_state local NSM state number\n"
            "# TYPE nsm_state gauge\n"
            "nsm_state 41\n"
            "# HELP nsm_callbacks_in_flight lockd callbacks in flight\n"
            "# TYPE nsm_callbacks_in_flight gauge\n"
            "nsm_callbacks_in_flight 1\n"
            "# TYPE nsm_future_thing untyped\n"
            "nsm_future_thing 5\n"
            "# HELP nsm_sm_calls_total SM procedure calls\n"
            "# TYPE nsm_sm_calls_total counter\n"
            "nsm_sm_calls_total{proc=\"SM_MON\"} 3\n"
            "nsm_sm_calls_total{proc=\"SM_NOTIFY\"} 1\n"
            "# HELP nsm_sm_refused_total SM calls refused by policy\n"
            "# TYPE nsm_sm_refused_total counter\n"
            "nsm_sm_refused_total 2\n");
  EXPECT_EQ(PrometheusText(stats, Json::object(), false),
            "# HELP nsm_up 1 if rpc.statd answered on its control socket\n"
            "# TYPE nsm_up gauge\n"
            "nsm_up 0\n");
  std::string table = StatsTable(stats, db);
  EXPECT_NE(table.find("sm.calls.SM_MON"), std::string::npos) << table;
  EXPECT_NE(table.find("db.state"), std::string::npos) << table;
}

}  // namespace
}  // namespace nsm::ctl
