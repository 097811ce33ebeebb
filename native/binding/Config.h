#pragma once

#include <napi.h>

#include "config/GatewayConfig.h"

namespace px {

// Reads {path} or {text, name}; a ConfigError becomes a JS Error with code ERR_PX_CONFIG and
// file/line/key properties.
GatewayConfig loadConfigFromJs(const Napi::Env& env, const Napi::Value& arg);

// The validated configuration as a plain object (see index.d.ts GatewayConfig).
Napi::Object configToJs(Napi::Env env, const GatewayConfig& config);

// configSchema(): every configuration key as {key, type, doc, default, min, max, maxKey, values}
// (see index.d.ts ConfigField), from the core's schema table.
Napi::Value ConfigSchema(const Napi::CallbackInfo& info);

}  // namespace px
