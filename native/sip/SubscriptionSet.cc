#include "sip/SubscriptionSet.h"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "common/Ascii.h"
#include "presence/PresenceDocument.h"
#include "sip/SipIds.h"

namespace px {

namespace {

std::string describe(const SubscribeAnswer& answer) {
  return std::to_string(answer.status) + (answer.phrase.empty() ? "" : " " + answer.phrase);
}

}  // namespace

SubscriptionSet::SubscriptionSet(const PresenceConfig& config, const NotifySources& sources,
                                 Identity identity, SubscriptionPort& port)
    : SubscriptionSet(config, sources, std::move(identity), port,
                      std::make_shared<PresenceDocumentMapper>(config.busyActivities)) {}

SubscriptionSet::SubscriptionSet(const PresenceConfig& config, const NotifySources& sources,
                                 Identity identity, SubscriptionPort& port,
                                 std::shared_ptr<const DocumentMapper> mapper)
    : config_(config),
      sources_(sources),
      identity_(std::move(identity)),
      port_(port),
      mapper_(std::move(mapper)) {}

bool SubscriptionSet::owns(std::string_view callId) const {
  // "<hex16(callIdPrefix ^ id)>-s<id>-<seq>@host" (callIdFor)
  const size_t mark = callId.find("-s");
  if (mark == std::string_view::npos) return false;
  const std::string_view rest = callId.substr(mark + 2);
  uint64_t id = 0;
  const auto parsed = std::from_chars(rest.data(), rest.data() + rest.size(), id);
  if (parsed.ec != std::errc() || parsed.ptr == rest.data()) return false;
  return callId.substr(0, mark) == hex16(identity_.callIdPrefix ^ id);
}

void SubscriptionSet::watch(std::string uri, SipClock::time_point now) {
  if (shuttingDown_ || watched_.count(uri) != 0) return;
  const uint64_t id = nextId_++;
  Subscription& sub = subs_[id];
  sub.id = id;
  sub.uri = std::move(uri);
  watched_.emplace(std::string_view(sub.uri), id);  // the key views sub.uri: erased first
  queueSend(sub, SubState::kQueued);
  publishCounts();
  pump(now);
}

void SubscriptionSet::unwatch(const std::string& uri, SipClock::time_point now) {
  auto it = watched_.find(uri);
  if (shuttingDown_ || it == watched_.end()) return;
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
      if (sub.inFlight) break;
      [[fallthrough]];
    case SubState::kActive:
    case SubState::kRefreshQueued:
    case SubState::kRefreshing:
      release(sub);
      queueSend(sub, SubState::kUnsubscribeQueued);
      break;
    case SubState::kUnsubscribeQueued:
    case SubState::kUnsubscribing:
      break;
  }
  publishCounts();
  pump(now);
}

void SubscriptionSet::pump(SipClock::time_point now) {
  const size_t limit = std::max<uint32_t>(1, config_.maxSubscribesInFlight);
  while (!shuttingDown_ && inFlight_ < limit && !sendQueue_.empty()) {
    const uint64_t id = sendQueue_.front();
    sendQueue_.pop_front();
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Subscription& sub = it->second;
    switch (sub.state) {
      case SubState::kQueued:
        sendNewDialog(sub, now);
        break;
      case SubState::kRefreshQueued:
        sendRefresh(sub, now);
        break;
      case SubState::kUnsubscribeQueued:
        sendUnsubscribe(sub, now);
        break;
      default:
        break;  // a stale entry: the subscription moved on meanwhile
    }
  }
}

void SubscriptionSet::sendNewDialog(Subscription& sub, SipClock::time_point now) {
  const bool retry = sub.seq > 0;
  sub.seq++;
  sub.cseq = 1;
  clearDialog(sub);
  sub.responded = false;
  sub.notified = false;
  setState(sub, SubState::kSubscribing);
  countSent(retry, false, 1);
  const std::string callId = callIdFor(sub);
  const std::string fromTag = fromTagFor(sub);
  SubscribeRequest request;
  request.uri = sub.uri;
  request.callId = callId;
  request.fromTag = fromTag;
  request.cseq = 1;
  request.expiresSec = requestedExpiresSec();
  if (!port_.sendSubscribe(sub.id, request, SubscriptionPort::Send::kTransaction)) {
    countSent(retry, false, -1);
    fail(sub, 0, "cannot send SUBSCRIBE to " + sub.uri, now);
    return;
  }
  attach(sub);
  schedule(sub, now + subscribeTimeout());
}

