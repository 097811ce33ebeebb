// Conversions between JS values and the call types (binding-contract.md, index.d.ts). Shape
// only: the addresses arrive validated and canonical from js/calls/ (parseAddress).
#pragma once

#include <napi.h>

#include "call/CallMatcher.h"
#include "gateway/CallDues.h"
#include "sip/CallSink.h"

namespace px {

// 'notification' | 'direction'; TypeError otherwise.
call::RegistrationKind registrationKindFromJs(const Napi::Env& env, const Napi::Value& value);

// CallRegistrationSpec -> registration (criteria [] = every event). TypeError for a bad shape.
call::CallRegistration callRegistrationFromJs(const Napi::Env& env, const Napi::Value& value);
// The spec again, with createdMs.
Napi::Object callRegistrationToJs(Napi::Env env, const call::CallRegistration& registration);

// {action: 'Continue'|'Route'|'EndCall', routingAddress?}; Route needs a routingAddress.
call::CallAction callActionFromJs(const Napi::Env& env, const Napi::Value& value);

// {notifications: CallNotificationDue[], decisions: CallDecisionDue[]}
Napi::Object callBatchToJs(Napi::Env env, const gateway::CallBatch& batch);

Napi::Object callCountersToJs(Napi::Env env, const CallProxyCounters& counters,
                              uint64_t registrations);

}  // namespace px
