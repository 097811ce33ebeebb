// NotificationEngine: which statusNotification / statusError / statusEnd go out, and when.
#include "notify/NotificationEngine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

// mallinfo2() sees glibc's heap only: not under AddressSanitizer's allocator.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define PX_MEASURE_HEAP 1
#include <malloc.h>
#endif

namespace px {
namespace {

using Kind = Delivery::Kind;
using S = TerminalStatus;

constexpr TimeMs kT0 = 1'700'000'000'000;  // a realistic wall-clock time
constexpr TimeMs kHour = 3'600'000;

std::string addressOf(int n) {
  return "tel:+4930" + std::to_string(1000000 + n);
}
std::string keyOf(int n) {
  return "sip:+4930" + std::to_string(1000000 + n) + "@ims.example.test";
}

NotificationKey idOf(const std::string& correlator, const std::string& requester = "") {
  return NotificationKey{requester, correlator};
}

// A notification on terminals `terminals` (by number), expiring in an hour, any status.
NotificationSpec spec(const std::string& correlator, const std::vector<int>& terminals) {
  NotificationSpec s;
  s.id = idOf(correlator);
  s.endpoint = "http://app.example.test:8080/ts/" + correlator;
  s.interfaceName = "TerminalStatusNotification";
  s.globalId = "gid-" + correlator;
  for (int n : terminals) s.addresses.push_back(WatchedAddress{addressOf(n), keyOf(n), {}});
  s.createdAtMs = kT0;
  s.expiresAtMs = kT0 + kHour;
  return s;
}

std::vector<std::pair<std::string, TerminalStatus>> statuses(
    std::initializer_list<std::pair<int, TerminalStatus>> list) {
  std::vector<std::pair<std::string, TerminalStatus>> result;
  for (const auto& [n, s] : list) result.emplace_back(addressOf(n), s);
  return result;
}

bool contains(const std::vector<NotificationKey>& v, const NotificationKey& k) {
  return std::find(v.begin(), v.end(), k) != v.end();
}

class EngineTest : public ::testing::Test {
 protected:
  NotificationEngine engine_;

  EngineEffects start(NotificationSpec s, TimeMs now = kT0) {
    EngineEffects out;
    EXPECT_EQ(engine_.start(std::move(s), now, out), NotificationEngine::StartResult::kStarted);
    return out;
  }
  EngineEffects status(int terminal, TerminalStatus s, TimeMs now) {
    EngineEffects out;
    engine_.onStatus(keyOf(terminal), s, now, out);
    return out;
  }
  EngineEffects advance(TimeMs now) {
    EngineEffects out;
    engine_.advance(now, out);
    return out;
  }
  const NotificationState& state(const std::string& correlator) {
    const NotificationState* st = engine_.find(idOf(correlator));
    EXPECT_NE(st, nullptr) << correlator;
    static const NotificationState kEmpty;
    return st ? *st : kEmpty;
  }
};

// ---------------------------------------------------------------- start, duplicates, end

TEST_F(EngineTest, StartWatchesEachKeyOnceAndReportsChanged) {
  NotificationSpec s = spec("c1", {1, 2});
  s.addresses.push_back(WatchedAddress{"sip:+49301000001@ims.example.test", keyOf(1), {}});
  const EngineEffects out = start(s);
  EXPECT_EQ(out.watch, (std::vector<std::string>{keyOf(1), keyOf(2)}));
  EXPECT_TRUE(out.unwatch.empty());
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(contains(out.changed, idOf("c1")));
  EXPECT_TRUE(out.ended.empty());
  EXPECT_EQ(engine_.size(), 1u);
  EXPECT_EQ(engine_.watchedTerminals(), 2u);
  EXPECT_EQ(state("c1").spec.addresses.size(), 3u);
  EXPECT_EQ(state("c1").spec.endpoint, s.endpoint);
}

TEST_F(EngineTest, DuplicateCorrelatorIsRefusedAndChangesNothing) {
  start(spec("c1", {1}));
  EngineEffects out;
  NotificationSpec again = spec("c1", {2});
  again.endpoint = "http://other.example.test/";
  EXPECT_EQ(engine_.start(again, kT0, out), NotificationEngine::StartResult::kDuplicateCorrelator);
  EXPECT_TRUE(out.watch.empty());
  EXPECT_TRUE(out.changed.empty());
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_EQ(engine_.size(), 1u);
  EXPECT_EQ(engine_.watchedTerminals(), 1u);
  EXPECT_EQ(state("c1").spec.endpoint, spec("c1", {1}).endpoint);
}

TEST_F(EngineTest, SameCorrelatorOfAnotherRequesterIsAnotherNotification) {
  start(spec("c1", {1}));
  NotificationSpec other = spec("c1", {1});
  other.id.requester = "app-b";
  const EngineEffects out = start(other);
  EXPECT_TRUE(out.watch.empty());  // terminal 1 is already watched
  EXPECT_EQ(engine_.size(), 2u);
  EXPECT_EQ(engine_.keys(), (std::vector<NotificationKey>{idOf("c1"), idOf("c1", "app-b")}));
}

TEST_F(EngineTest, SharedTerminalIsUnwatchedOnlyWhenTheLastWatcherEnds) {
  EXPECT_EQ(start(spec("a", {1, 2})).watch, (std::vector<std::string>{keyOf(1), keyOf(2)}));
  EXPECT_EQ(start(spec("b", {2, 3})).watch, (std::vector<std::string>{keyOf(3)}));
  EXPECT_EQ(engine_.watchedTerminals(), 3u);

  EngineEffects out;
  EXPECT_TRUE(engine_.end(idOf("a"), out));
  EXPECT_EQ(out.unwatch, (std::vector<std::string>{keyOf(1)}));
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("a")}));
  EXPECT_TRUE(out.deliveries.empty());  // end(): no statusEnd

  EngineEffects out2;
  EXPECT_TRUE(engine_.end(idOf("b"), out2));
  EXPECT_EQ(out2.unwatch, (std::vector<std::string>{keyOf(2), keyOf(3)}));
  EXPECT_EQ(engine_.watchedTerminals(), 0u);
  EXPECT_EQ(engine_.size(), 0u);
  EXPECT_EQ(engine_.nextDeadline(), std::nullopt);
}

