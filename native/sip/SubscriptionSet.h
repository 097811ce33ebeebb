// Long-lived presence subscriptions (RFC 6665, subscriber side) as a pure state machine: no Sofia,
// no clock, no threads. Time comes in as `now`; requests, timers, reports and counters go out
// through a SubscriptionPort. The SIP thread drives it through SubscriptionRole; GoogleTest
// drives it directly (tests/native/sip_subscription_set_test.cc).
//
// Each watched terminal has at most one dialog, kept in compact form (about 150 B at rest; 100,000
// may be watched). It is refreshed before expiry, re-subscribed with a new dialog after a failure
// (exponential backoff, Retry-After honoured, within presence.resubscribeBackoffMs ..
// resubscribeBackoffMaxMs) and given up (one kFailed event) after presence.maxSubscribeFailures
// failures in a row. Ended dialogs leave a tombstone so that the notifier's last NOTIFYs still get
// 200. A NOTIFY whose CSeq is not above its dialog's latest (a retransmission, since NOTIFYs are
// answered without a transaction, or one overtaken by a later NOTIFY) gets 200 and is not
// reported: its state is no longer current. At most presence.maxSubscribesInFlight SUBSCRIBEs wait
// for an answer at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/IpCidr.h"
#include "config/GatewayConfig.h"
#include "presence/DocumentMapper.h"
#include "sip/NotifySources.h"
#include "sip/PresenceWatcher.h"
#include "sip/SipRouting.h"

namespace px {

using SipClock = std::chrono::steady_clock;

// One SUBSCRIBE to send: what SubscribeBuilder turns into a request (fetches use it too).
struct SubscribeRequest {
  std::string_view uri;  // the presentity: To, and the Request-URI outside a dialog
  std::string_view callId;
  std::string_view fromTag;
  std::string_view toTag;         // the notifier's tag; "" outside a dialog
  std::string_view remoteTarget;  // in a dialog: the notifier's Contact, "" when unknown
  const RouteSet* routes = nullptr;
  uint32_t cseq = 1;
  uint32_t expiresSec = 0;
  bool inDialog = false;
};

// What a SUBSCRIBE's final response says, copied out before its transaction is destroyed.
struct SubscribeAnswer {
  int status = 0;
  std::string phrase;
  std::string toTag;
  std::string contact;  // "" when absent or not a usable URI
  std::unique_ptr<RouteSet> routes;
  std::optional<uint64_t> expires;
  std::optional<IpCidr> source;  // where the response came from
};

// What the state machine reads from a NOTIFY that is not a fetch's.
struct NotifyFacts {
  std::string_view callId;
  std::string_view toTag;    // our tag; "" when absent
  std::string_view fromTag;  // the notifier's tag; "" when absent
  std::optional<IpCidr> source;
  bool usable = true;            // its Contact and Record-Route may become a target and route set
  bool presenceEvent = true;     // Event: the subscribed package ("presence" unless configured)
  std::optional<uint32_t> cseq;  // its CSeq number; nullopt when absent
  std::string_view substate;     // Subscription-State value; "" when absent (taken as active)
  std::string_view reason;
  uint64_t retryAfterSec = 0;
  std::optional<uint64_t> expiresSec;  // Subscription-State expires
  std::string contact;                 // its Contact as a usable URI; "" when none
  // Record-Route as the route set of a dialog the NOTIFY creates; called only then.
  std::function<std::unique_ptr<RouteSet>()> routes;
  std::string_view contentType;
  std::string_view body;
};

struct SubscriptionCounters {
  uint64_t subscriptions = 0;
  uint64_t subscriptionsActive = 0;
  uint64_t subscribeRequests = 0;
  uint64_t refreshes = 0;
  uint64_t resubscribes = 0;
  uint64_t subscriptionFailures = 0;
  uint64_t strayRequests = 0;
  uint64_t notifySourceRefused = 0;
};

// Everything the state machine does to the world.
class SubscriptionPort {
 public:
  enum class Send {
    kTransaction,  // its final answer comes back through SubscriptionSet::onAnswer
    kStateless,    // no transaction, no retransmission; an answer comes through onCloseAnswer
  };
  virtual ~SubscriptionPort() = default;
  // False when the request could not be sent.
  virtual bool sendSubscribe(uint64_t id, const SubscribeRequest& request, Send how) = 0;
  // Drops subscription id's unanswered transaction: no retransmission, its answer is not reported.
  virtual void cancelSubscribe(uint64_t id) = 0;
  // Calls SubscriptionSet::onTimer(id, gen, ...) at `at`; entries of an older gen are stale.
  virtual void schedule(SipClock::time_point at, uint64_t id, uint32_t gen) = 0;
  virtual void report(SubscriptionEvent event) = 0;
  // Counters changed (published before a request leaves: stats never lag the network).
  virtual void countersChanged(const SubscriptionCounters& counters) = 0;
  // After beginShutdown(): every dialog ended or given up; called once.
  virtual void drained() = 0;
};

class SubscriptionSet {
 public:
  // Identifies the dialogs of this set: Call-IDs "<hex>-s<id>-<seq>@host", From-tags derived.
  struct Identity {
    uint64_t callIdPrefix = 0;
    uint64_t tagPrefix = 0;
    std::string host;
    std::string watcherUri;  // our From
  };
  // Timer id of the close grace (subscription ids start at 1).
  static constexpr uint64_t kCloseTimerId = 0;
  // How long an ended dialog's Call-ID still gets 200 for its NOTIFYs: a NOTIFY transaction's
  // lifetime over UDP (64 * T1).
  static constexpr std::chrono::seconds kTombstoneLifetime{32};
  // How long close waits for an answer to its Expires: 0 requests.
  static constexpr std::chrono::milliseconds kCloseGrace{200};

