// The Terminal Status notification engine; semantics in NotificationEngine.h.
//
// Layout: notifications_ owns each notification (spec, progress, per-address runtime); the
// terminal table maps a key to its last status and its watchers (notification pointer + address
// index), so a NOTIFY touches only the notifications that watch that terminal. Deadlines live in
// two ordered sets (expiry, frequency window), so nextDeadline() and advance() cost O(log n) per
// due item rather than a scan of every notification.
//
// Effects order within one call: an id appended to `ended` is never appended to `changed` later
// in the same call (it may appear in `changed` before it: apply `changed`, then `ended`).
#include "notify/NotificationEngine.h"

#include <algorithm>
#include <limits>
#include <unordered_map>
#include <utility>

namespace px {
namespace {

constexpr const char* kServiceErrorId = "SVC0001";
constexpr const char* kServiceErrorText = "A service error occurred. Error code is %1";

bool isEventApi(const NotificationSpec& spec) {
  return !spec.api.empty();
}

// Parlay X: empty criteria is every status. Event APIs: empty is none (see the header).
bool inCriteria(const NotificationSpec& spec, TerminalStatus s) {
  return (spec.criteria.empty() && !isEventApi(spec)) ||
         std::find(spec.criteria.begin(), spec.criteria.end(), s) != spec.criteria.end();
}

}  // namespace

bool NotificationEngine::DeadlineLess::operator()(const Deadline& a, const Deadline& b) const {
  if (a.at != b.at) return a.at < b.at;
  // Ties by id: deliveries of one advance() come out in a reproducible order.
  return a.entry->state.spec.id < b.entry->state.spec.id;
}

NotificationEngine::StartResult NotificationEngine::start(NotificationSpec spec, TimeMs now,
                                                          EngineEffects& out) {
  auto [it, inserted] = notifications_.try_emplace(spec.id);
  if (!inserted) return StartResult::kDuplicateCorrelator;
  Entry& e = it->second;
  e.state.spec = std::move(spec);
  e.runtime.resize(e.state.spec.addresses.size());
  for (size_t i = 0; i < e.runtime.size(); ++i) {
    e.runtime[i].awaitingFirst = e.state.spec.checkImmediate && !e.state.spec.addresses[i].lastSeen;
  }
  out.changed.push_back(e.state.spec.id);
  attach(e, out);
  flush(e, now, out);
  return StartResult::kStarted;
}

void NotificationEngine::restore(NotificationState state, TimeMs now, EngineEffects& out) {
  // The store is keyed by id, so a duplicate means the caller restored twice: keep the live one.
  if (notifications_.count(state.spec.id) != 0) return;
  if (state.spec.expiresAtMs <= now) {
    Delivery& d = out.deliveries.emplace_back();
    d.kind = Delivery::Kind::kStatusEnd;
    d.endReason = Delivery::EndReason::kExpired;
    d.atMs = now;
    d.id = state.spec.id;
    d.endpoint = state.spec.endpoint;
    d.globalId = state.spec.globalId;
    d.api = state.spec.api;
    d.extension = state.spec.extension;
    d.sequence = state.progress.nextSequence;
    out.ended.push_back(state.spec.id);
    return;
  }
  auto [it, inserted] = notifications_.try_emplace(state.spec.id);
  (void)inserted;
  Entry& e = it->second;
  e.state = std::move(state);
  e.runtime.resize(e.state.spec.addresses.size());  // no awaitingFirst: no checkImmediate again
  attach(e, out);
  // attach() may have compared a status already known (another notification's NOTIFY) with
  // lastSeen; a difference is a change that happened while the gateway was down.
  flush(e, now, out);
}

bool NotificationEngine::end(const NotificationKey& id, EngineEffects& out, const std::string& api,
                             TimeMs now) {
  auto it = notifications_.find(id);
  if (it == notifications_.end() || it->second.state.spec.api != api) return false;
  if (isEventApi(it->second.state.spec)) {
    endWith(it->second, Delivery::EndReason::kDeleted, "", now, out);
  }
  finish(it->second, out);
  return true;
}

bool NotificationEngine::forget(const NotificationKey& id, EngineEffects& out) {
  auto it = notifications_.find(id);
  if (it == notifications_.end()) return false;
  finish(it->second, out);
  return true;
}

bool NotificationEngine::terminate(const NotificationKey& id, const std::string& reason,
                                   EngineEffects& out, TimeMs now) {
  auto it = notifications_.find(id);
  if (it == notifications_.end()) return false;
  if (isEventApi(it->second.state.spec)) {
    endWith(it->second, Delivery::EndReason::kTerminated, reason, now, out);
    finish(it->second, out);
    return true;
  }
  Delivery& d = newDelivery(it->second, Delivery::Kind::kStatusError, now, out);
  d.messageId = kServiceErrorId;
  d.text = kServiceErrorText;
  d.variables = {reason};
  finish(it->second, out);
  return true;
}

void NotificationEngine::onStatus(const std::string& key, TerminalStatus status, TimeMs now,
                                  EngineEffects& out) {
  auto t = terminals_.find(key);
  if (t == terminals_.end()) return;  // late NOTIFY of a terminal nobody watches any more
  t->second.status = status;
  t->second.live = true;
  // Two passes: flush() may end a notification, which edits this watcher list.
  std::vector<Entry*> touched;
  for (const Watcher& w : t->second.watchers) {
    if (applyStatus(*w.entry, w.index, status, out) && !w.entry->touched) {
      w.entry->touched = true;
      touched.push_back(w.entry);
    }
  }
  for (Entry* e : touched) {
    e->touched = false;
    flush(*e, now, out);
  }
}

void NotificationEngine::onSubscriptionInterrupted(const std::string& key) {
  auto t = terminals_.find(key);
  if (t != terminals_.end()) t->second.live = false;
}

std::optional<TerminalStatus> NotificationEngine::liveStatus(const std::string& key) const {
  auto t = terminals_.find(key);
  if (t == terminals_.end() || !t->second.live) return std::nullopt;
  return t->second.status;
}

void NotificationEngine::onSubscriptionFailed(const std::string& key, const std::string& reason,
                                              TimeMs now, EngineEffects& out) {
  auto t = terminals_.find(key);
  if (t == terminals_.end()) return;
  // The SIP side already dropped the subscription: forget the key without an unwatch effect.
  const std::vector<Watcher> watchers = std::move(t->second.watchers);
  terminals_.erase(t);

  // Group per notification, in watcher order; one notification may hold the key twice.
  std::vector<Entry*> order;
  std::unordered_map<Entry*, std::vector<uint32_t>> indices;
  for (const Watcher& w : watchers) {
    std::vector<uint32_t>& v = indices[w.entry];
    if (v.empty()) order.push_back(w.entry);
    v.push_back(w.index);
  }
  for (Entry* e : order) {
    std::vector<uint32_t>& idx = indices[e];
    std::sort(idx.begin(), idx.end());
    const bool eventApi = isEventApi(e->state.spec);
    for (uint32_t i : idx) {
      if (eventApi) continue;  // told by the statusEnd below, if the notification ends
      Delivery& d = newDelivery(*e, Delivery::Kind::kStatusError, now, out);
      d.address = e->state.spec.addresses[i].address;
      d.messageId = kServiceErrorId;
      d.text = kServiceErrorText;
      d.variables = {reason};
    }
    // Highest index first: removing one shifts only the indices after it.
    for (auto i = idx.rbegin(); i != idx.rend(); ++i) removeAddress(*e, *i);
    out.changed.push_back(e->state.spec.id);
    if (e->state.spec.addresses.empty()) {
      if (eventApi) endWith(*e, Delivery::EndReason::kTerminated, reason, now, out);
      finish(*e, out);  // Parlay X: statusError told the application
    }
  }
}

void NotificationEngine::advance(TimeMs now, EngineEffects& out) {
  // Expiries first: a notification that expires drops its pending entries.
  while (!expiries_.empty() && expiries_.begin()->at <= now) {
    Entry& e = *expiries_.begin()->entry;
    endWith(e, Delivery::EndReason::kExpired, "", now, out);
    finish(e, out);  // erases it from expiries_
  }
  while (!windows_.empty() && windows_.begin()->at <= now) {
    Entry& e = *windows_.begin()->entry;
    unscheduleWindow(e);
    flush(e, now, out);  // the window is open: sends (and does not schedule again)
  }
}

std::optional<TimeMs> NotificationEngine::nextDeadline() const {
  std::optional<TimeMs> next;
  if (!expiries_.empty()) next = expiries_.begin()->at;
  if (!windows_.empty() && (!next || windows_.begin()->at < *next)) next = windows_.begin()->at;
  return next;
}

const NotificationState* NotificationEngine::find(const NotificationKey& id) const {
  auto it = notifications_.find(id);
  return it == notifications_.end() ? nullptr : &it->second.state;
}

std::vector<NotificationKey> NotificationEngine::keys() const {
  std::vector<NotificationKey> result;
  result.reserve(notifications_.size());
  for (const auto& [id, e] : notifications_) result.push_back(id);
  return result;
}

size_t NotificationEngine::size() const {
  return notifications_.size();
}

size_t NotificationEngine::watchedTerminals() const {
  return terminals_.size();
}

// Registers e's deadline and addresses; a terminal whose status is already known is applied at
// once (lastSeen, and with checkImmediate a pending report).
void NotificationEngine::attach(Entry& e, EngineEffects& out) {
  expiries_.insert(Deadline{e.state.spec.expiresAtMs, &e});
  const std::vector<WatchedAddress>& addresses = e.state.spec.addresses;
  for (size_t i = 0; i < addresses.size(); ++i) {
    auto [t, created] = terminals_.try_emplace(addresses[i].key);
    if (created) out.watch.push_back(addresses[i].key);
    t->second.watchers.push_back(Watcher{&e, static_cast<uint32_t>(i)});
    if (t->second.status) applyStatus(e, static_cast<uint32_t>(i), *t->second.status, out);
  }
}

// Compares `status` with the address's lastSeen; true when lastSeen changed.
bool NotificationEngine::applyStatus(Entry& e, uint32_t index, TerminalStatus status,
                                     EngineEffects& out) {
  WatchedAddress& a = e.state.spec.addresses[index];
  if (a.lastSeen == status) return false;
  const std::optional<TerminalStatus> previous = a.lastSeen;
  a.lastSeen = status;
  out.changed.push_back(e.state.spec.id);
  AddressRuntime& r = e.runtime[index];
  const bool awaitingFirst = r.awaitingFirst;
  r.awaitingFirst = false;
  const bool matches = inCriteria(e.state.spec, status);
  if (!previous) {  // baseline: reported only when checkImmediate waits for it
    if (awaitingFirst && matches) setPending(e, index, status);
  } else if (matches && isEventApi(e.state.spec) && inCriteria(e.state.spec, *previous)) {
    // An event API's device stayed in the subscribed state: no event (a pending one stays).
  } else if (matches) {
    setPending(e, index, status);
  } else {
    clearPending(e, index);  // the latest status wins
  }
  return true;
}

void NotificationEngine::setPending(Entry& e, uint32_t index, TerminalStatus status) {
  AddressRuntime& r = e.runtime[index];
  if (!r.pending) e.pendingOrder.push_back(index);
  r.pending = status;
}

void NotificationEngine::clearPending(Entry& e, uint32_t index) {
  AddressRuntime& r = e.runtime[index];
  if (!r.pending) return;
  r.pending.reset();
  e.pendingOrder.erase(std::find(e.pendingOrder.begin(), e.pendingOrder.end(), index));
  if (e.pendingOrder.empty()) unscheduleWindow(e);
}

void NotificationEngine::unscheduleWindow(Entry& e) {
  if (!e.windowAt) return;
  windows_.erase(Deadline{*e.windowAt, &e});
  e.windowAt.reset();
}

// Sends e's pending entries when its window is open, else makes sure advance() will.
bool NotificationEngine::flush(Entry& e, TimeMs now, EngineEffects& out) {
  if (e.pendingOrder.empty()) return false;
  NotificationProgress& progress = e.state.progress;
  const TimeMs opensAt = progress.lastSentAtMs == 0
                             ? std::numeric_limits<TimeMs>::min()
                             : progress.lastSentAtMs + e.state.spec.frequencyMs;
  if (now < opensAt) {
    if (!e.windowAt) {
      e.windowAt = opensAt;
      windows_.insert(Deadline{opensAt, &e});
    }
    return false;
  }
  unscheduleWindow(e);
  std::sort(e.pendingOrder.begin(), e.pendingOrder.end());
  Delivery& d = newDelivery(e, Delivery::Kind::kStatusNotification, now, out);
  d.statuses.reserve(e.pendingOrder.size());
  for (uint32_t i : e.pendingOrder) {
    d.statuses.emplace_back(e.state.spec.addresses[i].address, *e.runtime[i].pending);
    e.runtime[i].pending.reset();
  }
  e.pendingOrder.clear();
  ++progress.sent;
  progress.lastSentAtMs = now;
  out.changed.push_back(e.state.spec.id);
  if (e.state.spec.countLimit && progress.sent >= *e.state.spec.countLimit) {
    endWith(e, Delivery::EndReason::kCountReached, "", now, out);
    finish(e, out);
    return true;
  }
  return false;
}

// Drops address `index` (its pending entry too) and renumbers the watchers of later addresses.
void NotificationEngine::removeAddress(Entry& e, uint32_t index) {
  clearPending(e, index);
  std::vector<WatchedAddress>& addresses = e.state.spec.addresses;
  addresses.erase(addresses.begin() + index);
  e.runtime.erase(e.runtime.begin() + index);
  for (uint32_t& p : e.pendingOrder) {
    if (p > index) --p;
  }
  for (size_t j = index; j < addresses.size(); ++j) {
    auto t = terminals_.find(addresses[j].key);
    if (t == terminals_.end()) continue;  // the failed key itself: already dropped
    for (Watcher& w : t->second.watchers) {
      if (w.entry == &e && w.index == j + 1) {
        w.index = static_cast<uint32_t>(j);
        break;
      }
    }
  }
}

void NotificationEngine::finish(Entry& e, EngineEffects& out) {
  expiries_.erase(Deadline{e.state.spec.expiresAtMs, &e});
  unscheduleWindow(e);
  const std::vector<WatchedAddress>& addresses = e.state.spec.addresses;
  for (size_t i = 0; i < addresses.size(); ++i) {
    auto t = terminals_.find(addresses[i].key);
    if (t == terminals_.end()) continue;
    std::vector<Watcher>& watchers = t->second.watchers;
    auto w = std::find_if(watchers.begin(), watchers.end(),
                          [&](const Watcher& x) { return x.entry == &e && x.index == i; });
    if (w != watchers.end()) watchers.erase(w);
    if (watchers.empty()) {
      out.unwatch.push_back(t->first);
      terminals_.erase(t);
    }
  }
  NotificationKey id = e.state.spec.id;  // a copy: erase() destroys e
  notifications_.erase(id);
  out.ended.push_back(std::move(id));
}

void NotificationEngine::endWith(Entry& e, Delivery::EndReason reason, const std::string& text,
                                 TimeMs now, EngineEffects& out) {
  Delivery& d = newDelivery(e, Delivery::Kind::kStatusEnd, now, out);
  d.endReason = reason;
  d.text = text;
}

Delivery& NotificationEngine::newDelivery(Entry& e, Delivery::Kind kind, TimeMs now,
                                          EngineEffects& out) {
  Delivery& d = out.deliveries.emplace_back();
  d.kind = kind;
  d.atMs = now;
  d.id = e.state.spec.id;
  d.endpoint = e.state.spec.endpoint;
  d.globalId = e.state.spec.globalId;
  d.api = e.state.spec.api;
  d.extension = e.state.spec.extension;
  d.sequence = e.state.progress.nextSequence++;
  return d;
}

}  // namespace px
