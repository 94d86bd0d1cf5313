// XDR primitives: round trips, bounds, truncation.
#include "xdr/xdr.h"

#include <gtest/gtest.h>

namespace nsm::xdr {
namespace {

TEST(Xdr, RoundTrip) {
  std::vector<uint8_t> buf;
  Encoder e(&buf);
  e.U32(0xdeadbeef);
  e.I32(-3);
  e.Bool(true);
  e.String("abcde");
  const uint8_t raw[3] = {1, 2, 3};
  e.FixedOpaque(raw);
  e.Opaque(raw);
  EXPECT_EQ(buf.size(), 4u + 4 + 4 + (4 + 8) + 4 + (4 + 4));
  Decoder d(buf);
  uint32_t u = 0;
  int32_t i = 0;
  bool b = false;
  std::string s;
  uint8_t fixed[3];
  std::vector<uint8_t> var;
  ASSERT_TRUE(d.U32(&u) && d.I32(&i) && d.Bool(&b) && d.String(&s, 10) && d.FixedOpaque(fixed, 3) &&
              d.Opaque(&var, 3));
  EXPECT_EQ(u, 0xdeadbeefu);
  EXPECT_EQ(i, -3);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "abcde");
  EXPECT_EQ(fixed[2], 3);
  EXPECT_EQ(var.size(), 3u);
  EXPECT_TRUE(d.AtEnd());
}

TEST(Xdr, StringOverMaxFailsWithoutAllocating) {
  std::vector<uint8_t> buf = {0x7f, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'};
  Decoder d(buf);
  std::string s;
  EXPECT_FALSE(d.String(&s, 1024));
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(s.empty());
}

TEST(Xdr, LengthBeyondInputFails) {
  std::vector<uint8_t> buf;
  Encoder e(&buf);
  e.U32(100);  // claims 100 bytes, has 4
  e.U32(0);
  Decoder d(buf);
  std::vector<uint8_t> v;
  EXPECT_FALSE(d.Opaque(&v, 1024));
}

TEST(Xdr, TruncatedAndStickyFailure) {
  std::vector<uint8_t> buf = {0, 0, 1};
  Decoder d(buf);
  uint32_t u = 0;
  EXPECT_FALSE(d.U32(&u));
  EXPECT_FALSE(d.Skip(0));
  EXPECT_FALSE(d.AtEnd());
}

TEST(Xdr, BoolRejectsOtherValues) {
  std::vector<uint8_t> buf = {0, 0, 0, 2};
  Decoder d(buf);
  bool b = false;
  EXPECT_FALSE(d.Bool(&b));
}

}  // namespace
}  // namespace nsm::xdr
