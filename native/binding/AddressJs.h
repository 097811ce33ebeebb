// parseAddress(address) -> {ok, scheme, canonical} | {ok: false, error, reason}.
#pragma once

#include <napi.h>

namespace px {

Napi::Value parseAddressJs(const Napi::CallbackInfo& info);

}  // namespace px
