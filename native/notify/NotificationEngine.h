// The Terminal Status notification engine (ES 202 391-8 §8.2/§8.3): which statusNotification,
// statusError and statusEnd to send, and when. Pure logic: no threads, no I/O, time passed in.
//
// Owner: one thread (the Node binding calls it on the JS thread). The SIP side reports terminal
// statuses (onStatus) and dead subscriptions (onSubscriptionFailed); the engine answers with
// EngineEffects: deliveries for the application, SIP subscriptions to start or end, and the
// notifications whose stored state changed.
//
// Semantics (decided here, documented in README "Terminal Status notifications"):
// - Terminals are keyed by `key` (their SIP Request-URI): several notifications, of one or many
//   requesters, watching the same terminal share one SIP subscription (watch/unwatch effects are
//   emitted only when the first watcher arrives / the last one leaves).
// - Per (notification, address) the engine keeps the last status it saw. A status different from
//   it is a change; a change into a status of the criteria (empty criteria: any status) becomes
//   pending for that address, a change into a status outside the criteria cancels the address's
//   pending entry ("the latest status wins"). The first status seen is a baseline, not a change,
//   except with checkImmediate, where it is reported if it matches the criteria.
// - Frequency: at most one statusNotification per frequencyMs per notification. Pending entries
//   go out together, one StatusInformation per address, when the window opens.
// - count: the count-th statusNotification is followed by statusEnd and the notification ends.
//   Expiry (expiresAtMs) sends statusEnd and ends it; pending entries are dropped. end() ends it
//   without statusEnd.
// - A failed subscription sends statusError (SVC0001) for that address to each notification
//   watching it and removes the address; a notification left without addresses ends (no
//   statusEnd: statusError already told the application).
// - Event APIs (spec.api not empty: CAMARA Device Reachability Status Subscriptions, whose
//   registrations share the terminals, SIP subscriptions, store and deliveries of the Parlay X
//   ones) differ in three points, so that every event the API defines is decided here:
//   * criteria are the statuses that enter the subscribed state; empty means none (not every
//     status), and a change between two statuses of the criteria is not reported (the device
//     stayed in the state: Reachable -> Busy when both are "reachable for data");
//   * every end is told with a kStatusEnd carrying its EndReason: expiry, count reached, end()
//     (deleted by its owner), terminate() and a failed subscription (kTerminated, with the
//     reason in text) -- no statusError;
//   * end() only ends a notification of the API it is asked for (a Parlay X endNotification
//     cannot end a CAMARA subscription, nor the reverse).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "presence/TerminalStatus.h"

