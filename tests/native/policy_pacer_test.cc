// SlidingWindowPacer and RequesterPacers with a fake clock: the time is whatever the test passes.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

#include "config/PolicyConfig.h"
#include "policy/RequesterPacers.h"
#include "policy/SlidingWindowPacer.h"

namespace px::policy {
namespace {

RateLimit rate(uint32_t limit, uint32_t windowMs) {
  RateLimit r;
  r.limit = limit;
  r.windowMs = windowMs;
  return r;
}

// Admits weight-1 requests at nowMs until one is refused; returns how many got in.
int fill(SlidingWindowPacer& pacer, int64_t nowMs) {
  int admitted = 0;
  while (pacer.tryAdmit(1, nowMs)) {
    ++admitted;
    if (admitted > 1000) break;  // the pacer would be broken; stop the loop
  }
  return admitted;
}

TEST(SlidingWindowPacer, AdmitsUpToTheLimitWithinOneWindow) {
  SlidingWindowPacer pacer(rate(10, 1000));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(pacer.tryAdmit(1, 100 * i)) << i;
  EXPECT_FALSE(pacer.tryAdmit(1, 999));
  EXPECT_DOUBLE_EQ(pacer.estimate(999), 10.0);
}

TEST(SlidingWindowPacer, HasRoomChangesNothing) {
  SlidingWindowPacer pacer(rate(2, 1000));
  EXPECT_TRUE(pacer.hasRoom(2, 0));
  EXPECT_TRUE(pacer.hasRoom(2, 0));
  EXPECT_FALSE(pacer.hasRoom(3, 0));
  EXPECT_DOUBLE_EQ(pacer.estimate(0), 0.0);
  EXPECT_TRUE(pacer.tryAdmit(2, 0));
  EXPECT_FALSE(pacer.hasRoom(1, 0));
}

TEST(SlidingWindowPacer, PreviousWindowCountsFullyAtTheStartOfTheNext) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_EQ(fill(pacer, 0), 10);
  EXPECT_FALSE(pacer.tryAdmit(1, 1000));  // elapsed 0: the previous 10 still count as 10
  EXPECT_DOUBLE_EQ(pacer.estimate(1000), 10.0);
}

TEST(SlidingWindowPacer, PreviousWindowWeighsByItsOverlap) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_EQ(fill(pacer, 0), 10);
  EXPECT_DOUBLE_EQ(pacer.estimate(1500), 5.0);
  EXPECT_EQ(fill(pacer, 1500), 5);              // 10 * 0.5 + 5 = 10
  EXPECT_DOUBLE_EQ(pacer.estimate(1900), 6.0);  // 10 * 0.1 + 5
  EXPECT_EQ(fill(pacer, 1900), 4);
}

TEST(SlidingWindowPacer, ExactBoundaryIsDecidedInIntegers) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_EQ(fill(pacer, 0), 10);
  // At 1099 the previous window still weighs 10 * 0.901 = 9.01: one more would make 10.01.
  EXPECT_FALSE(pacer.hasRoom(1, 1099));
  // At 1100 it weighs exactly 9: one more makes exactly the limit, which is allowed.
  EXPECT_TRUE(pacer.tryAdmit(1, 1100));
  EXPECT_FALSE(pacer.tryAdmit(1, 1100));
}

TEST(SlidingWindowPacer, WindowsAreAlignedOnTheClockNotOnTheFirstRequest) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_EQ(fill(pacer, 900), 10);  // window [0, 1000)
  EXPECT_FALSE(pacer.tryAdmit(1, 1000));
  EXPECT_EQ(fill(pacer, 1500), 5);  // window [1000, 2000) began 500 ms ago
}

TEST(SlidingWindowPacer, GapLongerThanOneWindowForgetsEverything) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_EQ(fill(pacer, 500), 10);  // window [0, 1000)
  // In the adjacent window [1000, 2000) at 1999 the previous 10 weigh 10 * 0.001 = 0.01.
  EXPECT_TRUE(pacer.hasRoom(9, 1999));
  EXPECT_FALSE(pacer.hasRoom(10, 1999));
  // Window [2000, 3000) follows an empty window: nothing is left.
  EXPECT_DOUBLE_EQ(pacer.estimate(2000), 0.0);
  EXPECT_TRUE(pacer.tryAdmit(10, 2000));
  EXPECT_FALSE(pacer.tryAdmit(1, 2000));
}

