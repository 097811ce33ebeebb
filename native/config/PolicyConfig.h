// Service policy, requesters and authentication as configured (sections `policy`, `requesters`,
// `authentication` of config/gateway.yaml). The loader guarantees that every override is at most
// as permissive as each level above it, so the policy engine may combine levels by taking the
// most restrictive value (which is then always the most specific one).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address/Address.h"

namespace px {

// The services and operations policy can be set for. Call Direction is a service of its own
// (its own pacer and limits): an application that decides holds calls, one that is told does not.
enum class PolicyService { kTerminalStatus, kCallNotification, kCallDirection };
enum class PolicyOperation {
  kGetStatus,
  kGetStatusForGroup,
  kStartNotification,
  kEndNotification,
  kStartCallNotification,
  kStopCallNotification,
  kStartCallDirectionNotification,
  kStopCallDirectionNotification,
};
inline constexpr size_t kPolicyOperationCount = 8;
inline constexpr size_t kPolicyServiceCount = 3;

struct PolicyOperationInfo {
  PolicyOperation operation;
  PolicyService service;
  std::string_view serviceName;    // config key under policy.services
  std::string_view operationName;  // config key under policy.services.<service>.operations
};

inline constexpr std::array<PolicyOperationInfo, kPolicyOperationCount> kPolicyOperations = {{
    {PolicyOperation::kGetStatus, PolicyService::kTerminalStatus, "terminalStatus", "getStatus"},
    {PolicyOperation::kGetStatusForGroup, PolicyService::kTerminalStatus, "terminalStatus",
     "getStatusForGroup"},
    {PolicyOperation::kStartNotification, PolicyService::kTerminalStatus, "terminalStatus",
     "startNotification"},
    {PolicyOperation::kEndNotification, PolicyService::kTerminalStatus, "terminalStatus",
     "endNotification"},
    {PolicyOperation::kStartCallNotification, PolicyService::kCallNotification, "callNotification",
     "startCallNotification"},
    {PolicyOperation::kStopCallNotification, PolicyService::kCallNotification, "callNotification",
     "stopCallNotification"},
    {PolicyOperation::kStartCallDirectionNotification, PolicyService::kCallDirection,
     "callDirection", "startCallDirectionNotification"},
    {PolicyOperation::kStopCallDirectionNotification, PolicyService::kCallDirection,
     "callDirection", "stopCallDirectionNotification"},
}};

inline const PolicyOperationInfo& policyOperationInfo(PolicyOperation op) {
  return kPolicyOperations[static_cast<size_t>(op)];
}

// At most `limit` units of weight (a request weighs its number of targets, at least 1) per
// sliding window of windowMs. Rates are compared as limit / windowMs.
struct RateLimit {
  uint32_t limit = 1;        // 1 .. 1000000000
  uint32_t windowMs = 1000;  // 1 .. 86400000
};

enum class ProcessUpToMode {
  kReject,   // more targets than limit: the request is refused (POL0003)
  kPartial,  // the first `limit` targets are processed, the rest answered NotRetrieved
};

struct ProcessUpTo {
  uint32_t limit = 100;  // 1 .. 100000
  ProcessUpToMode mode = ProcessUpToMode::kReject;
};

// Address plan validation (FAILED_ADDRESS_PLAN_VALIDATION). Every level's rules apply.
struct AddressPlanRules {
  // tel: numbers must be global (+ and 1..15 digits, E.164); local numbers are refused.
  std::optional<bool> e164Only;
  // Global tel: numbers must start with one of these E.164 country codes (digits, no '+').
  std::optional<std::vector<std::string>> countryCodes;
  // ECMAScript regular expressions that the whole tel: number ("+4930123456", visual separators
  // removed) must match; cumulative over levels (every one must match).
  std::vector<std::string> telPatterns;
  // sip:/sips: hosts must be one of these domains or a subdomain of one (lower-case).
  std::optional<std::vector<std::string>> sipDomains;
};

// Privacy (FAILED_PRIVACY). Patterns are canonical addresses ("tel:+4930123", "sip:a@b.test")
// in which '*' matches any run of characters.
struct PrivacyRules {
  // Targets that opted out: nobody may query them. Cumulative over levels.
  std::vector<std::string> optedOut;
  // When set, the only targets that may be queried (per-requester allow-list). Every level that
  // sets one applies.
  std::optional<std::vector<std::string>> allowedTargets;
};

// startNotification limits (TWSS MaximumNotificationDuration, UnlimitedCountAllowed, ...) as set
// by one policy level under `notifications:`. The global values are the `notifications` section
// (NotificationsConfig); the policy levels that cover startNotification (a requester's own
// level, services.terminalStatus, operations.startNotification) may only tighten them.
struct NotificationLimitRules {
  std::optional<uint32_t> maxDurationSec;      // smaller is stricter; above: POL0001
  std::optional<uint32_t> defaultDurationSec;  // smaller is stricter; at most maxDurationSec
  std::optional<uint32_t> minFrequencyMs;      // larger is stricter; below: POL0009
  std::optional<bool> unlimitedCountAllowed;   // false is stricter; count absent: POL0004
  std::optional<uint32_t> maxCount;            // smaller is stricter; above: POL0005
  std::optional<bool> busyCriteriaAllowed;     // false is stricter; Busy criterion: POL0001
};

// The notification limits that apply to one request, every level combined. The defaults are
// NotificationsConfig's (NotificationsConfig::limits()); zero here refuses everything.
struct NotificationLimits {
  uint32_t maxDurationSec = 0;
  uint32_t defaultDurationSec = 0;
  uint32_t minFrequencyMs = 0;
  bool unlimitedCountAllowed = false;
  uint32_t maxCount = 0;
  bool busyCriteriaAllowed = false;
};

// One level of policy. Unset means "as the level above"; the global level's unset values are
// the defaults noted here.
struct PolicyRules {
  std::optional<bool> enabled;  // default true; false: FAILED_SERVICE_NOT_RUNNING (SVC0001)
  // default {tel, sip, sips}; an override is a subset.
  std::optional<std::vector<AddressScheme>> allowedSchemes;
  AddressPlanRules addressPlan;
  std::optional<bool> groupsAllowed;  // default true
  // default true; false: a group resolved through nested lists (XCAP <list> / <external>) is
  // refused with POL0007 (GROUPS_NOT_ALLOWED). YAML groups never nest.
  std::optional<bool> nestedGroupsAllowed;
  std::optional<uint32_t> maxTargets;      // default 100 (1 .. 100000), after group expansion
  std::optional<ProcessUpTo> processUpTo;  // default none; getStatusForGroup only
  // Admission control: most requests of this level's scope in progress at once (1 .. 1000000);
  // default unlimited. Scope: policy = whole gateway, services.S = all requests to S,
  // operations.O = all requests to O, requesters.R... = R's requests at that level.
  std::optional<uint32_t> maxInFlight;
  PrivacyRules privacy;
  // Pacer (SLA): always counted per requester. policy.pacer = each requester's requests in
  // total, services.S.pacer = each requester's requests to S, operations.O.pacer = to O.
  // A requester's own value replaces the default at the same level. Default none.
  std::optional<RateLimit> pacer;
  // startNotification limits; never set at the global level (that is the notifications section).
  NotificationLimitRules notifications;
};

struct ServicePolicy {
  PolicyRules rules;
  std::map<std::string, PolicyRules> operations;  // operation name -> its rules
};

// The global level (policy:) or one requester's (requesters.<name>.policy:).
struct PolicyLevel {
  PolicyRules rules;
  std::map<std::string, ServicePolicy> services;  // service name -> its rules
};

// Traffic shaping toward one network element: a token bucket of `burst` tokens refilled at
// ratePerSec; every SIP request the operation will send takes one token (FAILED_TRAFFIC_SHAPING).
struct TrafficShapingRule {
  uint32_t ratePerSec = 1000;  // 1 .. 1000000
  uint32_t burst = 1000;       // 1 .. 1000000; default ratePerSec
};

struct PolicyConfig {
  PolicyLevel defaults;
  // network element -> shaping; the only element so far is "presenceServer" (Terminal Status).
  std::map<std::string, TrafficShapingRule> trafficShaping;
};

struct RequesterConfig {
  std::string name;  // 1..64 characters of [A-Za-z0-9._@-]
  // scrypt hash in PHC form "$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>" (unpadded
  // standard base64), checked for HTTP Basic and UsernameToken PasswordText. Made by
  // `npx parlayx-gateway hash-password`.
  std::string passwordHash;
  // Shared secret for UsernameToken PasswordDigest, which proves knowledge of the password
  // itself and so cannot be checked against a hash: read from `digestSecretFile` (a file only
  // its owner may read), never written in the YAML. "" = PasswordDigest refused for this
  // requester.
  std::string digestSecret;
  PolicyLevel policy;
};

// Failed-login throttling and the bounded scrypt pool (js/auth/throttle.js, js/auth/verifyPool.js).
struct AuthThrottleConfig {
  uint32_t windowSec = 60;                // 1 .. 86400: failures are counted per window
  uint32_t maxFailuresPerClient = 20;     // 1 .. 1000000 per remote IP address and window
  uint32_t maxFailuresPerRequester = 10;  // 1 .. 1000000 per claimed requester name and window
  uint32_t lockoutSec = 10;               // 1 .. 86400: first lock-out, doubled for each further
  uint32_t maxLockoutSec = 900;           // lockoutSec .. 86400
  // 0 .. 2592000: a source address that authenticated as a requester stays allowed through that
  // requester's lock-out for this long (0 = never), so that guessing a name from elsewhere
  // cannot lock its real owner out.
  uint32_t trustedSourceSec = 86400;
  uint32_t verifyConcurrency = 2;   // 1 .. 64 scrypt verifications at once
  uint32_t verifyQueueLength = 32;  // 0 .. 100000 verifications waiting; more are refused (503)
};

struct AuthenticationConfig {
  // true: requests without valid credentials get HTTP 401. false: requests without credentials
  // run as the anonymous requester "" under the global policy (wrong credentials still 401).
  bool required = true;
  std::string realm = "parlayx-gateway";  // HTTP Basic realm, 1..127 characters
  // UsernameToken: how far wsu:Created may lie from now (either way), and how long a nonce is
  // remembered to refuse replays. 1 .. 3600. Default 300.
  uint32_t tokenMaxAgeSec = 300;
  // How long a successfully verified password is remembered (keyed by a SHA-256 of user and
  // password) so that scrypt runs once per client rather than per request. 0 .. 86400.
  uint32_t verifiedCacheSec = 300;
  AuthThrottleConfig throttle;
};

}  // namespace px
