// The CAMARA front (js/camara/, docs/camara.md): Device Reachability Status over JSON/HTTP with
// OAuth2 bearer tokens, answered by the same presence fetch as getStatus. Every key is a row of
// ConfigSchema.cc (docs/configuration.md); the rules between them (what `enabled` requires) are
// there too.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace px {

struct CamaraConfig {
  bool enabled = false;  // false: no CAMARA route (404)
  // URL path prefix of the CAMARA APIs (their apiRoot's path): "/" puts
  // /device-reachability-status/v1/retrieve at the root of the HTTP listener.
  std::string basePath = "/";
  std::string serviceName = "CAMARA_DRS_SIP";  // SERVICE of the CAMARA usage records, 1..127 chars
  struct Auth {
    // Required when enabled (the loader says so): the token's iss and aud must match.
    std::string issuer;
    std::string audience;
    // Exactly one when enabled: a JWKS document on disk (resolved against the config file) or
    // an http(s) URL it is fetched from (cached by jose).
    std::string jwksFile;
    std::string jwksUrl;
    uint32_t clockToleranceSec = 30;  // 0 .. 300: exp/nbf/iat leeway
    // Claim of a three-legged token that names the device (an E.164 number with '+'); "" = tokens
    // never identify a device.
    std::string phoneNumberClaim = "phone_number";
  } auth;
  // Scopes a token needs per operation (operationId of the OpenAPI document); [] = none.
  struct Scopes {
    std::vector<std::string> getReachabilityStatus = {"device-reachability-status:read"};
    // Device Reachability Status Subscriptions v0.7. create: a scope naming an event type
    // (":<type>:") is needed only by a subscription to that type, the others always.
    std::vector<std::string> createDeviceReachabilityStatusSubscription = {
        "device-reachability-status-subscriptions:org.camaraproject.device-reachability-status-"
        "subscriptions.v0.reachability-data:create",
        "device-reachability-status-subscriptions:org.camaraproject.device-reachability-status-"
        "subscriptions.v0.reachability-sms:create",
        "device-reachability-status-subscriptions:org.camaraproject.device-reachability-status-"
        "subscriptions.v0.reachability-disconnected:create"};
    std::vector<std::string> retrieveDeviceReachabilityStatusSubscription = {
        "device-reachability-status-subscriptions:read"};
    std::vector<std::string> retrieveDeviceReachabilityStatusSubscriptionList = {
        "device-reachability-status-subscriptions:read"};
    std::vector<std::string> deleteDeviceReachabilityStatusSubscription = {
        "device-reachability-status-subscriptions:delete"};
  } scopes;
  // Device Reachability Status Subscriptions (docs/camara.md "Subscriptions").
  struct Subscriptions {
    uint32_t maxPerRequester = 100;     // 1 .. 1000000 active subscriptions per requester
    uint32_t defaultExpirySec = 86400;  // without subscriptionExpireTime; <= maxExpirySec
    uint32_t maxExpirySec = 2592000;    // a later subscriptionExpireTime is cut to this (30 days)
  } subscriptions;
  // Token client (client_id, else azp, else sub) -> requester (a key of `requesters`): the
  // requester whose policy and usage records the request gets. Unlisted clients get 403.
  std::map<std::string, std::string> clients;
  // Connectivity reported for a reachable device: open presence (registered), and open with a
  // busy activity. DATA, SMS; non-empty, no duplicates.
  struct Connectivity {
    std::vector<std::string> reachable = {"DATA", "SMS"};
    std::vector<std::string> busy = {"DATA", "SMS"};
  } connectivity;
};

}  // namespace px
