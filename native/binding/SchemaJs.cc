#include "binding/SchemaJs.h"

#include <optional>
#include <string>

#include "parlayx/FaultCatalogue.h"
#include "usage/UsageStatus.h"

namespace px {

Napi::Object usageStatusToJs(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  for (int code = 0;; ++code) {
    const std::optional<UsageStatus> status = usageStatusFromInt(code);
    if (!status) break;
    o.Set(toString(*status), code);
  }
  return o;
}

Napi::Object faultCatalogueToJs(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  for (const parlayx::FaultDefinition& fault : parlayx::faultCatalogue()) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("kind", parlayx::toString(fault.kind));
    entry.Set("title", std::string(fault.title));
    entry.Set("text", std::string(fault.text));
    o.Set(std::string(fault.messageId), entry);
  }
  return o;
}

}  // namespace px
