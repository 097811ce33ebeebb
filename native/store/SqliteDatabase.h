// The shared opening of a store's SQLite file: one writer connection in WAL mode, optionally
// checked with quick_check, its schema identified, version-checked, created or migrated in one
// BEGIN IMMEDIATE, then the store's pragmas; and the closing that folds the WAL back in. Each
// store declares only its schema (Schema::prepare) and its pragmas.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/Sqlite.h"

namespace px::sqlite {

// What the file held when it was opened.
struct FileState {
  int64_t version = 0;        // PRAGMA user_version
  int64_t applicationId = 0;  // PRAGMA application_id
  int64_t objects = 0;        // rows of sqlite_master
  bool fresh() const { return version == 0 && applicationId == 0 && objects == 0; }
};

// A refusal of the file by Schema::prepare; the text follows "<label> '<path>': ".
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Schema {
  int64_t version = 1;  // this build's PRAGMA user_version; a newer file is refused
  // Stamped on new files and required of every other one; 0 = the store uses none.
  int64_t applicationId = 0;
  std::string kind;  // names the expected file in a refusal: "not a <kind> (...)"
  // Inside the open transaction, after the identity and version checks: creates the tables of a
  // new file, migrates an older version, checks the tables of an existing one. Throws SchemaError
  // (or sqlite::Error) to refuse. The base then stamps application_id and user_version.
  std::function<void(sqlite3* db, const FileState& found)> prepare;
};

struct OpenOptions {
  std::string label;  // "usage store": starts every error message, with the path
  std::string path;
  uint32_t busyTimeoutMs = 5000;     // wait for locks held by other connections
  bool quickCheck = false;           // PRAGMA quick_check at open (costs O(database size))
  bool synchronousFull = true;       // FULL: commits survive power loss; NORMAL: a process crash
  std::vector<std::string> pragmas;  // run after the schema step, in order
};

class SqliteDatabase {
 public:
  // Opens or creates the file as described above. Throws std::runtime_error
  // "<label> '<path>': <why>" (SQLite's message, the corruption found, the schema refusal).
  SqliteDatabase(const OpenOptions& options, const Schema& schema);
  SqliteDatabase(SqliteDatabase&&) = default;
  SqliteDatabase& operator=(SqliteDatabase&&) = default;

  sqlite3* get() const { return db_.get(); }
  explicit operator bool() const { return static_cast<bool>(db_); }
  const std::string& path() const { return path_; }

  // Folds the WAL into the database file (so that it is complete on its own) and closes the
  // connection; finalize its statements first. Returns the checkpoint's error ("" when none);
  // a failed checkpoint loses nothing: the WAL is replayed at the next open.
  std::string close();

 private:
  std::string path_;
  Db db_;
};

}  // namespace px::sqlite
