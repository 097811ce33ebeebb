// The texts the gateway composes for failures it reports to the application or to JS.
#pragma once

#include <string>

#include "sip/PresenceWatcher.h"

namespace px::gateway {

// The statusError reason of a subscription the SIP side gave up on, e.g.
// "presence subscription failed (SIP 503): Service Unavailable".
std::string subscriptionFailureText(const SubscriptionEvent& event);

// The message of a notification operation whose store write failed.
std::string notificationStoreFailureText(const std::string& error);

}  // namespace px::gateway
