// RPC call/reply codec and record marking.
#include <gtest/gtest.h>

#include "rpc/message.h"
#include "rpc/record.h"
#include "xdr/xdr.h"

namespace nsm::rpc {
namespace {

TEST(RpcMessage, CallRoundTripAuthNone) {
  const uint8_t args[] = {0, 0, 0, 7};
  auto msg = BuildCall(42, 100024, 1, 2, args);
  auto pc = ParseCall(msg);
  ASSERT_EQ(pc.verdict, CallVerdict::kDispatch);
  EXPECT_EQ(pc.header.xid, 42u);
  EXPECT_EQ(pc.header.prog, 100024u);
  EXPECT_EQ(pc.header.vers, 1u);
  EXPECT_EQ(pc.header.proc, 2u);
  ASSERT_EQ(pc.args.size(), 4u);
  EXPECT_EQ(pc.args[3], 7);
}

TEST(RpcMessage, CallAuthSysAccepted) {
  CallOptions o;
  o.auth_sys_machine = "client";
  auto msg = BuildCall(1, 100024, 1, 0, {}, o);
  auto pc = ParseCall(msg);
  EXPECT_EQ(pc.verdict, CallVerdict::kDispatch);
  EXPECT_EQ(pc.header.cred.flavor, kAuthSys);
}

TEST(RpcMessage, RejectsBadRpcVersionAndUnknownAuth) {
  auto msg = BuildCall(9, 100024, 1, 0, {});
  msg[11] = 3;  // rpcvers = 3
  auto pc = ParseCall(msg);
  EXPECT_EQ(pc.verdict, CallVerdict::kRpcMismatch);
  EXPECT_EQ(pc.header.xid, 9u);
  auto reply = BuildRpcMismatchReply(9);
  auto pr = ParseReply(reply);
  ASSERT_TRUE(pr.ok());
  EXPECT_FALSE(pr->accepted);

  auto m2 = BuildCall(10, 100024, 1, 0, {});
  m2[27] = 6;  // cred flavor RPCSEC_GSS
  auto pc2 = ParseCall(m2);
  EXPECT_EQ(pc2.verdict, CallVerdict::kAuthError);
  EXPECT_EQ(pc2.auth_stat, AuthStat::kRejectedCred);
}

TEST(RpcMessage, TruncatedOrReplyIsDropped) {
  auto msg = BuildCall(5, 100024, 1, 0, {});
  for (size_t n = 0; n < msg.size(); ++n) {
    auto pc = ParseCall(std::span<const uint8_t>(msg.data(), n));
    EXPECT_NE(pc.verdict, CallVerdict::kDispatch) << n;
  }
  auto reply = BuildAcceptedReply(5, AcceptStat::kSuccess);
  EXPECT_EQ(ParseCall(reply).verdict, CallVerdict::kDrop);
}

TEST(RpcMessage, OversizedCredentialIsDropped) {
  std::vector<uint8_t> msg;
  xdr::Encoder e(&msg);
  for (uint32_t v : {1u, 0u, 2u, 100024u, 1u, 0u, 1u, 401u}) e.U32(v);
  msg.resize(msg.size() + 404, 0);
  EXPECT_EQ(ParseCall(msg).verdict, CallVerdict::kDrop);
}

TEST(RpcMessage, AcceptedReplyCarriesResults) {
  const uint8_t res[] = {0, 0, 0, 0, 0, 0, 0, 3};
  auto r = BuildAcceptedReply(77, AcceptStat::kSuccess, res);
  auto pr = ParseReply(r);
  ASSERT_TRUE(pr.ok());
  EXPECT_TRUE(pr->accepted);
  EXPECT_EQ(pr->xid, 77u);
  EXPECT_EQ(pr->accept_stat, AcceptStat::kSuccess);
  EXPECT_EQ(pr->results.size(), 8u);
  auto pm = ParseReply(BuildProgMismatchReply(78, 1, 1));
  ASSERT_TRUE(pm.ok());
  EXPECT_EQ(pm->accept_stat, AcceptStat::kProgMismatch);
  uint32_t xid = 0;
  bool is_reply = false;
  ASSERT_TRUE(PeekXid(r, &xid, &is_reply));
  EXPECT_TRUE(is_reply);
  EXPECT_EQ(xid, 77u);
}

TEST(RecordMarking, ReassemblesFragmentsByteByByte) {
  std::vector<uint8_t> stream = {0x00, 0x00, 0x00, 0x02, 'a', 'b',  // first fragment
                                 0x80, 0x00, 0x00, 0x01, 'c'};      // last fragment
  auto framed = FrameRecord(std::vector<uint8_t>{'x', 'y', 'z'});
  stream.insert(stream.end(), framed.begin(), framed.end());
  RecordAssembler ra(1024);
  std::vector<std::vector<uint8_t>> out;
  for (uint8_t b : stream) ASSERT_TRUE(ra.Feed(std::span<const uint8_t>(&b, 1), &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (std::vector<uint8_t>{'a', 'b', 'c'}));
  EXPECT_EQ(out[1], (std::vector<uint8_t>{'x', 'y', 'z'}));
  EXPECT_EQ(ra.buffered(), 0u);
}

TEST(RecordMarking, RejectsHugeFragmentHeader) {
  RecordAssembler ra(65536);
  std::vector<std::vector<uint8_t>> out;
  const uint8_t two_gib[] = {0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(ra.Feed(two_gib, &out));
  RecordAssembler rb(8);
  const uint8_t frags[] = {0, 0, 0, 6, 1, 2, 3, 4, 5, 6, 0x80, 0, 0, 6};
  EXPECT_FALSE(rb.Feed(frags, &out));  // 12 bytes in total > 8
  EXPECT_TRUE(out.empty());
}

TEST(RecordMarking, EmptyLastFragment) {
  RecordAssembler ra(16);
  std::vector<std::vector<uint8_t>> out;
  const uint8_t empty[] = {0x80, 0, 0, 0};
  ASSERT_TRUE(ra.Feed(empty, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].empty());
}

}  // namespace
}  // namespace nsm::rpc
