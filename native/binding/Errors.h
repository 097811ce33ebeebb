// Errors thrown or rejected to JS with a stable `code` (ERR_PX_...), as index.d.ts documents.
#pragma once

#include <napi.h>

#include <string>

namespace px {

inline Napi::Error codedError(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  return error;
}

}  // namespace px
