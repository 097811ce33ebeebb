// GatewayCore and calls, over fake ports: registrations are stored and published to the index the
// AS reads, AS events become one due per notification registration, decisions go to the decider
// (Continue at once when there is none), late answers are refused, and a restart restores the
// registrations and republishes them.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/GatewayCore.h"

namespace px::gateway {
namespace {

using call::CallEvent;
using call::CallEventSet;
using call::RegistrationKind;

struct NullPresence : PresencePort {
  uint64_t fetch(const std::string&, bool) override { return 1; }
  void flush() override {}
  std::vector<FetchOutcome> takeOutcomes() override { return {}; }
  void watch(const std::string&, bool) override {}
  void unwatch(const std::string&, bool) override {}
  std::vector<SubscriptionEvent> takeSubscriptionEvents() override { return {}; }
  WatcherStats stats() const override { return {}; }
  uint16_t sipPort() const override { return 5099; }
  void close() override {}
};

// Keeps the call rows like the real store would, and the callbacks to settle by hand.
struct CallStore : NotificationPort {
  std::vector<call::CallRegistration> rows;
  std::vector<NotificationStore::Committed> pending;
  void write(NotificationWrites, NotificationStore::Committed) override {}
  void saveCallRegistration(const call::CallRegistration& r,
                            NotificationStore::Committed committed) override {
    rows.push_back(r);
    pending.push_back(std::move(committed));
  }
  void removeCallRegistration(RegistrationKind kind, const std::string& correlator,
                              NotificationStore::Committed committed) override {
    for (auto it = rows.begin(); it != rows.end(); ++it) {
      if (it->kind == kind && it->correlator == correlator) {
        rows.erase(it);
        break;
      }
    }
    pending.push_back(std::move(committed));
  }
  void deliveryDone(const NotificationKey&, uint64_t) override {}
  void close() override {}
};

struct FakeCalls : CallPort {
  std::vector<call::CallEventRecord> events;
  std::vector<call::DecisionRequest> decisions;
  std::vector<std::string> decided;  // "callRef/decisionId Action"
  CallProxyCounters counters;
  uint16_t port() const override { return 5090; }
  void decide(uint64_t callRef, uint64_t decisionId, call::CallAction action) override {
    decided.push_back(std::to_string(callRef) + "/" + std::to_string(decisionId) + " " +
                      call::toString(action.kind) + action.routingAddress);
  }
  std::vector<call::CallEventRecord> takeEvents() override { return std::move(events); }
  std::vector<call::DecisionRequest> takeDecisions() override { return std::move(decisions); }
  CallProxyCounters stats() const override { return counters; }
  SipStack::Setup sipSetup() override { return {}; }
};

call::CallRegistration reg(RegistrationKind kind, const std::string& requester,
                           const std::string& correlator, std::vector<std::string> addresses,
                           CallEventSet criteria = CallEventSet::all()) {
  call::CallRegistration r;
  r.kind = kind;
  r.requester = requester;
  r.correlator = correlator;
  r.addresses = std::move(addresses);
  r.criteria = criteria;
  r.endpoint = "http://app.test/" + correlator;
  r.interfaceName = kind == RegistrationKind::kNotification ? "CallNotification" : "CallDirection";
  r.ns = "http://www.csapi.org/schema/parlayx/call_notification/v2_3/local";
  return r;
}

call::CallParties parties(const std::string& called) {
  return call::CallParties{"sip:caller@example.test", "Caller", called, "call-1"};
}

class GatewayCallsTest : public ::testing::Test {
 protected:
  void makeCore(StoredAtStart stored = {}) {
    auto store = std::make_unique<CallStore>();
    auto calls = std::make_unique<FakeCalls>();
    db = store.get();
    as = calls.get();
    index = std::make_shared<call::CallWatchIndex>();
    Clock clock{[this] { return wall; }, [this] { return steady; }};
    core = std::make_unique<GatewayCore>(GatewayConfig{}, std::move(store), std::move(stored),
                                         std::make_unique<NullPresence>(), std::move(clock),
                                         std::move(calls), index);
  }
  GatewayCore::CallStart start(call::CallRegistration r) {
    return core->startCallRegistration(std::move(r), [](bool, const std::string&) {});
  }

