// The state CallProxyRole keeps per call (private to its .cc files: CallProxyRole.cc, the proxy;
// CallProxyDecisions.cc, Call Direction and the call events).
#pragma once
#include <cstdint>
#include <string>

#include "call/CallMatcher.h"
#include "call/CallOutcome.h"
#include "call/CallTypes.h"
#include "sip/CallProxyRole.h"
#include "sip/Sofia.h"

namespace px {

struct CallProxyRole::ProxyCall {
  enum class State : uint8_t {
    kHeld,        // the INVITE waits for handleCalledNumber before it is forwarded
    kProceeding,  // forwarded, no final response yet
    kHeldFinal,   // a final response waits for handle<Event>
    kAnswered,    // 2xx relayed; lingers 4*T1 (2xx retransmissions)
  };

  CallProxyRole* role = nullptr;
  uint64_t ref = 0;
  bool initialInvite = false;
  bool invite = false;
  State state = State::kProceeding;
  std::string callId;
  call::CallMatcher::Interest interest;  // empty for unwatched calls and in-dialog requests
  call::CallParties parties;
  bool ringing = false;
  call::FinalCause cause = call::FinalCause::kResponse;
  bool recordRoute = false;
  int decisions = 0;
  uint64_t decisionId = 0;  // the decision waited for; 0 none
  int heldStatus = 0;
  TimerKind timerKind = TimerKind::kOff;
  uint32_t timerGen = 0;
  // Destroyed in reverse: the client transaction, then the server one, then the messages.
  MsgRef request;       // the request as it is forwarded (route popped, Max-Forwards - 1)
  MsgRef heldResponse;  // kHeldFinal: the response to relay on Continue (none when NTA's own)
  NtaIncoming irq;
  NtaOutgoing orq;
};

}  // namespace px
