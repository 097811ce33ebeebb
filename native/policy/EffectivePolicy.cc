#include "policy/EffectivePolicy.h"

#include <algorithm>
#include <string>
#include <vector>

namespace px::policy {
namespace {

const ServicePolicy* findService(const PolicyLevel& level, PolicyService service) {
  const auto it = level.services.find(std::string(policyServiceName(service)));
  return it == level.services.end() ? nullptr : &it->second;
}

}  // namespace

std::string_view policyServiceName(PolicyService service) {
  for (const PolicyOperationInfo& info : kPolicyOperations) {
    if (info.service == service) return info.serviceName;
  }
  return {};
}

const PolicyRules* serviceRules(const PolicyLevel& level, PolicyService service) {
  const ServicePolicy* s = findService(level, service);
  return s == nullptr ? nullptr : &s->rules;
}

const PolicyRules* operationRules(const PolicyLevel& level, PolicyOperation op) {
  const PolicyOperationInfo& info = policyOperationInfo(op);
  const ServicePolicy* s = findService(level, info.service);
  if (s == nullptr) return nullptr;
  const auto it = s->operations.find(std::string(info.operationName));
  return it == s->operations.end() ? nullptr : &it->second;
}

PolicyLevels PolicyLevels::collect(const PolicyLevel& defaults, const PolicyLevel* requester,
                                   PolicyOperation op) {
  const PolicyService service = policyOperationInfo(op).service;
  PolicyLevels levels;
  levels.rules[kGlobal] = &defaults.rules;
  levels.rules[kGlobalService] = serviceRules(defaults, service);
  levels.rules[kGlobalOperation] = operationRules(defaults, op);
  if (requester != nullptr) {
    levels.rules[kRequester] = &requester->rules;
    levels.rules[kRequesterService] = serviceRules(*requester, service);
    levels.rules[kRequesterOperation] = operationRules(*requester, op);
  }
  return levels;
}

EffectivePolicy EffectivePolicy::resolve(const PolicyLevels& levels, PolicyOperation op,
                                         const NotificationLimits& notifications) {
  EffectivePolicy p;
  p.notificationLimits = notifications;
  NotificationLimits& n = p.notificationLimits;
  p.allowedSchemes = schemeBit(AddressScheme::kTel) | schemeBit(AddressScheme::kSip) |
                     schemeBit(AddressScheme::kSips);
  std::vector<const AddressPlanRules*> plans;
  std::vector<const PrivacyRules*> privacy;
  for (const PolicyRules* rules : levels.rules) {
    if (rules == nullptr) continue;
    if (rules->enabled && !*rules->enabled) p.enabled = false;
    if (rules->allowedSchemes) {
      uint8_t allowed = 0;
      for (AddressScheme s : *rules->allowedSchemes) allowed |= schemeBit(s);
      p.allowedSchemes &= allowed;
    }
    if (rules->groupsAllowed && !*rules->groupsAllowed) p.groupsAllowed = false;
    if (rules->nestedGroupsAllowed == false) p.nestedGroupsAllowed = false;
    if (rules->maxTargets) p.maxTargets = std::min(p.maxTargets, *rules->maxTargets);
    if (rules->processUpTo && op == PolicyOperation::kGetStatusForGroup) {
      if (!p.processUpTo) {
        p.processUpTo = *rules->processUpTo;
      } else {
        p.processUpTo->limit = std::min(p.processUpTo->limit, rules->processUpTo->limit);
        if (rules->processUpTo->mode == ProcessUpToMode::kReject) {
          p.processUpTo->mode = ProcessUpToMode::kReject;
        }
      }
    }
    const NotificationLimitRules& limits = rules->notifications;
    if (limits.maxDurationSec)
      n.maxDurationSec = std::min(n.maxDurationSec, *limits.maxDurationSec);
    if (limits.defaultDurationSec) {
      n.defaultDurationSec = std::min(n.defaultDurationSec, *limits.defaultDurationSec);
    }
    if (limits.minFrequencyMs)
      n.minFrequencyMs = std::max(n.minFrequencyMs, *limits.minFrequencyMs);
    if (limits.unlimitedCountAllowed == false) n.unlimitedCountAllowed = false;
    if (limits.maxCount) n.maxCount = std::min(n.maxCount, *limits.maxCount);
    if (limits.busyCriteriaAllowed == false) n.busyCriteriaAllowed = false;
    plans.push_back(&rules->addressPlan);
    privacy.push_back(&rules->privacy);
  }
  n.defaultDurationSec = std::min(n.defaultDurationSec, n.maxDurationSec);
  p.addressPlan = AddressPlan(plans);
  p.privacy = PrivacyList(privacy);
  return p;
}

}  // namespace px::policy
