// SubscriptionSet, the pure state machine of long-lived presence subscriptions, driven without
// UDP or a clock: time is passed in, requests and timers are recorded by a fake port. The same
// behaviour over real SIP is covered by sip_subscription_test.cc.
#include "sip/SubscriptionSet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sip/SipRouting.h"
#include "support/PidfDocuments.h"

namespace px {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Send = SubscriptionPort::Send;

struct SentRequest {
  uint64_t id = 0;
  std::string uri;
  std::string callId;
  std::string fromTag;
  std::string toTag;
  std::string remoteTarget;
  std::string route;
  uint32_t cseq = 0;
  uint32_t expiresSec = 0;
  bool inDialog = false;
  Send how = Send::kTransaction;
};

struct TimerEntry {
  SipClock::time_point at;
  uint64_t id;
  uint32_t gen;
};

class FakePort : public SubscriptionPort {
 public:
  bool sendSubscribe(uint64_t id, const SubscribeRequest& request, Send how) override {
    if (refuseSends) return false;
    SentRequest sent;
    sent.id = id;
    sent.uri = request.uri;
    sent.callId = request.callId;
    sent.fromTag = request.fromTag;
    sent.toTag = request.toTag;
    sent.remoteTarget = request.remoteTarget;
    sent.route = request.routes ? request.routes->header : "";
    sent.cseq = request.cseq;
    sent.expiresSec = request.expiresSec;
    sent.inDialog = request.inDialog;
    sent.how = how;
    // Stats are published before the request leaves.
    countedBeforeSend.push_back(counters.subscribeRequests);
    sent_.push_back(std::move(sent));
    return true;
  }
  void cancelSubscribe(uint64_t id) override { cancelled.push_back(id); }
  void schedule(SipClock::time_point at, uint64_t id, uint32_t gen) override {
    timers.push_back(TimerEntry{at, id, gen});
  }
  void report(SubscriptionEvent event) override { events.push_back(std::move(event)); }
  void countersChanged(const SubscriptionCounters& c) override { counters = c; }
  void drained() override { drainedCalls++; }

  const std::vector<SentRequest>& sent() const { return sent_; }
  const SentRequest& last() const { return sent_.back(); }

  bool refuseSends = false;
  std::vector<uint64_t> cancelled;
  std::vector<TimerEntry> timers;
  std::vector<SubscriptionEvent> events;
  std::vector<uint64_t> countedBeforeSend;
  SubscriptionCounters counters;
  int drainedCalls = 0;

 private:
  std::vector<SentRequest> sent_;
};

class SubscriptionSetTest : public ::testing::Test {
 protected:
  SubscriptionSetTest() {
    config_.subscriptionExpiresSec = 3600;
    config_.subscribeTimeoutMs = 5000;
    config_.resubscribeBackoffMs = 1000;
    config_.resubscribeBackoffMaxMs = 8000;
    config_.maxSubscribeFailures = 5;
    config_.maxSubscribesInFlight = 200;
  }

  SubscriptionSet& set() {
    if (!set_) {
      set_.emplace(config_, sources_,
                   SubscriptionSet::Identity{0x1234, 0x5678, "gw.test", test::kWatcherUri}, port_);
    }
    return *set_;
  }

  // Fires every live timer due by `to`, in time order, and moves the clock there.
  void advanceTo(SipClock::time_point to) {
    for (;;) {
      auto due =
          std::min_element(port_.timers.begin(), port_.timers.end(),
                           [](const TimerEntry& a, const TimerEntry& b) { return a.at < b.at; });
      if (due == port_.timers.end() || due->at > to) break;
      const TimerEntry entry = *due;
      port_.timers.erase(due);
      now_ = std::max(now_, entry.at);
      if (set().timerLive(entry.id, entry.gen)) set().onTimer(entry.id, entry.gen, now_);
    }
    now_ = to;
  }
  void advance(SipClock::duration by) { advanceTo(now_ + by); }

  // The earliest live timer, if any.
  std::optional<SipClock::time_point> nextTimer() {
    std::optional<SipClock::time_point> next;
    for (const TimerEntry& entry : port_.timers) {
      if (set().timerLive(entry.id, entry.gen) && (!next || entry.at < *next)) next = entry.at;
    }
    return next;
  }

