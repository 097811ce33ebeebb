#include "policy/PolicyEngine.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "address/Address.h"
#include "policy/AdmissionControl.h"
#include "policy/EffectivePolicy.h"
#include "policy/GroupDirectory.h"
#include "policy/RequesterPacers.h"
#include "policy/TokenBucket.h"

namespace px::policy {
namespace {

// Above this many targets duplicates are found with a hash set instead of pairwise comparison.
constexpr size_t kLinearDedupeMax = 16;

bool takesAddresses(PolicyOperation op) {
  switch (op) {
    case PolicyOperation::kGetStatus:
    case PolicyOperation::kGetStatusForGroup:
    case PolicyOperation::kStartNotification:
    case PolicyOperation::kStartCallNotification:
    case PolicyOperation::kStartCallDirectionNotification:
      return true;
    case PolicyOperation::kEndNotification:
    case PolicyOperation::kStopCallNotification:
    case PolicyOperation::kStopCallDirectionNotification:
      return false;
  }
  return false;
}

// The message part that carries the addresses (faults name it).
const char* addressPart(PolicyOperation op) {
  return op == PolicyOperation::kGetStatus ? "address" : "addresses";
}

std::string displayName(std::string_view requester) {
  return requester.empty() ? std::string("(anonymous)") : std::string(requester);
}

void refuse(Decision& d, UsageStatus status, const char* messageId, std::string variable) {
  d.status = status;
  d.refused = true;
  d.fault.messageId = messageId;
  d.fault.variables.assign(1, std::move(variable));
}

std::string_view dedupeKey(const TargetDecision& t) {
  return t.canonical.empty() ? std::string_view(t.address) : std::string_view(t.canonical);
}

// Keeps the first of the targets that share a canonical form (the address as written for the
// ones that did not parse), in order.
void dedupe(std::vector<TargetDecision>& targets) {
  if (targets.size() < 2) return;
  size_t kept = 0;
  if (targets.size() <= kLinearDedupeMax) {
    for (size_t i = 0; i < targets.size(); ++i) {
      bool seen = false;
      for (size_t j = 0; j < kept && !seen; ++j)
        seen = dedupeKey(targets[j]) == dedupeKey(targets[i]);
      if (seen) continue;
      if (kept != i) targets[kept] = std::move(targets[i]);
      ++kept;
    }
  } else {
    // Views into the targets stay valid only while nothing moves: mark first, compact after.
    std::vector<bool> duplicate(targets.size());
    std::unordered_set<std::string_view> seen;
    seen.reserve(targets.size());
    for (size_t i = 0; i < targets.size(); ++i)
      duplicate[i] = !seen.insert(dedupeKey(targets[i])).second;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (duplicate[i]) continue;
      if (kept != i) targets[kept] = std::move(targets[i]);
      ++kept;
    }
  }
  targets.erase(targets.begin() + static_cast<std::ptrdiff_t>(kept), targets.end());
}

// Targets that will be fetched: valid and not left out by processUpTo.
uint64_t processedTargets(const std::vector<TargetDecision>& targets) {
  return static_cast<uint64_t>(std::count_if(targets.begin(), targets.end(), [](const auto& t) {
    return t.status == UsageStatus::kValid && t.process;
  }));
}

}  // namespace

struct PolicyEngine::Impl {
  struct OperationEntry {
    EffectivePolicy rules;
    AdmissionControl::ScopeSet admissionScopes;
  };
  // A configured requester, or (index 0) the anonymous / unknown requesters.
  struct RequesterEntry {
    std::array<OperationEntry, kPolicyOperationCount> operations;
    PacerLimits pacerLimits;
    std::optional<RequesterPacers> pacers;  // configured requesters only, when paced
  };
  static constexpr size_t kDefaultEntry = 0;

  explicit Impl(const GatewayConfig& config);

  size_t indexOf(std::string_view requester) const;
  RequesterPacers* pacersFor(size_t index, std::string_view requester);
  TargetDecision validate(std::string_view address, const EffectivePolicy& rules,
                          const char* part) const;
  // Steps 2 to 4. False when `d` was refused.
  bool resolveTargets(PolicyOperation op, const EffectivePolicy& rules,
                      const std::vector<std::string>& addresses, Decision& d) const;
  void addRequester(const std::string& name, const PolicyLevel* own, const PolicyLevel& defaults);

