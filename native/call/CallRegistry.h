// The live Call Notification / Call Direction registrations (JS thread only). It enforces the
// start rules of docs/calls.md (a correlator is unique per kind; overlapping criteria for an
// identical address are refused) and the owner check of stop, and after every change publishes
// a fresh immutable CallMatcher to the CallWatchIndex the SIP thread reads. Persistence is the
// caller's (GatewayCore writes the NotificationStore); restore() takes what the store held.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "call/CallMatcher.h"
#include "call/CallTypes.h"

namespace px::call {

class CallRegistry {
 public:
  struct StartOutcome {
    enum class Result { kStarted, kDuplicateCorrelator, kOverlappingCriteria };
    Result result = Result::kStarted;
    std::string address;  // kOverlappingCriteria: the address in common (SVC0008's %1)
  };
  enum class StopResult { kStopped, kUnknown, kNotOwner };

  // `index` must outlive the registry; it gets an empty matcher at once.
  explicit CallRegistry(CallWatchIndex& index);

  // The registrations of the previous run, in their stored start order; publishes once. Rows
  // that break the start rules (edited by hand) are kept: refusing them now would lose them.
  void restore(std::vector<CallRegistration> stored);

  // Checks the rules, then adds `registration` with the next start order (its createdMs as
  // given) and publishes.
  StartOutcome start(CallRegistration registration);
  // Removes and publishes when `requester` owns it.
  StopResult stop(RegistrationKind kind, const std::string& requester,
                  const std::string& correlator);

  const CallRegistration* find(RegistrationKind kind, const std::string& correlator) const;
  // In start order.
  const std::vector<CallRegistration>& registrations() const { return registrations_; }
  // What the SIP thread currently sees.
  std::shared_ptr<const CallMatcher> matcher() const { return matcher_; }
  size_t size() const { return registrations_.size(); }

 private:
  // The address `candidate` shares with a live registration it may not overlap, or "".
  std::string overlap(const CallRegistration& candidate) const;
  void publish();

  CallWatchIndex& index_;
  std::vector<CallRegistration> registrations_;  // in start order
  std::shared_ptr<const CallMatcher> matcher_;
  uint64_t nextOrder_ = 1;
};

}  // namespace px::call
