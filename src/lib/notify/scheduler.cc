// Asio implementation of Scheduler: one steady_timer per pending timer, in a map so
// that Cancel() and destruction can reach them.
#include "notify/scheduler.h"

#include <map>

#include <asio/steady_timer.hpp>

namespace nsm::notify {
namespace {

class AsioScheduler : public Scheduler {
 public:
  explicit AsioScheduler(asio::io_context& io) : io_(io), alive_(std::make_shared<bool>(true)) {}
  ~AsioScheduler() override {
    *alive_ = false;
    for (auto& [id, t] : timers_) t->cancel();
  }

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }

  TimerId At(TimePoint when, std::function<void()> fn) override {
    TimerId id = ++next_;
    auto timer = std::make_unique<asio::steady_timer>(io_, when);
    std::weak_ptr<bool> alive = alive_;
    timer->async_wait([this, alive, id, fn = std::move(fn)](std::error_code ec) {
      auto a = alive.lock();
      if (!a || !*a || ec) return;
      timers_.erase(id);
      fn();
    });
    timers_.emplace(id, std::move(timer));
    return id;
  }

  void Cancel(TimerId id) override {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    it->second->cancel();
    timers_.erase(it);
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<bool> alive_;
  std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers_;
  TimerId next_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> MakeAsioScheduler(asio::io_context& io) {
  return std::make_unique<AsioScheduler>(io);
}

}  // namespace nsm::notify
