// Fuzz target rpc_call: an RPC call message as rpc.statd receives it (one UDP datagram
// or one reassembled TCP record). Runs nsm::rpc::ParseCall and, for a dispatchable
// call to SM (100024 v1) or to lockd's SM callback (100021, procs 16/24), the NSM
// argument decoder of that procedure, then checks:
//  - the verdict agrees with the header (rpcvers, flavors, body bounds);
//  - the dispatched args are exactly the tail of the message;
//  - re-building the call from the parsed header and args parses to the same header;
//  - a decoded argument re-encodes to the same length, and decoding that encoding
//    gives the same value (the decoders ignore pad bytes, so the encoding itself may
//    differ from the input only in its pad bytes).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_check.h"
#include "proto/nsm.h"
#include "rpc/message.h"

namespace {

using nsm::proto::CallbackStatus;
using nsm::proto::Mon;
using nsm::proto::MonId;
using nsm::proto::MyId;
using nsm::proto::StatChge;

bool Eq(const MyId& a, const MyId& b) {
  return a.my_name == b.my_name && a.my_prog == b.my_prog && a.my_vers == b.my_vers &&
         a.my_proc == b.my_proc;
}
bool Eq(const MonId& a, const MonId& b) { return a.mon_name == b.mon_name && Eq(a.my_id, b.my_id); }
bool Eq(const Mon& a, const Mon& b) { return Eq(a.mon_id, b.mon_id) && a.priv == b.priv; }
bool Eq(const StatChge& a, const StatChge& b) {
  return a.mon_name == b.mon_name && a.state == b.state;
}
bool Eq(const CallbackStatus& a, const CallbackStatus& b) {
  return a.mon_name == b.mon_name && a.state == b.state && a.priv == b.priv;
}
bool Eq(const std::string& a, const std::string& b) { return a == b; }

bool NamesBounded(const std::string& s) { return s.size() <= nsm::proto::kSmMaxStrLen; }
bool NamesBounded(const MyId& v) { return NamesBounded(v.my_name); }
bool NamesBounded(const MonId& v) { return NamesBounded(v.mon_name) && NamesBounded(v.my_id); }
bool NamesBounded(const Mon& v) { return NamesBounded(v.mon_id); }
bool NamesBounded(const StatChge& v) { return NamesBounded(v.mon_name); }
bool NamesBounded(const CallbackStatus& v) { return NamesBounded(v.mon_name); }

// Decode, and if that succeeds: encode, compare lengths, decode again, compare values,
// encode again, compare bytes.
template <class T, class Dec, class Enc>
void RoundTrip(std::span<const uint8_t> args, Dec decode, Enc encode) {
  auto first = decode(args);
  if (!first.ok()) return;
  FUZZ_CHECK(NamesBounded(*first));
  std::vector<uint8_t> enc = encode(*first);
  FUZZ_CHECK(enc.size() == args.size());
  auto second = decode(enc);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(Eq(*first, *second));
  FUZZ_CHECK(encode(*second) == enc);
}

void DecodeSmArgs(uint32_t proc, std::span<const uint8_t> args) {
  namespace p = nsm::proto;
  switch (proc) {
    case p::kSmStat:
      RoundTrip<std::string>(args, p::DecodeSmName, p::EncodeSmName);
      break;
    case p::kSmMon:
      RoundTrip<Mon>(args, p::DecodeMon, p::EncodeMon);
      break;
    case p::kSmUnmon:
      RoundTrip<MonId>(args, p::DecodeMonId, p::EncodeMonId);
      break;
    case p::kSmUnmonAll:
      RoundTrip<MyId>(args, p::DecodeMyId, p::EncodeMyId);
      break;
    case p::kSmNotify:
      RoundTrip<StatChge>(args, p::DecodeStatChge, p::EncodeStatChge);
      break;
    default:  // NULL, SM_SIMU_CRASH take no arguments; others are PROC_UNAVAIL
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace rpc = nsm::rpc;
  std::span<const uint8_t> msg(data, size);
  rpc::ParsedCall pc = rpc::ParseCall(msg);
  const rpc::CallHeader& h = pc.header;

  switch (pc.verdict) {
    case rpc::CallVerdict::kDrop:
      FUZZ_CHECK(pc.args.empty());
      return 0;
    case rpc::CallVerdict::kRpcMismatch:
      FUZZ_CHECK(h.rpcvers != rpc::kRpcVersion);
      FUZZ_CHECK(size >= 12);
      return 0;
    case rpc::CallVerdict::kAuthError:
      FUZZ_CHECK(h.rpcvers == rpc::kRpcVersion);
      FUZZ_CHECK(pc.auth_stat != rpc::AuthStat::kOk);
      FUZZ_CHECK(h.cred.body.size() <= rpc::kMaxAuthBytes);
      FUZZ_CHECK(h.verf.body.size() <= rpc::kMaxAuthBytes);
      return 0;
    case rpc::CallVerdict::kDispatch:
      break;
  }

  // Dispatch: a well-formed header with AUTH_NONE/AUTH_SYS and an AUTH_NONE verifier.
  FUZZ_CHECK(h.rpcvers == rpc::kRpcVersion);
  FUZZ_CHECK(h.cred.flavor == rpc::kAuthNone || h.cred.flavor == rpc::kAuthSys);
  FUZZ_CHECK(h.cred.flavor != rpc::kAuthNone || h.cred.body.empty());
  FUZZ_CHECK(h.verf.flavor == rpc::kAuthNone);
  FUZZ_CHECK(h.cred.body.size() <= rpc::kMaxAuthBytes);
  FUZZ_CHECK(h.verf.body.size() <= rpc::kMaxAuthBytes);
  FUZZ_CHECK(pc.args.size() <= size);
  FUZZ_CHECK(pc.args.empty() || pc.args.data() + pc.args.size() == data + size);

  // Rebuild the call (with an AUTH_NONE or a fresh AUTH_SYS credential) and parse again.
  rpc::CallOptions opts;
  if (h.cred.flavor == rpc::kAuthSys) opts.auth_sys_machine = "fuzz";
  std::vector<uint8_t> again = rpc::BuildCall(h.xid, h.prog, h.vers, h.proc, pc.args, opts);
  rpc::ParsedCall pc2 = rpc::ParseCall(again);
  FUZZ_CHECK(pc2.verdict == rpc::CallVerdict::kDispatch);
  FUZZ_CHECK(pc2.header.xid == h.xid && pc2.header.prog == h.prog && pc2.header.vers == h.vers &&
             pc2.header.proc == h.proc);
  FUZZ_CHECK(pc2.header.cred.flavor == h.cred.flavor);
  FUZZ_CHECK(std::vector<uint8_t>(pc2.args.begin(), pc2.args.end()) ==
             std::vector<uint8_t>(pc.args.begin(), pc.args.end()));

  if (h.prog == nsm::proto::kSmProg && h.vers == nsm::proto::kSmVers) {
    DecodeSmArgs(h.proc, pc.args);
    (void)nsm::proto::ProcName(h.proc);
  } else if (h.prog == nsm::proto::kNlmProg && (h.proc == 16 || h.proc == 24)) {
    RoundTrip<CallbackStatus>(pc.args, nsm::proto::DecodeCallbackStatus,
                              nsm::proto::EncodeCallbackStatus);
  }
  return 0;
}
