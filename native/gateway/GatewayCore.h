// The native half of a gateway, without Node: configuration, the policy engine, the SIP presence
// side, and the Terminal Status notifications (engine, store, subscriptions). It decides; the
// binding (native/binding/NativeCore.cc) only converts values and settles Promises.
//
// Threads: every method runs on one thread (the JS thread), except closeBlocking(), which joins
// the SIP thread and the store's writer and so runs on a pool thread after beginClose(). The
// SIP side signals outcomes (PresencePort's signal) and the store calls Committed callbacks on
// their own threads; the owner hands both back to this thread.
//
// Effects of the notification engine are applied here, in one order: SIP watches, then
// unwatches (one SIP-thread wake-up per batch), then one store transaction (changed states,
// removals, and the deliveries they caused), then the deliveries are queued for the listener.
// A notification that ended in a batch is removed, not saved, even if it also changed in it.
//
// Calls (docs/calls.md): the core owns the CallRegistry, the CallWatchIndex it publishes to (read
// by the SIP thread's AS role) and the CallPort. Registrations are stored through the same store
// writer; the AS's events become one CallNotificationDue per notification registration wanting
// them, its decision requests one CallDecisionDue for the decider (or Continue at once when no
// registration decides any more).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "call/CallRegistry.h"
#include "config/GatewayConfig.h"
#include "gateway/CallDues.h"
#include "gateway/Clock.h"
#include "gateway/GatewayPorts.h"
#include "notify/NotificationEngine.h"
#include "policy/PolicyEngine.h"

namespace px::gateway {

struct GatewayStats {
  WatcherStats sip;
  uint64_t notifications = 0;      // active notifications
  uint64_t watchedTerminals = 0;   // distinct terminals with a subscription wanted
  uint64_t policyInFlight = 0;     // requests admitted by the policy and not yet released
  CallProxyCounters calls;         // the AS role's counters
  uint64_t callRegistrations = 0;  // live call registrations (both kinds)
  uint64_t fetchesAnsweredFromSubscriptions = 0;  // fetches no SUBSCRIBE was sent for
  std::optional<cluster::ClusterStatus> cluster;  // store.backend postgresql
};

class GatewayCore {
 public:
  using Committed = NotificationStore::Committed;

  // Opens the store, starts SIP with the call AS on its thread (StartError naming the stage that
  // failed; the store is closed again when SIP cannot start) and continues the stored
  // notifications and call registrations. `signal` also tells of call events and decisions.
  static std::unique_ptr<GatewayCore> start(GatewayConfig config,
                                            PresenceWatcher::OutcomeSignal signal,
                                            Clock clock = Clock::system());

  // Continues the notifications of the previous run: their terminals are watched again, the
  // ones that expired meanwhile get statusEnd; the outbox's deliveries go first.
  // `calls` null: a port that does nothing (tests of Terminal Status). `index`: the one `calls`
  // reads (null: a fresh one).
  GatewayCore(GatewayConfig config, std::unique_ptr<NotificationPort> store, StoredAtStart stored,
              std::unique_ptr<PresencePort> presence, Clock clock,
              std::unique_ptr<CallPort> calls = nullptr,
              std::shared_ptr<call::CallWatchIndex> index = nullptr);
  ~GatewayCore();
  GatewayCore(const GatewayCore&) = delete;
  GatewayCore& operator=(const GatewayCore&) = delete;

  const GatewayConfig& config() const { return config_; }
  const std::vector<QuarantinedNotification>& quarantinedAtStart() const { return quarantined_; }
  uint16_t sipPort() const { return presence_->sipPort(); }

  // --- getStatus -------------------------------------------------------------------------------
  struct FetchStart {
    uint64_t id = 0;  // the fetch's id in takeFetchOutcomes(); 0 when `answered`
    // Answered at once from the terminal's running subscription (presence.answerFromSubscriptions)
    std::optional<FetchOutcome> answered;
  };
  // Starts a presence fetch of a tel/sip/sips address; its outcome comes from takeFetchOutcomes()
  // under the returned id, unless a running subscription answered it. Throws
  // std::invalid_argument ("invalid address: ...") for an address that does not parse. With
  // wakeNow false the SIP thread waits for flush().
  FetchStart fetch(const std::string& address, bool wakeNow);
  // Fetches the members (tel/sip/sips addresses) of the resource list `listUri` (a SIP URI)
  // with one list subscription (presence.resourceLists); one id per address, in order, each
  // with one outcome in takeFetchOutcomes(). Members are never answered from running
  // subscriptions here: the list answers them all.
  std::vector<uint64_t> fetchList(const std::string& listUri,
                                  const std::vector<std::string>& addresses, bool wakeNow);
  void flush();
  std::vector<FetchOutcome> takeFetchOutcomes();

