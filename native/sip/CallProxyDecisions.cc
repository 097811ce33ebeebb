// CallProxyRole, Call Direction and the call events: a held call asks the application
// (DecisionRequest), carries out its Action or the default at the deadline; events of watched
// calls go to the sink. The proxying itself is CallProxyRole.cc.
#include <chrono>

#include "sip/CallProxyRole.h"
#include "sip/ProxyCall.h"

namespace px {

namespace {

using call::CallAction;
using call::CallEvent;
using call::FinalCause;

uint64_t wallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

// ---- Call Direction -----------------------------------------------------------------------------

void CallProxyRole::askDecision(ProxyCall& call, CallEvent event, int status) {
  call.decisions++;
  call.decisionId = nextDecision_++;
  call::DecisionRequest request;
  request.callRef = call.ref;
  request.decisionId = call.decisionId;
  request.event = event;
  request.parties = call.parties;
  request.sipStatus = status;
  request.timeoutMs = config_.calls.decisionTimeoutMs;
  counters_.decisionsAsked++;
  sink_.decision(std::move(request));
  arm(call, TimerKind::kDecision, std::chrono::milliseconds(config_.calls.decisionTimeoutMs));
}

void CallProxyRole::decide(uint64_t callRef, uint64_t decisionId, const CallAction& action) {
  try {
    const auto it = calls_.find(callRef);
    if (it == calls_.end() || it->second->decisionId == 0 || it->second->decisionId != decisionId) {
      counters_.decisionsLate++;
    } else {
      carryOut(*it->second, action);
    }
  } catch (...) {
  }
  publish();
}

void CallProxyRole::carryOut(ProxyCall& call, const CallAction& action) {
  call.decisionId = 0;
  call.timerKind = TimerKind::kOff;
  call.timerGen++;
  CallAction::Kind kind = action.kind;
  if (kind == CallAction::Kind::kRoute) {
    if (setRequestUri(call.request.get(), action.routingAddress)) {
      counters_.routed++;
    } else {
      kind = CallAction::Kind::kContinue;  // no usable address: the call goes on unchanged
    }
  }
  if (kind == CallAction::Kind::kEndCall) {
    counters_.endedByApplication++;
    answer(call, static_cast<int>(config_.calls.endCallStatus));
    counters_.finalResponses++;
    finish(call);
    return;
  }
  if (call.state == ProxyCall::State::kHeldFinal && kind == CallAction::Kind::kContinue) {
    relayHeldFinal(call);
    return;
  }
  // Continue at CalledNumber, or Route: a (new) client INVITE along the original route set.
  call.heldResponse.reset();
  call.ringing = false;
  call.cause = FinalCause::kResponse;
  if (!forward(call)) finalResponse(call, 503, true);
}

void CallProxyRole::report(ProxyCall& call, CallEvent event, int status,
                           const std::string& description) {
  if (call.interest.notify.has(event)) emit(call.ref, call.parties, event, status, description);
}

void CallProxyRole::emit(uint64_t callRef, const call::CallParties& parties, CallEvent event,
                         int status, const std::string& description) {
  call::CallEventRecord record;
  record.callRef = callRef;
  record.event = event;
  record.parties = parties;
  record.sipStatus = status;
  record.description = description;
  record.atMs = wallMs();
  counters_.events++;
  sink_.event(std::move(record));
}

}  // namespace px
