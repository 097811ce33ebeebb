// The two clocks of the gateway core, injected so that GoogleTest can drive time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "notify/NotificationEngine.h"

namespace px::gateway {

struct Clock {
  std::function<TimeMs()> wallMs;     // ms since the epoch: notification times survive restarts
  std::function<int64_t()> steadyMs;  // monotonic ms: policy pacers and windows

  static Clock system() {
    return Clock{[] {
                   return std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                       .count();
                 },
                 [] {
                   return std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                       .count();
                 }};
  }
};

}  // namespace px::gateway
