// FakeResolver: table answers, delays, hangs and shutdown, with the same callback
// rules as the real resolver (posted, exactly once).
#include <gtest/gtest.h>

#include <optional>

#include <asio/executor_work_guard.hpp>

#include "resolver/resolver.h"

namespace nsm::resolver {
namespace {

using namespace std::chrono_literals;

class ResolverFake : public ::testing::Test {
 protected:
  std::shared_ptr<std::optional<Result<Addresses>>> Start(Resolver& r, std::string_view name,
                                                          std::chrono::milliseconds timeout) {
    auto out = std::make_shared<std::optional<Result<Addresses>>>();
    r.Resolve(name, timeout, [out](Result<Addresses> res) {
      EXPECT_FALSE(out->has_value()) << "callback ran twice";
      *out = std::move(res);
    });
    EXPECT_FALSE(out->has_value()) << "callback ran inline";
    return out;
  }
  void RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(10ms);
  }
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
};

TEST_F(ResolverFake, AnswersFromTheTable) {
  auto fake = MakeFakeResolver(
      io_, {{"Peer", FakeAnswer::Addrs({"::ffff:192.0.2.1", "192.0.2.1", "2001:db8::1"})}});
  auto a = Start(*fake, "peer", 1s);
  auto b = Start(*fake, "unknown", 1s);
  auto c = Start(*fake, "192.0.2.7", 1s);
  RunUntil([&] { return a->has_value() && b->has_value() && c->has_value(); });
  ASSERT_TRUE(a->value().ok());
  ASSERT_EQ(a->value()->size(), 2u);
  EXPECT_EQ(a->value()->at(0).ToString(), "192.0.2.1");
  EXPECT_EQ(a->value()->at(1).ToString(), "2001:db8::1");
  EXPECT_EQ(b->value().status().code(), Code::kNotFound);
  EXPECT_EQ(c->value()->at(0).ToString(), "192.0.2.7");
  EXPECT_EQ(fake->QueriesFor("PEER"), 1u);
  EXPECT_EQ(fake->QueriesFor("192.0.2.7"), 0u);
  auto s = fake->stats();
  EXPECT_EQ(s.lookups, 3u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.literals, 1u);
}

TEST_F(ResolverFake, DelayHangAndErrors) {
  auto fake = MakeFakeResolver(io_);
  fake->Set("slow", FakeAnswer::Addrs({"192.0.2.2"}, 50ms));
  fake->Set("hung", FakeAnswer::Hang());
  fake->Set("down", FakeAnswer::Error(Status(Code::kUnavailable, "dns down")));
  auto t0 = std::chrono::steady_clock::now();
  auto slow = Start(*fake, "slow", 1s);
  auto too_slow = Start(*fake, "slow", 20ms);
  auto hung = Start(*fake, "hung", 100ms);
  auto down = Start(*fake, "down", 1s);
  EXPECT_EQ(fake->pending(), 3u);
  RunUntil([&] { return slow->has_value() && too_slow->has_value() && hung->has_value(); });
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_TRUE(slow->value().ok());
  EXPECT_EQ(too_slow->value().status().code(), Code::kTimeout);
  EXPECT_EQ(hung->value().status().code(), Code::kTimeout);
  EXPECT_EQ(down->value().status().code(), Code::kUnavailable);
  EXPECT_EQ(fake->stats().timeouts, 2u);
  EXPECT_EQ(fake->pending(), 0u);
}

TEST_F(ResolverFake, ShutdownFailsPendingOnce) {
  auto fake = MakeFakeResolver(io_, {{"hung", FakeAnswer::Hang()}});
  auto hung = Start(*fake, "hung", 10s);
  fake->Shutdown();
  fake->Shutdown();
  auto after = Start(*fake, "hung", 10s);
  RunUntil([&] { return hung->has_value() && after->has_value(); });
  EXPECT_EQ(hung->value().status().code(), Code::kUnavailable);
  EXPECT_EQ(after->value().status().code(), Code::kUnavailable);
  fake.reset();
  io_.poll();  // nothing left to run twice
}

}  // namespace
}  // namespace nsm::resolver
