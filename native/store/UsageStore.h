// Durable SQLite store of usage record rows (seeds/004 layout), written by one writer thread.
//
// Table (schema version 1 in PRAGMA user_version; WAL journal mode):
//   USAGE_RECORD(RECORDID TEXT, SEGMENT INTEGER, GLOBALID TEXT, SERVICE TEXT, HOST TEXT,
//                EVENTTYPE TEXT, RECORDTIME TEXT, STATUSCODE INTEGER, SERVICEDATA TEXT,
//                PRIMARY KEY (RECORDID, SEGMENT)), every column NOT NULL.
//   RECORDTIME is UTC ISO-8601 text with milliseconds, "2026-11-24T16:01:02.345Z" (see
//   RecordTime.h): fixed width, so text order is time order.
//   Indexes: (RECORDTIME, RECORDID, SEGMENT) for time ranges and paging, (GLOBALID),
//   (EVENTTYPE, RECORDTIME).
//
// Opening, the queue, the writer thread, group commit and the retry policy are the shared base
// (store/SqliteDatabase.h, store/GroupCommitWriter.h); this store adds its table, admission,
// tickets and per-append outcomes.
//
// Writing. append() may be called from any thread; rows go to a bounded in-memory queue and the
// store's single writer thread inserts them with reused prepared statements, one transaction per
// batch (everything queued when the writer wakes). Each append is atomic: all its rows commit or
// none do. Outcomes are reported per append (ticket or callback), never dropped silently.
//   kDurable: synchronous=FULL; the writer commits as soon as it has rows (group commit), and an
//     append reported committed survives power loss.
//   kBatched: synchronous=NORMAL; rows are committed at most flushIntervalMs after they were
//     queued (sooner when a quarter of queueCapacity is waiting). Loss window: rows accepted in
//     the last flushIntervalMs plus one commit's duration are lost on a process crash (under
//     sustained overload the backlog is longer, bounded by queueCapacity rows); on power loss or
//     OS crash, WAL+NORMAL may also roll back commits not yet synced by a checkpoint. Rows
//     reported committed survive a process crash.
//
// Full queue (queueCapacity rows, counting queued rows and the batch being written):
//   append() never waits: it returns accepted=false, reason kQueueFull and stats().rejectedFull
//   counts it; appendBlocking() waits up to a timeout for room instead (backpressure).
//
// Write errors (SQLITE_BUSY after busyTimeoutMs, disk full, I/O errors) roll the batch back and
// retry it writeRetries times with doubling backoff from retryBackoffMs; then every append of the
// batch is reported not committed and counted in stats().writeErrors. A row that can never be
// written (e.g. a duplicate (RECORDID, SEGMENT)) fails only its own append, at once.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/GroupCommitWriter.h"
#include "store/RecordTime.h"
#include "store/Sqlite.h"
#include "store/SqliteDatabase.h"
#include "store/UsageRowStore.h"
#include "usage/UsageRecord.h"

