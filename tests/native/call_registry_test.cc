// CallRegistry: the start rules (duplicate correlator per kind, overlap), the owner check of stop,
// restore, and what is published to the SIP thread's CallWatchIndex.
#include "call/CallRegistry.h"

#include <gtest/gtest.h>

namespace px::call {
namespace {

using Result = CallRegistry::StartOutcome::Result;

constexpr auto kBusy = CallEventSet().with(CallEvent::kBusy);
constexpr auto kNoAnswer = CallEventSet().with(CallEvent::kNoAnswer);

CallRegistration reg(RegistrationKind kind, std::string requester, std::string correlator,
                     std::vector<std::string> addresses,
                     CallEventSet criteria = CallEventSet::all()) {
  CallRegistration r;
  r.kind = kind;
  r.requester = std::move(requester);
  r.correlator = std::move(correlator);
  r.addresses = std::move(addresses);
  r.criteria = criteria;
  r.endpoint = "http://app.test/cb";
  return r;
}

const auto N = RegistrationKind::kNotification;
const auto D = RegistrationKind::kDirection;

TEST(CallRegistry, StartPublishesAndAssignsStartOrder) {
  CallWatchIndex index;
  CallRegistry registry(index);
  EXPECT_TRUE(index.current()->registrations().empty());
  EXPECT_EQ(registry.start(reg(N, "app", "c1", {"tel:+15551234567"})).result, Result::kStarted);
  EXPECT_EQ(registry.start(reg(D, "app", "c1", {"tel:+1555*"})).result, Result::kStarted);
  const auto matcher = index.current();
  ASSERT_EQ(matcher->registrations().size(), 2u);
  EXPECT_EQ(matcher->registrations()[0].order, 1u);
  EXPECT_EQ(matcher->registrations()[1].order, 2u);
  EXPECT_EQ(matcher, registry.matcher());
  EXPECT_NE(matcher->decider("tel:+15551234567", CallEvent::kBusy), nullptr);
}

TEST(CallRegistry, CorrelatorIsUniquePerKind) {
  CallWatchIndex index;
  CallRegistry registry(index);
  ASSERT_EQ(registry.start(reg(N, "a", "c", {"tel:+1"})).result, Result::kStarted);
  // Another requester, another address: still the same correlator of the same kind.
  EXPECT_EQ(registry.start(reg(N, "b", "c", {"tel:+2"})).result, Result::kDuplicateCorrelator);
  EXPECT_EQ(registry.start(reg(D, "b", "c", {"tel:+2"})).result, Result::kStarted);
  EXPECT_EQ(registry.size(), 2u);
}

TEST(CallRegistry, NotificationOverlapIsPerRequester) {
  CallWatchIndex index;
  CallRegistry registry(index);
  ASSERT_EQ(registry.start(reg(N, "a", "c1", {"tel:+1", "tel:+2*"}, kBusy)).result,
            Result::kStarted);
  const auto same = registry.start(reg(N, "a", "c2", {"tel:+3", "tel:+2*"}, kBusy | kNoAnswer));
  EXPECT_EQ(same.result, Result::kOverlappingCriteria);
  EXPECT_EQ(same.address, "tel:+2*");
  // Disjoint criteria, a different pattern, or another requester: allowed.
  EXPECT_EQ(registry.start(reg(N, "a", "c3", {"tel:+2*"}, kNoAnswer)).result, Result::kStarted);
  EXPECT_EQ(registry.start(reg(N, "a", "c4", {"tel:+21*"}, kBusy)).result, Result::kStarted);
  EXPECT_EQ(registry.start(reg(N, "b", "c5", {"tel:+1"}, kBusy)).result, Result::kStarted);
}

TEST(CallRegistry, DirectionOverlapIsAcrossRequesters) {
  CallWatchIndex index;
  CallRegistry registry(index);
  ASSERT_EQ(registry.start(reg(D, "a", "c1", {"tel:+1"}, kBusy)).result, Result::kStarted);
  const auto other = registry.start(reg(D, "b", "c2", {"tel:+1"}, CallEventSet::all()));
  EXPECT_EQ(other.result, Result::kOverlappingCriteria);
  EXPECT_EQ(other.address, "tel:+1");
  EXPECT_EQ(registry.start(reg(D, "b", "c3", {"tel:+1"}, kNoAnswer)).result, Result::kStarted);
  // A notification of the same address never competes with a decider.
  EXPECT_EQ(registry.start(reg(N, "b", "c4", {"tel:+1"}, kBusy)).result, Result::kStarted);
}

TEST(CallRegistry, StopChecksTheOwner) {
  CallWatchIndex index;
  CallRegistry registry(index);
  ASSERT_EQ(registry.start(reg(N, "a", "c", {"tel:+1"})).result, Result::kStarted);
  EXPECT_EQ(registry.stop(N, "b", "c"), CallRegistry::StopResult::kNotOwner);
  EXPECT_EQ(registry.stop(D, "a", "c"), CallRegistry::StopResult::kUnknown);
  EXPECT_EQ(registry.stop(N, "a", "zz"), CallRegistry::StopResult::kUnknown);
  EXPECT_EQ(index.current()->registrations().size(), 1u);
  EXPECT_EQ(registry.stop(N, "a", "c"), CallRegistry::StopResult::kStopped);
  EXPECT_TRUE(index.current()->registrations().empty());
  // The correlator is free again.
  EXPECT_EQ(registry.start(reg(N, "b", "c", {"tel:+1"})).result, Result::kStarted);
}

TEST(CallRegistry, RestoreKeepsStartOrderAndContinuesAfterIt) {
  CallWatchIndex index;
  CallRegistry registry(index);
  auto older = reg(D, "a", "old", {"tel:+1"}, kBusy);
  older.order = 7;
  auto newer = reg(D, "b", "new", {"tel:+1"}, kNoAnswer);
  newer.order = 9;
  registry.restore({newer, older});
  ASSERT_EQ(index.current()->registrations().size(), 2u);
  EXPECT_EQ(index.current()->registrations()[0].correlator, "old");
  EXPECT_EQ(registry.start(reg(N, "a", "n", {"tel:+1"})).result, Result::kStarted);
  EXPECT_EQ(registry.registrations().back().order, 10u);
  EXPECT_EQ(index.current()->decider("tel:+1", CallEvent::kBusy)->correlator, "old");
}

}  // namespace
}  // namespace px::call
