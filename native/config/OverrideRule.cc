#include "config/OverrideRule.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace px::config {

namespace {

// PolicyRules::maxTargets when the global level leaves it unset.
constexpr uint32_t kDefaultMaxTargets = 100;

// One level's values with where they were set.
struct Level {
  const PolicyRules* rules;
  const RuleSites* sites;
  bool global;  // its unset values are the documented defaults
};

std::string schemeName(AddressScheme s) {
  switch (s) {
    case AddressScheme::kTel:
      return "tel";
    case AddressScheme::kSip:
      return "sip";
    case AddressScheme::kSips:
      return "sips";
  }
  return "?";
}

std::string listText(const std::vector<std::string>& values) {
  return "[" + join(values) + "]";
}

std::string schemesText(const std::vector<AddressScheme>& schemes) {
  std::vector<std::string> names;
  for (AddressScheme s : schemes) names.push_back(schemeName(s));
  return listText(names);
}

std::string rateText(const RateLimit& r) {
  return std::to_string(r.limit) + " per " + std::to_string(r.windowMs) + " ms";
}

template <typename T>
bool isSubset(const std::vector<T>& values, const std::vector<T>& of) {
  return std::all_of(values.begin(), values.end(),
                     [&](const T& v) { return std::find(of.begin(), of.end(), v) != of.end(); });
}

// `domain` is one of `of` or a subdomain of one.
bool isWithinDomains(const std::string& domain, const std::vector<std::string>& of) {
  return std::any_of(of.begin(), of.end(), [&](const std::string& d) {
    return domain == d || (domain.size() > d.size() &&
                           domain.compare(domain.size() - d.size(), d.size(), d) == 0 &&
                           domain[domain.size() - d.size() - 1] == '.');
  });
}

class OverrideChecker {
 public:
  OverrideChecker(const YamlReader& yaml, const NotificationLimits& globalLimits)
      : yaml_(yaml), globalLimits_(globalLimits) {}

  void check(const Level& level, const std::vector<Level>& above) const {
    for (const Level& ancestor : above) checkAgainst(level, ancestor);
  }

 private:
  void checkAgainst(const Level& l, const Level& a) const {
    const PolicyRules& r = *l.rules;
    const PolicyRules& p = *a.rules;
    // enabled, groupsAllowed and nestedGroupsAllowed default to true and allowedSchemes to all
    // schemes: nothing is looser than these defaults, so only set values are compared.
    if (r.enabled == true && p.enabled == false) looser(l, "enabled", "true", a, "false");
    if (r.allowedSchemes && p.allowedSchemes && !isSubset(*r.allowedSchemes, *p.allowedSchemes)) {
      looser(l, "allowedSchemes", schemesText(*r.allowedSchemes), a,
             schemesText(*p.allowedSchemes));
    }
    const AddressPlanRules& rp = r.addressPlan;
    const AddressPlanRules& pp = p.addressPlan;
    if (rp.e164Only == false && pp.e164Only == true) {
      looser(l, "addressPlan.e164Only", "false", a, "true");
    }
    if (rp.countryCodes && pp.countryCodes && !isSubset(*rp.countryCodes, *pp.countryCodes)) {
      looser(l, "addressPlan.countryCodes", listText(*rp.countryCodes), a,
             listText(*pp.countryCodes));
    }
    if (rp.sipDomains && pp.sipDomains &&
        !std::all_of(rp.sipDomains->begin(), rp.sipDomains->end(),
                     [&](const std::string& d) { return isWithinDomains(d, *pp.sipDomains); })) {
      looser(l, "addressPlan.sipDomains", listText(*rp.sipDomains), a, listText(*pp.sipDomains));
    }
    if (r.groupsAllowed == true && p.groupsAllowed == false) {
      looser(l, "groupsAllowed", "true", a, "false");
    }
    if (r.nestedGroupsAllowed == true && p.nestedGroupsAllowed == false) {
      looser(l, "nestedGroupsAllowed", "true", a, "false");
    }
    if (r.maxTargets) {
      const bool byDefault = !p.maxTargets && a.global;
      const std::optional<uint32_t> limit = byDefault ? kDefaultMaxTargets : p.maxTargets;
      if (limit && *r.maxTargets > *limit) {
        looser(l, "maxTargets", std::to_string(*r.maxTargets), a,
               std::to_string(*limit) + (byDefault ? ", the default" : ""));
      }
    }
    if (r.processUpTo && p.processUpTo) {
      if (r.processUpTo->limit > p.processUpTo->limit) {
        looser(l, "processUpTo.limit", std::to_string(r.processUpTo->limit), a,
               std::to_string(p.processUpTo->limit));
      }
      if (r.processUpTo->mode == ProcessUpToMode::kPartial &&
          p.processUpTo->mode == ProcessUpToMode::kReject) {
        looser(l, "processUpTo.mode", "partial", a, "reject");
      }
    }
    if (r.maxInFlight && p.maxInFlight && *r.maxInFlight > *p.maxInFlight) {
      looser(l, "maxInFlight", std::to_string(*r.maxInFlight), a, std::to_string(*p.maxInFlight));
    }
    // limit / windowMs compared without division; at most 1e9 * 86400000 < 2^63.
    if (r.pacer && p.pacer &&
        uint64_t{r.pacer->limit} * p.pacer->windowMs >
            uint64_t{p.pacer->limit} * r.pacer->windowMs) {
      looser(l, "pacer", rateText(*r.pacer), a, rateText(*p.pacer));
    }
    checkNotificationLimits(l, a);
  }

