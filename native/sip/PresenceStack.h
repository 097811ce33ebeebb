// The SIP thread's side of PresenceWatcher (private to native/sip): the Stack class and what
// its parts share. Its member functions are defined by concern:
//   PresenceStack.cc          start, the command queue, the timer, shutdown, small helpers
//   PresenceFetches.cc        one-shot fetches and the dispatch of incoming requests
//   PresenceSubscriptions.cc  long-lived subscription dialogs (refresh, backoff, tombstones)
//   PresenceMessages.cc       reading responses, targets, routes and bodies; NOTIFY sources
#pragma once

#include "sip/PresenceWatcher.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "address/Address.h"
#include "common/Ascii.h"
#include "common/IpCidr.h"
#include "presence/PresenceDocument.h"
#include "sip/Sofia.h"
#include "sip/TcpGuard.h"

// After Sofia.h, which includes su_config.h first.
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/url_tag.h>

namespace px {

using Clock = std::chrono::steady_clock;
inline constexpr unsigned kUdpBufferBytes = 4 * 1024 * 1024;
inline constexpr unsigned kTimerKMs = 1000;
// Largest SIP message taken: a PIDF document of many tuples fits; a peer cannot make the stack
// buffer megabytes per connection.
inline constexpr usize_t kMaxMessageBytes = 256 * 1024;

// Everything that must only be touched on the SIP thread.
//
// Fetches use Sofia's transaction layer (NTA) directly rather than NUA: a fetch needs no dialog
// state (one SUBSCRIBE transaction, then one NOTIFY matched by Call-ID and tag), and NUA's
// per-handle machinery (dialog usages, event marshalling, a timer walk over every handle) cost
// more than half of the SIP thread's time per fetch.
//
// Long-lived subscriptions (RFC 6665, subscriber side) use bare NTA transactions as well, with
// the dialog kept here in compact form: NUA would keep a handle, a dialog usage and a su_home per
// subscription (about 14 KB each, plus its 1 s timer walk over every handle), too much for
// 100,000 watched terminals. No NTA object outlives a transaction: in-dialog requests are built
// by hand (Call-ID, tags, CSeq, Route) on a dialog-less leg, and their first hop is passed to NTA
// explicitly as route_url: the first entry of the route set, or the remote target (the
// notifier's Contact) when the set is empty. Incoming requests are answered statelessly (see
// onMessage), so no NTA object is kept for a NOTIFY either.
//
// Memory (measured against Kamailio, 100,000 subscriptions): about 0.5 KB of heap per
// subscription at rest (Subscription ~150 B, its map nodes, URI, remote tag and target), about
// 1.1 KB of RSS per subscription including the transient SUBSCRIBE transactions (~10 KB each for
// Timer K after their answer, see kTimerKMs) while they start.
class PresenceWatcher::Stack {
 public:
  // Port 0 in the config means "any free port": Sofia cannot report the port it picked through the
  // public API, so pick one that is free for both UDP and TCP and bind to it.
  static uint16_t pickFreePort(const std::string& host);
  static std::string hostForUri(const std::string& host);
  // The host of a SIP URI ("sip:user@[::1]:5060;lr" -> "::1"), "" when there is none.
  static std::string uriHost(std::string_view uri);
  // The address a SIP message came from (Sofia records it in the message), if known.
  static std::optional<IpCidr> sourceOf(msg_t* msg);
  static std::string routeFor(const std::string& presenceServerUri);

  struct Pending {
    NtaOutgoing subscribe;  // reset once the final response arrived
    std::string callId;
    std::string fromTag;
    Clock::time_point started;
    std::optional<IpCidr> peer;  // where the 2xx came from: a NOTIFY source of this fetch
  };

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

  struct RouteSet {
    std::string header;    // Route header value, in the order in-dialog requests carry it
    std::string firstHop;  // URI of its first entry: where in-dialog requests are sent
  };

  // One watched terminal, or one being unsubscribed. Kept small: 100,000 may be watched.
  struct Subscription {
    std::string uri;
    std::string remoteTag;             // "" while no dialog exists
    std::string remoteTarget;          // the notifier's Contact; "" while unknown
    std::unique_ptr<RouteSet> routes;  // only when the dialog has a route set
    std::optional<IpCidr> peer;        // where the dialog's 2xx came from
    NtaOutgoing orq;                   // the SUBSCRIBE still waiting for its final answer
    Clock::time_point refreshAt{};     // when to refresh; {} while no expiry is known
    uint64_t id = 0;                   // one per watch(): key of subs_, part of the Call-ID
    uint32_t seq = 0;                  // dialog number within this watch: Call-ID and From-tag
    uint32_t cseq = 0;
    uint32_t timerGen = 0;  // timer entries of another generation are stale
    uint32_t failures = 0;  // consecutive; reset when a dialog got its 2xx and a NOTIFY
    SubState state = SubState::kQueued;
    bool unwatched = false;
    bool responded = false;  // this dialog's initial SUBSCRIBE got its 2xx
    bool notified = false;   // this dialog got a NOTIFY
  };