namespace px {

using TimeMs = int64_t;  // milliseconds since the Unix epoch (wall clock: survives restarts)

struct NotificationKey {
  std::string requester;  // "" until requester authentication exists
  std::string correlator;
  bool operator<(const NotificationKey& o) const {
    return requester != o.requester ? requester < o.requester : correlator < o.correlator;
  }
  bool operator==(const NotificationKey& o) const {
    return requester == o.requester && correlator == o.correlator;
  }
};

struct WatchedAddress {
  std::string address;  // as the application wrote it: reported back in notifications
  std::string key;      // the terminal's SIP Request-URI (shared subscriptions are keyed by it)
  std::optional<TerminalStatus> lastSeen;  // last status seen for this address (persisted)
};

struct NotificationSpec {
  NotificationKey id;
  std::string endpoint;       // application's TerminalStatusNotification endpoint
  std::string interfaceName;  // SimpleReference.interfaceName, informational
  std::string globalId;       // GLOBALID of the startNotification; shared by its deliveries
  std::vector<WatchedAddress> addresses;  // terminals (groups expanded by the caller), distinct
  std::vector<TerminalStatus> criteria;   // empty: every status
  bool checkImmediate = false;
  int64_t frequencyMs = 0;  // minimum gap between two statusNotifications
  TimeMs createdAtMs = 0;
  TimeMs expiresAtMs = 0;              // statusEnd when reached
  std::optional<uint32_t> countLimit;  // statusEnd after this many statusNotifications
  // The API that made it: "" = Parlay X Terminal Status; else an event API (see above), e.g.
  // "camara-drs-subscriptions-v0.7". Deliveries carry it, so that they are sent in its format.
  std::string api;
  // The API's own fields (JSON text for CAMARA: types, sink credential ...); opaque here, kept by
  // the store and carried by every delivery (a subscription-ends is sent after the end).
  std::string extension;
};

// What changes as notifications are sent; stored with the spec so a restart continues.
struct NotificationProgress {
  uint32_t sent = 0;          // statusNotifications generated so far
  TimeMs lastSentAtMs = 0;    // when the last one was generated (0: none yet)
  uint64_t nextSequence = 0;  // sequence number of the next delivery (see Delivery::sequence)
};

struct Delivery {
  enum class Kind { kStatusNotification, kStatusError, kStatusEnd };
  // Why a notification ended (kStatusEnd; event APIs report it, Parlay X's statusEnd has none).
  enum class EndReason { kNone, kExpired, kCountReached, kDeleted, kTerminated };
  Kind kind = Kind::kStatusNotification;
  EndReason endReason = EndReason::kNone;
  TimeMs atMs = 0;        // when the engine decided it (the event's time)
  std::string api;        // NotificationSpec::api of its notification
  std::string extension;  // NotificationSpec::extension of its notification
  NotificationKey id;
  std::string endpoint;
  std::string globalId;
  uint64_t sequence = 0;  // increasing per notification: deliver one correlator's in this order
  // kStatusNotification: (address as the application wrote it, status), in address order.
  std::vector<std::pair<std::string, TerminalStatus>> statuses;
  // kStatusError: the address ("" = the whole notification) and a ServiceError.
  std::string address;
  std::string messageId;  // e.g. SVC0001
  std::string text;       // e.g. "A service error occurred. Error code is %1"; kStatusEnd: detail
  std::vector<std::string> variables;
};

struct EngineEffects {
  std::vector<Delivery> deliveries;      // in the order they must be sent
  std::vector<std::string> watch;        // terminal keys that need a SIP subscription now
  std::vector<std::string> unwatch;      // terminal keys no notification watches any more
  std::vector<NotificationKey> changed;  // spec/progress changed: save them (may repeat)
  std::vector<NotificationKey> ended;    // gone: delete them from the store
};

// A notification as the admin API and the store see it.
struct NotificationState {
  NotificationSpec spec;
  NotificationProgress progress;
};

class NotificationEngine {
 public:
  enum class StartResult { kStarted, kDuplicateCorrelator };

  NotificationEngine() = default;
  // Not copyable: the terminal table and the deadline sets point into notifications_ (a move
  // keeps the nodes, so those pointers stay valid).
  NotificationEngine(const NotificationEngine&) = delete;
  NotificationEngine& operator=(const NotificationEngine&) = delete;
  NotificationEngine(NotificationEngine&&) = default;
  NotificationEngine& operator=(NotificationEngine&&) = default;

  // Adds a notification. Addresses whose terminal status is already known (another notification
  // watches it) get lastSeen set at once and, with checkImmediate, are reported in this call.
  StartResult start(NotificationSpec spec, TimeMs now, EngineEffects& out);

  // Puts back a stored notification after a restart. One whose expiresAtMs passed gets statusEnd
  // and ends; the others watch their terminals again (lastSeen kept: a status that changed while
  // the gateway was down is reported on the first NOTIFY). checkImmediate is not repeated.
  void restore(NotificationState state, TimeMs now, EngineEffects& out);

  // endNotification: false when unknown or made by another API than `api`. No statusEnd (event
  // APIs: statusEnd kDeleted).
  bool end(const NotificationKey& id, EngineEffects& out, const std::string& api = "",
           TimeMs now = 0);

  // Another gateway instance owns it now (clustered service): it leaves this engine without any
  // delivery (its owner goes on with it); unwatch effects as for an end, and it is listed in
  // `ended` so that the caller can tidy up, but the caller must not delete it from the store.
  // false when unknown.
  bool forget(const NotificationKey& id, EngineEffects& out);

