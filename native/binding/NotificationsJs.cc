#include "binding/NotificationsJs.h"

#include <algorithm>
#include <set>

#include "address/Address.h"
#include "store/DeliveryRows.h"

namespace px {

namespace {

std::string stringField(const Napi::Env& env, const Napi::Object& o, const char* name,
                        bool required = true) {
  Napi::Value v = o.Get(name);
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (!required && (v.IsUndefined() || v.IsNull())) return "";
  throw Napi::TypeError::New(env, std::string("notification spec: ") + name + " must be a string");
}

int64_t timeField(const Napi::Env& env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(env,
                               std::string("notification spec: ") + name + " must be a number");
  }
  return v.As<Napi::Number>().Int64Value();
}

TerminalStatus statusFromName(const Napi::Env& env, const std::string& name) {
  for (TerminalStatus s :
       {TerminalStatus::kReachable, TerminalStatus::kUnreachable, TerminalStatus::kBusy}) {
    if (toString(s) == name) return s;
  }
  throw Napi::TypeError::New(env, "notification spec: unknown status " + name);
}

const char* kindName(Delivery::Kind kind) {
  switch (kind) {
    case Delivery::Kind::kStatusNotification:
      return "statusNotification";
    case Delivery::Kind::kStatusError:
      return "statusError";
    case Delivery::Kind::kStatusEnd:
      return "statusEnd";
  }
  return "statusEnd";
}

Napi::Array stringsToJs(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) array.Set(i, values[i]);
  return array;
}

}  // namespace

NotificationSpec notificationSpecFromJs(const Napi::Env& env, const Napi::Value& value,
                                        const GatewayConfig& config) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "notification spec must be an object");
  Napi::Object o = value.As<Napi::Object>();
  NotificationSpec spec;
  spec.id.requester = stringField(env, o, "requester", false);
  spec.id.correlator = stringField(env, o, "correlator");
  spec.endpoint = stringField(env, o, "endpoint");
  spec.interfaceName = stringField(env, o, "interfaceName", false);
  spec.globalId = stringField(env, o, "globalId");
  spec.api = stringField(env, o, "api", false);
  spec.extension = stringField(env, o, "extension", false);
  spec.checkImmediate = o.Get("checkImmediate").ToBoolean().Value();
  spec.frequencyMs = timeField(env, o, "frequencyMs");
  spec.createdAtMs = timeField(env, o, "createdAtMs");
  spec.expiresAtMs = timeField(env, o, "expiresAtMs");
  Napi::Value count = o.Get("countLimit");
  if (count.IsNumber()) {
    const int64_t n = count.As<Napi::Number>().Int64Value();
    if (n < 1 || n > 0xffffffffLL) throw Napi::TypeError::New(env, "countLimit out of range");
    spec.countLimit = static_cast<uint32_t>(n);
  } else if (!count.IsUndefined() && !count.IsNull()) {
    throw Napi::TypeError::New(env, "notification spec: countLimit must be a number");
  }
  Napi::Value criteria = o.Get("criteria");
  if (criteria.IsArray()) {
    Napi::Array list = criteria.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      const TerminalStatus s = statusFromName(env, list.Get(i).ToString().Utf8Value());
      if (std::find(spec.criteria.begin(), spec.criteria.end(), s) == spec.criteria.end()) {
        spec.criteria.push_back(s);
      }
    }
  }
  Napi::Value addresses = o.Get("addresses");
  if (!addresses.IsArray() || addresses.As<Napi::Array>().Length() == 0) {
    throw Napi::TypeError::New(env, "notification spec: addresses must be a non-empty array");
  }
  Napi::Array list = addresses.As<Napi::Array>();
  std::set<std::string> keys;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string address = list.Get(i).ToString().Utf8Value();
    const AddressParseResult parsed = parseAddress(address);
    if (!parsed.ok()) throw Napi::TypeError::New(env, "invalid address: " + parsed.reason);
    WatchedAddress watched;
    watched.address = address;
    watched.key = toSipRequestUri(parsed.address, config.sip.telDomain);
    // Two spellings of one terminal are one watched address.
    if (keys.insert(watched.key).second) spec.addresses.push_back(std::move(watched));
  }
  return spec;
}

