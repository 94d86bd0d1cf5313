// Frame and payload codec of the resolver sidecar protocol: round trips, and
// rejection of every kind of malformed or misrouted frame (docs/resolver.md).
#include "resolver/protocol.h"

#include <gtest/gtest.h>

#include <random>

namespace nsm::resolver::proto {
namespace {

std::vector<uint8_t> Header(uint16_t version, uint16_t type, uint32_t length, uint64_t id) {
  std::vector<uint8_t> b = {uint8_t(version >> 8), uint8_t(version), uint8_t(type >> 8),
                            uint8_t(type)};
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(length >> s));
  for (int s = 56; s >= 0; s -= 8) b.push_back(uint8_t(id >> s));
  return b;
}

Frame Decode(const std::vector<uint8_t>& b) {
  auto f = DecodeFrame(b);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? f.value() : Frame{};
}

net::Address A(const char* s) { return *net::Address::Parse(s); }

TEST(ResolverProtocol, HeaderLayoutIsBigEndian) {
  auto b = EncodeResolve(0x0102030405060708ULL, "ab");
  std::vector<uint8_t> want = Header(kVersion, 2, 2, 0x0102030405060708ULL);
  want.push_back('a');
  want.push_back('b');
  EXPECT_EQ(b, want);
}

TEST(ResolverProtocol, ResolveRoundTrip) {
  auto f = Decode(EncodeResolve(7, "host.example"));
  EXPECT_EQ(f.type, MsgType::kResolve);
  EXPECT_EQ(f.id, 7u);
  auto name = DecodeResolve(f);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "host.example");
  EXPECT_EQ(SenderOf(f.type), Sender::kParent);
}

TEST(ResolverProtocol, AnswerRoundTripKeepsFamiliesAndScope) {
  Answer a;
  a.status = AnswerStatus::kOk;
  a.addresses = {A("192.0.2.1"), A("2001:db8::5"), A("fe80::1%7"), A("::ffff:192.0.2.9")};
  auto f = Decode(EncodeAnswer(99, a));
  EXPECT_EQ(SenderOf(f.type), Sender::kSidecar);
  auto d = DecodeAnswer(f);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->status, AnswerStatus::kOk);
  ASSERT_EQ(d->addresses.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(d->addresses[i], a.addresses[i]) << i;
  EXPECT_EQ(d->addresses[2].ToString(), "fe80::1%7");
}

TEST(ResolverProtocol, ErrorAnswerCarriesSanitisedDetail) {
  Answer a;
  a.status = AnswerStatus::kTemporary;
  a.detail = std::string("try\nagain") + std::string(300, 'x');
  a.addresses = {A("192.0.2.1")};  // ignored for an error answer
  auto d = DecodeAnswer(Decode(EncodeAnswer(1, a)));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->status, AnswerStatus::kTemporary);
  EXPECT_TRUE(d->addresses.empty());
  EXPECT_EQ(d->detail.size(), kMaxDetail);
  EXPECT_EQ(d->detail.substr(0, 9), "try?again");
}

TEST(ResolverProtocol, EncoderClampsAddressesAndEmptyOkBecomesNotFound) {
  Answer a;
  a.status = AnswerStatus::kOk;
  for (int i = 0; i < 100; ++i) a.addresses.push_back(A("192.0.2.1"));
  auto d = DecodeAnswer(Decode(EncodeAnswer(1, a)));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->addresses.size(), kMaxAnswerAddresses);
  a.addresses = {net::Address()};  // invalid only
  d = DecodeAnswer(Decode(EncodeAnswer(1, a)));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->status, AnswerStatus::kNotFound);
}

TEST(ResolverProtocol, HelloAndLogRoundTrip) {
  auto h = DecodeHello(Decode(EncodeHello({123, 65534, 65533})));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->pid, 123u);
  EXPECT_EQ(h->uid, 65534u);
  EXPECT_EQ(h->gid, 65533u);
  auto l = DecodeLog(Decode(EncodeLog(log::Level::kWarning, std::string(600, 'y'))));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->level, log::Level::kWarning);
  EXPECT_EQ(l->text.size(), kMaxLogText);
}

