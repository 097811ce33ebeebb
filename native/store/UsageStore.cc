// UsageStore: opening (schema of USAGE_RECORD), appends, the writer hooks and close. Queries and
// the reader connection are in UsageQuery.cc.
#include "store/UsageStore.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace px {
namespace {

constexpr int64_t kSchemaVersion = 1;

constexpr const char* kCreateTable =
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
constexpr const char* kCreateIndexes =
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_TIME ON USAGE_RECORD (RECORDTIME, RECORDID, SEGMENT);"
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_GLOBALID ON USAGE_RECORD (GLOBALID);"
    "CREATE INDEX IF NOT EXISTS USAGE_RECORD_EVENT_TIME ON USAGE_RECORD (EVENTTYPE, RECORDTIME);";

constexpr std::array<sqlite::ColumnSpec, 9> kExpectedColumns = {{
    {"RECORDID", "TEXT", true, 1},
    {"SEGMENT", "INTEGER", true, 2},
    {"GLOBALID", "TEXT", true, 0},
    {"SERVICE", "TEXT", true, 0},
    {"HOST", "TEXT", true, 0},
    {"EVENTTYPE", "TEXT", true, 0},
    {"RECORDTIME", "TEXT", true, 0},
    {"STATUSCODE", "INTEGER", true, 0},
    {"SERVICEDATA", "TEXT", true, 0},
}};

bool rowIsValid(const UsageRow& row) {
  return !row.recordId.empty() && row.segment >= 0 && row.recordTimeMs >= kMinRecordTimeMs &&
         row.recordTimeMs <= kMaxRecordTimeMs;
}

// Version 0 is a new file or a hand-made USAGE_RECORD to adopt; migrations from older versions
// go here, one step per version.
void prepareUsageSchema(sqlite3* db, const sqlite::FileState& found) {
  const bool exists = sqlite::queryInt(db,
                                       "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                       "AND name = 'USAGE_RECORD' COLLATE NOCASE") > 0;
  if (!exists) {
    if (found.version != 0) {
      throw sqlite::SchemaError("schema version " + std::to_string(found.version) +
                                " but no USAGE_RECORD table");
    }
    sqlite::exec(db, kCreateTable);
  } else if (const auto columns = sqlite::columnMismatch(
                 db, "USAGE_RECORD", kExpectedColumns.data(), kExpectedColumns.size())) {
    // An existing table (ours, or made by hand before user_version was set) must match exactly.
    throw sqlite::SchemaError("table USAGE_RECORD has unexpected columns (" + *columns +
                              "); expected " + kCreateTable);
  }
  sqlite::exec(db, kCreateIndexes);
}

// Checks the options (std::invalid_argument, or std::runtime_error for a missing directory)
// before anything touches the file.
sqlite::OpenOptions openOptions(const UsageStoreOptions& options) {
  const std::string& path = options.path;
  if (path.empty() || path == ":memory:") {
    throw std::invalid_argument("usage store: path must name a file, got '" + path + "'");
  }
  if (options.flushIntervalMs == 0) {
    throw std::invalid_argument("usage store: flushIntervalMs must be >= 1");
  }
  if (options.queueCapacity == 0) {
    throw std::invalid_argument("usage store: queueCapacity must be >= 1");
  }
  if (sqlite3_threadsafe() == 0) {
    throw std::runtime_error("usage store: SQLite was built without thread support");
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) {
    throw std::runtime_error("usage store '" + path + "': parent directory '" + parent.string() +
                             "' does not exist or is not a directory");
  }
  sqlite::OpenOptions open;
  open.label = "usage store";
  open.path = path;
  open.busyTimeoutMs = options.busyTimeoutMs;
  open.quickCheck = options.quickCheckOnOpen;
  open.synchronousFull = options.durability == Durability::kDurable;
  open.pragmas.push_back("PRAGMA cache_size = -" + std::to_string(options.writerCacheKiB));
  // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: pages rewritten in between are copied
  // once. close() truncates the WAL.
  open.pragmas.push_back("PRAGMA wal_autocheckpoint = 10000");
  if (options.maxPageCount > 0) {
    open.pragmas.push_back("PRAGMA max_page_count = " + std::to_string(options.maxPageCount));
  }
  return open;
}

sqlite::Schema usageSchema() {
  sqlite::Schema schema;
  schema.version = kSchemaVersion;
  schema.prepare = &prepareUsageSchema;
  return schema;
}

}  // namespace

UsageCursor cursorAfter(const UsageRow& lastRow) {
  return UsageCursor{lastRow.recordTimeMs, lastRow.recordId, lastRow.segment};
}

UsageStore::UsageStore(UsageStoreOptions options)
    : options_(std::move(options)), db_(openOptions(options_), usageSchema()) {
  try {
    prepareStatements();
    openReader();
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("usage store '" + options_.path + "': " + e.what());
  }
  Writer::Options writer;
  writer.threadName = "px-usage";
  writer.retry = sqlite::RetryPolicy{options_.writeRetries, options_.retryBackoffMs};
  if (options_.durability == Durability::kBatched) {
    // Rows wait at most flushIntervalMs, or until a quarter of the queue is waiting.
    writer.linger = std::chrono::milliseconds(options_.flushIntervalMs);
    writer.lingerLimit = std::max<size_t>(1, options_.queueCapacity / 4);
  }
  Writer::Hooks hooks;
  hooks.write = [this](Batch& batch) { return writeBatch(batch); };
  hooks.finished = [this](Batch& batch, const sqlite::WriteStatus& outcome) {
    finishBatch(batch, outcome);
  };
  hooks.failedAttempt = [this](const Batch& batch, const sqlite::FailedAttempt& failure) {
    reportAttempt(batch, failure);
  };
  writer_ = std::make_unique<Writer>(db_.get(), writer, std::move(hooks));
}

UsageStore::~UsageStore() {
  try {
    close();
  } catch (const std::exception& e) {
    report(std::string("usage store: close in destructor failed: ") + e.what());
  }
}

void UsageStore::prepareStatements() {
  sqlite3* db = db_.get();
  insert_ = sqlite::prepare(db, std::string("INSERT INTO USAGE_RECORD (") + kUsageColumns +
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  savepoint_ = sqlite::prepare(db, "SAVEPOINT px_append");
  release_ = sqlite::prepare(db, "RELEASE px_append");
  rollbackTo_ = sqlite::prepare(db, "ROLLBACK TO px_append");
}

AppendResult UsageStore::append(std::vector<UsageRow> rows) {
  return enqueue(std::move(rows), nullptr, std::nullopt);
}

AppendResult UsageStore::append(std::vector<UsageRow> rows,
                                std::function<void(bool committed)> onCommitted) {
  return enqueue(std::move(rows), std::move(onCommitted), std::nullopt);
}

AppendResult UsageStore::appendBlocking(std::vector<UsageRow> rows,
                                        std::chrono::milliseconds timeout,
                                        std::function<void(bool committed)> onCommitted) {
  return enqueue(std::move(rows), std::move(onCommitted),
                 std::chrono::steady_clock::now() + timeout);
}

AppendResult UsageStore::enqueue(std::vector<UsageRow>&& rows,
                                 std::function<void(bool)>&& onCommitted,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) {
  const bool valid = std::all_of(rows.begin(), rows.end(), rowIsValid);
  const size_t n = rows.size();
  const size_t capacity = options_.queueCapacity;
  AppendResult result;
  for (;;) {
    bool waitForRoom = false;
    // Admission and the ticket under the queue lock: tickets are in queue order.
    const bool open = writer_->submit([&](Batch& queue) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!valid) {
        ++stats_.rejectedInvalid;
        result.reason = AppendRejection::kInvalidRow;
        return false;
      }
      if (n > capacity) {
        ++stats_.rejectedFull;
        result.reason = AppendRejection::kTooLarge;
        return false;
      }
      if (stats_.queued + n > capacity) {
        if (deadline && std::chrono::steady_clock::now() < *deadline) {
          waitForRoom = true;
          return false;
        }
        ++stats_.rejectedFull;
        result.reason = AppendRejection::kQueueFull;
        return false;
      }
      result = AppendResult{true, AppendRejection::kNone, nextTicket_++};
      queue.appends.push_back(
          Pending{result.ticket, std::move(rows), std::move(onCommitted), false, {}});
      queue.rows += n;
      stats_.queued += n;
      return true;
    });
    if (!open) {
      result.reason = AppendRejection::kClosed;
      return result;
    }
    if (!waitForRoom) return result;
    // Room is re-checked by the next submit(); at the deadline a full queue is refused there.
    std::unique_lock<std::mutex> lock(mutex_);
    roomCv_.wait_until(lock, *deadline, [&] { return closing_ || stats_.queued + n <= capacity; });
    if (closing_) {
      result.reason = AppendRejection::kClosed;
      return result;
    }
    if (stats_.queued + n > capacity) {
      ++stats_.rejectedFull;
      result.reason = AppendRejection::kQueueFull;
      return result;
    }
  }
}

