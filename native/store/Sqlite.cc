#include "store/Sqlite.h"

#include "common/Ascii.h"

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

std::optional<std::string> columnMismatch(sqlite3* db, const std::string& table,
                                          const ColumnSpec* expected, size_t count) {
  Stmt info = prepare(db, "PRAGMA table_info(" + table + ")", false);
  std::string found;
  bool same = true;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(info.get())) == SQLITE_ROW) {
    const std::string name = columnText(info.get(), 1);
    const std::string type = columnText(info.get(), 2);
    const bool notNull = sqlite3_column_int(info.get(), 3) != 0;
    const int pk = sqlite3_column_int(info.get(), 5);
    found += (found.empty() ? "" : ", ") + name + " " + type + (notNull ? " NOT NULL" : "") +
             (pk ? " PK" + std::to_string(pk) : "");
    same = same && n < count && ascii::equalsNoCase(name, expected[n].name) &&
           ascii::equalsNoCase(type, expected[n].type) && notNull == expected[n].notNull &&
           pk == expected[n].pk;
    ++n;
  }
  if (rc != SQLITE_DONE) {
    throw Error("PRAGMA table_info", sqlite3_extended_errcode(db), sqlite3_errmsg(db));
  }
  if (same && n == count) return std::nullopt;
  return found;
}

std::string columnText(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

}  // namespace px::sqlite
