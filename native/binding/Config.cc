// Configuration between the core and JS: loading from {path} or {text, name}, and the validated
// configuration as a plain JS object.
#include "binding/Config.h"

#include <string>
#include <vector>

namespace px {

namespace {

Napi::Value toJs(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) array.Set(i, values[i]);
  return array;
}

}  // namespace

Napi::Object configToJs(Napi::Env env, const GatewayConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sourcePath", c.sourcePath);
  Napi::Object service = Napi::Object::New(env);
  service.Set("name", c.serviceName);
  o.Set("service", service);

  Napi::Object http = Napi::Object::New(env);
  http.Set("host", c.http.host);
  http.Set("port", c.http.port);
  http.Set("basePath", c.http.basePath);
  http.Set("maxBodyBytes", c.http.maxBodyBytes);
  http.Set("keepAliveTimeoutMs", c.http.keepAliveTimeoutMs);
  http.Set("requestTimeoutMs", c.http.requestTimeoutMs);
  http.Set("headersTimeoutMs", c.http.headersTimeoutMs);
  http.Set("idleTimeoutMs", c.http.idleTimeoutMs);
  http.Set("maxConnections", c.http.maxConnections);
  http.Set("maxConnectionsPerSource", c.http.maxConnectionsPerSource);
  o.Set("http", http);

  Napi::Object sip = Napi::Object::New(env);
  sip.Set("bindHost", c.sip.bindHost);
  sip.Set("port", c.sip.port);
  std::vector<std::string> transports;
  for (SipTransport t : c.sip.transports)
    transports.push_back(t == SipTransport::kUdp ? "udp" : "tcp");
  sip.Set("transports", toJs(env, transports));
  sip.Set("watcherUri", c.sip.watcherUri);
  sip.Set("presenceServerUri", c.sip.presenceServerUri);
  sip.Set("telDomain", c.sip.telDomain);
  sip.Set("userAgent", c.sip.userAgent);
  Napi::Object sipTcp = Napi::Object::New(env);
  sipTcp.Set("idleTimeoutMs", c.sip.tcp.idleTimeoutMs);
  sipTcp.Set("maxConnections", c.sip.tcp.maxConnections);
  sipTcp.Set("maxConnectionsPerSource", c.sip.tcp.maxConnectionsPerSource);
  sip.Set("tcp", sipTcp);
  sip.Set("checkNotifySource", c.sip.checkNotifySource);
  sip.Set("trustedNotifySources", toJs(env, c.sip.trustedNotifySources));
  o.Set("sip", sip);

  Napi::Object presence = Napi::Object::New(env);
  presence.Set("fetchTimeoutMs", c.presence.fetchTimeoutMs);
  presence.Set("busyActivities", toJs(env, c.presence.busyActivities));
  presence.Set("subscriptionExpiresSec", c.presence.subscriptionExpiresSec);
  presence.Set("subscribeTimeoutMs", c.presence.subscribeTimeoutMs);
  presence.Set("resubscribeBackoffMs", c.presence.resubscribeBackoffMs);
  presence.Set("resubscribeBackoffMaxMs", c.presence.resubscribeBackoffMaxMs);
  presence.Set("maxSubscribeFailures", c.presence.maxSubscribeFailures);
  presence.Set("maxSubscribesInFlight", c.presence.maxSubscribesInFlight);
  o.Set("presence", presence);

  Napi::Object groups = Napi::Object::New(env);
  groups.Set("schemes", toJs(env, c.groups.schemes));
  Napi::Object members = Napi::Object::New(env);
  for (const auto& [group, list] : c.groups.members) members.Set(group, toJs(env, list));
  groups.Set("members", members);
  o.Set("groups", groups);

  Napi::Object authentication = Napi::Object::New(env);
  authentication.Set("required", c.authentication.required);
  authentication.Set("realm", c.authentication.realm);
  authentication.Set("tokenMaxAgeSec", c.authentication.tokenMaxAgeSec);
  authentication.Set("verifiedCacheSec", c.authentication.verifiedCacheSec);
  const AuthThrottleConfig& t = c.authentication.throttle;
  Napi::Object throttle = Napi::Object::New(env);
  throttle.Set("windowSec", t.windowSec);
  throttle.Set("maxFailuresPerClient", t.maxFailuresPerClient);
  throttle.Set("maxFailuresPerRequester", t.maxFailuresPerRequester);
  throttle.Set("lockoutSec", t.lockoutSec);
  throttle.Set("maxLockoutSec", t.maxLockoutSec);
  throttle.Set("trustedSourceSec", t.trustedSourceSec);
  throttle.Set("verifyConcurrency", t.verifyConcurrency);
  throttle.Set("verifyQueueLength", t.verifyQueueLength);
  authentication.Set("throttle", throttle);
  o.Set("authentication", authentication);

  // Credentials only: the policy stays in the core, which applies it. A null prototype, so that
  // a requester named "__proto__" (a valid name) is a key like any other.
  Napi::Object requesters = env.Global()
                                .Get("Object")
                                .As<Napi::Object>()
                                .Get("create")
                                .As<Napi::Function>()
                                .Call({env.Null()})
                                .As<Napi::Object>();
  for (const auto& [name, r] : c.requesters) {
    Napi::Object requester = Napi::Object::New(env);
    requester.Set("passwordHash", r.passwordHash);
    requester.Set("digestSecret", r.digestSecret);
    requesters.Set(name, requester);
  }
  o.Set("requesters", requesters);

  Napi::Object outbound = Napi::Object::New(env);
  outbound.Set("allowCidrs", toJs(env, c.outbound.allowCidrs));
  outbound.Set("allowHosts", toJs(env, c.outbound.allowHosts));
  outbound.Set("allowOwnListeners", c.outbound.allowOwnListeners);
  o.Set("outbound", outbound);

  const NotificationsConfig& n = c.notifications;
  Napi::Object notifications = Napi::Object::New(env);
  notifications.Set("database", n.database);
  notifications.Set("defaultDurationSec", n.defaultDurationSec);
  notifications.Set("maxDurationSec", n.maxDurationSec);
  notifications.Set("minFrequencyMs", n.minFrequencyMs);
  notifications.Set("unlimitedCountAllowed", n.unlimitedCountAllowed);
  notifications.Set("maxCount", n.maxCount);
  notifications.Set("busyCriteriaAllowed", n.busyCriteriaAllowed);
  Napi::Object delivery = Napi::Object::New(env);
  delivery.Set("timeoutMs", n.delivery.timeoutMs);
  delivery.Set("maxAttempts", n.delivery.maxAttempts);
  delivery.Set("retryBackoffMs", n.delivery.retryBackoffMs);
  delivery.Set("retryBackoffMaxMs", n.delivery.retryBackoffMaxMs);
  delivery.Set("maxSocketsPerEndpoint", n.delivery.maxSocketsPerEndpoint);
  delivery.Set("maxConnections", n.delivery.maxConnections);
  notifications.Set("delivery", delivery);
  o.Set("notifications", notifications);

  Napi::Object usage = Napi::Object::New(env);
  usage.Set("database", c.usage.database);
  usage.Set("durability", c.usage.durability == UsageDurability::kDurable ? "durable" : "batched");
  usage.Set("flushIntervalMs", c.usage.flushIntervalMs);
  usage.Set("queueCapacity", c.usage.queueCapacity);
  usage.Set("maxServiceDataBytes", c.usage.maxServiceDataBytes);
  usage.Set("host", c.usage.host);
  o.Set("usage", usage);
  return o;
}

// Reads {path} or {text, name} and throws a JS Error carrying file/line/key on a config error.
GatewayConfig loadConfigFromJs(const Napi::Env& env, const Napi::Value& arg) {
  if (!arg.IsObject()) throw Napi::TypeError::New(env, "expected {path} or {text, name}");
  Napi::Object options = arg.As<Napi::Object>();
  try {
    if (options.Has("text")) {
      std::string name = options.Has("name") ? options.Get("name").ToString().Utf8Value()
                                             : std::string("<config>");
      return loadConfigText(options.Get("text").ToString().Utf8Value(), name);
    }
    if (options.Has("path")) return loadConfigFile(options.Get("path").ToString().Utf8Value());
  } catch (const ConfigError& e) {
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Set("code", "ERR_PX_CONFIG");
    error.Set("file", e.file());
    error.Set("line", Napi::Number::New(env, e.line()));
    error.Set("key", e.key());
    throw error;
  }
  throw Napi::TypeError::New(env, "expected {path} or {text, name}");
}

}  // namespace px
