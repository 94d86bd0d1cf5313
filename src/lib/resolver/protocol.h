// The parent <-> sidecar wire protocol: framed, versioned messages carried one per
// SOCK_SEQPACKET datagram. Pure functions only (no I/O, no globals), so the decoders
// can be fuzzed directly. Every decoder rejects anything not exactly well formed with
// kCorruption; callers treat that as a protocol violation. Layout: docs/resolver.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "net/address.h"

namespace nsm::resolver::proto {

inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;  // u16 version, u16 type, u32 length, u64 id
inline constexpr size_t kMaxPayload = 4096;
inline constexpr size_t kMaxFrame = kHeaderSize + kMaxPayload;
inline constexpr size_t kMaxNameLength = 1024;     // resolve request payload
inline constexpr size_t kMaxAnswerAddresses = 64;  // addresses in one answer
inline constexpr size_t kMaxDetail = 200;          // error detail text in an answer
inline constexpr size_t kMaxLogText = 512;

enum class MsgType : uint16_t {
  kHello = 1,    // sidecar -> parent, id 0: the sidecar is ready (after dropping privileges)
  kResolve = 2,  // parent -> sidecar, id != 0: resolve this name
  kAnswer = 3,   // sidecar -> parent, id != 0: the answer to request `id`
  kLog = 4,      // sidecar -> parent, id 0: a log line for the parent to write
  kPing = 5,     // parent -> sidecar, id != 0, empty: are you alive?
  kPong = 6,     // sidecar -> parent, id != 0 (the ping's), empty: sent at once by the
                 // sidecar's main loop (never a worker thread), so it measures liveness
};

struct Frame {
  MsgType type = MsgType::kHello;
  uint64_t id = 0;
  std::vector<uint8_t> payload;
};

// Who sends a frame. A frame arriving from the wrong side is "misrouted".
enum class Sender { kParent, kSidecar };
Sender SenderOf(MsgType type);

// Header plus payload, big-endian. payload.size() must be <= kMaxPayload.
std::vector<uint8_t> EncodeFrame(MsgType type, uint64_t id, std::span<const uint8_t> payload);

// Decodes exactly one whole datagram. Checks: size >= header, version, known type,
// length field == bytes after the header, length <= kMaxPayload, id == 0 for
// hello/log and id != 0 for resolve/answer/ping/pong. Does not look inside the payload.
Result<Frame> DecodeFrame(std::span<const uint8_t> bytes);

// A name the parent may send: 1..kMaxNameLength bytes, none below 0x21 or equal to 0x7f
// (no NUL, space or control characters). Bytes >= 0x80 are allowed (IDN in UTF-8).
bool IsAcceptableName(std::string_view name);

struct Hello {
  uint32_t pid = 0, uid = 0, gid = 0;
};

enum class AnswerStatus : uint8_t {
  kOk = 0,         // addresses follow (at least one)
  kNotFound = 1,   // the name definitely has no address (EAI_NONAME, EAI_NODATA, ...)
  kTemporary = 2,  // try later (EAI_AGAIN); never cached
  kFailed = 3,     // any other resolver failure; never cached
};

struct Answer {
  AnswerStatus status = AnswerStatus::kNotFound;
  std::vector<net::Address> addresses;  // only for kOk; v4 or v6, port ignored
  std::string detail;                   // printable ASCII error text, maybe empty
};

struct LogLine {
  log::Level level = log::Level::kInfo;
  std::string text;
};

// Whole frames, ready to send. Encoders clamp what they cannot represent:
// EncodeAnswer keeps the first kMaxAnswerAddresses valid addresses, replaces
// non-printable detail bytes with '?' and truncates it to kMaxDetail; an kOk answer
// with no usable address is encoded as kNotFound. EncodeLog truncates to kMaxLogText.
// EncodeResolve requires IsAcceptableName(name).
std::vector<uint8_t> EncodeHello(const Hello& h);
std::vector<uint8_t> EncodeResolve(uint64_t id, std::string_view name);
std::vector<uint8_t> EncodeAnswer(uint64_t id, const Answer& a);
std::vector<uint8_t> EncodeLog(log::Level level, std::string_view text);
std::vector<uint8_t> EncodePing(uint64_t id);  // id != 0
std::vector<uint8_t> EncodePong(uint64_t id);  // id != 0

// Payload decoders: the frame must have the matching type (else kCorruption).
Result<Hello> DecodeHello(const Frame& f);
Result<std::string> DecodeResolve(const Frame& f);
Result<Answer> DecodeAnswer(const Frame& f);
Result<LogLine> DecodeLog(const Frame& f);
// Ping and pong carry nothing but their id: the payload must be empty. Return the id.
Result<uint64_t> DecodePing(const Frame& f);
Result<uint64_t> DecodePong(const Frame& f);

}  // namespace nsm::resolver::proto