  // The operator ends a notification (admin API): statusError for the whole notification
  // (address "", SVC0001 with `reason`), then it ends without statusEnd (event APIs: statusEnd
  // kTerminated with `reason`). false when unknown.
  bool terminate(const NotificationKey& id, const std::string& reason, EngineEffects& out,
                 TimeMs now = 0);

  // A NOTIFY mapped to a status for terminal `key`.
  void onStatus(const std::string& key, TerminalStatus status, TimeMs now, EngineEffects& out);

  // Terminal `key`'s subscription lost its dialog and is being set up again: its last status is
  // no longer known to be current (liveStatus() says nothing until the next onStatus).
  void onSubscriptionInterrupted(const std::string& key);

  // The status of terminal `key` as its running subscription last reported it; nullopt when no
  // notification watches it, no NOTIFY arrived yet, or the dialog was lost since. The presence
  // server NOTIFYs every change while the dialog lives, so this is the terminal's current status.
  std::optional<TerminalStatus> liveStatus(const std::string& key) const;

  // The SIP side gave up on terminal `key` (after its configured number of failures).
  void onSubscriptionFailed(const std::string& key, const std::string& reason, TimeMs now,
                            EngineEffects& out);

  // Sends what is due by `now`: expiries (statusEnd) and opened frequency windows.
  void advance(TimeMs now, EngineEffects& out);

  // Earliest time advance() has work, if any.
  std::optional<TimeMs> nextDeadline() const;

  const NotificationState* find(const NotificationKey& id) const;
  std::vector<NotificationKey> keys() const;  // sorted
  size_t size() const;
  size_t watchedTerminals() const;  // distinct keys with a SIP subscription wanted

 private:
  // Per address of a notification, not persisted (a restart loses pending entries; lastSeen,
  // which is persisted, makes the first NOTIFY after it report a change again).
  struct AddressRuntime {
    std::optional<TerminalStatus> pending;  // to report when the frequency window opens
    bool awaitingFirst = false;             // checkImmediate: report the first status seen
  };
  struct Entry {
    NotificationState state;
    std::vector<AddressRuntime> runtime;  // parallel to state.spec.addresses
    std::vector<uint32_t> pendingOrder;   // indices whose pending is set (sorted when sent)
    std::optional<TimeMs> windowAt;       // when it is in windows_
    bool touched = false;                 // scratch flag of onStatus (dedupes its watchers)
  };
  struct Watcher {
    Entry* entry;
    uint32_t index;  // into entry->state.spec.addresses
  };
  // One per watched key: its last status and who watches it.
  struct Terminal {
    std::optional<TerminalStatus> status;
    bool live = false;              // status came from the dialog that still runs (see liveStatus)
    std::vector<Watcher> watchers;  // in arrival order (delivery order of a NOTIFY)
  };
  struct Deadline {
    TimeMs at;
    Entry* entry;
  };
  struct DeadlineLess {
    bool operator()(const Deadline& a, const Deadline& b) const;
  };

  void attach(Entry& e, EngineEffects& out);
  bool applyStatus(Entry& e, uint32_t index, TerminalStatus status, EngineEffects& out);
  void setPending(Entry& e, uint32_t index, TerminalStatus status);
  void clearPending(Entry& e, uint32_t index);
  void unscheduleWindow(Entry& e);
  bool flush(Entry& e, TimeMs now, EngineEffects& out);  // true: e ended (and is gone)
  void removeAddress(Entry& e, uint32_t index);
  void finish(Entry& e, EngineEffects& out);  // ends e (ended, unwatch); e is gone after
  static Delivery& newDelivery(Entry& e, Delivery::Kind kind, TimeMs now, EngineEffects& out);
  static void endWith(Entry& e, Delivery::EndReason reason, const std::string& text, TimeMs now,
                      EngineEffects& out);  // kStatusEnd with its reason (not finish())

  std::map<NotificationKey, Entry> notifications_;  // nodes are stable: Entry* stays valid
  std::unordered_map<std::string, Terminal> terminals_;
  std::set<Deadline, DeadlineLess> expiries_;  // every notification, by expiresAtMs
  std::set<Deadline, DeadlineLess> windows_;   // those with pending entries, by window opening
};

}  // namespace px
