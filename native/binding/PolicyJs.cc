// Conversions between JS values and the policy engine's types.
#include "binding/PolicyJs.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace px {

namespace {

Napi::Object faultToJs(Napi::Env env, const policy::Fault& fault) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("messageId", fault.messageId);
  Napi::Array variables = Napi::Array::New(env, fault.variables.size());
  for (uint32_t i = 0; i < fault.variables.size(); ++i) variables.Set(i, fault.variables[i]);
  o.Set("variables", variables);
  return o;
}

// A non-negative number as uint64_t, saturating at its maximum; nullopt when not one.
std::optional<uint64_t> saturatedFromJs(const Napi::Value& v) {
  if (!v.IsNumber()) return std::nullopt;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0)) return std::nullopt;  // negative or NaN
  constexpr double kTwoTo64 = 18446744073709551616.0;
  return d >= kTwoTo64 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(d);
}

}  // namespace

std::optional<PolicyOperation> policyOperationFromName(std::string_view name) {
  for (const PolicyOperationInfo& info : kPolicyOperations) {
    if (info.operationName == name) return info.operation;
  }
  return std::nullopt;
}

PolicyOperation policyOperationFromJs(const Napi::CallbackInfo& info, size_t index) {
  if (info[index].IsString()) {
    const std::string name = info[index].As<Napi::String>().Utf8Value();
    if (const auto op = policyOperationFromName(name)) return *op;
  }
  std::string known;
  for (const PolicyOperationInfo& op : kPolicyOperations) {
    known += (known.empty() ? "" : ", ") + std::string(op.operationName);
  }
  throw Napi::TypeError::New(info.Env(), "operation must be one of " + known);
}

std::vector<std::string> stringsFromJs(const Napi::CallbackInfo& info, size_t index) {
  std::vector<std::string> out;
  if (info[index].IsUndefined() || info[index].IsNull()) return out;
  if (!info[index].IsArray())
    throw Napi::TypeError::New(info.Env(), "expected an array of strings");
  const Napi::Array array = info[index].As<Napi::Array>();
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value v = array.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), "expected an array of strings");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Object policyDecisionToJs(Napi::Env env, const policy::Decision& decision) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", static_cast<int>(decision.status));
  o.Set("refused", decision.refused);
  if (decision.refused) o.Set("fault", faultToJs(env, decision.fault));
  Napi::Array targets = Napi::Array::New(env, decision.targets.size());
  for (uint32_t i = 0; i < decision.targets.size(); ++i) {
    const policy::TargetDecision& t = decision.targets[i];
    Napi::Object target = Napi::Object::New(env);
    target.Set("address", t.address);
    target.Set("canonical", t.canonical);
    target.Set("status", static_cast<int>(t.status));
    if (t.status != UsageStatus::kValid) target.Set("fault", faultToJs(env, t.fault));
    target.Set("process", t.process);
    targets.Set(i, target);
  }
  o.Set("targets", targets);
  // Admission ids count up from 1 and stay far below 2^53.
  o.Set("admission", static_cast<double>(decision.admission));
  return o;
}

policy::NotificationRequest notificationRequestFromJs(const Napi::CallbackInfo& info,
                                                      size_t index) {
  const Napi::Env env = info.Env();
  const char* expected =
      "expected {busy: boolean, frequencyMs: number, durationMs: number, count?: number} with "
      "non-negative numbers";
  if (!info[index].IsObject()) throw Napi::TypeError::New(env, expected);
  const Napi::Object o = info[index].As<Napi::Object>();
  const Napi::Value busy = o.Get("busy");
  const std::optional<uint64_t> frequencyMs = saturatedFromJs(o.Get("frequencyMs"));
  const std::optional<uint64_t> durationMs = saturatedFromJs(o.Get("durationMs"));
  if (!busy.IsBoolean() || !frequencyMs || !durationMs) throw Napi::TypeError::New(env, expected);
  policy::NotificationRequest request;
  request.busyCriterion = busy.As<Napi::Boolean>().Value();
  request.frequencyMs = *frequencyMs;
  request.durationMs = *durationMs;
  const Napi::Value count = o.Get("count");
  if (!count.IsUndefined() && !count.IsNull()) {
    const std::optional<uint64_t> n = saturatedFromJs(count);
    if (!n) throw Napi::TypeError::New(env, expected);
    request.count = static_cast<uint32_t>(std::min<uint64_t>(*n, UINT32_MAX));
  }
  return request;
}

Napi::Object notificationDecisionToJs(Napi::Env env, const policy::NotificationDecision& decision) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", static_cast<int>(decision.status));
  o.Set("refused", decision.refused);
  if (decision.refused) o.Set("fault", faultToJs(env, decision.fault));
  // At most 31536000000 (the longest duration): exact as a double.
  o.Set("durationMs", static_cast<double>(decision.durationMs));
  return o;
}

}  // namespace px
