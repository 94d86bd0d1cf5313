// The resolver's answer cache: TTL expiry on a fake monotonic clock, negative
// entries, LRU eviction, and the test hosts table parser.
#include "resolver/cache.h"

#include <gtest/gtest.h>

#include "resolver/test_table.h"

namespace nsm::resolver {
namespace {

class FakeClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override { return now; }
  int64_t UnixSeconds() const override { return 0; }
  void Advance(std::chrono::steady_clock::duration d) { now += d; }
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
};

Addresses Addr(const char* s) { return {*net::Address::Parse(s)}; }

TEST(ResolverCache, PositiveEntryExpiresAfterTtl) {
  FakeClock clock;
  Cache c(10, clock);
  c.Put("a", Addr("192.0.2.1"), std::chrono::seconds(60));
  clock.Advance(std::chrono::seconds(59));
  auto hit = c.Lookup("a");
  ASSERT_TRUE(hit.has_value());
  ASSERT_TRUE(hit->ok());
  EXPECT_EQ((*hit)->at(0).ToString(), "192.0.2.1");
  clock.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(c.Lookup("a").has_value());
  EXPECT_EQ(c.size(), 0u);
}

TEST(ResolverCache, NegativeEntryKeepsItsStatus) {
  FakeClock clock;
  Cache c(10, clock);
  c.Put("nx", Status(Code::kNotFound, "no such host"), std::chrono::seconds(10));
  auto hit = c.Lookup("nx");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status().code(), Code::kNotFound);
  clock.Advance(std::chrono::seconds(10));
  EXPECT_FALSE(c.Lookup("nx").has_value());
}

TEST(ResolverCache, EvictsLeastRecentlyUsed) {
  FakeClock clock;
  Cache c(2, clock);
  c.Put("a", Addr("192.0.2.1"), std::chrono::seconds(60));
  c.Put("b", Addr("192.0.2.2"), std::chrono::seconds(60));
  ASSERT_TRUE(c.Lookup("a").has_value());  // b is now the coldest
  c.Put("c", Addr("192.0.2.3"), std::chrono::seconds(60));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.Lookup("a").has_value());
  EXPECT_FALSE(c.Lookup("b").has_value());
  EXPECT_TRUE(c.Lookup("c").has_value());
}

TEST(ResolverCache, ReplaceZeroTtlAndZeroCapacity) {
  FakeClock clock;
  Cache c(2, clock);
  c.Put("a", Addr("192.0.2.1"), std::chrono::seconds(60));
  c.Put("a", Addr("192.0.2.9"), std::chrono::seconds(60));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ((*c.Lookup("a"))->at(0).ToString(), "192.0.2.9");
  c.Put("a", Addr("192.0.2.1"), std::chrono::seconds(0));  // drops the old entry
  EXPECT_FALSE(c.Lookup("a").has_value());
  Cache none(0, clock);
  none.Put("a", Addr("192.0.2.1"), std::chrono::seconds(60));
  EXPECT_FALSE(none.Lookup("a").has_value());
}

TEST(ResolverTestTable, ParsesEveryForm) {
  auto t = ParseTestTable(
      "# comment\n"
      "\n"
      "Multi  192.0.2.1 2001:db8::1   # trailing comment\n"
      "nx nxdomain\n"
      "tmp\ttempfail\n"
      "h hang\n"
      "s slow 250 192.0.2.5\n"
      "snx slow 5 nxdomain\n"
      "c crash\ng garbage\nw wrongid\nm misroute\n"
      "p writeprobe /tmp/x");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 11u);
  EXPECT_EQ(t->at("p").kind, TestEntry::Kind::kWriteProbe);
  EXPECT_EQ(t->at("p").path, "/tmp/x");
  const auto& m = t->at("multi");
  EXPECT_EQ(m.kind, TestEntry::Kind::kAddresses);
  ASSERT_EQ(m.addresses.size(), 2u);
  EXPECT_EQ(m.addresses[1].ToString(), "2001:db8::1");
  EXPECT_EQ(t->at("nx").kind, TestEntry::Kind::kNotFound);
  EXPECT_EQ(t->at("tmp").kind, TestEntry::Kind::kTemporary);
  EXPECT_EQ(t->at("h").kind, TestEntry::Kind::kHang);
  EXPECT_EQ(t->at("s").delay, std::chrono::milliseconds(250));
  EXPECT_EQ(t->at("snx").kind, TestEntry::Kind::kNotFound);
  EXPECT_EQ(t->at("c").kind, TestEntry::Kind::kCrash);
  EXPECT_EQ(t->at("g").kind, TestEntry::Kind::kGarbage);
  EXPECT_EQ(t->at("w").kind, TestEntry::Kind::kWrongId);
  EXPECT_EQ(t->at("m").kind, TestEntry::Kind::kMisroute);
}

TEST(ResolverTestTable, RejectsBadLines) {
  for (const char* bad :
       {"lonely", "a not-an-ip", "a slow x 1.2.3.4", "a slow 5", "a hang extra",
        "a 192.0.2.1 nxdomain", "a slow -1 nxdomain", "a writeprobe", "a writeprobe /x /y"}) {
    auto t = ParseTestTable(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace nsm::resolver
