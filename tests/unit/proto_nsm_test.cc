// NSM argument and result codecs.
#include "proto/nsm.h"

#include <gtest/gtest.h>

namespace nsm::proto {
namespace {

TEST(ProtoNsm, MonRoundTrip) {
  Mon m;
  m.mon_id.mon_name = "198.18.0.2";
  m.mon_id.my_id = {"client", kNlmProg, 3, 16};
  for (size_t i = 0; i < kPrivLen; ++i) m.priv[i] = static_cast<uint8_t>(i * 7);
  auto bytes = EncodeMon(m);
  auto d = DecodeMon(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->mon_id.mon_name, "198.18.0.2");
  EXPECT_EQ(d->mon_id.my_id.my_name, "client");
  EXPECT_EQ(d->mon_id.my_id.my_prog, kNlmProg);
  EXPECT_EQ(d->mon_id.my_id.my_proc, 16u);
  EXPECT_EQ(d->priv, m.priv);
}

TEST(ProtoNsm, RejectsTrailingBytesAndTruncation) {
  auto bytes = EncodeStatChge({"peer", 5});
  bytes.push_back(0);
  EXPECT_FALSE(DecodeStatChge(bytes).ok());
  bytes.pop_back();
  EXPECT_TRUE(DecodeStatChge(bytes).ok());
  bytes.pop_back();
  EXPECT_FALSE(DecodeStatChge(bytes).ok());
}

TEST(ProtoNsm, NameLimitIs1024) {
  EXPECT_TRUE(DecodeSmName(EncodeSmName(std::string(1024, 'a'))).ok());
  EXPECT_FALSE(DecodeSmName(EncodeSmName(std::string(1025, 'a'))).ok());
}

TEST(ProtoNsm, CallbackStatusLayout) {
  CallbackStatus s{"h", 7, {}};
  s.priv[15] = 0xee;
  auto b = EncodeCallbackStatus(s);
  // string "h" (4 + 4) + state (4) + priv (16)
  ASSERT_EQ(b.size(), 28u);
  EXPECT_EQ(b[11], 7);
  EXPECT_EQ(b[27], 0xee);
  auto d = DecodeCallbackStatus(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->priv[15], 0xee);
}

TEST(ProtoNsm, StatRes) {
  auto r = DecodeSmStatRes(EncodeSmStatRes(kStatFail, 9));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->res, kStatFail);
  EXPECT_EQ(r->state, 9);
  EXPECT_STREQ(ProcName(kSmNotify), "SM_NOTIFY");
}

}  // namespace
}  // namespace nsm::proto
