// Usage records in PostgreSQL (store.backend: postgresql): the table, its versioned migrations
// and the libpq side of SpoolingUsageStore (which brings the writer thread, group commit,
// reconnection and the spool).
//
// Schema (migrations in PgUsageStore.cc, applied at the first connection under an advisory lock,
// so that instances starting together migrate once; the version is the row 'usage' of
// schema_version, and a database of a newer version is refused):
//   usage_record(recordid text, segment integer, globalid text, service text, host text,
//                eventtype text, recordtime timestamptz, statuscode integer, servicedata text,
//                PRIMARY KEY (recordid, segment)), every column NOT NULL; the text keys in the
//   "C" collation (byte order, as SQLite). Indexes as the SQLite store's: (recordtime, recordid,
//   segment), (globalid), (eventtype, recordtime). px_pair_equals(text, text, text, boolean):
//   the requester filter of queries (UsageQuery::requester), as in UsageQuery.cc.
// Writing, one implicit transaction per batch: batches of 64 rows or more by COPY FROM STDIN
//   (the fastest load); a COPY that meets a row already stored (unique_violation) writes nothing
//   and the batch goes through the prepared INSERT ... SELECT FROM unnest($1..$9 arrays) ON
//   CONFLICT (recordid, segment) DO NOTHING, as smaller batches do: any number of rows in one
//   statement and round trip, RECORDID+SEGMENT the idempotency key.
// Reading: a second connection, serialised by a mutex, (re)connected when needed.
#pragma once

#include <memory>
#include <string>

#include "store/SpoolingUsageStore.h"

namespace px {

struct PgUsageStoreOptions {
  std::string url;  // libpq URI or connection string
  unsigned connectTimeoutSec = 5;
  SpoolingUsageStoreOptions store;
};

// The current version of the usage schema this build migrates to.
int pgUsageSchemaVersion();

// The store; it connects in the background (stats().reachable says when it is).
std::unique_ptr<SpoolingUsageStore> openPgUsageStore(PgUsageStoreOptions options);

// The libpq target alone (tests).
std::unique_ptr<UsageTarget> makePgUsageTarget(std::string url, unsigned connectTimeoutSec);

}  // namespace px
