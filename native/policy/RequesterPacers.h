// The pacer (SLA) of one requester: up to three sliding windows, for its requests in total, to
// one service and to one operation. Each level's limit is the requester's own value at that
// level when it has one, else the global default at that level (policy.pacer,
// policy.services.S.pacer, policy.services.S.operations.O.pacer); a level without either is not
// paced. A request must fit in every window that applies; it then counts in all of them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "config/PolicyConfig.h"
#include "policy/SlidingWindowPacer.h"

namespace px::policy {

struct PacerLimits {
  std::optional<RateLimit> total;
  std::array<std::optional<RateLimit>, kPolicyServiceCount> services;
  std::array<std::optional<RateLimit>, kPolicyOperationCount> operations;

  // `requester`: the requester's own policy, nullptr for one that is not configured.
  static PacerLimits resolve(const PolicyLevel& defaults, const PolicyLevel* requester);
  bool empty() const;
};

class RequesterPacers {
 public:
  explicit RequesterPacers(const PacerLimits& limits);

  // The first window that has no room for `weight` of `op` now, or nullptr when all have room.
  const SlidingWindowPacer* refusing(PolicyOperation op, uint64_t weight, int64_t nowMs) const;
  // Counts the request in every window of `op` (after refusing() said nullptr).
  void add(PolicyOperation op, uint64_t weight, int64_t nowMs);
  // Takes back what add() counted (the request was refused by a later check).
  void refund(PolicyOperation op, uint64_t weight, int64_t nowMs);

 private:
  // The windows of `op`, most general first; absent levels are null. Self: (const)
  // RequesterPacers, so that one body serves both constnesses.
  template <typename Self>
  static auto windowsOf(Self& self, PolicyOperation op);

  std::optional<SlidingWindowPacer> total_;
  std::array<std::optional<SlidingWindowPacer>, kPolicyServiceCount> services_;
  std::array<std::optional<SlidingWindowPacer>, kPolicyOperationCount> operations_;
};

}  // namespace px::policy