CommitState UsageStore::wait(UsageTicket ticket, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ticket == 0 || ticket >= nextTicket_) return CommitState::kFailed;
  if (!doneCv_.wait_for(lock, timeout, [&] { return decidedThrough_ >= ticket; })) {
    return CommitState::kPending;
  }
  auto it = failed_.upper_bound(ticket);
  if (it != failed_.begin() && ticket <= std::prev(it)->second) return CommitState::kFailed;
  return CommitState::kCommitted;
}

bool UsageStore::waitCommitted(UsageTicket ticket, std::chrono::milliseconds timeout) {
  return wait(ticket, timeout) == CommitState::kCommitted;
}

UsageStoreStats UsageStore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void UsageStore::setWriterPausedForTest(bool paused) {
  writer_->setPausedForTest(paused);
}

// Inside the writer's transaction. A row the database refuses for its data fails only its own
// append (rolled back to the append's savepoint); any other error fails the attempt.
sqlite::WriteStatus UsageStore::writeBatch(Batch& batch) {
  sqlite3* db = db_.get();
  for (Pending& p : batch.appends) {
    p.ok = true;
    p.error.clear();
  }
  auto failure = [&](int code) { return sqlite::WriteStatus{code, sqlite3_errmsg(db), "writing"}; };
  int rc;
  sqlite3_stmt* insert = insert_.get();
  const sqlite::ResetGuard clearInsert(insert);
  std::string time;
  for (Pending& p : batch.appends) {
    if (p.rows.empty()) continue;
    // A savepoint keeps a multi-row append atomic when one of its rows is refused; a single
    // row needs none (a failed statement undoes itself).
    const bool multi = p.rows.size() > 1;
    if (multi && (rc = sqlite::runReset(savepoint_.get())) != SQLITE_DONE) return failure(rc);
    for (const UsageRow& row : p.rows) {
      time = formatRecordTime(row.recordTimeMs);
      rc = sqlite::bindText(insert, 1, row.recordId);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int(insert, 2, row.segment);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 3, row.globalId);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 4, row.service);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 5, row.host);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 6, row.eventType);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 7, time);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int(insert, 8, row.statusCode);
      if (rc == SQLITE_OK) rc = sqlite::bindText(insert, 9, row.serviceData);
      if (rc == SQLITE_OK) rc = sqlite3_step(insert);
      if (rc == SQLITE_DONE) {
        sqlite3_reset(insert);
        continue;
      }
      const std::string message = rc == SQLITE_TOOBIG ? "value too big" : sqlite3_errmsg(db);
      sqlite3_reset(insert);
      // The writer's policy tells the row's own errors (never retried) from the database's.
      if (sqlite::RetryPolicy::retryable(rc)) return sqlite::WriteStatus{rc, message, "writing"};
      p.ok = false;
      p.error = "usage store '" + options_.path + "': record '" + row.recordId + "' segment " +
                std::to_string(row.segment) + " not written: " + message;
      break;
    }
    if (multi) {
      if (!p.ok && (rc = sqlite::runReset(rollbackTo_.get())) != SQLITE_DONE) return failure(rc);
      if ((rc = sqlite::runReset(release_.get())) != SQLITE_DONE) return failure(rc);
    }
  }
  return {};
}