TEST_F(EngineTest, EndOfUnknownIdReturnsFalse) {
  start(spec("a", {1}));
  EngineEffects out;
  EXPECT_FALSE(engine_.end(idOf("zzz"), out));
  EXPECT_FALSE(engine_.end(idOf("a", "someone-else"), out));
  EXPECT_TRUE(out.ended.empty());
  EXPECT_TRUE(out.unwatch.empty());
  EXPECT_EQ(engine_.size(), 1u);
}

TEST_F(EngineTest, EndDropsPendingWithoutAnyDelivery) {
  NotificationSpec s = spec("a", {1});
  s.frequencyMs = 60'000;
  start(s);
  status(1, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0 + 1).deliveries.size(), 1u);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 2).deliveries.empty());  // pending, window closed
  EngineEffects out;
  EXPECT_TRUE(engine_.end(idOf("a"), out));
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), std::nullopt);
  EXPECT_TRUE(advance(kT0 + kHour * 2).deliveries.empty());
}

TEST_F(EngineTest, TerminateSendsOneWholeNotificationStatusErrorAndEnds) {
  start(spec("a", {1, 2}));
  start(spec("b", {2}));
  EngineEffects out;
  EXPECT_FALSE(engine_.terminate(idOf("zzz"), "operator", out));
  EXPECT_TRUE(out.deliveries.empty());
  ASSERT_TRUE(engine_.terminate(idOf("a"), "terminated by the operator", out));
  ASSERT_EQ(out.deliveries.size(), 1u);
  const Delivery& d = out.deliveries[0];
  EXPECT_EQ(d.kind, Kind::kStatusError);
  EXPECT_EQ(d.id, idOf("a"));
  EXPECT_EQ(d.address, "");
  EXPECT_EQ(d.messageId, "SVC0001");
  EXPECT_EQ(d.variables, std::vector<std::string>{"terminated by the operator"});
  EXPECT_TRUE(contains(out.ended, idOf("a")));
  // Terminal 2 is still watched by "b"; only terminal 1 is given up.
  EXPECT_EQ(out.unwatch, std::vector<std::string>{keyOf(1)});
  EXPECT_EQ(engine_.find(idOf("a")), nullptr);
  EXPECT_EQ(engine_.size(), 1u);
}

TEST_F(EngineTest, StatusOfAnUnwatchedTerminalIsIgnored) {
  start(spec("a", {1}));
  const EngineEffects out = status(9, S::kBusy, kT0);
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(out.changed.empty());
  EXPECT_EQ(engine_.watchedTerminals(), 1u);
}

// ---------------------------------------------------------------- baseline, checkImmediate

TEST_F(EngineTest, FirstStatusIsABaselineWithoutCheckImmediate) {
  start(spec("a", {1}));
  const EngineEffects first = status(1, S::kReachable, kT0 + 10);
  EXPECT_TRUE(first.deliveries.empty());
  EXPECT_TRUE(contains(first.changed, idOf("a")));  // lastSeen is stored
  EXPECT_EQ(state("a").spec.addresses[0].lastSeen, S::kReachable);

  const EngineEffects second = status(1, S::kBusy, kT0 + 20);
  ASSERT_EQ(second.deliveries.size(), 1u);
  const Delivery& d = second.deliveries[0];
  EXPECT_EQ(d.kind, Kind::kStatusNotification);
  EXPECT_EQ(d.id, idOf("a"));
  EXPECT_EQ(d.endpoint, spec("a", {}).endpoint);
  EXPECT_EQ(d.globalId, "gid-a");
  EXPECT_EQ(d.statuses, statuses({{1, S::kBusy}}));
  EXPECT_EQ(state("a").progress.sent, 1u);
  EXPECT_EQ(state("a").progress.lastSentAtMs, kT0 + 20);
}

TEST_F(EngineTest, RepeatedSameStatusIsNotAChange) {
  start(spec("a", {1}));
  status(1, S::kReachable, kT0);
  const EngineEffects out = status(1, S::kReachable, kT0 + 5);
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(out.changed.empty());
}

