// Which registrations watch a called party: an immutable index built on the JS thread from the
// active registrations and published to the SIP thread through CallWatchIndex (an atomic
// shared_ptr swap: the SIP thread reads without a lock, a start/stop publishes a new index).
//
// Addresses are matched in canonical form (native/address). A registered address is either
// exact ("tel:+15551234567", "sip:alice@example.test") or a prefix pattern ending in '*'
// ("tel:+1555*", "sip:*" is refused by the JS validation as too wide): the wildcard form of
// the Parlay X addresses part.
//
// Call Direction: at most one registration decides an event of a call. The decider is the most
// specific match: an exact address before any pattern, a longer pattern before a shorter one,
// and among equals the oldest registration (lowest `order`). Equal exact addresses or equal
// patterns with a common criterion are refused at start (SVC0008), so among equals only
// different requesters' disjoint criteria remain and the rule always names one.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "call/CallTypes.h"

namespace px::call {

struct CallRegistration {
  RegistrationKind kind = RegistrationKind::kNotification;
  std::string requester;               // who started it; only it may stop it
  std::string correlator;              // unique per kind
  std::vector<std::string> addresses;  // canonical; exact or prefix patterns ending in '*'
  CallEventSet criteria = CallEventSet::all();
  std::string endpoint;       // the application's SOAP endpoint
  std::string interfaceName;  // SimpleReference.interfaceName as given
  std::string ns;             // the request's local namespace: the answer and callbacks use it
  uint64_t createdMs = 0;     // wall clock
  uint64_t order = 0;         // start order (ties of the decider rule)
};

class CallMatcher {
 public:
  // What the SIP role needs to know before it forwards an INVITE.
  struct Interest {
    CallEventSet notify;  // events some notification registration wants
    CallEventSet direct;  // events some direction registration decides
    std::string matched;  // the form of the called party that matched ("" when none)
    bool any() const { return !(notify | direct).empty(); }
  };

  CallMatcher() = default;
  explicit CallMatcher(std::vector<CallRegistration> registrations);

  // `calledForms`: the canonical forms of the called party, most specific first (e.g. the
  // Request-URI's canonical form, then its tel: form for a sip:...;user=phone URI). The first
  // form that any registration matches is the one reported.
  Interest interest(const std::vector<std::string>& calledForms) const;

  // The notification registrations of `called` (a form reported by interest) wanting `event`,
  // in start order.
  std::vector<const CallRegistration*> notified(std::string_view called, CallEvent event) const;

  // The direction registration deciding `event` for `called`, nullptr when none.
  const CallRegistration* decider(std::string_view called, CallEvent event) const;

  const std::vector<CallRegistration>& registrations() const { return registrations_; }

  // True when the address is a prefix pattern ("...*").
  static bool isPattern(std::string_view address);
  // Does `address` (exact or pattern) match the called party form `called`?
  static bool matches(std::string_view address, std::string_view called);

 private:
  // Specificity of a registered address matching `called`: 0 none, else pattern length, with
  // exact addresses above every pattern.
  static size_t specificity(std::string_view address, std::string_view called);

  std::vector<CallRegistration> registrations_;  // in start order
};

// The publication point between the JS thread (writer) and the SIP thread (reader).
class CallWatchIndex {
 public:
  CallWatchIndex() : current_(std::make_shared<const CallMatcher>()) {}
  void publish(std::shared_ptr<const CallMatcher> matcher) {
    std::atomic_store_explicit(&current_, std::move(matcher), std::memory_order_release);
  }
  std::shared_ptr<const CallMatcher> current() const {
    return std::atomic_load_explicit(&current_, std::memory_order_acquire);
  }

 private:
  std::shared_ptr<const CallMatcher> current_;
};

}  // namespace px::call
