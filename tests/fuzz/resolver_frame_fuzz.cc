// Fuzz target resolver_frame: one datagram of the resolver sidecar protocol
// (src/lib/resolver/protocol.h), as either side receives it. Runs DecodeFrame and
// then every payload decoder on the frame (the one of its type must be the only one
// that can succeed), then checks:
//  - a decoded frame has the header's fields and a payload within kMaxPayload;
//  - the protocol is strict and canonical: re-encoding any successfully decoded
//    message (hello, resolve, answer, log) gives back the input bytes exactly;
//  - decoded values respect the documented bounds (names acceptable, at most
//    kMaxAnswerAddresses addresses, printable detail of at most kMaxDetail bytes).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_check.h"
#include "resolver/protocol.h"

namespace proto = nsm::resolver::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  const std::vector<uint8_t> input(in.begin(), in.end());
  auto frame = proto::DecodeFrame(in);
  if (!frame.ok()) {
    FUZZ_CHECK(frame.status().code() == nsm::Code::kCorruption);
    return 0;
  }
  const proto::Frame& f = *frame;
  FUZZ_CHECK(size == proto::kHeaderSize + f.payload.size());
  FUZZ_CHECK(f.payload.size() <= proto::kMaxPayload);
  FUZZ_CHECK(proto::EncodeFrame(f.type, f.id, f.payload) == input);
  (void)proto::SenderOf(f.type);

  auto hello = proto::DecodeHello(f);
  auto resolve = proto::DecodeResolve(f);
  auto answer = proto::DecodeAnswer(f);
  auto log = proto::DecodeLog(f);
  int decoded = hello.ok() + resolve.ok() + answer.ok() + log.ok();
  FUZZ_CHECK(decoded <= 1);

  if (hello.ok()) {
    FUZZ_CHECK(f.type == proto::MsgType::kHello && hello->pid != 0);
    FUZZ_CHECK(proto::EncodeHello(*hello) == input);
  }
  if (resolve.ok()) {
    FUZZ_CHECK(f.type == proto::MsgType::kResolve);
    FUZZ_CHECK(proto::IsAcceptableName(*resolve));
    FUZZ_CHECK(proto::EncodeResolve(f.id, *resolve) == input);
  }
  if (answer.ok()) {
    FUZZ_CHECK(f.type == proto::MsgType::kAnswer);
    FUZZ_CHECK(answer->addresses.size() <= proto::kMaxAnswerAddresses);
    FUZZ_CHECK((answer->status == proto::AnswerStatus::kOk) == !answer->addresses.empty());
    FUZZ_CHECK(answer->detail.size() <= proto::kMaxDetail);
    for (char c : answer->detail) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    for (const auto& a : answer->addresses) {
      FUZZ_CHECK(a.valid());
      (void)a.ToString();
    }
    FUZZ_CHECK(proto::EncodeAnswer(f.id, *answer) == input);
  }
  if (log.ok()) {
    FUZZ_CHECK(f.type == proto::MsgType::kLog);
    FUZZ_CHECK(!log->text.empty() && log->text.size() <= proto::kMaxLogText);
    FUZZ_CHECK(proto::EncodeLog(log->level, log->text) == input);
  }
  if (f.type == proto::MsgType::kResolve) {
    std::string_view name(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
    FUZZ_CHECK(resolve.ok() == proto::IsAcceptableName(name));
  }
  return 0;
}
