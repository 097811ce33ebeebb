// JS values of what the gateway core reports: fetch outcomes, the rows quarantined at start,
// and its stats (index.d.ts: NativeCore.stats(), NativeCoreCallStats, NativeCoreClusterStats).
#pragma once

#include <napi.h>

#include <cstddef>
#include <vector>

#include "gateway/GatewayCore.h"

namespace px {

Napi::Object fetchOutcomeToJs(Napi::Env env, const FetchOutcome& outcome);
Napi::Array quarantinedToJs(Napi::Env env, const std::vector<QuarantinedNotification>& rows);
Napi::Array quarantinedCallsToJs(Napi::Env env,
                                 const std::vector<QuarantinedCallRegistration>& rows);
Napi::Object statsToJs(Napi::Env env, const gateway::GatewayStats& stats, size_t pendingFetches);

}  // namespace px
