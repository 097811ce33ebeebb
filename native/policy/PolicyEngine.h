// The service policy: decides, before the network is touched, whether a request may proceed and
// with which targets. Checks run in this order (docs/policy.md), the first refusal wins:
//   1. service running          enabled                  FAILED_SERVICE_NOT_RUNNING  SVC0001
//   2. request well formed      (no addresses, ...)      INVALID                     SVC0002
//   3. address validation       allowedSchemes           UNKNOWN_SCHEME              SVC0002
//                               addressPlan              FAILED_ADDRESS_PLAN_...     SVC0002
//                               unparsable address       INVALID                     SVC0002
//   4. groups                   groupsAllowed            GROUPS_NOT_ALLOWED          POL0006
//                               nestedGroupsAllowed      GROUPS_NOT_ALLOWED          POL0007
//                               unknown group            UNRESOLVED_GROUPS           SVC0002
//                               maxTargets               EXCEEDED_MAX_TARGETS        POL0003
//                               processUpTo              FAILED_PROCESS_UP_TO_LIMIT  POL0003 or
//                                                                                    partial
//   5. admission control        maxInFlight              FAILED_ADMISSION_CONTROL    SVC0001
//   6. privacy                  optedOut/allowedTargets  FAILED_PRIVACY              POL0002
//   7. pacing                   pacer                    FAILED_PACER                POL0001
//   8. traffic shaping          trafficShaping           FAILED_TRAFFIC_SHAPING      SVC0001
// In getStatusForGroup, address (3) and privacy (6) failures only mark their own target; the
// other operations are refused as a whole. Members of groups are validated like addresses.
//
// Threading: not thread-safe. The binding owns one engine and calls it on the JS thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/GatewayConfig.h"
#include "usage/UsageRecord.h"

namespace px::policy {

// A Parlay X fault: catalogue id (SVC0001, POL0002, ...) and the values of its %1, %2, ...
struct Fault {
  std::string messageId;
  std::vector<std::string> variables;
};

struct TargetDecision {
  std::string address;    // as requested, or a group member as configured
  std::string canonical;  // canonical form (address module); "" when it did not parse
  UsageStatus status = UsageStatus::kValid;  // kValid, or why this target alone is refused
  Fault fault;                               // when status != kValid
  // false: left out by processUpTo (kPartial); answered NotRetrieved, never fetched.
  bool process = true;
};

struct Decision {
  // kValid: proceed. kFailedProcessUpToLimit with refused == false: proceed with the targets
  // whose `process` is true (partial mode). Anything else: refused with `fault`.
  UsageStatus status = UsageStatus::kValid;
  bool refused = false;
  Fault fault;
  // The distinct targets (by canonical form, first occurrence kept) after group expansion, in
  // request order. Empty when refused before expansion.
  std::vector<TargetDecision> targets;
  // Non-zero when admission control counted the request in: pass to release() exactly once when
  // the request has finished. Zero when refused (nothing to release).
  uint64_t admission = 0;
};

// The parts of a startNotification request that its notification limits judge (the format of
// each part is checked before).
struct NotificationRequest {
  bool busyCriterion = false;     // criteria include Busy
  uint64_t frequencyMs = 0;       // as asked
  uint64_t durationMs = 0;        // as asked; 0 (absent or 0 units): the default duration
  std::optional<uint32_t> count;  // absent: unlimited
};

struct NotificationDecision {
  // kValid, or kInvalid with `fault` (POL0001, POL0004, POL0005, POL0009).
  UsageStatus status = UsageStatus::kValid;
  bool refused = false;
  Fault fault;
  uint64_t durationMs = 0;  // when admitted: as asked, or the requester's default duration
};

class PolicyEngine {
 public:
  explicit PolicyEngine(const GatewayConfig& config);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  // Step 1 alone, for operations that validate other parts of the request before their
  // addresses (startNotification): status kValid or kFailedServiceNotRunning.
  Decision checkService(std::string_view requester, PolicyOperation op) const;

  // The notification limits of `requester` (every level combined, most restrictive wins) on a
  // startNotification request, in this order, the first failure answering:
  //   Busy criterion, busyCriteriaAllowed false   POL0001 "Busy is not supported as a criterion"
  //   frequency below minFrequencyMs              POL0009
  //   duration above maxDurationSec               POL0001 "duration longer than the maximum ..."
  //   count absent, unlimitedCountAllowed false   POL0004
  //   count above maxCount                        POL0005
  // all with STATUSCODE INVALID. Takes no admission, pacer or shaping capacity.
  NotificationDecision checkNotificationLimits(std::string_view requester,
                                               const NotificationRequest& request) const;

  // Every step for one request. `requester` is the authenticated name; "" (anonymous) and names
  // that are not configured get the global policy. nowMs: a monotonic clock in milliseconds
  // (pacer and traffic shaping windows). Operations without targets (endNotification) pass no
  // addresses; they weigh 1 for the pacer and take no traffic-shaping tokens.
  Decision evaluate(std::string_view requester, PolicyOperation op,
                    const std::vector<std::string>& addresses, int64_t nowMs);

  // Groups from the XDMS (groups.xcap, XcapGroups.h): the XCAP documents to fetch before
  // evaluate() can resolve the groups among `addresses`. Empty when none is needed, and when the
  // request will be refused before its groups are resolved (service not running, groups not
  // allowed, a group in getStatus), so that such a refusal never waits for the network.
  std::vector<std::string> groupDocumentsNeeded(std::string_view requester, PolicyOperation op,
                                                const std::vector<std::string>& addresses,
                                                int64_t nowMs) const;
  // A fetch's outcome: the body of a 200 answer, or nullopt and why not.
  void groupDocumentFetched(const std::string& url, std::optional<std::string_view> body,
                            std::string_view error, int64_t nowMs);

  // Ends the admission of a request (Decision::admission). Unknown or repeated ids are ignored.
  void release(uint64_t admission);

  // Requests currently admitted (all scopes share this count), for tests and stats.
  uint64_t inFlight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace px::policy
