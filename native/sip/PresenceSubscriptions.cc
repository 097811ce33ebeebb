// PresenceWatcher::Stack: long-lived subscription dialogs (RFC 6665 subscriber side): new
// dialogs, refreshes, unsubscribes, failures with backoff, tombstones, the subscription timers.
#include "sip/PresenceStack.h"

namespace px {

void PresenceWatcher::Stack::watch(std::string uri) {
  if (watched_.count(uri) != 0) return;
  const uint64_t id = nextSubscriptionId_++;
  Subscription& sub = subs_[id];
  sub.id = id;
  sub.uri = std::move(uri);
  watched_.emplace(std::string_view(sub.uri), id);  // the key views sub.uri: erased first
  queueSend(sub, SubState::kQueued);
  publishCounts();
}

void PresenceWatcher::Stack::unwatch(const std::string& uri) {
  auto it = watched_.find(uri);
  if (it == watched_.end()) return;
  Subscription& sub = subs_.at(it->second);
  watched_.erase(it);
  sub.unwatched = true;
  switch (sub.state) {
    case SubState::kQueued:
    case SubState::kBackoff:
      forget(sub);  // its stale send-queue entry is skipped
      break;
    case SubState::kSubscribing:
      // Without a 2xx there is no dialog to end yet: the 2xx starts the unsubscribe, an error
      // or the deadline forgets it.
      if (sub.orq) break;
      [[fallthrough]];
    case SubState::kActive:
    case SubState::kRefreshQueued:
    case SubState::kRefreshing:
      releaseOrq(sub);
      queueSend(sub, SubState::kUnsubscribeQueued);
      break;
    case SubState::kUnsubscribeQueued:
    case SubState::kUnsubscribing:
      break;
  }
  publishCounts();
}

void PresenceWatcher::Stack::pumpSubscribes() {
  const size_t limit = std::max<uint32_t>(1, presence().maxSubscribesInFlight);
  while (!shuttingDown_ && subsInFlight_ < limit && !sendQueue_.empty()) {
    const uint64_t id = sendQueue_.front();
    sendQueue_.pop_front();
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Subscription& sub = it->second;
    switch (sub.state) {
      case SubState::kQueued:
        sendNewDialog(sub);
        break;
      case SubState::kRefreshQueued:
        sendRefresh(sub);
        break;
      case SubState::kUnsubscribeQueued:
        sendUnsubscribe(sub);
        break;
      default:
        break;  // a stale entry: the subscription moved on meanwhile
    }
  }
}

void PresenceWatcher::Stack::sendNewDialog(Subscription& sub) {
  const bool retry = sub.seq > 0;
  sub.seq++;
  sub.cseq = 1;
  clearDialog(sub);
  sub.responded = false;
  sub.notified = false;
  setState(sub, SubState::kSubscribing);
  countSent(retry, false, 1);
  const std::string callId = callIdFor(sub);
  const std::string from = "<" + owner_.config_.sip.watcherUri + ">;tag=" + fromTagFor(sub);
  const std::string to = "<" + sub.uri + ">";
  NtaOutgoing orq(nta_outgoing_tcreate(
      leg_.get(), &Stack::onSubscribeResponse, reinterpret_cast<nta_outgoing_magic_t*>(this),
      URL_STRING_MAKE(routeUrl_.c_str()), sip_method_subscribe, "SUBSCRIBE",
      URL_STRING_MAKE(sub.uri.c_str()), SIPTAG_ROUTE(route_), SIPTAG_FROM_STR(from.c_str()),
      SIPTAG_TO_STR(to.c_str()), SIPTAG_CALL_ID_STR(callId.c_str()), SIPTAG_CSEQ_STR("1 SUBSCRIBE"),
      SIPTAG_CONTACT(nta_agent_contact(agent_.get())), SIPTAG_EVENT(event_), SIPTAG_ACCEPT(accept_),
      SIPTAG_EXPIRES(subExpires_), SIPTAG_USER_AGENT(userAgent_), TAG_END()));
  if (!orq) {
    countSent(retry, false, -1);
    fail(sub, 0, "cannot send SUBSCRIBE to " + sub.uri);
    return;
  }
  attachOrq(sub, std::move(orq));
  schedule(sub, Clock::now() + subscribeTimeout());
}

void PresenceWatcher::Stack::sendRefresh(Subscription& sub) {
  countSent(false, true, 1);
  NtaOutgoing orq = sendInDialog(sub, subExpires_);
  setState(sub, SubState::kRefreshing);
  if (!orq) {
    countSent(false, true, -1);
    fail(sub, 0, "cannot send the refresh SUBSCRIBE to " + sub.uri);
    return;
  }
  attachOrq(sub, std::move(orq));
  schedule(sub, Clock::now() + subscribeTimeout());
}

void PresenceWatcher::Stack::sendUnsubscribe(Subscription& sub) {
  countSent(false, false, 1);
  NtaOutgoing orq = sendInDialog(sub, expires_);
  setState(sub, SubState::kUnsubscribing);
  if (!orq) {
    countSent(false, false, -1);
    forget(sub);
    return;
  }
  attachOrq(sub, std::move(orq));
  schedule(sub, Clock::now() + subscribeTimeout());
}

NtaOutgoing PresenceWatcher::Stack::sendInDialog(Subscription& sub, sip_expires_t* expires) {
  return NtaOutgoing(sendInDialogRaw(sub, expires, false));
}

nta_outgoing_t* PresenceWatcher::Stack::sendInDialogRaw(Subscription& sub, sip_expires_t* expires,
                                                        bool stateless) {
  sub.cseq++;
  const std::string callId = callIdFor(sub);
  const std::string from = "<" + owner_.config_.sip.watcherUri + ">;tag=" + fromTagFor(sub);
  const std::string to = "<" + sub.uri + ">;tag=" + sub.remoteTag;
  const std::string cseq = std::to_string(sub.cseq) + " SUBSCRIBE";
  const std::string& requestUri = sub.remoteTarget.empty() ? sub.uri : sub.remoteTarget;
  const char* firstHop = routeUrl_.c_str();
  sip_route_t* route = nullptr;
  const char* routeSet = nullptr;
  if (sub.routes) {
    firstHop = sub.routes->firstHop.c_str();
    routeSet = sub.routes->header.c_str();
  } else if (!sub.remoteTarget.empty()) {
    firstHop = sub.remoteTarget.c_str();
  } else {
    route = route_;
  }
  return nta_outgoing_tcreate(
      leg_.get(), stateless ? nullptr : &Stack::onSubscribeResponse,
      stateless ? nullptr : reinterpret_cast<nta_outgoing_magic_t*>(this),
      URL_STRING_MAKE(firstHop), sip_method_subscribe, "SUBSCRIBE",
      URL_STRING_MAKE(requestUri.c_str()), NTATAG_STATELESS(stateless), SIPTAG_ROUTE(route),
      SIPTAG_ROUTE_STR(routeSet), SIPTAG_FROM_STR(from.c_str()), SIPTAG_TO_STR(to.c_str()),
      SIPTAG_CALL_ID_STR(callId.c_str()), SIPTAG_CSEQ_STR(cseq.c_str()),
      SIPTAG_CONTACT(nta_agent_contact(agent_.get())), SIPTAG_EVENT(event_), SIPTAG_ACCEPT(accept_),
      SIPTAG_EXPIRES(expires), SIPTAG_USER_AGENT(userAgent_), TAG_END());
}

int PresenceWatcher::Stack::onSubscribeResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq,
                                                sip_t const* sip) {
  auto* self = reinterpret_cast<Stack*>(magic);
  try {
    self->handleSubscribeResponse(orq, sip);
  } catch (...) {
  }
  return 0;
}