  void answer(const SentRequest& request, int status, std::optional<uint64_t> expires = {},
              std::string toTag = "notifier") {
    SubscribeAnswer a;
    a.status = status;
    a.phrase = status == 200 ? "OK" : "Failed";
    if (status < 300) a.toTag = std::move(toTag);
    a.contact = status < 300 ? "sip:presence@192.0.2.10:5060" : "";
    a.expires = expires;
    a.source = IpCidr::parse("192.0.2.10");
    set().onAnswer(request.id, std::move(a), now_);
  }

  int notify(const SentRequest& request, std::string_view substate = "active",
             const std::string& body = test::kOpen, std::string_view fromTag = "notifier",
             std::optional<uint32_t> cseq = std::nullopt) {
    NotifyFacts facts;
    facts.cseq = cseq;
    facts.callId = request.callId;
    facts.toTag = request.fromTag;
    facts.fromTag = fromTag;
    facts.source = IpCidr::parse("192.0.2.10");
    facts.substate = substate;
    facts.contentType = "application/pidf+xml";
    facts.body = body;
    return set().onNotify(facts, now_);
  }

  // The events of one kind reported so far.
  std::vector<SubscriptionEvent> reported(SubscriptionEvent::Kind kind) const {
    std::vector<SubscriptionEvent> out;
    for (const SubscriptionEvent& e : port_.events) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  // watch → SUBSCRIBE → 2xx → NOTIFY: an established dialog.
  SentRequest establish(const std::string& uri = test::kTarget) {
    set().watch(uri, now_);
    const SentRequest request = port_.last();
    answer(request, 200, 3600);
    EXPECT_EQ(notify(request), 200);
    return request;
  }

  PresenceConfig config_;
  NotifySources sources_{{}, false};
  FakePort port_;
  SipClock::time_point now_ = SipClock::time_point{} + std::chrono::hours(1);
  std::optional<SubscriptionSet> set_;
};

TEST_F(SubscriptionSetTest, WatchSendsANewDialogAndReportsEachNotify) {
  set().watch(test::kTarget, now_);
  ASSERT_EQ(port_.sent().size(), 1u);
  const SentRequest request = port_.last();
  EXPECT_EQ(request.uri, test::kTarget);
  EXPECT_FALSE(request.inDialog);
  EXPECT_EQ(request.expiresSec, 3600u);
  EXPECT_EQ(request.cseq, 1u);
  EXPECT_EQ(port_.countedBeforeSend.front(), 1u);
  EXPECT_EQ(port_.counters.subscriptions, 1u);
  answer(request, 200, 3600);
  EXPECT_EQ(port_.counters.subscriptionsActive, 0u);  // not before its first NOTIFY
  EXPECT_EQ(notify(request), 200);
  EXPECT_EQ(port_.counters.subscriptionsActive, 1u);
  EXPECT_EQ(notify(request, "active", test::kOnThePhone), 200);
  ASSERT_EQ(port_.events.size(), 2u);
  EXPECT_EQ(port_.events[0].status, TerminalStatus::kReachable);
  EXPECT_EQ(port_.events[1].status, TerminalStatus::kBusy);
  set().watch(test::kTarget, now_);  // already watched: a no-op
  EXPECT_EQ(port_.sent().size(), 1u);
}

TEST_F(SubscriptionSetTest, NotifyBeforeTheAnswerCreatesTheDialog) {
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  EXPECT_EQ(notify(request), 200);
  EXPECT_EQ(port_.counters.subscriptionsActive, 0u);
  answer(request, 200, 3600);
  EXPECT_EQ(port_.counters.subscriptionsActive, 1u);
  EXPECT_EQ(port_.events.size(), 1u);
}

TEST_F(SubscriptionSetTest, RefreshesInDialogBeforeExpiry) {
  const SentRequest initial = establish();
  // Granted 3600 s: refreshed 60 s before expiry (half the duration, at most 60 s early).
  const auto next = nextTimer();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next - now_, seconds(3600 - 60));
  advance(seconds(3540) - milliseconds(1));
  EXPECT_EQ(port_.sent().size(), 1u);
  advance(milliseconds(1));
  ASSERT_EQ(port_.sent().size(), 2u);
  const SentRequest refresh = port_.last();
  EXPECT_TRUE(refresh.inDialog);
  EXPECT_EQ(refresh.callId, initial.callId);
  EXPECT_EQ(refresh.toTag, "notifier");
  EXPECT_EQ(refresh.remoteTarget, "sip:presence@192.0.2.10:5060");
  EXPECT_EQ(refresh.cseq, 2u);
  EXPECT_EQ(refresh.expiresSec, 3600u);
  EXPECT_EQ(port_.counters.refreshes, 1u);
  answer(refresh, 200, 120);  // a shorter grant: refreshed after half of it
  ASSERT_TRUE(nextTimer());
  EXPECT_EQ(*nextTimer() - now_, seconds(60));
  EXPECT_EQ(port_.counters.subscriptionsActive, 1u);
}

TEST_F(SubscriptionSetTest, GrantAboveTheRequestIsCappedAndShortGrantsHalved) {
  config_.subscriptionExpiresSec = 100;
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  answer(request, 200, 100000);
  EXPECT_EQ(notify(request), 200);
  ASSERT_TRUE(nextTimer());
  EXPECT_EQ(*nextTimer() - now_, seconds(50));
}

TEST_F(SubscriptionSetTest, FailuresBackOffExponentiallyWithinTheBounds) {
  config_.maxSubscribeFailures = 10;
  set().watch(test::kTarget, now_);
  std::vector<SipClock::duration> delays;
  for (int i = 0; i < 6; ++i) {
    answer(port_.last(), 503);
    const auto next = nextTimer();
    ASSERT_TRUE(next);
    delays.push_back(*next - now_);
    const size_t before = port_.sent().size();
    advanceTo(*next);
    ASSERT_EQ(port_.sent().size(), before + 1);  // a new dialog
    EXPECT_FALSE(port_.last().inDialog);
  }
  const std::vector<SipClock::duration> expected = {seconds(1), seconds(2), seconds(4),
                                                    seconds(8), seconds(8), seconds(8)};
  EXPECT_EQ(delays, expected);
  EXPECT_EQ(port_.counters.resubscribes, 6u);
  // Each new dialog gets its own Call-ID.
  EXPECT_NE(port_.sent()[0].callId, port_.sent()[1].callId);
}

TEST_F(SubscriptionSetTest, RetryAfterIsHonouredUpToTheMaximum) {
  const SentRequest request = establish();
  NotifyFacts facts;
  facts.callId = request.callId;
  facts.toTag = request.fromTag;
  facts.fromTag = "notifier";
  facts.substate = "terminated";
  facts.reason = "probation";
  facts.retryAfterSec = 5;
  EXPECT_EQ(set().onNotify(facts, now_), 200);
  ASSERT_TRUE(nextTimer());
  EXPECT_EQ(*nextTimer() - now_, seconds(5));
  EXPECT_EQ(port_.counters.subscriptionsActive, 0u);
  // The next dialog is terminated too, asking for more than resubscribeBackoffMaxMs.
  advanceTo(*nextTimer());
  const SentRequest again = port_.last();
  answer(again, 200, 3600);
  facts.callId = again.callId;
  facts.toTag = again.fromTag;
  facts.retryAfterSec = 100;
  EXPECT_EQ(set().onNotify(facts, now_), 200);
  EXPECT_EQ(*nextTimer() - now_, seconds(8));
}

TEST_F(SubscriptionSetTest, GivesUpAfterMaxFailuresInARow) {
  config_.maxSubscribeFailures = 3;
  set().watch(test::kTarget, now_);
  for (int i = 0; i < 3; ++i) {
    answer(port_.last(), 404);
    if (i < 2) advanceTo(*nextTimer());
  }
  // Each failure but the last is an interruption (the status may be stale), the last gives up.
  ASSERT_EQ(port_.events.size(), 3u);
  EXPECT_EQ(reported(SubscriptionEvent::Kind::kInterrupted).size(), 2u);
  EXPECT_EQ(port_.events[2].kind, SubscriptionEvent::Kind::kFailed);
  EXPECT_EQ(port_.events[2].sipStatus, 404);
  EXPECT_EQ(port_.events[2].detail, "SUBSCRIBE answered 404 Failed");
  EXPECT_EQ(port_.counters.subscriptionFailures, 1u);
  EXPECT_EQ(port_.counters.subscriptions, 0u);
  EXPECT_EQ(set().size(), 0u);
  // Forgotten: watching again starts afresh.
  set().watch(test::kTarget, now_);
  EXPECT_EQ(port_.counters.subscriptions, 1u);
}

TEST_F(SubscriptionSetTest, AnEstablishedDialogResetsTheFailureCount) {
  config_.maxSubscribeFailures = 2;
  set().watch(test::kTarget, now_);
  answer(port_.last(), 500);
  advanceTo(*nextTimer());
  const SentRequest second = port_.last();
  answer(second, 200, 3600);
  EXPECT_EQ(notify(second), 200);
  // One failure after a healthy dialog is the first again, not the last.
  advanceTo(*nextTimer());
  answer(port_.last(), 481);
  EXPECT_EQ(reported(SubscriptionEvent::Kind::kStatus).size(), 1u);
  EXPECT_TRUE(reported(SubscriptionEvent::Kind::kFailed).empty());
  EXPECT_EQ(set().size(), 1u);
}

TEST_F(SubscriptionSetTest, ALostDialogIsReportedInterruptedUntilTheNextNotify) {
  const SentRequest initial = establish();
  ASSERT_EQ(port_.events.size(), 1u);
  advanceTo(*nextTimer());
  answer(port_.last(), 481);  // the refresh: the notifier forgot the dialog
  ASSERT_EQ(port_.events.size(), 2u);
  EXPECT_EQ(port_.events[1].kind, SubscriptionEvent::Kind::kInterrupted);
  EXPECT_EQ(port_.events[1].requestUri, test::kTarget);
  EXPECT_EQ(port_.events[1].sipStatus, 481);
  // The new dialog's first NOTIFY is the status again.
  advanceTo(*nextTimer());
  const SentRequest again = port_.last();
  EXPECT_FALSE(again.inDialog);
  answer(again, 200, 3600);
  EXPECT_EQ(notify(again, "active", test::kOnThePhone), 200);
  ASSERT_EQ(port_.events.size(), 3u);
  EXPECT_EQ(port_.events[2].kind, SubscriptionEvent::Kind::kStatus);
  EXPECT_EQ(port_.events[2].status, TerminalStatus::kBusy);
  // A terminating NOTIFY with a body reports its status, then the interruption.
  EXPECT_EQ(notify(again, "terminated", test::kOpen), 200);
  ASSERT_EQ(port_.events.size(), 5u);
  EXPECT_EQ(port_.events[3].kind, SubscriptionEvent::Kind::kStatus);
  EXPECT_EQ(port_.events[4].kind, SubscriptionEvent::Kind::kInterrupted);
  (void)initial;
}

TEST_F(SubscriptionSetTest, AnUnwatchedDialogIsNotReportedInterrupted) {
  establish();
  set().unwatch(test::kTarget, now_);
  answer(port_.last(), 481);  // the unsubscribe's answer
  EXPECT_TRUE(reported(SubscriptionEvent::Kind::kInterrupted).empty());
}

TEST_F(SubscriptionSetTest, RefreshAnswered481StartsANewDialog) {
  const SentRequest initial = establish();
  advanceTo(*nextTimer());
  const SentRequest refresh = port_.last();
  ASSERT_TRUE(refresh.inDialog);
  answer(refresh, 481);
  EXPECT_EQ(port_.counters.subscriptionsActive, 0u);
  ASSERT_TRUE(nextTimer());
  EXPECT_EQ(*nextTimer() - now_, seconds(1));
  advanceTo(*nextTimer());
  const SentRequest again = port_.last();
  EXPECT_FALSE(again.inDialog);
  EXPECT_NE(again.callId, initial.callId);
  EXPECT_EQ(port_.counters.resubscribes, 1u);
  // A NOTIFY of the old dialog is stray now.
  EXPECT_EQ(notify(initial), 481);
  EXPECT_EQ(port_.counters.strayRequests, 1u);
}

TEST_F(SubscriptionSetTest, NoAnswerWithinTheTimeoutIsA408Failure) {
  config_.maxSubscribeFailures = 1;
  set().watch(test::kTarget, now_);
  advance(milliseconds(4999));
  EXPECT_TRUE(port_.events.empty());
  advance(milliseconds(1));
  ASSERT_EQ(port_.events.size(), 1u);
  EXPECT_EQ(port_.events[0].sipStatus, 408);
  EXPECT_EQ(port_.events[0].detail, "no answer to SUBSCRIBE within 5000 ms");
  ASSERT_FALSE(port_.cancelled.empty());  // its transaction is dropped
  EXPECT_EQ(port_.cancelled.back(), port_.sent().front().id);
}

TEST_F(SubscriptionSetTest, A2xxWithoutNotifyTimesOut) {
  config_.maxSubscribeFailures = 1;
  set().watch(test::kTarget, now_);
  answer(port_.last(), 200, 3600);
  advance(milliseconds(5000));
  ASSERT_EQ(port_.events.size(), 1u);
  EXPECT_EQ(port_.events[0].sipStatus, 200);
  EXPECT_EQ(port_.events[0].detail, "no NOTIFY within 5000 ms of the 2xx to SUBSCRIBE");
}

TEST_F(SubscriptionSetTest, UnansweredRefreshRecoversWithANewDialog) {
  establish();
  advanceTo(*nextTimer());
  const size_t sent = port_.sent().size();
  advance(milliseconds(5000));  // the refresh is never answered
  EXPECT_EQ(port_.counters.subscriptionsActive, 0u);
  advance(seconds(1));
  ASSERT_EQ(port_.sent().size(), sent + 1);
  const SentRequest again = port_.last();
  EXPECT_FALSE(again.inDialog);
  answer(again, 200, 3600);
  EXPECT_EQ(notify(again), 200);
  EXPECT_EQ(port_.counters.subscriptionsActive, 1u);
}

TEST_F(SubscriptionSetTest, UnwatchEndsTheDialogAndTombstonesIt) {
  const SentRequest initial = establish();
  set().unwatch(test::kTarget, now_);
  const SentRequest unsubscribe = port_.last();
  EXPECT_TRUE(unsubscribe.inDialog);
  EXPECT_EQ(unsubscribe.expiresSec, 0u);
  EXPECT_EQ(unsubscribe.callId, initial.callId);
  EXPECT_EQ(port_.counters.subscriptions, 0u);
  // The final NOTIFY while the Expires: 0 is out: 200, nothing reported.
  const size_t events = port_.events.size();
  EXPECT_EQ(notify(initial, "terminated", ""), 200);
  answer(unsubscribe, 200, 0);
  EXPECT_EQ(set().size(), 0u);
  // After the answer: the tombstone still takes the notifier's last NOTIFYs ...
  EXPECT_EQ(notify(initial, "terminated", ""), 200);
  advance(seconds(31));
  EXPECT_EQ(notify(initial, "terminated", ""), 200);
  EXPECT_EQ(port_.events.size(), events);
  EXPECT_EQ(port_.counters.strayRequests, 0u);
  // ... for 32 s; then it is stray.
  advance(seconds(1));
  EXPECT_EQ(notify(initial, "terminated", ""), 481);
  EXPECT_EQ(port_.counters.strayRequests, 1u);
}

TEST_F(SubscriptionSetTest, UnansweredUnsubscribeIsForgottenAfterTheTimeout) {
  const SentRequest initial = establish();
  set().unwatch(test::kTarget, now_);
  advance(milliseconds(5000));
  EXPECT_EQ(set().size(), 0u);
  EXPECT_EQ(notify(initial, "terminated", ""), 200);  // tombstoned
}

TEST_F(SubscriptionSetTest, UnwatchBeforeTheAnswerUnsubscribesAfterThe2xx) {
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  set().unwatch(test::kTarget, now_);
  EXPECT_EQ(port_.sent().size(), 1u);  // no dialog to end yet
  answer(request, 200, 3600);
  ASSERT_EQ(port_.sent().size(), 2u);
  EXPECT_EQ(port_.last().expiresSec, 0u);
  EXPECT_TRUE(port_.last().inDialog);
  EXPECT_TRUE(port_.events.empty());
}

TEST_F(SubscriptionSetTest, UnwatchBeforeAnErrorAnswerForgetsQuietly) {
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  set().unwatch(test::kTarget, now_);
  answer(request, 500);
  EXPECT_EQ(set().size(), 0u);
  EXPECT_TRUE(port_.events.empty());
  EXPECT_FALSE(nextTimer());
}

TEST_F(SubscriptionSetTest, UnwatchDuringBackoffCancelsTheRetry) {
  set().watch(test::kTarget, now_);
  answer(port_.last(), 503);
  ASSERT_TRUE(nextTimer());
  set().unwatch(test::kTarget, now_);
  EXPECT_EQ(set().size(), 0u);
  EXPECT_FALSE(nextTimer());
  advance(seconds(10));
  EXPECT_EQ(port_.sent().size(), 1u);
}

TEST_F(SubscriptionSetTest, WatchAfterUnwatchStartsANewDialogAndOldNotifiesStayQuiet) {
  const SentRequest first = establish();
  set().unwatch(test::kTarget, now_);
  set().watch(test::kTarget, now_);
  const SentRequest second = port_.last();
  EXPECT_FALSE(second.inDialog);
  EXPECT_NE(second.callId, first.callId);
  EXPECT_EQ(port_.counters.subscriptions, 1u);
  const size_t events = port_.events.size();
  EXPECT_EQ(notify(first, "active"), 200);  // the old dialog, being unsubscribed
  EXPECT_EQ(port_.events.size(), events);
  answer(second, 200, 3600);
  EXPECT_EQ(notify(second), 200);
  EXPECT_EQ(port_.events.size(), events + 1);
  EXPECT_EQ(port_.events.back().requestUri, test::kTarget);
}

// NOTIFYs are answered statelessly: a retransmission whose 200 was lost, or a NOTIFY overtaken by
// a later one, must not report a status the dialog already replaced (it did: the gateway reported
// a terminal Reachable again after its Busy, cluster.test.js).
TEST_F(SubscriptionSetTest, ARetransmittedOrOvertakenNotifyIsAnsweredButNotReported) {
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  answer(request, 200, 3600);
  EXPECT_EQ(notify(request, "active", test::kOpen, "notifier", 1), 200);
  EXPECT_EQ(notify(request, "active", test::kOnThePhone, "notifier", 2), 200);
  ASSERT_EQ(port_.events.size(), 2u);
  EXPECT_EQ(port_.events[1].status, TerminalStatus::kBusy);
  // The first NOTIFY again (its 200 was lost): answered, not reported.
  EXPECT_EQ(notify(request, "active", test::kOpen, "notifier", 1), 200);
  EXPECT_EQ(notify(request, "active", test::kOnThePhone, "notifier", 2), 200);
  EXPECT_EQ(port_.events.size(), 2u);
  // CSeq 4 overtook CSeq 3: 3 arrives late and says nothing current.
  EXPECT_EQ(notify(request, "active", test::kClosed, "notifier", 4), 200);
  EXPECT_EQ(notify(request, "active", test::kOpen, "notifier", 3), 200);
  ASSERT_EQ(port_.events.size(), 3u);
  EXPECT_EQ(port_.events[2].status, TerminalStatus::kUnreachable);
  EXPECT_EQ(port_.counters.strayRequests, 0u);
  // Neither counts as a stray nor disturbs the dialog: the next NOTIFY is reported.
  EXPECT_EQ(notify(request, "active", test::kOpen, "notifier", 5), 200);
  ASSERT_EQ(port_.events.size(), 4u);
  EXPECT_EQ(port_.events[3].status, TerminalStatus::kReachable);
}

TEST_F(SubscriptionSetTest, ANewDialogCountsItsNotifiesAfresh) {
  set().watch(test::kTarget, now_);
  const SentRequest first = port_.last();
  answer(first, 200, 3600);
  EXPECT_EQ(notify(first, "active", test::kOpen, "notifier", 7), 200);
  advanceTo(*nextTimer());
  answer(port_.last(), 481);  // the refresh: the dialog is gone
  advanceTo(*nextTimer());
  const SentRequest again = port_.last();
  ASSERT_FALSE(again.inDialog);
  answer(again, 200, 3600);
  // The new dialog's CSeqs start anew, below the old dialog's.
  EXPECT_EQ(notify(again, "active", test::kOnThePhone, "notifier", 1), 200);
  const std::vector<SubscriptionEvent> statuses = reported(SubscriptionEvent::Kind::kStatus);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1].status, TerminalStatus::kBusy);
}