void SubscriptionSet::sendRefresh(Subscription& sub, SipClock::time_point now) {
  countSent(false, true, 1);
  const bool sent = sendInDialog(sub, requestedExpiresSec(), SubscriptionPort::Send::kTransaction);
  setState(sub, SubState::kRefreshing);
  if (!sent) {
    countSent(false, true, -1);
    fail(sub, 0, "cannot send the refresh SUBSCRIBE to " + sub.uri, now);
    return;
  }
  attach(sub);
  schedule(sub, now + subscribeTimeout());
}

void SubscriptionSet::sendUnsubscribe(Subscription& sub, SipClock::time_point now) {
  countSent(false, false, 1);
  const bool sent = sendInDialog(sub, 0, SubscriptionPort::Send::kTransaction);
  setState(sub, SubState::kUnsubscribing);
  if (!sent) {
    countSent(false, false, -1);
    forget(sub);
    return;
  }
  attach(sub);
  schedule(sub, now + subscribeTimeout());
}

bool SubscriptionSet::sendInDialog(Subscription& sub, uint32_t expiresSec,
                                   SubscriptionPort::Send how) {
  sub.cseq++;
  const std::string callId = callIdFor(sub);
  const std::string fromTag = fromTagFor(sub);
  SubscribeRequest request;
  request.uri = sub.uri;
  request.callId = callId;
  request.fromTag = fromTag;
  request.toTag = sub.remoteTag;
  request.remoteTarget = sub.remoteTarget;
  request.routes = sub.routes.get();
  request.cseq = sub.cseq;
  request.expiresSec = expiresSec;
  request.inDialog = true;
  return port_.sendSubscribe(sub.id, request, how);
}

void SubscriptionSet::onAnswer(uint64_t id, SubscribeAnswer answer, SipClock::time_point now) {
  auto found = subs_.find(id);
  if (found == subs_.end() || !found->second.inFlight) return;
  Subscription& sub = found->second;
  release(sub);
  switch (sub.state) {
    case SubState::kSubscribing:
      onNewDialogAnswer(sub, std::move(answer), now);
      break;
    case SubState::kRefreshing:
      onRefreshAnswer(sub, std::move(answer), now);
      break;
    case SubState::kUnsubscribing:
      forgetUnsubscribed(sub, now);
      break;
    default:
      break;
  }
  pump(now);
  checkDrained();
}

void SubscriptionSet::onNewDialogAnswer(Subscription& sub, SubscribeAnswer answer,
                                        SipClock::time_point now) {
  if (answer.status >= 300 || answer.toTag.empty()) {
    if (sub.unwatched) {
      forget(sub);
      return;
    }
    fail(sub, answer.status,
         answer.status >= 300 ? "SUBSCRIBE answered " + describe(answer)
                              : "2xx to SUBSCRIBE without a To-tag",
         now);
    return;
  }
  sub.responded = true;
  sub.peer = answer.source;
  if (sub.remoteTag.empty()) {  // else a NOTIFY came first and made the dialog
    sub.remoteTag = std::move(answer.toTag);
    sub.routes = std::move(answer.routes);
  }
  if (sub.remoteTarget.empty()) sub.remoteTarget = std::move(answer.contact);
  const auto refreshAt = refreshTime(now, grantedSeconds(answer.expires));
  if (sub.refreshAt == SipClock::time_point{} || refreshAt < sub.refreshAt) {
    sub.refreshAt = refreshAt;
  }
  if (sub.unwatched) {
    queueSend(sub, SubState::kUnsubscribeQueued);
  } else if (sub.notified) {
    establish(sub, now);
  }
}

void SubscriptionSet::onRefreshAnswer(Subscription& sub, SubscribeAnswer answer,
                                      SipClock::time_point now) {
  if (answer.status >= 300) {
    // 481, 404/410, 408, 5xx...: the dialog is gone (RFC 6665 §4.1.2.2).
    fail(sub, answer.status, "refresh SUBSCRIBE answered " + describe(answer), now);
    return;
  }
  if (!answer.contact.empty()) sub.remoteTarget = std::move(answer.contact);  // target refresh
  sub.refreshAt = refreshTime(now, grantedSeconds(answer.expires));
  setState(sub, SubState::kActive);
  schedule(sub, sub.refreshAt);
}

