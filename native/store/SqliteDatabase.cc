#include "store/SqliteDatabase.h"

#include <algorithm>

#include "common/Ascii.h"

namespace px::sqlite {
namespace {

// Problems PRAGMA quick_check reports (at most five), joined on one line; "" when it is ok.
std::string quickCheckProblems(sqlite3* db) {
  Stmt check = prepare(db, "PRAGMA quick_check(5)", false);
  std::string problems;
  int rc;
  while ((rc = sqlite3_step(check.get())) == SQLITE_ROW) {
    std::string line = columnText(check.get(), 0);
    std::replace(line.begin(), line.end(), '\n', ' ');  // keep the error on one log line
    if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
  }
  if (rc != SQLITE_DONE) {
    throw Error("PRAGMA quick_check", sqlite3_extended_errcode(db), sqlite3_errmsg(db));
  }
  return problems;
}

// Identity and version checks, then the store's own step, then the stamps.
void applySchema(sqlite3* db, const Schema& schema) {
  inTransaction(db, [&] {
    FileState found;
    found.version = queryInt(db, "PRAGMA user_version");
    found.applicationId = queryInt(db, "PRAGMA application_id");
    found.objects = queryInt(db, "SELECT count(*) FROM sqlite_master");
    if (schema.applicationId != 0 && !found.fresh() &&
        found.applicationId != schema.applicationId) {
      throw SchemaError("not a " + schema.kind + " (application_id " +
                        std::to_string(found.applicationId) + ", user_version " +
                        std::to_string(found.version) + ", " + std::to_string(found.objects) +
                        " schema objects)");
    }
    if (found.version > schema.version) {
      throw SchemaError("schema version " + std::to_string(found.version) +
                        " is newer than this build's " + std::to_string(schema.version));
    }
    if (schema.prepare) schema.prepare(db, found);
    if (schema.applicationId != 0 && found.applicationId != schema.applicationId) {
      exec(db, ("PRAGMA application_id = " + std::to_string(schema.applicationId)).c_str());
    }
    if (found.version < schema.version) {
      exec(db, ("PRAGMA user_version = " + std::to_string(schema.version)).c_str());
    }
  });
}

}  // namespace

SqliteDatabase::SqliteDatabase(const OpenOptions& options, const Schema& schema)
    : path_(options.path) {
  const std::string prefix = options.label + " '" + options.path + "': ";
  try {
    db_ = open(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    sqlite3* db = db_.get();
    setBusyTimeout(db, options.busyTimeoutMs);
    // The first statement reads the header: a file that is not a database fails here.
    const std::string mode = queryText(db, "PRAGMA journal_mode=WAL");
    if (!ascii::equalsNoCase(mode, "wal")) {
      throw std::runtime_error(prefix + "cannot switch to WAL journal mode (got '" + mode + "')");
    }
    if (options.quickCheck) {
      const std::string problems = quickCheckProblems(db);
      if (!problems.empty()) {
        throw std::runtime_error(prefix + "database is corrupt (quick_check): " + problems);
      }
    }
    applySchema(db, schema);
    exec(db, options.synchronousFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    for (const std::string& pragma : options.pragmas) exec(db, pragma.c_str());
  } catch (const Error& e) {
    throw std::runtime_error(prefix + e.what());
  } catch (const SchemaError& e) {
    throw std::runtime_error(prefix + e.what());
  }
}

std::string SqliteDatabase::close() {
  if (!db_) return {};
  std::string error;
  try {
    exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const Error& e) {
    error = e.what();
  }
  db_.reset();
  return error;
}

}  // namespace px::sqlite
