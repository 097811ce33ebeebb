// GCC 12 reports a false -Wmaybe-uninitialized inside <regex>'s std::function when built with
// -fsanitize (PX_SANITIZE; GCC bug 105562). Set before any include: the warning is located in the
// library headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "config/PolicyConfigReader.h"

#include <algorithm>
#include <regex>
#include <stdexcept>
#include <string_view>

#include "address/Address.h"
#include "common/Ascii.h"
#include "config/ConfigSchema.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

// The keys of one level's rules; levels add "services", "operations" or "trafficShaping".
const std::vector<std::string>& ruleKeys() {
  static const std::vector<std::string> keys = {
      "enabled",      "allowedSchemes", "addressPlan", "groupsAllowed", "nestedGroupsAllowed",
      "maxTargets",   "processUpTo",    "maxInFlight", "privacy",       "pacer",
      "notifications"};
  return keys;
}

std::vector<std::string> withKeys(std::vector<std::string> keys,
                                  const std::vector<std::string>& more) {
  keys.insert(keys.end(), more.begin(), more.end());
  return keys;
}

std::vector<std::string> serviceNames() {
  std::vector<std::string> names;
  for (const PolicyOperationInfo& op : kPolicyOperations) {
    const std::string name(op.serviceName);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

std::vector<std::string> operationNames(const std::string& service) {
  std::vector<std::string> names;
  for (const PolicyOperationInfo& op : kPolicyOperations) {
    if (op.serviceName == service) names.emplace_back(op.operationName);
  }
  return names;
}

// The keys a policy level may set under `notifications:`: the notifications section's limits.
const std::vector<std::string>& notificationLimitKeys() {
  static const std::vector<std::string> keys = {"maxDurationSec", "defaultDurationSec",
                                                "minFrequencyMs", "unlimitedCountAllowed",
                                                "maxCount",       "busyCriteriaAllowed"};
  return keys;
}

// The schema's field notifications.<key> (its range applies at every level).
const ConfigField& notificationField(std::string_view key) {
  for (const ConfigField& field : configFields()) {
    if (field.key.size() == key.size() + 14 && field.key.substr(0, 14) == "notifications." &&
        field.key.substr(14) == key) {
      return field;
    }
  }
  throw std::logic_error("no schema field notifications." + std::string(key));
}

// tel: visual separators (RFC 3966), left out of canonical numbers.
bool isVisualSeparator(char c) {
  return c == '-' || c == '.' || c == '(' || c == ')';
}

}  // namespace

PolicyConfig PolicyConfigReader::readPolicy(const Item& section, LevelSites& sites) const {
  const auto f = yaml_.fields(section, withKeys(ruleKeys(), {"services", "trafficShaping"}));
  PolicyConfig policy;
  policy.defaults = readLevelFields(section, f, sites, NotificationLimitsHere::kGlobalLevel);
  if (auto it = f.find("trafficShaping"); it != f.end()) {
    policy.trafficShaping = readTrafficShaping(it->second);
  }
  return policy;
}

PolicyLevel PolicyConfigReader::readLevel(const Item& section, LevelSites& sites) const {
  return readLevelFields(section, yaml_.fields(section, withKeys(ruleKeys(), {"services"})), sites,
                         NotificationLimitsHere::kAllowed);
}

PolicyLevel PolicyConfigReader::readLevelFields(const Item& section,
                                                const std::map<std::string, Item>& f,
                                                LevelSites& sites,
                                                NotificationLimitsHere notifications) const {
  PolicyLevel level;
  readRules(section, f, level.rules, sites.rules, notifications);
  if (auto it = f.find("services"); it != f.end()) {
    for (const auto& [name, item] : yaml_.fields(it->second, serviceNames())) {
      level.services.emplace(name, readService(item, name, sites.services[name]));
    }
  }
  return level;
}

ServicePolicy PolicyConfigReader::readService(const Item& section, const std::string& service,
                                              ServiceSites& sites) const {
  const auto f = yaml_.fields(section, withKeys(ruleKeys(), {"operations"}));
  ServicePolicy policy;
  const bool terminalStatus =
      service == policyOperationInfo(PolicyOperation::kStartNotification).serviceName;
  readRules(
      section, f, policy.rules, sites.rules,
      terminalStatus ? NotificationLimitsHere::kAllowed : NotificationLimitsHere::kOtherService);
  if (auto it = f.find("operations"); it != f.end()) {
    for (const auto& [name, item] : yaml_.fields(it->second, operationNames(service))) {
      RuleSites& opSites = sites.operations[name];
      const bool start =
          name == policyOperationInfo(PolicyOperation::kStartNotification).operationName;
      readRules(item, yaml_.fields(item, ruleKeys()), policy.operations[name], opSites,
                start            ? NotificationLimitsHere::kAllowed
                : terminalStatus ? NotificationLimitsHere::kOtherOperation
                                 : NotificationLimitsHere::kOtherService);
    }
  }
  return policy;
}

void PolicyConfigReader::readRules(const Item& section, const std::map<std::string, Item>& f,
                                   PolicyRules& rules, RuleSites& sites,
                                   NotificationLimitsHere notifications) const {
  sites.path = section.path;
  const auto set = [&](const char* key) -> const Item* {
    const auto it = f.find(key);
    if (it == f.end()) return nullptr;
    sites.lines[key] = it->second.line;
    return &it->second;
  };
  if (const Item* item = set("enabled")) rules.enabled = yaml_.boolean(*item);
  if (const Item* item = set("allowedSchemes")) rules.allowedSchemes = readSchemes(*item);
  if (auto it = f.find("addressPlan"); it != f.end()) {
    rules.addressPlan = readAddressPlan(it->second, sites);
  }
  if (const Item* item = set("groupsAllowed")) rules.groupsAllowed = yaml_.boolean(*item);
  if (const Item* item = set("nestedGroupsAllowed")) {
    rules.nestedGroupsAllowed = yaml_.boolean(*item);
  }
  if (const Item* item = set("maxTargets")) rules.maxTargets = yaml_.integer(*item, 1, 100000);
  if (auto it = f.find("processUpTo"); it != f.end()) {
    rules.processUpTo = readProcessUpTo(it->second, sites);
  }
  if (const Item* item = set("maxInFlight")) rules.maxInFlight = yaml_.integer(*item, 1, 1000000);
  if (auto it = f.find("privacy"); it != f.end()) rules.privacy = readPrivacy(it->second);
  if (const Item* item = set("pacer")) rules.pacer = readPacer(*item);
  if (auto it = f.find("notifications"); it != f.end()) {
    switch (notifications) {
      case NotificationLimitsHere::kAllowed:
        rules.notifications = readNotificationLimits(it->second, sites);
        break;
      case NotificationLimitsHere::kGlobalLevel:
        yaml_.fail(it->second,
                   "the global notification limits are the notifications section "
                   "(notifications.maxDurationSec, ...); set them there");
      case NotificationLimitsHere::kOtherService:
        yaml_.fail(it->second,
                   "notification limits apply to terminalStatus (startNotification) only");
      case NotificationLimitsHere::kOtherOperation:
        yaml_.fail(it->second,
                   "notification limits apply to startNotification only; set them under "
                   "operations.startNotification or the service");
    }
  }
}

NotificationLimitRules PolicyConfigReader::readNotificationLimits(const Item& item,
                                                                  RuleSites& sites) const {
  const auto f = yaml_.fields(item, notificationLimitKeys());
  const auto set = [&](const char* key) -> const Item* {
    const auto it = f.find(key);
    if (it == f.end()) return nullptr;
    sites.lines[std::string("notifications.") + key] = it->second.line;
    return &it->second;
  };
  // Ranges are the notifications section's, declared once in the schema.
  const auto integer = [&](const Item& i, const char* key) {
    const ConfigField& field = notificationField(key);
    return yaml_.integer(i, field.min, field.max);
  };
  NotificationLimitRules limits;
  if (const Item* i = set("maxDurationSec")) limits.maxDurationSec = integer(*i, "maxDurationSec");
  if (const Item* i = set("defaultDurationSec")) {
    limits.defaultDurationSec = integer(*i, "defaultDurationSec");
    if (limits.maxDurationSec && *limits.defaultDurationSec > *limits.maxDurationSec) {
      yaml_.fail(*i, "defaultDurationSec must not be larger than maxDurationSec");
    }
  }
  if (const Item* i = set("minFrequencyMs")) limits.minFrequencyMs = integer(*i, "minFrequencyMs");
  if (const Item* i = set("unlimitedCountAllowed"))
    limits.unlimitedCountAllowed = yaml_.boolean(*i);
  if (const Item* i = set("maxCount")) limits.maxCount = integer(*i, "maxCount");
  if (const Item* i = set("busyCriteriaAllowed")) limits.busyCriteriaAllowed = yaml_.boolean(*i);
  return limits;
}

std::vector<AddressScheme> PolicyConfigReader::readSchemes(const Item& item) const {
  std::vector<AddressScheme> schemes;
  for (const Item& e : yaml_.list(item)) {
    const std::string name = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
    AddressScheme scheme = AddressScheme::kTel;
    if (name == "tel") {
      scheme = AddressScheme::kTel;
    } else if (name == "sip") {
      scheme = AddressScheme::kSip;
    } else if (name == "sips") {
      scheme = AddressScheme::kSips;
    } else {
      yaml_.fail(e, "expected 'tel', 'sip' or 'sips', got " + describe(e.node));
    }
    if (std::find(schemes.begin(), schemes.end(), scheme) != schemes.end()) {
      yaml_.fail(e, "duplicate scheme " + quote(name));
    }
    schemes.push_back(scheme);
  }
  if (schemes.empty()) yaml_.fail(item, "expected at least one scheme (tel, sip, sips)");
  return schemes;
}

AddressPlanRules PolicyConfigReader::readAddressPlan(const Item& item, RuleSites& sites) const {
  const auto f = yaml_.fields(item, {"e164Only", "countryCodes", "telPatterns", "sipDomains"});
  AddressPlanRules plan;
  if (auto it = f.find("e164Only"); it != f.end()) {
    sites.lines["addressPlan.e164Only"] = it->second.line;
    plan.e164Only = yaml_.boolean(it->second);
  }
  if (auto it = f.find("countryCodes"); it != f.end()) {
    sites.lines["addressPlan.countryCodes"] = it->second.line;
    plan.countryCodes = readCountryCodes(it->second);
  }
  if (auto it = f.find("telPatterns"); it != f.end()) {
    plan.telPatterns = readTelPatterns(it->second);
  }
  if (auto it = f.find("sipDomains"); it != f.end()) {
    sites.lines["addressPlan.sipDomains"] = it->second.line;
    plan.sipDomains = readSipDomains(it->second);
  }
  return plan;
}

std::vector<std::string> PolicyConfigReader::readCountryCodes(const Item& item) const {
  std::vector<std::string> codes;
  for (const Item& e : yaml_.list(item)) {
    // Plain 49 and quoted "49" alike: a code is digits, not a number (leading zeros matter).
    const std::string code = e.node.IsScalar() ? e.node.Scalar() : "";
    const bool ok = !code.empty() && code.size() <= 3 && code.front() != '0' &&
                    std::all_of(code.begin(), code.end(), ascii::isDigit);
    if (!ok) {
      yaml_.fail(e,
                 "expected an E.164 country code of 1..3 digits without '+', not starting "
                 "with 0, got " +
                     describe(e.node));
    }
    if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
      yaml_.fail(e, "duplicate country code " + quote(code));
    }
    codes.push_back(code);
  }
  if (codes.empty()) yaml_.fail(item, "expected at least one country code");
  return codes;
}

