// Where the ISC application-server role (CallProxyRole) puts what it produces for CallServer's
// consumer; CallServer implements it over its own queues and locks, the role never sees those.
#pragma once
#include <cstdint>

#include "call/CallTypes.h"

namespace px {

struct CallProxyCounters {
  uint64_t invites = 0;             // initial INVITEs received (retransmissions not counted)
  uint64_t watchedCalls = 0;        // of those, with a watched called party
  uint64_t callsInFlight = 0;       // proxied calls whose state is still held (server txn alive)
  uint64_t clientTransactions = 0;  // outgoing INVITE transactions alive (leak check)
  uint64_t forwarded = 0;           // INVITEs forwarded
  uint64_t finalResponses = 0;      // final responses relayed upstream
  uint64_t cancels = 0;             // CANCELs from the caller
  uint64_t noAnswerTimeouts = 0;    // calls CANCELled by the no-answer timer
  uint64_t acksRelayed = 0;         // 2xx ACKs forwarded statelessly
  uint64_t retransmitted2xx = 0;    // 2xx retransmissions relayed
  uint64_t events = 0;              // call events reported
  uint64_t decisionsAsked = 0;
  uint64_t decisionsTimedOut = 0;   // the default action applied
  uint64_t decisionsLate = 0;       // decide() after the deadline or for an ended call: ignored
  uint64_t routed = 0;              // Route carried out (new Request-URI)
  uint64_t endedByApplication = 0;  // EndCall carried out
  uint64_t refused = 0;             // requests answered with a SIP error (400/483/503/...)
};

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void event(call::CallEventRecord record) = 0;
  virtual void decision(call::DecisionRequest request) = 0;
  // Published whole by the role.
  virtual void counters(const CallProxyCounters& counters) = 0;
};

}  // namespace px