  // Subscriptions to the presence package (PIDF).
  SubscriptionSet(const PresenceConfig& config, const NotifySources& sources, Identity identity,
                  SubscriptionPort& port);
  // Subscriptions whose NOTIFY bodies `mapper` maps (the set's event package: StatusSource.h).
  SubscriptionSet(const PresenceConfig& config, const NotifySources& sources, Identity identity,
                  SubscriptionPort& port, std::shared_ptr<const DocumentMapper> mapper);
  SubscriptionSet(const SubscriptionSet&) = delete;
  SubscriptionSet& operator=(const SubscriptionSet&) = delete;

  void watch(std::string uri, SipClock::time_point now);
  void unwatch(const std::string& uri, SipClock::time_point now);
  // The final answer to a kTransaction SUBSCRIBE of subscription id.
  void onAnswer(uint64_t id, SubscribeAnswer answer, SipClock::time_point now);
  // A NOTIFY that is no fetch's: the status code to answer it with.
  int onNotify(const NotifyFacts& notify, SipClock::time_point now);
  void onTimer(uint64_t id, uint32_t gen, SipClock::time_point now);
  // True when `callId` is of a dialog of this set (live, ended or being closed): it carries this
  // set's Call-ID prefix. Lets several sets (one per event package) share one agent.
  bool owns(std::string_view callId) const;
  // A timer entry still current (the timer queue drops stale ones when it compacts).
  bool timerLive(uint64_t id, uint32_t gen) const;

  // Ends every subscription: each established dialog gets a stateless SUBSCRIBE Expires: 0, paced
  // by maxSubscribesInFlight; drained() once all were answered, or none for kCloseGrace.
  void beginShutdown(SipClock::time_point now);
  // A final answer that matched no transaction: maybe to a stateless Expires: 0.
  void onCloseAnswer(std::string_view callId, SipClock::time_point now);

  const SubscriptionCounters& counters() const { return counters_; }
  size_t size() const { return subs_.size(); }

 private:
  enum class SubState : uint8_t {
    kQueued,             // wants a new dialog; waits for a transaction slot
    kSubscribing,        // the new dialog's SUBSCRIBE went out; waits for its 2xx + first NOTIFY
    kActive,             // established; the timer is the refresh
    kRefreshQueued,      // established; the refresh waits for a transaction slot
    kRefreshing,         // established; the refresh SUBSCRIBE went out
    kBackoff,            // after a failure; the timer starts the next dialog
    kUnsubscribeQueued,  // unwatched; the Expires: 0 waits for a transaction slot
    kUnsubscribing,      // unwatched; the Expires: 0 went out
  };

  // One watched terminal, or one being unsubscribed. Kept small: 100,000 may be watched.
  struct Subscription {
    std::string uri;
    std::string remoteTag;             // "" while no dialog exists
    std::string remoteTarget;          // the notifier's Contact; "" while unknown
    std::unique_ptr<RouteSet> routes;  // only when the dialog has a route set
    std::optional<IpCidr> peer;        // where the dialog's 2xx came from
    SipClock::time_point refreshAt{};  // when to refresh; {} while no expiry is known
    uint64_t id = 0;                   // one per watch(): key of subs_, part of the Call-ID
    uint32_t seq = 0;                  // dialog number within this watch: Call-ID and From-tag
    uint32_t cseq = 0;
    uint32_t timerGen = 0;    // timer entries of another generation are stale
    uint32_t failures = 0;    // consecutive; reset when a dialog got its 2xx and a NOTIFY
    uint32_t remoteCseq = 0;  // CSeq of the dialog's latest NOTIFY (when remoteCseqKnown)
    SubState state = SubState::kQueued;
    bool unwatched = false;
    bool inFlight = false;   // a kTransaction SUBSCRIBE waits for its final answer
    bool responded = false;  // this dialog's initial SUBSCRIBE got its 2xx
    bool notified = false;   // this dialog got a NOTIFY
    bool remoteCseqKnown = false;
  };

