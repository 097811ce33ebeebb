// GatewayCore: how the engine's effects are carried out (SIP watches, store writes, deliveries),
// which outcome wins, restore at start, and stats, with fakes for SIP and the store.
#include "gateway/GatewayCore.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/FailureTexts.h"

namespace px::gateway {
namespace {

using Kind = Delivery::Kind;
using S = TerminalStatus;

constexpr TimeMs kT0 = 1'700'000'000'000;
constexpr TimeMs kHour = 3'600'000;

// Every call the core makes to the SIP side, in order, as text ("watch k", "flush", ...).
struct FakePresence : PresencePort {
  std::vector<std::string>* log;
  std::vector<SubscriptionEvent> events;
  std::vector<FetchOutcome> outcomes;
  WatcherStats sipStats;
  uint64_t nextFetch = 1;
  explicit FakePresence(std::vector<std::string>* l) : log(l) {}
  uint64_t fetch(const std::string& uri, bool wakeNow) override {
    log->push_back("fetch " + uri + (wakeNow ? "" : " deferred"));
    return nextFetch++;
  }
  void flush() override { log->push_back("flush"); }
  std::vector<FetchOutcome> takeOutcomes() override { return std::move(outcomes); }
  void watch(const std::string& key, bool wakeNow) override {
    log->push_back("watch " + key + (wakeNow ? " now" : ""));
  }
  void unwatch(const std::string& key, bool wakeNow) override {
    log->push_back("unwatch " + key + (wakeNow ? " now" : ""));
  }
  void watchList(const std::string& list, const std::vector<std::string>& keys,
                 bool wakeNow) override {
    std::string line = "watchList " + list;
    for (const std::string& key : keys) line += " " + key;
    log->push_back(line + (wakeNow ? " now" : ""));
  }
  void unwatchList(const std::string& list, const std::vector<std::string>& keys,
                   bool wakeNow) override {
    std::string line = "unwatchList " + list;
    for (const std::string& key : keys) line += " " + key;
    log->push_back(line + (wakeNow ? " now" : ""));
  }
  std::vector<SubscriptionEvent> takeSubscriptionEvents() override { return std::move(events); }
  WatcherStats stats() const override { return sipStats; }
  uint16_t sipPort() const override { return 5099; }
  void close() override { log->push_back("sip close"); }
};

struct FakeStore : NotificationPort {
  std::vector<std::string>* log;
  std::vector<NotificationWrites> writes;
  std::vector<NotificationStore::Committed> callbacks;  // parallel to writes ({} when none)
  std::vector<std::pair<NotificationKey, uint64_t>> done;
  explicit FakeStore(std::vector<std::string>* l) : log(l) {}
  void write(NotificationWrites w, NotificationStore::Committed committed) override {
    log->push_back("write");
    writes.push_back(std::move(w));
    callbacks.push_back(std::move(committed));
  }
  void saveCallRegistration(const call::CallRegistration&, NotificationStore::Committed) override {
    log->push_back("save call");
  }
  void removeCallRegistration(call::RegistrationKind, const std::string&,
                              NotificationStore::Committed) override {
    log->push_back("remove call");
  }
  void deliveryDone(const NotificationKey& id, uint64_t sequence) override {
    done.emplace_back(id, sequence);
  }
  void close() override { log->push_back("store close"); }
};

std::string keyOf(int n) {
  return "sip:+4930" + std::to_string(1000000 + n) + "@ims.example.test";
}

NotificationSpec spec(const std::string& correlator, const std::vector<int>& terminals) {
  NotificationSpec s;
  s.id = NotificationKey{"", correlator};
  s.endpoint = "http://app.example.test/" + correlator;
  s.globalId = "gid-" + correlator;
  for (int n : terminals) {
    s.addresses.push_back(WatchedAddress{"tel:+4930" + std::to_string(1000000 + n), keyOf(n), {}});
  }
  s.createdAtMs = kT0;
  s.expiresAtMs = kT0 + kHour;
  return s;
}

SubscriptionEvent statusEvent(int n, S status) {
  SubscriptionEvent e;
  e.kind = SubscriptionEvent::Kind::kStatus;
  e.requestUri = keyOf(n);
  e.status = status;
  return e;
}

class GatewayCoreTest : public ::testing::Test {
 protected:
  // Builds the core over fakes with `stored` as the store's content at start.
  void makeCore(StoredAtStart stored = {}, GatewayConfig config = {}) {
    auto presence = std::make_unique<FakePresence>(&log);
    auto store = std::make_unique<FakeStore>(&log);
    sip = presence.get();
    db = store.get();
    Clock clock{[this] { return now; }, [this] { return steady; }};
    core = std::make_unique<GatewayCore>(std::move(config), std::move(store), std::move(stored),
                                         std::move(presence), std::move(clock));
  }