TEST(ResolverProtocol, PingAndPongCarryOnlyTheirId) {
  auto ping = Decode(EncodePing(0x1122334455667788ULL));
  EXPECT_EQ(EncodePing(0x1122334455667788ULL), Header(kVersion, 5, 0, 0x1122334455667788ULL));
  EXPECT_EQ(ping.type, MsgType::kPing);
  EXPECT_EQ(SenderOf(ping.type), Sender::kParent);
  ASSERT_TRUE(DecodePing(ping).ok());
  EXPECT_EQ(*DecodePing(ping), 0x1122334455667788ULL);
  EXPECT_FALSE(DecodePong(ping).ok());
  auto pong = Decode(EncodePong(9));
  EXPECT_EQ(pong.type, MsgType::kPong);
  EXPECT_EQ(SenderOf(pong.type), Sender::kSidecar);
  ASSERT_TRUE(DecodePong(pong).ok());
  EXPECT_EQ(*DecodePong(pong), 9u);
  EXPECT_FALSE(DecodePing(pong).ok());
  EXPECT_FALSE(DecodeResolve(ping).ok());
  EXPECT_FALSE(DecodeAnswer(pong).ok());
  ping.payload = {0};  // a payload is not allowed
  EXPECT_FALSE(DecodePing(ping).ok());
  pong.payload = {0};
  EXPECT_FALSE(DecodePong(pong).ok());
}

TEST(ResolverProtocol, RejectsMalformedHeaders) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
      {"empty", {}},
      {"short", std::vector<uint8_t>(kHeaderSize - 1, 0)},
      {"version 0", Header(0, 2, 0, 1)},
      {"version 2", Header(2, 2, 0, 1)},
      {"type 0", Header(kVersion, 0, 0, 1)},
      {"type 7", Header(kVersion, 7, 0, 1)},
      {"ping id 0", Header(kVersion, 5, 0, 0)},
      {"pong id 0", Header(kVersion, 6, 0, 0)},
      {"length beyond data", Header(kVersion, 2, 4, 1)},
      {"resolve id 0", Header(kVersion, 2, 0, 0)},
      {"answer id 0", Header(kVersion, 3, 0, 0)},
      {"hello id 1", Header(kVersion, 1, 0, 1)},
      {"log id 1", Header(kVersion, 4, 0, 1)},
  };
  auto too_long = Header(kVersion, 2, kMaxPayload + 1, 1);
  too_long.resize(kHeaderSize + kMaxPayload + 1, 'a');
  cases.emplace_back("payload too long", too_long);
  auto extra = EncodeResolve(1, "abc");
  extra.push_back('d');  // length field says 3
  cases.emplace_back("length short of data", extra);
  for (const auto& [what, bytes] : cases) {
    auto f = DecodeFrame(bytes);
    EXPECT_FALSE(f.ok()) << what;
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), Code::kCorruption) << what;
    }
  }
}

TEST(ResolverProtocol, RejectsBadResolveNames) {
  auto frame_with = [](std::string payload) {
    auto b = Header(kVersion, 2, uint32_t(payload.size()), 1);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
  };
  for (std::string bad :
       {std::string(), std::string("a\0b", 3), std::string("a b"), std::string("a\tb"),
        std::string("x\x7f"), std::string(kMaxNameLength + 1, 'a')}) {
    auto f = DecodeFrame(frame_with(bad));
    ASSERT_TRUE(f.ok());
    EXPECT_FALSE(DecodeResolve(*f).ok()) << bad.size();
  }
  auto ok = DecodeFrame(frame_with(std::string(kMaxNameLength, 'a')));
  EXPECT_TRUE(DecodeResolve(*ok).ok());
  EXPECT_TRUE(IsAcceptableName("h\xc3\xa9.example"));  // UTF-8 is allowed
}