void PresenceWatcher::Stack::handleSubscribeResponse(nta_outgoing_t* orq, sip_t const* sip) {
  if (nta_outgoing_status(orq) < 200) return;
  auto found = subByOrq_.find(orq);
  if (found == subByOrq_.end()) return;
  // Read first: destroying the transaction may free the response.
  ResponseInfo info = readResponse(orq, sip);
  Subscription& sub = subs_.at(found->second);
  releaseOrq(sub);
  switch (sub.state) {
    case SubState::kSubscribing:
      onNewDialogResponse(sub, std::move(info));
      break;
    case SubState::kRefreshing:
      onRefreshResponse(sub, std::move(info));
      break;
    case SubState::kUnsubscribing:
      forgetUnsubscribed(sub);
      break;
    default:
      break;
  }
  pumpSubscribes();
  finishShutdownIfDone();
}

void PresenceWatcher::Stack::onNewDialogResponse(Subscription& sub, ResponseInfo info) {
  if (info.status >= 300 || info.toTag.empty()) {
    if (sub.unwatched) {
      forget(sub);
      return;
    }
    fail(sub, info.status,
         info.status >= 300 ? "SUBSCRIBE answered " + describe(info)
                            : "2xx to SUBSCRIBE without a To-tag");
    return;
  }
  sub.responded = true;
  sub.peer = info.source;
  if (sub.remoteTag.empty()) {  // else a NOTIFY came first and made the dialog
    sub.remoteTag = std::move(info.toTag);
    sub.routes = std::move(info.routes);
  }
  if (sub.remoteTarget.empty()) sub.remoteTarget = std::move(info.contact);
  const auto refreshAt = refreshTime(Clock::now(), grantedSeconds(info.expires));
  if (sub.refreshAt == Clock::time_point{} || refreshAt < sub.refreshAt) {
    sub.refreshAt = refreshAt;
  }
  if (sub.unwatched) {
    queueSend(sub, SubState::kUnsubscribeQueued);
  } else if (sub.notified) {
    establish(sub);
  }
}

