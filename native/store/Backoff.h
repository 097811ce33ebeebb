// When to try a lost connection again: after a failure, wait firstMs, doubled for each further
// failure up to maxMs; a success starts over. The clock is passed in (tests inject theirs).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace px {

class ReconnectBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  ReconnectBackoff(uint32_t firstMs, uint32_t maxMs)
      : firstMs_(std::max<uint32_t>(1, firstMs)), maxMs_(std::max(maxMs, firstMs_)) {}

  // True when an attempt may be made at `now`: no failure since the last success, or the delay
  // after the last failure has passed.
  bool due(Clock::time_point now) const { return failures_ == 0 || now >= next_; }
  // A failed attempt at `now`: the next one is due after the current delay, which then doubles.
  void failed(Clock::time_point now) {
    ++failures_;
    const uint32_t delay = delayMs();
    next_ = now + std::chrono::milliseconds(delay);
  }
  void succeeded() { failures_ = 0; }

  uint32_t failures() const { return failures_; }
  Clock::time_point next() const { return next_; }
  // The delay after the latest failure (firstMs when there was none).
  uint32_t delayMs() const {
    if (failures_ <= 1) return firstMs_;
    uint64_t delay = firstMs_;
    for (uint32_t i = 1; i < failures_ && delay < maxMs_; ++i) delay *= 2;
    return static_cast<uint32_t>(std::min<uint64_t>(delay, maxMs_));
  }

 private:
  uint32_t firstMs_;
  uint32_t maxMs_;
  uint32_t failures_ = 0;
  Clock::time_point next_{};
};

}  // namespace px
