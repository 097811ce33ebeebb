#include "store/UsageStore.h"

#include "common/Ascii.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <variant>

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

constexpr const char* kColumns =
    "RECORDID, SEGMENT, GLOBALID, SERVICE, HOST, EVENTTYPE, RECORDTIME, STATUSCODE, SERVICEDATA";

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

// Errors that belong to one row (its data), not to the database: retrying cannot help.
bool isRowError(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_CONSTRAINT || primary == SQLITE_TOOBIG || primary == SQLITE_MISMATCH ||
         primary == SQLITE_RANGE;
}

// True when `text` (encoded service data, usage/ServiceData.h escaping) holds the pair
// key=value at its start or after an unescaped ';'. A pair running into the end of the text
// counts only when lastPairComplete (the text may be a segment cut mid-pair).
bool hasPair(std::string_view text, std::string_view key, std::string_view value,
             bool lastPairComplete) {
  std::string k;
  std::string v;
  size_t i = 0;
  for (;;) {
    k.clear();
    v.clear();
    bool inValue = false;
    bool endedBySemicolon = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '\\' && i + 1 < text.size()) {
        c = text[++i];
      } else if (c == ';') {
        endedBySemicolon = true;
        ++i;
        break;
      } else if (c == '=' && !inValue) {
        inValue = true;
        continue;
      }
      (inValue ? v : k).push_back(c);
    }
    if (inValue && (endedBySemicolon || lastPairComplete) && k == key && v == value) return true;
    if (!endedBySemicolon) return false;
  }
}

std::string_view valueText(sqlite3_value* value) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
  if (text == nullptr) return {};
  return {text, static_cast<size_t>(sqlite3_value_bytes(value))};
}

// SQL px_pair_equals(serviceData, key, value, lastPairComplete) -> 0/1 (NULL text: 0).
void pairEqualsSql(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  const bool found = hasPair(valueText(argv[0]), valueText(argv[1]), valueText(argv[2]),
                             sqlite3_value_int(argv[3]) != 0);
  sqlite3_result_int(ctx, found ? 1 : 0);
}

bool rowIsValid(const UsageRow& row) {
  return !row.recordId.empty() && row.segment >= 0 && row.recordTimeMs >= kMinRecordTimeMs &&
         row.recordTimeMs <= kMaxRecordTimeMs;
}

}  // namespace

UsageCursor cursorAfter(const UsageRow& lastRow) {
  return UsageCursor{lastRow.recordTimeMs, lastRow.recordId, lastRow.segment};
}

