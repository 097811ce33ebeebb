#include "gateway/GatewayCore.h"

#include <iterator>
#include <set>
#include <stdexcept>
#include <utility>

#include "address/Address.h"
#include "gateway/FailureTexts.h"

namespace px::gateway {

std::unique_ptr<GatewayCore> GatewayCore::start(GatewayConfig config,
                                                PresenceWatcher::OutcomeSignal signal,
                                                Clock clock) {
  // The store first: a database that cannot be read must not cost a SIP port.
  StoredAtStart stored;
  std::unique_ptr<NotificationPort> store = openNotificationStore(config, stored);
  std::unique_ptr<PresencePort> presence = startPresence(config, std::move(signal));
  return std::make_unique<GatewayCore>(std::move(config), std::move(store), std::move(stored),
                                       std::move(presence), std::move(clock));
}

GatewayCore::GatewayCore(GatewayConfig config, std::unique_ptr<NotificationPort> store,
                         StoredAtStart stored, std::unique_ptr<PresencePort> presence, Clock clock)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      store_(std::move(store)),
      presence_(std::move(presence)),
      policy_(std::make_unique<policy::PolicyEngine>(config_)),
      quarantined_(std::move(stored.quarantined)),
      // Deliveries decided before the restart and never settled go first (at-least-once).
      undelivered_(std::move(stored.undelivered)) {
  const TimeMs now = clock_.wallMs();
  EngineEffects effects;
  for (NotificationState& state : stored.notifications) {
    engine_.restore(std::move(state), now, effects);
  }
  apply(effects);
}

GatewayCore::~GatewayCore() {
  closeBlocking();
}

uint64_t GatewayCore::fetch(const std::string& address, bool wakeNow) {
  const AddressParseResult parsed = parseAddress(address);
  if (!parsed.ok()) throw std::invalid_argument("invalid address: " + parsed.reason);
  return presence_->fetch(toSipRequestUri(parsed.address, config_.sip.telDomain), wakeNow);
}

void GatewayCore::flush() {
  if (!closing()) presence_->flush();
}

std::vector<FetchOutcome> GatewayCore::takeFetchOutcomes() {
  return presence_->takeOutcomes();
}

GatewayCore::StartResult GatewayCore::startNotification(NotificationSpec spec, Committed stored) {
  const NotificationKey id = spec.id;
  EngineEffects effects;
  if (engine_.start(std::move(spec), clock_.wallMs(), effects) ==
      NotificationEngine::StartResult::kDuplicateCorrelator) {
    return StartResult::kDuplicate;
  }
  apply(effects, &id, std::move(stored));
  return StartResult::kStarted;
}

template <typename End>
bool GatewayCore::endWith(const NotificationKey& id, Committed removed, End end) {
  EngineEffects effects;
  if (!end(effects)) return false;
  apply(effects, &id, std::move(removed));
  return true;
}

bool GatewayCore::endNotification(const NotificationKey& id, Committed removed) {
  return endWith(id, std::move(removed),
                 [&](EngineEffects& effects) { return engine_.end(id, effects); });
}

bool GatewayCore::terminateNotification(const NotificationKey& id, const std::string& reason,
                                        Committed removed) {
  return endWith(id, std::move(removed),
                 [&](EngineEffects& effects) { return engine_.terminate(id, reason, effects); });
}

void GatewayCore::deliveryDone(const NotificationKey& id, uint64_t sequence) {
  if (!closed_) store_->deliveryDone(id, sequence);
}

bool GatewayCore::drainSubscriptionEvents() {
  std::vector<SubscriptionEvent> events = presence_->takeSubscriptionEvents();
  if (events.empty() || closing()) return false;
  const TimeMs now = clock_.wallMs();
  EngineEffects effects;
  for (const SubscriptionEvent& event : events) {
    if (event.kind == SubscriptionEvent::Kind::kStatus) {
      engine_.onStatus(event.requestUri, event.status, now, effects);
    } else {
      engine_.onSubscriptionFailed(event.requestUri, subscriptionFailureText(event), now, effects);
    }
  }
  apply(effects);
  return true;
}

void GatewayCore::advance() {
  if (closing()) return;
  EngineEffects effects;
  engine_.advance(clock_.wallMs(), effects);
  apply(effects);
}

std::optional<uint64_t> GatewayCore::timerDelayMs() const {
  const std::optional<TimeMs> next = engine_.nextDeadline();
  if (!next || closing()) return std::nullopt;
  const TimeMs wait = *next - clock_.wallMs();
  return wait <= 0 ? 0 : static_cast<uint64_t>(wait);
}

std::vector<const NotificationState*> GatewayCore::notifications() const {
  std::vector<const NotificationState*> list;
  for (const NotificationKey& id : engine_.keys()) {
    if (const NotificationState* state = engine_.find(id)) list.push_back(state);
  }
  return list;
}

std::vector<Delivery> GatewayCore::takeDeliveries() {
  std::vector<Delivery> batch;
  batch.swap(undelivered_);
  return batch;
}

policy::Decision GatewayCore::checkServicePolicy(const std::string& requester,
                                                 PolicyOperation op) const {
  return policy_->checkService(requester, op);
}

policy::Decision GatewayCore::evaluatePolicy(const std::string& requester, PolicyOperation op,
                                             const std::vector<std::string>& addresses) {
  return policy_->evaluate(requester, op, addresses, clock_.steadyMs());
}

GatewayStats GatewayCore::stats() const {
  GatewayStats s;
  s.sip = presence_->stats();
  s.notifications = engine_.size();
  s.watchedTerminals = engine_.watchedTerminals();
  s.policyInFlight = policy_->inFlight();
  return s;
}

void GatewayCore::closeBlocking() {
  if (presence_) presence_->close();
  if (store_) store_->close();
}

void GatewayCore::apply(EngineEffects& effects, const NotificationKey* awaited,
                        Committed committed) {
  // One SIP-thread wake-up for the whole batch (a restore may watch 100,000 terminals).
  for (const std::string& key : effects.watch) presence_->watch(key, false);
  for (const std::string& key : effects.unwatch) presence_->unwatch(key, false);
  if (!effects.watch.empty() || !effects.unwatch.empty()) presence_->flush();
  // Ended wins over changed: a notification that ended in this batch is deleted, not saved.
  const std::set<NotificationKey> ended(effects.ended.begin(), effects.ended.end());
  std::set<NotificationKey> saved;
  bool awaitedWritten = false;
  // One transaction: the changed states (lastSeen) and the deliveries they caused (outbox), so
  // that a crash in between cannot keep the one and lose the other.
  NotificationWrites writes;
  for (const NotificationKey& id : effects.changed) {
    if (ended.count(id) != 0 || !saved.insert(id).second) continue;
    const NotificationState* state = engine_.find(id);
    if (state == nullptr) continue;
    if (awaited != nullptr && id == *awaited) awaitedWritten = true;
    writes.saves.push_back(*state);
  }
  for (const NotificationKey& id : ended) {
    if (awaited != nullptr && id == *awaited) awaitedWritten = true;
    writes.removes.push_back(id);
  }
  writes.deliveries = effects.deliveries;
  if (!writes.saves.empty() || !writes.removes.empty() || !writes.deliveries.empty()) {
    store_->write(std::move(writes), awaitedWritten ? std::move(committed) : Committed());
  }
  if (awaited != nullptr && !awaitedWritten && committed) {
    // Nothing to write (cannot happen for start/end; kept total): settle at once.
    committed(true, "");
  }
  undelivered_.insert(undelivered_.end(), std::make_move_iterator(effects.deliveries.begin()),
                      std::make_move_iterator(effects.deliveries.end()));
}

}  // namespace px::gateway
