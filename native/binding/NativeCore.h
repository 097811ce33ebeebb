// The JS class NativeCore (index.d.ts keeps its shape private; js/gateway.js wraps it).
#pragma once

#include <napi.h>

namespace px {

Napi::Function defineNativeCore(Napi::Env env);

}  // namespace px