  std::vector<std::string> log;
  TimeMs now = kT0;
  int64_t steady = 1000;
  FakePresence* sip = nullptr;
  FakeStore* db = nullptr;
  std::unique_ptr<GatewayCore> core;
};

TEST_F(GatewayCoreTest, StartWatchesInOneBatchThenWritesOnceAndSettlesOnCommit) {
  makeCore();
  ASSERT_TRUE(log.empty());
  int settled = 0;
  auto result = core->startNotification(
      spec("c1", {1, 2}), [&](bool ok, const std::string&) { settled += ok ? 1 : 0; });
  EXPECT_EQ(result, GatewayCore::StartResult::kStarted);
  // Watches without waking the SIP thread, one flush for the batch, then the store transaction.
  EXPECT_EQ(log,
            (std::vector<std::string>{"watch " + keyOf(1), "watch " + keyOf(2), "flush", "write"}));
  ASSERT_EQ(db->writes.size(), 1u);
  ASSERT_EQ(db->writes[0].saves.size(), 1u);
  EXPECT_EQ(db->writes[0].saves[0].spec.id.correlator, "c1");
  EXPECT_TRUE(db->writes[0].removes.empty());
  EXPECT_EQ(settled, 0) << "settled only when the store commits";
  ASSERT_TRUE(db->callbacks[0]);
  db->callbacks[0](true, "");
  EXPECT_EQ(settled, 1);
}

GatewayConfig listConfig() {
  GatewayConfig config;
  config.presence.resourceLists.enabled = true;
  return config;
}

TEST_F(GatewayCoreTest, NotificationOnAListWatchesItsNewMembersThroughOneListSubscription) {
  makeCore({}, listConfig());
  core->startNotification(spec("other", {2}), {});
  log.clear();
  core->startNotification(spec("g", {1, 2, 3}), {}, "sip:g@example.test");
  // Member 2 already has its own subscription: the list stands for 1 and 3 only.
  EXPECT_EQ(log,
            (std::vector<std::string>{"watchList sip:g@example.test " + keyOf(1) + " " + keyOf(3),
                                      "flush", "write"}));
  // The list's statuses feed the engine as per-member ones do.
  sip->events = {statusEvent(1, S::kReachable), statusEvent(3, S::kBusy)};
  EXPECT_TRUE(core->drainSubscriptionEvents());
  sip->events = {statusEvent(3, S::kReachable)};
  EXPECT_TRUE(core->drainSubscriptionEvents());
  core->advance();
  const std::vector<Delivery> deliveries = core->takeDeliveries();
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].statuses.size(), 1u);
  EXPECT_EQ(deliveries[0].statuses[0].first, "tel:+49301000003");
  log.clear();
  // The end: the list dialog ends; member 2's own subscription goes as usual.
  EXPECT_TRUE(core->endNotification(NotificationKey{"", "g"}, {}));
  EXPECT_EQ(log,
            (std::vector<std::string>{"unwatchList sip:g@example.test " + keyOf(1) + " " + keyOf(3),
                                      "flush", "write"}));
}

