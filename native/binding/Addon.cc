// The Node.js binding's entry point: the module's exports. One file per JS-visible object
// (NativeCore.cc, UsageDatabase.cc, ...); every decision is the core's (native/gateway and
// below), the binding converts values and settles Promises (AsyncQueue.h).
#include <napi.h>

#include "binding/AddressJs.h"
#include "binding/Config.h"
#include "binding/NativeCore.h"
#include "binding/SchemaJs.h"
#include "binding/SofiaLogJs.h"
#include "binding/UsageDatabase.h"

namespace px {
namespace {

Napi::Value LoadConfig(const Napi::CallbackInfo& info) {
  return configToJs(info.Env(), loadConfigFromJs(info.Env(), info[0]));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCore", defineNativeCore(env));
  exports.Set("UsageDatabase", defineUsageDatabase(env));
  exports.Set("SofiaLog", defineSofiaLog(env));
  exports.Set("loadConfig", Napi::Function::New(env, LoadConfig, "loadConfig"));
  exports.Set("configSchema", Napi::Function::New(env, ConfigSchema, "configSchema"));
  exports.Set("parseAddress", Napi::Function::New(env, parseAddressJs, "parseAddress"));
  exports.Set("usageStatus", usageStatusToJs(env));
  exports.Set("faultCatalogue", faultCatalogueToJs(env));
  return exports;
}

}  // namespace
}  // namespace px

static Napi::Object InitParlayxGateway(Napi::Env env, Napi::Object exports) {
  return px::Init(env, exports);
}

NODE_API_MODULE(parlayx_gateway, InitParlayxGateway)