TEST_F(EngineTest, CheckImmediateReportsAStatusAlreadyKnownInStart) {
  start(spec("a", {1}));
  status(1, S::kBusy, kT0);
  NotificationSpec s = spec("b", {1, 2});
  s.checkImmediate = true;
  const EngineEffects out = start(s, kT0 + 100);
  EXPECT_EQ(out.watch, (std::vector<std::string>{keyOf(2)}));
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].id, idOf("b"));
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kBusy}}));
  EXPECT_EQ(state("b").spec.addresses[0].lastSeen, S::kBusy);
  EXPECT_EQ(state("b").progress.sent, 1u);

  // Terminal 2 was not known yet: its first status is reported when it arrives.
  const EngineEffects later = status(2, S::kUnreachable, kT0 + 200);
  ASSERT_EQ(later.deliveries.size(), 1u);
  EXPECT_EQ(later.deliveries[0].statuses, statuses({{2, S::kUnreachable}}));
  EXPECT_EQ(state("b").progress.sent, 2u);
}

TEST_F(EngineTest, KnownStatusIsCopiedIntoLastSeenWithoutCheckImmediate) {
  start(spec("a", {1}));
  status(1, S::kBusy, kT0);
  const EngineEffects out = start(spec("b", {1}), kT0 + 1);
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_EQ(state("b").spec.addresses[0].lastSeen, S::kBusy);
  // The next change is reported to both.
  const EngineEffects change = status(1, S::kReachable, kT0 + 2);
  ASSERT_EQ(change.deliveries.size(), 2u);
  EXPECT_EQ(change.deliveries[0].id, idOf("a"));
  EXPECT_EQ(change.deliveries[1].id, idOf("b"));
}

TEST_F(EngineTest, CheckImmediateReportsTheFirstStatusWhenItArrives) {
  NotificationSpec s = spec("a", {1});
  s.checkImmediate = true;
  EXPECT_TRUE(start(s).deliveries.empty());
  const EngineEffects out = status(1, S::kReachable, kT0 + 1);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kReachable}}));
  // Only the first: the same status again is nothing.
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 2).deliveries.empty());
}

TEST_F(EngineTest, CheckImmediateReportsOnlyStatusesInTheCriteria) {
  NotificationSpec s = spec("a", {1});
  s.checkImmediate = true;
  s.criteria = {S::kBusy};
  start(s);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 1).deliveries.empty());
  const EngineEffects out = status(1, S::kBusy, kT0 + 2);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kBusy}}));
}

TEST_F(EngineTest, CheckImmediateWithKnownStatusOutsideCriteriaSendsNothing) {
  start(spec("a", {1}));
  status(1, S::kReachable, kT0);
  NotificationSpec s = spec("b", {1});
  s.checkImmediate = true;
  s.criteria = {S::kUnreachable};
  EXPECT_TRUE(start(s, kT0 + 1).deliveries.empty());
  EXPECT_EQ(state("b").spec.addresses[0].lastSeen, S::kReachable);
}

// ---------------------------------------------------------------- criteria

TEST_F(EngineTest, CriteriaFilterChanges) {
  NotificationSpec s = spec("a", {1});
  s.criteria = {S::kBusy, S::kUnreachable};
  start(s);
  status(1, S::kReachable, kT0);
  EXPECT_EQ(status(1, S::kBusy, kT0 + 1).deliveries.size(), 1u);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 2).deliveries.empty());
  const EngineEffects out = status(1, S::kUnreachable, kT0 + 3);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kUnreachable}}));
  EXPECT_EQ(state("a").progress.sent, 2u);
  EXPECT_EQ(state("a").spec.addresses[0].lastSeen, S::kUnreachable);
}