  // --- Terminal Status notifications -----------------------------------------------------------
  enum class StartResult { kStarted, kDuplicate };
  // kStarted: `stored` runs (store writer thread) once the notification is committed.
  // kDuplicate: nothing happens and `stored` is dropped.
  // `listUri` (a SIP URI, "" for none): the addresses are the members of a group the resource
  // list server holds at that URI (presence.resourceLists); while the notification runs, the
  // members it is the first to watch are watched through ONE list subscription instead of one
  // each (PresencePort::watchList). When the last notification of that list ends, members that
  // other notifications still watch get their own subscriptions. Not persisted: a restored
  // notification watches its members one by one.
  StartResult startNotification(NotificationSpec spec, Committed stored,
                                const std::string& listUri = "");
  // false when unknown (`removed` is dropped); else `removed` runs once the removal committed.
  // api: the API the caller serves ("" = Parlay X); a notification of another API is unknown.
  // Clustered: a notification this instance does not own is ended in the database for its
  // owner (true is returned; `removed` runs with ok=true and kUnknownElsewhere when the
  // database does not know it either).
  bool endNotification(const NotificationKey& id, Committed removed, const std::string& api = "");
  // The operator ends a notification: statusError for the whole of it, then it ends.
  bool terminateNotification(const NotificationKey& id, const std::string& reason,
                             Committed removed);
  // The delivery was settled (delivered or given up for good): it leaves the outbox.
  void deliveryDone(const NotificationKey& id, uint64_t sequence);
  // Feeds the subscription events the SIP side queued to the engine; false when there were none
  // or the core is closing (they are taken and dropped then).
  bool drainSubscriptionEvents();
  // Sends what is due now: expiries and opened frequency windows (ignored once closing).
  void advance();
  // When advance() has work next, from now (0: at once); nullopt: none, or closing.
  std::optional<uint64_t> timerDelayMs() const;
  // The active notifications, sorted by key; valid until the next call that changes them.
  std::vector<const NotificationState*> notifications() const;
  // One active notification; nullptr when unknown. Valid as notifications()'s.
  const NotificationState* notification(const NotificationKey& id) const {
    return engine_.find(id);
  }

  // --- Clustered service (store.backend postgresql, docs/cluster.md) ---------------------------
  // Applies what the cluster member reported: notifications taken over (restored, their outbox
  // sent), notifications another instance owns now (forgotten without a word), hand-over
  // requests, call registrations changed elsewhere, and the answers to ends of notifications
  // owned elsewhere. false when there was nothing (or closing).
  bool drainCluster();
  // The store answered a startNotification (the binding, on the JS thread): clustered, its
  // held deliveries are released (ok) or dropped (a duplicate elsewhere, or a failed write).
  void startCommitted(const NotificationKey& id, bool ok);
  // Clustered: reads the stored notifications of the whole service (any owner) — one by key, or
  // all (of one requester when given); the answer comes from takeReads() under `id` after a
  // drainCluster(). false when not clustered (the local notifications are the whole service).
  bool readStored(uint64_t id, std::optional<NotificationKey> key,
                  std::optional<std::string> requester);
  std::vector<cluster::StoredRead> takeReads() { return std::exchange(reads_, {}); }
  // `removed`'s error text, with ok=true, for an end of a notification no instance knows.
  static constexpr const char* kUnknownElsewhere = "unknown in the cluster";

  // Deliveries decided and not yet handed to the application's listener, in order.
  bool hasDeliveries() const { return !undelivered_.empty(); }
  std::vector<Delivery> takeDeliveries();

  // --- Call Notification / Call Direction registrations and calls ------------------------------
  struct CallStart {
    enum class Result { kStarted, kDuplicateCorrelator, kOverlappingCriteria, kDisabled };
    Result result = Result::kStarted;
    std::string address;  // kOverlappingCriteria: the address in common
  };
  // kStarted: live (and published to the SIP thread) at once; `stored` runs (writer thread)
  // once committed. Otherwise nothing happens and `stored` is dropped. order is assigned here;
  // createdMs is set from the wall clock when 0.
  CallStart startCallRegistration(call::CallRegistration registration, Committed stored);
  // kStopped: `removed` runs once the removal committed; otherwise it is dropped.
  call::CallRegistry::StopResult stopCallRegistration(call::RegistrationKind kind,
                                                      const std::string& requester,
                                                      const std::string& correlator,
                                                      Committed removed);
  // A start whose store write failed (its caller was answered with an error): it ends without a
  // store write.
  void forgetCallRegistration(call::RegistrationKind kind, const std::string& correlator);
  const std::vector<call::CallRegistration>& callRegistrations() const {
    return registry_.registrations();
  }
  const std::vector<QuarantinedCallRegistration>& quarantinedCallsAtStart() const {
    return quarantinedCalls_;
  }
  uint16_t callPort() const { return calls_->port(); }
  // Turns what the AS queued into dues; false when there was nothing (or closing: taken and
  // dropped, the AS applies its default action to waiting calls).
  bool drainCalls();
  bool hasCallWork() const { return !callBatch_.empty(); }
  CallBatch takeCallBatch();
  // The application's (or the JS default's) decision. false when the call no longer waits for
  // it: unknown, already decided, or past its deadline (the AS applied calls.defaultAction).
  bool decideCall(uint64_t callRef, uint64_t decisionId, call::CallAction action);

