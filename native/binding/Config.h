#pragma once

#include <napi.h>

#include "config/GatewayConfig.h"

namespace px {

// Reads {path} or {text, name}; a ConfigError becomes a JS Error with code ERR_PX_CONFIG and
// file/line/key properties.
GatewayConfig loadConfigFromJs(const Napi::Env& env, const Napi::Value& arg);

// The validated configuration as a plain object (see index.d.ts GatewayConfig).
Napi::Object configToJs(Napi::Env env, const GatewayConfig& config);

}  // namespace px
