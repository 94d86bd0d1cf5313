// RPC server and client over loopback: UDP and TCP, IPv4 and IPv6, deferred replies
// from another thread, rejections.
#include <gtest/gtest.h>

#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "rpc/client.h"
#include "rpc/record.h"
#include "rpc/rpcbind.h"
#include "rpc/server.h"
#include "xdr/xdr.h"

namespace nsm::rpc {
namespace {

constexpr uint32_t kProg = 300123;

class RpcLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(io_, ServerOptions{});
    server_->AddProgram(
        kProg, 1, 2, [this](const CallContext& ctx, std::span<const uint8_t> args, Responder r) {
          last_peer_ = ctx.peer;
          if (ctx.header.proc == 0) return r.Success();
          if (ctx.header.proc == 1) {  // echo, deferred to another thread
            std::vector<uint8_t> copy(args.begin(), args.end());
            workers_.emplace_back([r = std::move(r), copy]() mutable { r.Success(copy); });
            return;
          }
          if (ctx.header.proc == 2) return;  // dropped: no reply
          r.Error(AcceptStat::kProcUnavail);
        });
    ASSERT_TRUE(server_->Listen().ok());
    client_ = std::make_unique<Client>(io_, ClientOptions{});
    ASSERT_TRUE(client_->Open().ok());
  }
  void TearDown() override {
    for (auto& t : workers_) t.join();
  }

  Result<std::vector<uint8_t>> Call(const char* host, Transport t, uint32_t vers, uint32_t proc,
                                    std::vector<uint8_t> args = {},
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<Result<std::vector<uint8_t>>> out;
    CallSpec spec{*net::Address::Parse(host, server_->port()),
                  t,
                  kProg,
                  vers,
                  proc,
                  args,
                  timeout,
                  std::chrono::milliseconds(100)};
    client_->Call(spec, [&](Result<std::vector<uint8_t>> r) { out.emplace(std::move(r)); });
    while (!out) io_.run_one();
    return std::move(*out);
  }

  asio::io_context io_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
  std::vector<std::thread> workers_;
  net::Address last_peer_;
};

TEST_F(RpcLoopback, AllFourTransports) {
  ASSERT_TRUE(server_->has_ipv6());
  for (const char* host : {"127.0.0.1", "::1"}) {
    for (Transport t : {Transport::kUdp, Transport::kTcp}) {
      auto r = Call(host, t, 1, 1, {1, 2, 3, 4});
      ASSERT_TRUE(r.ok()) << host << " " << TransportName(t) << ": " << r.status().ToString();
      EXPECT_EQ(*r, (std::vector<uint8_t>{1, 2, 3, 4}));
      EXPECT_TRUE(last_peer_.IsLoopback());
    }
  }
}

TEST_F(RpcLoopback, Rejections) {
  auto r = Call("127.0.0.1", Transport::kUdp, 3, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("version mismatch"), std::string::npos);
  r = Call("127.0.0.1", Transport::kTcp, 1, 9);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("procedure unavailable"), std::string::npos);
  r = Call("127.0.0.1", Transport::kUdp, 1, 2, {}, std::chrono::milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_GT(client_->stats().retransmits, 0u);
}

TEST_F(RpcLoopback, DroppedTcpCallsDoNotWedgeTheConnection) {
  // More unanswered calls than the per-connection pending limit on one connection:
  // the slots are released and a later call on the same connection is answered.
  asio::ip::tcp::socket s(io_);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::vector<uint8_t> stream;
  for (uint32_t i = 0; i < 100; ++i) {
    auto rec = FrameRecord(BuildCall(1000 + i, kProg, 1, 2, {}));
    stream.insert(stream.end(), rec.begin(), rec.end());
  }
  auto ping = FrameRecord(BuildCall(7, kProg, 1, 0, {}));
  stream.insert(stream.end(), ping.begin(), ping.end());
  asio::write(s, asio::buffer(stream));
  std::thread t([&] { io_.run_for(std::chrono::seconds(2)); });
  uint8_t hdr[4];
  asio::read(s, asio::buffer(hdr));
  uint32_t len = ((hdr[0] & 0x7fu) << 24) | (hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
  std::vector<uint8_t> body(len);
  asio::read(s, asio::buffer(body));
  t.join();
  auto pr = ParseReply(body);
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr->xid, 7u);
}

TEST_F(RpcLoopback, HugeRecordHeaderClosesConnection) {
  asio::ip::tcp::socket s(io_);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  const uint8_t two_gib[] = {0xff, 0xff, 0xff, 0xff};
  asio::write(s, asio::buffer(two_gib));
  std::thread t([&] { io_.run_for(std::chrono::milliseconds(500)); });
  uint8_t b;
  std::error_code ec;
  s.read_some(asio::buffer(&b, 1), ec);
  t.join();
  EXPECT_EQ(ec, asio::error::eof);
  io_.restart();
  EXPECT_GE(server_->stats().dropped.load(), 1u);
  EXPECT_TRUE(Call("127.0.0.1", Transport::kTcp, 1, 0).ok());
}

TEST(Rpcbind, UniversalAddresses) {
  auto a = ParseUniversalAddress("127.0.0.1.3.233");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port(), 1001);
  EXPECT_EQ(a->ToString(), "127.0.0.1");
  auto b = ParseUniversalAddress("::1.0.111");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port(), 111);
  EXPECT_EQ(UniversalAddress(*b), "::1.0.111");
  EXPECT_FALSE(ParseUniversalAddress("1.2.3.4.256.1"));
  EXPECT_FALSE(ParseUniversalAddress("garbage"));
}

}  // namespace
}  // namespace nsm::rpc
