#include "policy/TokenBucket.h"

namespace px::policy {
namespace {

constexpr uint64_t kMilli = 1000;

}  // namespace

TokenBucket::TokenBucket(uint32_t burst, uint32_t ratePerSec)
    : burst_(burst),
      ratePerSec_(ratePerSec),
      capacity_(uint64_t{burst} * kMilli),
      level_(capacity_) {}

uint64_t TokenBucket::levelAt(int64_t nowMs) const {
  if (!started_ || nowMs <= lastMs_ || ratePerSec_ == 0) return level_;
  const uint64_t elapsed = static_cast<uint64_t>(nowMs - lastMs_);
  const uint64_t missing = capacity_ - level_;
  // Compared before multiplying so that a long idle time cannot overflow.
  const uint64_t msToFull = (missing + ratePerSec_ - 1) / ratePerSec_;
  return elapsed >= msToFull ? capacity_ : level_ + elapsed * ratePerSec_;
}

bool TokenBucket::take(uint64_t tokens, int64_t nowMs) {
  level_ = levelAt(nowMs);
  if (!started_ || nowMs > lastMs_) lastMs_ = nowMs;
  started_ = true;
  if (tokens > burst_ || tokens * kMilli > level_) return false;
  level_ -= tokens * kMilli;
  return true;
}

uint64_t TokenBucket::available(int64_t nowMs) const {
  return levelAt(nowMs) / kMilli;
}

}  // namespace px::policy
