#include "policy/RequesterPacers.h"

#include "policy/EffectivePolicy.h"

namespace px::policy {
namespace {

std::optional<RateLimit> pacerOf(const PolicyRules* rules) {
  return rules == nullptr ? std::nullopt : rules->pacer;
}

// The requester's own value at a level replaces the default at the same level.
std::optional<RateLimit> either(const std::optional<RateLimit>& own,
                                const std::optional<RateLimit>& fallback) {
  return own ? own : fallback;
}

template <typename Optional>
auto pointerTo(Optional& o) -> decltype(&*o) {
  return o ? &*o : nullptr;
}

}  // namespace

PacerLimits PacerLimits::resolve(const PolicyLevel& defaults, const PolicyLevel* requester) {
  PacerLimits limits;
  limits.total = either(requester ? requester->rules.pacer : std::nullopt, defaults.rules.pacer);
  for (size_t s = 0; s < kPolicyServiceCount; ++s) {
    const auto service = static_cast<PolicyService>(s);
    limits.services[s] =
        either(requester ? pacerOf(serviceRules(*requester, service)) : std::nullopt,
               pacerOf(serviceRules(defaults, service)));
  }
  for (size_t o = 0; o < kPolicyOperationCount; ++o) {
    const auto op = static_cast<PolicyOperation>(o);
    limits.operations[o] =
        either(requester ? pacerOf(operationRules(*requester, op)) : std::nullopt,
               pacerOf(operationRules(defaults, op)));
  }
  return limits;
}

bool PacerLimits::empty() const {
  if (total) return false;
  for (const auto& l : services) {
    if (l) return false;
  }
  for (const auto& l : operations) {
    if (l) return false;
  }
  return true;
}

RequesterPacers::RequesterPacers(const PacerLimits& limits) {
  if (limits.total) total_.emplace(*limits.total);
  for (size_t s = 0; s < kPolicyServiceCount; ++s) {
    if (limits.services[s]) services_[s].emplace(*limits.services[s]);
  }
  for (size_t o = 0; o < kPolicyOperationCount; ++o) {
    if (limits.operations[o]) operations_[o].emplace(*limits.operations[o]);
  }
}

template <typename Self>
auto RequesterPacers::windowsOf(Self& self, PolicyOperation op) {
  const auto service = static_cast<size_t>(policyOperationInfo(op).service);
  return std::array{pointerTo(self.total_), pointerTo(self.services_[service]),
                    pointerTo(self.operations_[static_cast<size_t>(op)])};
}

const SlidingWindowPacer* RequesterPacers::refusing(PolicyOperation op, uint64_t weight,
                                                    int64_t nowMs) const {
  for (const SlidingWindowPacer* w : windowsOf(*this, op)) {
    if (w != nullptr && !w->hasRoom(weight, nowMs)) return w;
  }
  return nullptr;
}

void RequesterPacers::add(PolicyOperation op, uint64_t weight, int64_t nowMs) {
  for (SlidingWindowPacer* w : windowsOf(*this, op)) {
    if (w != nullptr) w->add(weight, nowMs);
  }
}

void RequesterPacers::refund(PolicyOperation op, uint64_t weight, int64_t nowMs) {
  for (SlidingWindowPacer* w : windowsOf(*this, op)) {
    if (w != nullptr) w->refund(weight, nowMs);
  }
}

}  // namespace px::policy
