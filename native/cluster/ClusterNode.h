// One gateway instance as a member of a clustered service (store.backend: postgresql,
// docs/cluster.md): its registrations store in PostgreSQL (store::PgRegistrations), its lease,
// and the ownership of notifications (claim, hand over, fencing).
//
// Threads and owners:
//   - the node's thread (px-cluster) owns the PostgreSQL connection, the LeaseKeeper, the
//     instance id and the set of keys it believes it owns; nothing else touches them.
//   - the request queue (mutex_; owner: the node's thread, which takes it whole): writes,
//     hand-overs, ends of other instances' notifications, call registration changes and settled
//     deliveries, posted by the JS thread (GatewayCore through the ports). Posting wakes the
//     thread through an eventfd; the same poll() waits for the database's NOTIFYs.
//   - the event queue (eventsMutex_; owner: the consumer, GatewayCore on the JS thread through
//     takeEvents()): notifications adopted, notifications to drop, hand-over requests, call
//     registrations reloaded, answers to ends. Going non-empty calls `signal` once.
// Commit callbacks (Committed) run on the node's thread, as the SQLite writer's do.
//
// Lease: registered at start (blocking, in the constructor) and renewed every renewMs; when a
// renewal is refused or the local view of the lease ends (LeaseKeeper), every notification is
// dropped at once (kDropAll) and the instance registers again under a new id, then claims like
// a new member. Ownership is balanced (cluster::balance) at every renewal and whenever another
// instance hands notifications over ("released").
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "call/CallMatcher.h"
#include "cluster/Lease.h"
#include "common/UniqueFd.h"
#include "notify/NotificationEngine.h"
#include "store/Backoff.h"
#include "store/NotificationStore.h"
#include "store/Pg.h"
#include "store/PgRegistrations.h"

namespace px::cluster {

struct ClusterOptions {
  std::string url;
  unsigned connectTimeoutSec = 5;
  std::string instanceName;  // shown to operators; the id is unique per start
  LeaseTiming timing;
  bool balance = true;
  uint32_t reconnectBackoffMs = 200;
  uint32_t reconnectBackoffMaxMs = 5000;
};

// An end asked on this instance for a notification it does not own (endNotification,
// CAMARA DELETE, the operator's terminate).
struct RemoteEnd {
  enum class Kind { kEnd, kTerminate };
  Kind kind = Kind::kEnd;
  NotificationKey key;
  std::string api;                             // kEnd: the API asking ("" = Parlay X)
  std::string reason;                          // kTerminate
  NotificationStore::Committed done;           // run by the consumer once it applied the answer
  std::optional<store::EndedElsewhere> found;  // the answer: nullopt when unknown
  std::string error;                           // the database failed (found is nullopt)
};

// A read of the stored notifications of the whole service (any owner): one by key, or all of
// them (of one requester when given). Answered in events().reads.
struct StoredRead {
  uint64_t id = 0;                        // the consumer's
  std::optional<NotificationKey> key;     // one notification
  std::optional<std::string> requester;   // all of one requester (no key)
  std::vector<NotificationState> states;  // the answer
  std::string error;                      // the database failed
};

struct ClusterEvents {
  store::ClaimedNotifications adopted;   // taken over: restore them, send their outbox
  std::vector<NotificationKey> dropped;  // no longer ours: forget them without a word
  bool dropAll = false;                  // the lease was lost: forget every notification
  int64_t handOver = 0;                  // balancing: hand this many over (release())
  std::optional<std::vector<call::CallRegistration>> calls;  // reloaded: replace them
  std::vector<RemoteEnd> ends;                               // answered
  std::vector<StoredRead> reads;                             // answered
  bool empty() const {
    return adopted.states.empty() && adopted.outbox.empty() && adopted.quarantined.empty() &&
           dropped.empty() && !dropAll && handOver == 0 && !calls && ends.empty() && reads.empty();
  }
};

struct ClusterStatus {
  std::string instanceId;
  std::string instanceName;
  bool connected = false;
  bool leaseHeld = false;
  int64_t owned = 0;        // notifications this instance owns (as far as it knows)
  int64_t live = 0;         // live instances at the last renewal
  int64_t total = 0;        // stored notifications at the last renewal
  uint64_t claimed = 0;     // notifications taken over since start
  uint64_t handedOver = 0;  // released since start
  uint64_t leaseLosses = 0;
  uint64_t fencedWrites = 0;  // writes refused because another instance owned the key
};

class ClusterNode {
 public:
  using Committed = NotificationStore::Committed;
  using Signal = std::function<void()>;

