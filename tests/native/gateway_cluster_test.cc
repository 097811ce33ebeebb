// GatewayCore as a member of a clustered service (store.backend postgresql), with a fake store
// that is also the ClusterPort: taking notifications over, forgetting lost ones without a word,
// handing over on request, ends of notifications owned elsewhere, duplicate starts whose
// deliveries are held, and call registrations reloaded from elsewhere.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/GatewayCore.h"

namespace px::gateway {
namespace {

using S = TerminalStatus;
constexpr TimeMs kT0 = 1'700'000'000'000;
constexpr TimeMs kHour = 3'600'000;

std::string keyOf(int n) {
  return "sip:+4930" + std::to_string(1000000 + n) + "@ims.example.test";
}

struct FakePresence : PresencePort {
  std::vector<std::string>* log;
  std::vector<SubscriptionEvent> events;
  explicit FakePresence(std::vector<std::string>* l) : log(l) {}
  uint64_t fetch(const std::string&, bool) override { return 1; }
  void flush() override {}
  std::vector<FetchOutcome> takeOutcomes() override { return {}; }
  void watch(const std::string& key, bool) override { log->push_back("watch " + key); }
  void unwatch(const std::string& key, bool) override { log->push_back("unwatch " + key); }
  std::vector<SubscriptionEvent> takeSubscriptionEvents() override { return std::move(events); }
  WatcherStats stats() const override { return {}; }
  uint16_t sipPort() const override { return 5099; }
  void close() override {}
};

struct FakeClusterStore : NotificationPort, ClusterPort {
  std::vector<std::string>* log;
  std::vector<NotificationWrites> writes;
  std::vector<NotificationStore::Committed> callbacks;
  cluster::ClusterEvents pending;
  std::vector<std::vector<NotificationKey>> released;
  std::vector<cluster::RemoteEnd> ends;
  std::vector<cluster::StoredRead> reads;
  explicit FakeClusterStore(std::vector<std::string>* l) : log(l) {}
  void write(NotificationWrites w, NotificationStore::Committed committed) override {
    log->push_back("write");
    writes.push_back(std::move(w));
    callbacks.push_back(std::move(committed));
  }
  void saveCallRegistration(const call::CallRegistration&, NotificationStore::Committed) override {}
  void removeCallRegistration(call::RegistrationKind, const std::string&,
                              NotificationStore::Committed) override {}
  void deliveryDone(const NotificationKey&, uint64_t) override {}
  void close() override {}
  cluster::ClusterEvents takeEvents() override { return std::exchange(pending, {}); }
  void release(std::vector<NotificationKey> keys) override { released.push_back(std::move(keys)); }
  void endElsewhere(cluster::RemoteEnd request) override { ends.push_back(std::move(request)); }
  void read(cluster::StoredRead request) override { reads.push_back(std::move(request)); }
  cluster::ClusterStatus status() const override {
    cluster::ClusterStatus s;
    s.instanceName = "fake";
    s.leaseHeld = true;
    return s;
  }
};

NotificationState state(const std::string& correlator, std::vector<int> terminals,
                        TimeMs createdAt = kT0) {
  NotificationState st;
  st.spec.id = NotificationKey{"app", correlator};
  st.spec.endpoint = "http://app.example.test/" + correlator;
  st.spec.globalId = "gid-" + correlator;
  for (int n : terminals) {
    st.spec.addresses.push_back(
        WatchedAddress{"tel:+4930" + std::to_string(1000000 + n), keyOf(n), S::kReachable});
  }
  st.spec.createdAtMs = createdAt;
  st.spec.expiresAtMs = kT0 + kHour;
  return st;
}

class GatewayClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto presence = std::make_unique<FakePresence>(&log);
    auto store = std::make_unique<FakeClusterStore>(&log);
    sip = presence.get();
    db = store.get();
    Clock clock{[this] { return now; }, [] { return int64_t{1000}; }};
    core = std::make_unique<GatewayCore>(GatewayConfig{}, std::move(store), StoredAtStart{},
                                         std::move(presence), std::move(clock));
  }

