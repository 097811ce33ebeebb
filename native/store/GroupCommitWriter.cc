#include "store/GroupCommitWriter.h"

#include <algorithm>

namespace px::sqlite {

bool RetryPolicy::retryable(int code) {
  const int primary = code & 0xff;
  return primary != SQLITE_CONSTRAINT && primary != SQLITE_TOOBIG && primary != SQLITE_MISMATCH &&
         primary != SQLITE_RANGE;
}

uint32_t RetryPolicy::delayMs(uint32_t retry) const {
  return backoffMs << std::min<uint32_t>(retry > 0 ? retry - 1 : 0, 16);
}

std::string FailedAttempt::note() const {
  if (!retrying) return "gave up after " + std::to_string(attempt) + " attempts";
  return "retry " + std::to_string(attempt) + " of " + std::to_string(retries) + " in " +
         std::to_string(delayMs) + " ms";
}

Transaction::Transaction(sqlite3* db)
    : db_(db),
      begin_(prepare(db, "BEGIN IMMEDIATE")),
      commit_(prepare(db, "COMMIT")),
      rollback_(prepare(db, "ROLLBACK")) {}

WriteStatus Transaction::failed(int code, const char* step) {
  WriteStatus status{code, sqlite3_errmsg(db_), step};
  rollbackIfOpen();
  return status;
}

WriteStatus Transaction::begin() {
  const int rc = runReset(begin_.get());
  return rc == SQLITE_DONE ? WriteStatus{} : failed(rc, "begin");
}

WriteStatus Transaction::commit() {
  const int rc = runReset(commit_.get());
  return rc == SQLITE_DONE ? WriteStatus{} : failed(rc, "commit");
}

void Transaction::rollbackIfOpen() {
  // Some errors (e.g. SQLITE_FULL) already rolled the transaction back.
  if (!sqlite3_get_autocommit(db_)) runReset(rollback_.get());
}

void Transaction::release() {
  begin_.reset();
  commit_.reset();
  rollback_.reset();
}

}  // namespace px::sqlite
