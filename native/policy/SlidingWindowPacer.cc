#include "policy/SlidingWindowPacer.h"

#include <stdexcept>

namespace px::policy {
namespace {

// Division rounding toward negative infinity, so that windows stay aligned before 0 as well.
int64_t floorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

SlidingWindowPacer::SlidingWindowPacer(RateLimit limit) : limit_(limit) {
  if (limit_.windowMs == 0) throw std::invalid_argument("pacer window of 0 ms");
}

SlidingWindowPacer::Windows SlidingWindowPacer::at(int64_t nowMs) const {
  const int64_t windowMs = limit_.windowMs;
  const int64_t start = floorDiv(nowMs, windowMs) * windowMs;
  if (!started_) return Windows{start, 0, 0};
  if (start <= windows_.currentStart) return windows_;
  if (start - windows_.currentStart == windowMs) return Windows{start, windows_.current, 0};
  return Windows{start, 0, 0};  // more than one window without a request
}

uint64_t SlidingWindowPacer::elapsedIn(const Windows& w, int64_t nowMs) const {
  if (nowMs <= w.currentStart) return 0;
  const uint64_t elapsed = static_cast<uint64_t>(nowMs - w.currentStart);
  return elapsed < limit_.windowMs ? elapsed : limit_.windowMs - 1;
}

bool SlidingWindowPacer::hasRoom(uint64_t weight, int64_t nowMs) const {
  const Windows w = at(nowMs);
  const uint64_t limit = limit_.limit;
  const uint64_t windowMs = limit_.windowMs;
  if (weight > limit || w.current > limit - weight) return false;
  // Scaled by windowMs to stay in integers: previous * (windowMs - elapsed) + (current + weight)
  // * windowMs <= limit * windowMs. Every product fits in 64 bits (limit, windowMs < 2^32).
  const uint64_t budget = limit * windowMs - (w.current + weight) * windowMs;
  const uint64_t remaining = windowMs - elapsedIn(w, nowMs);
  return w.previous <= budget / remaining;
}

void SlidingWindowPacer::add(uint64_t weight, int64_t nowMs) {
  windows_ = at(nowMs);
  started_ = true;
  windows_.current += weight;
}

bool SlidingWindowPacer::tryAdmit(uint64_t weight, int64_t nowMs) {
  if (!hasRoom(weight, nowMs)) return false;
  add(weight, nowMs);
  return true;
}

void SlidingWindowPacer::refund(uint64_t weight, int64_t nowMs) {
  if (!started_) return;
  windows_ = at(nowMs);
  const uint64_t fromCurrent = weight < windows_.current ? weight : windows_.current;
  windows_.current -= fromCurrent;
  const uint64_t rest = weight - fromCurrent;
  windows_.previous -= rest < windows_.previous ? rest : windows_.previous;
}

double SlidingWindowPacer::estimate(int64_t nowMs) const {
  const Windows w = at(nowMs);
  const double overlap =
      1.0 - static_cast<double>(elapsedIn(w, nowMs)) / static_cast<double>(limit_.windowMs);
  return static_cast<double>(w.previous) * overlap + static_cast<double>(w.current);
}

}  // namespace px::policy