  // One entry of the subscription timer heap; stale entries are skipped when they come up.
  struct TimerEntry {
    Clock::time_point at;
    uint64_t id;
    uint32_t gen;
    bool operator>(const TimerEntry& other) const { return at > other.at; }
  };

  // What a SUBSCRIBE's final response says, copied out before its transaction is destroyed.
  struct ResponseInfo {
    int status = 0;
    std::string phrase;
    std::string toTag;
    std::string contact;
    std::unique_ptr<RouteSet> routes;
    std::optional<uint64_t> expires;
    std::optional<IpCidr> source;  // where the response came from
  };

  Stack(PresenceWatcher& owner, su_root_t* root)
      : owner_(owner),
        root_(root),
        mapper_(owner.config_.presence.busyActivities),
        timeout_(std::chrono::milliseconds(owner.config_.presence.fetchTimeoutMs)) {
    std::random_device entropy;
    tagPrefix_ = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
    subPrefix_ = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  }

  bool start(const std::string& bindUrl);

  // Why start() failed when it was not the binding itself; "" otherwise.
  const std::string& startProblem() const { return startProblem_; }

  // su_msg callback: the command queue has work (or close() was called).
  static void onWake(su_root_magic_t* magic, su_msg_r, su_msg_arg_t*);

  // Called from a foreign thread with commandsMutex_ held: wakes the SIP thread.
  void wake();

  void drainCommands();

  // ---- fetches --------------------------------------------------------------------------------

  void startFetch(const Command& command);

  void finishQueued(const Command& command, FetchOutcome::Kind kind, std::string detail);

  // Ends a pending fetch: drops its transaction (stopping retransmissions) and its Call-ID, so a
  // late NOTIFY is answered 481, and publishes the outcome.
  void finish(uint64_t id, FetchOutcome outcome);

  // The SUBSCRIBE's responses. 1xx/2xx: keep waiting for the NOTIFY (which may have come first).
  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);

  int handleResponse(uint64_t id, nta_outgoing_t* orq, sip_t const* sip);

  // Every request we receive, and every response that matches no transaction (e.g. to a
  // SUBSCRIBE whose fetch already ended, dropped). Requests are answered statelessly: NOTIFYs of
  // fetches and subscriptions in progress are mapped and answered 200; anything else gets the
  // answer RFC 3261/6665 asks for. Without a server transaction a retransmitted NOTIFY (its 200
  // was lost) is handled again: a subscription reports its status twice (the consumer dedups),
  // a finished fetch answers 481 (the notifier already ended that subscription).
  static int onMessage(nta_agent_magic_t* magic, nta_agent_t* agent, msg_t* msg, sip_t* sip);

