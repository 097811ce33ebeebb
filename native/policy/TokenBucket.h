// Traffic shaping toward one network element: a bucket of `burst` tokens, refilled continuously
// at ratePerSec, starting full. Tokens are counted in thousandths, so that a refill of
// ratePerSec / 1000 tokens per millisecond is exact. Time is passed in, never read. Not
// thread-safe.
#pragma once

#include <cstdint>

namespace px::policy {

class TokenBucket {
 public:
  TokenBucket(uint32_t burst, uint32_t ratePerSec);

  // Takes `tokens` when that many are available at nowMs (all or nothing).
  bool take(uint64_t tokens, int64_t nowMs);
  // Whole tokens available at nowMs.
  uint64_t available(int64_t nowMs) const;

  uint32_t burst() const { return burst_; }
  uint32_t ratePerSec() const { return ratePerSec_; }

 private:
  // Thousandths of a token in the bucket at nowMs.
  uint64_t levelAt(int64_t nowMs) const;

  uint32_t burst_;
  uint32_t ratePerSec_;  // = thousandths of a token per millisecond
  uint64_t capacity_;    // burst in thousandths
  uint64_t level_;       // thousandths at lastMs_
  int64_t lastMs_ = 0;
  bool started_ = false;
};

}  // namespace px::policy