  TimeMs wall = 1'700'000'000'000;
  int64_t steady = 1000;
  CallStore* db = nullptr;
  FakeCalls* as = nullptr;
  std::shared_ptr<call::CallWatchIndex> index;
  std::unique_ptr<GatewayCore> core;
};

TEST_F(GatewayCallsTest, StartStoresAndPublishesStopChecksOwner) {
  makeCore();
  EXPECT_EQ(core->callPort(), 5090);
  EXPECT_EQ(start(reg(RegistrationKind::kNotification, "app", "n1", {"tel:+1"})).result,
            GatewayCore::CallStart::Result::kStarted);
  ASSERT_EQ(db->rows.size(), 1u);
  EXPECT_EQ(db->rows[0].createdMs, static_cast<uint64_t>(wall));
  EXPECT_EQ(db->rows[0].order, 1u);
  EXPECT_EQ(index->current()->registrations().size(), 1u);
  const auto dup = start(reg(RegistrationKind::kNotification, "app", "n1", {"tel:+2"}));
  EXPECT_EQ(dup.result, GatewayCore::CallStart::Result::kDuplicateCorrelator);
  const auto overlap = start(reg(RegistrationKind::kNotification, "app", "n2", {"tel:+1"}));
  EXPECT_EQ(overlap.result, GatewayCore::CallStart::Result::kOverlappingCriteria);
  EXPECT_EQ(overlap.address, "tel:+1");
  EXPECT_EQ(db->rows.size(), 1u);

  bool removed = false;
  EXPECT_EQ(core->stopCallRegistration(RegistrationKind::kNotification, "other", "n1", {}),
            call::CallRegistry::StopResult::kNotOwner);
  EXPECT_EQ(core->stopCallRegistration(RegistrationKind::kNotification, "app", "n1",
                                       [&](bool ok, const std::string&) { removed = ok; }),
            call::CallRegistry::StopResult::kStopped);
  EXPECT_TRUE(db->rows.empty());
  db->pending.back()(true, "");
  EXPECT_TRUE(removed);
  EXPECT_TRUE(index->current()->registrations().empty());
  EXPECT_EQ(core->stats().callRegistrations, 0u);
}

TEST_F(GatewayCallsTest, DisabledCallsRefuseToStart) {
  auto store = std::make_unique<CallStore>();
  GatewayConfig config;
  config.calls.enabled = false;
  GatewayCore disabled(config, std::move(store), {}, std::make_unique<NullPresence>(),
                       Clock::system());
  EXPECT_EQ(disabled.callPort(), 0);
  EXPECT_EQ(
      disabled.startCallRegistration(reg(RegistrationKind::kNotification, "a", "c", {"tel:+1"}), {})
          .result,
      GatewayCore::CallStart::Result::kDisabled);
}

TEST_F(GatewayCallsTest, AnEventBecomesOneDuePerNotificationRegistrationWantingIt) {
  makeCore();
  const auto busy = CallEventSet().with(CallEvent::kBusy);
  start(reg(RegistrationKind::kNotification, "a", "exact", {"tel:+15551"}, busy));
  start(reg(RegistrationKind::kNotification, "b", "pattern", {"tel:+155*"}));
  start(reg(RegistrationKind::kNotification, "c", "answer-only", {"tel:+15551"},
            CallEventSet().with(CallEvent::kAnswer)));
  start(reg(RegistrationKind::kDirection, "d", "decider", {"tel:+15551"}, busy));
  EXPECT_FALSE(core->drainCalls());
  as->events.push_back(
      call::CallEventRecord{7, CallEvent::kBusy, parties("tel:+15551"), 486, "486 Busy Here", 42});
  EXPECT_TRUE(core->drainCalls());
  ASSERT_TRUE(core->hasCallWork());
  const CallBatch batch = core->takeCallBatch();
  EXPECT_FALSE(core->hasCallWork());
  ASSERT_EQ(batch.notifications.size(), 2u);
  EXPECT_EQ(batch.notifications[0].to.correlator, "exact");
  EXPECT_EQ(batch.notifications[1].to.correlator, "pattern");
  EXPECT_EQ(batch.notifications[1].to.requester, "b");
  EXPECT_EQ(batch.notifications[1].to.endpoint, "http://app.test/pattern");
  EXPECT_EQ(batch.notifications[0].callRef, 7u);
  EXPECT_EQ(batch.notifications[0].sipStatus, 486);
  EXPECT_EQ(batch.notifications[0].description, "486 Busy Here");
  EXPECT_EQ(batch.notifications[0].parties.callerName, "Caller");
  EXPECT_TRUE(batch.decisions.empty());
}

TEST_F(GatewayCallsTest, DecisionsGoToTheDeciderOrContinueAtOnce) {
  makeCore();
  const auto called = CallEventSet().with(CallEvent::kCalledNumber);
  start(reg(RegistrationKind::kDirection, "a", "pattern", {"tel:+155*"}, called));
  start(reg(RegistrationKind::kDirection, "b", "exact", {"tel:+15551"}, called));
  as->decisions.push_back(
      call::DecisionRequest{1, 1, CallEvent::kCalledNumber, parties("tel:+15551"), 0, 1500});
  as->decisions.push_back(
      call::DecisionRequest{2, 1, CallEvent::kBusy, parties("tel:+15551"), 486, 1500});
  ASSERT_TRUE(core->drainCalls());
  // Busy: nobody decides it (criteria) -> Continue without asking JS.
  EXPECT_EQ(as->decided, std::vector<std::string>{"2/1 Continue"});
  const CallBatch batch = core->takeCallBatch();
  ASSERT_EQ(batch.decisions.size(), 1u);
  EXPECT_EQ(batch.decisions[0].to.correlator, "exact");  // most specific wins
  EXPECT_EQ(batch.decisions[0].timeoutMs, 1500u);

  steady += 1000;
  EXPECT_TRUE(core->decideCall(1, 1, call::CallAction{call::CallAction::Kind::kRoute, "tel:+2"}));
  EXPECT_EQ(as->decided.back(), "1/1 Routetel:+2");
  EXPECT_FALSE(core->decideCall(1, 1, call::CallAction{}));  // answered already
  EXPECT_FALSE(core->decideCall(9, 9, call::CallAction{}));  // never asked
  EXPECT_EQ(as->decided.size(), 2u);
}

TEST_F(GatewayCallsTest, ALateDecisionIsRefusedButPassedOn) {
  makeCore();
  start(reg(RegistrationKind::kDirection, "a", "d", {"tel:+1"}));
  as->decisions.push_back(
      call::DecisionRequest{3, 2, CallEvent::kNoAnswer, parties("tel:+1"), 0, 500});
  ASSERT_TRUE(core->drainCalls());
  steady += 501;
  EXPECT_FALSE(core->decideCall(3, 2, call::CallAction{call::CallAction::Kind::kEndCall, ""}));
  EXPECT_EQ(as->decided, std::vector<std::string>{"3/2 EndCall"});
}

TEST_F(GatewayCallsTest, AStoppedDeciderMeansContinue) {
  makeCore();
  start(reg(RegistrationKind::kDirection, "a", "d", {"tel:+1"}));
  as->decisions.push_back(
      call::DecisionRequest{4, 1, CallEvent::kCalledNumber, parties("tel:+1"), 0, 1500});
  core->stopCallRegistration(RegistrationKind::kDirection, "a", "d", {});
  ASSERT_TRUE(core->drainCalls());
  EXPECT_FALSE(core->hasCallWork());
  EXPECT_EQ(as->decided, std::vector<std::string>{"4/1 Continue"});
}

TEST_F(GatewayCallsTest, RestartRestoresRegistrationsAndRepublishesTheIndex) {
  StoredAtStart stored;
  auto old = reg(RegistrationKind::kDirection, "a", "old", {"tel:+1"});
  old.order = 41;
  old.createdMs = 5;
  stored.calls.push_back(old);
  makeCore(std::move(stored));
  ASSERT_EQ(index->current()->registrations().size(), 1u);
  EXPECT_EQ(core->callRegistrations()[0].createdMs, 5u);
  EXPECT_EQ(core->stats().callRegistrations, 1u);
  // The rules hold against restored registrations, and the start order goes on after them.
  EXPECT_EQ(start(reg(RegistrationKind::kDirection, "b", "new", {"tel:+1"})).result,
            GatewayCore::CallStart::Result::kOverlappingCriteria);
  start(reg(RegistrationKind::kNotification, "b", "n", {"tel:+1"}));
  EXPECT_EQ(db->rows.back().order, 42u);
}

TEST_F(GatewayCallsTest, AFailedStoreWriteForgetsTheStart) {
  makeCore();
  start(reg(RegistrationKind::kNotification, "a", "c", {"tel:+1"}));
  core->forgetCallRegistration(RegistrationKind::kNotification, "c");
  EXPECT_TRUE(core->callRegistrations().empty());
  EXPECT_TRUE(index->current()->registrations().empty());
}

TEST_F(GatewayCallsTest, StatsCarryTheAsCounters) {
  makeCore();
  as->counters.invites = 12;
  as->counters.decisionsLate = 2;
  const GatewayStats s = core->stats();
  EXPECT_EQ(s.calls.invites, 12u);
  EXPECT_EQ(s.calls.decisionsLate, 2u);
}

}  // namespace
}  // namespace px::gateway