  // The leg matches no request (see start()); should one arrive anyway, same handling.
  static int onLegRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq,
                          sip_t const* sip);

  int handleRequest(sip_method_t method, sip_t const* sip, const std::optional<IpCidr>& source);

  int handleFetchNotify(uint64_t id, sip_t const* sip);

  // ---- long-lived subscriptions ---------------------------------------------------------------

  void watch(std::string uri);

  void unwatch(const std::string& uri);

  // Sends queued SUBSCRIBEs while fewer than presence.maxSubscribesInFlight are unanswered.
  void pumpSubscribes();

  void sendNewDialog(Subscription& sub);

  void sendRefresh(Subscription& sub);

  // Fire and forget, but the dialog is remembered until its answer (or the deadline), so the
  // notifier's last NOTIFY is still answered 200.
  void sendUnsubscribe(Subscription& sub);

  // A SUBSCRIBE within the dialog (RFC 3261 §12.2.1.1). NTA's default leg has no dialog, so the
  // first hop is given as route_url: the first route (loose routing assumed: ";lr"), else the
  // remote target; a dialog whose 2xx had no Contact goes the initial way, via the presence
  // server.
  NtaOutgoing sendInDialog(Subscription& sub, sip_expires_t* expires);

  // stateless: no transaction (no retransmission, nothing kept; the answer reaches onMessage).
  // NTA may then return NONE ((nta_outgoing_t*)-1) for an object it already freed: never destroy
  // that result.
  nta_outgoing_t* sendInDialogRaw(Subscription& sub, sip_expires_t* expires, bool stateless);

  static int onSubscribeResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq,
                                 sip_t const* sip);

  void handleSubscribeResponse(nta_outgoing_t* orq, sip_t const* sip);

  void onNewDialogResponse(Subscription& sub, ResponseInfo info);

  void onRefreshResponse(Subscription& sub, ResponseInfo info);

  // The dialog got its 2xx and a NOTIFY: healthy again.
  void establish(Subscription& sub);

  // A NOTIFY not of a fetch: of a subscription dialog, of one recently ended, or stray.
  int handleSubscriptionNotify(sip_t const* sip, std::string_view callId, const char* toTag,
                               const std::optional<IpCidr>& source);

  // The subscription whose current dialog has this Call-ID and our tag, if it takes NOTIFYs.
  Subscription* findDialog(std::string_view callId, const char* toTag);

  // One failure of the current dialog (or of the attempt to make one): re-subscribe with a new
  // dialog after the backoff, or give the terminal up after maxSubscribeFailures in a row.
  void fail(Subscription& sub, int sipStatus, std::string detail, uint64_t retryAfterSec = 0);

  void onSubscriptionTimer(Subscription& sub);

  void expireSubscriptionTimers();

  // Replaces the subscription's pending timer (if any) by one at `at`.
  void schedule(Subscription& sub, Clock::time_point at);

  void compactTimers();

  void queueSend(Subscription& sub, SubState state);

  void attachOrq(Subscription& sub, NtaOutgoing orq);

  // Drops the subscription's unanswered transaction (NTA stops reporting it) and its slot.
  void releaseOrq(Subscription& sub);

  static void clearDialog(Subscription& sub);

  static bool isEstablished(SubState state);

  void setState(Subscription& sub, SubState next);

  void forget(Subscription& sub);

  // After the Expires: 0: its answer came (or never will). A late NOTIFY still gets 200.
  void forgetUnsubscribed(Subscription& sub);

  void tombstone(std::string callId);

  bool isTombstoned(std::string_view callId);

  void pruneTombstones(Clock::time_point now);

  void publishCounts();

  // delta +1 before a SUBSCRIBE leaves (stats never lag the network), -1 when it could not.
  void countSent(bool resubscribe, bool refresh, int delta);

  std::string callIdFor(const Subscription& sub) const;

  std::string fromTagFor(const Subscription& sub) const;

  const PresenceConfig& presence() const { return owner_.config_.presence; }

  uint32_t requestedExpiresSec() const;

  std::chrono::milliseconds subscribeTimeout() const;

  // The Expires of a 2xx, or the requested one when absent; never above the requested one
  // (RFC 6665 §4.2.1.1) nor below 1 s.
  uint32_t grantedSeconds(const std::optional<uint64_t>& expires) const;

  // Refresh before expiry, leaving half the duration but at most 60 s for the refresh to land.
  static Clock::time_point refreshTime(Clock::time_point now, uint32_t seconds);

  ResponseInfo readResponse(nta_outgoing_t* orq, sip_t const* sip);

  static std::string describe(const ResponseInfo& info);

  // Record-Route → route set: reversed for the 2xx we received as UAC, in order for a NOTIFY
  // we received as UAS (RFC 3261 §12.1.2 / §12.1.1).
  std::unique_ptr<RouteSet> makeRouteSet(const sip_record_route_t* rr, bool reverse);

  // The URI as text when it may be used as a request's target or route: printable, no white
  // space or control characters, and a sip:/sips: URI our address parser accepts (routing
  // parameters allowed); "" otherwise. What Sofia parsed leniently from the network is not
  // always what it can build a request from again.
  std::string usableUri(const url_t* url);

  bool routesUsable(const sip_record_route_t* rr);

  std::string urlString(const url_t* url);

  static bool isPresenceEvent(sip_t const* sip);

  PresenceMapping mapBody(sip_t const* sip) const;

  // ---- NOTIFY sources -------------------------------------------------------------------------

  // The presence server's host (an IP literal, or a name resolved once here: NTA resolves the
  // same name for every SUBSCRIBE anyway) and the trusted sources of the configuration.
  void resolveNotifySources(const SipConfig& sip);

  static std::optional<IpCidr> responseSource(nta_outgoing_t* orq);

  // A NOTIFY of a dialog is taken from: the presence server or a trusted source, the source of
  // the dialog's 2xx, or the host (IP literal) of its remote target or first route. A NOTIFY
  // that overtakes the 2xx therefore needs the presence server's or a trusted address. Only the
  // IP is compared: over TCP the notifier's source port is an ephemeral one.
  bool notifySourceAllowed(const std::optional<IpCidr>& source, const std::optional<IpCidr>& peer,
                           const std::string* remoteTarget, const std::string* firstHop) const;

  // 403, not 481: the request is understood and names a live dialog, but the sender may not
  // speak for it. 481 would claim the dialog is gone, and a notifier that is legitimate but not
  // configured (a multi-homed presence server) would end the subscription without a trace;
  // a 403 shows in its logs. The body is never looked at.
  int refuseSource();

  // ---- timer ----------------------------------------------------------------------------------

  // Arms the one su_timer for the earliest of: fetch deadlines, subscription timers, the close
  // grace. Entries may be stale: firing early for them costs one wake-up.
  void armTimer();

  static void onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg);

  // Deadlines are pushed in fetch order and all fetches share one timeout, so the queue is sorted.
  void expireDeadlines();

  // ---- shutdown -------------------------------------------------------------------------------

  // Ends every fetch (kShutdown) and every subscription. Each established dialog gets a
  // SUBSCRIBE Expires: 0, sent statelessly (best effort: no retransmission, no transaction kept)
  // and paced like other SUBSCRIBEs by maxSubscribesInFlight; the loop runs until every one was
  // answered, until no answer came for kCloseGrace (a silent notifier, lost datagrams), or for
  // kCloseBudget in all. Dialogs not reached expire at the notifier, and their NOTIFYs meanwhile
  // get 481 from whoever owns the port next. (Sending 100,000 at once would keep 100,000
  // transactions, about 1 GB, until the loop ends.)
  void shutdown();

  void pumpClose();

  // A response that matched no transaction: while closing, maybe to a stateless Expires: 0.
  void onCloseAnswer(sip_t const* sip);

  // Timer work while closing: requests unanswered for kCloseGrace are given up (their slot
  // freed); no answer at all for kCloseGrace ends the wait.
  void expireClose(Clock::time_point now);

  // The earliest moment expireClose has work; drops answered requests from the front.
  Clock::time_point nextCloseDeadline();

  void finishShutdownIfDone();

  void breakLoop();

  static std::string hex(uint64_t value);

  uint32_t elapsedSince(Clock::time_point started) const;

  // Transactions before the leg, the leg before the agent; the root goes last (by the caller).
  void destroy();

 private:
  // How long an ended dialog's Call-ID still gets 200 for its NOTIFYs: a NOTIFY transaction's
  // lifetime over UDP (64 * T1).
  static constexpr std::chrono::seconds kTombstoneLifetime{32};
  // How long close() waits for an answer to its Expires: 0 requests, and in all.
  static constexpr std::chrono::milliseconds kCloseGrace{200};
  static constexpr std::chrono::milliseconds kCloseBudget{2000};
  static constexpr const char* kOutgoingOnlyUrl = "sip:outgoing-only.invalid";

  PresenceWatcher& owner_;
  su_root_t* root_;
  PresenceDocumentMapper mapper_;
  Clock::duration timeout_;
  uint64_t tagPrefix_ = 0;
  uint64_t subPrefix_ = 0;
  std::string routeUrl_;
  SuHome home_;  // owns the pre-parsed headers below; scratch space for header → string
  sip_route_t* route_ = nullptr;
  sip_event_t* event_ = nullptr;
  sip_accept_t* accept_ = nullptr;
  sip_expires_t* expires_ = nullptr;
  sip_expires_t* subExpires_ = nullptr;
  sip_user_agent_t* userAgent_ = nullptr;
  std::string host_;
  NtaAgent agent_;
  NtaLeg leg_;
  SuTimer timer_;
  std::unique_ptr<TcpGuard> tcpGuard_;  // only with the tcp transport
  std::string startProblem_;
  // NOTIFY sources accepted for every dialog: the presence server's addresses and
  // sip.trustedNotifySources.
  std::vector<IpCidr> notifySources_;
  bool timerArmed_ = false;
  Clock::time_point armedAt_{};
  // Fetches.
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
  std::deque<std::pair<Clock::time_point, uint64_t>> deadlines_;
  // Subscriptions: subs_ owns them (node-based: addresses are stable); watched_ indexes the
  // watched ones by URI (its keys view Subscription::uri).
  std::unordered_map<uint64_t, Subscription> subs_;
  std::unordered_map<std::string_view, uint64_t> watched_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> subByOrq_;
  std::deque<uint64_t> sendQueue_;  // FIFO of subscriptions waiting for a transaction slot
  std::vector<TimerEntry> timers_;  // min-heap by time, lazy deletion (TimerEntry::gen)
  std::deque<std::pair<Clock::time_point, std::string>> tombstoneOrder_;
  std::unordered_set<std::string> tombstones_;
  uint64_t nextSubscriptionId_ = 1;
  size_t subsInFlight_ = 0;
  size_t activeCount_ = 0;
  bool shuttingDown_ = false;
  bool broken_ = false;
  // close(): dialogs waiting for their Expires: 0, and those sent but not answered yet.
  std::deque<uint64_t> closeQueue_;
  std::unordered_set<std::string> closePending_;
  std::deque<std::pair<Clock::time_point, std::string>> closeOrder_;
  Clock::time_point closeStartedAt_{};
  Clock::time_point closeProgressAt_{};
};

}  // namespace px
