#include "store/UsageSpool.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace px {

UsageSpool::UsageSpool(std::string path, uint64_t capacity)
    : path_(std::move(path)), capacity_(capacity) {
  try {
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    db_ = sqlite::open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    sqlite3* db = db_.get();
    sqlite::setBusyTimeout(db, 5000);
    sqlite::exec(db,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "CREATE TABLE IF NOT EXISTS USAGE_SPOOL ("
                 " SEQ INTEGER PRIMARY KEY,"
                 " RECORDID TEXT NOT NULL, SEGMENT INTEGER NOT NULL, GLOBALID TEXT NOT NULL,"
                 " SERVICE TEXT NOT NULL, HOST TEXT NOT NULL, EVENTTYPE TEXT NOT NULL,"
                 " RECORDTIMEMS INTEGER NOT NULL, STATUSCODE INTEGER NOT NULL,"
                 " SERVICEDATA TEXT NOT NULL, UNIQUE (RECORDID, SEGMENT))");
    insert_ = sqlite::prepare(
        db,
        "INSERT OR IGNORE INTO USAGE_SPOOL (RECORDID, SEGMENT, GLOBALID, SERVICE, HOST, "
        "EVENTTYPE, RECORDTIMEMS, STATUSCODE, SERVICEDATA) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
        "?8, ?9)");
    peek_ = sqlite::prepare(db,
                            "SELECT SEQ, RECORDID, SEGMENT, GLOBALID, SERVICE, HOST, EVENTTYPE, "
                            "RECORDTIMEMS, STATUSCODE, SERVICEDATA FROM USAGE_SPOOL ORDER BY SEQ "
                            "LIMIT ?1");
    remove_ = sqlite::prepare(db, "DELETE FROM USAGE_SPOOL WHERE SEQ <= ?1");
    size_ = static_cast<uint64_t>(sqlite::queryInt(db, "SELECT count(*) FROM USAGE_SPOOL"));
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("usage spool '" + path_ + "': " + e.what());
  }
}

bool UsageSpool::add(const std::vector<const UsageRow*>& rows, std::string& error) {
  if (!db_) {
    error = "usage spool '" + path_ + "' is closed";
    return false;
  }
  if (size_.load() + rows.size() > capacity_) {
    error = "usage spool '" + path_ + "' is full (" + std::to_string(capacity_) + " rows)";
    return false;
  }
  sqlite3* db = db_.get();
  uint64_t added = 0;
  try {
    sqlite::inTransaction(db, [&] {
      sqlite3_stmt* s = insert_.get();
      for (const UsageRow* row : rows) {
        const sqlite::ResetGuard reset(s);
        sqlite::bindText(s, 1, row->recordId);
        sqlite3_bind_int(s, 2, row->segment);
        sqlite::bindText(s, 3, row->globalId);
        sqlite::bindText(s, 4, row->service);
        sqlite::bindText(s, 5, row->host);
        sqlite::bindText(s, 6, row->eventType);
        sqlite3_bind_int64(s, 7, row->recordTimeMs);
        sqlite3_bind_int(s, 8, row->statusCode);
        sqlite::bindText(s, 9, row->serviceData);
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) throw sqlite::Error("spooling", rc, sqlite3_errmsg(db));
        added += static_cast<uint64_t>(sqlite3_changes(db));
      }
    });
  } catch (const sqlite::Error& e) {
    error = "usage spool '" + path_ + "': " + e.what();
    return false;
  }
  size_ += added;
  return true;
}

std::vector<UsageRow> UsageSpool::peek(size_t limit, int64_t& lastKey) {
  lastKey = 0;
  std::vector<UsageRow> rows;
  if (!db_) return rows;
  sqlite3_stmt* s = peek_.get();
  const sqlite::ResetGuard reset(s);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(limit));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    UsageRow row;
    lastKey = sqlite3_column_int64(s, 0);
    row.recordId = sqlite::columnText(s, 1);
    row.segment = sqlite3_column_int(s, 2);
    row.globalId = sqlite::columnText(s, 3);
    row.service = sqlite::columnText(s, 4);
    row.host = sqlite::columnText(s, 5);
    row.eventType = sqlite::columnText(s, 6);
    row.recordTimeMs = sqlite3_column_int64(s, 7);
    row.statusCode = sqlite3_column_int(s, 8);
    row.serviceData = sqlite::columnText(s, 9);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("usage spool '" + path_ + "': reading: " + sqlite3_errmsg(db_.get()));
  }
  return rows;
}

void UsageSpool::remove(int64_t lastKey) {
  if (!db_ || lastKey <= 0) return;
  sqlite3_stmt* s = remove_.get();
  const sqlite::ResetGuard reset(s);
  sqlite3_bind_int64(s, 1, lastKey);
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("usage spool '" + path_ +
                             "': removing replayed rows: " + sqlite3_errmsg(db_.get()));
  }
  const auto removed = static_cast<uint64_t>(sqlite3_changes(db_.get()));
  size_ -= std::min<uint64_t>(removed, size_.load());
}

void UsageSpool::close() {
  insert_.reset();
  peek_.reset();
  remove_.reset();
  db_.reset();
}

}  // namespace px
