// SM procedure logic against a real store in a temp directory, a fake resolver and a
// lockd stand-in on loopback that records callbacks.
#include "monitor/service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "proto/nsm.h"
#include "rpc/message.h"
#include "xdr/xdr.h"

namespace nsm::monitor {
namespace {

using namespace std::chrono_literals;

struct Reply {
  rpc::AcceptStat stat;
  std::vector<uint8_t> results;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-service-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = store::Store::Open(dir_, {});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    resolver_ = resolver::MakeFakeResolver(io_);
    lockd_ = std::make_unique<rpc::Server>(io_, rpc::ServerOptions{});
    lockd_->AddProgram(
        proto::kNlmProg, 1, 4,
        [this](const rpc::CallContext& ctx, std::span<const uint8_t> args, rpc::Responder r) {
          auto st = proto::DecodeCallbackStatus(args);
          if (st.ok() && ctx.header.proc == 16) callbacks_seen_.push_back(*st);
          r.Success();
        });
    ASSERT_TRUE(lockd_->Listen().ok());
    client_ = std::make_unique<rpc::Client>(io_, rpc::ClientOptions{});
    ASSERT_TRUE(client_->Open().ok());
    callback::Options co;
    co.fixed_udp_port = lockd_->port();
    callbacks_ = std::make_unique<callback::Callbacks>(io_, *client_, co);
    service_ = std::make_unique<Service>(io_, *store_, *resolver_, *callbacks_, 7);
  }
  void TearDown() override {
    service_.reset();
    callbacks_.reset();
    client_.reset();
    lockd_.reset();
    resolver_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Reply CallFrom(const char* from, uint32_t proc, const std::vector<uint8_t>& args,
                 uint16_t port = 800) {
    rpc::CallContext ctx;
    ctx.peer = *net::Address::Parse(from, port);
    ctx.transport = rpc::Transport::kTcp;
    ctx.header.prog = proto::kSmProg;
    ctx.header.vers = 1;
    ctx.header.proc = proc;
    ctx.header.xid = ++xid_;
    auto got = std::make_shared<std::optional<std::vector<uint8_t>>>();
    auto mu = std::make_shared<std::mutex>();
    service_->Handle(ctx, args, rpc::Responder(ctx.header.xid, [got, mu](std::vector<uint8_t> b) {
                       std::lock_guard<std::mutex> l(*mu);
                       *got = std::move(b);
                     }));
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> l(*mu);
        if (*got) break;
      }
      io_.run_for(10ms);
    }
    std::lock_guard<std::mutex> l(*mu);
    EXPECT_TRUE(got->has_value()) << "no reply";
    if (!*got) return {rpc::AcceptStat::kSystemErr, {}};
    auto pr = rpc::ParseReply(**got);
    EXPECT_TRUE(pr.ok());
    return {pr->accept_stat, std::vector<uint8_t>(pr->results.begin(), pr->results.end())};
  }

  proto::SmStatRes Mon(const char* from, const std::string& mon_name, uint8_t priv0,
                       const std::string& my_name = "client", uint32_t prog = proto::kNlmProg,
                       uint32_t proc = 16) {
    proto::Mon m;
    m.mon_id.mon_name = mon_name;
    m.mon_id.my_id = {my_name, prog, 3, proc};
    m.priv[0] = priv0;
    auto r = CallFrom(from, proto::kSmMon, proto::EncodeMon(m));
    EXPECT_EQ(r.stat, rpc::AcceptStat::kSuccess);
    auto res = proto::DecodeSmStatRes(r.results);
    EXPECT_TRUE(res.ok());
    return res.ok() ? *res : proto::SmStatRes{};
  }

  void Notify(const char* from, const std::string& name, int32_t state) {
    auto r = CallFrom(from, proto::kSmNotify, proto::EncodeStatChge({name, state}), 40000);
    EXPECT_EQ(r.stat, rpc::AcceptStat::kSuccess);
  }

  void RunUntilCallbacks(size_t n, std::chrono::milliseconds limit = 3s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (callbacks_seen_.size() < n && std::chrono::steady_clock::now() < end) {
      io_.run_for(10ms);
    }
    io_.run_for(50ms);  // and nothing more arrives
  }

  std::string dir_;
  asio::io_context io_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<resolver::FakeResolver> resolver_;
  std::unique_ptr<rpc::Server> lockd_;
  std::unique_ptr<rpc::Client> client_;
  std::unique_ptr<callback::Callbacks> callbacks_;
  std::unique_ptr<Service> service_;
  std::vector<proto::CallbackStatus> callbacks_seen_;
  uint32_t xid_ = 0;
};