TEST_F(GatewayCoreTest, MembersStillWatchedWhenTheListEndsGetTheirOwnSubscriptions) {
  makeCore({}, listConfig());
  core->startNotification(spec("g", {1, 2}), {}, "sip:g@example.test");
  core->startNotification(spec("other", {2}), {});  // 2: watched through the list already
  log.clear();
  EXPECT_TRUE(core->endNotification(NotificationKey{"", "g"}, {}));
  EXPECT_EQ(log, (std::vector<std::string>{"unwatchList sip:g@example.test " + keyOf(1), "flush",
                                           "watch " + keyOf(2), "flush", "write"}));
  log.clear();
  EXPECT_TRUE(core->endNotification(NotificationKey{"", "other"}, {}));
  EXPECT_EQ(log, (std::vector<std::string>{"unwatch " + keyOf(2), "flush", "write"}));
}

TEST_F(GatewayCoreTest, WithoutResourceListsAListNotificationWatchesEachMember) {
  makeCore();
  core->startNotification(spec("g", {1, 2}), {}, "sip:g@example.test");
  EXPECT_EQ(log,
            (std::vector<std::string>{"watch " + keyOf(1), "watch " + keyOf(2), "flush", "write"}));
}

TEST_F(GatewayCoreTest, DuplicateStartChangesNothing) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  log.clear();
  bool called = false;
  EXPECT_EQ(
      core->startNotification(spec("c1", {2}), [&](bool, const std::string&) { called = true; }),
      GatewayCore::StartResult::kDuplicate);
  EXPECT_TRUE(log.empty());
  EXPECT_FALSE(called);
}

TEST_F(GatewayCoreTest, EndedWinsOverChangedInOneBatch) {
  makeCore();
  NotificationSpec s = spec("c1", {1});
  s.countLimit = 1;
  core->startNotification(std::move(s), {});
  EXPECT_FALSE(core->drainSubscriptionEvents()) << "nothing queued";
  sip->events = {statusEvent(1, S::kReachable)};  // baseline: saved, nothing delivered
  EXPECT_TRUE(core->drainSubscriptionEvents());
  ASSERT_EQ(db->writes.size(), 2u);
  EXPECT_EQ(db->writes[1].saves.size(), 1u);
  EXPECT_TRUE(core->takeDeliveries().empty());
  log.clear();
  // A change: statusNotification, count reached, statusEnd. The notification changed (progress)
  // and ended in the same batch: it is removed, never saved.
  sip->events = {statusEvent(1, S::kBusy)};
  core->drainSubscriptionEvents();
  EXPECT_EQ(log, (std::vector<std::string>{"unwatch " + keyOf(1), "flush", "write"}));
  ASSERT_EQ(db->writes.size(), 3u);
  const NotificationWrites& w = db->writes[2];
  EXPECT_TRUE(w.saves.empty());
  ASSERT_EQ(w.removes.size(), 1u);
  EXPECT_EQ(w.removes[0].correlator, "c1");
  ASSERT_EQ(w.deliveries.size(), 2u);  // in the same transaction as the removal
  EXPECT_EQ(w.deliveries[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(w.deliveries[1].kind, Kind::kStatusEnd);
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Kind::kStatusNotification);
  EXPECT_EQ(out[1].kind, Kind::kStatusEnd);
  EXPECT_EQ(core->stats().notifications, 0u);
}

TEST_F(GatewayCoreTest, RepeatedChangesOfOneNotificationAreSavedOnce) {
  makeCore();
  core->startNotification(spec("c1", {1, 2}), {});
  sip->events = {statusEvent(1, S::kReachable), statusEvent(2, S::kBusy)};
  core->drainSubscriptionEvents();
  ASSERT_EQ(db->writes.size(), 2u);
  ASSERT_EQ(db->writes[1].saves.size(), 1u);
  EXPECT_EQ(db->writes[1].saves[0].spec.addresses[0].lastSeen, S::kReachable);
  EXPECT_EQ(db->writes[1].saves[0].spec.addresses[1].lastSeen, S::kBusy);
}

TEST_F(GatewayCoreTest, FailedSubscriptionSendsStatusErrorWithTheComposedText) {
  makeCore();
  core->startNotification(spec("c1", {1, 2}), {});
  SubscriptionEvent failed;
  failed.kind = SubscriptionEvent::Kind::kFailed;
  failed.requestUri = keyOf(1);
  failed.sipStatus = 503;
  failed.detail = "Service Unavailable";
  sip->events = {failed};
  core->drainSubscriptionEvents();
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kStatusError);
  EXPECT_EQ(out[0].messageId, "SVC0001");
  EXPECT_EQ(out[0].variables, std::vector<std::string>{
                                  "presence subscription failed (SIP 503): Service Unavailable"});
}