  // The global level's notification limits are the notifications section, always set.
  void checkNotificationLimits(const Level& l, const Level& a) const {
    const NotificationLimitRules& r = l.rules->notifications;
    const NotificationLimitRules& p = a.rules->notifications;
    const NotificationLimits& g = globalLimits_;
    const auto above = [&](const auto& value, const auto& globalValue) {
      using T = typename std::decay_t<decltype(value)>::value_type;
      return a.global ? std::optional<T>(globalValue) : value;
    };
    const auto text = [](auto v) {
      if constexpr (std::is_same_v<decltype(v), bool>) {
        return std::string(v ? "true" : "false");
      } else {
        return std::to_string(v);
      }
    };
    // higherIsLooser: a larger value (or true) grants more.
    const auto compare = [&](const char* key, const auto& value, const auto& ancestorValue,
                             bool higherIsLooser) {
      if (!value || !ancestorValue) return;
      const bool loose = higherIsLooser ? *value > *ancestorValue : *value < *ancestorValue;
      if (loose) {
        looser(l, std::string("notifications.") + key, text(*value), a, text(*ancestorValue));
      }
    };
    compare("maxDurationSec", r.maxDurationSec, above(p.maxDurationSec, g.maxDurationSec), true);
    compare("defaultDurationSec", r.defaultDurationSec,
            above(p.defaultDurationSec, g.defaultDurationSec), true);
    compare("minFrequencyMs", r.minFrequencyMs, above(p.minFrequencyMs, g.minFrequencyMs), false);
    compare("unlimitedCountAllowed", r.unlimitedCountAllowed,
            above(p.unlimitedCountAllowed, g.unlimitedCountAllowed), true);
    compare("maxCount", r.maxCount, above(p.maxCount, g.maxCount), true);
    compare("busyCriteriaAllowed", r.busyCriteriaAllowed,
            above(p.busyCriteriaAllowed, g.busyCriteriaAllowed), true);
  }

  [[noreturn]] void looser(const Level& level, const std::string& key, const std::string& value,
                           const Level& ancestor, const std::string& ancestorValue) const {
    const auto line = level.sites->lines.find(key);
    // The global notification limits are the notifications section, not policy.notifications.
    const bool globalNotifications = ancestor.global && key.rfind("notifications.", 0) == 0;
    const std::string ancestorKey =
        globalNotifications ? key : YamlReader::child(ancestor.sites->path, key);
    yaml_.fail(Item{YAML::Node(), YamlReader::child(level.sites->path, key),
                    line != level.sites->lines.end() ? line->second : 0},
               value + " is looser than " + ancestorKey + " (" + ancestorValue +
                   "); an override may only be more restrictive");
  }

  const YamlReader& yaml_;
  const NotificationLimits& globalLimits_;
};

template <typename Map>
const typename Map::mapped_type* find(const Map& map, const std::string& key) {
  const auto it = map.find(key);
  return it != map.end() ? &it->second : nullptr;
}

}  // namespace

void checkOverrides(const YamlReader& yaml, const PolicyLevel& global,
                    const LevelSites& globalSites,
                    const std::map<std::string, RequesterConfig>& requesters,
                    const RequesterSites& requesterSites, const NotificationLimits& globalLimits) {
  const OverrideChecker checker(yaml, globalLimits);
  const Level top{&global.rules, &globalSites.rules, true};
  for (const auto& [service, policy] : global.services) {
    const ServiceSites& sites = globalSites.services.at(service);
    const Level level{&policy.rules, &sites.rules, false};
    checker.check(level, {top});
    for (const auto& [operation, rules] : policy.operations) {
      checker.check(Level{&rules, &sites.operations.at(operation), false}, {top, level});
    }
  }
  for (const auto& [name, requester] : requesters) {
    const LevelSites& sites = requesterSites.at(name);
    const Level own{&requester.policy.rules, &sites.rules, false};
    checker.check(own, {top});
    for (const auto& [service, policy] : requester.policy.services) {
      const ServiceSites& serviceSites = sites.services.at(service);
      const ServicePolicy* globalService = find(global.services, service);
      std::vector<Level> above{top};
      if (globalService != nullptr) {
        above.push_back(
            Level{&globalService->rules, &globalSites.services.at(service).rules, false});
      }
      above.push_back(own);
      const Level level{&policy.rules, &serviceSites.rules, false};
      checker.check(level, above);
      for (const auto& [operation, rules] : policy.operations) {
        std::vector<Level> opAbove{top};
        if (globalService != nullptr) {
          opAbove.push_back(above[1]);
          if (const PolicyRules* globalOp = find(globalService->operations, operation)) {
            opAbove.push_back(
                Level{globalOp, &globalSites.services.at(service).operations.at(operation), false});
          }
        }
        opAbove.push_back(own);
        opAbove.push_back(level);
        checker.check(Level{&rules, &serviceSites.operations.at(operation), false}, opAbove);
      }
    }
  }
}

}  // namespace px::config
