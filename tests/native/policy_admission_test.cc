// AdmissionControl: in-flight counts per scope, all-or-nothing admission, release by id.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "policy/AdmissionControl.h"

namespace px::policy {
namespace {

using ScopeSet = AdmissionControl::ScopeSet;

ScopeSet scopes(std::initializer_list<AdmissionControl::ScopeId> ids) {
  ScopeSet s;
  for (auto id : ids) s.add(id);
  return s;
}

TEST(AdmissionControl, RefusesWhenAScopeIsFullAndAdmitsAfterRelease) {
  AdmissionControl control;
  const auto service = control.addScope("service terminalStatus", 2);
  const ScopeSet set = scopes({service});
  const auto a = control.admit(set);
  const auto b = control.admit(set);
  ASSERT_NE(a.id, 0u);
  ASSERT_NE(b.id, 0u);
  EXPECT_EQ(control.inFlight(service), 2u);
  const auto c = control.admit(set);
  EXPECT_EQ(c.id, 0u);
  ASSERT_TRUE(c.refusedBy);
  EXPECT_EQ(*c.refusedBy, service);
  EXPECT_EQ(control.name(service), "service terminalStatus");
  EXPECT_EQ(control.maxInFlight(service), 2u);
  control.release(a.id);
  EXPECT_EQ(control.inFlight(service), 1u);
  EXPECT_NE(control.admit(set).id, 0u);
}

TEST(AdmissionControl, AllScopesOrNone) {
  AdmissionControl control;
  const auto requester = control.addScope("requester alice", 1);
  const auto gateway = control.addScope("gateway", 5);
  const auto first = control.admit(scopes({gateway, requester}));
  ASSERT_NE(first.id, 0u);
  const auto second = control.admit(scopes({gateway, requester}));
  EXPECT_EQ(second.id, 0u);
  EXPECT_EQ(*second.refusedBy, requester);
  EXPECT_EQ(control.inFlight(gateway), 1u);            // the refusal counted nowhere
  EXPECT_NE(control.admit(scopes({gateway})).id, 0u);  // another requester: only the gateway
  EXPECT_EQ(control.inFlight(gateway), 2u);
  EXPECT_EQ(control.inFlight(), 2u);
  control.release(first.id);
  EXPECT_EQ(control.inFlight(requester), 0u);
  EXPECT_EQ(control.inFlight(gateway), 1u);
}

TEST(AdmissionControl, RequestsWithoutLimitedScopesAreCountedInTotal) {
  AdmissionControl control;
  const auto a = control.admit(ScopeSet());
  const auto b = control.admit(ScopeSet());
  EXPECT_NE(a.id, 0u);
  EXPECT_NE(b.id, a.id);
  EXPECT_EQ(control.inFlight(), 2u);
  control.release(a.id);
  control.release(b.id);
  EXPECT_EQ(control.inFlight(), 0u);
}

TEST(AdmissionControl, UnknownAndRepeatedIdsAreIgnored) {
  AdmissionControl control;
  const auto scope = control.addScope("gateway", 10);
  const auto a = control.admit(scopes({scope}));
  const auto b = control.admit(scopes({scope}));
  control.release(0);
  control.release(123456789);
  control.release(a.id ^ (uint64_t{1} << 40));  // right slot, wrong generation
  EXPECT_EQ(control.inFlight(scope), 2u);
  control.release(a.id);
  control.release(a.id);
  EXPECT_EQ(control.inFlight(scope), 1u);
  EXPECT_EQ(control.inFlight(), 1u);
  // The freed slot is reused under a new id; the old id still releases nothing.
  const auto c = control.admit(scopes({scope}));
  EXPECT_NE(c.id, a.id);
  control.release(a.id);
  EXPECT_EQ(control.inFlight(scope), 2u);
  control.release(b.id);
  control.release(c.id);
  EXPECT_EQ(control.inFlight(scope), 0u);
}

TEST(AdmissionControl, IdsAreUniqueAndNonZero) {
  AdmissionControl control;
  std::set<uint64_t> seen;
  for (int round = 0; round < 50; ++round) {
    const auto a = control.admit(ScopeSet());
    const auto b = control.admit(ScopeSet());
    EXPECT_NE(a.id, 0u);
    EXPECT_TRUE(seen.insert(a.id).second);
    EXPECT_TRUE(seen.insert(b.id).second);
    control.release(a.id);
    control.release(b.id);
  }
  EXPECT_EQ(control.inFlight(), 0u);
}

TEST(AdmissionControl, ScopeSetHasRoomForSixScopes) {
  ScopeSet set;
  for (AdmissionControl::ScopeId i = 0; i < AdmissionControl::kMaxScopesPerRequest; ++i) {
    set.add(i);
  }
  EXPECT_EQ(set.size(), 6u);
  EXPECT_THROW(set.add(7), std::length_error);
}

}  // namespace
}  // namespace px::policy
