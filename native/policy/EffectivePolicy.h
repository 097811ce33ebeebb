// The rules that apply to one operation for one requester, combined from every level once at
// start so that a request only looks them up. The config loader guarantees that overrides are
// at most as permissive as the levels above, so combining is "most restrictive wins":
// enabled, groupsAllowed and nestedGroupsAllowed AND-ed, allowedSchemes intersected, maxTargets the
// minimum, processUpTo the smallest limit (reject when any level rejects), address plan and privacy
// rules of every level kept (AddressPlan, PrivacyList), notification limits the strictest of each.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "address/Address.h"
#include "config/GatewayConfig.h"
#include "config/PolicyConfig.h"
#include "policy/AddressPlan.h"
#include "policy/PrivacyList.h"

namespace px::policy {

// The config key of a service ("terminalStatus").
std::string_view policyServiceName(PolicyService service);

// The rules of a service / operation inside one level; nullptr when that level does not set any.
const PolicyRules* serviceRules(const PolicyLevel& level, PolicyService service);
const PolicyRules* operationRules(const PolicyLevel& level, PolicyOperation op);

// The levels that apply to one operation for one requester, most general first; nullptr where
// not configured.
struct PolicyLevels {
  enum Index : size_t {
    kGlobal,
    kGlobalService,
    kGlobalOperation,
    kRequester,
    kRequesterService,
    kRequesterOperation,
    kCount
  };
  std::array<const PolicyRules*, kCount> rules{};

  // `requester`: the requester's own policy, nullptr for the anonymous / unknown requester.
  static PolicyLevels collect(const PolicyLevel& defaults, const PolicyLevel* requester,
                              PolicyOperation op);
};

inline constexpr uint32_t kDefaultMaxTargets = 100;

struct EffectivePolicy {
  bool enabled = true;
  uint8_t allowedSchemes = 0;  // bit (1 << AddressScheme)
  bool groupsAllowed = true;
  bool nestedGroupsAllowed = true;  // false: a group resolved through nested lists, POL0007
  uint32_t maxTargets = kDefaultMaxTargets;
  std::optional<ProcessUpTo> processUpTo;  // getStatusForGroup only
  AddressPlan addressPlan;
  PrivacyList privacy;
  // startNotification limits: maxDurationSec, maxCount the minimum, minFrequencyMs the maximum,
  // the two switches AND-ed, defaultDurationSec the minimum and at most maxDurationSec (a level
  // that lowers the maximum below an inherited default shortens the default with it).
  NotificationLimits notificationLimits;

  bool allowsScheme(AddressScheme scheme) const {
    return (allowedSchemes & schemeBit(scheme)) != 0;
  }
  static constexpr uint8_t schemeBit(AddressScheme scheme) {
    return static_cast<uint8_t>(1u << static_cast<unsigned>(scheme));
  }

  // Throws std::invalid_argument for a bad telPattern (AddressPlan). `notifications`: the global
  // notification limits (the notifications section).
  static EffectivePolicy resolve(
      const PolicyLevels& levels, PolicyOperation op,
      const NotificationLimits& notifications = NotificationsConfig{}.limits());
};

}  // namespace px::policy
