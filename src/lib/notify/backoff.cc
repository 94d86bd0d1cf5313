// Exponential backoff with jitter (splitmix64 as the generator: tiny, seedable).
#include "notify/backoff.h"

#include <algorithm>

namespace nsm::notify {

Backoff::Backoff(BackoffPolicy policy, uint64_t seed)
    : policy_(policy), rng_(seed), base_(std::max(policy.initial, std::chrono::milliseconds(1))) {
  if (policy_.max < base_) policy_.max = base_;
  policy_.jitter = std::clamp(policy_.jitter, 0.0, 0.9);
}

double Backoff::Uniform() {
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(1ULL << 53);
}

std::chrono::milliseconds Backoff::Next() {
  const std::chrono::milliseconds base = base_;
  base_ = std::min(base_ * 2, policy_.max);
  ++count_;
  const double factor = 1.0 + policy_.jitter * (2.0 * Uniform() - 1.0);
  const auto ms = static_cast<int64_t>(static_cast<double>(base.count()) * factor);
  return std::chrono::milliseconds(std::max<int64_t>(ms, 1));
}

}  // namespace nsm::notify
