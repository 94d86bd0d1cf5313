// FakeResolver: answers from a table on the io_context, with optional delays and
// hangs, for unit tests of code that uses a Resolver (no processes, no DNS). It
// counts queries per name and priority, so such tests can check the class used.
#include <array>
#include <mutex>
#include <unordered_map>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "resolver/protocol.h"
#include "resolver/resolver.h"
#include "resolver/resolver_internal.h"

namespace nsm::resolver {

FakeAnswer FakeAnswer::Addrs(std::initializer_list<std::string_view> literals,
                             std::chrono::milliseconds delay) {
  std::vector<net::Address> raw;
  for (auto l : literals) {
    if (auto a = net::Address::Parse(l)) raw.push_back(*a);
  }
  FakeAnswer f;
  f.result = NormalizeAddresses(raw);
  f.delay = delay;
  return f;
}

FakeAnswer FakeAnswer::Error(Status s, std::chrono::milliseconds delay) {
  FakeAnswer f;
  f.result = std::move(s);
  f.delay = delay;
  return f;
}

FakeAnswer FakeAnswer::Hang() {
  FakeAnswer f;
  f.hang = true;
  return f;
}

namespace {

class FakeImpl : public std::enable_shared_from_this<FakeImpl> {
 public:
  FakeImpl(asio::io_context& io, FakeTable table) : io_(io) {
    for (auto& [k, v] : table) table_.insert_or_assign(LowerName(k), std::move(v));
  }

  void Resolve(std::string_view name, std::chrono::milliseconds timeout, Priority prio,
               Callback cb) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.lookups;
    if (!cb) return;
    if (shut_down_) return Complete(cb, Status(Code::kUnavailable, "resolver is shut down"));
    if (auto lit = net::Address::Parse(name)) {
      ++stats_.literals;
      return Complete(cb, Addresses{lit->Normalized().WithPort(0)});
    }
    if (!proto::IsAcceptableName(name)) {
      return Complete(cb, Status(Code::kInvalidArgument, "not a valid host name"));
    }
    std::string key = LowerName(name);
    ++queries_[key][prio == Priority::kLocal ? 0 : 1];
    auto it = table_.find(key);
    FakeAnswer answer = it != table_.end() ? it->second : FakeAnswer{};
    if (!answer.hang && answer.delay.count() <= 0) return Complete(cb, std::move(answer.result));

    uint64_t id = next_id_++;
    Pending& p = pending_[id];
    p.cb = std::move(cb);
    p.timeout = std::make_unique<asio::steady_timer>(io_, timeout);
    p.timeout->async_wait([weak = weak_from_this(), id](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (auto self = weak.lock()) self->Finish(id, Status(Code::kTimeout, "fake: timed out"));
    });
    if (!answer.hang && answer.delay < timeout) {
      p.answer = std::make_unique<asio::steady_timer>(io_, answer.delay);
      p.answer->async_wait(
          [weak = weak_from_this(), id, r = std::move(answer.result)](const std::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            if (auto self = weak.lock()) self->Finish(id, r);
          });
    }
  }

  void Set(std::string_view name, FakeAnswer a) {
    std::lock_guard<std::mutex> lock(mu_);
    table_.insert_or_assign(LowerName(name), std::move(a));
  }
  void Remove(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu_);
    table_.erase(LowerName(name));
  }
  uint64_t QueriesFor(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queries_.find(LowerName(name));
    return it == queries_.end() ? 0 : it->second[0] + it->second[1];
  }
  uint64_t QueriesFor(std::string_view name, Priority prio) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queries_.find(LowerName(name));
    return it == queries_.end() ? 0 : it->second[prio == Priority::kLocal ? 0 : 1];
  }
  size_t pending() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void Shutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [id, p] : pending_) {
      p.timeout->cancel();
      if (p.answer) p.answer->cancel();
      Complete(p.cb, Status(Code::kUnavailable, "resolver is shut down"));
    }
    pending_.clear();
  }

 private:
  struct Pending {
    Callback cb;
    std::unique_ptr<asio::steady_timer> timeout, answer;
  };

  void Finish(uint64_t id, Result<Addresses> r) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Callback cb = std::move(it->second.cb);
    pending_.erase(it);  // cancels the other timer
    Complete(cb, std::move(r));
  }

  void Complete(Callback& cb, Result<Addresses> r) {
    if (!r.ok()) {
      if (r.status().code() == Code::kTimeout) {
        ++stats_.timeouts;
      } else if (r.status().code() == Code::kFull) {
        ++stats_.queue_full;
      } else {
        ++stats_.failures;
      }
    }
    asio::post(io_, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
  }

  asio::io_context& io_;
  mutable std::mutex mu_;
  bool shut_down_ = false;
  FakeTable table_;
  std::unordered_map<std::string, std::array<uint64_t, 2>> queries_;  // [local, remote]
  std::unordered_map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  Stats stats_;
};

class Fake final : public FakeResolver {
 public:
  Fake(asio::io_context& io, FakeTable table)
      : impl_(std::make_shared<FakeImpl>(io, std::move(table))) {}
  ~Fake() override { impl_->Shutdown(); }
  using Resolver::Resolve;
  void Resolve(std::string_view name, std::chrono::milliseconds timeout, Priority prio,
               Callback cb) override {
    impl_->Resolve(name, timeout, prio, std::move(cb));
  }
  Stats stats() const override { return impl_->stats(); }
  void Shutdown() override { impl_->Shutdown(); }
  void Set(std::string_view name, FakeAnswer a) override { impl_->Set(name, std::move(a)); }
  void Remove(std::string_view name) override { impl_->Remove(name); }
  uint64_t QueriesFor(std::string_view name) const override { return impl_->QueriesFor(name); }
  uint64_t QueriesFor(std::string_view name, Priority prio) const override {
    return impl_->QueriesFor(name, prio);
  }
  size_t pending() const override { return impl_->pending(); }

 private:
  std::shared_ptr<FakeImpl> impl_;
};

}  // namespace

std::unique_ptr<FakeResolver> MakeFakeResolver(asio::io_context& io, FakeTable table) {
  return std::make_unique<Fake>(io, std::move(table));
}

}  // namespace nsm::resolver
