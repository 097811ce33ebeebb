// The building blocks of a policy decision: wildcard patterns, privacy lists, address plans,
// group directory and the combination of levels into effective rules.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "address/Address.h"
#include "config/GatewayConfig.h"
#include "policy/AddressPlan.h"
#include "policy/EffectivePolicy.h"
#include "policy/GroupDirectory.h"
#include "policy/PrivacyList.h"
#include "policy/WildcardPattern.h"

namespace px::policy {
namespace {

Address parsed(std::string_view text) {
  const AddressParseResult r = parseAddress(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.reason;
  return r.address;
}

// ---------------------------------------------------------------- WildcardPattern

TEST(WildcardPattern, LiteralsMatchThemselvesOnly) {
  EXPECT_TRUE(matchesWildcard("tel:+4930123", "tel:+4930123"));
  EXPECT_FALSE(matchesWildcard("tel:+4930123", "tel:+49301234"));
  EXPECT_FALSE(matchesWildcard("tel:+4930123", "tel:+493012"));
  EXPECT_FALSE(matchesWildcard("sip:a@x.test", "sip:A@x.test"));  // case-sensitive
  EXPECT_TRUE(matchesWildcard("", ""));
  EXPECT_FALSE(matchesWildcard("", "a"));
}

TEST(WildcardPattern, StarMatchesAnyRun) {
  EXPECT_TRUE(matchesWildcard("*", ""));
  EXPECT_TRUE(matchesWildcard("*", "anything"));
  EXPECT_TRUE(matchesWildcard("tel:+4930*", "tel:+4930"));
  EXPECT_TRUE(matchesWildcard("tel:+4930*", "tel:+4930123"));
  EXPECT_FALSE(matchesWildcard("tel:+4930*", "tel:+4940123"));
  EXPECT_TRUE(matchesWildcard("sip:*@example.test", "sip:bob@example.test"));
  EXPECT_FALSE(matchesWildcard("sip:*@example.test", "sip:bob@example.test.evil"));
  EXPECT_TRUE(matchesWildcard("a*b*c", "axxbyyc"));
  EXPECT_TRUE(matchesWildcard("a*b*c", "abcbc"));  // needs backtracking past the first 'c'
  EXPECT_FALSE(matchesWildcard("a*b*c", "axxbyy"));
  EXPECT_TRUE(matchesWildcard("**a**", "bab"));
  EXPECT_FALSE(matchesWildcard("*a", "bbb"));
}

// ---------------------------------------------------------------- PrivacyList

TEST(PrivacyList, EmptyAllowsEverything) {
  const PrivacyList list(std::vector<const PrivacyRules*>{nullptr});
  EXPECT_TRUE(list.empty());
  EXPECT_TRUE(list.allows("tel:+4930123"));
}

TEST(PrivacyList, OptedOutListsOfAllLevelsAreUnited) {
  PrivacyRules global;
  global.optedOut = {"tel:+4930111"};
  PrivacyRules service;
  service.optedOut = {"sip:*@private.test"};
  const PrivacyList list({&global, nullptr, &service});
  EXPECT_FALSE(list.empty());
  EXPECT_FALSE(list.allows("tel:+4930111"));
  EXPECT_FALSE(list.allows("sip:alice@private.test"));
  EXPECT_TRUE(list.allows("tel:+4930112"));
  EXPECT_TRUE(list.allows("sip:alice@public.test"));
}

TEST(PrivacyList, EveryLevelWithAnAllowListMustMatch) {
  PrivacyRules service;
  service.allowedTargets = std::vector<std::string>{"tel:+49*", "sip:*@example.test"};
  PrivacyRules requester;
  requester.allowedTargets = std::vector<std::string>{"tel:+4930*"};
  const PrivacyList list({&service, &requester});
  EXPECT_TRUE(list.allows("tel:+4930123"));
  EXPECT_FALSE(list.allows("tel:+4940123"));          // not in the requester's list
  EXPECT_FALSE(list.allows("sip:bob@example.test"));  // not in the requester's list
  EXPECT_FALSE(list.allows("tel:+3330123"));

  const PrivacyList emptyAllowList({&service, nullptr});
  PrivacyRules nobody;
  nobody.allowedTargets = std::vector<std::string>{};
  EXPECT_TRUE(emptyAllowList.allows("sip:bob@example.test"));
  EXPECT_FALSE(PrivacyList({&nobody}).allows("tel:+4930123"));  // an empty list allows nobody
}

TEST(PrivacyList, OptOutWinsOverAnAllowList) {
  PrivacyRules rules;
  rules.optedOut = {"tel:+4930666"};
  rules.allowedTargets = std::vector<std::string>{"tel:+4930*"};
  const PrivacyList list({&rules});
  EXPECT_FALSE(list.allows("tel:+4930666"));
  EXPECT_TRUE(list.allows("tel:+4930667"));
}

TEST(PrivacyList, PatternsThatAreAddressesAreCanonicalised) {
  PrivacyRules rules;
  rules.optedOut = {"sip:Alice@EXAMPLE.test", "tel:+49-30-777", "SIP:*@Upper.Test"};
  const PrivacyList list({&rules});
  EXPECT_FALSE(list.allows(parsed("sip:Alice@example.test").canonical));
  EXPECT_TRUE(list.allows(parsed("sip:alice@example.test").canonical));  // user part is exact
  EXPECT_FALSE(list.allows(parsed("tel:+4930777").canonical));
  EXPECT_FALSE(list.allows(parsed("sip:x@upper.test").canonical));
}

TEST(PrivacyList, UriParametersDoNotHideATarget) {
  PrivacyRules rules;
  rules.optedOut = {"sip:bob@example.test", "tel:+4930888"};
  const PrivacyList list({&rules});
  EXPECT_FALSE(list.allows(parsed("sip:bob@example.test;user=ip").canonical));
  EXPECT_FALSE(list.allows(parsed("tel:+4930888;isub=12").canonical));
  EXPECT_TRUE(list.allows(parsed("sip:bob@example.test:5070").canonical));  // another endpoint

  PrivacyRules local;
  local.optedOut = {"tel:1234;phone-context=example.test"};
  const PrivacyList localList({&local});
  // phone-context is part of what a local number is: kept in the identity.
  EXPECT_FALSE(localList.allows(parsed("tel:1234;phone-context=example.test;ext=5").canonical));
  EXPECT_TRUE(localList.allows(parsed("tel:1234;phone-context=other.test").canonical));
}

// ---------------------------------------------------------------- AddressPlan

TEST(AddressPlan, EmptyPlanAllowsEverything) {
  const AddressPlan plan(std::vector<const AddressPlanRules*>{nullptr});
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.allows(parsed("tel:1234;phone-context=example.test")));
  EXPECT_TRUE(plan.allows(parsed("sip:a@anywhere.test")));
}

TEST(AddressPlan, E164OnlyRefusesLocalNumbers) {
  AddressPlanRules rules;
  rules.e164Only = true;
  AddressPlanRules relaxed;
  relaxed.e164Only = false;  // a later level cannot switch it off
  const AddressPlan plan({&rules, &relaxed});
  EXPECT_TRUE(plan.allows(parsed("tel:+4930123")));
  EXPECT_FALSE(plan.allows(parsed("tel:1234;phone-context=example.test")));
  EXPECT_FALSE(plan.allows(parsed("tel:1234;phone-context=+49")));
  EXPECT_TRUE(plan.allows(parsed("sip:1234@example.test")));  // tel rules only
}

TEST(AddressPlan, CountryCodes) {
  AddressPlanRules rules;
  rules.countryCodes = std::vector<std::string>{"49", "33"};
  const AddressPlan plan({&rules});
  EXPECT_TRUE(plan.allows(parsed("tel:+4930123")));
  EXPECT_TRUE(plan.allows(parsed("tel:+33123456")));
  EXPECT_FALSE(plan.allows(parsed("tel:+4130123")));
  EXPECT_FALSE(plan.allows(parsed("tel:+3")));
  EXPECT_TRUE(plan.allows(parsed("tel:1234;phone-context=+49-30")));  // country from context
  EXPECT_FALSE(plan.allows(parsed("tel:1234;phone-context=+41")));
  EXPECT_FALSE(plan.allows(parsed("tel:1234;phone-context=example.test")));  // no country

  AddressPlanRules narrower;
  narrower.countryCodes = std::vector<std::string>{"4930"};
  const AddressPlan both({&rules, &narrower});
  EXPECT_TRUE(both.allows(parsed("tel:+4930123")));
  EXPECT_FALSE(both.allows(parsed("tel:+4940123")));
  EXPECT_FALSE(both.allows(parsed("tel:+33123456")));
}

TEST(AddressPlan, TelPatternsOfAllLevelsMustMatchTheWholeNumber) {
  AddressPlanRules global;
  global.telPatterns = {R"(\+49\d+)"};
  AddressPlanRules requester;
  requester.telPatterns = {R"(\+49(30|40)\d{3,6})"};
  const AddressPlan plan({&global, &requester});
  EXPECT_TRUE(plan.allows(parsed("tel:+4930123")));
  EXPECT_TRUE(plan.allows(parsed("tel:+49-40-123456")));    // separators removed first
  EXPECT_FALSE(plan.allows(parsed("tel:+4950123")));        // only the global pattern matches
  EXPECT_FALSE(plan.allows(parsed("tel:+4930123456789")));  // partial match is not enough
  EXPECT_FALSE(plan.allows(parsed("tel:+3330123")));

  AddressPlanRules local;
  local.telPatterns = {R"(\d{4})"};
  EXPECT_TRUE(AddressPlan({&local}).allows(parsed("tel:1234;phone-context=example.test")));
}

TEST(AddressPlan, BadPatternIsRefusedAtConstruction) {
  AddressPlanRules rules;
  rules.telPatterns = {"+49("};
  try {
    AddressPlan plan({&rules});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("+49("), std::string::npos) << e.what();
  }
}

TEST(AddressPlan, SipDomainsAndTheirSubdomains) {
  AddressPlanRules rules;
  rules.sipDomains = std::vector<std::string>{"Example.TEST", "10.0.0.1"};
  const AddressPlan plan({&rules});
  EXPECT_TRUE(plan.allows(parsed("sip:a@example.test")));
  EXPECT_TRUE(plan.allows(parsed("sips:a@EXAMPLE.test")));
  EXPECT_TRUE(plan.allows(parsed("sip:a@ims.example.test:5060")));
  EXPECT_TRUE(plan.allows(parsed("sip:a@example.test.")));
  EXPECT_FALSE(plan.allows(parsed("sip:a@badexample.test")));
  EXPECT_FALSE(plan.allows(parsed("sip:a@example.test.evil")));
  EXPECT_TRUE(plan.allows(parsed("sip:a@10.0.0.1")));
  EXPECT_FALSE(plan.allows(parsed("sip:a@[::1]")));
  EXPECT_TRUE(plan.allows(parsed("tel:+4930123")));  // sip rules only

  AddressPlanRules ips;
  ips.sipDomains = std::vector<std::string>{"0.0.1"};
  EXPECT_FALSE(AddressPlan({&ips}).allows(parsed("sip:a@10.0.0.1")));  // no IP "subdomains"

  AddressPlanRules narrower;
  narrower.sipDomains = std::vector<std::string>{"ims.example.test"};
  const AddressPlan both({&rules, &narrower});
  EXPECT_TRUE(both.allows(parsed("sip:a@ims.example.test")));
  EXPECT_FALSE(both.allows(parsed("sip:a@example.test")));
}

// ---------------------------------------------------------------- GroupDirectory

TEST(GroupDirectory, SchemesAndMembers) {
  GroupsConfig config;
  config.schemes = {"glmgroup", "Team"};
  config.members["glmgroup:Sales"] = {"tel:+4930111", "sip:a@example.test"};
  const GroupDirectory groups(config);
  EXPECT_TRUE(groups.isGroup("glmgroup:Sales"));
  EXPECT_TRUE(groups.isGroup("GlmGroup:whatever"));
  EXPECT_TRUE(groups.isGroup("team:x"));
  EXPECT_FALSE(groups.isGroup("tel:+4930111"));
  EXPECT_FALSE(groups.isGroup("glmgroup"));
  EXPECT_FALSE(groups.isGroup(":glmgroup"));
  ASSERT_TRUE(groups.members("GLMGROUP:Sales").has_value());
  EXPECT_EQ(groups.members("GLMGROUP:Sales")->size(), 2u);
  EXPECT_FALSE(groups.members("glmgroup:sales").has_value());  // the rest is compared as written
  EXPECT_FALSE(groups.members("team:x").has_value());
}

// ---------------------------------------------------------------- EffectivePolicy

TEST(EffectivePolicy, DefaultsWithoutAnyRule) {
  const PolicyLevel defaults;
  const EffectivePolicy p = EffectivePolicy::resolve(
      PolicyLevels::collect(defaults, nullptr, PolicyOperation::kGetStatusForGroup),
      PolicyOperation::kGetStatusForGroup);
  EXPECT_TRUE(p.enabled);
  EXPECT_TRUE(p.groupsAllowed);
  EXPECT_EQ(p.maxTargets, 100u);
  EXPECT_FALSE(p.processUpTo);
  EXPECT_TRUE(p.allowsScheme(AddressScheme::kTel));
  EXPECT_TRUE(p.allowsScheme(AddressScheme::kSip));
  EXPECT_TRUE(p.allowsScheme(AddressScheme::kSips));
  EXPECT_TRUE(p.addressPlan.empty());
  EXPECT_TRUE(p.privacy.empty());
}

TEST(EffectivePolicy, MostRestrictiveOfAllLevels) {
  PolicyLevel defaults;
  defaults.rules.maxTargets = 50;
  defaults.rules.allowedSchemes =
      std::vector<AddressScheme>{AddressScheme::kTel, AddressScheme::kSip};
  defaults.services["terminalStatus"].rules.processUpTo =
      ProcessUpTo{20, ProcessUpToMode::kPartial};
  PolicyRules& op = defaults.services["terminalStatus"].operations["getStatusForGroup"];
  op.maxTargets = 30;
  PolicyLevel own;
  own.rules.groupsAllowed = false;
  own.rules.allowedSchemes = std::vector<AddressScheme>{AddressScheme::kSip, AddressScheme::kSips};
  PolicyRules& ownOp = own.services["terminalStatus"].operations["getStatusForGroup"];
  ownOp.processUpTo = ProcessUpTo{25, ProcessUpToMode::kReject};
  ownOp.maxTargets = 10;

  const EffectivePolicy p = EffectivePolicy::resolve(
      PolicyLevels::collect(defaults, &own, PolicyOperation::kGetStatusForGroup),
      PolicyOperation::kGetStatusForGroup);
  EXPECT_EQ(p.maxTargets, 10u);
  EXPECT_FALSE(p.groupsAllowed);
  EXPECT_FALSE(p.allowsScheme(AddressScheme::kTel));
  EXPECT_TRUE(p.allowsScheme(AddressScheme::kSip));
  EXPECT_FALSE(p.allowsScheme(AddressScheme::kSips));
  ASSERT_TRUE(p.processUpTo);
  EXPECT_EQ(p.processUpTo->limit, 20u);                      // smallest limit
  EXPECT_EQ(p.processUpTo->mode, ProcessUpToMode::kReject);  // any level rejecting

  // processUpTo is for getStatusForGroup only, and getStatusForGroup's maxTargets (30, 10) are
  // not getStatus's: it gets the global 50.
  const EffectivePolicy getStatus =
      EffectivePolicy::resolve(PolicyLevels::collect(defaults, &own, PolicyOperation::kGetStatus),
                               PolicyOperation::kGetStatus);
  EXPECT_FALSE(getStatus.processUpTo);
  EXPECT_EQ(getStatus.maxTargets, 50u);
}

TEST(EffectivePolicy, DisabledAtAnyLevel) {
  PolicyLevel defaults;
  defaults.services["callNotification"].rules.enabled = false;
  PolicyLevel own;
  own.services["terminalStatus"].operations["endNotification"].enabled = false;
  const auto enabled = [&](PolicyOperation op, const PolicyLevel* requester) {
    return EffectivePolicy::resolve(PolicyLevels::collect(defaults, requester, op), op).enabled;
  };
  EXPECT_FALSE(enabled(PolicyOperation::kStartCallNotification, nullptr));
  EXPECT_FALSE(enabled(PolicyOperation::kStopCallNotification, &own));
  EXPECT_TRUE(enabled(PolicyOperation::kEndNotification, nullptr));
  EXPECT_FALSE(enabled(PolicyOperation::kEndNotification, &own));
  EXPECT_TRUE(enabled(PolicyOperation::kStartNotification, &own));
}

}  // namespace
}  // namespace px::policy
