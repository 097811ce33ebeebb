// CallMatcher: which registrations watch a called party, and who decides (Call Direction).
#include "call/CallMatcher.h"

#include <gtest/gtest.h>

namespace px::call {
namespace {

CallRegistration reg(RegistrationKind kind, std::string correlator,
                     std::vector<std::string> addresses, CallEventSet criteria, uint64_t order) {
  CallRegistration r;
  r.kind = kind;
  r.correlator = std::move(correlator);
  r.addresses = std::move(addresses);
  r.criteria = criteria;
  r.order = order;
  return r;
}

TEST(CallMatcher, EventNamesRoundTrip) {
  for (size_t i = 0; i < kCallEventCount; ++i) {
    const auto e = static_cast<CallEvent>(i);
    EXPECT_EQ(callEventFromString(toString(e)), e);
  }
  EXPECT_FALSE(callEventFromString("busy").has_value());
  EXPECT_EQ(callActionFromString("EndCall"), CallAction::Kind::kEndCall);
  EXPECT_FALSE(callActionFromString("Hangup").has_value());
}

TEST(CallMatcher, ExactAndPatternInterest) {
  const auto busy = CallEventSet().with(CallEvent::kBusy);
  const auto called = CallEventSet().with(CallEvent::kCalledNumber);
  CallMatcher m({reg(RegistrationKind::kNotification, "a", {"tel:+15551234567"}, busy, 1),
                 reg(RegistrationKind::kDirection, "b", {"tel:+1555*"}, called, 2)});
  auto i = m.interest({"sip:+15551234567@example.test;user=phone", "tel:+15551234567"});
  EXPECT_EQ(i.matched, "tel:+15551234567");
  EXPECT_EQ(i.notify, busy);
  EXPECT_EQ(i.direct, called);
  EXPECT_FALSE(m.interest({"tel:+15561234567"}).any());
  EXPECT_TRUE(m.interest({"tel:+15561234567"}).matched.empty());
  EXPECT_EQ(m.notified("tel:+15551234567", CallEvent::kBusy).size(), 1u);
  EXPECT_TRUE(m.notified("tel:+15551234567", CallEvent::kNoAnswer).empty());
}

TEST(CallMatcher, MostSpecificDirectionDecides) {
  const auto all = CallEventSet::all();
  CallMatcher m({reg(RegistrationKind::kDirection, "short", {"tel:+1*"}, all, 1),
                 reg(RegistrationKind::kDirection, "long", {"tel:+1555*"}, all, 2),
                 reg(RegistrationKind::kDirection, "exact", {"tel:+15550000000"}, all, 3)});
  EXPECT_EQ(m.decider("tel:+15550000000", CallEvent::kBusy)->correlator, "exact");
  EXPECT_EQ(m.decider("tel:+15551111111", CallEvent::kBusy)->correlator, "long");
  EXPECT_EQ(m.decider("tel:+17770000000", CallEvent::kBusy)->correlator, "short");
  EXPECT_EQ(m.decider("tel:+27770000000", CallEvent::kBusy), nullptr);
}

TEST(CallMatcher, EqualSpecificityOldestDecides) {
  const auto busy = CallEventSet().with(CallEvent::kBusy);
  CallMatcher m({reg(RegistrationKind::kDirection, "newer", {"tel:+1555*"}, busy, 9),
                 reg(RegistrationKind::kDirection, "older", {"tel:+1555*"}, busy, 4)});
  EXPECT_EQ(m.decider("tel:+15550000000", CallEvent::kBusy)->correlator, "older");
}

TEST(CallMatcher, PublishedIndexIsSeenByReaders) {
  CallWatchIndex index;
  EXPECT_FALSE(index.current()->interest({"tel:+1"}).any());
  index.publish(std::make_shared<const CallMatcher>(std::vector<CallRegistration>{
      reg(RegistrationKind::kNotification, "a", {"tel:+1"}, CallEventSet::all(), 1)}));
  EXPECT_TRUE(index.current()->interest({"tel:+1"}).any());
}

}  // namespace
}  // namespace px::call
