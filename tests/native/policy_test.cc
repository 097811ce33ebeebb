// PolicyEngine: every check of the documented order with its status, fault and variables, which
// failures stay with their own target, which check wins when several fail, and that a refused
// request keeps nothing (admission, pacer weight, traffic-shaping tokens). Configurations are
// built in C++; time is a fake clock passed to evaluate().
#include "policy/PolicyEngine.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "usage/UsageStatus.h"

namespace px::policy {
namespace {

using Op = PolicyOperation;
using Strings = std::vector<std::string>;

// ---------------------------------------------------------------- config helpers

PolicyRules& serviceRulesOf(PolicyLevel& level, const std::string& service = "terminalStatus") {
  return level.services[service].rules;
}

PolicyRules& operationRulesOf(PolicyLevel& level, Op op) {
  const PolicyOperationInfo& info = policyOperationInfo(op);
  return level.services[std::string(info.serviceName)].operations[std::string(info.operationName)];
}

PolicyLevel& requesterPolicy(GatewayConfig& config, const std::string& name) {
  RequesterConfig& r = config.requesters[name];
  r.name = name;
  return r.policy;
}

RateLimit rate(uint32_t limit, uint32_t windowMs) {
  RateLimit r;
  r.limit = limit;
  r.windowMs = windowMs;
  return r;
}

GatewayConfig baseConfig() {
  GatewayConfig config;
  config.groups.members["glmgroup:team"] = {"tel:+49-30-111", "sip:a@example.test", "tel:+4930222"};
  config.groups.members["glmgroup:broken"] = {"tel:+4930333", "tel:not-a-number"};
  requesterPolicy(config, "alice");
  requesterPolicy(config, "bob");
  return config;
}

// ---------------------------------------------------------------- decision helpers

std::string describe(const Decision& d) {
  std::string s =
      std::string(toString(d.status)) + (d.refused ? " refused " : " ") + d.fault.messageId;
  for (const std::string& v : d.fault.variables) s += " [" + v + "]";
  return s;
}

void expectRefused(const Decision& d, UsageStatus status, const std::string& messageId,
                   const Strings& variables) {
  EXPECT_TRUE(d.refused) << describe(d);
  EXPECT_EQ(d.status, status) << describe(d);
  EXPECT_EQ(d.fault.messageId, messageId) << describe(d);
  EXPECT_EQ(d.fault.variables, variables) << describe(d);
  EXPECT_EQ(d.admission, 0u);
}

// Refused with one free-text variable containing `fragment`.
void expectRefusedSaying(const Decision& d, UsageStatus status, const std::string& messageId,
                         const std::string& fragment) {
  EXPECT_TRUE(d.refused) << describe(d);
  EXPECT_EQ(d.status, status) << describe(d);
  EXPECT_EQ(d.fault.messageId, messageId) << describe(d);
  ASSERT_EQ(d.fault.variables.size(), 1u) << describe(d);
  EXPECT_NE(d.fault.variables[0].find(fragment), std::string::npos) << describe(d);
  EXPECT_EQ(d.admission, 0u);
}

void expectAdmitted(const Decision& d) {
  EXPECT_FALSE(d.refused) << describe(d);
  EXPECT_EQ(d.status, UsageStatus::kValid) << describe(d);
  EXPECT_TRUE(d.fault.messageId.empty()) << describe(d);
  EXPECT_NE(d.admission, 0u);
}

void expectTarget(const TargetDecision& t, const std::string& address, const std::string& canonical,
                  UsageStatus status, const std::string& messageId = "",
                  const Strings& variables = {}) {
  EXPECT_EQ(t.address, address);
  EXPECT_EQ(t.canonical, canonical) << address;
  EXPECT_EQ(t.status, status) << address << ": " << toString(t.status);
  EXPECT_EQ(t.fault.messageId, messageId) << address;
  EXPECT_EQ(t.fault.variables, variables) << address;
}

// ---------------------------------------------------------------- valid requests

TEST(PolicyEngine, ValidGetStatusIsAdmittedUntilReleased) {
  PolicyEngine engine(baseConfig());
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"tel:+49-30-123"}, 0);
  expectAdmitted(d);
  ASSERT_EQ(d.targets.size(), 1u);
  expectTarget(d.targets[0], "tel:+49-30-123", "tel:+4930123", UsageStatus::kValid);
  EXPECT_TRUE(d.targets[0].process);
  EXPECT_EQ(engine.inFlight(), 1u);
  engine.release(d.admission);
  EXPECT_EQ(engine.inFlight(), 0u);
  engine.release(d.admission);  // repeated: ignored
  engine.release(987654321);    // unknown: ignored
  EXPECT_EQ(engine.inFlight(), 0u);
}

