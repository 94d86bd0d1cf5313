// ONC RPC v2 messages (RFC 5531): parsing calls and replies, building them.
// Pure functions over byte spans; no I/O. Credentials and verifiers are bounded at
// 400 bytes as the RFC says.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace nsm::rpc {

constexpr uint32_t kRpcVersion = 2;
constexpr size_t kMaxAuthBytes = 400;

enum AuthFlavor : uint32_t { kAuthNone = 0, kAuthSys = 1 };
enum class AcceptStat : uint32_t {
  kSuccess = 0,
  kProgUnavail = 1,
  kProgMismatch = 2,
  kProcUnavail = 3,
  kGarbageArgs = 4,
  kSystemErr = 5,
};
enum class AuthStat : uint32_t { kOk = 0, kBadCred = 1, kRejectedCred = 2, kTooWeak = 5 };

struct OpaqueAuth {
  uint32_t flavor = kAuthNone;
  std::vector<uint8_t> body;
};

struct CallHeader {
  uint32_t xid = 0;
  uint32_t rpcvers = 0;
  uint32_t prog = 0;
  uint32_t vers = 0;
  uint32_t proc = 0;
  OpaqueAuth cred;
  OpaqueAuth verf;
};

// What the server should do with a received message.
enum class CallVerdict {
  kDispatch,     // header fine; `args` holds the procedure arguments
  kRpcMismatch,  // reply MSG_DENIED/RPC_MISMATCH (low = high = 2)
  kAuthError,    // reply MSG_DENIED/AUTH_ERROR(auth_stat)
  kDrop,         // not a call, or too short to have an xid / header: no reply
};

struct ParsedCall {
  CallVerdict verdict = CallVerdict::kDrop;
  CallHeader header;
  AuthStat auth_stat = AuthStat::kOk;
  std::span<const uint8_t> args;
};

// Parses a call. Accepts AUTH_NONE and AUTH_SYS credentials (AUTH_SYS body is
// checked for shape only), verifier must be AUTH_NONE.
ParsedCall ParseCall(std::span<const uint8_t> msg);

// Replies (MSG_ACCEPTED carry an AUTH_NONE verifier).
std::vector<uint8_t> BuildAcceptedReply(uint32_t xid, AcceptStat stat,
                                        std::span<const uint8_t> results = {});
std::vector<uint8_t> BuildProgMismatchReply(uint32_t xid, uint32_t low, uint32_t high);
std::vector<uint8_t> BuildRpcMismatchReply(uint32_t xid);
std::vector<uint8_t> BuildAuthErrorReply(uint32_t xid, AuthStat why);

// Calls. AUTH_SYS when machine_name is set (uid/gid 0 and no groups).
struct CallOptions {
  std::optional<std::string> auth_sys_machine;
};
std::vector<uint8_t> BuildCall(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
                               std::span<const uint8_t> args, const CallOptions& opts = {});

struct ParsedReply {
  uint32_t xid = 0;
  bool accepted = false;  // MSG_ACCEPTED
  AcceptStat accept_stat = AcceptStat::kSystemErr;
  std::span<const uint8_t> results;  // when accepted && kSuccess
  std::string ToString() const;      // for error messages
};
// Fails (kInvalidArgument) when the message is not a well-formed reply.
Result<ParsedReply> ParseReply(std::span<const uint8_t> msg);
// Reads just the xid and direction of any message (for demultiplexing).
bool PeekXid(std::span<const uint8_t> msg, uint32_t* xid, bool* is_reply);

}  // namespace nsm::rpc