  // Takes `states` over as the cluster member would report them.
  void adopt(std::vector<NotificationState> states, std::vector<Delivery> outbox = {}) {
    db->pending.adopted.states = std::move(states);
    db->pending.adopted.outbox = std::move(outbox);
    ASSERT_TRUE(core->drainCluster());
  }

  std::vector<std::string> log;
  TimeMs now = kT0 + 1000;
  FakePresence* sip = nullptr;
  FakeClusterStore* db = nullptr;
  std::unique_ptr<GatewayCore> core;
};

TEST_F(GatewayClusterTest, NothingToDrainWithoutEvents) {
  EXPECT_FALSE(core->drainCluster());
  EXPECT_TRUE(core->stats().cluster.has_value());
  EXPECT_EQ(core->stats().cluster->instanceName, "fake");
}

TEST_F(GatewayClusterTest, AdoptedNotificationsAreWatchedAndTheirOutboxGoesFirst) {
  Delivery old;
  old.kind = Delivery::Kind::kStatusNotification;
  old.id = NotificationKey{"app", "a"};
  old.sequence = 7;
  old.statuses = {{"tel:+49301000001", S::kBusy}};
  adopt({state("a", {1}), state("b", {1, 2})}, {old});
  // One subscription per terminal, shared by the two notifications.
  EXPECT_EQ(log, (std::vector<std::string>{"watch " + keyOf(1), "watch " + keyOf(2)}));
  EXPECT_EQ(core->notifications().size(), 2u);
  std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sequence, 7u);
  // A status that changed while nobody watched is reported on the first NOTIFY (lastSeen
  // Reachable was stored).
  sip->events = {SubscriptionEvent{}};
  sip->events[0].kind = SubscriptionEvent::Kind::kStatus;
  sip->events[0].requestUri = keyOf(2);
  sip->events[0].status = S::kBusy;
  EXPECT_TRUE(core->drainSubscriptionEvents());
  out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id.correlator, "b");
}

TEST_F(GatewayClusterTest, DroppedNotificationsAreForgottenWithoutStoreWriteOrDelivery) {
  adopt({state("a", {1}), state("b", {2})});
  log.clear();
  db->writes.clear();
  db->pending.dropped = {NotificationKey{"app", "a"}};
  ASSERT_TRUE(core->drainCluster());
  EXPECT_EQ(log, (std::vector<std::string>{"unwatch " + keyOf(1)}));
  EXPECT_TRUE(db->writes.empty()) << "its new owner keeps the row";
  EXPECT_FALSE(core->hasDeliveries());
  ASSERT_EQ(core->notifications().size(), 1u);
  EXPECT_EQ(core->notifications()[0]->spec.id.correlator, "b");
}

TEST_F(GatewayClusterTest, LosingTheLeaseForgetsEverything) {
  adopt({state("a", {1}), state("b", {2})});
  db->pending.dropAll = true;
  ASSERT_TRUE(core->drainCluster());
  EXPECT_EQ(core->notifications().size(), 0u);
  EXPECT_EQ(core->stats().watchedTerminals, 0u);
  EXPECT_FALSE(core->hasDeliveries());
}

TEST_F(GatewayClusterTest, HandOverReleasesTheNewestNotifications) {
  adopt({state("old", {1}, kT0), state("mid", {2}, kT0 + 10), state("new", {3}, kT0 + 20)});
  db->pending.handOver = 2;
  ASSERT_TRUE(core->drainCluster());
  ASSERT_EQ(db->released.size(), 1u);
  std::vector<std::string> names;
  for (const NotificationKey& k : db->released[0]) names.push_back(k.correlator);
  EXPECT_EQ(names, (std::vector<std::string>{"new", "mid"}));
  ASSERT_EQ(core->notifications().size(), 1u);
  EXPECT_EQ(core->notifications()[0]->spec.id.correlator, "old");
}