TEST(PolicyEngine, OperationsWithoutAddressesIgnoreThem) {
  PolicyEngine engine(baseConfig());
  const Decision d = engine.evaluate("alice", Op::kEndNotification, {"garbage"}, 0);
  expectAdmitted(d);
  EXPECT_TRUE(d.targets.empty());
  expectAdmitted(engine.evaluate("alice", Op::kStopCallNotification, {}, 0));
}

// ---------------------------------------------------------------- 1. service running

TEST(PolicyEngine, DisabledServiceIsNotRunning) {
  GatewayConfig config = baseConfig();
  serviceRulesOf(config.policy.defaults).enabled = false;
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"tel:+4930123"}, 0);
  expectRefusedSaying(d, UsageStatus::kFailedServiceNotRunning, "SVC0001", "terminalStatus");
  EXPECT_TRUE(d.targets.empty());
  EXPECT_EQ(engine.inFlight(), 0u);
  expectRefusedSaying(engine.checkService("", Op::kEndNotification),
                      UsageStatus::kFailedServiceNotRunning, "SVC0001", "terminalStatus");
  // Call Notification is another service.
  EXPECT_FALSE(engine.checkService("alice", Op::kStartCallNotification).refused);
}

TEST(PolicyEngine, DisabledOperationOrRequesterOnly) {
  GatewayConfig config = baseConfig();
  operationRulesOf(config.policy.defaults, Op::kStartNotification).enabled = false;
  serviceRulesOf(requesterPolicy(config, "bob")).enabled = false;
  PolicyEngine engine(config);
  const Decision start = engine.checkService("alice", Op::kStartNotification);
  EXPECT_TRUE(start.refused);
  EXPECT_EQ(start.status, UsageStatus::kFailedServiceNotRunning);
  EXPECT_FALSE(engine.checkService("alice", Op::kGetStatus).refused);
  EXPECT_EQ(engine.checkService("alice", Op::kGetStatus).status, UsageStatus::kValid);
  EXPECT_TRUE(engine.checkService("bob", Op::kGetStatus).refused);
  EXPECT_FALSE(engine.checkService("carol", Op::kGetStatus).refused);  // unknown: defaults
  EXPECT_FALSE(engine.checkService("", Op::kGetStatus).refused);
}

TEST(PolicyEngine, ServiceNotRunningBeatsABadAddress) {
  GatewayConfig config = baseConfig();
  serviceRulesOf(config.policy.defaults).enabled = false;
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"mailto:x@y"}, 0);
  EXPECT_EQ(d.status, UsageStatus::kFailedServiceNotRunning) << describe(d);
}

// ---------------------------------------------------------------- 2. well formed

TEST(PolicyEngine, MalformedRequestsAreInvalid) {
  PolicyEngine engine(baseConfig());
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {}, 0), UsageStatus::kInvalid, "SVC0002",
                {"address"});
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930123", "tel:+4930124"}, 0),
                UsageStatus::kInvalid, "SVC0002", {"address"});
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {""}, 0), UsageStatus::kInvalid, "SVC0002",
                {"address"});
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup, {}, 0), UsageStatus::kInvalid,
                "SVC0002", {"addresses"});
  // An empty entry makes the whole group request malformed, not only its own entry.
  const Decision d = engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+4930123", ""}, 0);
  expectRefused(d, UsageStatus::kInvalid, "SVC0002", {"addresses"});
  EXPECT_TRUE(d.targets.empty());
  expectRefused(engine.evaluate("alice", Op::kStartNotification, {}, 0), UsageStatus::kInvalid,
                "SVC0002", {"addresses"});
  expectRefused(engine.evaluate("alice", Op::kStartCallNotification, {}, 0), UsageStatus::kInvalid,
                "SVC0002", {"addresses"});
  EXPECT_EQ(engine.inFlight(), 0u);
}

// ---------------------------------------------------------------- 3. address validation

TEST(PolicyEngine, UnknownSchemeRefusesGetStatus) {
  PolicyEngine engine(baseConfig());
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"mailto:x@example.test"}, 0),
                UsageStatus::kUnknownScheme, "SVC0002", {"address"});
}

TEST(PolicyEngine, SchemeOutsideAllowedSchemesIsUnknownScheme) {
  GatewayConfig config = baseConfig();
  serviceRulesOf(requesterPolicy(config, "alice")).allowedSchemes =
      std::vector<AddressScheme>{AddressScheme::kTel};
  PolicyEngine engine(config);
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"sip:b@example.test"}, 0),
                UsageStatus::kUnknownScheme, "SVC0002", {"address"});
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930123"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"sip:b@example.test"}, 0));
}