void UsageStore::reportAttempt(const Batch& batch, const sqlite::FailedAttempt& failure) {
  if (failure.retrying) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.retries;
  }
  report("usage store '" + options_.path + "': writing " + std::to_string(batch.appends.size()) +
         " appends (" + std::to_string(batch.rows) + " rows) failed: " + failure.status.message +
         "; " + failure.note());
}

void UsageStore::finishBatch(Batch& batch, const sqlite::WriteStatus& outcome) {
  std::vector<Pending>& appends = batch.appends;
  if (appends.empty()) return;
  if (!outcome.ok()) {
    for (Pending& p : appends) p.ok = false;
  }
  // Logged before the outcome is published, so a waiter that sees kFailed finds the log entry.
  for (const Pending& p : appends) {
    if (!p.error.empty()) report(p.error);
  }
  size_t written = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Pending& p : appends) {
      stats_.queued -= p.rows.size();
      if (p.ok) {
        written += p.rows.size();
        continue;
      }
      ++stats_.writeErrors;
      // Tickets arrive in order, so a failure extends the last range or starts a new one.
      if (!failed_.empty() && failed_.rbegin()->second + 1 == p.ticket) {
        failed_.rbegin()->second = p.ticket;
      } else {
        failed_.emplace(p.ticket, p.ticket);
      }
    }
    stats_.written += written;
    const bool anyOk =
        std::any_of(appends.begin(), appends.end(), [](const Pending& p) { return p.ok; });
    if (batch.rows > 0 && anyOk) ++stats_.commits;
    decidedThrough_ = appends.back().ticket;
  }
  doneCv_.notify_all();
  roomCv_.notify_all();
  for (Pending& p : appends) {
    if (!p.onCommitted) continue;
    try {
      p.onCommitted(p.ok);
    } catch (const std::exception& e) {
      report("usage store '" + options_.path + "': onCommitted threw: " + e.what());
    } catch (...) {
      report("usage store '" + options_.path + "': onCommitted threw");
    }
  }
}

void UsageStore::report(const std::string& message) const {
  if (!options_.onError) return;
  try {
    options_.onError(message);
  } catch (...) {  // a logger failure must not stop the writer
  }
}

void UsageStore::close() {
  if (writer_->onWriterThread()) {
    throw std::logic_error("usage store: close() called from an onCommitted callback");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  roomCv_.notify_all();
  // The writer drains the queue; then the connections close.
  writer_->close([this] {
    {
      std::lock_guard<std::mutex> lock(readMutex_);
      readStatements_.clear();
      readDb_.reset();
    }
    insert_.reset();
    savepoint_.reset();
    release_.reset();
    rollbackTo_.reset();
    const std::string error = db_.close();
    if (!error.empty()) report("usage store '" + options_.path + "': " + error);
  });
}

}  // namespace px
