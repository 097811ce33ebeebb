// Conversions between JS values and the notification engine's types (see index.d.ts for the JS
// shapes). Only conversion and validation of shape: Parlay X validation happens in
// js/notifications.js before a spec reaches the core.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "notify/NotificationEngine.h"

namespace px {

// startNotification spec -> engine spec; each address gets its SIP Request-URI as key. Throws
// Napi::TypeError for a malformed spec or an invalid address.
NotificationSpec notificationSpecFromJs(const Napi::Env& env, const Napi::Value& value,
                                        const GatewayConfig& config);

Napi::Object notificationStateToJs(Napi::Env env, const NotificationState& state);

Napi::Array deliveriesToJs(Napi::Env env, const std::vector<Delivery>& deliveries);

}  // namespace px