TEST(PolicyEngine, UnparsableAddressIsInvalid) {
  PolicyEngine engine(baseConfig());
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:12ab"}, 0), UsageStatus::kInvalid,
                "SVC0002", {"address"});
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {" tel:+4930123"}, 0),
                UsageStatus::kInvalid, "SVC0002", {"address"});
}

TEST(PolicyEngine, AddressPlanFailure) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.addressPlan.e164Only = true;
  config.policy.defaults.rules.addressPlan.sipDomains = std::vector<std::string>{"example.test"};
  PolicyEngine engine(config);
  expectRefused(
      engine.evaluate("alice", Op::kGetStatus, {"tel:1234;phone-context=example.test"}, 0),
      UsageStatus::kFailedAddressPlanValidation, "SVC0002", {"address"});
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"sip:x@elsewhere.test"}, 0),
                UsageStatus::kFailedAddressPlanValidation, "SVC0002", {"address"});
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"sip:x@ims.example.test"}, 0));
}

TEST(PolicyEngine, StartNotificationIsRefusedByItsFirstBadAddress) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.addressPlan.countryCodes = std::vector<std::string>{"49"};
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kStartNotification,
                                     {"tel:+4930123", "tel:+3312345", "mailto:x@y"}, 0);
  expectRefused(d, UsageStatus::kFailedAddressPlanValidation, "SVC0002", {"addresses"});
  EXPECT_TRUE(d.targets.empty());
  EXPECT_EQ(engine.inFlight(), 0u);
}

TEST(PolicyEngine, GroupRequestMarksOnlyTheFailingTargets) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.addressPlan.e164Only = true;
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kGetStatusForGroup,
                                     {"tel:+4930123", "mailto:x@y", "tel:12ab",
                                      "tel:1234;phone-context=example.test", "sip:b@example.test"},
                                     0);
  expectAdmitted(d);
  ASSERT_EQ(d.targets.size(), 5u);
  expectTarget(d.targets[0], "tel:+4930123", "tel:+4930123", UsageStatus::kValid);
  expectTarget(d.targets[1], "mailto:x@y", "", UsageStatus::kUnknownScheme, "SVC0002",
               {"addresses"});
  expectTarget(d.targets[2], "tel:12ab", "", UsageStatus::kInvalid, "SVC0002", {"addresses"});
  expectTarget(d.targets[3], "tel:1234;phone-context=example.test",
               "tel:1234;phone-context=example.test", UsageStatus::kFailedAddressPlanValidation,
               "SVC0002", {"addresses"});
  expectTarget(d.targets[4], "sip:b@example.test", "sip:b@example.test", UsageStatus::kValid);
}

// ---------------------------------------------------------------- 4. groups

TEST(PolicyEngine, GroupInGetStatusIsNeverAllowed) {
  PolicyEngine engine(baseConfig());
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"glmgroup:team"}, 0);
  expectRefused(d, UsageStatus::kGroupsNotAllowed, "POL0006", {"address"});
  EXPECT_TRUE(d.targets.empty());
}

TEST(PolicyEngine, GroupsNotAllowedForOneRequester) {
  GatewayConfig config = baseConfig();
  requesterPolicy(config, "alice").rules.groupsAllowed = false;
  PolicyEngine engine(config);
  expectRefused(
      engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+4930123", "glmgroup:team"}, 0),
      UsageStatus::kGroupsNotAllowed, "POL0006", {"addresses"});
  expectRefused(engine.evaluate("alice", Op::kStartNotification, {"GLMGROUP:team"}, 0),
                UsageStatus::kGroupsNotAllowed, "POL0006", {"addresses"});
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+4930123"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatusForGroup, {"glmgroup:team"}, 0));
}

TEST(PolicyEngine, UnknownGroupIsUnresolved) {
  PolicyEngine engine(baseConfig());
  const Decision d =
      engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+4930123", "glmgroup:nobody"}, 0);
  expectRefused(d, UsageStatus::kUnresolvedGroups, "SVC0002", {"addresses"});
  EXPECT_TRUE(d.targets.empty());
  // Group names are compared as written after the scheme.
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup, {"glmgroup:TEAM"}, 0),
                UsageStatus::kUnresolvedGroups, "SVC0002", {"addresses"});
}