TEST(SlidingWindowPacer, RequestsAreWeighted) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_FALSE(pacer.tryAdmit(11, 0));  // heavier than the limit: never
  EXPECT_TRUE(pacer.tryAdmit(7, 0));
  EXPECT_FALSE(pacer.tryAdmit(4, 0));  // refused requests add nothing
  EXPECT_TRUE(pacer.tryAdmit(3, 0));
  EXPECT_DOUBLE_EQ(pacer.estimate(0), 10.0);
  EXPECT_DOUBLE_EQ(pacer.estimate(1250), 7.5);
  EXPECT_TRUE(pacer.tryAdmit(2, 1250));
  EXPECT_FALSE(pacer.tryAdmit(1, 1250));
}

TEST(SlidingWindowPacer, RefundTakesBackAddedWeight) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_TRUE(pacer.tryAdmit(10, 0));
  pacer.refund(4, 0);
  EXPECT_DOUBLE_EQ(pacer.estimate(0), 6.0);
  EXPECT_TRUE(pacer.tryAdmit(4, 0));
  EXPECT_FALSE(pacer.tryAdmit(1, 0));
  pacer.refund(100, 0);  // never below zero
  EXPECT_DOUBLE_EQ(pacer.estimate(0), 0.0);
  EXPECT_TRUE(pacer.tryAdmit(10, 0));
}

TEST(SlidingWindowPacer, RefundAfterTheWindowRolledTakesFromThePreviousWindow) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_TRUE(pacer.tryAdmit(10, 900));
  pacer.refund(4, 1000);  // the current window is empty: the previous one gives it back
  EXPECT_DOUBLE_EQ(pacer.estimate(1000), 6.0);
}

TEST(SlidingWindowPacer, ClockGoingBackStaysInTheCurrentWindow) {
  SlidingWindowPacer pacer(rate(10, 1000));
  EXPECT_TRUE(pacer.tryAdmit(10, 1500));
  EXPECT_FALSE(pacer.tryAdmit(1, 1200));
  EXPECT_FALSE(pacer.tryAdmit(1, 10));
}

TEST(SlidingWindowPacer, NegativeTimesUseFlooredWindows) {
  SlidingWindowPacer pacer(rate(4, 1000));
  EXPECT_TRUE(pacer.tryAdmit(4, -1000));  // window [-1000, 0)
  EXPECT_FALSE(pacer.tryAdmit(1, -1));
  EXPECT_DOUBLE_EQ(pacer.estimate(500), 2.0);  // window [0, 1000): half of the previous 4
}

TEST(SlidingWindowPacer, LargeLimitsDoNotOverflow) {
  SlidingWindowPacer pacer(rate(1000000000u, 86400000u));
  EXPECT_TRUE(pacer.tryAdmit(1000000000u, 0));
  EXPECT_FALSE(pacer.tryAdmit(1, 86399999));
  // One ms into the next window the previous 1e9 weigh 1e9 * (1 - 1/86400000) ~ 1e9 - 11.57.
  EXPECT_TRUE(pacer.hasRoom(11, 86400000 + 1));
  EXPECT_FALSE(pacer.hasRoom(12, 86400000 + 1));
  EXPECT_TRUE(pacer.hasRoom(1000000000u, 3 * 86400000LL));
}

TEST(SlidingWindowPacer, ZeroWindowIsRefused) {
  EXPECT_THROW(SlidingWindowPacer(rate(1, 0)), std::invalid_argument);
}

// ---------------------------------------------------------------- RequesterPacers

PolicyLevel levelWithPacers(std::optional<RateLimit> total, std::optional<RateLimit> service,
                            std::optional<RateLimit> getStatus) {
  PolicyLevel level;
  level.rules.pacer = total;
  if (service) level.services["terminalStatus"].rules.pacer = service;
  if (getStatus) level.services["terminalStatus"].operations["getStatus"].pacer = getStatus;
  return level;
}