TEST_F(GatewayClusterTest, EndOfANotificationOwnedElsewhereGoesToTheCluster) {
  std::vector<std::pair<bool, std::string>> answers;
  const NotificationKey id{"app", "remote"};
  EXPECT_TRUE(core->endNotification(
      id, [&](bool ok, const std::string& error) { answers.emplace_back(ok, error); }));
  ASSERT_EQ(db->ends.size(), 1u);
  EXPECT_EQ(db->ends[0].key, id);
  EXPECT_TRUE(answers.empty()) << "answered when the database answered";

  // Found and deleted elsewhere: Parlay X's end sends nothing.
  cluster::RemoteEnd end = std::move(db->ends[0]);
  end.found = store::EndedElsewhere{"other-instance", state("remote", {1})};
  db->pending.ends.push_back(std::move(end));
  ASSERT_TRUE(core->drainCluster());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].first);
  EXPECT_EQ(answers[0].second, "");
  EXPECT_FALSE(core->hasDeliveries());
  EXPECT_TRUE(log.empty()) << "nothing watched here";
}

TEST_F(GatewayClusterTest, EndUnknownEverywhereIsToldAsUnknown) {
  std::vector<std::pair<bool, std::string>> answers;
  core->endNotification(NotificationKey{"app", "nowhere"}, [&](bool ok, const std::string& error) {
    answers.emplace_back(ok, error);
  });
  cluster::RemoteEnd end = std::move(db->ends.at(0));
  db->pending.ends.push_back(std::move(end));
  ASSERT_TRUE(core->drainCluster());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].first);
  EXPECT_EQ(answers[0].second, GatewayCore::kUnknownElsewhere);
}

TEST_F(GatewayClusterTest, OperatorTerminateElsewhereSendsTheStatusErrorFromHere) {
  core->terminateNotification(NotificationKey{"app", "remote"}, "maintenance", {});
  cluster::RemoteEnd end = std::move(db->ends.at(0));
  EXPECT_EQ(end.kind, cluster::RemoteEnd::Kind::kTerminate);
  end.found = store::EndedElsewhere{"other", state("remote", {1})};
  db->pending.ends.push_back(std::move(end));
  ASSERT_TRUE(core->drainCluster());
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Delivery::Kind::kStatusError);
  EXPECT_EQ(out[0].messageId, "SVC0001");
}

TEST_F(GatewayClusterTest, StartDeliveriesWaitForTheInsertAndADuplicateNeverDelivers) {
  // A terminal whose status is known here already: checkImmediate reports it in the start.
  adopt({state("watching", {1})});
  sip->events = {SubscriptionEvent{}};
  sip->events[0].kind = SubscriptionEvent::Kind::kStatus;
  sip->events[0].requestUri = keyOf(1);
  sip->events[0].status = S::kReachable;
  core->drainSubscriptionEvents();
  core->takeDeliveries();

  NotificationSpec fresh = state("fresh", {1}).spec;
  fresh.addresses[0].lastSeen.reset();
  fresh.checkImmediate = true;
  NotificationSpec copy = fresh;
  db->writes.clear();
  ASSERT_EQ(core->startNotification(std::move(fresh), {}), GatewayCore::StartResult::kStarted);
  ASSERT_EQ(db->writes.size(), 1u);
  EXPECT_EQ(db->writes[0].created, (std::vector<NotificationKey>{copy.id}));
  EXPECT_FALSE(core->hasDeliveries()) << "held until the insert committed";
  core->startCommitted(copy.id, true);
  ASSERT_TRUE(core->hasDeliveries());
  EXPECT_EQ(core->takeDeliveries().at(0).id.correlator, "fresh");

  // The same start refused as a duplicate of another instance's correlator: dropped, forgotten.
  copy.id.correlator = "dup";
  ASSERT_EQ(core->startNotification(copy, {}), GatewayCore::StartResult::kStarted);
  db->pending.dropped = {copy.id};
  core->drainCluster();
  core->startCommitted(copy.id, false);
  EXPECT_FALSE(core->hasDeliveries());
  EXPECT_EQ(core->notification(copy.id), nullptr);
}