TEST(PolicyEngine, GroupsAreExpandedInPlaceAndTargetsDeduplicated) {
  PolicyEngine engine(baseConfig());
  const Decision d = engine.evaluate(
      "alice", Op::kGetStatusForGroup,
      {"tel:+4930111", "GlmGroup:team", "sip:a@EXAMPLE.test", "tel:+49-30-999", "tel:+4930999"}, 0);
  expectAdmitted(d);
  ASSERT_EQ(d.targets.size(), 4u);
  // The member "tel:+49-30-111" is the same target as the first address: the first is kept.
  expectTarget(d.targets[0], "tel:+4930111", "tel:+4930111", UsageStatus::kValid);
  expectTarget(d.targets[1], "sip:a@example.test", "sip:a@example.test", UsageStatus::kValid);
  expectTarget(d.targets[2], "tel:+4930222", "tel:+4930222", UsageStatus::kValid);
  expectTarget(d.targets[3], "tel:+49-30-999", "tel:+4930999", UsageStatus::kValid);
}

TEST(PolicyEngine, UnparsableDuplicatesAreMergedByTheirText) {
  PolicyEngine engine(baseConfig());
  const Decision d = engine.evaluate("alice", Op::kGetStatusForGroup,
                                     {"mailto:a@x", "mailto:b@x", "mailto:a@x"}, 0);
  ASSERT_EQ(d.targets.size(), 2u);
  EXPECT_EQ(d.targets[0].address, "mailto:a@x");
  EXPECT_EQ(d.targets[1].address, "mailto:b@x");
}

TEST(PolicyEngine, ManyTargetsAreDeduplicatedInOrder) {
  PolicyEngine engine(baseConfig());
  Strings addresses;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) addresses.push_back("tel:+49301" + std::to_string(100 + i));
  }
  const Decision d = engine.evaluate("alice", Op::kGetStatusForGroup, addresses, 0);
  expectAdmitted(d);
  ASSERT_EQ(d.targets.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(d.targets[i].canonical, "tel:+49301" + std::to_string(100 + i));
  }
}

TEST(PolicyEngine, GroupMembersAreValidatedLikeAddresses) {
  PolicyEngine engine(baseConfig());
  // In a group request a bad member only marks itself.
  const Decision group = engine.evaluate("alice", Op::kGetStatusForGroup, {"glmgroup:broken"}, 0);
  expectAdmitted(group);
  ASSERT_EQ(group.targets.size(), 2u);
  expectTarget(group.targets[0], "tel:+4930333", "tel:+4930333", UsageStatus::kValid);
  expectTarget(group.targets[1], "tel:not-a-number", "", UsageStatus::kInvalid, "SVC0002",
               {"addresses"});
  // Elsewhere it refuses the request.
  const Decision start = engine.evaluate("alice", Op::kStartNotification, {"glmgroup:broken"}, 0);
  expectRefused(start, UsageStatus::kInvalid, "SVC0002", {"addresses"});
  EXPECT_TRUE(start.targets.empty());
}

TEST(PolicyEngine, BadAddressBeatsABadGroup) {
  PolicyEngine engine(baseConfig());
  // Step 3 (addresses) runs before step 4 (groups), whatever their order in the request.
  expectRefused(
      engine.evaluate("alice", Op::kStartNotification, {"glmgroup:nobody", "mailto:x@y"}, 0),
      UsageStatus::kUnknownScheme, "SVC0002", {"addresses"});
}

TEST(PolicyEngine, GroupsNotAllowedBeatsUnresolvedGroup) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.groupsAllowed = false;
  PolicyEngine engine(config);
  expectRefused(engine.evaluate("bob", Op::kGetStatusForGroup, {"glmgroup:nobody"}, 0),
                UsageStatus::kGroupsNotAllowed, "POL0006", {"addresses"});
}

TEST(PolicyEngine, MaxTargetsCountsDistinctTargetsAfterExpansion) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.maxTargets = 3;
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"glmgroup:team"}, 0));
  const Decision over =
      engine.evaluate("alice", Op::kGetStatusForGroup, {"glmgroup:team", "tel:+4930444"}, 0);
  expectRefused(over, UsageStatus::kExceededMaxTargets, "POL0003", {"addresses"});
  EXPECT_EQ(over.targets.size(), 4u);  // refused after expansion: the targets are known
  // Duplicates do not count; failed targets do.
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup,
                                 {"tel:+4930111", "glmgroup:team", "tel:+49-30-111"}, 0));
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup,
                                {"tel:+4930001", "tel:+4930002", "tel:+4930003", "mailto:x@y"}, 0),
                UsageStatus::kExceededMaxTargets, "POL0003", {"addresses"});
  expectRefused(
      engine.evaluate("alice", Op::kStartNotification,
                      {"tel:+4930001", "tel:+4930002", "tel:+4930003", "tel:+4930004"}, 0),
      UsageStatus::kExceededMaxTargets, "POL0003", {"addresses"});
}