  GroupDirectory groups;
  AdmissionControl admission;
  std::optional<AdmissionControl::ScopeId> gatewayScope;
  std::array<std::optional<AdmissionControl::ScopeId>, kPolicyServiceCount> serviceScopes;
  std::array<std::optional<AdmissionControl::ScopeId>, kPolicyOperationCount> operationScopes;
  std::vector<RequesterEntry> requesters;
  std::map<std::string, size_t, std::less<>> byName;
  // Pacers of requesters that are not configured, by name ("" included), made on first use.
  std::map<std::string, RequesterPacers, std::less<>> otherPacers;
  std::optional<TokenBucket> presenceServer;
  NotificationLimits notificationLimits;  // the global level (the notifications section)
};

PolicyEngine::Impl::Impl(const GatewayConfig& config)
    : groups(config.groups), notificationLimits(config.notifications.limits()) {
  const PolicyLevel& defaults = config.policy.defaults;
  if (defaults.rules.maxInFlight) {
    gatewayScope = admission.addScope("gateway", *defaults.rules.maxInFlight);
  }
  for (size_t s = 0; s < kPolicyServiceCount; ++s) {
    const auto service = static_cast<PolicyService>(s);
    const PolicyRules* rules = serviceRules(defaults, service);
    if (rules != nullptr && rules->maxInFlight) {
      serviceScopes[s] = admission.addScope("service " + std::string(policyServiceName(service)),
                                            *rules->maxInFlight);
    }
  }
  for (const PolicyOperationInfo& info : kPolicyOperations) {
    const PolicyRules* rules = operationRules(defaults, info.operation);
    if (rules != nullptr && rules->maxInFlight) {
      operationScopes[static_cast<size_t>(info.operation)] = admission.addScope(
          "operation " + std::string(info.serviceName) + "." + std::string(info.operationName),
          *rules->maxInFlight);
    }
  }

  requesters.reserve(config.requesters.size() + 1);
  addRequester("", nullptr, defaults);
  for (const auto& [name, requester] : config.requesters) {
    byName.emplace(name, requesters.size());
    addRequester(name, &requester.policy, defaults);
  }

  const auto shaping = config.policy.trafficShaping.find("presenceServer");
  if (shaping != config.policy.trafficShaping.end()) {
    presenceServer.emplace(shaping->second.burst, shaping->second.ratePerSec);
  }
}

void PolicyEngine::Impl::addRequester(const std::string& name, const PolicyLevel* own,
                                      const PolicyLevel& defaults) {
  RequesterEntry entry;

  // Admission scopes of this requester's own limits (unknown requesters have none).
  std::optional<AdmissionControl::ScopeId> requesterScope;
  std::array<std::optional<AdmissionControl::ScopeId>, kPolicyServiceCount> requesterServiceScopes;
  std::array<std::optional<AdmissionControl::ScopeId>, kPolicyOperationCount> requesterOpScopes;
  if (own != nullptr) {
    if (own->rules.maxInFlight) {
      requesterScope = admission.addScope("requester " + name, *own->rules.maxInFlight);
    }
    for (const PolicyOperationInfo& info : kPolicyOperations) {
      const auto s = static_cast<size_t>(info.service);
      const PolicyRules* serviceLevel = serviceRules(*own, info.service);
      if (!requesterServiceScopes[s] && serviceLevel != nullptr && serviceLevel->maxInFlight) {
        requesterServiceScopes[s] =
            admission.addScope("requester " + name + ", service " + std::string(info.serviceName),
                               *serviceLevel->maxInFlight);
      }
      const PolicyRules* opLevel = operationRules(*own, info.operation);
      if (opLevel != nullptr && opLevel->maxInFlight) {
        requesterOpScopes[static_cast<size_t>(info.operation)] = admission.addScope(
            "requester " + name + ", operation " + std::string(info.serviceName) + "." +
                std::string(info.operationName),
            *opLevel->maxInFlight);
      }
    }
  }

  for (const PolicyOperationInfo& info : kPolicyOperations) {
    const auto o = static_cast<size_t>(info.operation);
    const auto s = static_cast<size_t>(info.service);
    OperationEntry& op = entry.operations[o];
    op.rules = EffectivePolicy::resolve(PolicyLevels::collect(defaults, own, info.operation),
                                        info.operation, notificationLimits);
    for (const auto& scope : {gatewayScope, serviceScopes[s], operationScopes[o], requesterScope,
                              requesterServiceScopes[s], requesterOpScopes[o]}) {
      if (scope) op.admissionScopes.add(*scope);
    }
  }

  entry.pacerLimits = PacerLimits::resolve(defaults, own);
  if (own != nullptr && !entry.pacerLimits.empty()) entry.pacers.emplace(entry.pacerLimits);
  requesters.push_back(std::move(entry));
}

