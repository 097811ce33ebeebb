// The registrations of a clustered service in PostgreSQL (store.backend: postgresql): Terminal
// Status notifications and CAMARA subscriptions with their outbox, call registrations, and the
// lease of every live gateway instance. The schema, its versioned migrations and every statement
// are here; the thread that runs them is cluster::ClusterNode's, which owns the connection.
// Every method blocks on that connection and throws pg::Error.
//
// Schema (component 'registrations' of schema_version, migrated under the same advisory lock
// as the usage schema; a database of a newer version is refused):
//   px_instance(id text PRIMARY KEY, name text, started_at timestamptz, expires_at timestamptz):
//     one row per live instance; id is unique per process start and never reused, so that it is
//     the fencing token of everything the instance owns.
//   notification(the columns of the SQLite notifications table, owner text NULL, quarantined
//     text NULL): owner is the px_instance id holding the notification's SIP subscriptions;
//     NULL = handed over, to be claimed. PRIMARY KEY (requester, correlator) (COLLATE "C": the
//     order of NotificationKey::operator<), index on owner. quarantined: why the row does not
//     decode (set by the claim() that found it, with owner NULL, in its transaction); such a row
//     stays for an operator to read or fix (UPDATE ... SET quarantined = NULL makes it claimable
//     again), is never claimed, found, listed, ended or counted again, so one bad row neither
//     blocks the others nor is reported over and over.
//   pending_delivery(the columns of the SQLite outbox): deliveries decided and not yet settled.
//   call_registration(the columns of the SQLite call_registrations, quarantined text NULL):
//     every instance holds all; a row that does not decode is flagged like a notification by the
//     loadCalls() that found it, and skipped from then on (saveCall() of its key clears it).
// Time: every lease comparison uses the database's clock, never an instance's: now() (the
// transaction's start) for claims and counts; clock_timestamp() for registering and renewing,
// so that a renewal that had to wait for a claimer's lock on its lapsed row sees that it lapsed.
// Notifications (LISTEN/NOTIFY) on channel px_cluster, payloads encoded as length-prefixed
// strings ("<bytes>:<string>", DeliveryRows.h): "ended", owner, requester, correlator (a
// notification deleted by another instance than its owner); "released" (notifications became
// unowned); "calls" (call registrations changed).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "call/CallMatcher.h"
#include "notify/NotificationEngine.h"
#include "store/NotificationStore.h"

namespace px::store {

// What the lease logic needs to balance ownership (PgRegistrations::counts()).
struct ClusterCounts {
  int64_t live = 0;     // instances whose lease has not lapsed (this one included)
  int64_t total = 0;    // stored notifications
  int64_t mine = 0;     // owned by this instance
  int64_t orphans = 0;  // unowned, or owned by an instance whose lease lapsed
  // Not decodable (see the schema above): counted here only, not in total or orphans, so that
  // they never look like work to claim.
  int64_t quarantined = 0;
};

// Notifications taken over by claim(), with their unsettled deliveries.
struct ClaimedNotifications {
  std::vector<NotificationState> states;             // sorted by key
  std::vector<Delivery> outbox;                      // by (key, sequence)
  std::vector<QuarantinedNotification> quarantined;  // claimed rows that did not decode
};

// A fenced write (PgRegistrations::write()).
struct FencedWriteResult {
  // Saves and removes of notifications this instance no longer owns (taken over after its lease
  // lapsed, released, or ended by another instance): not written, nor the deliveries of those
  // keys put into the outbox. The caller drops them.
  std::vector<NotificationKey> lost;
  // Creates whose key is already stored (by any instance): not written; the start fails as a
  // duplicate correlator.
  std::vector<NotificationKey> duplicates;
};

// A notification deleted by an instance that did not own it (takeForEnd()).
struct EndedElsewhere {
  std::string owner;  // "" when it was unowned
  NotificationState state;
};

// The notification channel and its payloads (see above).
inline constexpr const char* kClusterChannel = "px_cluster";
struct ClusterMessage {
  enum class Kind { kEnded, kReleased, kCalls, kUnknown };
  Kind kind = Kind::kUnknown;
  std::string owner;    // kEnded
  NotificationKey key;  // kEnded
};
// kUnknown for anything that is not one of the payloads above (a newer version's, or garbage).
ClusterMessage parseClusterMessage(const std::string& payload);
// The payload of a message (kind names "ended", "released", "calls"; kUnknown encodes as
// "unknown", which parses back as kUnknown). NOTIFY payloads are limited to 8000 bytes.
std::string encodeClusterMessage(const ClusterMessage& message);

class PgRegistrations {
 public:
  // Does not own conn; prepare() must run on it (again after every reconnection).
  explicit PgRegistrations(PGconn* conn) : conn_(conn) {}