TEST(PolicyEngine, DefaultMaxTargetsIsOneHundred) {
  PolicyEngine engine(baseConfig());
  Strings addresses;
  for (int i = 0; i < 100; ++i) addresses.push_back("tel:+4930" + std::to_string(1000 + i));
  const Decision hundred = engine.evaluate("alice", Op::kGetStatusForGroup, addresses, 0);
  expectAdmitted(hundred);
  addresses.push_back("tel:+49309999");
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup, addresses, 0),
                UsageStatus::kExceededMaxTargets, "POL0003", {"addresses"});
}

TEST(PolicyEngine, RequesterOverrideAppliesToThatRequesterOnly) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.maxTargets = 10;
  operationRulesOf(requesterPolicy(config, "alice"), Op::kGetStatusForGroup).maxTargets = 2;
  PolicyEngine engine(config);
  const Strings three = {"tel:+4930001", "tel:+4930002", "tel:+4930003"};
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup, three, 0),
                UsageStatus::kExceededMaxTargets, "POL0003", {"addresses"});
  expectAdmitted(engine.evaluate("alice", Op::kStartNotification, three, 0));  // other operation
  expectAdmitted(engine.evaluate("bob", Op::kGetStatusForGroup, three, 0));
  expectAdmitted(engine.evaluate("mallory", Op::kGetStatusForGroup, three, 0));  // unknown
  expectAdmitted(engine.evaluate("", Op::kGetStatusForGroup, three, 0));         // anonymous
}

TEST(PolicyEngine, ProcessUpToRejectMode) {
  GatewayConfig config = baseConfig();
  serviceRulesOf(config.policy.defaults).processUpTo = ProcessUpTo{2, ProcessUpToMode::kReject};
  PolicyEngine engine(config);
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup,
                                {"tel:+4930001", "tel:+4930002", "tel:+4930003"}, 0),
                UsageStatus::kFailedProcessUpToLimit, "POL0003", {"addresses"});
  // Only targets that would be fetched count.
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup,
                                 {"tel:+4930001", "mailto:x@y", "tel:+4930002"}, 0));
  // getStatusForGroup only.
  expectAdmitted(engine.evaluate("alice", Op::kStartNotification,
                                 {"tel:+4930001", "tel:+4930002", "tel:+4930003"}, 0));
  EXPECT_EQ(engine.inFlight(), 2u);
}

TEST(PolicyEngine, ProcessUpToPartialModeLeavesTheRestOut) {
  GatewayConfig config = baseConfig();
  operationRulesOf(config.policy.defaults, Op::kGetStatusForGroup).processUpTo =
      ProcessUpTo{2, ProcessUpToMode::kPartial};
  config.policy.defaults.rules.pacer = rate(3, 1000);
  PolicyEngine engine(config);
  const Decision d = engine.evaluate(
      "alice", Op::kGetStatusForGroup,
      {"tel:+4930001", "mailto:x@y", "tel:+4930002", "tel:+4930003", "tel:+4930004"}, 0);
  EXPECT_FALSE(d.refused) << describe(d);
  EXPECT_EQ(d.status, UsageStatus::kFailedProcessUpToLimit);
  EXPECT_NE(d.admission, 0u);
  ASSERT_EQ(d.targets.size(), 5u);
  const std::vector<bool> expected = {true, true, true, false, false};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(d.targets[i].process, expected[i]) << d.targets[i].address;
  }
  EXPECT_EQ(d.targets[1].status, UsageStatus::kUnknownScheme);
  EXPECT_EQ(d.targets[3].status, UsageStatus::kValid);  // valid, just not processed
  // It weighed 2 (the processed targets), not 4: one more unit fits the pacer of 3, two do not.
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+1", "tel:+2"}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "3 per 1000 ms");
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+1"}, 0));
}

// ---------------------------------------------------------------- 5. admission control

TEST(PolicyEngine, GatewayMaxInFlight) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.maxInFlight = 2;
  PolicyEngine engine(config);
  const Decision a = engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0);
  const Decision b = engine.evaluate("bob", Op::kEndNotification, {}, 0);
  expectAdmitted(a);
  expectAdmitted(b);
  EXPECT_NE(a.admission, b.admission);
  const Decision c = engine.evaluate("", Op::kStartCallNotification, {"tel:+4930001"}, 0);
  expectRefusedSaying(c, UsageStatus::kFailedAdmissionControl, "SVC0001", "server busy");
  EXPECT_NE(c.fault.variables[0].find("gateway"), std::string::npos) << describe(c);
  EXPECT_EQ(engine.inFlight(), 2u);
  engine.release(a.admission);
  expectAdmitted(engine.evaluate("", Op::kStartCallNotification, {"tel:+4930001"}, 0));
}

