// SubscriptionSet: the close-time drain (every established dialog gets a stateless Expires: 0,
// paced like other SUBSCRIBEs; the wait ends when all are answered or none is for kCloseGrace).
// Apart from the steady-state machine in SubscriptionSet.cc because it shares none of its states.
#include <algorithm>
#include <vector>

#include "sip/SubscriptionSet.h"

namespace px {

// ---- shutdown ---------------------------------------------------------------------------------

void SubscriptionSet::beginShutdown(SipClock::time_point now) {
  if (shuttingDown_) return;
  shuttingDown_ = true;
  watched_.clear();
  sendQueue_.clear();
  std::vector<uint64_t> ids;
  ids.reserve(subs_.size());
  for (const auto& entry : subs_) ids.push_back(entry.first);
  for (uint64_t id : ids) {
    Subscription& sub = subs_.at(id);
    sub.unwatched = true;
    sub.timerGen++;  // its timers are void now
    release(sub);
    // An unwatch's Expires: 0 already went out: not waited for.
    if (sub.remoteTag.empty() || sub.state == SubState::kUnsubscribing) {
      forget(sub);
    } else {
      closeQueue_.push_back(id);
    }
  }
  publishCounts();
  closeProgressAt_ = now;
  pumpClose(now);
  checkDrained();
  if (!drained_) armClose();
}

void SubscriptionSet::pumpClose(SipClock::time_point now) {
  const size_t limit = std::max<uint32_t>(1, config_.maxSubscribesInFlight);
  while (closePending_.size() < limit && !closeQueue_.empty()) {
    auto it = subs_.find(closeQueue_.front());
    closeQueue_.pop_front();
    if (it == subs_.end()) continue;
    Subscription& sub = it->second;
    countSent(false, false, 1);
    if (sendInDialog(sub, 0, SubscriptionPort::Send::kStateless)) {
      std::string callId = callIdFor(sub);
      closePending_.insert(callId);
      closeOrder_.emplace_back(now, std::move(callId));
    } else {
      countSent(false, false, -1);
    }
    forget(sub);
  }
}

void SubscriptionSet::onCloseAnswer(std::string_view callId, SipClock::time_point now) {
  if (!shuttingDown_ || drained_) return;
  if (closePending_.erase(std::string(callId)) == 0) return;
  closeProgressAt_ = now;
  pumpClose(now);
  checkDrained();
}

void SubscriptionSet::expireClose(SipClock::time_point now) {
  if (drained_) return;
  if (now - closeProgressAt_ >= kCloseGrace) {
    // No answer at all for kCloseGrace: a silent notifier or lost datagrams; stop waiting.
    drained_ = true;
    port_.drained();
    return;
  }
  while (!closeOrder_.empty() && closeOrder_.front().first + kCloseGrace <= now) {
    closePending_.erase(closeOrder_.front().second);
    closeOrder_.pop_front();
  }
  pumpClose(now);
  checkDrained();
  if (!drained_) armClose();
}

// Requests unanswered for kCloseGrace are given up (their slot freed); no answer at all for
// kCloseGrace ends the wait.
void SubscriptionSet::armClose() {
  while (!closeOrder_.empty() && closePending_.count(closeOrder_.front().second) == 0) {
    closeOrder_.pop_front();
  }
  SipClock::time_point next = closeProgressAt_ + kCloseGrace;
  if (!closeOrder_.empty()) next = std::min(next, closeOrder_.front().first + kCloseGrace);
  closeTimerGen_++;
  port_.schedule(next, kCloseTimerId, closeTimerGen_);
}

void SubscriptionSet::checkDrained() {
  if (shuttingDown_ && !drained_ && subs_.empty() && closePending_.empty()) {
    drained_ = true;
    port_.drained();
  }
}

}  // namespace px
