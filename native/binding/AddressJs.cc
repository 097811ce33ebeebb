#include "binding/AddressJs.h"

#include "address/Address.h"

namespace px {

Napi::Value parseAddressJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "address must be a string");
  const AddressParseResult parsed = parseAddress(info[0].As<Napi::String>().Utf8Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", parsed.ok());
  if (!parsed.ok()) {
    o.Set("error", parsed.error == AddressError::kUnknownScheme ? "unknownScheme" : "invalid");
    o.Set("reason", parsed.reason);
    return o;
  }
  const char* scheme = parsed.address.scheme == AddressScheme::kTel   ? "tel"
                       : parsed.address.scheme == AddressScheme::kSip ? "sip"
                                                                      : "sips";
  o.Set("scheme", scheme);
  o.Set("canonical", parsed.address.canonical);
  return o;
}

}  // namespace px
