#include "gateway/GatewayPorts.h"

#include <utility>

#include "sip/CallServer.h"

namespace px::gateway {
namespace {

class WatcherPort final : public PresencePort {
 public:
  WatcherPort(const GatewayConfig& config, PresenceWatcher::OutcomeSignal signal,
              SipStack::Setup extraRoles)
      : watcher_(config, std::move(signal), std::move(extraRoles)) {}
  uint64_t fetch(const std::string& requestUri, bool wakeNow) override {
    return watcher_.fetch(requestUri, wakeNow);
  }
  std::vector<uint64_t> fetchList(const std::string& listUri,
                                  const std::vector<std::string>& requestUris,
                                  bool wakeNow) override {
    return watcher_.fetchList(listUri, requestUris, wakeNow);
  }
  void flush() override { watcher_.flush(); }
  std::vector<FetchOutcome> takeOutcomes() override { return watcher_.takeOutcomes(); }
  void watch(const std::string& key, bool wakeNow) override { watcher_.watch(key, wakeNow); }
  void unwatch(const std::string& key, bool wakeNow) override { watcher_.unwatch(key, wakeNow); }
  void watchList(const std::string& listUri, const std::vector<std::string>& keys,
                 bool wakeNow) override {
    watcher_.watchList(listUri, keys, wakeNow);
  }
  void unwatchList(const std::string& listUri, const std::vector<std::string>& keys,
                   bool wakeNow) override {
    watcher_.unwatchList(listUri, keys, wakeNow);
  }
  std::vector<SubscriptionEvent> takeSubscriptionEvents() override {
    return watcher_.takeSubscriptionEvents();
  }
  WatcherStats stats() const override { return watcher_.stats(); }
  uint16_t sipPort() const override { return watcher_.sipPort(); }
  void close() override { watcher_.close(); }

 private:
  PresenceWatcher watcher_;
};

class ServerCallPort final : public CallPort {
 public:
  ServerCallPort(const GatewayConfig& config, const call::CallWatchIndex& index,
                 std::function<void()> signal)
      : server_(config, index, std::move(signal)) {}
  uint16_t port() const override { return server_.port(); }
  void decide(uint64_t callRef, uint64_t decisionId, call::CallAction action) override {
    server_.decide(callRef, decisionId, std::move(action));
  }
  std::vector<call::CallEventRecord> takeEvents() override { return server_.takeEvents(); }
  std::vector<call::DecisionRequest> takeDecisions() override { return server_.takeDecisions(); }
  CallProxyCounters stats() const override { return server_.stats(); }
  SipStack::Setup sipSetup() override {
    return [this](SipStack& stack) { return server_.setup(stack); };
  }

 private:
  CallServer server_;
};

// calls.enabled false: no AS agent, nothing ever happens.
class DisabledCallPort final : public CallPort {
 public:
  uint16_t port() const override { return 0; }
  void decide(uint64_t, uint64_t, call::CallAction) override {}
  std::vector<call::CallEventRecord> takeEvents() override { return {}; }
  std::vector<call::DecisionRequest> takeDecisions() override { return {}; }
  CallProxyCounters stats() const override { return {}; }
  SipStack::Setup sipSetup() override { return {}; }
};

class StorePort final : public NotificationPort {
 public:
  explicit StorePort(const std::string& path) : store_(path) {}
  NotificationStore& store() { return store_; }
  void write(NotificationWrites writes, NotificationStore::Committed committed) override {
    store_.write(std::move(writes), std::move(committed));
  }
  void saveCallRegistration(const call::CallRegistration& registration,
                            NotificationStore::Committed committed) override {
    store_.saveCallRegistration(registration, std::move(committed));
  }
  void removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                              NotificationStore::Committed committed) override {
    store_.removeCallRegistration(kind, correlator, std::move(committed));
  }
  void deliveryDone(const NotificationKey& id, uint64_t sequence) override {
    store_.deliveryDone(id, sequence);
  }
  void close() override { store_.close(); }