  void pump(SipClock::time_point now);
  void sendNewDialog(Subscription& sub, SipClock::time_point now);
  void sendRefresh(Subscription& sub, SipClock::time_point now);
  // Fire and forget, but the dialog is remembered until its answer (or the deadline), so the
  // notifier's last NOTIFY is still answered 200.
  void sendUnsubscribe(Subscription& sub, SipClock::time_point now);
  bool sendInDialog(Subscription& sub, uint32_t expiresSec, SubscriptionPort::Send how);
  void onNewDialogAnswer(Subscription& sub, SubscribeAnswer answer, SipClock::time_point now);
  void onRefreshAnswer(Subscription& sub, SubscribeAnswer answer, SipClock::time_point now);
  void establish(Subscription& sub, SipClock::time_point now);
  Subscription* findDialog(std::string_view callId, std::string_view toTag);
  // One failure of the current dialog (or of the attempt to make one): re-subscribe with a new
  // dialog after the backoff, or give the terminal up after maxSubscribeFailures in a row.
  void fail(Subscription& sub, int sipStatus, std::string detail, SipClock::time_point now,
            uint64_t retryAfterSec = 0);
  void schedule(Subscription& sub, SipClock::time_point at);
  void queueSend(Subscription& sub, SubState state);
  void attach(Subscription& sub);
  // Drops the subscription's unanswered transaction and its slot.
  void release(Subscription& sub);
  static void clearDialog(Subscription& sub);
  static bool isEstablished(SubState state);
  void setState(Subscription& sub, SubState next);
  void forget(Subscription& sub);
  // After the Expires: 0: its answer came (or never will). A late NOTIFY still gets 200.
  void forgetUnsubscribed(Subscription& sub, SipClock::time_point now);
  void tombstone(std::string callId, SipClock::time_point now);
  bool isTombstoned(std::string_view callId, SipClock::time_point now);
  void pruneTombstones(SipClock::time_point now);
  void publishCounts();
  // delta +1 before a SUBSCRIBE leaves (stats never lag the network), -1 when it could not.
  void countSent(bool resubscribe, bool refresh, int delta);
  std::string callIdFor(const Subscription& sub) const;
  std::string fromTagFor(const Subscription& sub) const;
  uint32_t requestedExpiresSec() const;
  std::chrono::milliseconds subscribeTimeout() const;
  // The Expires of a 2xx, or the requested one when absent; never above the requested one
  // (RFC 6665 §4.2.1.1) nor below 1 s.
  uint32_t grantedSeconds(const std::optional<uint64_t>& expires) const;
  // Refresh before expiry, leaving half the duration but at most 60 s for the refresh to land.
  static SipClock::time_point refreshTime(SipClock::time_point now, uint32_t seconds);
  // Shutdown.
  void pumpClose(SipClock::time_point now);
  void expireClose(SipClock::time_point now);
  void armClose();
  void checkDrained();

  const PresenceConfig& config_;
  const NotifySources& sources_;
  const Identity identity_;
  SubscriptionPort& port_;
  std::shared_ptr<const DocumentMapper> mapper_;
  SubscriptionCounters counters_;
  // subs_ owns the subscriptions (node-based: addresses are stable); watched_ indexes the
  // watched ones by URI (its keys view Subscription::uri).
  std::unordered_map<uint64_t, Subscription> subs_;
  std::unordered_map<std::string_view, uint64_t> watched_;
  std::deque<uint64_t> sendQueue_;  // FIFO of subscriptions waiting for a transaction slot
  std::deque<std::pair<SipClock::time_point, std::string>> tombstoneOrder_;
  std::unordered_set<std::string> tombstones_;
  uint64_t nextId_ = 1;
  size_t inFlight_ = 0;
  size_t activeCount_ = 0;
  // Shutdown: dialogs waiting for their Expires: 0, and those sent but not answered yet.
  bool shuttingDown_ = false;
  bool drained_ = false;
  uint32_t closeTimerGen_ = 0;
  std::deque<uint64_t> closeQueue_;
  std::unordered_set<std::string> closePending_;
  std::deque<std::pair<SipClock::time_point, std::string>> closeOrder_;
  SipClock::time_point closeProgressAt_{};
};

}  // namespace px