void PresenceWatcher::Stack::onRefreshResponse(Subscription& sub, ResponseInfo info) {
  if (info.status >= 300) {
    // 481, 404/410, 408, 5xx...: the dialog is gone (RFC 6665 §4.1.2.2).
    fail(sub, info.status, "refresh SUBSCRIBE answered " + describe(info));
    return;
  }
  if (!info.contact.empty()) sub.remoteTarget = std::move(info.contact);  // target refresh
  sub.refreshAt = refreshTime(Clock::now(), grantedSeconds(info.expires));
  setState(sub, SubState::kActive);
  schedule(sub, sub.refreshAt);
}

void PresenceWatcher::Stack::establish(Subscription& sub) {
  setState(sub, SubState::kActive);
  sub.failures = 0;
  if (sub.refreshAt == Clock::time_point{}) {
    sub.refreshAt = refreshTime(Clock::now(), requestedExpiresSec());
  }
  schedule(sub, sub.refreshAt);
}

int PresenceWatcher::Stack::handleSubscriptionNotify(sip_t const* sip, std::string_view callId,
                                                     const char* toTag,
                                                     const std::optional<IpCidr>& source) {
  // Its Contact and Record-Route would become the dialog's target and route: a value Sofia
  // cannot print back into a request (a space, say) aborted the process on the next refresh.
  if ((sip->sip_contact && usableUri(sip->sip_contact->m_url).empty()) ||
      !routesUsable(sip->sip_record_route)) {
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.strayRequests++;
    return 400;
  }
  Subscription* sub = findDialog(callId, toTag);
  if (!sub) {
    // The last NOTIFY after an unsubscribe; while closing, that of any dialog.
    if (shuttingDown_ || isTombstoned(callId)) return 200;
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.strayRequests++;
    return 481;  // ends whatever the notifier still holds for it (RFC 6665 4.1.3)
  }
  if (!notifySourceAllowed(source, sub->peer, &sub->remoteTarget,
                           sub->routes ? &sub->routes->firstHop : nullptr)) {
    return refuseSource();
  }
  const char* fromTag = sip->sip_from ? sip->sip_from->a_tag : nullptr;
  if (!fromTag || !*fromTag) return 400;
  if (!sub->remoteTag.empty() && sub->remoteTag != fromTag) {
    // Another fork of the SUBSCRIBE: only the first dialog is kept.
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.strayRequests++;
    return 481;
  }
  if (!isPresenceEvent(sip)) return 489;
  if (sub->remoteTag.empty()) {  // the NOTIFY overtook the 2xx and creates the dialog
    sub->remoteTag = fromTag;
    sub->routes = makeRouteSet(sip->sip_record_route, false);
  }
  if (sip->sip_contact) {
    std::string target = urlString(sip->sip_contact->m_url);
    if (!target.empty()) sub->remoteTarget = std::move(target);
  }
  if (sub->unwatched) return 200;  // being unsubscribed: nothing more to report

  const sip_subscription_state_t* state = sip->sip_subscription_state;
  const std::string_view substate = state && state->ss_substate ? state->ss_substate : "active";
  const bool terminated = ascii::equalsNoCase(substate, "terminated");
  const bool hasBody = sip->sip_payload && sip->sip_payload->pl_len > 0;
  sub->notified = true;
  // An "active" NOTIFY without a body says the presentity publishes nothing (e.g. Kamailio
  // when a publication expired): that maps to Unreachable. "pending" or "terminated" without
  // a body say nothing about the terminal.
  if (hasBody || (!terminated && !ascii::equalsNoCase(substate, "pending"))) {
    const PresenceMapping mapping = mapBody(sip);
    if (mapping.ok) {
      SubscriptionEvent event;
      event.kind = SubscriptionEvent::Kind::kStatus;
      event.requestUri = sub->uri;
      event.status = mapping.status;
      owner_.pushSubscriptionEvent(std::move(event));
    }
  }
  if (terminated) {
    tombstone(std::string(callId));  // its retransmissions still get 200
    // The notifier ended the dialog (any reason): start a new one after the backoff. Kamailio
    // sends reason=timeout when the subscription expired, deactivated/probation on policy,
    // rejected/noresource/giveup when it will not serve it; all count as one failure.
    const std::string reason = state && state->ss_reason ? state->ss_reason : "";
    const uint64_t retryAfterSec =
        state && state->ss_retry_after ? std::strtoull(state->ss_retry_after, nullptr, 10) : 0;
    fail(*sub, sub->responded ? 200 : 0,
         "the presence server terminated the subscription" +
             (reason.empty() ? std::string() : " (reason=" + reason + ")"),
         retryAfterSec);
    return 200;
  }
  if (state && state->ss_expires) {
    const uint64_t seconds = std::strtoull(state->ss_expires, nullptr, 10);
    const auto refreshAt =
        refreshTime(Clock::now(), static_cast<uint32_t>(std::min<uint64_t>(seconds, 86400)));
    if (sub->refreshAt == Clock::time_point{} || refreshAt < sub->refreshAt) {
      sub->refreshAt = refreshAt;
      if (sub->state == SubState::kActive) schedule(*sub, refreshAt);
    }
  }
  if (sub->state == SubState::kSubscribing && sub->responded) establish(*sub);
  return 200;
}