 private:
  NotificationStore store_;
};

// store.backend postgresql: the registrations and the ownership of notifications.
class ClusterStorePort final : public NotificationPort, public ClusterPort {
 public:
  ClusterStorePort(cluster::ClusterOptions options, std::function<void()> signal)
      : node_(std::move(options), std::move(signal)) {}
  cluster::ClusterNode& node() { return node_; }
  void write(NotificationWrites writes, NotificationStore::Committed committed) override {
    node_.write(std::move(writes), std::move(committed));
  }
  void saveCallRegistration(const call::CallRegistration& registration,
                            NotificationStore::Committed committed) override {
    node_.saveCallRegistration(registration, std::move(committed));
  }
  void removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                              NotificationStore::Committed committed) override {
    node_.removeCallRegistration(kind, correlator, std::move(committed));
  }
  void deliveryDone(const NotificationKey& id, uint64_t sequence) override {
    node_.deliveryDone(id, sequence);
  }
  // A closing instance hands its notifications over: the others take them at once.
  void close() override { node_.close(true); }
  cluster::ClusterEvents takeEvents() override { return node_.takeEvents(); }
  void release(std::vector<NotificationKey> keys) override { node_.release(std::move(keys)); }
  void endElsewhere(cluster::RemoteEnd request) override { node_.endElsewhere(std::move(request)); }
  void read(cluster::StoredRead request) override { node_.read(std::move(request)); }
  cluster::ClusterStatus status() const override { return node_.status(); }

 private:
  cluster::ClusterNode node_;
};

cluster::ClusterOptions clusterOptions(const GatewayConfig& config) {
  cluster::ClusterOptions o;
  o.url = config.store.url;
  o.connectTimeoutSec = config.store.connectTimeoutSec;
  o.instanceName = config.store.instanceName;
  o.timing.leaseMs = config.store.leaseMs;
  o.timing.renewMs = config.store.renewMs;
  o.timing.safetyMs = config.store.leaseSafetyMs;
  o.balance = config.store.balance;
  o.reconnectBackoffMs = config.store.reconnectBackoffMs;
  o.reconnectBackoffMaxMs = config.store.reconnectBackoffMaxMs;
  return o;
}

}  // namespace

std::unique_ptr<NotificationPort> openNotificationStore(const GatewayConfig& config,
                                                        StoredAtStart& stored,
                                                        std::function<void()> signal) {
  if (config.store.backend == StoreBackend::kPostgresql) {
    try {
      auto port = std::make_unique<ClusterStorePort>(clusterOptions(config), std::move(signal));
      stored.calls = port->node().takeInitialCalls();
      stored.quarantinedCalls = port->node().quarantinedCalls();
      return port;
    } catch (const std::exception& e) {
      throw StartError(StartError::Stage::kNotificationStore, e.what());
    }
  }
  try {
    auto port = std::make_unique<StorePort>(config.notifications.database);
    stored.notifications = port->store().loadAll();
    stored.quarantined = port->store().quarantined();
    stored.undelivered = port->store().pendingDeliveries();
    stored.calls = port->store().loadCallRegistrations();
    stored.quarantinedCalls = port->store().quarantinedCalls();
    return port;
  } catch (const std::exception& e) {
    throw StartError(StartError::Stage::kNotificationStore, e.what());
  }
}

std::unique_ptr<CallPort> disabledCallPort() {
  return std::make_unique<DisabledCallPort>();
}

std::unique_ptr<CallPort> makeCallPort(const GatewayConfig& config,
                                       const call::CallWatchIndex& index,
                                       std::function<void()> signal) {
  if (!config.calls.enabled) return disabledCallPort();
  return std::make_unique<ServerCallPort>(config, index, std::move(signal));
}

std::unique_ptr<PresencePort> startPresence(const GatewayConfig& config,
                                            PresenceWatcher::OutcomeSignal signal,
                                            SipStack::Setup extraRoles) {
  try {
    return std::make_unique<WatcherPort>(config, std::move(signal), std::move(extraRoles));
  } catch (const std::exception& e) {
    throw StartError(StartError::Stage::kSip, e.what());
  }
}

}  // namespace px::gateway
