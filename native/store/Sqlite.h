// Thin RAII layer over the SQLite C API: owning handles for connections and statements, a reset
// guard, and throwing helpers whose messages carry SQLite's own text.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace px::sqlite {

struct DbCloser {
  // close_v2 tolerates statements still alive (the handle becomes a zombie until they finish).
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};

struct ValueFree {
  void operator()(sqlite3_value* value) const noexcept { sqlite3_value_free(value); }
};

using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
// A column value kept beyond its statement's step (sqlite3_value_dup).
using Value = std::unique_ptr<sqlite3_value, ValueFree>;

// A failed SQLite call. what() is "<context>: <sqlite message>"; code() is the extended code.
class Error : public std::runtime_error {
 public:
  Error(const std::string& context, int code, const std::string& message);
  int code() const { return code_; }
  int primaryCode() const { return code_ & 0xff; }

 private:
  int code_;
};

// Opens a connection with extended result codes on. Throws Error naming `path` on failure (the
// handle SQLite allocates even for a failed open is released).
Db open(const std::string& path, int flags);

// Compiles one statement; throws Error with sqlite3_errmsg. persistent = kept for many runs.
Stmt prepare(sqlite3* db, std::string_view sql, bool persistent = true);

// Runs SQL without results (may hold several statements); throws Error.
void exec(sqlite3* db, const char* sql);

// Runs fn() inside BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows when fn or the commit
// throws. For one-off transactions outside a store's writer (schema steps, quarantine).
template <typename Fn>
void inTransaction(sqlite3* db, Fn&& fn) {
  exec(db, "BEGIN IMMEDIATE");
  try {
    fn();
    exec(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

// How long a statement waits for a lock another connection holds (SQLite's busy handler).
inline void setBusyTimeout(sqlite3* db, uint32_t ms) {
  sqlite3_busy_timeout(db, static_cast<int>(std::min<uint32_t>(ms, INT32_MAX)));
}

// Runs a single-row, single-column query and returns column 0 as text ("" for NULL); throws
// Error, or Error with code SQLITE_MISMATCH when there is no row.
std::string queryText(sqlite3* db, const char* sql);

// Same for an integer result.
int64_t queryInt(sqlite3* db, const char* sql);

// Resets a statement and clears its bindings when the scope ends, so a reused statement never
// keeps a read transaction open or points at freed bound text.
class ResetGuard {
 public:
  explicit ResetGuard(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetGuard() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Binds text without copying (SQLITE_STATIC): the caller keeps `text` alive until the statement
// has run and its bindings are cleared.
inline int bindText(sqlite3_stmt* stmt, int index, const std::string& text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

// Runs a statement that returns no rows and resets it; returns the step result code.
inline int runReset(sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc;
}

// One column of a table as PRAGMA table_info reports it.
struct ColumnSpec {
  const char* name;
  const char* type;
  bool notNull;
  int pk;  // position in the primary key, 0 = not part of it
};

// Checks that `table` has exactly the `count` columns of `expected`, in order (names and types
// compared case-insensitively). nullopt when it does; otherwise the columns found, as
// "name TYPE [NOT NULL] [PKn], ..." for the error message. Throws Error on a SQLite failure.
std::optional<std::string> columnMismatch(sqlite3* db, const std::string& table,
                                          const ColumnSpec* expected, size_t count);

// Text of column `col` as a std::string ("" for NULL).
std::string columnText(sqlite3_stmt* stmt, int col);

}  // namespace px::sqlite