std::vector<uint8_t> AnswerFrame(std::vector<uint8_t> payload) {
  auto b = Header(kVersion, 3, uint32_t(payload.size()), 5);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

TEST(ResolverProtocol, RejectsMalformedAnswers) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
      {"empty", {}},
      {"no count", {0}},
      {"status 4", {4, 0, 0}},
      {"ok with no address", {0, 0, 0}},
      {"ok with 65 addresses", {0, 65}},
      {"error with an address", {1, 1, 4, 192, 0, 2, 1, 0}},
      {"family 5", {0, 1, 5, 192, 0, 2, 1, 0}},
      {"truncated v4", {0, 1, 4, 192, 0, 2}},
      {"truncated v6", {0, 1, 6, 0x20, 0x01, 0x0d, 0xb8}},
      {"missing detail length", {0, 1, 4, 192, 0, 2, 1}},
      {"detail longer than data", {1, 0, 3, 'a', 'b'}},
      {"non-printable detail", {1, 0, 2, 'a', 0x01}},
      {"trailing byte", {1, 0, 0, 0}},
      {"two counted, one present", {0, 2, 4, 192, 0, 2, 1, 0}},
  };
  std::vector<uint8_t> long_detail = {1, 0, uint8_t(kMaxDetail + 1)};
  long_detail.resize(3 + kMaxDetail + 1, 'a');
  cases.emplace_back("detail too long", long_detail);
  for (const auto& [what, payload] : cases) {
    auto f = DecodeFrame(AnswerFrame(payload));
    ASSERT_TRUE(f.ok()) << what;
    auto a = DecodeAnswer(*f);
    EXPECT_FALSE(a.ok()) << what;
  }
  auto good = DecodeFrame(AnswerFrame({0, 1, 4, 192, 0, 2, 1, 0}));
  EXPECT_TRUE(DecodeAnswer(*good).ok());
}

TEST(ResolverProtocol, EveryTruncationOfAValidAnswerIsRejected) {
  Answer a;
  a.status = AnswerStatus::kOk;
  a.addresses = {A("192.0.2.1"), A("2001:db8::1")};
  auto full = EncodeAnswer(3, a);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
    auto f = DecodeFrame(cut);
    if (!f.ok()) continue;  // header no longer matches the length: rejected early
    EXPECT_FALSE(DecodeAnswer(*f).ok()) << n;
  }
  // Fixing up the length field of each truncation must still be rejected.
  for (size_t n = kHeaderSize; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
    uint32_t len = uint32_t(n - kHeaderSize);
    for (int i = 0; i < 4; ++i) cut[4 + i] = uint8_t(len >> (24 - 8 * i));
    auto f = DecodeFrame(cut);
    ASSERT_TRUE(f.ok()) << n;
    EXPECT_FALSE(DecodeAnswer(*f).ok()) << n;
  }
}

TEST(ResolverProtocol, RejectsBadHelloAndLog) {
  auto hello = Decode(EncodeHello({1, 2, 3}));
  hello.payload.pop_back();
  EXPECT_FALSE(DecodeHello(hello).ok());
  EXPECT_FALSE(DecodeHello(Decode(EncodeHello({0, 2, 3}))).ok());  // pid 0
  auto log = Decode(EncodeLog(log::Level::kInfo, "x"));
  log.payload[0] = 9;
  EXPECT_FALSE(DecodeLog(log).ok());
  log.payload = {0};
  EXPECT_FALSE(DecodeLog(log).ok());  // empty text
}

TEST(ResolverProtocol, PayloadDecodersCheckTheType) {
  auto resolve = Decode(EncodeResolve(1, "a"));
  EXPECT_FALSE(DecodeAnswer(resolve).ok());
  EXPECT_FALSE(DecodeHello(resolve).ok());
  EXPECT_FALSE(DecodeLog(resolve).ok());
  auto answer = Decode(EncodeAnswer(1, Answer{}));
  EXPECT_FALSE(DecodeResolve(answer).ok());
}

TEST(ResolverProtocol, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b;
    // Half the inputs start with a plausible header so the payload decoders get exercised.
    size_t payload = rng() % 64;
    if (i % 2 == 0) b = Header(kVersion, uint16_t(1 + rng() % 6), uint32_t(payload), 1 + rng() % 3);
    for (size_t j = 0; j < payload; ++j) b.push_back(uint8_t(rng()));
    if (i % 5 == 0 && !b.empty()) b[rng() % b.size()] ^= uint8_t(1 << (rng() % 8));
    auto f = DecodeFrame(b);
    if (!f.ok()) continue;
    (void)DecodeHello(*f);
    (void)DecodeResolve(*f);
    (void)DecodeAnswer(*f);
    (void)DecodeLog(*f);
    (void)DecodePing(*f);
    (void)DecodePong(*f);
  }
}

}  // namespace
}  // namespace nsm::resolver::proto