TEST(PacerLimits, RequesterValueReplacesTheDefaultAtTheSameLevelOnly) {
  const PolicyLevel defaults = levelWithPacers(rate(100, 1000), rate(50, 1000), rate(20, 1000));
  const PolicyLevel own = levelWithPacers(std::nullopt, rate(5, 2000), std::nullopt);
  const PacerLimits limits = PacerLimits::resolve(defaults, &own);
  ASSERT_TRUE(limits.total);
  EXPECT_EQ(limits.total->limit, 100u);
  const auto ts = static_cast<size_t>(PolicyService::kTerminalStatus);
  ASSERT_TRUE(limits.services[ts]);
  EXPECT_EQ(limits.services[ts]->limit, 5u);
  EXPECT_EQ(limits.services[ts]->windowMs, 2000u);
  const auto gs = static_cast<size_t>(PolicyOperation::kGetStatus);
  ASSERT_TRUE(limits.operations[gs]);
  EXPECT_EQ(limits.operations[gs]->limit, 20u);
  EXPECT_FALSE(limits.operations[static_cast<size_t>(PolicyOperation::kEndNotification)]);
  EXPECT_FALSE(limits.services[static_cast<size_t>(PolicyService::kCallNotification)]);
  EXPECT_FALSE(limits.empty());

  const PacerLimits anonymous = PacerLimits::resolve(defaults, nullptr);
  EXPECT_EQ(anonymous.services[ts]->limit, 50u);
  EXPECT_TRUE(PacerLimits::resolve(PolicyLevel{}, nullptr).empty());
}

TEST(RequesterPacers, EveryLevelOfTheOperationMustHaveRoom) {
  const PolicyLevel defaults = levelWithPacers(rate(5, 1000), rate(3, 1000), rate(2, 1000));
  RequesterPacers pacers(PacerLimits::resolve(defaults, nullptr));
  const auto admit = [&](PolicyOperation op, int64_t now) -> const SlidingWindowPacer* {
    const SlidingWindowPacer* full = pacers.refusing(op, 1, now);
    if (full == nullptr) pacers.add(op, 1, now);
    return full;
  };
  EXPECT_EQ(admit(PolicyOperation::kGetStatus, 0), nullptr);
  EXPECT_EQ(admit(PolicyOperation::kGetStatus, 0), nullptr);
  const SlidingWindowPacer* full = admit(PolicyOperation::kGetStatus, 0);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->limit().limit, 2u);  // the operation's window
  EXPECT_EQ(admit(PolicyOperation::kGetStatusForGroup, 0), nullptr);
  full = admit(PolicyOperation::kGetStatusForGroup, 0);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->limit().limit, 3u);  // the service's window
  // Call Notification has no service window, only the total (5): 3 used, 2 left.
  EXPECT_EQ(admit(PolicyOperation::kStartCallNotification, 0), nullptr);
  EXPECT_EQ(admit(PolicyOperation::kStopCallNotification, 0), nullptr);
  full = admit(PolicyOperation::kStartCallNotification, 0);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->limit().limit, 5u);
}

TEST(RequesterPacers, RefundTakesBackFromEveryLevel) {
  const PolicyLevel defaults = levelWithPacers(rate(4, 1000), std::nullopt, rate(4, 1000));
  RequesterPacers pacers(PacerLimits::resolve(defaults, nullptr));
  pacers.add(PolicyOperation::kGetStatus, 4, 0);
  EXPECT_NE(pacers.refusing(PolicyOperation::kGetStatus, 1, 0), nullptr);
  EXPECT_NE(pacers.refusing(PolicyOperation::kEndNotification, 1, 0), nullptr);  // total
  pacers.refund(PolicyOperation::kGetStatus, 4, 0);
  EXPECT_EQ(pacers.refusing(PolicyOperation::kGetStatus, 4, 0), nullptr);
}

}  // namespace
}  // namespace px::policy
