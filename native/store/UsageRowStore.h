// What UsageRecorder needs of a usage record store, whatever the database behind it: the SQLite
// file (store/UsageStore.h, the default) or PostgreSQL (store/PgUsageStore.h, store.backend:
// postgresql). Both write with one writer thread and group commit, report every append's outcome
// exactly once, and read committed rows back in RECORDTIME, RECORDID, SEGMENT order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/GroupCommitWriter.h"
#include "usage/UsageRecord.h"

namespace px {

enum class Durability { kDurable, kBatched };

using UsageTicket = uint64_t;  // 1, 2, 3, ... in acceptance order; 0 = no ticket

enum class AppendRejection {
  kNone,        // accepted
  kQueueFull,   // no room (append) or still no room at the timeout (appendBlocking)
  kTooLarge,    // more rows than queueCapacity: can never fit
  kInvalidRow,  // empty recordId, negative segment or recordTimeMs outside RecordTime.h range
  kClosed,      // close() has begun
};

struct AppendResult {
  bool accepted = false;
  AppendRejection reason = AppendRejection::kNone;
  UsageTicket ticket = 0;  // valid when accepted
};

enum class CommitState { kPending, kCommitted, kFailed };

struct UsageStoreStats {
  uint64_t queued = 0;            // rows accepted and not yet committed or failed
  uint64_t written = 0;           // rows committed since open
  uint64_t commits = 0;           // transactions committed
  uint64_t rejectedFull = 0;      // appends rejected with kQueueFull or kTooLarge
  uint64_t rejectedInvalid = 0;   // appends rejected with kInvalidRow
  uint64_t writeErrors = 0;       // accepted appends reported not committed
  uint64_t retries = 0;           // batch write attempts that failed and were retried
  sqlite::CommitLatency latency;  // per committed transaction (store/GroupCommitWriter.h)
  // PostgreSQL only (SQLite: always true, 0): whether the database is reachable now, and the rows
  // waiting in the local spool (batched mode while it is not) and replayed from it since open.
  bool reachable = true;
  uint64_t spooled = 0;
  uint64_t replayed = 0;
  uint64_t reconnects = 0;  // connections (re)established after a loss
};

// Resume point for paging: the ordering key of the last row of the previous page.
struct UsageCursor {
  int64_t recordTimeMs = 0;
  std::string recordId;
  int segment = 0;
};
UsageCursor cursorAfter(const UsageRow& lastRow);

// Filters are ANDed; unset = not filtered. Rows come ordered by RECORDTIME, RECORDID, SEGMENT.
struct UsageQuery {
  std::optional<int64_t> fromTimeMs;  // RECORDTIME >= from
  std::optional<int64_t> toTimeMs;    // RECORDTIME < to
  std::optional<std::string> service;
  std::optional<std::string> eventType;
  std::optional<int> statusCode;
  std::optional<std::string> globalId;
  // Unescaped requester value. Matches records whose segment-0 SERVICEDATA holds the pair
  // REQUESTER=<value escaped per usage/ServiceData.h: '\' ';' '=' preceded by '\'> at the start
  // of the text or after an unescaped ';', followed by ';' or the end of segment 0; all segments
  // of a matching record are returned. The text of segment 0 is all that is searched: a pair cut
  // by the segment 1 boundary is not found (segment 0's end counts as the pair's end only when the
  // record has no segment 1 or segment 1 starts with ';'). Not indexed: one check per row the
  // other filters leave.
  std::optional<std::string> requester;
  std::optional<UsageCursor> after;  // rows strictly after this key (exclusive)
  uint32_t limit = 1000;             // rows per page; 0 = no limit
};

class UsageRowStore {
 public:
  // An append's outcome with, when not committed, why (the database's own message).
  using OutcomeCallback = std::function<void(bool committed, const std::string& reason)>;

  virtual ~UsageRowStore() = default;
  // Queues rows as one atomic append; never blocks. onOutcome runs exactly once, on the writer
  // thread, iff accepted; it must not call close().
  virtual AppendResult append(std::vector<UsageRow> rows, OutcomeCallback onOutcome) = 0;
  // Committed rows matching q, in RECORDTIME, RECORDID, SEGMENT order (any thread).
  virtual std::vector<UsageRow> query(const UsageQuery& q) = 0;
  virtual UsageStoreStats stats() const = 0;
  // Stops accepting, writes what is queued, joins the writer. Idempotent.
  virtual void close() = 0;
};

}  // namespace px