TEST_F(SubscriptionSetTest, ForkedNotifyFromAnotherTagIsRefused) {
  const SentRequest request = establish();
  EXPECT_EQ(notify(request, "active", test::kOpen, "another-fork"), 481);
  EXPECT_EQ(port_.counters.strayRequests, 1u);
}

TEST_F(SubscriptionSetTest, NotifySourceIsChecked) {
  sources_ = NotifySources({*IpCidr::parse("198.51.100.1")}, true);
  set().watch(test::kTarget, now_);
  const SentRequest request = port_.last();
  answer(request, 200, 3600);  // from 192.0.2.10: that peer may notify
  EXPECT_EQ(notify(request), 200);
  NotifyFacts facts;
  facts.callId = request.callId;
  facts.toTag = request.fromTag;
  facts.fromTag = "notifier";
  facts.source = IpCidr::parse("203.0.113.9");
  EXPECT_EQ(set().onNotify(facts, now_), 403);
  EXPECT_EQ(port_.counters.notifySourceRefused, 1u);
}

TEST_F(SubscriptionSetTest, UnusableOrWrongEventNotifies) {
  const SentRequest request = establish();
  NotifyFacts facts;
  facts.callId = request.callId;
  facts.toTag = request.fromTag;
  facts.fromTag = "notifier";
  facts.usable = false;
  EXPECT_EQ(set().onNotify(facts, now_), 400);
  facts.usable = true;
  facts.presenceEvent = false;
  EXPECT_EQ(set().onNotify(facts, now_), 489);
  facts.presenceEvent = true;
  facts.fromTag = "";
  EXPECT_EQ(set().onNotify(facts, now_), 400);
}