auto PresenceWatcher::Stack::findDialog(std::string_view callId, const char* toTag)
    -> Subscription* {
  // "<hex>-s<id>-<seq>@host"
  const size_t mark = callId.find("-s");
  const size_t dash = callId.find('-', mark == std::string_view::npos ? 0 : mark + 2);
  const size_t at = callId.find('@');
  if (mark == std::string_view::npos || dash == std::string_view::npos ||
      at == std::string_view::npos || !(mark + 2 < dash && dash + 1 < at) || !toTag) {
    return nullptr;
  }
  uint64_t id = 0;
  uint32_t seq = 0;
  const char* text = callId.data();
  if (std::from_chars(text + mark + 2, text + dash, id).ec != std::errc() ||
      std::from_chars(text + dash + 1, text + at, seq).ec != std::errc()) {
    return nullptr;
  }
  auto it = subs_.find(id);
  if (it == subs_.end()) return nullptr;
  Subscription& sub = it->second;
  if (sub.seq != seq || sub.state == SubState::kQueued || sub.state == SubState::kBackoff ||
      callIdFor(sub) != callId || fromTagFor(sub) != toTag) {
    return nullptr;
  }
  return &sub;
}

void PresenceWatcher::Stack::fail(Subscription& sub, int sipStatus, std::string detail,
                                  uint64_t retryAfterSec) {
  releaseOrq(sub);
  clearDialog(sub);
  if (sub.unwatched) {
    forget(sub);
    return;
  }
  sub.failures++;
  if (sub.failures >= std::max<uint32_t>(1, presence().maxSubscribeFailures)) {
    SubscriptionEvent event;
    event.kind = SubscriptionEvent::Kind::kFailed;
    event.requestUri = sub.uri;
    event.sipStatus = sipStatus;
    event.detail = std::move(detail);
    {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.subscriptionFailures++;
    }
    forget(sub);
    owner_.pushSubscriptionEvent(std::move(event));
    return;
  }
  const uint64_t maxMs =
      std::max(presence().resubscribeBackoffMaxMs, presence().resubscribeBackoffMs);
  uint64_t delayMs = presence().resubscribeBackoffMs;
  for (uint32_t i = 1; i < sub.failures && delayMs < maxMs; ++i) delayMs *= 2;
  delayMs = std::min(std::max(delayMs, retryAfterSec * 1000), maxMs);
  setState(sub, SubState::kBackoff);
  schedule(sub, Clock::now() + std::chrono::milliseconds(delayMs));
}

