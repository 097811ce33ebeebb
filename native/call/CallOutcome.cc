#include "call/CallOutcome.h"

#include <algorithm>

namespace px::call {

namespace {

bool listed(const std::vector<int>& codes, int status) {
  return std::find(codes.begin(), codes.end(), status) != codes.end();
}

}  // namespace

std::optional<CallEvent> outcomeEvent(const CallsConfig& config, const FinalOutcome& outcome) {
  switch (outcome.cause) {
    case FinalCause::kCallerCancel:
      // The caller gave up: nothing happened to the called party worth telling.
      return std::nullopt;
    case FinalCause::kNoAnswerTimer:
      return CallEvent::kNoAnswer;
    case FinalCause::kInternal:
      // No answer came at all: after ringing the party did not pick up, before it the network
      // could not reach it.
      return outcome.ringing ? CallEvent::kNoAnswer : CallEvent::kNotReachable;
    case FinalCause::kResponse:
      break;
  }
  const int status = outcome.status;
  if (status >= 200 && status < 300) return CallEvent::kAnswer;
  if (status < 300) return std::nullopt;
  if (listed(config.busyCodes, status)) return CallEvent::kBusy;
  // 408/480 are ambiguous: after an 18x they mean nobody picked up (call-notification-notes §4).
  if (outcome.ringing && listed(config.noAnswerCodes, status)) return CallEvent::kNoAnswer;
  if (listed(config.notReachableCodes, status)) return CallEvent::kNotReachable;
  return std::nullopt;
}

}  // namespace px::call
