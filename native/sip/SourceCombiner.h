// presence.source "both": the reg and the presence roles each report into one leg of this sink,
// which combines them (combineStatus, StatusSource.h) into what PresenceWatcher's consumer sees.
// Pure: no Sofia, no threads; it lives on the SIP thread with the roles
// (tests/native/sip_source_combiner_test.cc drives it directly).
//
// Fetches (getStatus): one fetch per package under the same id; one outcome once both ended:
// - the reg fetch failed (SIP error, timeout, bad document, shutdown) -> that outcome;
// - else combineStatus(reg status, presence status if the presence fetch gave one) — a presence
//   fetch that failed leaves Busy unknown, so a registered terminal is Reachable.
// Subscriptions (startNotification): one subscription per package per terminal:
// - every reg or presence NOTIFY reports the combined status, once the reg status is known
//   (presence NOTIFYs before the first reg NOTIFY are held);
// - kInterrupted of either leg is passed on (its part may be stale) and forgets that part;
// - kFailed of the reg leg is passed on and ends the terminal's presence subscription;
//   kFailed of the presence leg only forgets Busy: the combined status is reported again from
//   the registration alone.
// Counters of the two legs are added up (each getStatus counts two fetches).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "sip/PresenceSink.h"

namespace px {

class SourceCombiner {
 public:
  // `unwatchPresence` ends the presence subscription of a terminal (called on the SIP thread,
  // from within a reg report).
  SourceCombiner(PresenceSink& downstream, std::function<void(const std::string&)> unwatchPresence);
  SourceCombiner(const SourceCombiner&) = delete;
  SourceCombiner& operator=(const SourceCombiner&) = delete;

  PresenceSink& regSink() { return reg_; }
  PresenceSink& presenceSink() { return presence_; }

  // The terminal is no longer watched (unwatch): its held parts are dropped.
  void forget(const std::string& uri) { watched_.erase(uri); }

  size_t pendingFetches() const { return fetches_.size(); }

 private:
  enum Source { kReg = 0, kPresence = 1 };

  class Leg : public PresenceSink {
   public:
    Leg(SourceCombiner& owner, Source source) : owner_(owner), source_(source) {}
    void outcome(FetchOutcome outcome) override { owner_.onOutcome(source_, std::move(outcome)); }
    void event(SubscriptionEvent event) override { owner_.onEvent(source_, std::move(event)); }
    void fetchCounters(const FetchCounters& counters) override {
      owner_.onFetchCounters(source_, counters);
    }
    void subscriptionCounters(const SubscriptionCounters& counters) override {
      owner_.onSubscriptionCounters(source_, counters);
    }
    void tcpCounters(const TcpGuardCounters& counters) override {
      owner_.downstream_.tcpCounters(counters);
    }

   private:
    SourceCombiner& owner_;
    Source source_;
  };

  struct PendingFetch {
    std::optional<FetchOutcome> parts[2];
  };
  struct Watched {
    std::optional<TerminalStatus> parts[2];
  };

  void onOutcome(Source source, FetchOutcome outcome);
  void onEvent(Source source, SubscriptionEvent event);
  void onFetchCounters(Source source, const FetchCounters& counters);
  void onSubscriptionCounters(Source source, const SubscriptionCounters& counters);
  void reportCombined(const std::string& uri, const Watched& w);

  PresenceSink& downstream_;
  std::function<void(const std::string&)> unwatchPresence_;
  Leg reg_{*this, kReg};
  Leg presence_{*this, kPresence};
  std::unordered_map<uint64_t, PendingFetch> fetches_;
  std::unordered_map<std::string, Watched> watched_;
  FetchCounters fetchCounters_[2];
  SubscriptionCounters subscriptionCounters_[2];
};

}  // namespace px