TEST_F(EngineTest, ChangeBackOutOfCriteriaCancelsThePendingEntry) {
  NotificationSpec s = spec("a", {1});
  s.criteria = {S::kBusy};
  s.frequencyMs = 10'000;
  start(s);
  status(1, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0 + 1).deliveries.size(), 1u);  // opens the window
  status(1, S::kReachable, kT0 + 2);
  EXPECT_TRUE(status(1, S::kBusy, kT0 + 3).deliveries.empty());  // pending
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 1 + 10'000);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 4).deliveries.empty());  // cancels it
  EXPECT_EQ(engine_.nextDeadline(), s.expiresAtMs);
  EXPECT_TRUE(advance(kT0 + 20'000).deliveries.empty());
  EXPECT_EQ(state("a").progress.sent, 1u);
}

// ---------------------------------------------------------------- frequency

TEST_F(EngineTest, ChangeInsideTheWindowGoesOutWhenItOpensWithTheLatestStatus) {
  NotificationSpec s = spec("a", {1});
  s.frequencyMs = 10'000;
  start(s);
  status(1, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0 + 1'000).deliveries.size(), 1u);
  EXPECT_EQ(engine_.nextDeadline(), s.expiresAtMs);  // nothing pending

  EXPECT_TRUE(status(1, S::kUnreachable, kT0 + 2'000).deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 11'000);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 3'000).deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 11'000);

  EXPECT_TRUE(advance(kT0 + 10'999).deliveries.empty());
  const EngineEffects out = advance(kT0 + 11'000);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kReachable}}));
  EXPECT_TRUE(contains(out.changed, idOf("a")));
  EXPECT_EQ(state("a").progress.lastSentAtMs, kT0 + 11'000);
  EXPECT_EQ(state("a").progress.sent, 2u);
  EXPECT_EQ(engine_.nextDeadline(), s.expiresAtMs);

  // The next window starts at that send.
  EXPECT_TRUE(status(1, S::kBusy, kT0 + 20'000).deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 21'000);
}

TEST_F(EngineTest, ChangeAfterTheWindowGoesOutAtOnce) {
  NotificationSpec s = spec("a", {1});
  s.frequencyMs = 10'000;
  start(s);
  status(1, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0).deliveries.size(), 1u);
  EXPECT_EQ(status(1, S::kReachable, kT0 + 10'000).deliveries.size(), 1u);
}

TEST_F(EngineTest, SeveralAddressesAreBatchedInAddressOrder) {
  NotificationSpec s = spec("a", {1, 2, 3});
  s.frequencyMs = 5'000;
  start(s);
  for (int n : {1, 2, 3}) status(n, S::kReachable, kT0);
  ASSERT_EQ(status(2, S::kBusy, kT0 + 1).deliveries.size(), 1u);
  EXPECT_TRUE(status(3, S::kBusy, kT0 + 2).deliveries.empty());
  EXPECT_TRUE(status(1, S::kUnreachable, kT0 + 3).deliveries.empty());
  EXPECT_TRUE(status(2, S::kUnreachable, kT0 + 4).deliveries.empty());
  const EngineEffects out = advance(kT0 + 5'001);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses,
            statuses({{1, S::kUnreachable}, {2, S::kUnreachable}, {3, S::kBusy}}));
}

TEST_F(EngineTest, SameKeyUnderTwoAddressesIsWatchedOnceAndReportedForBoth) {
  NotificationSpec s = spec("a", {1});
  s.addresses.push_back(WatchedAddress{"sip:alias@example.test", keyOf(1), {}});
  EXPECT_EQ(start(s).watch.size(), 1u);
  status(1, S::kReachable, kT0);
  const EngineEffects out = status(1, S::kBusy, kT0 + 1);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses,
            (std::vector<std::pair<std::string, TerminalStatus>>{
                {addressOf(1), S::kBusy}, {"sip:alias@example.test", S::kBusy}}));
  EngineEffects ended;
  engine_.end(idOf("a"), ended);
  EXPECT_EQ(ended.unwatch, (std::vector<std::string>{keyOf(1)}));
}

// ---------------------------------------------------------------- count, expiry

TEST_F(EngineTest, CountSendsExactlyCountNotificationsThenStatusEnd) {
  NotificationSpec s = spec("a", {1, 2});
  s.countLimit = 2;
  start(s);
  status(1, S::kReachable, kT0);
  status(2, S::kReachable, kT0);
  EXPECT_EQ(status(1, S::kBusy, kT0 + 1).deliveries.size(), 1u);
  const EngineEffects out = status(1, S::kUnreachable, kT0 + 2);
  ASSERT_EQ(out.deliveries.size(), 2u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(out.deliveries[1].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[1].id, idOf("a"));
  EXPECT_EQ(out.deliveries[1].endpoint, s.endpoint);
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("a")}));
  EXPECT_EQ(out.unwatch, (std::vector<std::string>{keyOf(1), keyOf(2)}));
  EXPECT_EQ(engine_.find(idOf("a")), nullptr);
  EXPECT_TRUE(status(1, S::kBusy, kT0 + 3).deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), std::nullopt);
}

TEST_F(EngineTest, CountReachedByADeferredNotificationEndsInAdvance) {
  NotificationSpec s = spec("a", {1});
  s.countLimit = 2;
  s.frequencyMs = 1'000;
  start(s);
  status(1, S::kReachable, kT0);
  status(1, S::kBusy, kT0);
  status(1, S::kReachable, kT0 + 10);
  const EngineEffects out = advance(kT0 + 1'000);
  ASSERT_EQ(out.deliveries.size(), 2u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(out.deliveries[1].kind, Kind::kStatusEnd);
  EXPECT_GT(out.deliveries[1].sequence, out.deliveries[0].sequence);
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("a")}));
  EXPECT_EQ(engine_.size(), 0u);
}

TEST_F(EngineTest, CountOfOneWithCheckImmediateEndsInStart) {
  start(spec("a", {1}));
  status(1, S::kBusy, kT0);
  NotificationSpec s = spec("b", {1});
  s.checkImmediate = true;
  s.countLimit = 1;
  const EngineEffects out = start(s, kT0 + 1);
  ASSERT_EQ(out.deliveries.size(), 2u);
  EXPECT_EQ(out.deliveries[1].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("b")}));
  EXPECT_TRUE(out.unwatch.empty());  // "a" still watches terminal 1
  EXPECT_EQ(engine_.watchedTerminals(), 1u);
}

TEST_F(EngineTest, ExpirySendsStatusEndAndDropsPending) {
  NotificationSpec s = spec("a", {1});
  s.frequencyMs = kHour;  // the pending entry cannot go out before expiry
  start(s);
  status(1, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0 + 1).deliveries.size(), 1u);
  status(1, S::kUnreachable, kT0 + 2);
  EXPECT_EQ(engine_.nextDeadline(), s.expiresAtMs);

  EXPECT_TRUE(advance(s.expiresAtMs - 1).deliveries.empty());
  const EngineEffects out = advance(s.expiresAtMs);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].globalId, "gid-a");
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("a")}));
  EXPECT_EQ(out.unwatch, (std::vector<std::string>{keyOf(1)}));
  EXPECT_FALSE(contains(out.changed, idOf("a")));
  EXPECT_EQ(engine_.nextDeadline(), std::nullopt);
  EXPECT_TRUE(advance(s.expiresAtMs + kHour * 2).deliveries.empty());
}