TEST_F(ServiceTest, MonRecordsDurablyAndAnswersCurrentState) {
  auto r = Mon("127.0.0.1", "198.18.0.2", 1);
  EXPECT_EQ(r.res, proto::kStatSucc);
  EXPECT_EQ(r.state, 7);
  auto list = store_->ListMonitors();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key.mon_name, "198.18.0.2");
  EXPECT_EQ((*list)[0].key.my_name, "client");
  EXPECT_EQ((*list)[0].priv[0], 1);
  EXPECT_EQ((*list)[0].addresses, std::vector<std::string>{"198.18.0.2"});
  EXPECT_EQ((*list)[0].caller, "127.0.0.1");
}

TEST_F(ServiceTest, MonAcceptsEveryLoopbackSpelling) {
  EXPECT_EQ(Mon("::1", "peer-a", 1).res, proto::kStatSucc);
  EXPECT_EQ(Mon("::ffff:127.0.0.1", "peer-b", 2).res, proto::kStatSucc);
  EXPECT_EQ(Mon("127.0.0.2", "peer-c", 3).res, proto::kStatSucc);
  EXPECT_EQ(*store_->CountMonitors(), 3u);
}

TEST_F(ServiceTest, MonRefusesRemoteCallersBadNamesAndForeignCallbacks) {
  EXPECT_EQ(Mon("198.18.0.9", "peer", 1).res, proto::kStatFail);
  EXPECT_EQ(Mon("::ffff:198.18.0.9", "peer", 1).res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", "../etc/passwd", 1).res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", ".hidden", 1).res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", "a b", 1).res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", "peer", 1, "bad/name").res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", "peer", 1, "client", 100003).res, proto::kStatFail);
  EXPECT_EQ(Mon("127.0.0.1", "peer", 1, "client", proto::kNlmProg, 1).res, proto::kStatFail);
  EXPECT_EQ(*store_->CountMonitors(), 0u);
  EXPECT_GE(service_->stats().refused.load(), 8u);
}

TEST_F(ServiceTest, GarbageArgumentsAreRejected) {
  EXPECT_EQ(CallFrom("127.0.0.1", proto::kSmMon, {0, 0, 0}).stat, rpc::AcceptStat::kGarbageArgs);
  EXPECT_EQ(CallFrom("127.0.0.1", proto::kSmNotify, {0, 0, 4, 1}).stat,
            rpc::AcceptStat::kGarbageArgs);
  EXPECT_EQ(CallFrom("127.0.0.1", 9, {}).stat, rpc::AcceptStat::kProcUnavail);
}

TEST_F(ServiceTest, HostNameMonitorStoresResolvedAddresses) {
  resolver_->Set("server.test", resolver::FakeAnswer::Addrs({"198.18.0.2", "fd00:1::2"}));
  EXPECT_EQ(Mon("127.0.0.1", "server.test", 1).res, proto::kStatSucc);
  auto list = store_->ListMonitors();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].addresses, (std::vector<std::string>{"198.18.0.2", "fd00:1::2"}));
  // An unresolvable name is still monitored (lock recovery must not need DNS).
  EXPECT_EQ(Mon("127.0.0.1", "nowhere.test", 2).res, proto::kStatSucc);
  EXPECT_EQ(*store_->CountMonitors(), 2u);
}

// nfs-utils merges these two and loses a lock (reference, section 4): nsm keeps both.
TEST_F(ServiceTest, Ipv4AndIpv6MonitorsOfOnePeerAreBothCalledBack) {
  Mon("127.0.0.1", "198.18.0.2", 0x44);
  Mon("127.0.0.1", "fd00:1::2", 0x66);
  resolver_->Set("server", resolver::FakeAnswer::Addrs({"198.18.0.2", "fd00:1::2"}));
  Notify("198.18.0.2", "server", 9);
  RunUntilCallbacks(2);
  ASSERT_EQ(callbacks_seen_.size(), 2u);
  std::set<uint8_t> privs;
  for (const auto& c : callbacks_seen_) {
    privs.insert(c.priv[0]);
    EXPECT_EQ(c.state, 9);
  }
  EXPECT_EQ(privs, (std::set<uint8_t>{0x44, 0x66}));
}