TEST(GatewayFailureTexts, SubscriptionFailure) {
  SubscriptionEvent e;
  e.kind = SubscriptionEvent::Kind::kFailed;
  EXPECT_EQ(subscriptionFailureText(e), "presence subscription failed");
  e.sipStatus = 408;
  EXPECT_EQ(subscriptionFailureText(e), "presence subscription failed (SIP 408)");
  e.detail = "no answer";
  EXPECT_EQ(subscriptionFailureText(e), "presence subscription failed (SIP 408): no answer");
  e.sipStatus = 0;
  EXPECT_EQ(subscriptionFailureText(e), "presence subscription failed: no answer");
}

TEST(GatewayFailureTexts, StoreFailure) {
  EXPECT_EQ(notificationStoreFailureText("disk I/O error"), "notification store: disk I/O error");
}

TEST_F(GatewayCoreTest, RestoreWatchesActiveEndsExpiredAndKeepsTheOutboxFirst) {
  StoredAtStart stored;
  NotificationState active{spec("active", {1}), {}};
  active.spec.addresses[0].lastSeen = S::kReachable;
  NotificationState expired{spec("expired", {2}), {}};
  expired.spec.expiresAtMs = kT0 - 1;
  expired.progress.nextSequence = 7;
  stored.notifications = {active, expired};
  Delivery unsettled;
  unsettled.kind = Kind::kStatusNotification;
  unsettled.id = NotificationKey{"", "active"};
  unsettled.sequence = 3;
  stored.undelivered = {unsettled};
  QuarantinedNotification q;
  q.correlator = "broken";
  q.reason = "bad criteria";
  q.moved = true;
  stored.quarantined = {q};
  now = kT0 + 1;
  makeCore(std::move(stored));

  EXPECT_EQ(log, (std::vector<std::string>{"watch " + keyOf(1), "flush", "write"}));
  ASSERT_EQ(db->writes.size(), 1u);
  EXPECT_TRUE(db->writes[0].saves.empty());
  ASSERT_EQ(db->writes[0].removes.size(), 1u);
  EXPECT_EQ(db->writes[0].removes[0].correlator, "expired");
  ASSERT_EQ(db->writes[0].deliveries.size(), 1u);  // only the new statusEnd joins the outbox
  EXPECT_FALSE(db->callbacks[0]);
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id.correlator, "active");  // the outbox of the previous run first
  EXPECT_EQ(out[0].sequence, 3u);
  EXPECT_EQ(out[1].kind, Kind::kStatusEnd);
  EXPECT_EQ(out[1].id.correlator, "expired");
  EXPECT_EQ(out[1].sequence, 7u);
  ASSERT_EQ(core->quarantinedAtStart().size(), 1u);
  EXPECT_EQ(core->quarantinedAtStart()[0].correlator, "broken");
  ASSERT_EQ(core->notifications().size(), 1u);
  EXPECT_EQ(core->notifications()[0]->spec.addresses[0].lastSeen, S::kReachable);
}

TEST_F(GatewayCoreTest, EndAndTerminateSettleOnTheirRemoval) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  core->startNotification(spec("c2", {1}), {});
  EXPECT_FALSE(core->endNotification(NotificationKey{"", "nope"}, {}));
  log.clear();
  int settled = 0;
  auto count = [&](bool ok, const std::string&) { settled += ok ? 1 : 0; };
  EXPECT_TRUE(core->endNotification(NotificationKey{"", "c1"}, count));
  // The terminal is still watched by c2: no unwatch, only the removal.
  EXPECT_EQ(log, std::vector<std::string>{"write"});
  EXPECT_TRUE(core->takeDeliveries().empty()) << "end sends no statusEnd";
  EXPECT_TRUE(core->terminateNotification(NotificationKey{"", "c2"}, "maintenance", count));
  EXPECT_EQ(log, (std::vector<std::string>{"write", "unwatch " + keyOf(1), "flush", "write"}));
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kStatusError);
  EXPECT_EQ(out[0].variables, std::vector<std::string>{"maintenance"});
  db->callbacks[db->callbacks.size() - 2](true, "");
  db->callbacks.back()(true, "");
  EXPECT_EQ(settled, 2);
}

