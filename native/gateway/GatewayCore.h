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
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "gateway/Clock.h"
#include "gateway/GatewayPorts.h"
#include "notify/NotificationEngine.h"
#include "policy/PolicyEngine.h"

namespace px::gateway {

struct GatewayStats {
  WatcherStats sip;
  uint64_t notifications = 0;     // active notifications
  uint64_t watchedTerminals = 0;  // distinct terminals with a subscription wanted
  uint64_t policyInFlight = 0;    // requests admitted by the policy and not yet released
};

class GatewayCore {
 public:
  using Committed = NotificationStore::Committed;

  // Opens the store, starts SIP (StartError naming the stage that failed; the store is closed
  // again when SIP cannot start) and continues the stored notifications.
  static std::unique_ptr<GatewayCore> start(GatewayConfig config,
                                            PresenceWatcher::OutcomeSignal signal,
                                            Clock clock = Clock::system());

  // Continues the notifications of the previous run: their terminals are watched again, the
  // ones that expired meanwhile get statusEnd; the outbox's deliveries go first.
  GatewayCore(GatewayConfig config, std::unique_ptr<NotificationPort> store, StoredAtStart stored,
              std::unique_ptr<PresencePort> presence, Clock clock);
  ~GatewayCore();
  GatewayCore(const GatewayCore&) = delete;
  GatewayCore& operator=(const GatewayCore&) = delete;

  const GatewayConfig& config() const { return config_; }
  const std::vector<QuarantinedNotification>& quarantinedAtStart() const { return quarantined_; }
  uint16_t sipPort() const { return presence_->sipPort(); }

  // --- getStatus -------------------------------------------------------------------------------
  // Starts a presence fetch of a tel/sip/sips address; its outcome comes from takeFetchOutcomes()
  // under the returned id. Throws std::invalid_argument ("invalid address: ...") for an address
  // that does not parse. With wakeNow false the SIP thread waits for flush().
  uint64_t fetch(const std::string& address, bool wakeNow);
  void flush();
  std::vector<FetchOutcome> takeFetchOutcomes();

  // --- Terminal Status notifications -----------------------------------------------------------
  enum class StartResult { kStarted, kDuplicate };
  // kStarted: `stored` runs (store writer thread) once the notification is committed.
  // kDuplicate: nothing happens and `stored` is dropped.
  StartResult startNotification(NotificationSpec spec, Committed stored);
  // false when unknown (`removed` is dropped); else `removed` runs once the removal committed.
  bool endNotification(const NotificationKey& id, Committed removed);
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

  // Deliveries decided and not yet handed to the application's listener, in order.
  bool hasDeliveries() const { return !undelivered_.empty(); }
  std::vector<Delivery> takeDeliveries();

  // --- Policy ----------------------------------------------------------------------------------
  policy::Decision checkServicePolicy(const std::string& requester, PolicyOperation op) const;
  policy::Decision evaluatePolicy(const std::string& requester, PolicyOperation op,
                                  const std::vector<std::string>& addresses);
  void releasePolicy(uint64_t admission) { policy_->release(admission); }

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
             Committed committed = {});
  template <typename End>
  bool endWith(const NotificationKey& id, Committed removed, End end);

  GatewayConfig config_;
  Clock clock_;
  std::unique_ptr<NotificationPort> store_;
  std::unique_ptr<PresencePort> presence_;
  std::unique_ptr<policy::PolicyEngine> policy_;
  NotificationEngine engine_;
  std::vector<QuarantinedNotification> quarantined_;
  std::vector<Delivery> undelivered_;  // held until the listener takes them
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace px::gateway
