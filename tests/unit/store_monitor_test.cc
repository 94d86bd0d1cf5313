// Store: state number, metadata and the monitor list (add / replace / remove /
// remove-all, lookups by name and address), each test on a fresh state directory.
#include <gtest/gtest.h>

#include <thread>

#include "store/store.h"
#include "store_test_util.h"

namespace nsm::store {
namespace {

using test::Add;
using test::MakeMonitor;
using test::MonNames;
using test::OpenOrDie;
using test::Remove;
using test::RemoveAll;
using test::TempDir;

TEST(StoreState, FreshDatabaseStartsAtOneAndPersists) {
  TempDir dir;
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s);
    auto st = s->GetState();
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(*st, 1u);
    ASSERT_TRUE(s->SetState(7).ok());
    EXPECT_EQ(*s->GetState(), 7u);
    ASSERT_TRUE(s->SetState(0xffffffffu).ok());
    EXPECT_EQ(*s->GetState(), 0xffffffffu);
    ASSERT_TRUE(s->SetState(42).ok());
  }
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->GetState(), 42u);
}

TEST(StoreMeta, GetSetAndReservedKeys) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->GetMeta("legacy_imported").status().code(), Code::kNotFound);
  ASSERT_TRUE(s->SetMeta("legacy_imported", "1").ok());
  ASSERT_TRUE(s->SetMeta("legacy_imported", "2").ok());
  EXPECT_EQ(*s->GetMeta("legacy_imported"), "2");
  EXPECT_EQ(*s->GetMeta("state"), "1");
  EXPECT_EQ(s->SetMeta("state", "9").code(), Code::kInvalidArgument);
  EXPECT_EQ(s->SetMeta("", "9").code(), Code::kInvalidArgument);
  s.reset();
  s = OpenOrDie(dir.path());
  EXPECT_EQ(*s->GetMeta("legacy_imported"), "2");
}

TEST(StoreMonitors, AddListAndPersist) {
  TempDir dir;
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s);
    Monitor m = MakeMonitor("client1.example", "server", 1, {"192.0.2.1", "2001:db8::1"});
    ASSERT_TRUE(Add(*s, m).ok());
    ASSERT_TRUE(Add(*s, MakeMonitor("client2", "server", 2)).ok());
    EXPECT_EQ(*s->CountMonitors(), 2u);
  }
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  auto list = s->ListMonitors();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  const Monitor& a = (*list)[0];
  EXPECT_EQ(a.key, (MonitorKey{"client1.example", "server", 100021, 4, 16}));
  EXPECT_EQ(a.priv, MakeMonitor("x", "y", 1).priv);
  EXPECT_EQ(a.addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  EXPECT_EQ(a.caller, "127.0.0.1");
  EXPECT_EQ(a.added, 1700000000);
  EXPECT_EQ((*list)[1].key.mon_name, "client2");
  EXPECT_TRUE((*list)[1].addresses.empty());
}

TEST(StoreMonitors, SameKeyReplacesPrivAddressesCallerAdded) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 1, {"192.0.2.1", "192.0.2.2"})).ok());
  Monitor again = MakeMonitor("c", "server", 9, {"192.0.2.3"});
  again.caller = "::1";
  again.added = 1800000000;
  ASSERT_TRUE(Add(*s, again).ok());
  auto list = *s->ListMonitors();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].priv, again.priv);
  EXPECT_EQ(list[0].addresses, std::vector<std::string>{"192.0.2.3"});
  EXPECT_EQ(list[0].caller, "::1");
  EXPECT_EQ(list[0].added, 1800000000);
  // The old addresses no longer find it.
  EXPECT_TRUE(s->FindMonitorsByAddress("192.0.2.1")->empty());
  EXPECT_EQ(s->FindMonitorsByAddress("192.0.2.3")->size(), 1u);
}