namespace px {

// The columns of USAGE_RECORD in table order: the insert and select lists.
inline constexpr const char* kUsageColumns =
    "RECORDID, SEGMENT, GLOBALID, SERVICE, HOST, EVENTTYPE, RECORDTIME, STATUSCODE, SERVICEDATA";

// The table and its indexes as the store creates them (exposed for the raw-SQLite bench).
inline constexpr const char* kUsageCreateTable =
    "CREATE TABLE USAGE_RECORD ("
    " RECORDID TEXT NOT NULL,"
    " SEGMENT INTEGER NOT NULL,"
    " GLOBALID TEXT NOT NULL,"
    " SERVICE TEXT NOT NULL,"
    " HOST TEXT NOT NULL,"
    " EVENTTYPE TEXT NOT NULL,"
    " RECORDTIME TEXT NOT NULL,"
    " STATUSCODE INTEGER NOT NULL,"
    " SERVICEDATA TEXT NOT NULL,"
    " PRIMARY KEY (RECORDID, SEGMENT))";
// The time index carries the whole ordering key so that paging with a cursor is one index range.
inline constexpr const char* kUsageCreateIndexes =
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_TIME ON USAGE_RECORD (RECORDTIME, RECORDID, SEGMENT);"
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_GLOBALID ON USAGE_RECORD (GLOBALID);"
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_EVENT_TIME ON USAGE_RECORD (EVENTTYPE, RECORDTIME);";

struct UsageStoreOptions {
  std::string path;  // database file; its parent directory must exist (":memory:" refused)
  Durability durability = Durability::kDurable;
  uint32_t flushIntervalMs = 100;  // kBatched: longest time a row waits for its commit; >= 1
  size_t queueCapacity = 100000;   // rows queued or being written; >= 1
  uint32_t busyTimeoutMs = 5000;   // SQLite busy handler wait for locks held by other processes
  uint32_t writeRetries = 3;       // retries of a failed batch before it is reported failed
  uint32_t retryBackoffMs = 20;    // first retry delay, doubled for each further retry
  // PRAGMA quick_check at open: detects corruption before any write, costs O(database size).
  bool quickCheckOnOpen = true;
  // Page cache of the writer connection (PRAGMA cache_size in KiB). Four b-trees take every
  // insert; a cache that holds their hot pages saves re-reading them (measured ~+15%).
  uint32_t writerCacheKiB = 32768;
  // PRAGMA max_page_count of the writer; 0 = SQLite's default. A cap bounds disk use: writes
  // beyond it fail as "database or disk is full" (handled like a full disk).
  uint32_t maxPageCount = 0;
  // Write errors and retries, for logging; called on the writer thread (or in close()).
  std::function<void(const std::string& message)> onError;
};

class UsageStore : public UsageRowStore {
 public:
  // Opens or creates the database, checks it (quick_check, schema, user_version) and starts the
  // writer. Throws std::runtime_error naming the path and SQLite's message for a missing parent
  // directory, an unwritable or corrupt file, a foreign USAGE_RECORD table or a newer schema;
  // std::invalid_argument for bad options.
  explicit UsageStore(UsageStoreOptions options);
  ~UsageStore() override;  // close()
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  // OutcomeCallback (UsageRowStore.h): the reason is SQLite's own message (e.g. "database is
  // locked", a trigger's RAISE text) for the row or the transaction that failed.

  // Queues rows as one atomic append; never blocks on a full queue (see above).
  AppendResult append(std::vector<UsageRow> rows);
  // Same; onCommitted(committed) runs exactly once, on the writer thread, iff accepted. It must
  // not call close() or appendBlocking(); exceptions it throws are reported to onError.
  AppendResult append(std::vector<UsageRow> rows, std::function<void(bool committed)> onCommitted);
  // Same, with the reason of a failure (empty when committed).
  AppendResult append(std::vector<UsageRow> rows, OutcomeCallback onOutcome) override;
  // Waits up to timeout for queue room; reason kQueueFull when there was none in time.
  AppendResult appendBlocking(std::vector<UsageRow> rows, std::chrono::milliseconds timeout,
                              std::function<void(bool committed)> onCommitted = nullptr);

  // Waits until the append's outcome is known or the timeout passes. The outcome is published
  // before the batch's onCommitted callbacks run (and after onError heard of any failure).
  CommitState wait(UsageTicket ticket, std::chrono::milliseconds timeout);
  // True when committed; false when failed, still pending at the timeout, or ticket invalid.
  bool waitCommitted(UsageTicket ticket, std::chrono::milliseconds timeout);

  // Reads through a separate connection (WAL: neither blocks nor is blocked by the writer), from
  // any thread (queries are serialised on that connection). Sees committed rows only. Throws
  // std::logic_error after close(), std::invalid_argument for a cursor time outside the
  // RecordTime.h range, std::runtime_error for SQLite errors or a malformed stored RECORDTIME.
  std::vector<UsageRow> query(const UsageQuery& q) override;