TEST_F(EngineTest, AdvanceHandlesExpiriesBeforeOpenWindows) {
  NotificationSpec a = spec("a", {1});
  a.frequencyMs = 1'000;
  NotificationSpec b = spec("b", {2});
  b.expiresAtMs = kT0 + 5'000;
  start(a);
  start(b);
  status(1, S::kReachable, kT0);
  status(1, S::kBusy, kT0);
  status(1, S::kReachable, kT0 + 1);  // "a" pending until kT0 + 1000
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 1'000);
  const EngineEffects out = advance(kT0 + 6'000);
  ASSERT_EQ(out.deliveries.size(), 2u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].id, idOf("b"));
  EXPECT_EQ(out.deliveries[1].kind, Kind::kStatusNotification);
  EXPECT_EQ(out.deliveries[1].id, idOf("a"));
}

TEST_F(EngineTest, NextDeadlineIsTheEarliestExpiry) {
  EXPECT_EQ(engine_.nextDeadline(), std::nullopt);
  NotificationSpec a = spec("a", {1});
  a.expiresAtMs = kT0 + 9'000;
  NotificationSpec b = spec("b", {2});
  b.expiresAtMs = kT0 + 3'000;
  start(a);
  start(b);
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 3'000);
  EngineEffects out;
  engine_.end(idOf("b"), out);
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 9'000);
}

// ---------------------------------------------------------------- subscription failure

TEST_F(EngineTest, SubscriptionFailureSendsStatusErrorAndRemovesTheAddress) {
  start(spec("a", {1, 2}));
  start(spec("b", {2}));
  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(2), "403 Forbidden", kT0 + 1, out);

  ASSERT_EQ(out.deliveries.size(), 2u);
  for (const Delivery& d : out.deliveries) {
    EXPECT_EQ(d.kind, Kind::kStatusError);
    EXPECT_EQ(d.address, addressOf(2));
    EXPECT_EQ(d.messageId, "SVC0001");
    EXPECT_EQ(d.text, "A service error occurred. Error code is %1");
    EXPECT_EQ(d.variables, (std::vector<std::string>{"403 Forbidden"}));
  }
  EXPECT_EQ(out.deliveries[0].id, idOf("a"));
  EXPECT_EQ(out.deliveries[0].endpoint, spec("a", {}).endpoint);
  EXPECT_EQ(out.deliveries[1].id, idOf("b"));
  EXPECT_TRUE(out.unwatch.empty());  // the SIP side already dropped it
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("b")}));  // no address left
  EXPECT_TRUE(contains(out.changed, idOf("a")));
  EXPECT_EQ(engine_.watchedTerminals(), 1u);

  ASSERT_EQ(state("a").spec.addresses.size(), 1u);
  EXPECT_EQ(state("a").spec.addresses[0].address, addressOf(1));
  EXPECT_EQ(engine_.find(idOf("b")), nullptr);

  // "a" still works on terminal 1; terminal 2 is no longer relevant.
  status(1, S::kReachable, kT0 + 2);
  EXPECT_EQ(status(1, S::kBusy, kT0 + 3).deliveries.size(), 1u);
  EXPECT_TRUE(status(2, S::kBusy, kT0 + 3).deliveries.empty());
}

TEST_F(EngineTest, SubscriptionFailureKeepsLaterAddressesWorking) {
  NotificationSpec s = spec("a", {1, 2, 3});
  s.frequencyMs = 1'000;
  start(s);
  for (int n : {1, 2, 3}) status(n, S::kReachable, kT0);
  ASSERT_EQ(status(1, S::kBusy, kT0).deliveries.size(), 1u);
  status(2, S::kBusy, kT0 + 1);  // pending for the address about to fail
  status(3, S::kBusy, kT0 + 2);  // pending for a later address

  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(2), "timeout", kT0 + 3, out);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_TRUE(out.ended.empty());

  const EngineEffects sent = advance(kT0 + 1'000);
  ASSERT_EQ(sent.deliveries.size(), 1u);
  EXPECT_EQ(sent.deliveries[0].statuses, statuses({{3, S::kBusy}}));

  // The last address (renumbered) still reports and still ends cleanly.
  const EngineEffects again = status(3, S::kUnreachable, kT0 + 5'000);
  ASSERT_EQ(again.deliveries.size(), 1u);
  EXPECT_EQ(again.deliveries[0].statuses, statuses({{3, S::kUnreachable}}));
  EngineEffects ended;
  engine_.end(idOf("a"), ended);
  EXPECT_EQ(ended.unwatch, (std::vector<std::string>{keyOf(1), keyOf(3)}));
  EXPECT_EQ(engine_.watchedTerminals(), 0u);
}

TEST_F(EngineTest, SubscriptionFailureOfAKeyHeldTwiceRemovesBothAddresses) {
  NotificationSpec s = spec("a", {1, 2});
  s.addresses.push_back(WatchedAddress{"sip:alias@example.test", keyOf(1), {}});
  s.addresses.push_back(WatchedAddress{addressOf(3), keyOf(3), {}});
  start(s);
  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(1), "480", kT0, out);
  ASSERT_EQ(out.deliveries.size(), 2u);
  EXPECT_EQ(out.deliveries[0].address, addressOf(1));
  EXPECT_EQ(out.deliveries[1].address, "sip:alias@example.test");
  ASSERT_EQ(state("a").spec.addresses.size(), 2u);
  EXPECT_EQ(state("a").spec.addresses[0].key, keyOf(2));
  EXPECT_EQ(state("a").spec.addresses[1].key, keyOf(3));
  status(3, S::kReachable, kT0 + 1);
  const EngineEffects change = status(3, S::kBusy, kT0 + 2);
  ASSERT_EQ(change.deliveries.size(), 1u);
  EXPECT_EQ(change.deliveries[0].statuses, statuses({{3, S::kBusy}}));
  EngineEffects ended;
  engine_.end(idOf("a"), ended);
  EXPECT_EQ(ended.unwatch, (std::vector<std::string>{keyOf(2), keyOf(3)}));
}

