// What the gateway core needs of the SIP side and of the notification store, as interfaces: the
// production ones wrap PresenceWatcher, CallServer and NotificationStore (GatewayPorts.cc),
// GoogleTest passes fakes so that the orchestration runs without UDP or SQLite.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "call/CallMatcher.h"
#include "cluster/ClusterNode.h"
#include "config/GatewayConfig.h"
#include "notify/NotificationEngine.h"
#include "sip/CallSink.h"
#include "sip/PresenceWatcher.h"
#include "store/NotificationStore.h"

namespace px::gateway {

// The SIP presence side (PresenceWatcher's public API, as the core uses it).
class PresencePort {
 public:
  virtual ~PresencePort() = default;
  virtual uint64_t fetch(const std::string& requestUri, bool wakeNow) = 0;
  // One fetch id per member; by default one fetch each (PresenceWatcher::fetchList may use one
  // resource list subscription instead).
  virtual std::vector<uint64_t> fetchList(const std::string& listUri,
                                          const std::vector<std::string>& requestUris,
                                          bool wakeNow) {
    (void)listUri;
    std::vector<uint64_t> ids;
    for (const std::string& uri : requestUris) ids.push_back(fetch(uri, false));
    if (wakeNow) flush();
    return ids;
  }
  virtual void flush() = 0;
  virtual std::vector<FetchOutcome> takeOutcomes() = 0;
  virtual void watch(const std::string& key, bool wakeNow) = 0;
  virtual void unwatch(const std::string& key, bool wakeNow) = 0;
  // One list subscription standing for the keys' own (PresenceWatcher::watchList); by default
  // each key is watched on its own.
  virtual void watchList(const std::string& listUri, const std::vector<std::string>& keys,
                         bool wakeNow) {
    (void)listUri;
    for (const std::string& key : keys) watch(key, false);
    if (wakeNow) flush();
  }
  virtual void unwatchList(const std::string& listUri, const std::vector<std::string>& keys,
                           bool wakeNow) {
    (void)listUri;
    for (const std::string& key : keys) unwatch(key, false);
    if (wakeNow) flush();
  }
  virtual std::vector<SubscriptionEvent> takeSubscriptionEvents() = 0;
  virtual WatcherStats stats() const = 0;
  virtual uint16_t sipPort() const = 0;
  virtual void close() = 0;  // blocks: joins the SIP thread
};

// The call application server (CallServer's public API, as the core uses it). It reads the
// CallWatchIndex the core publishes to; its events and decisions are signalled like presence
// outcomes.
class CallPort {
 public:
  virtual ~CallPort() = default;
  virtual uint16_t port() const = 0;  // 0 when calls are disabled
  virtual void decide(uint64_t callRef, uint64_t decisionId, call::CallAction action) = 0;
  virtual std::vector<call::CallEventRecord> takeEvents() = 0;
  virtual std::vector<call::DecisionRequest> takeDecisions() = 0;
  virtual CallProxyCounters stats() const = 0;
  // What the SIP thread runs at start to add the AS role; {} when calls are disabled.
  virtual SipStack::Setup sipSetup() = 0;
};

// The notification store after start-up (writes go to its writer thread).
class NotificationPort {
 public:
  virtual ~NotificationPort() = default;
  virtual void write(NotificationWrites writes, NotificationStore::Committed committed) = 0;
  virtual void saveCallRegistration(const call::CallRegistration& registration,
                                    NotificationStore::Committed committed) = 0;
  virtual void removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                                      NotificationStore::Committed committed) = 0;
  virtual void deliveryDone(const NotificationKey& id, uint64_t sequence) = 0;
  virtual void close() = 0;  // blocks: commits what is queued, joins the writer
};

// The clustered service (store.backend: postgresql, docs/cluster.md): the same object as the
// NotificationPort then (ClusterNode behind both), absent with SQLite.
class ClusterPort {
 public:
  virtual ~ClusterPort() = default;
  virtual cluster::ClusterEvents takeEvents() = 0;
  // The core forgot these notifications (a hand-over request): they become unowned.
  virtual void release(std::vector<NotificationKey> keys) = 0;
  // Ends another instance's notification; the answer comes back in takeEvents().ends.
  virtual void endElsewhere(cluster::RemoteEnd request) = 0;
  // Reads the service's stored notifications; the answer comes back in takeEvents().reads.
  virtual void read(cluster::StoredRead request) = 0;
  virtual cluster::ClusterStatus status() const = 0;
};

// What the store held at start-up.
struct StoredAtStart {
  std::vector<NotificationState> notifications;      // decoded, sorted by key
  std::vector<QuarantinedNotification> quarantined;  // rows that did not decode
  std::vector<Delivery> undelivered;                 // the outbox: deliveries never settled
  std::vector<call::CallRegistration> calls;         // call registrations, in start order
  std::vector<QuarantinedCallRegistration> quarantinedCalls;  // call rows that did not decode
};

// Why the gateway could not start; the binding turns the stage into an error code.
class StartError : public std::runtime_error {
 public:
  enum class Stage { kNotificationStore, kSip };
  StartError(Stage stage, const std::string& what) : std::runtime_error(what), stage_(stage) {}
  Stage stage() const { return stage_; }

 private:
  Stage stage_;
};

// Opens the configured notification store and reads it (StartError kNotificationStore). With
// store.backend postgresql it is a cluster member (also a ClusterPort): nothing is owned yet
// (notifications are claimed by its thread and come as events, `signal` tells when), only the
// call registrations are read.
std::unique_ptr<NotificationPort> openNotificationStore(const GatewayConfig& config,
                                                        StoredAtStart& stored,
                                                        std::function<void()> signal = {});

// A call port that does nothing: calls.enabled false (and tests without calls).
std::unique_ptr<CallPort> disabledCallPort();

// The call AS over `index` (a CallServer, or a port that does nothing when calls.enabled is
// false). `signal` as for presence. The index and the port must outlive the SIP thread.
std::unique_ptr<CallPort> makeCallPort(const GatewayConfig& config,
                                       const call::CallWatchIndex& index,
                                       std::function<void()> signal);

// Binds the SIP transports and starts the SIP thread (StartError kSip). `signal` is called
// (SIP thread) when fetch outcomes or subscription events are ready; it must not block.
// `extraRoles`: other roles of the same SIP thread (CallPort::sipSetup()).
std::unique_ptr<PresencePort> startPresence(const GatewayConfig& config,
                                            PresenceWatcher::OutcomeSignal signal,
                                            SipStack::Setup extraRoles = {});

}  // namespace px::gateway
