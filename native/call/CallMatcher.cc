#include "call/CallMatcher.h"

#include <limits>

namespace px::call {

CallMatcher::CallMatcher(std::vector<CallRegistration> registrations)
    : registrations_(std::move(registrations)) {}

bool CallMatcher::isPattern(std::string_view address) {
  return !address.empty() && address.back() == '*';
}

size_t CallMatcher::specificity(std::string_view address, std::string_view called) {
  if (isPattern(address)) {
    const std::string_view prefix = address.substr(0, address.size() - 1);
    return called.substr(0, prefix.size()) == prefix ? prefix.size() + 1 : 0;
  }
  return address == called ? std::numeric_limits<size_t>::max() : 0;
}

bool CallMatcher::matches(std::string_view address, std::string_view called) {
  return specificity(address, called) != 0;
}

CallMatcher::Interest CallMatcher::interest(const std::vector<std::string>& calledForms) const {
  Interest found;
  for (const std::string& form : calledForms) {
    for (const CallRegistration& r : registrations_) {
      for (const std::string& address : r.addresses) {
        if (!matches(address, form)) continue;
        (r.kind == RegistrationKind::kNotification ? found.notify : found.direct) =
            (r.kind == RegistrationKind::kNotification ? found.notify : found.direct) | r.criteria;
        break;
      }
    }
    if (found.any()) {
      found.matched = form;
      return found;
    }
  }
  return found;
}

std::vector<const CallRegistration*> CallMatcher::notified(std::string_view called,
                                                           CallEvent event) const {
  std::vector<const CallRegistration*> out;
  for (const CallRegistration& r : registrations_) {
    if (r.kind != RegistrationKind::kNotification || !r.criteria.has(event)) continue;
    for (const std::string& address : r.addresses) {
      if (matches(address, called)) {
        out.push_back(&r);
        break;
      }
    }
  }
  return out;
}

const CallRegistration* CallMatcher::decider(std::string_view called, CallEvent event) const {
  const CallRegistration* best = nullptr;
  size_t bestSpecificity = 0;
  for (const CallRegistration& r : registrations_) {
    if (r.kind != RegistrationKind::kDirection || !r.criteria.has(event)) continue;
    for (const std::string& address : r.addresses) {
      const size_t s = specificity(address, called);
      // Strictly greater: among equals the earlier registration (start order) keeps it.
      if (s > bestSpecificity ||
          (s != 0 && s == bestSpecificity && best != nullptr && r.order < best->order)) {
        best = &r;
        bestSpecificity = s;
      }
    }
  }
  return best;
}

}  // namespace px::call