TEST_F(SubscriptionSetTest, PacesNewDialogsByTheInFlightLimit) {
  config_.maxSubscribesInFlight = 2;
  for (int i = 0; i < 5; ++i) set().watch("sip:t" + std::to_string(i) + "@example.test", now_);
  EXPECT_EQ(port_.sent().size(), 2u);
  answer(port_.sent()[0], 200, 3600);
  EXPECT_EQ(port_.sent().size(), 3u);
  answer(port_.sent()[1], 500);
  EXPECT_EQ(port_.sent().size(), 4u);
}

TEST_F(SubscriptionSetTest, ShutdownUnsubscribesStatelesslyAndDrainsOnAnswers) {
  const SentRequest a = establish("sip:a@example.test");
  const SentRequest b = establish("sip:b@example.test");
  set().watch("sip:c@example.test", now_);  // no dialog yet: simply forgotten
  const size_t before = port_.sent().size();
  set().beginShutdown(now_);
  ASSERT_EQ(port_.sent().size(), before + 2);
  for (size_t i = before; i < port_.sent().size(); ++i) {
    EXPECT_EQ(port_.sent()[i].how, Send::kStateless);
    EXPECT_EQ(port_.sent()[i].expiresSec, 0u);
  }
  EXPECT_EQ(port_.counters.subscriptions, 0u);
  EXPECT_EQ(port_.drainedCalls, 0);
  EXPECT_EQ(notify(a, "terminated", ""), 200);  // any dialog's NOTIFY while closing
  set().onCloseAnswer(a.callId, now_);
  EXPECT_EQ(port_.drainedCalls, 0);
  set().onCloseAnswer(b.callId, now_);
  EXPECT_EQ(port_.drainedCalls, 1);
  set().watch("sip:d@example.test", now_);  // after shutdown: ignored
  EXPECT_EQ(port_.sent().size(), before + 2);
}