void SubscriptionSet::establish(Subscription& sub, SipClock::time_point now) {
  setState(sub, SubState::kActive);
  sub.failures = 0;
  if (sub.refreshAt == SipClock::time_point{}) {
    sub.refreshAt = refreshTime(now, requestedExpiresSec());
  }
  schedule(sub, sub.refreshAt);
}

int SubscriptionSet::onNotify(const NotifyFacts& notify, SipClock::time_point now) {
  const int answer = [&]() -> int {
    // Its Contact and Record-Route would become the dialog's target and route: a value Sofia
    // cannot print back into a request (a space, say) aborted the process on the next refresh.
    if (!notify.usable) {
      counters_.strayRequests++;
      port_.countersChanged(counters_);
      return 400;
    }
    Subscription* sub = findDialog(notify.callId, notify.toTag);
    if (!sub) {
      // The last NOTIFY after an unsubscribe; while closing, that of any dialog.
      if (shuttingDown_ || isTombstoned(notify.callId, now)) return 200;
      counters_.strayRequests++;
      port_.countersChanged(counters_);
      return 481;  // ends whatever the notifier still holds for it (RFC 6665 4.1.3)
    }
    // 403, not 481: the request names a live dialog, but the sender may not speak for it (see
    // docs/architecture.md, Hostile SIP input).
    if (!sources_.allowed(notify.source, sub->peer, &sub->remoteTarget,
                          sub->routes ? &sub->routes->firstHop : nullptr)) {
      counters_.notifySourceRefused++;
      port_.countersChanged(counters_);
      return 403;
    }
    if (notify.fromTag.empty()) return 400;
    if (!sub->remoteTag.empty() && sub->remoteTag != notify.fromTag) {
      // Another fork of the SUBSCRIBE: only the first dialog is kept.
      counters_.strayRequests++;
      port_.countersChanged(counters_);
      return 481;
    }
    if (!notify.presenceEvent) return 489;
    // NOTIFYs are answered statelessly (StatelessAnswers.h): a retransmission (its 200 was lost or
    // late) reaches us again, possibly after the notifier's next NOTIFY, and a NOTIFY may be
    // overtaken by a later one. Either says a state that is no longer current: only a CSeq above
    // the dialog's latest counts (RFC 3261 12.2.2). Answered 200, not 500: a notifier may end a
    // subscription whose NOTIFY failed (RFC 6665 4.2.2), and this one was merely superseded.
    if (notify.cseq) {
      if (sub->remoteCseqKnown && *notify.cseq <= sub->remoteCseq) return 200;
      sub->remoteCseq = *notify.cseq;
      sub->remoteCseqKnown = true;
    }
    if (sub->remoteTag.empty()) {  // the NOTIFY overtook the 2xx and creates the dialog
      sub->remoteTag = std::string(notify.fromTag);
      sub->routes = notify.routes ? notify.routes() : nullptr;
    }
    if (!notify.contact.empty()) sub->remoteTarget = notify.contact;
    if (sub->unwatched) return 200;  // being unsubscribed: nothing more to report

    const std::string_view substate = notify.substate.empty() ? "active" : notify.substate;
    const bool terminated = ascii::equalsNoCase(substate, "terminated");
    const bool hasBody = !notify.body.empty();
    sub->notified = true;
    // An "active" NOTIFY without a body says the presentity publishes nothing (e.g. Kamailio
    // when a publication expired): that maps to Unreachable. "pending" or "terminated" without
    // a body say nothing about the terminal.
    if (hasBody || (!terminated && !ascii::equalsNoCase(substate, "pending"))) {
      const PresenceMapping mapping = mapper_->map(notify.contentType, notify.body);
      if (mapping.ok && !mapping.unchanged) {
        SubscriptionEvent event;
        event.kind = SubscriptionEvent::Kind::kStatus;
        event.requestUri = sub->uri;
        event.status = mapping.status;
        port_.report(std::move(event));
      }
    }
    if (terminated) {
      tombstone(std::string(notify.callId), now);  // its retransmissions still get 200
      // The notifier ended the dialog (any reason): start a new one after the backoff. Kamailio
      // sends reason=timeout when the subscription expired, deactivated/probation on policy,
      // rejected/noresource/giveup when it will not serve it; all count as one failure.
      fail(*sub, sub->responded ? 200 : 0,
           "the presence server terminated the subscription" +
               (notify.reason.empty() ? std::string()
                                      : " (reason=" + std::string(notify.reason) + ")"),
           now, notify.retryAfterSec);
      return 200;
    }
    if (notify.expiresSec) {
      const auto refreshAt =
          refreshTime(now, static_cast<uint32_t>(std::min<uint64_t>(*notify.expiresSec, 86400)));
      if (sub->refreshAt == SipClock::time_point{} || refreshAt < sub->refreshAt) {
        sub->refreshAt = refreshAt;
        if (sub->state == SubState::kActive) schedule(*sub, refreshAt);
      }
    }
    if (sub->state == SubState::kSubscribing && sub->responded) establish(*sub, now);
    return 200;
  }();
  pump(now);
  return answer;
}