Napi::Object notificationStateToJs(Napi::Env env, const NotificationState& state) {
  const NotificationSpec& spec = state.spec;
  Napi::Object o = Napi::Object::New(env);
  o.Set("requester", spec.id.requester);
  o.Set("correlator", spec.id.correlator);
  o.Set("endpoint", spec.endpoint);
  o.Set("interfaceName", spec.interfaceName);
  o.Set("globalId", spec.globalId);
  o.Set("api", spec.api);
  o.Set("extension", spec.extension);
  Napi::Array addresses = Napi::Array::New(env, spec.addresses.size());
  for (uint32_t i = 0; i < spec.addresses.size(); ++i) {
    Napi::Object a = Napi::Object::New(env);
    a.Set("address", spec.addresses[i].address);
    if (spec.addresses[i].lastSeen) {
      a.Set("lastSeen", std::string(toString(*spec.addresses[i].lastSeen)));
    }
    addresses.Set(i, a);
  }
  o.Set("addresses", addresses);
  std::vector<std::string> criteria;
  for (TerminalStatus s : spec.criteria) criteria.emplace_back(toString(s));
  o.Set("criteria", stringsToJs(env, criteria));
  o.Set("checkImmediate", spec.checkImmediate);
  o.Set("frequencyMs", static_cast<double>(spec.frequencyMs));
  o.Set("createdAtMs", static_cast<double>(spec.createdAtMs));
  o.Set("expiresAtMs", static_cast<double>(spec.expiresAtMs));
  if (spec.countLimit) o.Set("countLimit", static_cast<double>(*spec.countLimit));
  o.Set("sent", static_cast<double>(state.progress.sent));
  o.Set("lastSentAtMs", static_cast<double>(state.progress.lastSentAtMs));
  return o;
}

Napi::Array deliveriesToJs(Napi::Env env, const std::vector<Delivery>& deliveries) {
  Napi::Array array = Napi::Array::New(env, deliveries.size());
  for (uint32_t i = 0; i < deliveries.size(); ++i) {
    const Delivery& d = deliveries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", kindName(d.kind));
    o.Set("requester", d.id.requester);
    o.Set("correlator", d.id.correlator);
    o.Set("endpoint", d.endpoint);
    o.Set("globalId", d.globalId);
    o.Set("sequence", static_cast<double>(d.sequence));
    o.Set("atMs", static_cast<double>(d.atMs));
    if (!d.api.empty()) {
      o.Set("api", d.api);
      o.Set("extension", d.extension);
    }
    if (d.kind == Delivery::Kind::kStatusEnd) {
      o.Set("endReason", store::endReasonName(d.endReason));
      if (!d.text.empty()) o.Set("text", d.text);
    }
    if (d.kind == Delivery::Kind::kStatusNotification) {
      Napi::Array statuses = Napi::Array::New(env, d.statuses.size());
      for (uint32_t j = 0; j < d.statuses.size(); ++j) {
        Napi::Object s = Napi::Object::New(env);
        s.Set("address", d.statuses[j].first);
        s.Set("status", std::string(toString(d.statuses[j].second)));
        statuses.Set(j, s);
      }
      o.Set("statuses", statuses);
    } else if (d.kind == Delivery::Kind::kStatusError) {
      o.Set("address", d.address);
      Napi::Object error = Napi::Object::New(env);
      error.Set("messageId", d.messageId);
      error.Set("text", d.text);
      error.Set("variables", stringsToJs(env, d.variables));
      o.Set("error", error);
    }
    array.Set(i, o);
  }
  return array;
}

}  // namespace px