  static int schemaVersion();
  // Creates or migrates the tables (advisory lock, one transaction); throws pg::Error, or
  // std::runtime_error for a database of a newer version.
  void migrate();
  void prepare();

  // --- leases (database clock) ---
  // Inserts this instance with expires_at = now() + leaseMs.
  void registerInstance(const std::string& id, const std::string& name, int64_t leaseMs);
  // Extends the lease to now() + leaseMs only while it has not lapsed; false when it had lapsed
  // or the row is gone (another instance may be taking its notifications: it is lost).
  bool renew(const std::string& id, int64_t leaseMs);
  // Clean shutdown: every notification of this instance becomes unowned, its row is deleted, and
  // "released" is notified, in one transaction.
  void leave(const std::string& id);
  // Deletes the rows of instances whose lease lapsed more than graceMs ago (their notifications
  // are orphans already; this only keeps the table small). Returns how many.
  int64_t forgetLapsed(int64_t graceMs);
  ClusterCounts counts(const std::string& id);

  // --- ownership ---
  // Takes at most `quota` orphans (unowned, or of a lapsed instance; oldest created first,
  // FOR UPDATE SKIP LOCKED so that instances claiming together take different rows) for `id`,
  // only while id's own lease has not lapsed, with their outbox. Rows that do not decode are
  // not claimed: listed in quarantined once (flagged, they stay for an operator, unowned; see
  // the schema). Outbox rows that do not decode are listed too (pendingDelivery), left in place.
  ClaimedNotifications claim(const std::string& id, int64_t quota);
  // Hands these notifications over (owner NULL where owner = id) and notifies "released".
  void release(const std::string& id, const std::vector<NotificationKey>& keys);

  // --- writes (one transaction) ---
  // Creates (writes.created, INSERT; an existing key is a duplicate), saves (UPDATE where owner
  // = id), removes (DELETE where owner = id, with their outbox rows) and the deliveries of keys
  // that were written (outbox INSERT ... ON CONFLICT DO NOTHING). Removing a notification also
  // deletes its older outbox rows (no instance would ever claim them); the deliveries of this
  // write are stored after that. A delivery of a key neither saved nor removed here is stored
  // only while id owns that key. Several saves of one key: the last one counts. Throws
  // pg::Error (not connectionLost, nothing written) for an address the encoding cannot hold.
  FencedWriteResult write(const std::string& id, const NotificationWrites& writes);
  // The delivery left the outbox (any instance may settle it).
  void deliveryDone(const NotificationKey& key, uint64_t sequence);
  // Many at once, one statement (a burst of settled deliveries).
  void deliveryDone(const std::vector<std::pair<NotificationKey, uint64_t>>& settled);
  // Deletes a notification whatever its owner (and its outbox) and notifies "ended" to its
  // owner (not when unowned); nullopt when unknown, made by another API than `api`, or not
  // decodable (then nothing is deleted).
  std::optional<EndedElsewhere> takeForEnd(const NotificationKey& key, const std::string& api);
  // One notification / all of them, whatever their owner (admin and CAMARA reads); rows that
  // do not decode are left out.
  std::optional<NotificationState> find(const NotificationKey& key);
  std::vector<NotificationState> list();

  // --- call registrations (every instance holds all of them) ---
  // In start order; rows that do not decode are flagged (see the schema) and listed once.
  std::vector<call::CallRegistration> loadCalls(
      std::vector<QuarantinedCallRegistration>* quarantined);
  // Upsert; notifies "calls". Throws pg::Error (not connectionLost) when the registration does
  // not fit the encoding (callRegistrationUnstorable).
  void saveCall(const call::CallRegistration& registration);
  // Notifies "calls" when there was such a registration.
  void removeCall(call::RegistrationKind kind, const std::string& correlator);

 private:
  PGconn* conn_;
};

}  // namespace px::store
