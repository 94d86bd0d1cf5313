// Address parsing, normalisation of IPv4-mapped addresses, loopback detection.
#include "net/address.h"

#include <gtest/gtest.h>

namespace nsm::net {
namespace {

TEST(Address, ParsesV4AndV6) {
  auto a = Address::Parse("192.0.2.7", 111);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->port(), 111);
  EXPECT_EQ(a->ToString(), "192.0.2.7");
  EXPECT_EQ(a->ToStringWithPort(), "192.0.2.7:111");
  auto b = Address::Parse("2001:DB8::1", 2049);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->ToString(), "2001:db8::1");
  EXPECT_EQ(b->ToStringWithPort(), "[2001:db8::1]:2049");
}

TEST(Address, RejectsNames) {
  EXPECT_FALSE(Address::Parse("localhost"));
  EXPECT_FALSE(Address::Parse(""));
  EXPECT_FALSE(Address::Parse("1.2.3"));
  EXPECT_FALSE(Address::Parse("::1%"));
  EXPECT_FALSE(IsIpLiteral("host.example"));
}

TEST(Address, FoldsV4Mapped) {
  auto m = Address::Parse("::ffff:127.0.0.1", 5);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_v6());
  auto n = m->Normalized();
  EXPECT_TRUE(n.is_v4());
  EXPECT_EQ(n.ToString(), "127.0.0.1");
  EXPECT_EQ(n.port(), 5);
  EXPECT_EQ(CanonicalIp("::FFFF:198.18.0.1"), "198.18.0.1");
  EXPECT_TRUE(m->SameHost(*Address::Parse("127.0.0.1", 9)));
}

TEST(Address, Loopback) {
  EXPECT_TRUE(Address::Parse("127.0.0.1")->IsLoopback());
  EXPECT_TRUE(Address::Parse("127.9.8.7")->IsLoopback());
  EXPECT_TRUE(Address::Parse("::1")->IsLoopback());
  EXPECT_TRUE(Address::Parse("::ffff:127.0.0.1")->IsLoopback());
  EXPECT_FALSE(Address::Parse("198.18.0.1")->IsLoopback());
  EXPECT_FALSE(Address::Parse("::2")->IsLoopback());
  EXPECT_FALSE(Address::Parse("::ffff:198.18.0.1")->IsLoopback());
}

TEST(Address, SockaddrRoundTrip) {
  auto a = *Address::Parse("fd00::5", 7);
  auto b = Address::FromSockaddr(a.sockaddr_ptr(), a.sockaddr_len());
  EXPECT_EQ(a, b);
  EXPECT_FALSE(Address::FromSockaddr(nullptr, 0).valid());
}

}  // namespace
}  // namespace nsm::net