size_t PolicyEngine::Impl::indexOf(std::string_view requester) const {
  const auto it = byName.find(requester);
  return it == byName.end() ? kDefaultEntry : it->second;
}

RequesterPacers* PolicyEngine::Impl::pacersFor(size_t index, std::string_view requester) {
  RequesterEntry& entry = requesters[index];
  if (index != kDefaultEntry) return entry.pacers ? &*entry.pacers : nullptr;
  if (entry.pacerLimits.empty()) return nullptr;
  auto it = otherPacers.find(requester);
  if (it == otherPacers.end()) {
    it = otherPacers.emplace(std::string(requester), RequesterPacers(entry.pacerLimits)).first;
  }
  return &it->second;
}

TargetDecision PolicyEngine::Impl::validate(std::string_view address, const EffectivePolicy& rules,
                                            const char* part) const {
  TargetDecision t;
  t.address = std::string(address);
  AddressParseResult parsed = parseAddress(address);
  if (!parsed.ok()) {
    t.status = parsed.error == AddressError::kUnknownScheme ? UsageStatus::kUnknownScheme
                                                            : UsageStatus::kInvalid;
  } else {
    if (!rules.allowsScheme(parsed.address.scheme)) {
      t.status = UsageStatus::kUnknownScheme;
    } else if (!rules.addressPlan.allows(parsed.address)) {
      t.status = UsageStatus::kFailedAddressPlanValidation;
    }
    t.canonical = std::move(parsed.address.canonical);
  }
  if (t.status != UsageStatus::kValid) {
    t.fault.messageId = "SVC0002";
    t.fault.variables.assign(1, part);
  }
  return t;
}