void PresenceWatcher::Stack::onSubscriptionTimer(Subscription& sub) {
  switch (sub.state) {
    case SubState::kBackoff:
      queueSend(sub, SubState::kQueued);
      break;
    case SubState::kSubscribing:
      if (sub.unwatched) {
        forget(sub);
      } else if (sub.responded) {
        fail(sub, 200,
             "no NOTIFY within " + std::to_string(presence().subscribeTimeoutMs) +
                 " ms of the 2xx to SUBSCRIBE");
      } else {
        fail(sub, 408,
             "no answer to SUBSCRIBE within " + std::to_string(presence().subscribeTimeoutMs) +
                 " ms");
      }
      break;
    case SubState::kActive:
      queueSend(sub, SubState::kRefreshQueued);
      break;
    case SubState::kRefreshing:
      fail(sub, 408,
           "no answer to the refresh SUBSCRIBE within " +
               std::to_string(presence().subscribeTimeoutMs) + " ms");
      break;
    case SubState::kUnsubscribing:
      releaseOrq(sub);
      forgetUnsubscribed(sub);
      break;
    default:
      break;
  }
}

void PresenceWatcher::Stack::expireSubscriptionTimers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.front().at <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
    const TimerEntry entry = timers_.back();
    timers_.pop_back();
    auto it = subs_.find(entry.id);
    if (it == subs_.end() || it->second.timerGen != entry.gen) continue;  // stale
    onSubscriptionTimer(it->second);
  }
  pumpSubscribes();
}

void PresenceWatcher::Stack::schedule(Subscription& sub, Clock::time_point at) {
  sub.timerGen++;
  // Rescheduling leaves stale entries behind; rebuild the heap before they dominate it.
  if (timers_.size() >= 2 * subs_.size() + 1024) compactTimers();
  timers_.push_back(TimerEntry{at, sub.id, sub.timerGen});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
  armTimer();
}

void PresenceWatcher::Stack::compactTimers() {
  timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                               [this](const TimerEntry& entry) {
                                 auto it = subs_.find(entry.id);
                                 return it == subs_.end() || it->second.timerGen != entry.gen;
                               }),
                timers_.end());
  std::make_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
}

void PresenceWatcher::Stack::queueSend(Subscription& sub, SubState state) {
  setState(sub, state);
  sub.timerGen++;  // no timer while queued
  sendQueue_.push_back(sub.id);
}

void PresenceWatcher::Stack::attachOrq(Subscription& sub, NtaOutgoing orq) {
  subByOrq_.emplace(orq.get(), sub.id);
  sub.orq = std::move(orq);
  subsInFlight_++;
}

void PresenceWatcher::Stack::releaseOrq(Subscription& sub) {
  if (!sub.orq) return;
  subByOrq_.erase(sub.orq.get());
  sub.orq.reset();
  subsInFlight_--;
}

