// What the gateway core hands to the JS side for calls (binding-contract.md): a notification to
// deliver per (event, notification registration wanting it), and a Call Direction decision to
// ask the deciding registration's application for. Plain values, built on the JS thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "call/CallTypes.h"

namespace px::gateway {

// The registration a due goes to: where and how to call the application.
struct CallRecipient {
  std::string correlator;
  std::string requester;
  std::string endpoint;
  std::string interfaceName;
  std::string ns;
};

struct CallNotificationDue {
  uint64_t callRef = 0;
  call::CallEvent event = call::CallEvent::kCalledNumber;
  call::CallParties parties;
  int sipStatus = 0;
  std::string description;
  uint64_t atMs = 0;
  CallRecipient to;
};

struct CallDecisionDue {
  uint64_t callRef = 0;
  uint64_t decisionId = 0;
  call::CallEvent event = call::CallEvent::kCalledNumber;
  call::CallParties parties;
  int sipStatus = 0;
  uint32_t timeoutMs = 0;
  CallRecipient to;
};

// One hand-over to the listener: both lists of one drain.
struct CallBatch {
  std::vector<CallNotificationDue> notifications;
  std::vector<CallDecisionDue> decisions;
  bool empty() const { return notifications.empty() && decisions.empty(); }
};

}  // namespace px::gateway