TEST_F(EngineTest, SubscriptionFailureOfTheOnlyPendingAddressClearsTheWindow) {
  NotificationSpec s = spec("a", {1, 2});
  s.frequencyMs = 1'000;
  start(s);
  status(1, S::kReachable, kT0);
  status(2, S::kReachable, kT0);
  status(1, S::kBusy, kT0);
  status(1, S::kReachable, kT0 + 1);
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 1'000);
  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(1), "gone", kT0 + 2, out);
  EXPECT_EQ(engine_.nextDeadline(), s.expiresAtMs);
  EXPECT_TRUE(advance(kT0 + 1'000).deliveries.empty());
}

TEST_F(EngineTest, SubscriptionFailureOfAnUnknownKeyDoesNothing) {
  start(spec("a", {1}));
  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(7), "x", kT0, out);
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(out.changed.empty());
  EXPECT_EQ(engine_.watchedTerminals(), 1u);
}

// ---------------------------------------------------------------- restore

TEST_F(EngineTest, RestoreOfAnExpiredNotificationSendsStatusEnd) {
  NotificationState st{spec("a", {1}), {}};
  st.progress.sent = 3;
  st.progress.nextSequence = 7;
  EngineEffects out;
  engine_.restore(st, st.spec.expiresAtMs, out);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].sequence, 7u);
  EXPECT_EQ(out.deliveries[0].id, idOf("a"));
  EXPECT_EQ(out.deliveries[0].endpoint, st.spec.endpoint);
  EXPECT_EQ(out.deliveries[0].globalId, "gid-a");
  EXPECT_EQ(out.ended, (std::vector<NotificationKey>{idOf("a")}));
  EXPECT_TRUE(out.watch.empty());
  EXPECT_EQ(engine_.size(), 0u);
}

TEST_F(EngineTest, RestoreComparesTheFirstStatusWithLastSeen) {
  NotificationState st{spec("a", {1, 2}), {}};
  st.spec.addresses[0].lastSeen = S::kBusy;
  st.spec.addresses[1].lastSeen = S::kReachable;
  st.progress.sent = 1;
  st.progress.lastSentAtMs = kT0 - 60'000;
  st.progress.nextSequence = 4;
  EngineEffects out;
  engine_.restore(st, kT0, out);
  EXPECT_EQ(out.watch, (std::vector<std::string>{keyOf(1), keyOf(2)}));
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(out.ended.empty());
  EXPECT_EQ(engine_.watchedTerminals(), 2u);

  EXPECT_TRUE(status(1, S::kBusy, kT0 + 1).deliveries.empty());       // unchanged while down
  const EngineEffects changed = status(2, S::kUnreachable, kT0 + 2);  // changed while down
  ASSERT_EQ(changed.deliveries.size(), 1u);
  EXPECT_EQ(changed.deliveries[0].statuses, statuses({{2, S::kUnreachable}}));
  EXPECT_EQ(changed.deliveries[0].sequence, 4u);
  EXPECT_EQ(state("a").progress.sent, 2u);
}

TEST_F(EngineTest, RestoreKeepsTheFrequencyWindowAndCount) {
  NotificationState st{spec("a", {1}), {}};
  st.spec.addresses[0].lastSeen = S::kReachable;
  st.spec.frequencyMs = 10'000;
  st.spec.countLimit = 2;
  st.progress.sent = 1;
  st.progress.lastSentAtMs = kT0 - 1'000;
  EngineEffects out;
  engine_.restore(st, kT0, out);
  EXPECT_TRUE(status(1, S::kBusy, kT0).deliveries.empty());
  EXPECT_EQ(engine_.nextDeadline(), kT0 + 9'000);
  const EngineEffects sent = advance(kT0 + 9'000);
  ASSERT_EQ(sent.deliveries.size(), 2u);  // the 2nd of count 2, then statusEnd
  EXPECT_EQ(sent.deliveries[1].kind, Kind::kStatusEnd);
}

TEST_F(EngineTest, RestoreDoesNotRepeatCheckImmediate) {
  NotificationState st{spec("a", {1}), {}};
  st.spec.checkImmediate = true;
  EngineEffects out;
  engine_.restore(st, kT0, out);
  EXPECT_TRUE(status(1, S::kReachable, kT0 + 1).deliveries.empty());  // a baseline
  EXPECT_EQ(status(1, S::kBusy, kT0 + 2).deliveries.size(), 1u);
}

TEST_F(EngineTest, RestoreReportsAChangeAgainstAStatusAlreadyKnown) {
  start(spec("live", {1}));
  status(1, S::kBusy, kT0);
  NotificationState st{spec("a", {1}), {}};
  st.spec.addresses[0].lastSeen = S::kReachable;
  EngineEffects out;
  engine_.restore(st, kT0 + 1, out);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].statuses, statuses({{1, S::kBusy}}));
}

