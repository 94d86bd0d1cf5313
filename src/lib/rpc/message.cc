// ONC RPC v2 message codec.
#include "rpc/message.h"

#include "xdr/xdr.h"

namespace nsm::rpc {
namespace {

constexpr uint32_t kCall = 0;
constexpr uint32_t kReply = 1;
constexpr uint32_t kMsgAccepted = 0;
constexpr uint32_t kMsgDenied = 1;
constexpr uint32_t kRejectRpcMismatch = 0;
constexpr uint32_t kRejectAuthError = 1;

bool DecodeAuth(xdr::Decoder* d, OpaqueAuth* a) {
  return d->U32(&a->flavor) && d->Opaque(&a->body, kMaxAuthBytes);
}

// AUTH_SYS body: stamp, machinename<255>, uid, gid, gids<16>; must be consumed exactly.
bool ValidAuthSysBody(const std::vector<uint8_t>& body) {
  xdr::Decoder d(body);
  uint32_t stamp = 0, uid = 0, gid = 0, ngids = 0;
  std::string machine;
  if (!d.U32(&stamp) || !d.String(&machine, 255) || !d.U32(&uid) || !d.U32(&gid) ||
      !d.U32(&ngids) || ngids > 16) {
    return false;
  }
  for (uint32_t i = 0; i < ngids; ++i) {
    uint32_t g = 0;
    if (!d.U32(&g)) return false;
  }
  return d.AtEnd();
}

void ReplyHead(xdr::Encoder* e, uint32_t xid) {
  e->U32(xid);
  e->U32(kReply);
}

}  // namespace

ParsedCall ParseCall(std::span<const uint8_t> msg) {
  ParsedCall pc;
  xdr::Decoder d(msg);
  uint32_t mtype = 0;
  CallHeader& h = pc.header;
  if (!d.U32(&h.xid) || !d.U32(&mtype) || mtype != kCall || !d.U32(&h.rpcvers)) return pc;
  if (h.rpcvers != kRpcVersion) {
    pc.verdict = CallVerdict::kRpcMismatch;
    return pc;
  }
  if (!d.U32(&h.prog) || !d.U32(&h.vers) || !d.U32(&h.proc) || !DecodeAuth(&d, &h.cred) ||
      !DecodeAuth(&d, &h.verf)) {
    return pc;  // kDrop: a truncated header gets no reply
  }
  pc.verdict = CallVerdict::kAuthError;
  if (h.cred.flavor == kAuthNone) {
    if (!h.cred.body.empty()) {
      pc.auth_stat = AuthStat::kBadCred;
      return pc;
    }
  } else if (h.cred.flavor == kAuthSys) {
    if (!ValidAuthSysBody(h.cred.body)) {
      pc.auth_stat = AuthStat::kBadCred;
      return pc;
    }
  } else {
    pc.auth_stat = AuthStat::kRejectedCred;
    return pc;
  }
  if (h.verf.flavor != kAuthNone) {
    pc.auth_stat = AuthStat::kBadCred;
    return pc;
  }
  pc.verdict = CallVerdict::kDispatch;
  pc.args = d.Rest();
  return pc;
}

std::vector<uint8_t> BuildAcceptedReply(uint32_t xid, AcceptStat stat,
                                        std::span<const uint8_t> results) {
  std::vector<uint8_t> out;
  out.reserve(24 + results.size());
  xdr::Encoder e(&out);
  ReplyHead(&e, xid);
  e.U32(kMsgAccepted);
  e.U32(kAuthNone);
  e.U32(0);
  e.U32(static_cast<uint32_t>(stat));
  out.insert(out.end(), results.begin(), results.end());
  return out;
}

std::vector<uint8_t> BuildProgMismatchReply(uint32_t xid, uint32_t low, uint32_t high) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  ReplyHead(&e, xid);
  e.U32(kMsgAccepted);
  e.U32(kAuthNone);
  e.U32(0);
  e.U32(static_cast<uint32_t>(AcceptStat::kProgMismatch));
  e.U32(low);
  e.U32(high);
  return out;
}

std::vector<uint8_t> BuildRpcMismatchReply(uint32_t xid) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  ReplyHead(&e, xid);
  e.U32(kMsgDenied);
  e.U32(kRejectRpcMismatch);
  e.U32(kRpcVersion);
  e.U32(kRpcVersion);
  return out;
}

std::vector<uint8_t> BuildAuthErrorReply(uint32_t xid, AuthStat why) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  ReplyHead(&e, xid);
  e.U32(kMsgDenied);
  e.U32(kRejectAuthError);
  e.U32(static_cast<uint32_t>(why));
  return out;
}

std::vector<uint8_t> BuildCall(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
                               std::span<const uint8_t> args, const CallOptions& opts) {
  std::vector<uint8_t> out;
  out.reserve(64 + args.size());
  xdr::Encoder e(&out);
  e.U32(xid);
  e.U32(kCall);
  e.U32(kRpcVersion);
  e.U32(prog);
  e.U32(vers);
  e.U32(proc);
  if (opts.auth_sys_machine) {
    std::vector<uint8_t> body;
    xdr::Encoder b(&body);
    b.U32(0);  // stamp
    b.String(opts.auth_sys_machine->substr(0, 255));
    b.U32(0);  // uid
    b.U32(0);  // gid
    b.U32(0);  // no supplementary groups
    e.U32(kAuthSys);
    e.Opaque(body);
  } else {
    e.U32(kAuthNone);
    e.U32(0);
  }
  e.U32(kAuthNone);
  e.U32(0);
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

std::string ParsedReply::ToString() const {
  if (!accepted) return "call denied by server";
  switch (accept_stat) {
    case AcceptStat::kSuccess:
      return "success";
    case AcceptStat::kProgUnavail:
      return "program unavailable";
    case AcceptStat::kProgMismatch:
      return "program version mismatch";
    case AcceptStat::kProcUnavail:
      return "procedure unavailable";
    case AcceptStat::kGarbageArgs:
      return "server could not decode arguments";
    case AcceptStat::kSystemErr:
      return "server system error";
  }
  return "unknown accept status";
}

Result<ParsedReply> ParseReply(std::span<const uint8_t> msg) {
  ParsedReply r;
  xdr::Decoder d(msg);
  uint32_t mtype = 0, stat = 0;
  if (!d.U32(&r.xid) || !d.U32(&mtype) || mtype != kReply || !d.U32(&stat)) {
    return Status(Code::kInvalidArgument, "malformed RPC reply header");
  }
  if (stat == kMsgDenied) {
    r.accepted = false;
    return r;
  }
  if (stat != kMsgAccepted) return Status(Code::kInvalidArgument, "bad reply_stat");
  OpaqueAuth verf;
  uint32_t astat = 0;
  if (!DecodeAuth(&d, &verf) || !d.U32(&astat) || astat > 5) {
    return Status(Code::kInvalidArgument, "malformed accepted reply");
  }
  r.accepted = true;
  r.accept_stat = static_cast<AcceptStat>(astat);
  r.results = d.Rest();
  return r;
}

bool PeekXid(std::span<const uint8_t> msg, uint32_t* xid, bool* is_reply) {
  xdr::Decoder d(msg);
  uint32_t mtype = 0;
  if (!d.U32(xid) || !d.U32(&mtype) || mtype > 1) return false;
  *is_reply = mtype == kReply;
  return true;
}

}  // namespace nsm::rpc
