// Reading of the service policy levels: the `policy` section (global defaults, per service, per
// operation, traffic shaping) and each requester's `policy`. Every value is validated here;
// where each one was set is recorded so that the override rule (OverrideRule.h), which needs all
// levels read first, can report a loosening override at its own line.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/PolicyConfig.h"
#include "config/YamlReader.h"

namespace px::config {

// Where the values of one policy level were set: the level's key path
// ("requesters.acme.policy.services.terminalStatus") and the line of each value it sets, keyed
// by its path below the level ("maxTargets", "processUpTo.limit", "addressPlan.countryCodes").
struct RuleSites {
  std::string path;
  std::map<std::string, int> lines;
};

struct ServiceSites {
  RuleSites rules;
  std::map<std::string, RuleSites> operations;  // as ServicePolicy::operations
};

// Mirrors PolicyLevel.
struct LevelSites {
  RuleSites rules;
  std::map<std::string, ServiceSites> services;
};

// Requester name -> where the values of its policy were set.
using RequesterSites = std::map<std::string, LevelSites>;

class PolicyConfigReader {
 public:
  explicit PolicyConfigReader(const YamlReader& yaml) : yaml_(yaml) {}

  // The global section: a level plus trafficShaping. Null (absent, all commented out): defaults.
  PolicyConfig readPolicy(const Item& section, LevelSites& sites) const;
  // A requester's policy: a level without trafficShaping.
  PolicyLevel readLevel(const Item& section, LevelSites& sites) const;

 private:
  // Where a level may set notification limits (`notifications:`): the global level's are the
  // notifications section, and only terminalStatus / startNotification have them.
  enum class NotificationLimitsHere { kAllowed, kGlobalLevel, kOtherService, kOtherOperation };

  PolicyLevel readLevelFields(const Item& section, const std::map<std::string, Item>& f,
                              LevelSites& sites, NotificationLimitsHere notifications) const;
  ServicePolicy readService(const Item& section, const std::string& service,
                            ServiceSites& sites) const;
  void readRules(const Item& section, const std::map<std::string, Item>& f, PolicyRules& rules,
                 RuleSites& sites, NotificationLimitsHere notifications) const;
  NotificationLimitRules readNotificationLimits(const Item& item, RuleSites& sites) const;
  std::vector<AddressScheme> readSchemes(const Item& item) const;
  AddressPlanRules readAddressPlan(const Item& item, RuleSites& sites) const;
  std::vector<std::string> readCountryCodes(const Item& item) const;
  std::vector<std::string> readTelPatterns(const Item& item) const;
  std::vector<std::string> readSipDomains(const Item& item) const;
  ProcessUpTo readProcessUpTo(const Item& item, RuleSites& sites) const;
  PrivacyRules readPrivacy(const Item& item) const;
  std::vector<std::string> readAddressPatterns(const Item& item) const;
  std::string addressPattern(const Item& item) const;
  RateLimit readPacer(const Item& item) const;
  std::map<std::string, TrafficShapingRule> readTrafficShaping(const Item& item) const;

  const YamlReader& yaml_;
};

}  // namespace px::config
