#include "gateway/FailureTexts.h"

namespace px::gateway {

std::string subscriptionFailureText(const SubscriptionEvent& event) {
  std::string reason = "presence subscription failed";
  if (event.sipStatus != 0) reason += " (SIP " + std::to_string(event.sipStatus) + ")";
  if (!event.detail.empty()) reason += ": " + event.detail;
  return reason;
}

std::string notificationStoreFailureText(const std::string& error) {
  return "notification store: " + error;
}

}  // namespace px::gateway