UsageStore::UsageStore(UsageStoreOptions options) : options_(std::move(options)) {
  const std::string& path = options_.path;
  if (path.empty() || path == ":memory:") {
    throw std::invalid_argument("usage store: path must name a file, got '" + path + "'");
  }
  if (options_.flushIntervalMs == 0) {
    throw std::invalid_argument("usage store: flushIntervalMs must be >= 1");
  }
  if (options_.queueCapacity == 0) {
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
  try {
    openWriter();
    openReader();
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("usage store '" + path + "': " + e.what());
  }
  writer_ = std::thread(&UsageStore::writerLoop, this);
}

UsageStore::~UsageStore() {
  try {
    close();
  } catch (const std::exception& e) {
    report(std::string("usage store: close in destructor failed: ") + e.what());
  }
}

void UsageStore::openWriter() {
  db_ =
      sqlite::open(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = db_.get();
  sqlite3_busy_timeout(db, static_cast<int>(std::min<uint32_t>(options_.busyTimeoutMs, INT32_MAX)));
  // The first statement reads the header: a file that is not a database fails here.
  const std::string mode = sqlite::queryText(db, "PRAGMA journal_mode=WAL");
  if (!ascii::equalsNoCase(mode, "wal")) {
    throw std::runtime_error("usage store '" + options_.path +
                             "': cannot switch to WAL journal mode (got '" + mode + "')");
  }
  if (options_.quickCheckOnOpen) {
    sqlite::Stmt check = sqlite::prepare(db, "PRAGMA quick_check(5)", false);
    std::string problems;
    int rc;
    while ((rc = sqlite3_step(check.get())) == SQLITE_ROW) {
      std::string line = sqlite::columnText(check.get(), 0);
      std::replace(line.begin(), line.end(), '\n', ' ');  // keep the error on one log line
      if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (rc != SQLITE_DONE) {
      throw sqlite::Error("PRAGMA quick_check", sqlite3_extended_errcode(db), sqlite3_errmsg(db));
    }
    if (!problems.empty()) {
      throw std::runtime_error("usage store '" + options_.path +
                               "': database is corrupt (quick_check): " + problems);
    }
  }

  sqlite::exec(db, "BEGIN IMMEDIATE");
  try {
    const int64_t version = sqlite::queryInt(db, "PRAGMA user_version");
    if (version > kSchemaVersion) {
      throw std::runtime_error("usage store '" + options_.path + "': schema version " +
                               std::to_string(version) + " is newer than this build's " +
                               std::to_string(kSchemaVersion));
    }
    const bool exists = sqlite::queryInt(db,
                                         "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                         "AND name = 'USAGE_RECORD' COLLATE NOCASE") > 0;
    if (!exists) {
      if (version != 0) {
        throw std::runtime_error("usage store '" + options_.path + "': schema version " +
                                 std::to_string(version) + " but no USAGE_RECORD table");
      }
      sqlite::exec(db, kCreateTable);
    } else {
      // An existing table (ours, or made by hand before user_version was set) must match exactly.
      if (const auto found = sqlite::columnMismatch(db, "USAGE_RECORD", kExpectedColumns.data(),
                                                    kExpectedColumns.size())) {
        throw std::runtime_error("usage store '" + options_.path +
                                 "': table USAGE_RECORD has unexpected columns (" + *found +
                                 "); expected " + kCreateTable);
      }
    }
    sqlite::exec(db, kCreateIndexes);
    // Migrations from older versions go here, one step per version; 0 = new or adopted table.
    if (version < kSchemaVersion) {
      sqlite::exec(db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    }
    sqlite::exec(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }

  sqlite::exec(db, options_.durability == Durability::kDurable ? "PRAGMA synchronous=FULL"
                                                               : "PRAGMA synchronous=NORMAL");
  sqlite::exec(db, ("PRAGMA cache_size = -" + std::to_string(options_.writerCacheKiB)).c_str());
  // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: pages rewritten in between are copied
  // once. close() truncates the WAL.
  sqlite::exec(db, "PRAGMA wal_autocheckpoint = 10000");
  if (options_.maxPageCount > 0) {
    sqlite::exec(db, ("PRAGMA max_page_count = " + std::to_string(options_.maxPageCount)).c_str());
  }
  insert_ = sqlite::prepare(db, std::string("INSERT INTO USAGE_RECORD (") + kColumns +
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  begin_ = sqlite::prepare(db, "BEGIN IMMEDIATE");
  commit_ = sqlite::prepare(db, "COMMIT");
  rollback_ = sqlite::prepare(db, "ROLLBACK");
  savepoint_ = sqlite::prepare(db, "SAVEPOINT px_append");
  release_ = sqlite::prepare(db, "RELEASE px_append");
  rollbackTo_ = sqlite::prepare(db, "ROLLBACK TO px_append");
}

void UsageStore::openReader() {
  readDb_ = sqlite::open(options_.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = readDb_.get();
  sqlite3_busy_timeout(db, static_cast<int>(std::min<uint32_t>(options_.busyTimeoutMs, INT32_MAX)));
  const int rc = sqlite3_create_function_v2(db, "px_pair_equals", 4,
                                            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                            nullptr, &pairEqualsSql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw sqlite::Error("create px_pair_equals", rc, sqlite3_errmsg(db));
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
  const size_t threshold = std::max<size_t>(1, capacity / 4);
  bool wake = false;
  AppendResult result;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) {
      result.reason = AppendRejection::kClosed;
      return result;
    }
    if (!valid) {
      ++stats_.rejectedInvalid;
      result.reason = AppendRejection::kInvalidRow;
      return result;
    }
    if (n > capacity) {
      ++stats_.rejectedFull;
      result.reason = AppendRejection::kTooLarge;
      return result;
    }
    if (deadline) {
      roomCv_.wait_until(lock, *deadline,
                         [&] { return stopping_ || stats_.queued + n <= capacity; });
      if (stopping_) {
        result.reason = AppendRejection::kClosed;
        return result;
      }
    }
    if (stats_.queued + n > capacity) {
      ++stats_.rejectedFull;
      result.reason = AppendRejection::kQueueFull;
      return result;
    }
    // Wake the writer only when it may be idle or waiting for the batch threshold.
    wake = queue_.empty() || options_.durability == Durability::kDurable ||
           (queueRows_ < threshold && queueRows_ + n >= threshold);
    if (queue_.empty()) oldestQueued_ = std::chrono::steady_clock::now();
    result = AppendResult{true, AppendRejection::kNone, nextTicket_++};
    queue_.push_back(Pending{result.ticket, std::move(rows), std::move(onCommitted), false, {}});
    queueRows_ += n;
    stats_.queued += n;
  }
  if (wake) workCv_.notify_one();
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
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void UsageStore::setWriterPausedForTest(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = paused;
  }
  workCv_.notify_one();
}

void UsageStore::writerLoop() {
  const auto interval = std::chrono::milliseconds(options_.flushIntervalMs);
  const size_t threshold = std::max<size_t>(1, options_.queueCapacity / 4);
  const bool durable = options_.durability == Durability::kDurable;
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        if (!queue_.empty() && (!paused_ || stopping_)) {
          if (durable || stopping_ || queueRows_ >= threshold) break;
          const auto due = oldestQueued_ + interval;
          if (std::chrono::steady_clock::now() >= due) break;
          workCv_.wait_until(lock, due);
        } else {
          if (stopping_ && queue_.empty()) return;
          workCv_.wait(lock);
        }
      }
      batch.swap(queue_);
      queueRows_ = 0;
    }
    writeBatch(batch);
    finishBatch(batch);
    batch.clear();
  }
}

void UsageStore::writeBatch(std::vector<Pending>& batch) {
  for (uint32_t attempt = 0;; ++attempt) {
    const WriteError error = tryWrite(batch);
    if (error.code == SQLITE_OK) return;
    size_t rows = 0;
    for (const Pending& p : batch) rows += p.rows.size();
    const std::string what = "usage store '" + options_.path + "': writing " +
                             std::to_string(batch.size()) + " appends (" + std::to_string(rows) +
                             " rows) failed: " + error.message;
    if (attempt >= options_.writeRetries) {
      for (Pending& p : batch) p.ok = false;
      report(what + "; gave up after " + std::to_string(attempt + 1) + " attempts");
      return;
    }
    const uint32_t delayMs = options_.retryBackoffMs << std::min<uint32_t>(attempt, 16);
    report(what + "; retry " + std::to_string(attempt + 1) + " of " +
           std::to_string(options_.writeRetries) + " in " + std::to_string(delayMs) + " ms");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.retries;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
  }
}

UsageStore::WriteError UsageStore::tryWrite(std::vector<Pending>& batch) {
  sqlite3* db = db_.get();
  size_t rows = 0;
  for (Pending& p : batch) {
    p.ok = true;
    p.error.clear();
    rows += p.rows.size();
  }
  if (rows == 0) return {};
  auto failure = [&](int code) {
    WriteError error{code, sqlite3_errmsg(db)};
    rollbackIfOpen();
    return error;
  };
  int rc = sqlite::runReset(begin_.get());
  if (rc != SQLITE_DONE) return failure(rc);
  sqlite3_stmt* insert = insert_.get();
  const sqlite::ResetGuard clearInsert(insert);
  std::string time;
  for (Pending& p : batch) {
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
      if (!isRowError(rc)) {
        WriteError error{rc, message};
        rollbackIfOpen();
        return error;
      }
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
  if ((rc = sqlite::runReset(commit_.get())) != SQLITE_DONE) return failure(rc);
  return {};
}

void UsageStore::rollbackIfOpen() {
  // Some errors (e.g. SQLITE_FULL) already rolled the transaction back.
  if (!sqlite3_get_autocommit(db_.get())) sqlite::runReset(rollback_.get());
}

void UsageStore::finishBatch(std::vector<Pending>& batch) {
  if (batch.empty()) return;
  // Logged before the outcome is published, so a waiter that sees kFailed finds the log entry.
  for (const Pending& p : batch) {
    if (!p.error.empty()) report(p.error);
  }
  size_t written = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Pending& p : batch) {
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
    const bool anyRows =
        std::any_of(batch.begin(), batch.end(), [](const Pending& p) { return !p.rows.empty(); });
    const bool committed =
        std::any_of(batch.begin(), batch.end(), [](const Pending& p) { return p.ok; });
    if (anyRows && committed) ++stats_.commits;
    decidedThrough_ = batch.back().ticket;
  }
  doneCv_.notify_all();
  roomCv_.notify_all();
  for (Pending& p : batch) {
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
  std::lock_guard<std::mutex> closeLock(closeMutex_);
  if (closed_) return;
  if (writer_.get_id() == std::this_thread::get_id()) {
    throw std::logic_error("usage store: close() called from an onCommitted callback");
  }
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  workCv_.notify_all();
  roomCv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> lock(readMutex_);
    readStatements_.clear();
    readDb_.reset();
  }
  insert_.reset();
  begin_.reset();
  commit_.reset();
  rollback_.reset();
  savepoint_.reset();
  release_.reset();
  rollbackTo_.reset();
  if (db_) {
    // Fold the WAL into the database so the file is complete on its own.
    try {
      sqlite::exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const sqlite::Error& e) {
      report("usage store '" + options_.path + "': " + e.what());
    }
    db_.reset();
  }
}

sqlite3_stmt* UsageStore::readStatement(const std::string& sql) {
  auto it = readStatements_.find(sql);
  if (it == readStatements_.end()) {
    it = readStatements_.emplace(sql, sqlite::prepare(readDb_.get(), sql)).first;
  }
  return it->second.get();
}

std::vector<UsageRow> UsageStore::query(const UsageQuery& q) {
  using Param = std::variant<int64_t, std::string>;
  std::string where;
  std::vector<Param> params;
  auto add = [&](const std::string& condition, Param param) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
    params.push_back(std::move(param));
  };
  if (q.fromTimeMs) {
    if (*q.fromTimeMs > kMaxRecordTimeMs) return {};
    if (*q.fromTimeMs > kMinRecordTimeMs) add("r.RECORDTIME >= ?", formatRecordTime(*q.fromTimeMs));
  }
  if (q.toTimeMs) {
    if (*q.toTimeMs <= kMinRecordTimeMs) return {};
    if (*q.toTimeMs <= kMaxRecordTimeMs) add("r.RECORDTIME < ?", formatRecordTime(*q.toTimeMs));
  }
  if (q.service) add("r.SERVICE = ?", *q.service);
  if (q.eventType) add("r.EVENTTYPE = ?", *q.eventType);
  if (q.statusCode) add("r.STATUSCODE = ?", int64_t{*q.statusCode});
  if (q.globalId) add("r.GLOBALID = ?", *q.globalId);
  if (q.requester) {
    add("EXISTS (SELECT 1 FROM USAGE_RECORD AS s0 WHERE s0.RECORDID = r.RECORDID AND "
        "s0.SEGMENT = 0 AND px_pair_equals(s0.SERVICEDATA, 'REQUESTER', ?, NOT EXISTS (SELECT 1 "
        "FROM USAGE_RECORD AS s1 WHERE s1.RECORDID = r.RECORDID AND s1.SEGMENT = 1 AND "
        "substr(s1.SERVICEDATA, 1, 1) <> ';')))",
        *q.requester);
  }
  if (q.after) {
    if (q.after->recordTimeMs < kMinRecordTimeMs || q.after->recordTimeMs > kMaxRecordTimeMs) {
      throw std::invalid_argument("usage store query: cursor time out of range");
    }
    add("(r.RECORDTIME, r.RECORDID, r.SEGMENT) > (?, ?, ?)",
        formatRecordTime(q.after->recordTimeMs));
    params.emplace_back(q.after->recordId);
    params.emplace_back(int64_t{q.after->segment});
  }
  std::string sql = std::string("SELECT ") + kColumns + " FROM USAGE_RECORD AS r" + where +
                    " ORDER BY r.RECORDTIME, r.RECORDID, r.SEGMENT";
  if (q.limit > 0) {
    sql += " LIMIT ?";
    params.emplace_back(int64_t{q.limit});
  }

  std::lock_guard<std::mutex> lock(readMutex_);
  if (!readDb_) throw std::logic_error("usage store '" + options_.path + "' is closed");
  sqlite3* db = readDb_.get();
  auto fail = [&](const char* what) {
    return std::runtime_error("usage store '" + options_.path + "': " + what + ": " +
                              sqlite3_errmsg(db));
  };
  sqlite3_stmt* stmt;
  try {
    stmt = readStatement(sql);
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("usage store '" + options_.path + "': " + e.what());
  }
  const sqlite::ResetGuard reset(stmt);
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i + 1);
    const int rc = std::holds_alternative<int64_t>(params[i])
                       ? sqlite3_bind_int64(stmt, index, std::get<int64_t>(params[i]))
                       : sqlite::bindText(stmt, index, std::get<std::string>(params[i]));
    if (rc != SQLITE_OK) throw fail("query bind");
  }
  std::vector<UsageRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    UsageRow row;
    row.recordId = sqlite::columnText(stmt, 0);
    row.segment = sqlite3_column_int(stmt, 1);
    row.globalId = sqlite::columnText(stmt, 2);
    row.service = sqlite::columnText(stmt, 3);
    row.host = sqlite::columnText(stmt, 4);
    row.eventType = sqlite::columnText(stmt, 5);
    const std::string time = sqlite::columnText(stmt, 6);
    const std::optional<int64_t> ms = parseRecordTime(time);
    if (!ms) {
      throw std::runtime_error("usage store '" + options_.path + "': record '" + row.recordId +
                               "' has a malformed RECORDTIME '" + time + "'");
    }
    row.recordTimeMs = *ms;
    row.statusCode = sqlite3_column_int(stmt, 7);
    row.serviceData = sqlite::columnText(stmt, 8);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) throw fail("query");
  return rows;
}

}  // namespace px