TEST(PolicyEngine, ServiceAndOperationScopes) {
  GatewayConfig config = baseConfig();
  serviceRulesOf(config.policy.defaults).maxInFlight = 3;
  operationRulesOf(config.policy.defaults, Op::kGetStatus).maxInFlight = 1;
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectRefusedSaying(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001", "getStatus");
  expectAdmitted(engine.evaluate("bob", Op::kGetStatusForGroup, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kEndNotification, {}, 0));
  expectRefusedSaying(engine.evaluate("bob", Op::kEndNotification, {}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001", "terminalStatus");
  // Another service is not counted in terminalStatus.
  expectAdmitted(engine.evaluate("bob", Op::kStopCallNotification, {}, 0));
  EXPECT_EQ(engine.inFlight(), 4u);
}

TEST(PolicyEngine, RequesterScopes) {
  GatewayConfig config = baseConfig();
  PolicyLevel& alice = requesterPolicy(config, "alice");
  alice.rules.maxInFlight = 3;
  serviceRulesOf(alice).maxInFlight = 2;
  operationRulesOf(alice, Op::kGetStatus).maxInFlight = 1;
  PolicyEngine engine(config);
  const Decision first = engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0);
  expectAdmitted(first);
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001", "alice");
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("mallory", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("alice", Op::kEndNotification, {}, 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kEndNotification, {}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001",
                      "requester alice, service terminalStatus");
  expectAdmitted(engine.evaluate("alice", Op::kStopCallNotification, {}, 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kStopCallNotification, {}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001", "requester alice");
  engine.release(first.admission);
  expectAdmitted(engine.evaluate("alice", Op::kStopCallNotification, {}, 0));
}

TEST(PolicyEngine, BadAddressBeatsAdmissionControl) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.maxInFlight = 1;
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kEndNotification, {}, 0));
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"mailto:x@y"}, 0),
                UsageStatus::kUnknownScheme, "SVC0002", {"address"});
}

// ---------------------------------------------------------------- 6. privacy

TEST(PolicyEngine, OptedOutTargetRefusesGetStatusAndReleasesAdmission) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.privacy.optedOut = {"tel:+4930666"};
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"tel:+49-30-666"}, 0);
  expectRefused(d, UsageStatus::kFailedPrivacy, "POL0002", {"tel:+49-30-666"});
  EXPECT_EQ(engine.inFlight(), 0u);
  expectRefused(
      engine.evaluate("alice", Op::kStartNotification, {"tel:+4930001", "tel:+4930666"}, 0),
      UsageStatus::kFailedPrivacy, "POL0002", {"tel:+4930666"});
  EXPECT_EQ(engine.inFlight(), 0u);
}

TEST(PolicyEngine, PrivacyInAGroupRequestMarksOnlyItsTarget) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.privacy.optedOut = {"tel:+4930222"};
  PolicyEngine engine(config);
  const Decision d =
      engine.evaluate("alice", Op::kGetStatusForGroup, {"glmgroup:team", "tel:+4930001"}, 0);
  expectAdmitted(d);
  ASSERT_EQ(d.targets.size(), 4u);
  expectTarget(d.targets[2], "tel:+4930222", "tel:+4930222", UsageStatus::kFailedPrivacy, "POL0002",
               {"tel:+4930222"});
  EXPECT_EQ(d.targets[0].status, UsageStatus::kValid);
  EXPECT_EQ(d.targets[3].status, UsageStatus::kValid);
}

TEST(PolicyEngine, RequesterAllowList) {
  GatewayConfig config = baseConfig();
  requesterPolicy(config, "alice").rules.privacy.allowedTargets =
      std::vector<std::string>{"sip:*@example.test", "tel:+4930*"};
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"sip:x@example.test"}, 0));
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930123"}, 0));
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:+4940123"}, 0),
                UsageStatus::kFailedPrivacy, "POL0002", {"tel:+4940123"});
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4940123"}, 0));
  expectAdmitted(engine.evaluate("", Op::kGetStatus, {"tel:+4940123"}, 0));
}

TEST(PolicyEngine, AdmissionControlBeatsPrivacy) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.maxInFlight = 1;
  config.policy.defaults.rules.privacy.optedOut = {"tel:+4930666"};
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kEndNotification, {}, 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930666"}, 0),
                      UsageStatus::kFailedAdmissionControl, "SVC0001", "server busy");
}