TEST_F(EngineTest, RestoreOfAnIdAlreadyPresentIsIgnored) {
  start(spec("a", {1}));
  NotificationState st{spec("a", {2}), {}};
  EngineEffects out;
  engine_.restore(st, kT0, out);
  EXPECT_TRUE(out.watch.empty());
  EXPECT_EQ(state("a").spec.addresses[0].key, keyOf(1));
}

// ---------------------------------------------------------------- sequence numbers

TEST_F(EngineTest, SequenceNumbersIncreasePerNotification) {
  start(spec("a", {1, 2}));
  start(spec("b", {1}));
  status(1, S::kReachable, kT0);
  status(2, S::kReachable, kT0);
  std::vector<uint64_t> seqA;
  std::vector<uint64_t> seqB;
  auto collect = [&](const EngineEffects& out) {
    for (const Delivery& d : out.deliveries) {
      (d.id == idOf("a") ? seqA : seqB).push_back(d.sequence);
    }
  };
  collect(status(1, S::kBusy, kT0 + 1));
  collect(status(2, S::kBusy, kT0 + 2));
  collect(status(1, S::kReachable, kT0 + 3));
  EngineEffects failed;
  engine_.onSubscriptionFailed(keyOf(2), "x", kT0 + 4, failed);
  collect(failed);
  collect(advance(kT0 + kHour));
  EXPECT_EQ(seqA, (std::vector<uint64_t>{0, 1, 2, 3, 4}));  // 3 notifications, error, end
  EXPECT_EQ(seqB, (std::vector<uint64_t>{0, 1, 2}));        // 2 notifications, end
}

// ---------------------------------------------------------------- scale

