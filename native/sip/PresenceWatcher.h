// The gateway's SIP presence watcher (IMS Pw reference point), built on Sofia-SIP's transaction
// layer (NTA).
//
// Threads: one SIP thread per watcher (a SipStack) owns every Sofia object (root, agent,
// transactions, timer) and the two presence roles on it, FetchRole and SubscriptionRole; nothing
// Sofia crosses to another thread. Three queues cross the boundary:
// - the command queue (owner: the SIP thread, which drains it): any thread enqueues fetches,
//   watches and unwatches and wakes the SIP thread with one su_msg per batch;
// - the outcome queue (fetches) and the subscription-event queue (watches), both owned by the
//   consumer (e.g. the Node binding): the SIP thread appends to them and calls the one
//   OutcomeSignal each time either queue goes from empty to non-empty (fetch() after close() does
//   the same on the caller's thread); the consumer calls takeOutcomes() and
//   takeSubscriptionEvents() from its own thread, ideally both on every signal.
//
// Two kinds of presence requests:
// - fetch(): one-shot SUBSCRIBE Expires: 0 (getStatus), exactly one FetchOutcome each;
// - watch()/unwatch(): long-lived subscriptions (startNotification; RFC 6665 subscriber), kept
//   alive by refreshes and re-subscribed with backoff after failures; they report every NOTIFY's
//   status as a SubscriptionEvent, and one kFailed when the watcher gives up on a terminal.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/GatewayConfig.h"
#include "presence/TerminalStatus.h"
#include "sip/SipStack.h"

namespace px {

class FetchRole;
class ListFetchRole;
class ListWatchRole;
class NotifySources;
class SourceCombiner;
class SubscriptionRole;

struct FetchOutcome {
  enum class Kind {
    kStatus,       // a NOTIFY was mapped (or ended without a document): `status` is set
    kSipError,     // the SUBSCRIBE got a final non-2xx answer: `sipStatus`, `detail`
    kTimeout,      // no usable NOTIFY within presence.fetchTimeoutMs
    kBadDocument,  // the NOTIFY body could not be mapped: `detail` says why
    kShutdown,     // the watcher closed before the fetch finished
  };
  uint64_t id = 0;
  Kind kind = Kind::kTimeout;
  TerminalStatus status = TerminalStatus::kUnreachable;
  int sipStatus = 0;  // final SUBSCRIBE response code, 0 when none arrived
  std::string detail;
  uint32_t elapsedMs = 0;
};

const char* toString(FetchOutcome::Kind kind);

// What a long-lived subscription reports.
struct SubscriptionEvent {
  enum class Kind {
    kStatus,  // a NOTIFY was mapped: `status` (sent for every NOTIFY; the consumer dedups)
    kFailed,  // presence.maxSubscribeFailures consecutive failures: the terminal is forgotten
    // The dialog was lost (refresh failed, terminated, no answer) and a new one will be tried:
    // the last status may be stale until the next kStatus.
    kInterrupted,
  };
  Kind kind = Kind::kStatus;
  std::string requestUri;                                // the key given to watch()
  TerminalStatus status = TerminalStatus::kUnreachable;  // kStatus: mapped from a NOTIFY
  int sipStatus = 0;   // kFailed: last SIP status seen (0 none, 408 no answer)
  std::string detail;  // kFailed: why the last attempt failed (human readable)
};

const char* toString(SubscriptionEvent::Kind kind);

struct WatcherStats {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t inFlight = 0;
  uint64_t timeouts = 0;
  uint64_t sipErrors = 0;
  uint64_t strayRequests = 0;  // NOTIFYs of no fetch or subscription in progress: 481
  // Long-lived subscriptions.
  uint64_t subscriptions = 0;         // watched terminals
  uint64_t subscriptionsActive = 0;   // of those, with an established dialog
  uint64_t subscribeRequests = 0;     // SUBSCRIBEs sent: new dialogs, refreshes, unsubscribes
  uint64_t refreshes = 0;             // in-dialog refresh SUBSCRIBEs sent
  uint64_t resubscribes = 0;          // new dialogs started after a failure
  uint64_t subscriptionFailures = 0;  // terminals given up on (kFailed emitted)
  // Hardening (issue 12).
  uint64_t notifySourceRefused = 0;  // in-dialog NOTIFYs from a source not of the dialog: 403
  uint64_t tcpConnections = 0;       // inbound SIP TCP connections open (as of the last sweep)
  uint64_t tcpRefused = 0;           // inbound connections closed over the caps
  uint64_t tcpIdleClosed = 0;        // inbound connections closed after sip.tcp.idleTimeoutMs
  // Resource lists (presence.resourceLists; ListFetchRole).
  uint64_t listFetches = 0;       // group fetches through a resource list server
  uint64_t listSubscribes = 0;    // list SUBSCRIBEs sent (initial, restarts, Expires: 0)
  uint64_t membersFromLists = 0;  // member outcomes answered from list NOTIFYs
  uint64_t memberFallbacks = 0;   // members of list fetches fetched per terminal instead
  uint64_t listFallbacks = 0;     // list fetches the server did not serve as a list
  uint64_t listVersionGaps = 0;   // partial list states with a version gap
};

class PresenceWatcher {
 public:
  // Called when outcomes become available (on the SIP thread, or on the caller's thread for a
  // fetch() after close()); must not block.
  using OutcomeSignal = std::function<void()>;