TEST(StoreMonitors, DifferentMyIdStaysSeparateWithOwnPriv) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 1, {}, 100021, 4, 16)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 2, {}, 100021, 4, 24)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "other", 3, {}, 100021, 4, 16)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 4, {}, 100021, 3, 16)).ok());
  auto found = *s->FindMonitorsByName("c");
  ASSERT_EQ(found.size(), 4u);
  for (size_t i = 0; i < found.size(); ++i) EXPECT_EQ(found[i].priv[0], i + 1);
}

TEST(StoreMonitors, V4AndV6NamesOfOnePeerAreSeparateRecords) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("192.0.2.10", "server", 1, {"192.0.2.10"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("2001:db8::10", "server", 2, {"2001:db8::10"})).ok());
  EXPECT_EQ(*s->CountMonitors(), 2u);
  auto v4 = *s->FindMonitorsByName("192.0.2.10");
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].priv[0], 1);
  auto v6 = *s->FindMonitorsByName("2001:DB8:0::10");
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].priv[0], 2);
  // Removing one leaves the other.
  auto [st, removed] = Remove(*s, v4[0].key);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(removed);
  EXPECT_EQ(MonNames(*s->ListMonitors()), std::vector<std::string>{"2001:db8::10"});
}

TEST(StoreMonitors, FindByNameIsCaseInsensitiveAndCanonicalForIps) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("Client.Example", "server", 1)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("127.0.0.1", "server", 2)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("::FFFF:127.0.0.1", "server", 3)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("client", "server", 4)).ok());
  EXPECT_EQ(MonNames(*s->FindMonitorsByName("client.example")),
            std::vector<std::string>{"Client.Example"});
  EXPECT_EQ(MonNames(*s->FindMonitorsByName("CLIENT.EXAMPLE")),
            std::vector<std::string>{"Client.Example"});
  EXPECT_EQ(MonNames(*s->FindMonitorsByName("Client")), std::vector<std::string>{"client"});
  const std::vector<std::string> both{"127.0.0.1", "::FFFF:127.0.0.1"};
  EXPECT_EQ(MonNames(*s->FindMonitorsByName("::ffff:127.0.0.1")), both);
  EXPECT_EQ(MonNames(*s->FindMonitorsByName("127.0.0.1")), both);
  EXPECT_TRUE(s->FindMonitorsByName("127.0.0.2")->empty());
  EXPECT_TRUE(s->FindMonitorsByName("client.example.")->empty());
}

TEST(StoreMonitors, FindByAddress) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "server", 1, {"192.0.2.1", "2001:db8::1"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("b", "server", 2, {"192.0.2.1"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 3, {"192.0.2.3"})).ok());
  EXPECT_EQ(MonNames(*s->FindMonitorsByAddress("192.0.2.1")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(MonNames(*s->FindMonitorsByAddress("::ffff:192.0.2.1")),
            (std::vector<std::string>{"a", "b"}));
  auto v6 = *s->FindMonitorsByAddress("2001:db8::1");
  ASSERT_EQ(v6.size(), 1u);
  // A hit returns the whole record, all its addresses.
  EXPECT_EQ(v6[0].addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  EXPECT_TRUE(s->FindMonitorsByAddress("192.0.2.99")->empty());
}

TEST(StoreMonitors, DuplicateAddressesAreStoredOnce) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "server", 1, {"192.0.2.1", "::1", "192.0.2.1"})).ok());
  EXPECT_EQ((*s->ListMonitors())[0].addresses, (std::vector<std::string>{"192.0.2.1", "::1"}));
}

TEST(StoreMonitors, RemoveOnlyTheNamedRecord) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 1, {"192.0.2.1"}, 100021, 4, 16)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("c", "server", 2, {"192.0.2.1"}, 100021, 4, 24)).ok());
  auto [st, removed] = Remove(*s, MonitorKey{"c", "server", 100021, 4, 16});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(removed);
  auto rest = *s->ListMonitors();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].key.my_proc, 24u);
  EXPECT_EQ(s->FindMonitorsByAddress("192.0.2.1")->size(), 1u);
  // Not there (any more): still a success, removed = false.
  auto [st2, removed2] = Remove(*s, MonitorKey{"c", "server", 100021, 4, 16});
  EXPECT_TRUE(st2.ok());
  EXPECT_FALSE(removed2);
  // Case matters for the key: "C" is not "c".
  auto [st3, removed3] = Remove(*s, MonitorKey{"C", "server", 100021, 4, 24});
  EXPECT_TRUE(st3.ok());
  EXPECT_FALSE(removed3);
}

