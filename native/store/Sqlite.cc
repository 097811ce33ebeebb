#include "store/Sqlite.h"

namespace px::sqlite {

Error::Error(const std::string& context, int code, const std::string& message)
    : std::runtime_error(context + ": " + message), code_(code) {}

Db open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);  // owned even on failure: SQLite allocates a handle to carry the error
  if (rc != SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    throw Error("cannot open '" + path + "'", rc, msg);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Stmt prepare(sqlite3* db, std::string_view sql, bool persistent) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    persistent ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) {
    throw Error("prepare '" + std::string(sql) + "'", sqlite3_extended_errcode(db),
                sqlite3_errmsg(db));
  }
  return stmt;
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  // sqlite3_exec allocates the message with sqlite3_malloc; own it until copied.
  const std::unique_ptr<char, decltype(&sqlite3_free)> owned(err, &sqlite3_free);
  if (rc != SQLITE_OK) {
    throw Error(sql, sqlite3_extended_errcode(db), owned ? owned.get() : sqlite3_errstr(rc));
  }
}

namespace {

// Steps a one-shot statement to its first row; throws when there is none or on error.
Stmt firstRow(sqlite3* db, const char* sql) {
  Stmt stmt = prepare(db, sql, false);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return stmt;
  if (rc == SQLITE_DONE) throw Error(sql, SQLITE_MISMATCH, "no result row");
  throw Error(sql, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
}

}  // namespace

std::string queryText(sqlite3* db, const char* sql) {
  Stmt stmt = firstRow(db, sql);
  return columnText(stmt.get(), 0);
}

int64_t queryInt(sqlite3* db, const char* sql) {
  Stmt stmt = firstRow(db, sql);
  return sqlite3_column_int64(stmt.get(), 0);
}

std::string columnText(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

}  // namespace px::sqlite