bool PolicyEngine::Impl::resolveTargets(PolicyOperation op, const EffectivePolicy& rules,
                                        const std::vector<std::string>& addresses,
                                        Decision& d) const {
  const char* part = addressPart(op);
  const bool perTarget = op == PolicyOperation::kGetStatusForGroup;
  // Refusals before the targets are complete leave none.
  const auto refuseEarly = [&](UsageStatus status, const char* messageId) {
    d.targets.clear();
    refuse(d, status, messageId, part);
    return false;
  };

  // 2. Well formed.
  if (addresses.empty() || (op == PolicyOperation::kGetStatus && addresses.size() != 1)) {
    return refuseEarly(UsageStatus::kInvalid, "SVC0002");
  }
  for (const std::string& a : addresses) {
    if (a.empty()) return refuseEarly(UsageStatus::kInvalid, "SVC0002");
  }

  // 3. Addresses (groups keep their place, as written, until step 4).
  d.targets.reserve(addresses.size());
  bool anyGroup = false;
  for (const std::string& a : addresses) {
    if (groups.isGroup(a)) {
      anyGroup = true;
      TargetDecision placeholder;
      placeholder.address = a;
      d.targets.push_back(std::move(placeholder));
      continue;
    }
    TargetDecision t = validate(a, rules, part);
    if (t.status != UsageStatus::kValid && !perTarget) return refuseEarly(t.status, "SVC0002");
    d.targets.push_back(std::move(t));
  }

  // 4. Groups, then limits on the expanded targets.
  if (anyGroup) {
    // Only entries standing for a group can have a group scheme: members and the addresses
    // validated above never do.
    const auto isGroupEntry = [&](const TargetDecision& t) { return groups.isGroup(t.address); };
    for (const TargetDecision& t : d.targets) {
      if (isGroupEntry(t) && (op == PolicyOperation::kGetStatus || !rules.groupsAllowed)) {
        return refuseEarly(UsageStatus::kGroupsNotAllowed, "POL0006");
      }
    }
    // Each group's members, resolved once (YAML, or the XCAP documents fetched before).
    std::vector<std::vector<std::string>> groupMembers;
    // A group resolved through nested lists (XCAP) is refused when a level forbids nesting
    // (NestedGroupSupport), with the STATUSCODE of groups not allowed: the seed has no other.
    for (const TargetDecision& t : d.targets) {
      if (!isGroupEntry(t)) continue;
      bool nested = false;
      std::optional<std::vector<std::string>> members = groups.members(t.address, &nested);
      if (nested && !rules.nestedGroupsAllowed) {
        return refuseEarly(UsageStatus::kGroupsNotAllowed, "POL0007");
      }
      if (!members) return refuseEarly(UsageStatus::kUnresolvedGroups, "SVC0002");
      groupMembers.push_back(std::move(*members));
    }
    std::vector<TargetDecision> expanded;
    expanded.reserve(d.targets.size());
    size_t group = 0;
    for (TargetDecision& t : d.targets) {
      if (!isGroupEntry(t)) {
        expanded.push_back(std::move(t));
        continue;
      }
      for (const std::string& member : groupMembers[group++]) {
        TargetDecision m = validate(member, rules, part);
        if (m.status != UsageStatus::kValid && !perTarget) return refuseEarly(m.status, "SVC0002");
        expanded.push_back(std::move(m));
      }
    }
    d.targets = std::move(expanded);
  }
  dedupe(d.targets);

  if (d.targets.size() > rules.maxTargets) {
    refuse(d, UsageStatus::kExceededMaxTargets, "POL0003", part);
    return false;
  }
  if (rules.processUpTo) {
    const uint32_t limit = rules.processUpTo->limit;
    if (processedTargets(d.targets) > limit) {
      if (rules.processUpTo->mode == ProcessUpToMode::kReject) {
        refuse(d, UsageStatus::kFailedProcessUpToLimit, "POL0003", part);
        return false;
      }
      d.status = UsageStatus::kFailedProcessUpToLimit;  // partial: proceed with the first `limit`
      uint32_t valid = 0;
      for (TargetDecision& t : d.targets) {
        if (t.status != UsageStatus::kValid) continue;
        if (valid < limit) {
          ++valid;
        } else {
          t.process = false;
        }
      }
    }
  }
  return true;
}

PolicyEngine::PolicyEngine(const GatewayConfig& config) : impl_(std::make_unique<Impl>(config)) {}

PolicyEngine::~PolicyEngine() = default;

std::vector<std::string> PolicyEngine::groupDocumentsNeeded(
    std::string_view requester, PolicyOperation op, const std::vector<std::string>& addresses,
    int64_t nowMs) const {
  const Impl& m = *impl_;
  if (!m.groups.xcap().enabled() || !takesAddresses(op) || op == PolicyOperation::kGetStatus) {
    return {};
  }
  const EffectivePolicy& rules =
      m.requesters[m.indexOf(requester)].operations[static_cast<size_t>(op)].rules;
  if (!rules.enabled || !rules.groupsAllowed) return {};
  return m.groups.documentsNeeded(addresses, nowMs);
}

void PolicyEngine::groupDocumentFetched(const std::string& url,
                                        std::optional<std::string_view> body,
                                        std::string_view error, int64_t nowMs) {
  impl_->groups.xcap().store(url, body, error, nowMs);
}

Decision PolicyEngine::checkService(std::string_view requester, PolicyOperation op) const {
  Decision d;
  const Impl::RequesterEntry& entry = impl_->requesters[impl_->indexOf(requester)];
  if (!entry.operations[static_cast<size_t>(op)].rules.enabled) {
    const PolicyOperationInfo& info = policyOperationInfo(op);
    refuse(d, UsageStatus::kFailedServiceNotRunning, "SVC0001",
           "service " + std::string(info.serviceName) + " is not running (" +
               std::string(info.operationName) + ")");
  }
  return d;
}