TEST_F(SubscriptionSetTest, ShutdownStopsWaitingAfterTheGrace) {
  establish();
  set().beginShutdown(now_);
  EXPECT_EQ(port_.drainedCalls, 0);
  advance(milliseconds(199));
  EXPECT_EQ(port_.drainedCalls, 0);
  advance(milliseconds(1));
  EXPECT_EQ(port_.drainedCalls, 1);
}

TEST_F(SubscriptionSetTest, ShutdownWithNothingToEndDrainsAtOnce) {
  set().beginShutdown(now_);
  EXPECT_EQ(port_.drainedCalls, 1);
}

TEST_F(SubscriptionSetTest, ASendThatFailsCountsAsAFailure) {
  config_.maxSubscribeFailures = 1;
  port_.refuseSends = true;
  set().watch(test::kTarget, now_);
  ASSERT_EQ(port_.events.size(), 1u);
  EXPECT_EQ(port_.events[0].detail, std::string("cannot send SUBSCRIBE to ") + test::kTarget);
  EXPECT_EQ(port_.counters.subscribeRequests, 0u);
}

// ---- the route-set helper -----------------------------------------------------------------------

TEST(SipRouting, RouteSetIsReversedForA2xxAndKeptForANotify) {
  const std::vector<std::string> entries = {"<sip:p1.test;lr>", "<sip:p2.test;lr>"};
  const auto uac = routeSetFrom(entries, true);
  ASSERT_TRUE(uac);
  EXPECT_EQ(uac->header, "<sip:p2.test;lr>, <sip:p1.test;lr>");
  EXPECT_EQ(uac->firstHop, "sip:p2.test;lr");
  const auto uas = routeSetFrom(entries, false);
  EXPECT_EQ(uas->firstHop, "sip:p1.test;lr");
  EXPECT_EQ(routeSetFrom({}, true), nullptr);
}