  UsageStoreStats stats() const override;

  // Stops accepting, writes and commits everything queued, joins the writer, checkpoints the
  // WAL and closes both connections. Idempotent and thread-safe; errors go to onError.
  void close() override;

  const std::string& path() const { return options_.path; }

  // Test hook: while paused the writer takes no new batch (the current one completes);
  // close() overrides the pause.
  void setWriterPausedForTest(bool paused);

 private:
  // One accepted append: its rows, packed one after another (layout in UsageStore.cc) in its
  // batch's chunks. The queue holds no object per row.
  struct Pending {
    UsageTicket ticket = 0;
    const char* data = nullptr;
    size_t rows = 0;
    std::function<void(bool)> onCommitted;
    OutcomeCallback onOutcome;  // instead of onCommitted
    bool ok = false;
    std::string reason;  // SQLite's message when !ok
  };
  // The writer's queue: appends in ticket order and the chunks holding their packed rows. Chunks
  // never move (no copy as the queue grows) and are reused: the writer swaps its cleared batch
  // in for the queued one, so a steady load allocates nothing per append.
  struct Batch {
    struct Chunk {
      std::unique_ptr<char[]> bytes;
      size_t size = 0;
      size_t used = 0;
    };
    std::vector<Pending> appends;
    std::vector<std::string> errors;  // why single appends failed (last attempt), in order
    std::vector<Chunk> chunks;
    size_t current = 0;  // the chunk being filled
    size_t rows = 0;
    bool empty() const { return appends.empty(); }
    size_t weight() const { return rows; }
    // Room for `size` contiguous bytes, valid until clear().
    char* allocate(size_t size);
    // Empty again. Keeps the chunks for the next batch, unless this one used less than a quarter
    // of them (a burst is over): then it frees the unused half.
    void clear();
  };
  using Writer = sqlite::GroupCommitWriter<Batch>;

  AppendResult enqueue(std::vector<UsageRow>&& rows, std::function<void(bool)>&& onCommitted,
                       OutcomeCallback&& onOutcome,
                       std::optional<std::chrono::steady_clock::time_point> deadline);
  sqlite::WriteStatus writeAppends(Batch& batch, bool savepoints, bool& undo);
  sqlite::WriteStatus writeAppend(Batch& batch, Pending& p, bool savepoints, bool& undo);
  void prepareStatements();
  void openReader();
  sqlite::WriteStatus writeBatch(Batch& batch);
  void finishBatch(Batch& batch, const sqlite::WriteStatus& outcome);
  void reportAttempt(const Batch& batch, const sqlite::FailedAttempt& failure);
  void report(const std::string& message) const;
  sqlite3_stmt* readStatement(const std::string& sql);

  const UsageStoreOptions options_;

  // Writer connection and its statements: prepared by the constructor, then used only by the
  // writer thread (Writer::Hooks::write), then released in close().
  sqlite::SqliteDatabase db_;
  sqlite::Stmt insert_, savepoint_, release_, rollbackTo_, rollbackAll_, beginAgain_;

  // Reader connection and its statement cache (keyed by SQL text), guarded by readMutex_.
  std::mutex readMutex_;
  sqlite::Db readDb_;
  std::unordered_map<std::string, sqlite::Stmt> readStatements_;

  // Outcomes and counters. Lock order: the writer's queue lock, then mutex_ (enqueue takes both).
  mutable std::mutex mutex_;
  std::condition_variable roomCv_;  // appendBlocking: room freed, or closing
  std::condition_variable doneCv_;  // wait(): outcomes decided
  UsageTicket nextTicket_ = 1;
  UsageTicket decidedThrough_ = 0;             // every ticket <= this has an outcome
  std::map<UsageTicket, UsageTicket> failed_;  // failed ticket ranges [first, last], merged
  bool closing_ = false;
  UsageStoreStats stats_;

  std::unique_ptr<Writer> writer_;  // last: its thread uses everything above
};

}  // namespace px
