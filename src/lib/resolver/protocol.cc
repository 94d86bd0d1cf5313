// Encoders and strict decoders for the sidecar protocol (layout in docs/resolver.md).
// The decoders read through a bounds-checked cursor and require every byte of a
// payload to be consumed, so trailing garbage is an error too.
#include "resolver/protocol.h"

#include <netinet/in.h>

#include <cstring>
#include <optional>

namespace nsm::resolver::proto {
namespace {

Status Bad(std::string what) { return Status(Code::kCorruption, "resolver protocol: " + what); }

void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
void Put64(std::vector<uint8_t>& b, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// Bounds-checked big-endian reader over a byte span.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> b) : b_(b) {}
  size_t left() const { return b_.size() - pos_; }
  std::optional<uint64_t> Read(size_t n) {  // n <= 8
    if (left() < n) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | b_[pos_ + i];
    pos_ += n;
    return v;
  }
  std::optional<std::span<const uint8_t>> Bytes(size_t n) {
    if (left() < n) return std::nullopt;
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

bool KnownType(uint16_t t) { return t >= 1 && t <= 6; }

bool Printable(uint8_t c) { return c >= 0x20 && c < 0x7f; }

}  // namespace

Sender SenderOf(MsgType type) {
  return type == MsgType::kResolve || type == MsgType::kPing ? Sender::kParent : Sender::kSidecar;
}

std::vector<uint8_t> EncodeFrame(MsgType type, uint64_t id, std::span<const uint8_t> payload) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + payload.size());
  Put16(b, kVersion);
  Put16(b, static_cast<uint16_t>(type));
  Put32(b, static_cast<uint32_t>(payload.size()));
  Put64(b, id);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Result<Frame> DecodeFrame(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return Bad("short frame (" + std::to_string(bytes.size()) + " bytes)");
  }
  Cursor c(bytes);
  uint64_t version = *c.Read(2), type = *c.Read(2), length = *c.Read(4), id = *c.Read(8);
  if (version != kVersion) return Bad("unsupported version " + std::to_string(version));
  if (!KnownType(static_cast<uint16_t>(type))) return Bad("unknown type " + std::to_string(type));
  if (length > kMaxPayload) return Bad("payload too long (" + std::to_string(length) + ")");
  if (length != c.left()) {
    return Bad("length field " + std::to_string(length) + " but " + std::to_string(c.left()) +
               " payload bytes");
  }
  Frame f;
  f.type = static_cast<MsgType>(type);
  f.id = id;
  bool wants_id = f.type != MsgType::kHello && f.type != MsgType::kLog;
  if (wants_id && id == 0) return Bad("request id 0 on a request/answer/ping/pong");
  if (!wants_id && id != 0) return Bad("non-zero request id on a hello/log frame");
  auto p = c.Bytes(length);
  f.payload.assign(p->begin(), p->end());
  return f;
}

bool IsAcceptableName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (unsigned char ch : name) {
    if (ch <= 0x20 || ch == 0x7f) return false;
  }
  return true;
}

std::vector<uint8_t> EncodeHello(const Hello& h) {
  std::vector<uint8_t> p;
  Put32(p, h.pid);
  Put32(p, h.uid);
  Put32(p, h.gid);
  return EncodeFrame(MsgType::kHello, 0, p);
}

std::vector<uint8_t> EncodeResolve(uint64_t id, std::string_view name) {
  std::span<const uint8_t> p(reinterpret_cast<const uint8_t*>(name.data()), name.size());
  return EncodeFrame(MsgType::kResolve, id, p);
}

std::vector<uint8_t> EncodeAnswer(uint64_t id, const Answer& a) {
  std::vector<uint8_t> addrs;
  size_t count = 0;
  if (a.status == AnswerStatus::kOk) {
    for (const auto& addr : a.addresses) {
      if (count == kMaxAnswerAddresses) break;
      if (addr.is_v4()) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(addr.sockaddr_ptr());
        addrs.push_back(4);
        const auto* raw = reinterpret_cast<const uint8_t*>(&sin->sin_addr);
        addrs.insert(addrs.end(), raw, raw + 4);
      } else if (addr.is_v6()) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr.sockaddr_ptr());
        addrs.push_back(6);
        const auto* raw = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
        addrs.insert(addrs.end(), raw, raw + 16);
        Put32(addrs, sin6->sin6_scope_id);
      } else {
        continue;
      }
      ++count;
    }
  }
  AnswerStatus status = a.status;
  if (status == AnswerStatus::kOk && count == 0) status = AnswerStatus::kNotFound;
  std::vector<uint8_t> p;
  p.push_back(static_cast<uint8_t>(status));
  p.push_back(static_cast<uint8_t>(count));
  p.insert(p.end(), addrs.begin(), addrs.end());
  std::string detail = a.detail.substr(0, kMaxDetail);
  for (char& ch : detail) {
    if (!Printable(static_cast<uint8_t>(ch))) ch = '?';
  }
  p.push_back(static_cast<uint8_t>(detail.size()));
  p.insert(p.end(), detail.begin(), detail.end());
  return EncodeFrame(MsgType::kAnswer, id, p);
}

