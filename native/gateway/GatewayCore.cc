#include "gateway/GatewayCore.h"

#include <algorithm>
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
  std::unique_ptr<NotificationPort> store = openNotificationStore(config, stored, signal);
  // The AS reads the index from the SIP thread's first moment on: both exist before SIP starts.
  auto index = std::make_shared<call::CallWatchIndex>();
  std::unique_ptr<CallPort> calls = makeCallPort(config, *index, signal);
  std::unique_ptr<PresencePort> presence =
      startPresence(config, std::move(signal), calls->sipSetup());
  return std::make_unique<GatewayCore>(std::move(config), std::move(store), std::move(stored),
                                       std::move(presence), std::move(clock), std::move(calls),
                                       std::move(index));
}

namespace {

std::shared_ptr<call::CallWatchIndex> orFresh(std::shared_ptr<call::CallWatchIndex> index) {
  return index ? std::move(index) : std::make_shared<call::CallWatchIndex>();
}

}  // namespace

GatewayCore::GatewayCore(GatewayConfig config, std::unique_ptr<NotificationPort> store,
                         StoredAtStart stored, std::unique_ptr<PresencePort> presence, Clock clock,
                         std::unique_ptr<CallPort> calls,
                         std::shared_ptr<call::CallWatchIndex> index)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      store_(std::move(store)),
      cluster_(dynamic_cast<ClusterPort*>(store_.get())),
      index_(orFresh(std::move(index))),
      registry_(*index_),
      calls_(calls ? std::move(calls) : disabledCallPort()),
      presence_(std::move(presence)),
      policy_(std::make_unique<policy::PolicyEngine>(config_)),
      quarantined_(std::move(stored.quarantined)),
      quarantinedCalls_(std::move(stored.quarantinedCalls)),
      // Deliveries decided before the restart and never settled go first (at-least-once).
      undelivered_(std::move(stored.undelivered)) {
  // Published before any call is matched: the SIP thread saw the empty index until now.
  registry_.restore(std::move(stored.calls));
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

GatewayCore::FetchStart GatewayCore::fetch(const std::string& address, bool wakeNow) {
  const AddressParseResult parsed = parseAddress(address);
  if (!parsed.ok()) throw std::invalid_argument("invalid address: " + parsed.reason);
  std::string requestUri = toSipRequestUri(parsed.address, config_.sip.telDomain);
  FetchStart start;
  if (config_.presence.answerFromSubscriptions && !closing()) {
    if (const std::optional<TerminalStatus> live = engine_.liveStatus(requestUri)) {
      FetchOutcome outcome;
      outcome.kind = FetchOutcome::Kind::kStatus;
      outcome.status = *live;
      outcome.detail = "from the running subscription";
      start.answered = std::move(outcome);
      answeredFromSubscriptions_++;
      return start;
    }
  }
  start.id = presence_->fetch(requestUri, wakeNow);
  return start;
}

std::vector<uint64_t> GatewayCore::fetchList(const std::string& listUri,
                                             const std::vector<std::string>& addresses,
                                             bool wakeNow) {
  const AddressParseResult list = parseAddress(listUri);
  if (!list.ok() || listUri.rfind("tel:", 0) == 0) {
    throw std::invalid_argument("invalid resource list URI: " + listUri);
  }
  std::vector<std::string> requestUris;
  requestUris.reserve(addresses.size());
  for (const std::string& address : addresses) {
    const AddressParseResult parsed = parseAddress(address);
    if (!parsed.ok()) throw std::invalid_argument("invalid address: " + parsed.reason);
    requestUris.push_back(toSipRequestUri(parsed.address, config_.sip.telDomain));
  }
  return presence_->fetchList(toSipRequestUri(list.address, config_.sip.telDomain), requestUris,
                              wakeNow);
}

void GatewayCore::flush() {
  if (!closing()) presence_->flush();
}

std::vector<FetchOutcome> GatewayCore::takeFetchOutcomes() {
  return presence_->takeOutcomes();
}

GatewayCore::StartResult GatewayCore::startNotification(NotificationSpec spec, Committed stored,
                                                        const std::string& listUri) {
  const NotificationKey id = spec.id;
  std::string list;
  if (!listUri.empty() && config_.presence.resourceLists.enabled && listUri.rfind("tel:", 0) != 0) {
    const AddressParseResult parsed = parseAddress(listUri);
    if (parsed.ok()) list = toSipRequestUri(parsed.address, config_.sip.telDomain);
  }
  EngineEffects effects;
  if (engine_.start(std::move(spec), clock_.wallMs(), effects) ==
      NotificationEngine::StartResult::kDuplicateCorrelator) {
    return StartResult::kDuplicate;
  }
  if (!list.empty() && engine_.find(id) != nullptr) {
    ListWatch& watch = listWatches_[list];
    watch.notifications++;
    notificationLists_[id] = list;
    if (watch.notifications == 1 && !effects.watch.empty()) {
      // The members no other notification watches yet: through the list, not one by one.
      watch.keys = std::move(effects.watch);
      effects.watch.clear();
      for (const std::string& key : watch.keys) {
        watch.covered.insert(key);
        coveredBy_[key] = list;
      }
      presence_->watchList(list, watch.keys, false);
      presence_->flush();
    }
  }
  apply(effects, &id, std::move(stored), true);
  return StartResult::kStarted;
}

void GatewayCore::applyListEffects(EngineEffects& effects) {
  if (listWatches_.empty()) return;
  std::vector<std::string> unwatch;
  for (std::string& key : effects.unwatch) {
    const auto covered = coveredBy_.find(key);
    if (covered == coveredBy_.end()) {
      unwatch.push_back(std::move(key));
      continue;
    }
    listWatches_[covered->second].covered.erase(key);
    coveredBy_.erase(covered);
  }
  effects.unwatch = std::move(unwatch);
  for (const NotificationKey& id : effects.ended) {
    const auto found = notificationLists_.find(id);
    if (found == notificationLists_.end()) continue;
    const std::string list = found->second;
    notificationLists_.erase(found);
    auto watch = listWatches_.find(list);
    if (watch == listWatches_.end() || --watch->second.notifications > 0) continue;
    if (!watch->second.keys.empty()) {
      std::vector<std::string> dropped;
      for (const std::string& key : watch->second.keys) {
        if (watch->second.covered.count(key) == 0) dropped.push_back(key);
      }
      presence_->unwatchList(list, dropped, false);
    }
    // Members other notifications still watch get their own subscriptions.
    for (const std::string& key : watch->second.covered) {
      coveredBy_.erase(key);
      effects.watch.push_back(key);
    }
    listWatches_.erase(watch);
    presence_->flush();
  }
}

template <typename End>
bool GatewayCore::endWith(const NotificationKey& id, Committed removed, End end) {
  EngineEffects effects;
  if (!end(effects)) return false;
  apply(effects, &id, std::move(removed));
  return true;
}

bool GatewayCore::endNotification(const NotificationKey& id, Committed removed,
                                  const std::string& api) {
  if (cluster_ != nullptr && engine_.find(id) == nullptr && !closing()) {
    cluster::RemoteEnd end;
    end.kind = cluster::RemoteEnd::Kind::kEnd;
    end.key = id;
    end.api = api;
    end.done = std::move(removed);
    cluster_->endElsewhere(std::move(end));
    return true;
  }
  return endWith(id, std::move(removed), [&](EngineEffects& effects) {
    return engine_.end(id, effects, api, clock_.wallMs());
  });
}

bool GatewayCore::terminateNotification(const NotificationKey& id, const std::string& reason,
                                        Committed removed) {
  if (cluster_ != nullptr && engine_.find(id) == nullptr && !closing()) {
    cluster::RemoteEnd end;
    end.kind = cluster::RemoteEnd::Kind::kTerminate;
    end.key = id;
    end.reason = reason;
    end.done = std::move(removed);
    cluster_->endElsewhere(std::move(end));
    return true;
  }
  return endWith(id, std::move(removed), [&](EngineEffects& effects) {
    return engine_.terminate(id, reason, effects, clock_.wallMs());
  });
}

bool GatewayCore::readStored(uint64_t id, std::optional<NotificationKey> key,
                             std::optional<std::string> requester) {
  if (cluster_ == nullptr) return false;
  cluster::StoredRead read;
  read.id = id;
  read.key = std::move(key);
  read.requester = std::move(requester);
  cluster_->read(std::move(read));
  return true;
}

bool GatewayCore::drainCluster() {
  if (cluster_ == nullptr) return false;
  cluster::ClusterEvents events = cluster_->takeEvents();
  if (events.empty()) return false;
  // Reads are answered whatever else happens.
  reads_.insert(reads_.end(), std::make_move_iterator(events.reads.begin()),
                std::make_move_iterator(events.reads.end()));
  if (closing()) {
    // Nothing is applied any more; an end still gets its answer.
    for (cluster::RemoteEnd& end : events.ends) {
      if (end.done) end.done(false, "gateway closing");
    }
    return false;
  }
  if (events.dropAll) forget(engine_.keys());
  if (!events.dropped.empty()) forget(events.dropped);
  if (events.calls) registry_.restore(std::move(*events.calls));
  const TimeMs now = clock_.wallMs();
  if (!events.adopted.states.empty() || !events.adopted.outbox.empty()) {
    // The previous owner's unsettled deliveries go first (at-least-once), as after a restart.
    undelivered_.insert(undelivered_.end(), std::make_move_iterator(events.adopted.outbox.begin()),
                        std::make_move_iterator(events.adopted.outbox.end()));
    EngineEffects effects;
    for (NotificationState& state : events.adopted.states) {
      if (engine_.find(state.spec.id) != nullptr) continue;
      engine_.restore(std::move(state), now, effects);
    }
    apply(effects);
  }
  quarantined_.insert(quarantined_.end(), events.adopted.quarantined.begin(),
                      events.adopted.quarantined.end());
  if (events.handOver > 0) {
    // The most recently created go: they have had the fewest deliveries here.
    std::vector<NotificationKey> keys = engine_.keys();
    std::vector<std::pair<TimeMs, NotificationKey>> byAge;
    byAge.reserve(keys.size());
    for (NotificationKey& key : keys) {
      byAge.emplace_back(engine_.find(key)->spec.createdAtMs, std::move(key));
    }
    std::sort(byAge.begin(), byAge.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    byAge.resize(std::min<size_t>(byAge.size(), static_cast<size_t>(events.handOver)));
    std::vector<NotificationKey> handed;
    for (auto& [age, key] : byAge) handed.push_back(std::move(key));
    forget(handed);
    cluster_->release(std::move(handed));
  }
  for (cluster::RemoteEnd& end : events.ends) answerRemoteEnd(end);
  return true;
}

void GatewayCore::startCommitted(const NotificationKey& id, bool ok) {
  auto held = heldForStart_.find(id);
  if (held == heldForStart_.end()) return;
  if (ok && !closing()) {
    undelivered_.insert(undelivered_.end(), std::make_move_iterator(held->second.begin()),
                        std::make_move_iterator(held->second.end()));
  }
  heldForStart_.erase(held);
}

void GatewayCore::forget(const std::vector<NotificationKey>& ids) {
  EngineEffects effects;
  for (const NotificationKey& id : ids) engine_.forget(id, effects);
  applySubscriptions(effects);
}

void GatewayCore::answerRemoteEnd(cluster::RemoteEnd& end) {
  const auto answer = [&end](bool ok, const std::string& text) {
    if (end.done) end.done(ok, text);
  };
  if (!end.error.empty()) {
    answer(false, end.error);
    return;
  }
  if (!end.found) {
    answer(true, kUnknownElsewhere);
    return;
  }
  // The deliveries the end causes (CAMARA subscription-ends, the operator's statusError) are
  // decided by an engine holding only this notification, as its owner's would have.
  NotificationEngine scratch;
  EngineEffects ignored;
  const TimeMs now = clock_.wallMs();
  scratch.restore(std::move(end.found->state), now, ignored);
  EngineEffects effects;
  if (end.kind == cluster::RemoteEnd::Kind::kTerminate) {
    scratch.terminate(end.key, end.reason, effects, now);
  } else {
    scratch.end(end.key, effects, end.api, now);
  }
  undelivered_.insert(undelivered_.end(), std::make_move_iterator(effects.deliveries.begin()),
                      std::make_move_iterator(effects.deliveries.end()));
  answer(true, "");
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
    } else if (event.kind == SubscriptionEvent::Kind::kInterrupted) {
      engine_.onSubscriptionInterrupted(event.requestUri);
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

GatewayCore::CallStart GatewayCore::startCallRegistration(call::CallRegistration registration,
                                                          Committed stored) {
  CallStart out;
  if (!config_.calls.enabled) {
    out.result = CallStart::Result::kDisabled;
    return out;
  }
  if (registration.createdMs == 0) registration.createdMs = static_cast<uint64_t>(clock_.wallMs());
  const call::RegistrationKind kind = registration.kind;
  const std::string correlator = registration.correlator;
  const call::CallRegistry::StartOutcome started = registry_.start(std::move(registration));
  using R = call::CallRegistry::StartOutcome::Result;
  if (started.result == R::kDuplicateCorrelator) {
    out.result = CallStart::Result::kDuplicateCorrelator;
    return out;
  }
  if (started.result == R::kOverlappingCriteria) {
    out.result = CallStart::Result::kOverlappingCriteria;
    out.address = started.address;
    return out;
  }
  // The registry assigned the start order: store what it holds.
  store_->saveCallRegistration(*registry_.find(kind, correlator), std::move(stored));
  return out;
}

call::CallRegistry::StopResult GatewayCore::stopCallRegistration(call::RegistrationKind kind,
                                                                 const std::string& requester,
                                                                 const std::string& correlator,
                                                                 Committed removed) {
  const call::CallRegistry::StopResult result = registry_.stop(kind, requester, correlator);
  if (result == call::CallRegistry::StopResult::kStopped) {
    store_->removeCallRegistration(kind, correlator, std::move(removed));
  }
  return result;
}

void GatewayCore::forgetCallRegistration(call::RegistrationKind kind,
                                         const std::string& correlator) {
  if (const call::CallRegistration* r = registry_.find(kind, correlator)) {
    const std::string requester = r->requester;
    registry_.stop(kind, requester, correlator);
  }
}

CallRecipient GatewayCore::recipientOf(const call::CallRegistration& r) const {
  return CallRecipient{r.correlator, r.requester, r.endpoint, r.interfaceName, r.ns};
}

bool GatewayCore::drainCalls() {
  std::vector<call::CallEventRecord> events = calls_->takeEvents();
  std::vector<call::DecisionRequest> decisions = calls_->takeDecisions();
  if ((events.empty() && decisions.empty()) || closing()) return false;
  const int64_t now = clock_.steadyMs();
  // Answers lost by the JS side (never decided) would otherwise stay forever.
  for (auto it = pendingDecisions_.begin(); it != pendingDecisions_.end();) {
    it = it->second < now ? pendingDecisions_.erase(it) : std::next(it);
  }
  const std::shared_ptr<const call::CallMatcher> matcher = registry_.matcher();
  for (call::CallEventRecord& e : events) {
    for (const call::CallRegistration* r : matcher->notified(e.parties.called, e.event)) {
      callBatch_.notifications.push_back(CallNotificationDue{
          e.callRef, e.event, e.parties, e.sipStatus, e.description, e.atMs, recipientOf(*r)});
    }
  }
  for (call::DecisionRequest& d : decisions) {
    const call::CallRegistration* decider = matcher->decider(d.parties.called, d.event);
    if (decider == nullptr) {
      // Stopped since the SIP thread matched it: the call goes on as if nobody watched it.
      calls_->decide(d.callRef, d.decisionId, call::CallAction{});
      continue;
    }
    pendingDecisions_[{d.callRef, d.decisionId}] = now + static_cast<int64_t>(d.timeoutMs);
    callBatch_.decisions.push_back(CallDecisionDue{d.callRef, d.decisionId, d.event,
                                                   std::move(d.parties), d.sipStatus, d.timeoutMs,
                                                   recipientOf(*decider)});
  }
  return true;
}

CallBatch GatewayCore::takeCallBatch() {
  CallBatch batch;
  std::swap(batch, callBatch_);
  return batch;
}

bool GatewayCore::decideCall(uint64_t callRef, uint64_t decisionId, call::CallAction action) {
  const auto it = pendingDecisions_.find({callRef, decisionId});
  if (it == pendingDecisions_.end()) return false;
  const bool inTime = clock_.steadyMs() <= it->second;
  pendingDecisions_.erase(it);
  // Passed on even when late: the AS ignores it then and counts it (decisionsLate).
  if (!closing()) calls_->decide(callRef, decisionId, std::move(action));
  return inTime && !closing();
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
  s.calls = calls_->stats();
  s.callRegistrations = registry_.size();
  s.fetchesAnsweredFromSubscriptions = answeredFromSubscriptions_;
  if (cluster_ != nullptr) s.cluster = cluster_->status();
  return s;
}

void GatewayCore::closeBlocking() {
  if (presence_) presence_->close();
  if (store_) store_->close();
}

void GatewayCore::applySubscriptions(EngineEffects& effects) {
  applyListEffects(effects);
  // One SIP-thread wake-up for the whole batch (a restore may watch 100,000 terminals).
  for (const std::string& key : effects.watch) presence_->watch(key, false);
  for (const std::string& key : effects.unwatch) presence_->unwatch(key, false);
  if (!effects.watch.empty() || !effects.unwatch.empty()) presence_->flush();
}

void GatewayCore::apply(EngineEffects& effects, const NotificationKey* awaited, Committed committed,
                        bool awaitedCreated) {
  applySubscriptions(effects);
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
    if (awaited != nullptr && id == *awaited) {
      awaitedWritten = true;
      if (awaitedCreated) writes.created.push_back(id);
    }
    writes.saves.push_back(*state);
  }
  for (const NotificationKey& id : ended) {
    if (awaited != nullptr && id == *awaited) {
      awaitedWritten = true;
      // Started and ended at once (checkImmediate with count 1): never stored, nothing to
      // delete (the clustered store would call the delete of an absent row a lost one).
      if (awaitedCreated) continue;
    }
    writes.removes.push_back(id);
  }
  writes.deliveries = effects.deliveries;
  if (cluster_ != nullptr && awaitedCreated && awaited != nullptr) {
    heldForStart_[*awaited];  // held from now on, see below
  }
  if (!heldForStart_.empty()) {
    // Clustered, a start may turn out a duplicate of another instance's correlator only when
    // its insert commits: until startCommitted(), its deliveries (checkImmediate, decided in the
    // start itself or on the first NOTIFY of a terminal subscribed for it) are held.
    auto held =
        std::stable_partition(effects.deliveries.begin(), effects.deliveries.end(),
                              [&](const Delivery& d) { return heldForStart_.count(d.id) == 0; });
    for (auto d = held; d != effects.deliveries.end(); ++d) {
      heldForStart_[d->id].push_back(std::move(*d));
    }
    effects.deliveries.erase(held, effects.deliveries.end());
  }
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