TEST_F(ServiceTest, UnmonRemovesOnlyTheNamedRecord) {
  Mon("127.0.0.1", "198.18.0.2", 1, "client");
  Mon("127.0.0.1", "198.18.0.2", 2, "client2");
  proto::MonId id{"198.18.0.2", {"client", proto::kNlmProg, 3, 16}};
  auto r = CallFrom("127.0.0.1", proto::kSmUnmon, proto::EncodeMonId(id));
  EXPECT_EQ(r.stat, rpc::AcceptStat::kSuccess);
  auto list = store_->ListMonitors();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key.my_name, "client2");
  Notify("198.18.0.2", "198.18.0.2", 11);
  RunUntilCallbacks(1);
  ASSERT_EQ(callbacks_seen_.size(), 1u);
  EXPECT_EQ(callbacks_seen_[0].priv[0], 2);
  EXPECT_EQ(callbacks_seen_[0].mon_name, "198.18.0.2");
}

TEST_F(ServiceTest, UnmonAllRemovesEveryRecordOfThatCaller) {
  Mon("127.0.0.1", "peer1", 1, "client");
  Mon("127.0.0.1", "peer2", 2, "client");
  Mon("127.0.0.1", "peer3", 3, "other");
  proto::MyId id{"client", proto::kNlmProg, 3, 16};
  auto r = CallFrom("127.0.0.1", proto::kSmUnmonAll, proto::EncodeMyId(id));
  EXPECT_EQ(r.stat, rpc::AcceptStat::kSuccess);
  EXPECT_EQ(*store_->CountMonitors(), 1u);
}

TEST_F(ServiceTest, NotifyMatchesByNameCaseInsensitivelyEvenWhileDnsHangs) {
  Mon("127.0.0.1", "Server.Test", 5);
  resolver_->Set("server.test", resolver::FakeAnswer::Hang());
  Notify("198.18.0.2", "SERVER.test", 13);
  RunUntilCallbacks(1, 1s);
  ASSERT_EQ(callbacks_seen_.size(), 1u);
  EXPECT_EQ(callbacks_seen_[0].mon_name, "Server.Test");  // as given in SM_MON
  EXPECT_EQ(callbacks_seen_[0].state, 13);
}

TEST_F(ServiceTest, NotifyFallsBackToTheCallersAddressOnlyWhenNothingElseMatches) {
  Mon("127.0.0.1", "198.18.0.2", 1);
  Mon("127.0.0.1", "198.18.0.3", 2);
  Notify("::ffff:198.18.0.2", "unrelated-name", 15);
  RunUntilCallbacks(1);
  ASSERT_EQ(callbacks_seen_.size(), 1u);
  EXPECT_EQ(callbacks_seen_[0].priv[0], 1);
}

TEST_F(ServiceTest, NotifyForAnUnknownPeerCallsNobody) {
  Mon("127.0.0.1", "198.18.0.2", 1);
  Notify("198.18.0.7", "198.18.0.7", 3);
  RunUntilCallbacks(1, 300ms);
  EXPECT_TRUE(callbacks_seen_.empty());
  EXPECT_EQ(service_->stats().notify_unmatched.load(), 1u);
}

TEST_F(ServiceTest, ForeignSourceIsLoggedButCalledBackByDefault) {
  Mon("127.0.0.1", "198.18.0.2", 1);
  Notify("198.18.0.66", "198.18.0.2", 17);  // claims to be .2, comes from .66
  RunUntilCallbacks(1);
  ASSERT_EQ(callbacks_seen_.size(), 1u);
  EXPECT_EQ(service_->stats().notify_foreign_source.load(), 1u);
}

TEST_F(ServiceTest, ForeignSourceIsRefusedWhenConfigured) {
  Options o;
  o.source_check = SourceCheck::kRefuse;
  service_ = std::make_unique<Service>(io_, *store_, *resolver_, *callbacks_, 7, o);
  Mon("127.0.0.1", "198.18.0.2", 1);
  resolver_->Set("server.test", resolver::FakeAnswer::Addrs({"198.18.0.3"}));
  Mon("127.0.0.1", "server.test", 2);
  Notify("198.18.0.66", "198.18.0.2", 17);
  Notify("198.18.0.66", "server.test", 17);
  RunUntilCallbacks(1, 500ms);
  EXPECT_TRUE(callbacks_seen_.empty());
  EXPECT_EQ(service_->stats().notify_foreign_source.load(), 2u);
  Notify("198.18.0.2", "198.18.0.2", 19);   // from its own address
  Notify("198.18.0.3", "server.test", 19);  // from the address its name has now
  RunUntilCallbacks(2);
  ASSERT_EQ(callbacks_seen_.size(), 2u);
}

TEST_F(ServiceTest, StatAnswersWithTheState) {
  auto r = CallFrom("198.18.0.9", proto::kSmStat, proto::EncodeSmName("anyone"));
  auto res = proto::DecodeSmStatRes(r.results);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->res, proto::kStatSucc);
  EXPECT_EQ(res->state, 7);
}

}  // namespace
}  // namespace nsm::monitor
