#include "sip/SourceCombiner.h"

#include <algorithm>
#include <utility>

#include "presence/StatusSource.h"

namespace px {

SourceCombiner::SourceCombiner(PresenceSink& downstream,
                               std::function<void(const std::string&)> unwatchPresence)
    : downstream_(downstream), unwatchPresence_(std::move(unwatchPresence)) {}

void SourceCombiner::onOutcome(Source source, FetchOutcome outcome) {
  const uint64_t id = outcome.id;
  PendingFetch& pending = fetches_[id];
  pending.parts[source] = std::move(outcome);
  if (!pending.parts[kReg] || !pending.parts[kPresence]) return;
  FetchOutcome reg = std::move(*pending.parts[kReg]);
  const FetchOutcome presence = std::move(*pending.parts[kPresence]);
  fetches_.erase(id);
  reg.elapsedMs = std::max(reg.elapsedMs, presence.elapsedMs);
  if (reg.kind == FetchOutcome::Kind::kStatus) {
    const bool presenceKnown = presence.kind == FetchOutcome::Kind::kStatus;
    reg.status = combineStatus(
        reg.status, presenceKnown ? std::optional<TerminalStatus>(presence.status) : std::nullopt);
    if (!presenceKnown) {
      reg.detail = std::string("busy unknown: presence fetch ") + toString(presence.kind) +
                   (presence.detail.empty() ? "" : " (" + presence.detail + ")");
    }
  }
  downstream_.outcome(std::move(reg));
}

void SourceCombiner::reportCombined(const std::string& uri, const Watched& w) {
  if (!w.parts[kReg]) return;  // reachability not known yet
  SubscriptionEvent event;
  event.kind = SubscriptionEvent::Kind::kStatus;
  event.requestUri = uri;
  event.status = combineStatus(*w.parts[kReg], w.parts[kPresence]);
  downstream_.event(std::move(event));
}

void SourceCombiner::onEvent(Source source, SubscriptionEvent event) {
  switch (event.kind) {
    case SubscriptionEvent::Kind::kStatus: {
      Watched& w = watched_[event.requestUri];
      w.parts[source] = event.status;
      reportCombined(event.requestUri, w);
      return;
    }
    case SubscriptionEvent::Kind::kInterrupted: {
      auto it = watched_.find(event.requestUri);
      if (it != watched_.end()) it->second.parts[source].reset();
      downstream_.event(std::move(event));
      return;
    }
    case SubscriptionEvent::Kind::kFailed: {
      if (source == kReg) {
        watched_.erase(event.requestUri);
        if (unwatchPresence_) unwatchPresence_(event.requestUri);
        downstream_.event(std::move(event));
        return;
      }
      auto it = watched_.find(event.requestUri);
      if (it == watched_.end()) return;
      it->second.parts[kPresence].reset();
      reportCombined(event.requestUri, it->second);
      return;
    }
  }
}

void SourceCombiner::onFetchCounters(Source source, const FetchCounters& counters) {
  fetchCounters_[source] = counters;
  const FetchCounters& a = fetchCounters_[kReg];
  const FetchCounters& b = fetchCounters_[kPresence];
  FetchCounters sum;
  sum.started = a.started + b.started;
  sum.completed = a.completed + b.completed;
  sum.inFlight = a.inFlight + b.inFlight;
  sum.timeouts = a.timeouts + b.timeouts;
  sum.sipErrors = a.sipErrors + b.sipErrors;
  sum.notifySourceRefused = a.notifySourceRefused + b.notifySourceRefused;
  downstream_.fetchCounters(sum);
}

void SourceCombiner::onSubscriptionCounters(Source source, const SubscriptionCounters& counters) {
  subscriptionCounters_[source] = counters;
  const SubscriptionCounters& a = subscriptionCounters_[kReg];
  const SubscriptionCounters& b = subscriptionCounters_[kPresence];
  SubscriptionCounters sum;
  sum.subscriptions = a.subscriptions + b.subscriptions;
  sum.subscriptionsActive = a.subscriptionsActive + b.subscriptionsActive;
  sum.subscribeRequests = a.subscribeRequests + b.subscribeRequests;
  sum.refreshes = a.refreshes + b.refreshes;
  sum.resubscribes = a.resubscribes + b.resubscribes;
  sum.subscriptionFailures = a.subscriptionFailures + b.subscriptionFailures;
  sum.strayRequests = a.strayRequests + b.strayRequests;
  sum.notifySourceRefused = a.notifySourceRefused + b.notifySourceRefused;
  downstream_.subscriptionCounters(sum);
}

}  // namespace px