auto SubscriptionSet::findDialog(std::string_view callId, std::string_view toTag) -> Subscription* {
  // "<hex>-s<id>-<seq>@host"
  const size_t mark = callId.find("-s");
  const size_t dash = callId.find('-', mark == std::string_view::npos ? 0 : mark + 2);
  const size_t at = callId.find('@');
  if (mark == std::string_view::npos || dash == std::string_view::npos ||
      at == std::string_view::npos || !(mark + 2 < dash && dash + 1 < at) || toTag.empty()) {
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

void SubscriptionSet::fail(Subscription& sub, int sipStatus, std::string detail,
                           SipClock::time_point now, uint64_t retryAfterSec) {
  release(sub);
  clearDialog(sub);
  if (sub.unwatched) {
    forget(sub);
    return;
  }
  sub.failures++;
  if (sub.failures >= std::max<uint32_t>(1, config_.maxSubscribeFailures)) {
    SubscriptionEvent event;
    event.kind = SubscriptionEvent::Kind::kFailed;
    event.requestUri = sub.uri;
    event.sipStatus = sipStatus;
    event.detail = std::move(detail);
    counters_.subscriptionFailures++;
    forget(sub);  // publishes the counters
    port_.report(std::move(event));
    return;
  }
  {
    // Until a new dialog's first NOTIFY, nothing tells the watcher of a change.
    SubscriptionEvent event;
    event.kind = SubscriptionEvent::Kind::kInterrupted;
    event.requestUri = sub.uri;
    event.sipStatus = sipStatus;
    event.detail = detail;
    port_.report(std::move(event));
  }
  const uint64_t maxMs =
      std::max<uint64_t>(config_.resubscribeBackoffMaxMs, config_.resubscribeBackoffMs);
  uint64_t delayMs = config_.resubscribeBackoffMs;
  for (uint32_t i = 1; i < sub.failures && delayMs < maxMs; ++i) delayMs *= 2;
  delayMs = std::min(std::max(delayMs, retryAfterSec * 1000), maxMs);
  setState(sub, SubState::kBackoff);
  schedule(sub, now + std::chrono::milliseconds(delayMs));
}

bool SubscriptionSet::timerLive(uint64_t id, uint32_t gen) const {
  if (id == kCloseTimerId) return shuttingDown_ && gen == closeTimerGen_;
  auto it = subs_.find(id);
  return it != subs_.end() && it->second.timerGen == gen;
}

void SubscriptionSet::onTimer(uint64_t id, uint32_t gen, SipClock::time_point now) {
  if (!timerLive(id, gen)) return;
  if (id == kCloseTimerId) {
    expireClose(now);
    return;
  }
  Subscription& sub = subs_.at(id);
  switch (sub.state) {
    case SubState::kBackoff:
      queueSend(sub, SubState::kQueued);
      break;
    case SubState::kSubscribing:
      if (sub.unwatched) {
        forget(sub);
      } else if (sub.responded) {
        fail(sub, 200,
             "no NOTIFY within " + std::to_string(config_.subscribeTimeoutMs) +
                 " ms of the 2xx to SUBSCRIBE",
             now);
      } else {
        fail(sub, 408,
             "no answer to SUBSCRIBE within " + std::to_string(config_.subscribeTimeoutMs) + " ms",
             now);
      }
      break;
    case SubState::kActive:
      queueSend(sub, SubState::kRefreshQueued);
      break;
    case SubState::kRefreshing:
      fail(sub, 408,
           "no answer to the refresh SUBSCRIBE within " +
               std::to_string(config_.subscribeTimeoutMs) + " ms",
           now);
      break;
    case SubState::kUnsubscribing:
      release(sub);
      forgetUnsubscribed(sub, now);
      break;
    default:
      break;
  }
  pump(now);
}

void SubscriptionSet::schedule(Subscription& sub, SipClock::time_point at) {
  sub.timerGen++;
  port_.schedule(at, sub.id, sub.timerGen);
}

void SubscriptionSet::queueSend(Subscription& sub, SubState state) {
  setState(sub, state);
  sub.timerGen++;  // no timer while queued
  sendQueue_.push_back(sub.id);
}

void SubscriptionSet::attach(Subscription& sub) {
  sub.inFlight = true;
  inFlight_++;
}

void SubscriptionSet::release(Subscription& sub) {
  if (!sub.inFlight) return;
  sub.inFlight = false;
  inFlight_--;
  port_.cancelSubscribe(sub.id);
}

void SubscriptionSet::clearDialog(Subscription& sub) {
  sub.remoteTag.clear();
  sub.remoteTarget.clear();
  sub.routes.reset();
  sub.peer.reset();
  sub.refreshAt = {};
  sub.remoteCseqKnown = false;
}

bool SubscriptionSet::isEstablished(SubState state) {
  return state == SubState::kActive || state == SubState::kRefreshQueued ||
         state == SubState::kRefreshing;
}

void SubscriptionSet::setState(Subscription& sub, SubState next) {
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

void SubscriptionSet::forget(Subscription& sub) {
  if (!sub.unwatched) watched_.erase(sub.uri);
  release(sub);
  setState(sub, SubState::kQueued);
  const uint64_t id = sub.id;  // not a reference into the node being erased
  subs_.erase(id);
  publishCounts();
  checkDrained();
}

void SubscriptionSet::forgetUnsubscribed(Subscription& sub, SipClock::time_point now) {
  tombstone(callIdFor(sub), now);
  forget(sub);
}

void SubscriptionSet::tombstone(std::string callId, SipClock::time_point now) {
  pruneTombstones(now);
  if (tombstones_.insert(callId).second) {
    tombstoneOrder_.emplace_back(now + kTombstoneLifetime, std::move(callId));
  }
}

bool SubscriptionSet::isTombstoned(std::string_view callId, SipClock::time_point now) {
  pruneTombstones(now);
  return tombstones_.count(std::string(callId)) != 0;
}

void SubscriptionSet::pruneTombstones(SipClock::time_point now) {
  while (!tombstoneOrder_.empty() && tombstoneOrder_.front().first <= now) {
    tombstones_.erase(tombstoneOrder_.front().second);
    tombstoneOrder_.pop_front();
  }
}

void SubscriptionSet::publishCounts() {
  counters_.subscriptions = watched_.size();
  counters_.subscriptionsActive = activeCount_;
  port_.countersChanged(counters_);
}

void SubscriptionSet::countSent(bool resubscribe, bool refresh, int delta) {
  const auto apply = [delta](uint64_t& counter) {
    counter = delta > 0 ? counter + 1 : counter - 1;
  };
  apply(counters_.subscribeRequests);
  if (resubscribe) apply(counters_.resubscribes);
  if (refresh) apply(counters_.refreshes);
  port_.countersChanged(counters_);
}

std::string SubscriptionSet::callIdFor(const Subscription& sub) const {
  return hex16(identity_.callIdPrefix ^ sub.id) + "-s" + std::to_string(sub.id) + "-" +
         std::to_string(sub.seq) + "@" + identity_.host;
}

std::string SubscriptionSet::fromTagFor(const Subscription& sub) const {
  return hex16(identity_.callIdPrefix ^ identity_.tagPrefix ^ sub.id) + "." +
         std::to_string(sub.seq);
}

uint32_t SubscriptionSet::requestedExpiresSec() const {
  return std::max<uint32_t>(1, config_.subscriptionExpiresSec);
}

std::chrono::milliseconds SubscriptionSet::subscribeTimeout() const {
  return std::chrono::milliseconds(config_.subscribeTimeoutMs);
}

uint32_t SubscriptionSet::grantedSeconds(const std::optional<uint64_t>& expires) const {
  const uint64_t requested = requestedExpiresSec();
  return static_cast<uint32_t>(std::clamp<uint64_t>(expires.value_or(requested), 1, requested));
}

SipClock::time_point SubscriptionSet::refreshTime(SipClock::time_point now, uint32_t seconds) {
  const uint64_t ms = static_cast<uint64_t>(seconds) * 1000;
  const uint64_t margin = std::min<uint64_t>(ms / 2, 60000);
  return now + std::chrono::milliseconds(ms - margin);
}

}  // namespace px
