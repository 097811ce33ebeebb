// A rate limit over a sliding window, approximated with two fixed windows (the sliding window
// counter of Cloudflare / nginx): the weight of the previous window counts in proportion to how
// much of it still overlaps the sliding window ending now. Exact integer arithmetic, so that a
// boundary (limit reached, half a window later, ...) is decided the same way on every machine.
//
// Windows are aligned on multiples of windowMs from 0 of the caller's clock; a gap longer than
// one window forgets everything. Time is passed in, never read. Not thread-safe.
#pragma once

#include <cstdint>

#include "config/PolicyConfig.h"

namespace px::policy {

class SlidingWindowPacer {
 public:
  // Throws std::invalid_argument when limit.windowMs is 0.
  explicit SlidingWindowPacer(RateLimit limit);

  // True when `weight` more fits now: previous * (1 - elapsed / windowMs) + current + weight
  // <= limit, where elapsed is the time since the current window began. Changes nothing.
  bool hasRoom(uint64_t weight, int64_t nowMs) const;
  // Counts `weight` in the current window, whether or not it has room (see hasRoom).
  void add(uint64_t weight, int64_t nowMs);
  // hasRoom, then add when it does.
  bool tryAdmit(uint64_t weight, int64_t nowMs);
  // Takes back weight added before (a request refused by a later check): from the current
  // window first, then the previous one; never below zero.
  void refund(uint64_t weight, int64_t nowMs);

  // The estimated weight in the sliding window ending at nowMs (for tests and diagnostics).
  double estimate(int64_t nowMs) const;
  const RateLimit& limit() const { return limit_; }

 private:
  struct Windows {
    int64_t currentStart = 0;
    uint64_t previous = 0;  // weight counted in [currentStart - windowMs, currentStart)
    uint64_t current = 0;   // weight counted in [currentStart, currentStart + windowMs)
  };
  // The windows as they are at nowMs (rolled forward; a clock going back stays in the window it
  // was in).
  Windows at(int64_t nowMs) const;
  // Milliseconds of the current window that have passed at nowMs, 0 .. windowMs - 1.
  uint64_t elapsedIn(const Windows& w, int64_t nowMs) const;

  RateLimit limit_;
  Windows windows_;
  bool started_ = false;
};

}  // namespace px::policy
