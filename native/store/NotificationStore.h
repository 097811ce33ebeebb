// Active Terminal Status notifications in SQLite, so that they survive a restart (also SIGKILL),
// and the deliveries decided for them but not yet settled (the outbox, pending_deliveries), so
// that a status change committed as lastSeen is delivered at least once even when the process
// dies before its delivery.
//
// Threads: the constructor and loadAll() run on the caller's thread (start-up). After that every
// write goes through one queue whose owner is the store's writer thread (sqlite::GroupCommitWriter,
// shared with the usage store): save()/remove() enqueue and return at once; the writer commits
// whatever is queued in one transaction (a burst of progress updates costs one commit), retrying
// a busy or failing database by the writer's policy, and then calls each write's Committed
// callback on the writer thread. Later writes of the same notification replace earlier ones still
// queued.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "call/CallMatcher.h"
#include "notify/NotificationEngine.h"
#include "store/GroupCommitWriter.h"
#include "store/Sqlite.h"
#include "store/SqliteDatabase.h"

namespace px {

// A stored row that could not be decoded at load (written by another version, or edited by
// hand). loadAll() moves it to the table quarantined_notifications, where an operator can still
// read it, so that one bad row never stops the gateway; what could be read of it is kept here so
// that the application can be told and the event recorded.
struct QuarantinedNotification {
  std::string requester;   // as far as readable (lenient text)
  std::string correlator;  // likewise
  std::string endpoint;    // likewise; may be unusable
  std::string globalId;    // likewise
  std::string reason;      // what did not decode
  bool moved = false;      // false: moving it failed; it stays in notifications (see reason)
  // A row of pending_deliveries rather than a notification: left in place and reported at every
  // start; the notification itself (if active) goes on.
  bool pendingDelivery = false;
};

// A stored call registration that could not be decoded at load: moved to
// quarantined_call_registrations (like notifications) and reported, never loaded.
struct QuarantinedCallRegistration {
  std::string kind;  // as far as readable (lenient text)
  std::string requester;
  std::string correlator;
  std::string reason;
  bool moved = false;  // false: moving it failed; it stays in call_registrations (see reason)
};

// Writes that must land in one transaction: a state change and the deliveries it caused are
// stored together or not at all.
struct NotificationWrites {
  std::vector<NotificationState> saves;
  std::vector<NotificationKey> removes;
  std::vector<Delivery> deliveries;  // into the outbox until deliveryDone()
  // Of the saves, the notifications this write creates (startNotification). SQLite stores every
  // save as an upsert and ignores it; the clustered store inserts these and updates the others
  // only where this instance still owns them (PgRegistrations.h).
  std::vector<NotificationKey> created;
};

class NotificationStore {
 public:
  // ok=false with a message when the transaction failed after the writer's retries (a busy
  // database, a full disk) or at once for an error of the data (the write is then lost; the
  // caller answers the request with an error).
  using Committed = std::function<void(bool ok, const std::string& error)>;

  // Opens (creating it and its directory if needed) the SQLite file in WAL mode with
  // synchronous=FULL: a committed notification survives power loss. Throws std::runtime_error
  // naming the file when it cannot be opened or is not a notification database.
  explicit NotificationStore(const std::string& path);
  ~NotificationStore();  // close()

  NotificationStore(const NotificationStore&) = delete;
  NotificationStore& operator=(const NotificationStore&) = delete;

  // Every stored notification that decodes, sorted by key. Call before the first write. Rows that
  // do not decode are moved to quarantined_notifications and listed by quarantined(). Throws
  // std::runtime_error naming the file when the table cannot be read at all, std::logic_error
  // after close().
  std::vector<NotificationState> loadAll();
  // The rows the last loadAll() quarantined.
  const std::vector<QuarantinedNotification>& quarantined() const { return quarantined_; }
  // The outbox as the last loadAll() found it, in (requester, correlator, sequence) order: the
  // deliveries to send again. Rows that do not decode are quarantined like notifications.
  const std::vector<Delivery>& pendingDeliveries() const { return pending_; }