void PresenceWatcher::Stack::clearDialog(Subscription& sub) {
  sub.remoteTag.clear();
  sub.remoteTarget.clear();
  sub.routes.reset();
  sub.peer.reset();
  sub.refreshAt = {};
}

bool PresenceWatcher::Stack::isEstablished(SubState state) {
  return state == SubState::kActive || state == SubState::kRefreshQueued ||
         state == SubState::kRefreshing;
}

void PresenceWatcher::Stack::setState(Subscription& sub, SubState next) {
  const bool was = isEstablished(sub.state);
  const bool is = isEstablished(next);
  sub.state = next;
  if (was == is) return;
  if (is) {
    activeCount_++;
  } else {
    activeCount_--;
  }
  publishCounts();
}

void PresenceWatcher::Stack::forget(Subscription& sub) {
  if (!sub.unwatched) watched_.erase(sub.uri);
  releaseOrq(sub);
  setState(sub, SubState::kQueued);
  const uint64_t id = sub.id;  // not a reference into the node being erased
  subs_.erase(id);
  publishCounts();
  finishShutdownIfDone();
}

void PresenceWatcher::Stack::forgetUnsubscribed(Subscription& sub) {
  tombstone(callIdFor(sub));
  forget(sub);
}

void PresenceWatcher::Stack::tombstone(std::string callId) {
  const auto now = Clock::now();
  pruneTombstones(now);
  if (tombstones_.insert(callId).second) {
    tombstoneOrder_.emplace_back(now + kTombstoneLifetime, std::move(callId));
  }
}

bool PresenceWatcher::Stack::isTombstoned(std::string_view callId) {
  pruneTombstones(Clock::now());
  return tombstones_.count(std::string(callId)) != 0;
}

void PresenceWatcher::Stack::pruneTombstones(Clock::time_point now) {
  while (!tombstoneOrder_.empty() && tombstoneOrder_.front().first <= now) {
    tombstones_.erase(tombstoneOrder_.front().second);
    tombstoneOrder_.pop_front();
  }
}

void PresenceWatcher::Stack::publishCounts() {
  std::lock_guard<std::mutex> lock(owner_.statsMutex_);
  owner_.stats_.subscriptions = watched_.size();
  owner_.stats_.subscriptionsActive = activeCount_;
}

void PresenceWatcher::Stack::countSent(bool resubscribe, bool refresh, int delta) {
  std::lock_guard<std::mutex> lock(owner_.statsMutex_);
  WatcherStats& stats = owner_.stats_;
  const auto apply = [delta](uint64_t& counter) {
    counter = delta > 0 ? counter + 1 : counter - 1;
  };
  apply(stats.subscribeRequests);
  if (resubscribe) apply(stats.resubscribes);
  if (refresh) apply(stats.refreshes);
}

std::string PresenceWatcher::Stack::callIdFor(const Subscription& sub) const {
  return hex(subPrefix_ ^ sub.id) + "-s" + std::to_string(sub.id) + "-" + std::to_string(sub.seq) +
         "@" + host_;
}

std::string PresenceWatcher::Stack::fromTagFor(const Subscription& sub) const {
  return hex(subPrefix_ ^ tagPrefix_ ^ sub.id) + "." + std::to_string(sub.seq);
}

uint32_t PresenceWatcher::Stack::requestedExpiresSec() const {
  return std::max<uint32_t>(1, presence().subscriptionExpiresSec);
}

std::chrono::milliseconds PresenceWatcher::Stack::subscribeTimeout() const {
  return std::chrono::milliseconds(presence().subscribeTimeoutMs);
}

uint32_t PresenceWatcher::Stack::grantedSeconds(const std::optional<uint64_t>& expires) const {
  const uint64_t requested = requestedExpiresSec();
  return static_cast<uint32_t>(std::clamp<uint64_t>(expires.value_or(requested), 1, requested));
}

Clock::time_point PresenceWatcher::Stack::refreshTime(Clock::time_point now, uint32_t seconds) {
  const uint64_t ms = static_cast<uint64_t>(seconds) * 1000;
  const uint64_t margin = std::min<uint64_t>(ms / 2, 60000);
  return now + std::chrono::milliseconds(ms - margin);
}

}  // namespace px