  // --- Policy ----------------------------------------------------------------------------------
  policy::Decision checkServicePolicy(const std::string& requester, PolicyOperation op) const;
  policy::NotificationDecision checkNotificationLimits(
      const std::string& requester, const policy::NotificationRequest& request) const {
    return policy_->checkNotificationLimits(requester, request);
  }
  policy::Decision evaluatePolicy(const std::string& requester, PolicyOperation op,
                                  const std::vector<std::string>& addresses);
  void releasePolicy(uint64_t admission) { policy_->release(admission); }
  // Groups from the XDMS: the documents to fetch before evaluatePolicy (PolicyEngine).
  std::vector<std::string> groupDocumentsNeeded(const std::string& requester, PolicyOperation op,
                                                const std::vector<std::string>& addresses) const {
    return policy_->groupDocumentsNeeded(requester, op, addresses, clock_.steadyMs());
  }
  void groupDocumentFetched(const std::string& url, std::optional<std::string_view> body,
                            std::string_view error) {
    policy_->groupDocumentFetched(url, body, error, clock_.steadyMs());
  }

  GatewayStats stats() const;

  // --- Shutdown: beginClose() (JS thread), closeBlocking() (pool), markClosed() (JS thread) ----
  // Active notifications stay in the store for the next start.
  void beginClose() { closing_ = true; }
  void closeBlocking();  // ends fetches (kShutdown) and subscriptions, commits the store
  void markClosed() { closed_ = true; }
  bool closing() const { return closing_ || closed_; }
  bool closed() const { return closed_; }

 private:
  // Carries out what the engine decided; `awaited`'s write gets `committed` (which runs at once
  // with ok=true when the batch has nothing to write for it).
  void apply(EngineEffects& effects, const NotificationKey* awaited = nullptr,
             Committed committed = {}, bool awaitedCreated = false);
  // The SIP half of apply(): list bookkeeping, watches and unwatches.
  void applySubscriptions(EngineEffects& effects);
  // Another instance owns these now: out of the engine and the SIP side, no store write.
  void forget(const std::vector<NotificationKey>& ids);
  void answerRemoteEnd(cluster::RemoteEnd& end);
  template <typename End>
  bool endWith(const NotificationKey& id, Committed removed, End end);

  // Decisions handed to the JS side and not yet answered: (callRef, decisionId) -> steady deadline.
  using PendingDecisions = std::map<std::pair<uint64_t, uint64_t>, int64_t>;
  CallRecipient recipientOf(const call::CallRegistration& registration) const;

  // Notifications on a group through a list subscription (startNotification's listUri).
  struct ListWatch {
    uint32_t notifications = 0;     // running notifications started on this list
    std::set<std::string> covered;  // member keys watched through the list (none on their own)
    std::vector<std::string> keys;  // the keys the list subscription was started for
  };
  // Before apply() carries out `effects`: unwatches of covered keys are the list's, and lists
  // whose last notification ended are unwatched (members still watched get their own).
  void applyListEffects(EngineEffects& effects);

  GatewayConfig config_;
  Clock clock_;
  std::unique_ptr<NotificationPort> store_;
  ClusterPort* cluster_ = nullptr;  // store_ itself when clustered, else null
  std::map<NotificationKey, std::vector<Delivery>> heldForStart_;  // see startCommitted()
  std::vector<cluster::StoredRead> reads_;                         // answered, until takeReads()
  // The index and the AS outlive the SIP thread (presence_, declared after them, stops first).
  std::shared_ptr<call::CallWatchIndex> index_;
  call::CallRegistry registry_;
  std::unique_ptr<CallPort> calls_;
  std::unique_ptr<PresencePort> presence_;
  std::unique_ptr<policy::PolicyEngine> policy_;
  NotificationEngine engine_;
  std::vector<QuarantinedNotification> quarantined_;
  std::vector<QuarantinedCallRegistration> quarantinedCalls_;
  std::vector<Delivery> undelivered_;  // held until the listener takes them
  CallBatch callBatch_;                // held until the call listener takes it
  PendingDecisions pendingDecisions_;
  uint64_t answeredFromSubscriptions_ = 0;
  std::map<std::string, ListWatch> listWatches_;              // by list Request-URI
  std::map<NotificationKey, std::string> notificationLists_;  // notification -> list
  std::map<std::string, std::string> coveredBy_;              // member key -> list
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace px::gateway