TEST_F(GatewayCoreTest, DeliveryDoneGoesToTheStoreUntilClosed) {
  makeCore();
  core->deliveryDone(NotificationKey{"r", "c1"}, 4);
  ASSERT_EQ(db->done.size(), 1u);
  EXPECT_EQ(db->done[0].first.requester, "r");
  EXPECT_EQ(db->done[0].second, 4u);
  core->beginClose();
  core->deliveryDone(NotificationKey{"r", "c1"}, 5);  // closing: the store still takes it
  EXPECT_EQ(db->done.size(), 2u);
  core->markClosed();
  core->deliveryDone(NotificationKey{"r", "c1"}, 6);
  EXPECT_EQ(db->done.size(), 2u);
}

TEST_F(GatewayCoreTest, TimerFollowsTheNextDeadlineAndStopsWhenClosing) {
  makeCore();
  EXPECT_FALSE(core->timerDelayMs());
  core->startNotification(spec("c1", {1}), {});
  EXPECT_EQ(core->timerDelayMs(), std::optional<uint64_t>(kHour));
  now = kT0 + kHour + 5;
  EXPECT_EQ(core->timerDelayMs(), std::optional<uint64_t>(0));
  core->beginClose();
  EXPECT_FALSE(core->timerDelayMs());
  core->advance();  // ignored once closing: the notification stays for the next start
  EXPECT_TRUE(core->takeDeliveries().empty());
  EXPECT_EQ(core->stats().notifications, 1u);
}

TEST_F(GatewayCoreTest, AdvanceSendsStatusEndAtExpiry) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  now = kT0 + kHour;
  core->advance();
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kStatusEnd);
  EXPECT_EQ(db->writes.back().removes.size(), 1u);
}

TEST_F(GatewayCoreTest, EventsAfterCloseBeganAreNotApplied) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  core->beginClose();
  sip->events = {statusEvent(1, S::kReachable)};
  const size_t writes = db->writes.size();
  EXPECT_FALSE(core->drainSubscriptionEvents());
  EXPECT_EQ(db->writes.size(), writes);
  EXPECT_TRUE(sip->events.empty()) << "taken all the same";
}

TEST_F(GatewayCoreTest, FetchMapsTheAddressToItsRequestUri) {
  makeCore();
  EXPECT_EQ(core->fetch("tel:+4930123", true).id, 1u);
  EXPECT_EQ(core->fetch("sip:alice@example.org", false).id, 2u);
  EXPECT_THROW(core->fetch("mailto:x@example.org", true), std::invalid_argument);
  EXPECT_EQ(log, (std::vector<std::string>{"fetch sip:+4930123@example.test;user=phone",
                                           "fetch sip:alice@example.org deferred"}));
  core->flush();
  core->beginClose();
  core->flush();  // closing: not sent any more
  EXPECT_EQ(log.back(), "flush");
  EXPECT_EQ(log.size(), 3u);
}

SubscriptionEvent interruptedEvent(int n) {
  SubscriptionEvent e;
  e.kind = SubscriptionEvent::Kind::kInterrupted;
  e.requestUri = keyOf(n);
  e.sipStatus = 481;
  return e;
}