TEST_F(GatewayClusterTest, ADuplicateStartsFirstNotifyIsHeldAndDroppedToo) {
  // The terminal is not watched here yet: checkImmediate reports on its first NOTIFY, which may
  // come before the insert is found a duplicate.
  NotificationSpec dup = state("dup", {9}).spec;
  dup.addresses[0].lastSeen.reset();
  dup.checkImmediate = true;
  const NotificationKey id = dup.id;
  ASSERT_EQ(core->startNotification(std::move(dup), {}), GatewayCore::StartResult::kStarted);
  sip->events = {SubscriptionEvent{}};
  sip->events[0].kind = SubscriptionEvent::Kind::kStatus;
  sip->events[0].requestUri = keyOf(9);
  sip->events[0].status = S::kReachable;
  ASSERT_TRUE(core->drainSubscriptionEvents());
  EXPECT_FALSE(core->hasDeliveries()) << "held until the insert committed";
  db->pending.dropped = {id};
  core->drainCluster();
  core->startCommitted(id, false);
  EXPECT_FALSE(core->hasDeliveries());

  // The same for a start that commits: its first NOTIFY's report goes out once it did.
  NotificationSpec ok = state("ok", {8}).spec;
  ok.addresses[0].lastSeen.reset();
  ok.checkImmediate = true;
  const NotificationKey okId = ok.id;
  core->startNotification(std::move(ok), {});
  sip->events = {SubscriptionEvent{}};
  sip->events[0].kind = SubscriptionEvent::Kind::kStatus;
  sip->events[0].requestUri = keyOf(8);
  sip->events[0].status = S::kBusy;
  core->drainSubscriptionEvents();
  EXPECT_FALSE(core->hasDeliveries());
  core->startCommitted(okId, true);
  const std::vector<Delivery> out = core->takeDeliveries();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, okId);
  // Later deliveries are no longer held.
  sip->events = {SubscriptionEvent{}};
  sip->events[0].kind = SubscriptionEvent::Kind::kStatus;
  sip->events[0].requestUri = keyOf(8);
  sip->events[0].status = S::kReachable;
  core->drainSubscriptionEvents();
  EXPECT_TRUE(core->hasDeliveries());
}

TEST_F(GatewayClusterTest, ReadsGoToTheClusterAndTheirAnswersComeBackEvenWhileClosing) {
  ASSERT_TRUE(core->readStored(42, NotificationKey{"app", "x"}, std::string("app")));
  ASSERT_EQ(db->reads.size(), 1u);
  EXPECT_EQ(db->reads[0].key->correlator, "x");
  cluster::StoredRead answer = std::move(db->reads[0]);
  answer.states.push_back(state("x", {1}));
  db->pending.reads.push_back(std::move(answer));
  core->beginClose();
  core->drainCluster();
  const std::vector<cluster::StoredRead> reads = core->takeReads();
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].id, 42u);
  ASSERT_EQ(reads[0].states.size(), 1u);
  EXPECT_EQ(reads[0].states[0].spec.id.correlator, "x");
}

TEST_F(GatewayClusterTest, CallRegistrationsChangedElsewhereReplaceTheLocalSet) {
  call::CallRegistration r;
  r.kind = call::RegistrationKind::kNotification;
  r.correlator = "calls-1";
  r.requester = "app";
  r.addresses = {"tel:+49301000001"};
  r.endpoint = "http://app.example.test/calls";
  r.order = 5;
  db->pending.calls = std::vector<call::CallRegistration>{r};
  ASSERT_TRUE(core->drainCluster());
  ASSERT_EQ(core->callRegistrations().size(), 1u);
  EXPECT_EQ(core->callRegistrations()[0].correlator, "calls-1");
  db->pending.calls = std::vector<call::CallRegistration>{};
  ASSERT_TRUE(core->drainCluster());
  EXPECT_TRUE(core->callRegistrations().empty());
}

}  // namespace
}  // namespace px::gateway
