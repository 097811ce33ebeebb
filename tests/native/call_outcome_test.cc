// CallOutcome: the default code lists of CallsConfig and the causes the proxy knows.
#include "call/CallOutcome.h"

#include <gtest/gtest.h>

namespace px::call {
namespace {

std::optional<CallEvent> map(int status, bool ringing = false,
                             FinalCause cause = FinalCause::kResponse,
                             const CallsConfig& config = CallsConfig{}) {
  return outcomeEvent(config, FinalOutcome{status, ringing, cause});
}

TEST(CallOutcome, BusyCodesAreBusyWithOrWithoutRinging) {
  EXPECT_EQ(map(486), CallEvent::kBusy);
  EXPECT_EQ(map(600), CallEvent::kBusy);
  EXPECT_EQ(map(486, true), CallEvent::kBusy);
}

TEST(CallOutcome, AmbiguousCodesDependOnRinging) {
  EXPECT_EQ(map(480), CallEvent::kNotReachable);
  EXPECT_EQ(map(408), CallEvent::kNotReachable);
  EXPECT_EQ(map(480, true), CallEvent::kNoAnswer);
  EXPECT_EQ(map(408, true), CallEvent::kNoAnswer);
}

TEST(CallOutcome, NotReachableCodes) {
  for (int status : {404, 410, 484, 485, 500, 501, 502, 503, 504, 604}) {
    EXPECT_EQ(map(status), CallEvent::kNotReachable) << status;
    EXPECT_EQ(map(status, true), CallEvent::kNotReachable) << status;
  }
}

TEST(CallOutcome, UnlistedCodesAndProvisionalsAreNoEvent) {
  EXPECT_EQ(map(603), std::nullopt);
  EXPECT_EQ(map(487), std::nullopt);
  EXPECT_EQ(map(403), std::nullopt);
  EXPECT_EQ(map(180), std::nullopt);
  EXPECT_EQ(map(302), std::nullopt);
}

TEST(CallOutcome, TwoHundredIsAnswer) {
  EXPECT_EQ(map(200), CallEvent::kAnswer);
  EXPECT_EQ(map(202, true), CallEvent::kAnswer);
}

TEST(CallOutcome, Causes) {
  EXPECT_EQ(map(487, true, FinalCause::kCallerCancel), std::nullopt);
  EXPECT_EQ(map(487, false, FinalCause::kCallerCancel), std::nullopt);
  EXPECT_EQ(map(487, true, FinalCause::kNoAnswerTimer), CallEvent::kNoAnswer);
  EXPECT_EQ(map(408, false, FinalCause::kInternal), CallEvent::kNotReachable);
  EXPECT_EQ(map(503, false, FinalCause::kInternal), CallEvent::kNotReachable);
  EXPECT_EQ(map(408, true, FinalCause::kInternal), CallEvent::kNoAnswer);
}

TEST(CallOutcome, ListsAreConfigurable) {
  CallsConfig config;
  config.busyCodes = {486, 600, 603};
  config.noAnswerCodes = {};
  config.notReachableCodes = {404};
  EXPECT_EQ(map(603, false, FinalCause::kResponse, config), CallEvent::kBusy);
  EXPECT_EQ(map(480, true, FinalCause::kResponse, config), std::nullopt);
  EXPECT_EQ(map(503, false, FinalCause::kResponse, config), std::nullopt);
  EXPECT_EQ(map(404, true, FinalCause::kResponse, config), CallEvent::kNotReachable);
}

}  // namespace
}  // namespace px::call
