// The per-requester notification limits: how the levels combine (EffectivePolicy, most
// restrictive wins) and what PolicyEngine::checkNotificationLimits answers for each limit, in
// its documented order, for configured, unknown and anonymous requesters.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "policy/EffectivePolicy.h"
#include "policy/PolicyEngine.h"
#include "usage/UsageStatus.h"

namespace px::policy {
namespace {

constexpr auto kStart = PolicyOperation::kStartNotification;

NotificationLimitRules& serviceLimits(PolicyLevel& level) {
  return level.services["terminalStatus"].rules.notifications;
}

NotificationLimitRules& operationLimits(PolicyLevel& level) {
  return level.services["terminalStatus"].operations["startNotification"].notifications;
}

PolicyLevel& requesterPolicy(GatewayConfig& config, const std::string& name) {
  RequesterConfig& r = config.requesters[name];
  r.name = name;
  return r.policy;
}

NotificationRequest request(uint64_t frequencyMs, uint64_t durationMs,
                            std::optional<uint32_t> count = std::nullopt, bool busy = false) {
  NotificationRequest r;
  r.frequencyMs = frequencyMs;
  r.durationMs = durationMs;
  r.count = count;
  r.busyCriterion = busy;
  return r;
}

std::string describe(const NotificationDecision& d) {
  std::string s =
      std::string(toString(d.status)) + (d.refused ? " refused " : " ") + d.fault.messageId;
  for (const std::string& v : d.fault.variables) s += " [" + v + "]";
  return s;
}

void expectRefused(const NotificationDecision& d, const std::string& messageId,
                   const std::vector<std::string>& variables = {}) {
  EXPECT_TRUE(d.refused) << describe(d);
  EXPECT_EQ(d.status, UsageStatus::kInvalid) << describe(d);
  EXPECT_EQ(d.fault.messageId, messageId) << describe(d);
  EXPECT_EQ(d.fault.variables, variables) << describe(d);
}

void expectAccepted(const NotificationDecision& d, uint64_t durationMs) {
  EXPECT_FALSE(d.refused) << describe(d);
  EXPECT_EQ(d.status, UsageStatus::kValid) << describe(d);
  EXPECT_EQ(d.durationMs, durationMs) << describe(d);
}

TEST(NotificationLimitsResolve, TheNotificationsSectionAloneIsTheGlobalLevel) {
  NotificationsConfig section;
  section.maxDurationSec = 7200;
  section.defaultDurationSec = 600;
  const PolicyLevel defaults;
  const NotificationLimits n =
      EffectivePolicy::resolve(PolicyLevels::collect(defaults, nullptr, kStart), kStart,
                               section.limits())
          .notificationLimits;
  EXPECT_EQ(n.maxDurationSec, 7200u);
  EXPECT_EQ(n.defaultDurationSec, 600u);
  EXPECT_EQ(n.minFrequencyMs, 1000u);
  EXPECT_TRUE(n.unlimitedCountAllowed);
  EXPECT_EQ(n.maxCount, 100000u);
  EXPECT_TRUE(n.busyCriteriaAllowed);
}

TEST(NotificationLimitsResolve, MostRestrictiveOfEveryLevel) {
  PolicyLevel defaults;
  serviceLimits(defaults).maxCount = 500;
  serviceLimits(defaults).minFrequencyMs = 2000;
  operationLimits(defaults).maxDurationSec = 7200;
  PolicyLevel own;
  own.rules.notifications.busyCriteriaAllowed = false;
  own.rules.notifications.minFrequencyMs = 5000;
  serviceLimits(own).maxCount = 50;
  operationLimits(own).unlimitedCountAllowed = false;
  operationLimits(own).defaultDurationSec = 300;

  const NotificationLimits n =
      EffectivePolicy::resolve(PolicyLevels::collect(defaults, &own, kStart), kStart)
          .notificationLimits;
  EXPECT_EQ(n.maxDurationSec, 7200u);     // global operation
  EXPECT_EQ(n.defaultDurationSec, 300u);  // requester operation
  EXPECT_EQ(n.minFrequencyMs, 5000u);     // requester level: the largest
  EXPECT_FALSE(n.unlimitedCountAllowed);  // requester operation
  EXPECT_EQ(n.maxCount, 50u);             // requester service: the smallest
  EXPECT_FALSE(n.busyCriteriaAllowed);    // requester level

  // Another requester (or none) keeps the global levels only.
  const NotificationLimits other =
      EffectivePolicy::resolve(PolicyLevels::collect(defaults, nullptr, kStart), kStart)
          .notificationLimits;
  EXPECT_EQ(other.maxCount, 500u);
  EXPECT_EQ(other.minFrequencyMs, 2000u);
  EXPECT_TRUE(other.busyCriteriaAllowed);
  EXPECT_EQ(other.defaultDurationSec, 3600u);
}

TEST(NotificationLimitsResolve, ALowerMaximumShortensTheInheritedDefault) {
  PolicyLevel defaults;
  PolicyLevel own;
  own.rules.notifications.maxDurationSec = 600;  // global default 3600
  const NotificationLimits n =
      EffectivePolicy::resolve(PolicyLevels::collect(defaults, &own, kStart), kStart)
          .notificationLimits;
  EXPECT_EQ(n.maxDurationSec, 600u);
  EXPECT_EQ(n.defaultDurationSec, 600u);
}

// Two requesters with different limits, the global section and anonymous / unknown requesters.
class NotificationLimitsEngine : public ::testing::Test {
 protected:
  static GatewayConfig config() {
    GatewayConfig c;
    c.notifications.maxDurationSec = 86400;
    c.notifications.defaultDurationSec = 3600;
    c.notifications.minFrequencyMs = 1000;
    c.notifications.maxCount = 1000;
    NotificationLimitRules& strict = requesterPolicy(c, "strict").rules.notifications;
    strict.maxDurationSec = 600;
    strict.defaultDurationSec = 120;
    strict.minFrequencyMs = 10000;
    strict.unlimitedCountAllowed = false;
    strict.maxCount = 5;
    strict.busyCriteriaAllowed = false;
    operationLimits(requesterPolicy(c, "lenient")).maxCount = 100;
    return c;
  }
  PolicyEngine engine{config()};
};

TEST_F(NotificationLimitsEngine, EachLimitRefusesWithItsFault) {
  expectRefused(engine.checkNotificationLimits("strict", request(10000, 60000, 1, true)), "POL0001",
                {"Busy is not supported as a criterion"});
  expectRefused(engine.checkNotificationLimits("strict", request(9999, 60000, 1)), "POL0009");
  expectRefused(engine.checkNotificationLimits("strict", request(10000, 600001, 1)), "POL0001",
                {"duration longer than the maximum of 600 seconds"});
  expectRefused(engine.checkNotificationLimits("strict", request(10000, 60000)), "POL0004");
  expectRefused(engine.checkNotificationLimits("strict", request(10000, 60000, 6)), "POL0005");
  expectAccepted(engine.checkNotificationLimits("strict", request(10000, 600000, 5)), 600000);
}

TEST_F(NotificationLimitsEngine, TheFirstFailingLimitAnswersInTheDocumentedOrder) {
  // Everything wrong: Busy first, then frequency, then duration, then count.
  expectRefused(engine.checkNotificationLimits("strict", request(1, 1000000, 9, true)), "POL0001",
                {"Busy is not supported as a criterion"});
  expectRefused(engine.checkNotificationLimits("strict", request(1, 1000000, 9)), "POL0009");
  expectRefused(engine.checkNotificationLimits("strict", request(10000, 1000000, 9)), "POL0001",
                {"duration longer than the maximum of 600 seconds"});
}

TEST_F(NotificationLimitsEngine, TheOtherRequesterIsJudgedByItsOwnLimits) {
  expectAccepted(engine.checkNotificationLimits("lenient", request(1000, 0, 100, true)), 3600000);
  expectRefused(engine.checkNotificationLimits("lenient", request(1000, 0, 101)), "POL0005");
  expectAccepted(engine.checkNotificationLimits("lenient", request(1000, 0)), 3600000);
  expectRefused(engine.checkNotificationLimits("lenient", request(999, 0)), "POL0009");
}

TEST_F(NotificationLimitsEngine, AnonymousAndUnknownRequestersGetTheGlobalLimits) {
  for (const char* name : {"", "nobody"}) {
    SCOPED_TRACE(name);
    expectAccepted(engine.checkNotificationLimits(name, request(1000, 86400000, 1000, true)),
                   86400000);
    expectRefused(engine.checkNotificationLimits(name, request(1000, 86400001)), "POL0001",
                  {"duration longer than the maximum of 86400 seconds"});
    expectRefused(engine.checkNotificationLimits(name, request(1000, 0, 1001)), "POL0005");
  }
}

TEST_F(NotificationLimitsEngine, NoDurationGetsTheRequestersDefault) {
  expectAccepted(engine.checkNotificationLimits("strict", request(10000, 0, 1)), 120000);
  expectAccepted(engine.checkNotificationLimits("lenient", request(1000, 0, 1)), 3600000);
  expectAccepted(engine.checkNotificationLimits("", request(1000, 0)), 3600000);
}

TEST_F(NotificationLimitsEngine, HugeValuesAreRefusedNotWrapped) {
  expectRefused(engine.checkNotificationLimits("", request(1000, UINT64_MAX)), "POL0001",
                {"duration longer than the maximum of 86400 seconds"});
  expectAccepted(engine.checkNotificationLimits("", request(UINT64_MAX, 1000)), 1000);
  expectRefused(engine.checkNotificationLimits("", request(1000, 1000, UINT32_MAX)), "POL0005");
}

TEST_F(NotificationLimitsEngine, TakesNoAdmission) {
  expectAccepted(engine.checkNotificationLimits("strict", request(10000, 0, 1)), 120000);
  EXPECT_EQ(engine.inFlight(), 0u);
}

}  // namespace
}  // namespace px::policy