// ---------------------------------------------------------------- 7. pacer

TEST(PolicyEngine, PacerLimitsEachRequesterSeparately) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.pacer = rate(2, 1000);
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 100));
  expectAdmitted(engine.evaluate("alice", Op::kEndNotification, {}, 200));
  const Decision d = engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 300);
  expectRefusedSaying(d, UsageStatus::kFailedPacer, "POL0001", "alice");
  EXPECT_NE(d.fault.variables[0].find("2 per 1000 ms"), std::string::npos) << describe(d);
  EXPECT_EQ(engine.inFlight(), 2u);  // the refused one was released
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 300));
  // Unknown requesters each have their own window, "" (anonymous) too.
  for (const char* name : {"mallory", "trudy", ""}) {
    expectAdmitted(engine.evaluate(name, Op::kGetStatus, {"tel:+4930001"}, 300));
    expectAdmitted(engine.evaluate(name, Op::kGetStatus, {"tel:+4930001"}, 300));
    expectRefusedSaying(engine.evaluate(name, Op::kGetStatus, {"tel:+4930001"}, 300),
                        UsageStatus::kFailedPacer, "POL0001",
                        *name ? std::string(name) : std::string("(anonymous)"));
  }
  // Sliding: at 1500 alice's previous window (2) weighs 1.
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 1500));
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 1500),
                      UsageStatus::kFailedPacer, "POL0001", "alice");
}

TEST(PolicyEngine, PacerWeighsTheTargetsToFetch) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.pacer = rate(3, 1000);
  PolicyEngine engine(config);
  // Four targets, one of them invalid: weight 3.
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup,
                                 {"tel:+4930001", "tel:+4930002", "mailto:x@y", "tel:+4930003"},
                                 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kEndNotification, {}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "alice");
  // A request heavier than the limit never passes.
  expectRefusedSaying(
      engine.evaluate("bob", Op::kStartNotification,
                      {"tel:+4930001", "tel:+4930002", "tel:+4930003", "tel:+4930004"}, 0),
      UsageStatus::kFailedPacer, "POL0001", "bob");
  // A group request with no valid target still weighs 1.
  expectAdmitted(engine.evaluate("bob", Op::kGetStatusForGroup, {"mailto:x@y"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectRefusedSaying(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "bob");
}

TEST(PolicyEngine, PacerPerServiceAndOperationWithRequesterValues) {
  GatewayConfig config = baseConfig();
  operationRulesOf(config.policy.defaults, Op::kGetStatus).pacer = rate(2, 1000);
  serviceRulesOf(config.policy.defaults).pacer = rate(10, 1000);
  // alice's own operation-level value replaces the default for her (here: 1).
  operationRulesOf(requesterPolicy(config, "alice"), Op::kGetStatus).pacer = rate(1, 1000);
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "1 per 1000 ms");
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0));
  expectRefusedSaying(engine.evaluate("bob", Op::kGetStatus, {"tel:+4930001"}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "2 per 1000 ms");
  // The service window (10) counts all of bob's terminalStatus requests: 2 so far.
  for (int i = 0; i < 8; ++i) expectAdmitted(engine.evaluate("bob", Op::kEndNotification, {}, 0));
  expectRefusedSaying(engine.evaluate("bob", Op::kEndNotification, {}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "10 per 1000 ms");
  expectAdmitted(engine.evaluate("bob", Op::kStopCallNotification, {}, 0));  // other service
}

TEST(PolicyEngine, PrivacyRefusalDoesNotConsumeThePacer) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.pacer = rate(1, 1000);
  config.policy.defaults.rules.privacy.optedOut = {"tel:+4930666"};
  PolicyEngine engine(config);
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930666"}, 0),
                UsageStatus::kFailedPrivacy, "POL0002", {"tel:+4930666"});
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930001"}, 0));
  // And privacy beats the pacer: the window is full now, the opted-out target still says privacy.
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930666"}, 0),
                UsageStatus::kFailedPrivacy, "POL0002", {"tel:+4930666"});
}

TEST(PolicyEngine, PrivacyRefusedTargetsDoNotWeigh) {
  GatewayConfig config = baseConfig();
  config.policy.defaults.rules.pacer = rate(2, 1000);
  config.policy.defaults.rules.privacy.optedOut = {"tel:+4930666", "tel:+4930667"};
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup,
                                 {"tel:+4930666", "tel:+4930001", "tel:+4930667"}, 0));
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930002"}, 0));
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+4930002"}, 0),
                      UsageStatus::kFailedPacer, "POL0001", "alice");
}

// ---------------------------------------------------------------- 8. traffic shaping

