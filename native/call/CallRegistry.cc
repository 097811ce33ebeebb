#include "call/CallRegistry.h"

#include <algorithm>
#include <utility>

namespace px::call {

CallRegistry::CallRegistry(CallWatchIndex& index) : index_(index) {
  publish();
}

void CallRegistry::restore(std::vector<CallRegistration> stored) {
  std::stable_sort(
      stored.begin(), stored.end(),
      [](const CallRegistration& a, const CallRegistration& b) { return a.order < b.order; });
  registrations_ = std::move(stored);
  for (const CallRegistration& r : registrations_) nextOrder_ = std::max(nextOrder_, r.order + 1);
  publish();
}

std::string CallRegistry::overlap(const CallRegistration& candidate) const {
  for (const CallRegistration& live : registrations_) {
    if (live.kind != candidate.kind || (live.criteria & candidate.criteria).empty()) continue;
    // Notification: one requester may not be told twice of the same event for one address.
    // Direction: at most one registration may decide an event for an address, whoever owns it.
    if (candidate.kind == RegistrationKind::kNotification &&
        live.requester != candidate.requester) {
      continue;
    }
    for (const std::string& address : candidate.addresses) {
      if (std::find(live.addresses.begin(), live.addresses.end(), address) !=
          live.addresses.end()) {
        return address;
      }
    }
  }
  return "";
}

CallRegistry::StartOutcome CallRegistry::start(CallRegistration registration) {
  StartOutcome outcome;
  if (find(registration.kind, registration.correlator) != nullptr) {
    outcome.result = StartOutcome::Result::kDuplicateCorrelator;
    return outcome;
  }
  outcome.address = overlap(registration);
  if (!outcome.address.empty()) {
    outcome.result = StartOutcome::Result::kOverlappingCriteria;
    return outcome;
  }
  registration.order = nextOrder_++;
  registrations_.push_back(std::move(registration));
  publish();
  return outcome;
}

CallRegistry::StopResult CallRegistry::stop(RegistrationKind kind, const std::string& requester,
                                            const std::string& correlator) {
  const auto it = std::find_if(
      registrations_.begin(), registrations_.end(),
      [&](const CallRegistration& r) { return r.kind == kind && r.correlator == correlator; });
  if (it == registrations_.end()) return StopResult::kUnknown;
  if (it->requester != requester) return StopResult::kNotOwner;
  registrations_.erase(it);
  publish();
  return StopResult::kStopped;
}

const CallRegistration* CallRegistry::find(RegistrationKind kind,
                                           const std::string& correlator) const {
  for (const CallRegistration& r : registrations_) {
    if (r.kind == kind && r.correlator == correlator) return &r;
  }
  return nullptr;
}

void CallRegistry::publish() {
  // A copy per change: starts and stops are rare next to the calls the SIP thread matches.
  matcher_ = std::make_shared<const CallMatcher>(registrations_);
  index_.publish(matcher_);
}

}  // namespace px::call
