// Retry spacing for notifications: exponential backoff with jitter (nfs-utils: 2 s
// doubling to 120 s, no jitter). Jitter spreads the retries of thousands of peers
// that failed together so they do not come back in lock step.
//
// Threading: a Backoff is a value owned by one peer; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace nsm::notify {

struct BackoffPolicy {
  std::chrono::milliseconds initial{2000};
  std::chrono::milliseconds max{120000};
  double jitter = 0.2;  // each interval is scaled by a factor in [1 - jitter, 1 + jitter]
};

class Backoff {
 public:
  // seed: any value; equal seeds give equal sequences (tests).
  Backoff(BackoffPolicy policy, uint64_t seed);
  // The next interval: initial * 2^n capped at max, then jittered (never below 1 ms).
  std::chrono::milliseconds Next();
  int count() const { return count_; }

 private:
  double Uniform();  // in [0, 1)
  BackoffPolicy policy_;
  uint64_t rng_;
  std::chrono::milliseconds base_;
  int count_ = 0;
};

}  // namespace nsm::notify
