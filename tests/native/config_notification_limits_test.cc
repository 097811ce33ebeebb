// GoogleTest suite of the per-requester notification limits in the configuration: `notifications:`
// under a policy level (requester, service terminalStatus, operation startNotification), its
// values and ranges, where it may appear, and the override rule against the notifications section
// (the global level) and every level above (native/config/PolicyConfigReader, OverrideRule).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "support/ConfigErrors.h"

namespace px {
namespace {

using px::testing::expectErrors;
using px::testing::loadError;

const std::string kHash =
    "$scrypt$ln=14,r=8,p=1$djVEhIq50GtxUg/P+dA0mQ$thZqf6KwSZbxMhqfV1lPOa5n1XMhmneNwX3s9EuhMlk";
const std::string kTail = "; an override may only be more restrictive";

// "requesters:\n  acme:\n    passwordHash: ...\n    policy:\n" followed by `policy` (indented
// by 6): the requester's policy keys start at line 5.
std::string acme(const std::string& policy) {
  return "requesters:\n  acme:\n    passwordHash: \"" + kHash + "\"\n    policy:\n" + policy;
}

const NotificationLimitRules& own(const GatewayConfig& c) {
  return c.requesters.at("acme").policy.rules.notifications;
}

TEST(ConfigNotificationLimits, EveryKeyIsReadAtTheRequesterLevel) {
  const GatewayConfig c = loadConfigText(acme("      notifications:\n"
                                              "        maxDurationSec: 600\n"
                                              "        defaultDurationSec: 60\n"
                                              "        minFrequencyMs: 5000\n"
                                              "        unlimitedCountAllowed: false\n"
                                              "        maxCount: 10\n"
                                              "        busyCriteriaAllowed: false\n"),
                                         "test.yaml");
  const NotificationLimitRules& n = own(c);
  EXPECT_EQ(n.maxDurationSec, 600u);
  EXPECT_EQ(n.defaultDurationSec, 60u);
  EXPECT_EQ(n.minFrequencyMs, 5000u);
  EXPECT_EQ(n.unlimitedCountAllowed, false);
  EXPECT_EQ(n.maxCount, 10u);
  EXPECT_EQ(n.busyCriteriaAllowed, false);
}

TEST(ConfigNotificationLimits, UnsetKeysStayUnsetAndTheGlobalLevelIsTheNotificationsSection) {
  const GatewayConfig c = loadConfigText("notifications:\n  maxDurationSec: 7200\n" +
                                             acme("      notifications:\n        maxCount: 5\n"),
                                         "test.yaml");
  EXPECT_EQ(own(c).maxCount, 5u);
  EXPECT_FALSE(own(c).maxDurationSec);
  EXPECT_FALSE(own(c).busyCriteriaAllowed);
  EXPECT_FALSE(c.policy.defaults.rules.notifications.maxDurationSec);
  EXPECT_EQ(c.notifications.limits().maxDurationSec, 7200u);
  EXPECT_EQ(c.notifications.limits().defaultDurationSec, 3600u);
}

TEST(ConfigNotificationLimits, ServiceAndOperationLevelsOfBothPolicies) {
  const GatewayConfig c = loadConfigText(
      "policy:\n  services:\n    terminalStatus:\n      notifications: {maxCount: 50}\n"
      "      operations:\n        startNotification:\n          notifications: {maxCount: 40}\n" +
          acme("      services:\n        terminalStatus:\n"
               "          notifications: {maxCount: 30}\n          operations:\n"
               "            startNotification:\n              notifications: {maxCount: 20}\n"),
      "test.yaml");
  const ServicePolicy& global = c.policy.defaults.services.at("terminalStatus");
  EXPECT_EQ(global.rules.notifications.maxCount, 50u);
  EXPECT_EQ(global.operations.at("startNotification").notifications.maxCount, 40u);
  const ServicePolicy& mine = c.requesters.at("acme").policy.services.at("terminalStatus");
  EXPECT_EQ(mine.rules.notifications.maxCount, 30u);
  EXPECT_EQ(mine.operations.at("startNotification").notifications.maxCount, 20u);
}

TEST(ConfigNotificationLimits, ValueErrorsNameFileLineAndKey) {
  const std::string key = "requesters.acme.policy.notifications.";
  expectErrors({
      {acme("      notifications:\n        maxDurationSec: 0\n"), 6, key + "maxDurationSec",
       "1..31536000"},
      {acme("      notifications:\n        maxCount: 1000000001\n"), 6, key + "maxCount",
       "1..1000000000"},
      {acme("      notifications:\n        minFrequencyMs: 86400001\n"), 6, key + "minFrequencyMs",
       "0..86400000"},
      {acme("      notifications:\n        busyCriteriaAllowed: \"no\"\n"), 6,
       key + "busyCriteriaAllowed", "expected true or false"},
      {acme("      notifications:\n        maxDurationSec: 60\n        defaultDurationSec: 61\n"),
       7, key + "defaultDurationSec", "must not be larger than maxDurationSec"},
      {acme("      notifications:\n        maxcount: 1\n"), 6, key + "maxcount",
       "did you mean 'maxCount'?"},
  });
}

TEST(ConfigNotificationLimits, OnlyWhereStartNotificationIsCovered) {
  expectErrors({
      {"policy:\n  notifications:\n    maxCount: 5\n", 3, "policy.notifications",
       "the global notification limits are the notifications section"},
      {"policy:\n  services:\n    callNotification:\n      notifications: {maxCount: 5}\n", 4,
       "policy.services.callNotification.notifications", "terminalStatus (startNotification) only"},
      {acme("      services:\n        terminalStatus:\n          operations:\n"
            "            getStatus:\n              notifications: {maxCount: 5}\n"),
       9, "requesters.acme.policy.services.terminalStatus.operations.getStatus.notifications",
       "startNotification only"},
  });
}

TEST(ConfigNotificationLimits, ALooserRequesterValueIsRefusedWithFileLineAndKey) {
  const ConfigError e = loadError("notifications:\n  maxDurationSec: 3600\n" +
                                  acme("      notifications:\n        maxDurationSec: 7200\n"));
  EXPECT_EQ(e.file(), "test.yaml");
  EXPECT_EQ(e.line(), 8);
  EXPECT_EQ(e.key(), "requesters.acme.policy.notifications.maxDurationSec");
  EXPECT_STREQ(e.what(),
               "test.yaml:8: requesters.acme.policy.notifications.maxDurationSec: 7200 is looser "
               "than notifications.maxDurationSec (3600); an override may only be more "
               "restrictive");
}

TEST(ConfigNotificationLimits, EveryKindOfLooseningIsRefused) {
  const std::string key = "requesters.acme.policy.notifications.";
  const std::string section = "requesters.acme.policy.services.terminalStatus.notifications.";
  expectErrors({
      // Against the notifications section's defaults (the section absent).
      {acme("      notifications:\n        maxDurationSec: 86401\n"), 6, key + "maxDurationSec",
       "86401 is looser than notifications.maxDurationSec (86400)" + kTail},
      {acme("      notifications:\n        defaultDurationSec: 3601\n"), 6,
       key + "defaultDurationSec",
       "3601 is looser than notifications.defaultDurationSec (3600)" + kTail},
      {acme("      notifications:\n        maxCount: 100001\n"), 6, key + "maxCount",
       "100001 is looser than notifications.maxCount (100000)" + kTail},
      {acme("      notifications:\n        minFrequencyMs: 999\n"), 6, key + "minFrequencyMs",
       "999 is looser than notifications.minFrequencyMs (1000)" + kTail},
      // Against values set in the notifications section, after the requesters in the file.
      {acme("      notifications:\n        unlimitedCountAllowed: true\n") +
           "notifications:\n  unlimitedCountAllowed: false\n",
       6, key + "unlimitedCountAllowed",
       "true is looser than notifications.unlimitedCountAllowed (false)" + kTail},
      {acme("      notifications:\n        busyCriteriaAllowed: true\n") +
           "notifications:\n  busyCriteriaAllowed: false\n",
       6, key + "busyCriteriaAllowed",
       "true is looser than notifications.busyCriteriaAllowed (false)" + kTail},
      // A requester's service under its own level.
      {acme("      notifications: {maxCount: 10}\n      services:\n        terminalStatus:\n"
            "          notifications: {maxCount: 11}\n"),
       8, section + "maxCount",
       "11 is looser than requesters.acme.policy.notifications.maxCount (10)" + kTail},
      // A requester's operation under the global service.
      {"policy:\n  services:\n    terminalStatus:\n      notifications: {minFrequencyMs: 60000}\n" +
           acme("      services:\n        terminalStatus:\n          operations:\n"
                "            startNotification:\n"
                "              notifications: {minFrequencyMs: 30000}\n"),
       13,
       "requesters.acme.policy.services.terminalStatus.operations.startNotification."
       "notifications.minFrequencyMs",
       "30000 is looser than policy.services.terminalStatus.notifications.minFrequencyMs "
       "(60000)" +
           kTail},
      // The global operation under the global service.
      {"policy:\n  services:\n    terminalStatus:\n      notifications: {busyCriteriaAllowed: "
       "false}\n"
       "      operations:\n        startNotification:\n"
       "          notifications: {busyCriteriaAllowed: true}\n",
       7,
       "policy.services.terminalStatus.operations.startNotification.notifications."
       "busyCriteriaAllowed",
       "true is looser than policy.services.terminalStatus.notifications.busyCriteriaAllowed "
       "(false)"},
  });
}

TEST(ConfigNotificationLimits, TighteningAndEqualValuesAreAccepted) {
  for (const std::string& yaml : std::vector<std::string>{
           acme("      notifications:\n        maxDurationSec: 86400\n        maxCount: 100000\n"
                "        minFrequencyMs: 1000\n        defaultDurationSec: 3600\n"
                "        unlimitedCountAllowed: true\n        busyCriteriaAllowed: true\n"),
           acme("      notifications:\n        maxDurationSec: 60\n        maxCount: 1\n"
                "        minFrequencyMs: 86400000\n        defaultDurationSec: 1\n"
                "        unlimitedCountAllowed: false\n        busyCriteriaAllowed: false\n"),
           // A longer maximum in the notifications section lets a requester raise its own.
           "notifications:\n  maxDurationSec: 31536000\n" +
               acme("      notifications: {maxDurationSec: 604800}\n"),
           // Lowering the maximum below the inherited default is allowed (the default follows).
           acme("      notifications: {maxDurationSec: 600}\n"),
       }) {
    SCOPED_TRACE(yaml);
    EXPECT_NO_THROW(loadConfigText(yaml, "test.yaml"));
  }
}

}  // namespace
}  // namespace px
