#include "binding/CoreValuesJs.h"

#include <string>

#include "binding/CallsJs.h"

namespace px {

Napi::Object fetchOutcomeToJs(Napi::Env env, const FetchOutcome& outcome) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", toString(outcome.kind));
  if (outcome.kind == FetchOutcome::Kind::kStatus) {
    o.Set("status", std::string(toString(outcome.status)));
  }
  o.Set("sipStatus", outcome.sipStatus);
  o.Set("detail", outcome.detail);
  o.Set("elapsedMs", outcome.elapsedMs);
  return o;
}

Napi::Array quarantinedToJs(Napi::Env env, const std::vector<QuarantinedNotification>& rows) {
  Napi::Array list = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const QuarantinedNotification& q = rows[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("requester", q.requester);
    o.Set("correlator", q.correlator);
    o.Set("endpoint", q.endpoint);
    o.Set("globalId", q.globalId);
    o.Set("reason", q.reason);
    o.Set("moved", q.moved);
    o.Set("pendingDelivery", q.pendingDelivery);
    list.Set(static_cast<uint32_t>(i), o);
  }
  return list;
}

Napi::Array quarantinedCallsToJs(Napi::Env env,
                                 const std::vector<QuarantinedCallRegistration>& rows) {
  Napi::Array list = Napi::Array::New(env, rows.size());
  for (uint32_t i = 0; i < rows.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", rows[i].kind);
    o.Set("requester", rows[i].requester);
    o.Set("correlator", rows[i].correlator);
    o.Set("reason", rows[i].reason);
    o.Set("moved", rows[i].moved);
    list.Set(i, o);
  }
  return list;
}

namespace {

// store.backend postgresql: this instance as a member of the clustered service.
Napi::Object clusterStatsToJs(Napi::Env env, const cluster::ClusterStatus& c) {
  Napi::Object cl = Napi::Object::New(env);
  cl.Set("instanceId", c.instanceId);
  cl.Set("instanceName", c.instanceName);
  cl.Set("connected", c.connected);
  cl.Set("leaseHeld", c.leaseHeld);
  cl.Set("owned", static_cast<double>(c.owned));
  cl.Set("liveInstances", static_cast<double>(c.live));
  cl.Set("storedNotifications", static_cast<double>(c.total));
  cl.Set("claimed", static_cast<double>(c.claimed));
  cl.Set("handedOver", static_cast<double>(c.handedOver));
  cl.Set("leaseLosses", static_cast<double>(c.leaseLosses));
  cl.Set("fencedWrites", static_cast<double>(c.fencedWrites));
  return cl;
}

}  // namespace

Napi::Object statsToJs(Napi::Env env, const gateway::GatewayStats& stats, size_t pendingFetches) {
  Napi::Object o = Napi::Object::New(env);
  const WatcherStats& s = stats.sip;
  o.Set("started", static_cast<double>(s.started));
  o.Set("completed", static_cast<double>(s.completed));
  o.Set("inFlight", static_cast<double>(s.inFlight));
  o.Set("timeouts", static_cast<double>(s.timeouts));
  o.Set("sipErrors", static_cast<double>(s.sipErrors));
  o.Set("strayRequests", static_cast<double>(s.strayRequests));
  o.Set("pendingPromises", static_cast<double>(pendingFetches));
  o.Set("subscriptions", static_cast<double>(s.subscriptions));
  o.Set("subscriptionsActive", static_cast<double>(s.subscriptionsActive));
  o.Set("subscribeRequests", static_cast<double>(s.subscribeRequests));
  o.Set("refreshes", static_cast<double>(s.refreshes));
  o.Set("resubscribes", static_cast<double>(s.resubscribes));
  o.Set("listFetches", static_cast<double>(s.listFetches));
  o.Set("listSubscribes", static_cast<double>(s.listSubscribes));
  o.Set("membersFromLists", static_cast<double>(s.membersFromLists));
  o.Set("memberFallbacks", static_cast<double>(s.memberFallbacks));
  o.Set("listFallbacks", static_cast<double>(s.listFallbacks));
  o.Set("listVersionGaps", static_cast<double>(s.listVersionGaps));
  o.Set("subscriptionFailures", static_cast<double>(s.subscriptionFailures));
  o.Set("notifySourceRefused", static_cast<double>(s.notifySourceRefused));
  o.Set("tcpConnections", static_cast<double>(s.tcpConnections));
  o.Set("tcpRefused", static_cast<double>(s.tcpRefused));
  o.Set("tcpIdleClosed", static_cast<double>(s.tcpIdleClosed));
  o.Set("notifications", static_cast<double>(stats.notifications));
  o.Set("watchedTerminals", static_cast<double>(stats.watchedTerminals));
  o.Set("policyInFlight", static_cast<double>(stats.policyInFlight));
  o.Set("fetchesAnsweredFromSubscriptions",
        static_cast<double>(stats.fetchesAnsweredFromSubscriptions));
  o.Set("calls", callCountersToJs(env, stats.calls, stats.callRegistrations));
  if (stats.cluster) o.Set("cluster", clusterStatsToJs(env, *stats.cluster));
  return o;
}

}  // namespace px
