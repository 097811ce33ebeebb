// UsageStore: opening (schema of USAGE_RECORD), appends, the writer hooks and close. Queries and
// the reader connection are in UsageQuery.cc.
#include "store/UsageStore.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "usage/UtcTime.h"

namespace px {
namespace {

constexpr int64_t kSchemaVersion = 1;

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

// A row in the queue (in a Batch chunk): this header, then its texts back to back in Text order.
// RECORDTIME is already the column's text, formatted by the producer, so the writer only binds.
enum Text { kRecordId, kGlobalId, kService, kHost, kEventType, kRecordTime, kServiceData, kTexts };
struct PackedRow {
  int32_t segment;
  int32_t statusCode;
  uint64_t lengths[kTexts];
};

// Appends the packed form of a valid row to `out` (the producer's side, before the queue lock).
void packRow(std::string& out, const UsageRow& row) {
  PackedRow header{};
  header.segment = row.segment;
  header.statusCode = row.statusCode;
  const std::string* texts[kTexts] = {&row.recordId,  &row.globalId, &row.service,    &row.host,
                                      &row.eventType, nullptr,       &row.serviceData};
  size_t size = sizeof header;
  for (int t = 0; t < kTexts; ++t) {
    header.lengths[t] = t == kRecordTime ? kUtcTimeLength : texts[t]->size();
    size += header.lengths[t];
  }
  const size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  std::memcpy(p, &header, sizeof header);
  p += sizeof header;
  for (int t = 0; t < kTexts; ++t) {
    if (t == kRecordTime) {
      formatUtcTime(row.recordTimeMs, p);  // in range: rowIsValid
    } else {
      std::memcpy(p, texts[t]->data(), texts[t]->size());
    }
    p += header.lengths[t];
  }
}

// A packed row as the writer reads it: views into the batch's bytes.
struct RowView {
  int32_t segment = 0;
  int32_t statusCode = 0;
  const char* texts[kTexts] = {};
  uint64_t lengths[kTexts] = {};
};

// Reads the row at `p`; returns where the next one starts.
const char* unpackRow(const char* p, RowView& row) {
  PackedRow header;
  std::memcpy(&header, p, sizeof header);
  p += sizeof header;
  row.segment = header.segment;
  row.statusCode = header.statusCode;
  for (int t = 0; t < kTexts; ++t) {
    row.texts[t] = p;
    row.lengths[t] = header.lengths[t];
    p += header.lengths[t];
  }
  return p;
}

// A producer's packing buffer, kept between its appends (released when it grew large).
constexpr size_t kKeepPackBytes = 1 << 20;
thread_local std::string packBuffer;

// Queue memory comes in chunks of this size (or one append's size, when larger).
constexpr size_t kChunkBytes = 256 << 10;

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
    sqlite::exec(db, kUsageCreateTable);
  } else if (const auto columns = sqlite::columnMismatch(
                 db, "USAGE_RECORD", kExpectedColumns.data(), kExpectedColumns.size())) {
    // An existing table (ours, or made by hand before user_version was set) must match exactly.
    throw sqlite::SchemaError("table USAGE_RECORD has unexpected columns (" + *columns +
                              "); expected " + kUsageCreateTable);
  }
  sqlite::exec(db, kUsageCreateIndexes);
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

char* UsageStore::Batch::allocate(size_t size) {
  while (current < chunks.size() && chunks[current].size - chunks[current].used < size) {
    // The rest of this chunk is too small: an append's rows stay contiguous.
    ++current;
  }
  if (current == chunks.size()) {
    Chunk chunk;
    chunk.size = std::max(size, kChunkBytes);
    chunk.bytes.reset(new char[chunk.size]);
    chunks.push_back(std::move(chunk));
  }
  Chunk& chunk = chunks[current];
  char* at = chunk.bytes.get() + chunk.used;
  chunk.used += size;
  return at;
}

void UsageStore::Batch::clear() {
  appends.clear();
  errors.clear();
  rows = 0;
  const size_t used = chunks.empty() ? 0 : current + 1;
  if (used < chunks.size() / 4) chunks.resize(chunks.size() / 2);
  for (Chunk& chunk : chunks) chunk.used = 0;
  current = 0;
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
  rollbackAll_ = sqlite::prepare(db, "ROLLBACK");
  beginAgain_ = sqlite::prepare(db, "BEGIN IMMEDIATE");
}

AppendResult UsageStore::append(std::vector<UsageRow> rows) {
  return enqueue(std::move(rows), nullptr, nullptr, std::nullopt);
}

AppendResult UsageStore::append(std::vector<UsageRow> rows,
                                std::function<void(bool committed)> onCommitted) {
  return enqueue(std::move(rows), std::move(onCommitted), nullptr, std::nullopt);
}

AppendResult UsageStore::append(std::vector<UsageRow> rows, OutcomeCallback onOutcome) {
  return enqueue(std::move(rows), nullptr, std::move(onOutcome), std::nullopt);
}

AppendResult UsageStore::appendBlocking(std::vector<UsageRow> rows,
                                        std::chrono::milliseconds timeout,
                                        std::function<void(bool committed)> onCommitted) {
  return enqueue(std::move(rows), std::move(onCommitted), nullptr,
                 std::chrono::steady_clock::now() + timeout);
}

AppendResult UsageStore::enqueue(std::vector<UsageRow>&& rows,
                                 std::function<void(bool)>&& onCommitted,
                                 OutcomeCallback&& onOutcome,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) {
  const bool valid = std::all_of(rows.begin(), rows.end(), rowIsValid);
  const size_t n = rows.size();
  const size_t capacity = options_.queueCapacity;
  // Packed (and RECORDTIME formatted) here, on the producer's thread, outside the queue lock.
  std::string& packed = packBuffer;
  packed.clear();
  if (valid && n <= capacity) {
    for (const UsageRow& row : rows) packRow(packed, row);
  }
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
      // The ticket is taken only once the append is queued (allocations may throw).
      char* data = packed.empty() ? nullptr : queue.allocate(packed.size());
      if (data != nullptr) std::memcpy(data, packed.data(), packed.size());
      queue.appends.push_back(
          Pending{nextTicket_, data, n, std::move(onCommitted), std::move(onOutcome), false, {}});
      result = AppendResult{true, AppendRejection::kNone, nextTicket_++};
      queue.rows += n;
      stats_.queued += n;
      return true;
    });
    if (!open) {
      result.reason = AppendRejection::kClosed;
      break;
    }
    if (!waitForRoom) break;
    // Room is re-checked by the next submit(); at the deadline a full queue is refused there.
    std::unique_lock<std::mutex> lock(mutex_);
    roomCv_.wait_until(lock, *deadline, [&] { return closing_ || stats_.queued + n <= capacity; });
    if (closing_) {
      result.reason = AppendRejection::kClosed;
      break;
    }
    if (stats_.queued + n > capacity) {
      ++stats_.rejectedFull;
      result.reason = AppendRejection::kQueueFull;
      break;
    }
  }
  if (packed.capacity() > kKeepPackBytes) std::string().swap(packed);
  return result;
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
  UsageStoreStats stats;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats = stats_;
  }
  stats.latency = writer_->latency();  // not under mutex_: the writer's locks come first
  return stats;
}

