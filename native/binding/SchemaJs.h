// The tables the core declares once and JS builds its frozen copies from (js/usage.js,
// js/parlayx/faults.js); tests/js/schema-exports.test.js checks index.d.ts against them.
#pragma once

#include <napi.h>

namespace px {

// {VALID: 0, FAILED_PRIVACY: 1, ...}: every usage-record STATUSCODE by name, in code order.
Napi::Object usageStatusToJs(Napi::Env env);

// {SVC0001: {kind, title, text}, ...}: the Parlay X fault catalogue, in catalogue order.
Napi::Object faultCatalogueToJs(Napi::Env env);

}  // namespace px