std::vector<std::string> PolicyConfigReader::readTelPatterns(const Item& item) const {
  std::vector<std::string> patterns;
  for (const Item& e : yaml_.list(item)) {
    const std::string pattern = yaml_.text(e);
    if (pattern.empty()) yaml_.fail(e, "expected a regular expression, got \"\"");
    try {
      // Compiled here only to refuse it early; the policy engine compiles its own.
      const std::regex compiled(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& error) {
      yaml_.fail(e, "expected an ECMAScript regular expression, got " + quote(pattern) + ": " +
                        error.what());
    }
    if (std::find(patterns.begin(), patterns.end(), pattern) != patterns.end()) {
      yaml_.fail(e, "duplicate pattern " + quote(pattern));
    }
    patterns.push_back(pattern);
  }
  return patterns;
}

std::vector<std::string> PolicyConfigReader::readSipDomains(const Item& item) const {
  std::vector<std::string> domains;
  for (const Item& e : yaml_.list(item)) {
    const std::string domain = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
    if (!isHostName(domain)) yaml_.fail(e, "expected a domain name, got " + describe(e.node));
    if (std::find(domains.begin(), domains.end(), domain) != domains.end()) {
      yaml_.fail(e, "duplicate domain " + quote(domain));
    }
    domains.push_back(domain);
  }
  if (domains.empty()) yaml_.fail(item, "expected at least one domain");
  return domains;
}

ProcessUpTo PolicyConfigReader::readProcessUpTo(const Item& item, RuleSites& sites) const {
  const auto f = yaml_.fields(item, {"limit", "mode"});
  const auto limit = f.find("limit");
  if (limit == f.end()) yaml_.fail(item, "missing key 'limit' (1..100000)");
  ProcessUpTo processUpTo;
  sites.lines["processUpTo.limit"] = limit->second.line;
  processUpTo.limit = yaml_.integer(limit->second, 1, 100000);
  if (auto it = f.find("mode"); it != f.end()) {
    sites.lines["processUpTo.mode"] = it->second.line;
    const std::string mode =
        it->second.node.IsScalar() ? ascii::lowered(it->second.node.Scalar()) : "";
    if (mode != "reject" && mode != "partial") {
      yaml_.fail(it->second, "expected 'reject' or 'partial', got " + describe(it->second.node));
    }
    processUpTo.mode = mode == "reject" ? ProcessUpToMode::kReject : ProcessUpToMode::kPartial;
  }
  return processUpTo;
}

PrivacyRules PolicyConfigReader::readPrivacy(const Item& item) const {
  const auto f = yaml_.fields(item, {"optedOut", "allowedTargets"});
  PrivacyRules privacy;
  if (auto it = f.find("optedOut"); it != f.end()) {
    privacy.optedOut = readAddressPatterns(it->second);
  }
  if (auto it = f.find("allowedTargets"); it != f.end()) {
    privacy.allowedTargets = readAddressPatterns(it->second);  // [] = nobody may be queried
  }
  return privacy;
}

std::vector<std::string> PolicyConfigReader::readAddressPatterns(const Item& item) const {
  std::vector<std::string> patterns;
  for (const Item& e : yaml_.list(item)) {
    std::string pattern = addressPattern(e);
    if (std::find(patterns.begin(), patterns.end(), pattern) != patterns.end()) {
      yaml_.fail(e, "duplicate pattern " + quote(pattern));
    }
    patterns.push_back(std::move(pattern));
  }
  return patterns;
}

// Patterns are matched against canonical addresses, so they are brought into the same form:
// without '*' the address module's canonical form; with '*' the scheme lower-cased and, as far
// as it can be done without parsing, tel: visual separators dropped and sip hosts lower-cased.
std::string PolicyConfigReader::addressPattern(const Item& item) const {
  const std::string expected =
      "expected a tel:, sip: or sips: address, or one with '*' for any "
      "characters (e.g. \"tel:+4930*\"), got ";
  if (!item.node.IsScalar()) yaml_.fail(item, expected + describe(item.node));
  const std::string& s = item.node.Scalar();
  const size_t colon = s.find(':');
  const std::string scheme = colon == std::string::npos ? "" : ascii::lowered(s.substr(0, colon));
  if (scheme != "tel" && scheme != "sip" && scheme != "sips") {
    yaml_.fail(item, expected + describe(item.node));
  }
  if (hasControl(s) || s.find(' ') != std::string::npos) {
    yaml_.fail(item,
               "expected an address pattern without spaces or control characters, got " + quote(s));
  }
  if (s.find('*') == std::string::npos) {
    const AddressParseResult r = parseAddress(s);
    if (!r.ok()) yaml_.fail(item, expected + quote(s) + ": " + r.reason);
    return r.address.canonical;
  }
  std::string rest = s.substr(colon + 1);
  const size_t params = std::min(rest.find(';'), rest.size());
  if (scheme == "tel") {
    std::string number;
    for (size_t i = 0; i < params; ++i) {
      if (!isVisualSeparator(rest[i])) number += rest[i];
    }
    rest = number + rest.substr(params);
  } else {
    const size_t at = rest.rfind('@', params);
    const size_t host = at == std::string::npos ? 0 : at + 1;
    rest = rest.substr(0, host) +
           ascii::lowered(std::string_view(rest).substr(host, params - host)) + rest.substr(params);
  }
  if (rest.empty()) yaml_.fail(item, expected + quote(s));
  return scheme + ":" + rest;
}

RateLimit PolicyConfigReader::readPacer(const Item& item) const {
  const auto f = yaml_.fields(item, {"limit", "windowMs"});
  const auto limit = f.find("limit");
  if (limit == f.end()) yaml_.fail(item, "missing key 'limit' (1..1000000000)");
  RateLimit pacer;
  pacer.limit = yaml_.integer(limit->second, 1, 1000000000);
  if (auto it = f.find("windowMs"); it != f.end()) {
    pacer.windowMs = yaml_.integer(it->second, 1, 86400000);
  }
  return pacer;
}

std::map<std::string, TrafficShapingRule> PolicyConfigReader::readTrafficShaping(
    const Item& item) const {
  std::map<std::string, TrafficShapingRule> shaping;
  for (const auto& [element, section] : yaml_.fields(item, {"presenceServer"})) {
    const auto f = yaml_.fields(section, {"ratePerSec", "burst"});
    const auto rate = f.find("ratePerSec");
    if (rate == f.end()) yaml_.fail(section, "missing key 'ratePerSec' (1..1000000)");
    TrafficShapingRule rule;
    rule.ratePerSec = yaml_.integer(rate->second, 1, 1000000);
    const auto burst = f.find("burst");
    rule.burst = burst != f.end() ? yaml_.integer(burst->second, 1, 1000000) : rule.ratePerSec;
    shaping.emplace(element, rule);
  }
  return shaping;
}

}  // namespace px::config