void UsageStore::setWriterPausedForTest(bool paused) {
  writer_->setPausedForTest(paused);
}

// Inside the writer's transaction. A row the database refuses for its data fails only its own
// append; any other error fails the attempt.
//
// Appends are written without savepoints first: a savepoint makes SQLite copy every page the
// append then changes into a statement journal, which for appends of 100 rows cost about 20 % of
// the writer's time. A single row needs none (a failed statement undoes itself), and neither
// does a multi-row append whose first row is refused. Only when a later row of a multi-row
// append is refused is there something to undo: then the transaction is rolled back, begun
// again, and the whole batch written once more with a savepoint around each multi-row append.
sqlite::WriteStatus UsageStore::writeBatch(Batch& batch) {
  bool undo = false;
  sqlite::WriteStatus status = writeAppends(batch, false, undo);
  if (!status.ok() || !undo) return status;
  sqlite3* db = db_.get();
  int rc;
  if (!sqlite3_get_autocommit(db) && (rc = sqlite::runReset(rollbackAll_.get())) != SQLITE_DONE) {
    return sqlite::WriteStatus{rc, sqlite3_errmsg(db), "writing"};
  }
  if ((rc = sqlite::runReset(beginAgain_.get())) != SQLITE_DONE) {
    return sqlite::WriteStatus{rc, sqlite3_errmsg(db), "begin"};
  }
  return writeAppends(batch, true, undo);
}

