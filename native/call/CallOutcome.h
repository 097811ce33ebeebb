// How the end of a call attempt maps onto a Parlay X call event: the three code lists of
// CallsConfig (TWSS's console lists) plus what the proxy knows besides the status (an 18x was
// seen, the caller cancelled, the no-answer timer fired, NTA made the response up). Pure.
#pragma once
#include <optional>

#include "call/CallTypes.h"
#include "config/CallsConfig.h"

namespace px::call {

// Why the final response came.
enum class FinalCause : uint8_t {
  kResponse,       // the callee side answered it
  kCallerCancel,   // the 487 after the caller's own CANCEL: never an event
  kNoAnswerTimer,  // the 487 (or timeout) after our no-answer timer CANCELled the call
  kInternal,       // NTA made it up (Timer B/C 408, transport error 503): no real answer came
};

struct FinalOutcome {
  int status = 0;        // the final status (NTA's own for kInternal)
  bool ringing = false;  // an 18x was relayed before it
  FinalCause cause = FinalCause::kResponse;
};

// The event a final response means, nullopt for none. 2xx is Answer; for the rest see
// CallsConfig: Busy list first, then NoAnswer list (only after an 18x), then NotReachable list.
std::optional<CallEvent> outcomeEvent(const CallsConfig& config, const FinalOutcome& outcome);

}  // namespace px::call