TEST(StoreMonitors, RemoveAllMatchesMyIdOnly) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "server", 1, {"192.0.2.1"})).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("b", "server", 2)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "server", 3, {}, 100021, 4, 24)).ok());
  ASSERT_TRUE(Add(*s, MakeMonitor("a", "other", 4)).ok());
  auto [st, keys] = RemoveAll(*s, "server");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(keys, (std::vector<MonitorKey>{{"a", "server", 100021, 4, 16},
                                           {"b", "server", 100021, 4, 16}}));
  auto rest = *s->ListMonitors();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].key.my_proc, 24u);
  EXPECT_EQ(rest[1].key.my_name, "other");
  // Addresses of removed records are gone with them (ON DELETE CASCADE).
  EXPECT_TRUE(s->FindMonitorsByAddress("192.0.2.1")->empty());
  auto [st2, none] = RemoveAll(*s, "server");
  EXPECT_TRUE(st2.ok());
  EXPECT_TRUE(none.empty());
}

TEST(StoreMonitors, InvalidInputIsRefusedBeforeTheDatabase) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(Add(*s, MakeMonitor("../etc/passwd")).code(), Code::kInvalidArgument);
  EXPECT_EQ(Add(*s, MakeMonitor(".hidden")).code(), Code::kInvalidArgument);
  EXPECT_EQ(Add(*s, MakeMonitor("")).code(), Code::kInvalidArgument);
  EXPECT_EQ(Add(*s, MakeMonitor("ok", "bad name")).code(), Code::kInvalidArgument);
  EXPECT_EQ(Add(*s, MakeMonitor("ok", "server", 0, {"not-an-ip"})).code(), Code::kInvalidArgument);
  EXPECT_EQ(*s->CountMonitors(), 0u);
  // A refused request does not spoil valid ones.
  EXPECT_TRUE(Add(*s, MakeMonitor("ok")).ok());
  EXPECT_EQ(*s->CountMonitors(), 1u);
}

TEST(StoreMonitors, CallbacksRunOnTheCommitterThreadAfterCommit) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s);
  std::promise<std::pair<std::thread::id, uint64_t>> p;
  auto f = p.get_future();
  Store* raw = s.get();
  s->AddMonitor(MakeMonitor("a"), [&](Status st) {
    EXPECT_TRUE(st.ok());
    // The record is visible to a synchronous read from inside the callback.
    p.set_value({std::this_thread::get_id(), *raw->CountMonitors()});
  });
  auto [tid, count] = f.get();
  EXPECT_NE(tid, std::this_thread::get_id());
  EXPECT_EQ(count, 1u);
}

TEST(StoreNames, ValidName) {
  EXPECT_TRUE(ValidName("a"));
  EXPECT_TRUE(ValidName("client-1.example.com"));
  EXPECT_TRUE(ValidName("2001:db8::1"));
  EXPECT_TRUE(ValidName("!~"));
  EXPECT_TRUE(ValidName(std::string(1024, 'x')));
  EXPECT_FALSE(ValidName(std::string(1025, 'x')));
  EXPECT_FALSE(ValidName(""));
  EXPECT_FALSE(ValidName(".x"));
  EXPECT_FALSE(ValidName("a/b"));
  EXPECT_FALSE(ValidName("a b"));
  EXPECT_FALSE(ValidName("a\tb"));
  EXPECT_FALSE(ValidName(std::string("a\0b", 3)));
  EXPECT_FALSE(ValidName("a\x7f"));
  EXPECT_FALSE(ValidName("caf\xc3\xa9"));
}

}  // namespace
}  // namespace nsm::store
