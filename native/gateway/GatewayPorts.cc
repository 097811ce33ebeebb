#include "gateway/GatewayPorts.h"

#include <utility>

namespace px::gateway {
namespace {

class WatcherPort final : public PresencePort {
 public:
  WatcherPort(const GatewayConfig& config, PresenceWatcher::OutcomeSignal signal)
      : watcher_(config, std::move(signal)) {}
  uint64_t fetch(const std::string& requestUri, bool wakeNow) override {
    return watcher_.fetch(requestUri, wakeNow);
  }
  void flush() override { watcher_.flush(); }
  std::vector<FetchOutcome> takeOutcomes() override { return watcher_.takeOutcomes(); }
  void watch(const std::string& key, bool wakeNow) override { watcher_.watch(key, wakeNow); }
  void unwatch(const std::string& key, bool wakeNow) override { watcher_.unwatch(key, wakeNow); }
  std::vector<SubscriptionEvent> takeSubscriptionEvents() override {
    return watcher_.takeSubscriptionEvents();
  }
  WatcherStats stats() const override { return watcher_.stats(); }
  uint16_t sipPort() const override { return watcher_.sipPort(); }
  void close() override { watcher_.close(); }

 private:
  PresenceWatcher watcher_;
};

class StorePort final : public NotificationPort {
 public:
  explicit StorePort(const std::string& path) : store_(path) {}
  NotificationStore& store() { return store_; }
  void write(NotificationWrites writes, NotificationStore::Committed committed) override {
    store_.write(std::move(writes), std::move(committed));
  }
  void deliveryDone(const NotificationKey& id, uint64_t sequence) override {
    store_.deliveryDone(id, sequence);
  }
  void close() override { store_.close(); }

 private:
  NotificationStore store_;
};

}  // namespace

std::unique_ptr<NotificationPort> openNotificationStore(const GatewayConfig& config,
                                                        StoredAtStart& stored) {
  try {
    auto port = std::make_unique<StorePort>(config.notifications.database);
    stored.notifications = port->store().loadAll();
    stored.quarantined = port->store().quarantined();
    stored.undelivered = port->store().pendingDeliveries();
    return port;
  } catch (const std::exception& e) {
    throw StartError(StartError::Stage::kNotificationStore, e.what());
  }
}

std::unique_ptr<PresencePort> startPresence(const GatewayConfig& config,
                                            PresenceWatcher::OutcomeSignal signal) {
  try {
    return std::make_unique<WatcherPort>(config, std::move(signal));
  } catch (const std::exception& e) {
    throw StartError(StartError::Stage::kSip, e.what());
  }
}

}  // namespace px::gateway
