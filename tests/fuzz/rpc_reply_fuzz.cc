// Fuzz target rpc_reply: an RPC reply as nsm's clients receive it (rpcbind answers,
// SM_NOTIFY and lockd-callback replies). Runs nsm::rpc::PeekXid and ParseReply and,
// on an accepted success, the SM_STAT/SM_MON result decoder, then checks:
//  - PeekXid and ParseReply agree on the xid and on the message being a reply;
//  - accepted results are exactly the tail of the message;
//  - BuildAcceptedReply of the parsed fields parses back to the same fields;
//  - an sm_stat_res that decodes re-encodes to the same bytes (fixed layout).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_check.h"
#include "proto/nsm.h"
#include "rpc/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace rpc = nsm::rpc;
  std::span<const uint8_t> msg(data, size);

  uint32_t peek_xid = 0;
  bool is_reply = false;
  bool peeked = rpc::PeekXid(msg, &peek_xid, &is_reply);

  auto r = rpc::ParseReply(msg);
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(peeked && is_reply && peek_xid == r->xid);
  FUZZ_CHECK(!r->ToString().empty());
  if (!r->accepted) {
    FUZZ_CHECK(r->results.empty());
    return 0;
  }
  FUZZ_CHECK(r->results.size() <= size);
  FUZZ_CHECK(r->results.empty() || r->results.data() + r->results.size() == data + size);

  std::vector<uint8_t> rebuilt = rpc::BuildAcceptedReply(r->xid, r->accept_stat, r->results);
  auto r2 = rpc::ParseReply(rebuilt);
  FUZZ_CHECK(r2.ok());
  FUZZ_CHECK(r2->xid == r->xid && r2->accepted && r2->accept_stat == r->accept_stat);
  FUZZ_CHECK(std::vector<uint8_t>(r2->results.begin(), r2->results.end()) ==
             std::vector<uint8_t>(r->results.begin(), r->results.end()));

  if (r->accept_stat == rpc::AcceptStat::kSuccess) {
    auto res = nsm::proto::DecodeSmStatRes(r->results);
    if (res.ok()) {
      FUZZ_CHECK(r->results.size() == 8);
      // StatRes has no fixed underlying type: only its two values may be cast to it.
      if (res->res > nsm::proto::kStatFail) return 0;
      std::vector<uint8_t> enc =
          nsm::proto::EncodeSmStatRes(static_cast<nsm::proto::StatRes>(res->res), res->state);
      FUZZ_CHECK(enc == std::vector<uint8_t>(r->results.begin(), r->results.end()));
    }
  }
  return 0;
}
