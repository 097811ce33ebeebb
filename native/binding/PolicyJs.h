// Conversions between JS values and the policy engine's types (see index.d.ts, PolicyDecision).
#pragma once

#include <napi.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/PolicyConfig.h"
#include "policy/PolicyEngine.h"

namespace px {

// "getStatus" -> PolicyOperation::kGetStatus; nullopt for a name the policy does not know.
std::optional<PolicyOperation> policyOperationFromName(std::string_view name);

// Argument `index` of info as an operation; throws Napi::TypeError naming the known ones.
PolicyOperation policyOperationFromJs(const Napi::CallbackInfo& info, size_t index);

// Argument `index` of info as a list of strings (non-strings are a TypeError).
std::vector<std::string> stringsFromJs(const Napi::CallbackInfo& info, size_t index);

// {status, refused, fault?: {messageId, variables}, targets: [...], admission}
Napi::Object policyDecisionToJs(Napi::Env env, const policy::Decision& decision);

// Argument `index` as {busy: boolean, frequencyMs: number, durationMs: number, count?: number}
// (non-negative numbers; beyond 2^64 they saturate, which no limit allows). TypeError otherwise.
policy::NotificationRequest notificationRequestFromJs(const Napi::CallbackInfo& info, size_t index);

// {status, refused, fault?: {messageId, variables}, durationMs}
Napi::Object notificationDecisionToJs(Napi::Env env, const policy::NotificationDecision& decision);

}  // namespace px