TEST(EngineScaleTest, HundredThousandNotificationsStayFastAndSmall) {
  constexpr int kCount = 100'000;
#ifdef PX_MEASURE_HEAP
  const size_t heapBefore = mallinfo2().uordblks;
#endif
  const auto begin = std::chrono::steady_clock::now();
  NotificationEngine engine;
  EngineEffects out;
  for (int i = 0; i < kCount; ++i) {
    NotificationSpec s = spec("corr-" + std::to_string(i), {i});
    s.frequencyMs = 1'000;
    s.expiresAtMs = kT0 + kHour + i;  // distinct deadlines
    ASSERT_EQ(engine.start(std::move(s), kT0, out), NotificationEngine::StartResult::kStarted);
  }
  ASSERT_EQ(out.watch.size(), static_cast<size_t>(kCount));
#ifdef PX_MEASURE_HEAP
  out = EngineEffects{};
  const size_t heapAfter = mallinfo2().uordblks;
  const double perTerminal = static_cast<double>(heapAfter - heapBefore) / kCount;
  RecordProperty("bytes_per_watched_terminal", std::to_string(static_cast<int>(perTerminal)));
  std::printf("heap per watched terminal (notification included): %.0f bytes\n", perTerminal);
  EXPECT_LT(perTerminal, 4096.0);
#endif
  size_t sent = 0;
  for (int i = 0; i < kCount; ++i) {
    EngineEffects o;
    engine.onStatus(keyOf(i), S::kReachable, kT0 + 1, o);    // baseline
    engine.onStatus(keyOf(i), S::kBusy, kT0 + 2, o);         // sent at once
    engine.onStatus(keyOf(i), S::kUnreachable, kT0 + 3, o);  // pending: window closed
    sent += o.deliveries.size();
    ASSERT_TRUE(engine.nextDeadline().has_value());
  }
  EXPECT_EQ(sent, static_cast<size_t>(kCount));
  EXPECT_EQ(engine.nextDeadline(), kT0 + 1'002);
  EngineEffects windows;
  engine.advance(kT0 + 1'002, windows);
  EXPECT_EQ(windows.deliveries.size(), static_cast<size_t>(kCount));
  EngineEffects expiries;
  engine.advance(kT0 + kHour + kCount, expiries);
  EXPECT_EQ(expiries.deliveries.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(expiries.unwatch.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(engine.size(), 0u);
  EXPECT_EQ(engine.watchedTerminals(), 0u);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  // The budget catches O(n^2) (minutes at this size); sanitized or -O0 builds run ~10x slower.
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
  EXPECT_LT(seconds, 60.0);
#else
  EXPECT_LT(seconds, 5.0);
#endif
}

// --- Event APIs (spec.api set: CAMARA Device Reachability Status Subscriptions) ---------------

constexpr const char* kCamara = "camara-device-reachability-status-subscriptions-v0.7";

NotificationSpec eventSpec(const std::string& correlator, int terminal,
                           std::vector<TerminalStatus> criteria) {
  NotificationSpec s = spec(correlator, {terminal});
  s.api = kCamara;
  s.extension = "{\"types\":[\"reachability-data\"]}";
  s.criteria = std::move(criteria);
  return s;
}

TEST_F(EngineTest, EventApiReportsOnlyEnteringTheSubscribedState) {
  start(eventSpec("data", 1, {S::kReachable, S::kBusy}));
  EXPECT_TRUE(status(1, S::kUnreachable, kT0 + 1).deliveries.empty());  // baseline
  EngineEffects in = status(1, S::kReachable, kT0 + 2);
  ASSERT_EQ(in.deliveries.size(), 1u);
  EXPECT_EQ(in.deliveries[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(in.deliveries[0].api, kCamara);
  EXPECT_EQ(in.deliveries[0].extension, "{\"types\":[\"reachability-data\"]}");
  EXPECT_EQ(in.deliveries[0].atMs, kT0 + 2);
  // Reachable -> Busy stays in the state: Parlay X would report it, an event API does not.
  EXPECT_TRUE(status(1, S::kBusy, kT0 + 3).deliveries.empty());
  EXPECT_TRUE(status(1, S::kUnreachable, kT0 + 4).deliveries.empty());
  EXPECT_EQ(status(1, S::kBusy, kT0 + 5).deliveries.size(), 1u);
}

TEST_F(EngineTest, EventApiEmptyCriteriaReportsNothing) {
  NotificationSpec s = eventSpec("sms", 1, {});
  s.checkImmediate = true;
  start(s);
  for (TimeMs t = 1; t <= 3; ++t) {
    EXPECT_TRUE(status(1, t % 2 ? S::kReachable : S::kUnreachable, kT0 + t).deliveries.empty());
  }
}

TEST_F(EngineTest, EventApiEndIsToldWithItsReason) {
  start(eventSpec("deleted", 1, {S::kUnreachable}));
  EngineEffects out;
  EXPECT_FALSE(engine_.end(idOf("deleted"), out));  // a Parlay X end does not end it
  EXPECT_TRUE(out.deliveries.empty());
  EXPECT_TRUE(engine_.end(idOf("deleted"), out, kCamara, kT0 + 9));
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].endReason, Delivery::EndReason::kDeleted);
  EXPECT_EQ(out.deliveries[0].atMs, kT0 + 9);
  EXPECT_TRUE(contains(out.ended, idOf("deleted")));
  EXPECT_EQ(out.unwatch, std::vector<std::string>{keyOf(1)});
  // A Parlay X notification is not ended by an event API's end.
  start(spec("px", {2}));
  EngineEffects other;
  EXPECT_FALSE(engine_.end(idOf("px"), other, kCamara));
}

TEST_F(EngineTest, EventApiExpiryCountAndTerminateReasons) {
  start(eventSpec("expires", 1, {S::kReachable}));
  NotificationSpec counted = eventSpec("counted", 2, {S::kReachable});
  counted.countLimit = 1;
  counted.checkImmediate = true;
  start(counted);
  EngineEffects first = status(2, S::kReachable, kT0 + 1);  // the initial event is the last one
  ASSERT_EQ(first.deliveries.size(), 2u);
  EXPECT_EQ(first.deliveries[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(first.deliveries[1].endReason, Delivery::EndReason::kCountReached);
  EngineEffects expired = advance(kT0 + kHour);
  ASSERT_EQ(expired.deliveries.size(), 1u);
  EXPECT_EQ(expired.deliveries[0].endReason, Delivery::EndReason::kExpired);
  start(eventSpec("terminated", 3, {S::kReachable}), kT0 + kHour);
  EngineEffects out;
  EXPECT_TRUE(engine_.terminate(idOf("terminated"), "maintenance", out, kT0 + kHour));
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].endReason, Delivery::EndReason::kTerminated);
  EXPECT_EQ(out.deliveries[0].text, "maintenance");
}

TEST_F(EngineTest, EventApiFailedSubscriptionEndsWithoutStatusError) {
  start(eventSpec("camara", 1, {S::kReachable}));
  start(spec("px", {1}));
  EngineEffects out;
  engine_.onSubscriptionFailed(keyOf(1), "403 Forbidden", kT0 + 1, out);
  ASSERT_EQ(out.deliveries.size(), 2u);
  // In watcher order: the CAMARA subscription first, then the Parlay X statusError.
  EXPECT_EQ(out.deliveries[0].id, idOf("camara"));
  EXPECT_EQ(out.deliveries[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(out.deliveries[0].endReason, Delivery::EndReason::kTerminated);
  EXPECT_EQ(out.deliveries[0].text, "403 Forbidden");
  EXPECT_EQ(out.deliveries[1].id, idOf("px"));
  EXPECT_EQ(out.deliveries[1].kind, Kind::kStatusError);
  EXPECT_EQ(engine_.size(), 0u);
}

TEST_F(EngineTest, ParlayXAndEventApiShareOneWatchOfATerminal) {
  EngineEffects a = start(spec("px", {1}));
  EngineEffects b = start(eventSpec("camara", 1, {S::kReachable}));
  EXPECT_EQ(a.watch, std::vector<std::string>{keyOf(1)});
  EXPECT_TRUE(b.watch.empty());
  EXPECT_EQ(engine_.watchedTerminals(), 1u);
  status(1, S::kUnreachable, kT0 + 1);
  EngineEffects change = status(1, S::kReachable, kT0 + 2);
  ASSERT_EQ(change.deliveries.size(), 2u);
  EXPECT_TRUE(change.deliveries[0].api.empty());
  EXPECT_EQ(change.deliveries[1].api, kCamara);
}

}  // namespace
}  // namespace px