sqlite::WriteStatus UsageStore::writeAppends(Batch& batch, bool savepoints, bool& undo) {
  undo = false;
  for (Pending& p : batch.appends) {
    p.ok = true;
    p.reason.clear();
  }
  batch.errors.clear();
  const sqlite::ResetGuard clearInsert(insert_.get());
  for (Pending& p : batch.appends) {
    if (p.rows == 0) continue;
    sqlite::WriteStatus status = writeAppend(batch, p, savepoints, undo);
    if (!status.ok() || undo) return status;
  }
  return {};
}

sqlite::WriteStatus UsageStore::writeAppend(Batch& batch, Pending& p, bool savepoints, bool& undo) {
  sqlite3* db = db_.get();
  auto failure = [&](int code) { return sqlite::WriteStatus{code, sqlite3_errmsg(db), "writing"}; };
  int rc;
  sqlite3_stmt* insert = insert_.get();
  const bool multi = savepoints && p.rows > 1;
  if (multi && (rc = sqlite::runReset(savepoint_.get())) != SQLITE_DONE) return failure(rc);
  const char* next = p.data;
  RowView row;
  for (size_t r = 0; r < p.rows; ++r) {
    next = unpackRow(next, row);
    auto text = [&](int index, Text t) {
      return sqlite3_bind_text64(insert, index, row.texts[t], row.lengths[t], SQLITE_STATIC,
                                 SQLITE_UTF8);
    };
    rc = text(1, kRecordId);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(insert, 2, row.segment);
    if (rc == SQLITE_OK) rc = text(3, kGlobalId);
    if (rc == SQLITE_OK) rc = text(4, kService);
    if (rc == SQLITE_OK) rc = text(5, kHost);
    if (rc == SQLITE_OK) rc = text(6, kEventType);
    if (rc == SQLITE_OK) rc = text(7, kRecordTime);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(insert, 8, row.statusCode);
    if (rc == SQLITE_OK) rc = text(9, kServiceData);
    if (rc == SQLITE_OK) rc = sqlite3_step(insert);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(insert);
      continue;
    }
    const std::string message = rc == SQLITE_TOOBIG ? "value too big" : sqlite3_errmsg(db);
    sqlite3_reset(insert);
    // The writer's policy tells the row's own errors (never retried) from the database's.
    if (sqlite::RetryPolicy::retryable(rc)) return sqlite::WriteStatus{rc, message, "writing"};
    if (r > 0 && !savepoints) {
      undo = true;  // earlier rows of this append are written: see writeBatch
      return {};
    }
    p.ok = false;
    p.reason = message;
    batch.errors.push_back("usage store '" + options_.path + "': record '" +
                           std::string(row.texts[kRecordId], row.lengths[kRecordId]) +
                           "' segment " + std::to_string(row.segment) + " not written: " + message);
    break;
  }
  if (multi) {
    if (!p.ok && (rc = sqlite::runReset(rollbackTo_.get())) != SQLITE_DONE) return failure(rc);
    if ((rc = sqlite::runReset(release_.get())) != SQLITE_DONE) return failure(rc);
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
    for (Pending& p : appends) {
      p.ok = false;
      p.reason = outcome.message;  // the transaction's failure, whatever its rows did
    }
  }
  // Logged before the outcome is published, so a waiter that sees kFailed finds the log entry.
  for (const std::string& error : batch.errors) report(error);
  size_t written = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Pending& p : appends) {
      stats_.queued -= p.rows;
      if (p.ok) {
        written += p.rows;
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
    if (!p.onCommitted && !p.onOutcome) continue;
    try {
      if (p.onOutcome) {
        p.onOutcome(p.ok, p.reason);
      } else {
        p.onCommitted(p.ok);
      }
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
    rollbackAll_.reset();
    beginAgain_.reset();
    const std::string error = db_.close();
    if (!error.empty()) report("usage store '" + options_.path + "': " + error);
  });
}

}  // namespace px
