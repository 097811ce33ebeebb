// The `store` section: which database holds the usage records (issue 17, first part). SQLite
// (usage.database) is the default and needs nothing else; postgresql puts the records into a
// PostgreSQL database shared by every gateway instance of a clustered service, with a local
// SQLite spool for batched mode while it is unreachable, and puts every registration there too:
// the instances sharing it form one service (docs/cluster.md).
#pragma once

#include <cstdint>
#include <string>

namespace px {

enum class StoreBackend { kSqlite, kPostgresql };

struct StoreConfig {
  StoreBackend backend = StoreBackend::kSqlite;
  // libpq connection string or URI (postgresql://user@host:port/db?...); required for
  // kPostgresql. A password is better kept in a ~/.pgpass file (PGPASSFILE) than here.
  std::string url;
  // Batched mode while PostgreSQL is unreachable: rows go to this SQLite file (resolved like
  // usage.database) and are replayed when it returns. At most spoolCapacity rows (1000 ..
  // 100000000); beyond, appends fail like write errors.
  std::string spool = "var/usage-spool.db";
  uint32_t spoolCapacity = 1000000;
  uint32_t connectTimeoutSec = 5;         // 2 .. 60: libpq connect_timeout
  uint32_t reconnectBackoffMs = 200;      // 10 .. 60000: first delay after a failed connection
  uint32_t reconnectBackoffMaxMs = 5000;  // reconnectBackoffMs .. 600000: doubled up to this
  // The clustered service (docs/cluster.md): this instance's name for operators ("" = host:pid),
  // the lease of its notifications (database clock), how often it is renewed, how much sooner
  // than the database the instance itself stops, and whether ownership is balanced.
  std::string instanceName;
  uint32_t leaseMs = 15000;       // 1000 .. 600000
  uint32_t renewMs = 5000;        // 100 .. leaseMs / 2
  uint32_t leaseSafetyMs = 1000;  // 0 .. leaseMs - renewMs - 1 (checked at load)
  bool balance = true;
};

}  // namespace px