  // Binds the SIP transports and starts the SIP thread; throws std::runtime_error when the stack
  // cannot start (e.g. the port is in use). `extraRoles` runs on the SIP thread after the
  // presence roles are added: other roles of the same thread (the call AS, CallServer::setup).
  PresenceWatcher(const GatewayConfig& config, OutcomeSignal signal,
                  SipStack::Setup extraRoles = {});
  // The stack, for fronts of the extra roles that post commands to it (SipStack::post).
  SipStack& stack() { return *stack_; }
  ~PresenceWatcher();

  PresenceWatcher(const PresenceWatcher&) = delete;
  PresenceWatcher& operator=(const PresenceWatcher&) = delete;

  // Starts a one-shot presence fetch (SUBSCRIBE Expires: 0) of a SIP/tel Request-URI. Thread-safe.
  // The fetch always ends with exactly one outcome, within fetchTimeoutMs of this call.
  // With wakeNow false the SIP thread is only woken by the next flush() (or a later fetch with
  // wakeNow): a caller that starts many fetches in a burst pays one thread wake-up for all.
  uint64_t fetch(const std::string& requestUri, bool wakeNow = true);

  // Fetches the members of a resource list with one list SUBSCRIBE (RFC 4662, ListFetchRole)
  // when presence.resourceLists.enabled, else one fetch each; returns one fetch id per member,
  // in order, each ending with exactly one outcome as fetch() does. Thread-safe.
  std::vector<uint64_t> fetchList(const std::string& listUri,
                                  const std::vector<std::string>& requestUris, bool wakeNow = true);

  // Wakes the SIP thread if fetches are queued and no wake-up is already on its way. Thread-safe.
  void flush();

  // Takes every outcome queued so far. Thread-safe.
  std::vector<FetchOutcome> takeOutcomes();

  // Starts a long-lived presence subscription of a SIP/tel Request-URI (SUBSCRIBE Expires:
  // presence.subscriptionExpiresSec), kept until unwatch(), close() or a kFailed event. A no-op
  // when the URI is already watched. Thread-safe; wakeNow as for fetch().
  void watch(const std::string& requestUri, bool wakeNow = true);

  // Ends a subscription started by watch(): an established dialog gets SUBSCRIBE Expires: 0 (its
  // answer and final NOTIFY are absorbed, nothing more is reported); a no-op when not watched.
  // watch() of the same URI afterwards starts a new dialog. Thread-safe; wakeNow as for fetch().
  void unwatch(const std::string& requestUri, bool wakeNow = true);
  // Notifications on a group (presence.resourceLists): one long-lived list subscription to
  // `listUri` reports the statuses of `keys` as their own subscriptions would (ListWatchRole);
  // without resource lists, each key is watched on its own. unwatchList ends it (same keys).
  void watchList(const std::string& listUri, const std::vector<std::string>& keys,
                 bool wakeNow = true);
  void unwatchList(const std::string& listUri, const std::vector<std::string>& keys,
                   bool wakeNow = true);

  // Takes every subscription event queued so far. Thread-safe.
  std::vector<SubscriptionEvent> takeSubscriptionEvents();

  // Ends pending fetches with kShutdown and every subscription: each established dialog gets a
  // SUBSCRIBE Expires: 0, best effort: sent once (no retransmission), at most
  // maxSubscribesInFlight unanswered at a time, and only while the notifier keeps answering
  // (no answer for 200 ms ends it) and for at most 2 s in all; nothing is reported for them.
  // Dialogs not reached simply expire at the notifier. Then shuts the stack down and joins the
  // thread. Blocks; call it off the event loop. Idempotent. watch()/unwatch() afterwards do
  // nothing.
  void close();

  WatcherStats stats() const;
  uint16_t sipPort() const { return sipPort_; }

 private:
  class Queues;  // the outcome and event queues and the stats (PresenceWatcher.cc)

  const GatewayConfig config_;
  uint16_t sipPort_ = 0;
  std::atomic<uint64_t> nextId_{1};
  // Owner: the consumer. The SIP thread appends through the PresenceSink it implements.
  std::unique_ptr<Queues> queues_;
  // presence.source "both" only; SIP thread only (created by the stack's setup): the roles of
  // both packages report into it, it reports the combined statuses into queues_. Declared
  // before stack_ so that it outlives the roles.
  std::unique_ptr<SourceCombiner> combiner_;
  // The SIP thread and its command queue (owner: the SIP thread, which drains it).
  std::unique_ptr<SipStack> stack_;
  // SIP thread only: created by the stack's setup, used by commands run with CommandRun::kRun.
  std::unique_ptr<NotifySources> sources_;
  // The roles of presence.source's package ("reg" for "both"), and with "both" those of the
  // presence package beside them.
  FetchRole* fetches_ = nullptr;
  SubscriptionRole* subscriptions_ = nullptr;
  FetchRole* presenceFetches_ = nullptr;
  ListFetchRole* listFetches_ = nullptr;  // presence.resourceLists.enabled with source presence
  ListWatchRole* listWatches_ = nullptr;  // idem
  SubscriptionRole* presenceSubscriptions_ = nullptr;
};

}  // namespace px