  // Inserts or replaces the notification (spec, progress and every address's lastSeen).
  // committed runs on the writer thread, except when the write is refused at once (store
  // closed, or an address/key holding a tab or line break, which the format cannot hold): then
  // it runs before save()/remove() returns, with ok=false. It must not call flush() or close().
  void save(const NotificationState& state, Committed committed = {});
  void remove(const NotificationKey& id, Committed committed = {});
  // saves, removes and outbox entries in one transaction; committed (once) as for save().
  void write(NotificationWrites writes, Committed committed = {});
  // A delivery was settled (delivered, or given up for good): it leaves the outbox.
  void deliveryDone(const NotificationKey& id, uint64_t sequence);

  // --- Call Notification / Call Direction registrations (table call_registrations) ----------
  // Every stored registration that decodes, in start order; call at start-up before the first
  // write. Rows that do not decode are quarantined and listed by quarantinedCalls().
  std::vector<call::CallRegistration> loadCallRegistrations();
  const std::vector<QuarantinedCallRegistration>& quarantinedCalls() const {
    return quarantinedCalls_;
  }
  // Through the same writer and transactions as the notifications; committed as for save().
  void saveCallRegistration(const call::CallRegistration& registration, Committed committed = {});
  void removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                              Committed committed = {});

  // Commits everything queued so far (and runs its Committed callbacks), then returns.
  // Blocks: not on the event loop.
  void flush();
  // flush(), stop the writer thread, close the database. Idempotent; blocks.
  void close();

  const std::string& path() const { return path_; }

 private:
  // One queued write: the latest state of a notification, or its removal (nullopt).
  using Write = std::optional<NotificationState>;
  // One outbox change, kept in order: a delivery to keep, or (nullopt) one settled.
  struct OutboxChange {
    NotificationKey id;
    uint64_t sequence = 0;
    std::optional<Delivery> keep;
  };
  // The writer's queue.
  struct Batch {
    std::map<NotificationKey, Write> writes;  // coalesced: the last write of each key
    std::vector<OutboxChange> outbox;         // in call order, never coalesced
    // Call registrations by (kind, correlator): the latest state, or removal (nullopt).
    std::map<std::pair<call::RegistrationKind, std::string>, std::optional<call::CallRegistration>>
        calls;
    std::vector<Committed> callbacks;  // of every queued write, in call order
    bool empty() const {
      return writes.empty() && outbox.empty() && calls.empty() && callbacks.empty();
    }
    size_t weight() const { return writes.size() + outbox.size() + calls.size(); }
    void clear() {
      writes.clear();
      outbox.clear();
      calls.clear();
      callbacks.clear();
    }
  };
  using Writer = sqlite::GroupCommitWriter<Batch>;

  void prepareStatements();
  // Writes one batch inside the writer's transaction.
  sqlite::WriteStatus writeBatch(const Batch& batch);
  sqlite::WriteStatus writeCalls(const Batch& batch);
  void submitCall(call::RegistrationKind kind, const std::string& correlator,
                  std::optional<call::CallRegistration> registration, Committed committed);
  void finishBatch(Batch& batch, const sqlite::WriteStatus& outcome);
  void loadOutbox(sqlite3* db);
  void quarantine(const std::vector<std::pair<sqlite::Value, sqlite::Value>>& keys);

  std::string path_;
  std::vector<QuarantinedNotification> quarantined_;
  std::vector<Delivery> pending_;
  std::vector<QuarantinedCallRegistration> quarantinedCalls_;

  // Connection and statements: used under the writer's connection lock (the writer's batches,
  // loadAll(), close()).
  sqlite::SqliteDatabase db_;
  sqlite::Stmt upsert_, delete_, keepDelivery_, settleDelivery_, saveCall_, removeCall_;

  std::unique_ptr<Writer> writer_;  // last: its thread uses everything above
};

}  // namespace px