  // Connects, migrates the schema, registers this instance, loads the call registrations (all
  // blocking: start-up); throws std::runtime_error naming the database when it cannot. Nothing
  // is claimed yet: the thread's first turn does it.
  ClusterNode(ClusterOptions options, Signal signal);
  ~ClusterNode();  // close(false)
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // The call registrations as loaded at start.
  std::vector<call::CallRegistration> takeInitialCalls() { return std::move(initialCalls_); }
  const std::vector<QuarantinedCallRegistration>& quarantinedCalls() const {
    return quarantinedCalls_;
  }

  // Any thread. committed as NotificationStore's (node thread; at once when closed). A created
  // key another instance holds fails with kDuplicateError; a save of a key this instance lost
  // is dropped (kDropped event) and reported ok=false with kLostError.
  void write(NotificationWrites writes, Committed committed);
  void saveCallRegistration(const call::CallRegistration& registration, Committed committed);
  void removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                              Committed committed);
  void deliveryDone(const NotificationKey& id, uint64_t sequence);
  // The consumer forgot these (a handOver request): they become unowned.
  void release(std::vector<NotificationKey> keys);
  // Deletes another instance's notification; the answer comes back in events().ends.
  void endElsewhere(RemoteEnd request);
  // Reads the service's stored notifications; the answer comes back in events().reads.
  void read(StoredRead request);

  ClusterEvents takeEvents();
  ClusterStatus status() const;

  // Commits what is queued; with handOver, every owned notification becomes unowned and the
  // instance leaves (others take over at once); then the thread ends. Idempotent; blocks.
  void close(bool handOver);

  static constexpr const char* kDuplicateError = "duplicate correlator";
  static constexpr const char* kLostError = "notification owned by another instance";
  // Writes merged into one transaction at most (a longer burst renews the lease in between).
  static constexpr size_t kMaxWritesPerTransaction = 1000;

 private:
  struct Requests {
    // Deques: served from the front, one by one (a failure fails what is left).
    std::deque<std::pair<NotificationWrites, Committed>> writes;
    std::deque<std::pair<call::CallRegistration, Committed>> callSaves;
    std::deque<std::tuple<call::RegistrationKind, std::string, Committed>> callRemoves;
    std::vector<std::pair<NotificationKey, uint64_t>> settled;
    std::vector<NotificationKey> releases;
    std::deque<RemoteEnd> ends;
    std::deque<StoredRead> reads;
    bool empty() const {
      return writes.empty() && callSaves.empty() && callRemoves.empty() && settled.empty() &&
             releases.empty() && ends.empty() && reads.empty();
    }
  };

  void run();
  void wake();
  bool ensureConnected(int64_t nowMs);
  void connectAndListen();
  void disconnected(const std::exception& e, int64_t nowMs);
  void serve(Requests& requests);
  void failAll(Requests& requests, const std::string& error);
  void consumeNotifies(bool* balanceNow);
  void tick(int64_t nowMs);
  void renewIfDue(int64_t nowMs);
  void register_(int64_t nowMs);
  void loseLease();
  void post(const std::function<void(ClusterEvents&)>& fill);
  void reloadCalls();
  int64_t steadyMs() const;

  ClusterOptions options_;
  Signal signal_;
  UniqueFd wakeFd_;

  // The node thread's (see above).
  pg::Conn conn_;
  std::string instanceId_;
  LeaseKeeper lease_;
  std::set<NotificationKey> owned_;
  ReconnectBackoff backoff_;
  bool balanceNow_ = true;
  int64_t handOverPending_ = 0;  // asked of the consumer, its release() not yet served
  std::vector<NotificationKey> pendingReleases_;  // released while the database was away
  std::string lastError_;
  uint64_t renewals_ = 0;
  // Since when orphans wait beyond this instance's fair share (tick(): left to others a while).
  std::optional<int64_t> orphansOverShareSinceMs_;

  std::vector<call::CallRegistration> initialCalls_;
  std::vector<QuarantinedCallRegistration> quarantinedCalls_;

  mutable std::mutex mutex_;  // requests_, stopping_, status_
  Requests requests_;
  bool stopping_ = false;
  bool handOver_ = false;
  ClusterStatus status_;

  std::mutex eventsMutex_;
  ClusterEvents events_;

  std::thread thread_;  // last: it uses everything above
};

}  // namespace px::cluster
