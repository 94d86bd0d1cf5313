// NSM protocol (program 100024 version 1) types and their XDR codecs, plus the
// NLM callback argument. Decoders enforce SM_MAXSTRLEN and reject trailing bytes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace nsm::proto {

constexpr uint32_t kSmProg = 100024;
constexpr uint32_t kSmVers = 1;
constexpr uint32_t kNlmProg = 100021;
constexpr size_t kSmMaxStrLen = 1024;
constexpr size_t kPrivLen = 16;

enum SmProc : uint32_t {
  kSmNull = 0,
  kSmStat = 1,
  kSmMon = 2,
  kSmUnmon = 3,
  kSmUnmonAll = 4,
  kSmSimuCrash = 5,
  kSmNotify = 6,
};
const char* ProcName(uint32_t proc);

enum StatRes : uint32_t { kStatSucc = 0, kStatFail = 1 };

using Priv = std::array<uint8_t, kPrivLen>;

struct MyId {
  std::string my_name;
  uint32_t my_prog = 0;
  uint32_t my_vers = 0;
  uint32_t my_proc = 0;
};
struct MonId {
  std::string mon_name;
  MyId my_id;
};
struct Mon {
  MonId mon_id;
  Priv priv{};
};
struct StatChge {
  std::string mon_name;
  int32_t state = 0;
};
// Argument of the callback to lockd (SM's "status").
struct CallbackStatus {
  std::string mon_name;
  int32_t state = 0;
  Priv priv{};
};

// Decoders: kInvalidArgument on short input, oversize strings or trailing bytes.
Result<std::string> DecodeSmName(std::span<const uint8_t> in);
Result<MyId> DecodeMyId(std::span<const uint8_t> in);
Result<MonId> DecodeMonId(std::span<const uint8_t> in);
Result<Mon> DecodeMon(std::span<const uint8_t> in);
Result<StatChge> DecodeStatChge(std::span<const uint8_t> in);
Result<CallbackStatus> DecodeCallbackStatus(std::span<const uint8_t> in);

std::vector<uint8_t> EncodeSmName(const std::string& name);
std::vector<uint8_t> EncodeMyId(const MyId& id);
std::vector<uint8_t> EncodeMonId(const MonId& id);
std::vector<uint8_t> EncodeMon(const Mon& mon);
std::vector<uint8_t> EncodeStatChge(const StatChge& s);
std::vector<uint8_t> EncodeCallbackStatus(const CallbackStatus& s);
std::vector<uint8_t> EncodeSmStatRes(StatRes res, int32_t state);
std::vector<uint8_t> EncodeSmStat(int32_t state);
struct SmStatRes {
  uint32_t res = kStatFail;
  int32_t state = 0;
};
Result<SmStatRes> DecodeSmStatRes(std::span<const uint8_t> in);

}  // namespace nsm::proto