TEST(PolicyEngine, TrafficShapingTowardThePresenceServer) {
  GatewayConfig config = baseConfig();
  config.policy.trafficShaping["presenceServer"] = TrafficShapingRule{1, 3};  // 1/s, burst 3
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+1", "tel:+2"}, 0));
  const Decision d = engine.evaluate("bob", Op::kStartNotification, {"tel:+1", "tel:+2"}, 0);
  expectRefused(d, UsageStatus::kFailedTrafficShaping, "SVC0001",
                {"presence server rate limit reached"});
  EXPECT_EQ(engine.inFlight(), 1u);
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+1"}, 0));  // the last token
  // Operations that send nothing to the presence server take no token.
  expectAdmitted(engine.evaluate("bob", Op::kEndNotification, {}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kGetStatusForGroup, {"mailto:x@y"}, 0));
  expectAdmitted(engine.evaluate("bob", Op::kStartCallNotification, {"tel:+1"}, 0));
  expectRefused(engine.evaluate("bob", Op::kGetStatus, {"tel:+1"}, 999),
                UsageStatus::kFailedTrafficShaping, "SVC0001",
                {"presence server rate limit reached"});
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+1"}, 1000));
}

TEST(PolicyEngine, TrafficShapingRefusalRefundsThePacerAndReleasesAdmission) {
  GatewayConfig config = baseConfig();
  config.policy.trafficShaping["presenceServer"] = TrafficShapingRule{1, 3};  // 1/s, burst 3
  config.policy.defaults.rules.pacer = rate(4, 10000);
  config.policy.defaults.rules.maxInFlight = 10;
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+1", "tel:+2"}, 0));
  expectRefused(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+3", "tel:+4"}, 0),
                UsageStatus::kFailedTrafficShaping, "SVC0001",
                {"presence server rate limit reached"});
  EXPECT_EQ(engine.inFlight(), 1u);
  // Had the refused request kept its pacer weight (2), this one (2 more) would exceed 4.
  expectAdmitted(engine.evaluate("alice", Op::kGetStatusForGroup, {"tel:+3", "tel:+4"}, 1000));
  expectRefusedSaying(engine.evaluate("alice", Op::kEndNotification, {}, 1000),
                      UsageStatus::kFailedPacer, "POL0001", "alice");
}

TEST(PolicyEngine, PacerRefusalTakesNoShapingToken) {
  GatewayConfig config = baseConfig();
  config.policy.trafficShaping["presenceServer"] = TrafficShapingRule{1, 1};  // 1/s, burst 1
  requesterPolicy(config, "alice").rules.pacer = rate(1, 1000);
  PolicyEngine engine(config);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+1"}, 0));
  // At 1000 a token is back; alice's previous window still weighs 1: the pacer refuses her.
  expectRefusedSaying(engine.evaluate("alice", Op::kGetStatus, {"tel:+1"}, 1000),
                      UsageStatus::kFailedPacer, "POL0001", "alice");
  // So the token is still there for bob.
  expectAdmitted(engine.evaluate("bob", Op::kGetStatus, {"tel:+1"}, 1000));
}

TEST(PolicyEngine, PartialModeTakesTokensForProcessedTargetsOnly) {
  GatewayConfig config = baseConfig();
  config.policy.trafficShaping["presenceServer"] = TrafficShapingRule{1, 3};
  operationRulesOf(config.policy.defaults, Op::kGetStatusForGroup).processUpTo =
      ProcessUpTo{2, ProcessUpToMode::kPartial};
  PolicyEngine engine(config);
  const Decision d = engine.evaluate("alice", Op::kGetStatusForGroup,
                                     {"tel:+1", "tel:+2", "tel:+3", "tel:+4", "tel:+5"}, 0);
  EXPECT_FALSE(d.refused) << describe(d);
  EXPECT_EQ(d.status, UsageStatus::kFailedProcessUpToLimit);
  expectAdmitted(engine.evaluate("alice", Op::kGetStatus, {"tel:+6"}, 0));
  expectRefused(engine.evaluate("alice", Op::kGetStatus, {"tel:+7"}, 0),
                UsageStatus::kFailedTrafficShaping, "SVC0001",
                {"presence server rate limit reached"});
}

// ---------------------------------------------------------------- configuration errors

TEST(PolicyEngine, BadTelPatternIsRefusedAtConstruction) {
  GatewayConfig config = baseConfig();
  requesterPolicy(config, "alice").rules.addressPlan.telPatterns = {"[0-9"};
  EXPECT_THROW(PolicyEngine engine(config), std::invalid_argument);
}

}  // namespace
}  // namespace px::policy