std::vector<uint8_t> EncodeLog(log::Level level, std::string_view text) {
  std::vector<uint8_t> p;
  p.push_back(static_cast<uint8_t>(level));
  text = text.substr(0, kMaxLogText);
  if (text.empty()) text = "(empty)";
  p.insert(p.end(), text.begin(), text.end());
  return EncodeFrame(MsgType::kLog, 0, p);
}

std::vector<uint8_t> EncodePing(uint64_t id) { return EncodeFrame(MsgType::kPing, id, {}); }

std::vector<uint8_t> EncodePong(uint64_t id) { return EncodeFrame(MsgType::kPong, id, {}); }

Result<Hello> DecodeHello(const Frame& f) {
  if (f.type != MsgType::kHello) return Bad("not a hello frame");
  if (f.payload.size() != 12) return Bad("hello payload of " + std::to_string(f.payload.size()));
  Cursor c(f.payload);
  Hello h;
  h.pid = static_cast<uint32_t>(*c.Read(4));
  h.uid = static_cast<uint32_t>(*c.Read(4));
  h.gid = static_cast<uint32_t>(*c.Read(4));
  if (h.pid == 0) return Bad("hello with pid 0");
  return h;
}

Result<std::string> DecodeResolve(const Frame& f) {
  if (f.type != MsgType::kResolve) return Bad("not a resolve frame");
  std::string name(f.payload.begin(), f.payload.end());
  if (!IsAcceptableName(name)) return Bad("unacceptable name in resolve request");
  return name;
}

Result<Answer> DecodeAnswer(const Frame& f) {
  if (f.type != MsgType::kAnswer) return Bad("not an answer frame");
  Cursor c(f.payload);
  auto status = c.Read(1), count = c.Read(1);
  if (!status || !count) return Bad("answer too short");
  if (*status > static_cast<uint8_t>(AnswerStatus::kFailed)) {
    return Bad("answer status " + std::to_string(*status));
  }
  Answer a;
  a.status = static_cast<AnswerStatus>(*status);
  if (a.status == AnswerStatus::kOk && (*count == 0 || *count > kMaxAnswerAddresses)) {
    return Bad("ok answer with " + std::to_string(*count) + " addresses");
  }
  if (a.status != AnswerStatus::kOk && *count != 0) return Bad("error answer with addresses");
  for (uint64_t i = 0; i < *count; ++i) {
    auto family = c.Read(1);
    if (!family) return Bad("answer truncated in address " + std::to_string(i));
    if (*family == 4) {
      auto raw = c.Bytes(4);
      if (!raw) return Bad("answer truncated in IPv4 address");
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      std::memcpy(&sin.sin_addr, raw->data(), 4);
      a.addresses.push_back(
          net::Address::FromSockaddr(reinterpret_cast<sockaddr*>(&sin), sizeof sin));
    } else if (*family == 6) {
      auto raw = c.Bytes(16);
      auto scope = c.Read(4);
      if (!raw || !scope) return Bad("answer truncated in IPv6 address");
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      std::memcpy(&sin6.sin6_addr, raw->data(), 16);
      sin6.sin6_scope_id = static_cast<uint32_t>(*scope);
      a.addresses.push_back(
          net::Address::FromSockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6));
    } else {
      return Bad("address family tag " + std::to_string(*family));
    }
  }
  auto dlen = c.Read(1);
  if (!dlen) return Bad("answer without detail length");
  if (*dlen > kMaxDetail) return Bad("answer detail too long");
  auto detail = c.Bytes(*dlen);
  if (!detail) return Bad("answer truncated in detail");
  for (uint8_t ch : *detail) {
    if (!Printable(ch)) return Bad("non-printable byte in answer detail");
  }
  a.detail.assign(detail->begin(), detail->end());
  if (c.left() != 0) return Bad(std::to_string(c.left()) + " trailing bytes after answer");
  return a;
}

Result<LogLine> DecodeLog(const Frame& f) {
  if (f.type != MsgType::kLog) return Bad("not a log frame");
  if (f.payload.size() < 2 || f.payload.size() > 1 + kMaxLogText) {
    return Bad("log payload of " + std::to_string(f.payload.size()) + " bytes");
  }
  if (f.payload[0] > static_cast<uint8_t>(log::Level::kError)) return Bad("log level");
  LogLine l;
  l.level = static_cast<log::Level>(f.payload[0]);
  l.text.assign(f.payload.begin() + 1, f.payload.end());
  return l;
}

Result<uint64_t> DecodePing(const Frame& f) {
  if (f.type != MsgType::kPing) return Bad("not a ping frame");
  if (!f.payload.empty()) return Bad("ping with a payload");
  return f.id;
}

Result<uint64_t> DecodePong(const Frame& f) {
  if (f.type != MsgType::kPong) return Bad("not a pong frame");
  if (!f.payload.empty()) return Bad("pong with a payload");
  return f.id;
}

}  // namespace nsm::resolver::proto