NotificationDecision PolicyEngine::checkNotificationLimits(
    std::string_view requester, const NotificationRequest& request) const {
  const Impl::RequesterEntry& entry = impl_->requesters[impl_->indexOf(requester)];
  const NotificationLimits& n =
      entry.operations[static_cast<size_t>(PolicyOperation::kStartNotification)]
          .rules.notificationLimits;
  NotificationDecision d;
  const auto refuseWith = [&](const char* messageId, std::vector<std::string> variables) {
    d.status = UsageStatus::kInvalid;
    d.refused = true;
    d.fault.messageId = messageId;
    d.fault.variables = std::move(variables);
    return d;
  };
  if (request.busyCriterion && !n.busyCriteriaAllowed) {
    return refuseWith("POL0001", {"Busy is not supported as a criterion"});
  }
  if (request.frequencyMs < n.minFrequencyMs) return refuseWith("POL0009", {});
  if (request.durationMs > uint64_t{n.maxDurationSec} * 1000) {
    return refuseWith("POL0001", {"duration longer than the maximum of " +
                                  std::to_string(n.maxDurationSec) + " seconds"});
  }
  if (!request.count) {
    if (!n.unlimitedCountAllowed) return refuseWith("POL0004", {});
  } else if (*request.count > n.maxCount) {
    return refuseWith("POL0005", {});
  }
  d.durationMs =
      request.durationMs == 0 ? uint64_t{n.defaultDurationSec} * 1000 : request.durationMs;
  return d;
}

Decision PolicyEngine::evaluate(std::string_view requester, PolicyOperation op,
                                const std::vector<std::string>& addresses, int64_t nowMs) {
  Impl& m = *impl_;
  const size_t index = m.indexOf(requester);
  const Impl::OperationEntry& operation = m.requesters[index].operations[static_cast<size_t>(op)];
  const EffectivePolicy& rules = operation.rules;

  // 1. Service running.
  Decision d = checkService(requester, op);
  if (d.refused) return d;

  // 2-4. Well formed, addresses, groups and target limits.
  if (takesAddresses(op) && !m.resolveTargets(op, rules, addresses, d)) return d;

  // 5. Admission control.
  const AdmissionControl::Admission admitted = m.admission.admit(operation.admissionScopes);
  if (admitted.id == 0) {
    const AdmissionControl::ScopeId full = *admitted.refusedBy;
    refuse(d, UsageStatus::kFailedAdmissionControl, "SVC0001",
           "server busy: too many requests in progress (" + m.admission.name(full) + ": at most " +
               std::to_string(m.admission.maxInFlight(full)) + ")");
    return d;
  }

  // 6. Privacy.
  if (!rules.privacy.empty()) {
    for (TargetDecision& t : d.targets) {
      if (t.status != UsageStatus::kValid || !t.process || rules.privacy.allows(t.canonical)) {
        continue;
      }
      if (op != PolicyOperation::kGetStatusForGroup) {
        m.admission.release(admitted.id);
        refuse(d, UsageStatus::kFailedPrivacy, "POL0002", t.address);
        return d;
      }
      t.status = UsageStatus::kFailedPrivacy;
      t.fault.messageId = "POL0002";
      t.fault.variables.assign(1, t.address);
    }
  }

  // 7. Pacing: a request weighs the targets it will fetch, at least 1.
  const uint64_t fetched = processedTargets(d.targets);
  const uint64_t weight = std::max<uint64_t>(fetched, 1);
  RequesterPacers* pacers = m.pacersFor(index, requester);
  if (pacers != nullptr) {
    if (const SlidingWindowPacer* full = pacers->refusing(op, weight, nowMs)) {
      m.admission.release(admitted.id);
      refuse(d, UsageStatus::kFailedPacer, "POL0001",
             "request rate of requester " + displayName(requester) +
                 " exceeded: " + std::to_string(full->limit().limit) + " per " +
                 std::to_string(full->limit().windowMs) + " ms");
      return d;
    }
    pacers->add(op, weight, nowMs);
  }

  // 8. Traffic shaping: one token per SIP request toward the presence server.
  if (m.presenceServer && policyOperationInfo(op).service == PolicyService::kTerminalStatus &&
      fetched > 0 && !m.presenceServer->take(fetched, nowMs)) {
    if (pacers != nullptr) pacers->refund(op, weight, nowMs);
    m.admission.release(admitted.id);
    refuse(d, UsageStatus::kFailedTrafficShaping, "SVC0001", "presence server rate limit reached");
    return d;
  }

  d.admission = admitted.id;
  return d;
}

void PolicyEngine::release(uint64_t admission) {
  impl_->admission.release(admission);
}

uint64_t PolicyEngine::inFlight() const {
  return impl_->admission.inFlight();
}

}  // namespace px::policy
