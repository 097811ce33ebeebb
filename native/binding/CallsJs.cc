#include "binding/CallsJs.h"

#include <string>
#include <vector>

namespace px {
namespace {

std::string stringField(const Napi::Env& env, const Napi::Object& o, const char* name,
                        bool allowEmpty) {
  const Napi::Value v = o.Get(name);
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(name) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (!allowEmpty && s.empty()) {
    throw Napi::TypeError::New(env, std::string(name) + " must not be empty");
  }
  return s;
}

Napi::Array stringList(const Napi::Env& env, const Napi::Object& o, const char* name) {
  const Napi::Value v = o.Get(name);
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(name) + " must be an array");
  return v.As<Napi::Array>();
}

void setParties(Napi::Object& o, const call::CallParties& p) {
  o.Set("caller", p.caller);
  o.Set("callerName", p.callerName);
  o.Set("called", p.called);
  o.Set("callSessionId", p.callSessionId);
}

void setRecipient(Napi::Object& o, const gateway::CallRecipient& to) {
  o.Set("correlator", to.correlator);
  o.Set("requester", to.requester);
  o.Set("endpoint", to.endpoint);
  o.Set("interfaceName", to.interfaceName);
  o.Set("ns", to.ns);
}

}  // namespace

call::RegistrationKind registrationKindFromJs(const Napi::Env& env, const Napi::Value& value) {
  const std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (text == call::toString(call::RegistrationKind::kNotification)) {
    return call::RegistrationKind::kNotification;
  }
  if (text == call::toString(call::RegistrationKind::kDirection)) {
    return call::RegistrationKind::kDirection;
  }
  throw Napi::TypeError::New(env, "kind must be 'notification' or 'direction'");
}

call::CallRegistration callRegistrationFromJs(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "call registration must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  call::CallRegistration r;
  r.kind = registrationKindFromJs(env, o.Get("kind"));
  r.requester = stringField(env, o, "requester", true);
  r.correlator = stringField(env, o, "correlator", false);
  r.endpoint = stringField(env, o, "endpoint", false);
  r.interfaceName = stringField(env, o, "interfaceName", true);
  r.ns = stringField(env, o, "ns", true);
  const Napi::Array addresses = stringList(env, o, "addresses");
  for (uint32_t i = 0; i < addresses.Length(); ++i) {
    const Napi::Value a = addresses.Get(i);
    if (!a.IsString() || a.As<Napi::String>().Utf8Value().empty()) {
      throw Napi::TypeError::New(env, "addresses must be non-empty strings");
    }
    r.addresses.push_back(a.As<Napi::String>().Utf8Value());
  }
  if (r.addresses.empty()) throw Napi::TypeError::New(env, "addresses must not be empty");
  const Napi::Array criteria = stringList(env, o, "criteria");
  call::CallEventSet set;
  for (uint32_t i = 0; i < criteria.Length(); ++i) {
    const Napi::Value c = criteria.Get(i);
    const auto event =
        c.IsString() ? call::callEventFromString(c.As<Napi::String>().Utf8Value()) : std::nullopt;
    if (!event) throw Napi::TypeError::New(env, "criteria must be CallEvents names");
    set = set.with(*event);
  }
  // Parlay X: no criteria means every event.
  r.criteria = set.empty() ? call::CallEventSet::all() : set;
  return r;
}

Napi::Object callRegistrationToJs(Napi::Env env, const call::CallRegistration& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", call::toString(r.kind));
  o.Set("requester", r.requester);
  o.Set("correlator", r.correlator);
  Napi::Array addresses = Napi::Array::New(env, r.addresses.size());
  for (uint32_t i = 0; i < r.addresses.size(); ++i) addresses.Set(i, r.addresses[i]);
  o.Set("addresses", addresses);
  Napi::Array criteria = Napi::Array::New(env);
  for (size_t i = 0; i < call::kCallEventCount; ++i) {
    const auto e = static_cast<call::CallEvent>(i);
    if (r.criteria.has(e)) criteria.Set(criteria.Length(), call::toString(e));
  }
  o.Set("criteria", criteria);
  o.Set("endpoint", r.endpoint);
  o.Set("interfaceName", r.interfaceName);
  o.Set("ns", r.ns);
  o.Set("createdMs", static_cast<double>(r.createdMs));
  return o;
}

call::CallAction callActionFromJs(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "action must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  const Napi::Value kind = o.Get("action");
  const auto parsed = kind.IsString()
                          ? call::callActionFromString(kind.As<Napi::String>().Utf8Value())
                          : std::nullopt;
  if (!parsed) throw Napi::TypeError::New(env, "action must be 'Continue', 'Route' or 'EndCall'");
  call::CallAction action;
  action.kind = *parsed;
  if (action.kind == call::CallAction::Kind::kRoute) {
    action.routingAddress = stringField(env, o, "routingAddress", false);
  }
  return action;
}

Napi::Object callBatchToJs(Napi::Env env, const gateway::CallBatch& batch) {
  Napi::Array notifications = Napi::Array::New(env, batch.notifications.size());
  for (uint32_t i = 0; i < batch.notifications.size(); ++i) {
    const gateway::CallNotificationDue& d = batch.notifications[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("callRef", static_cast<double>(d.callRef));
    o.Set("event", call::toString(d.event));
    setParties(o, d.parties);
    o.Set("sipStatus", d.sipStatus);
    o.Set("description", d.description);
    o.Set("atMs", static_cast<double>(d.atMs));
    setRecipient(o, d.to);
    notifications.Set(i, o);
  }
  Napi::Array decisions = Napi::Array::New(env, batch.decisions.size());
  for (uint32_t i = 0; i < batch.decisions.size(); ++i) {
    const gateway::CallDecisionDue& d = batch.decisions[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("callRef", static_cast<double>(d.callRef));
    o.Set("decisionId", static_cast<double>(d.decisionId));
    o.Set("event", call::toString(d.event));
    setParties(o, d.parties);
    o.Set("sipStatus", d.sipStatus);
    o.Set("timeoutMs", d.timeoutMs);
    setRecipient(o, d.to);
    decisions.Set(i, o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("notifications", notifications);
  out.Set("decisions", decisions);
  return out;
}

Napi::Object callCountersToJs(Napi::Env env, const CallProxyCounters& c, uint64_t registrations) {
  Napi::Object o = Napi::Object::New(env);
  const auto set = [&](const char* name, uint64_t value) {
    o.Set(name, static_cast<double>(value));
  };
  set("invites", c.invites);
  set("watchedCalls", c.watchedCalls);
  set("callsInFlight", c.callsInFlight);
  set("clientTransactions", c.clientTransactions);
  set("forwarded", c.forwarded);
  set("finalResponses", c.finalResponses);
  set("cancels", c.cancels);
  set("noAnswerTimeouts", c.noAnswerTimeouts);
  set("acksRelayed", c.acksRelayed);
  set("retransmitted2xx", c.retransmitted2xx);
  set("events", c.events);
  set("decisionsAsked", c.decisionsAsked);
  set("decisionsTimedOut", c.decisionsTimedOut);
  set("decisionsLate", c.decisionsLate);
  set("routed", c.routed);
  set("endedByApplication", c.endedByApplication);
  set("refused", c.refused);
  set("registrations", registrations);
  return o;
}

}  // namespace px