TEST(SipRouting, NextHopOutsideAndInsideADialog) {
  const std::string server = "sip:ps.test:5060";
  NextHop hop = nextHop("sip:a@x.test", "sip:c@192.0.2.1", nullptr, server, false);
  EXPECT_EQ(hop.requestUri, "sip:a@x.test");
  EXPECT_EQ(hop.firstHop, server);
  EXPECT_TRUE(hop.presenceServerRoute);
  // In a dialog: the remote target, directly ...
  hop = nextHop("sip:a@x.test", "sip:c@192.0.2.1", nullptr, server, true);
  EXPECT_EQ(hop.requestUri, "sip:c@192.0.2.1");
  EXPECT_EQ(hop.firstHop, "sip:c@192.0.2.1");
  EXPECT_FALSE(hop.presenceServerRoute);
  EXPECT_EQ(hop.route, "");
  // ... through the route set when there is one ...
  RouteSet routes{"<sip:p1.test;lr>", "sip:p1.test;lr"};
  hop = nextHop("sip:a@x.test", "sip:c@192.0.2.1", &routes, server, true);
  EXPECT_EQ(hop.requestUri, "sip:c@192.0.2.1");
  EXPECT_EQ(hop.firstHop, "sip:p1.test;lr");
  EXPECT_EQ(hop.route, "<sip:p1.test;lr>");
  // ... and the initial way when the 2xx had no Contact.
  hop = nextHop("sip:a@x.test", "", nullptr, server, true);
  EXPECT_EQ(hop.requestUri, "sip:a@x.test");
  EXPECT_EQ(hop.firstHop, server);
  EXPECT_TRUE(hop.presenceServerRoute);
}

TEST(SipRouting, UriHostAndRoute) {
  EXPECT_EQ(uriHost("sip:user@[::1]:5060;lr"), "::1");
  EXPECT_EQ(uriHost("sip:ps.test:5060"), "ps.test");
  EXPECT_EQ(uriHost("nocolon"), "");
  EXPECT_EQ(routeFor("sip:ps.test"), "<sip:ps.test;lr>");
  EXPECT_EQ(routeFor("sip:ps.test;lr"), "<sip:ps.test;lr>");
}

}  // namespace
}  // namespace px