TEST_F(GatewayCoreTest, FetchOfAWatchedTerminalIsAnsweredFromItsLastNotify) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  // Watched but no NOTIFY yet: nothing is known, so the fetch goes to the presence server.
  GatewayCore::FetchStart before = core->fetch(keyOf(1), true);
  EXPECT_FALSE(before.answered);
  EXPECT_EQ(before.id, 1u);

  sip->events.push_back(statusEvent(1, S::kBusy));
  core->drainSubscriptionEvents();
  log.clear();
  GatewayCore::FetchStart answered = core->fetch(keyOf(1), true);
  ASSERT_TRUE(answered.answered);
  EXPECT_EQ(answered.answered->kind, FetchOutcome::Kind::kStatus);
  EXPECT_EQ(answered.answered->status, S::kBusy);
  EXPECT_TRUE(log.empty()) << "no SUBSCRIBE for it";
  // An unwatched terminal still goes to the presence server.
  EXPECT_FALSE(core->fetch(keyOf(2), true).answered);
  EXPECT_EQ(core->stats().fetchesAnsweredFromSubscriptions, 1u);

  // The next NOTIFY is the new answer.
  sip->events.push_back(statusEvent(1, S::kReachable));
  core->drainSubscriptionEvents();
  ASSERT_TRUE(core->fetch(keyOf(1), true).answered);
  EXPECT_EQ(core->fetch(keyOf(1), true).answered->status, S::kReachable);
}

TEST_F(GatewayCoreTest, FetchGoesToThePresenceServerWhileTheSubscriptionIsDown) {
  makeCore();
  core->startNotification(spec("c1", {1}), {});
  sip->events.push_back(statusEvent(1, S::kReachable));
  core->drainSubscriptionEvents();
  ASSERT_TRUE(core->fetch(keyOf(1), true).answered);

  // The dialog was lost: until the new one's first NOTIFY the status may be stale.
  sip->events.push_back(interruptedEvent(1));
  core->drainSubscriptionEvents();
  log.clear();
  EXPECT_FALSE(core->fetch(keyOf(1), true).answered);
  EXPECT_EQ(log, (std::vector<std::string>{"fetch " + keyOf(1)}));
  sip->events.push_back(statusEvent(1, S::kUnreachable));
  core->drainSubscriptionEvents();
  ASSERT_TRUE(core->fetch(keyOf(1), true).answered);

  // Once no notification watches it, nothing holds its status.
  core->endNotification(NotificationKey{"", "c1"}, {});
  EXPECT_FALSE(core->fetch(keyOf(1), true).answered);
  // Watched again: the old status is not taken for the new subscription's.
  core->startNotification(spec("c2", {1}), {});
  EXPECT_FALSE(core->fetch(keyOf(1), true).answered);
}

TEST_F(GatewayCoreTest, AnswerFromSubscriptionsCanBeTurnedOff) {
  GatewayConfig config;
  config.presence.answerFromSubscriptions = false;
  makeCore({}, std::move(config));
  core->startNotification(spec("c1", {1}), {});
  sip->events.push_back(statusEvent(1, S::kBusy));
  core->drainSubscriptionEvents();
  log.clear();
  EXPECT_FALSE(core->fetch(keyOf(1), true).answered);
  EXPECT_EQ(log, (std::vector<std::string>{"fetch " + keyOf(1)}));
  EXPECT_EQ(core->stats().fetchesAnsweredFromSubscriptions, 0u);
}

TEST_F(GatewayCoreTest, StatsCombineSipEngineAndPolicy) {
  makeCore();
  sip->sipStats.started = 3;
  sip->sipStats.tcpRefused = 2;
  core->startNotification(spec("c1", {1, 2}), {});
  core->startNotification(spec("c2", {2}), {});
  const policy::Decision d =
      core->evaluatePolicy("", PolicyOperation::kGetStatus, {"tel:+4930123"});
  ASSERT_FALSE(d.refused);
  const GatewayStats s = core->stats();
  EXPECT_EQ(s.sip.started, 3u);
  EXPECT_EQ(s.sip.tcpRefused, 2u);
  EXPECT_EQ(s.notifications, 2u);
  EXPECT_EQ(s.watchedTerminals, 2u);
  EXPECT_EQ(s.policyInFlight, d.admission != 0 ? 1u : 0u);
  core->releasePolicy(d.admission);
  EXPECT_EQ(core->stats().policyInFlight, 0u);
  EXPECT_EQ(core->sipPort(), 5099);
}

TEST_F(GatewayCoreTest, CloseBlockingClosesSipThenStore) {
  makeCore();
  log.clear();
  core->beginClose();
  core->closeBlocking();
  EXPECT_EQ(log, (std::vector<std::string>{"sip close", "store close"}));
}

}  // namespace
}  // namespace px::gateway
