// Writes usage records: validates each record's service data against the attribute catalogue,
// gives it a RECORDID, cuts SERVICEDATA into segments and hands the rows to the store that
// config.store names: the SQLite UsageStore (default) or PostgreSQL (PgUsageStore.h). Reads
// them back reassembled. The one entry point the binding uses for usage records.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "store/UsageRowStore.h"
#include "usage/Catalogue.h"
#include "usage/RecordId.h"

namespace px {

struct UsageEntry {
  std::string globalId;
  std::string eventType;  // catalogue name, e.g. "getStatus"
  int statusCode = 0;     // 0..16
  int64_t recordTimeMs = 0;
  servicedata::Pairs attributes;  // attribute name -> value, checked against the catalogue
};

struct UsagePage {
  std::vector<UsageRecord> records;  // reassembled, ordered by RECORDTIME, RECORDID
  std::optional<UsageCursor> next;   // where the next page starts; empty at the end
};

class UsageRecorder {
 public:
  // Opens (creating its directory) or creates the database of config.usage, or (store.backend
  // postgresql) starts the PostgreSQL store, which connects in the background. Throws
  // std::runtime_error naming the file when it cannot be opened, is corrupt or foreign. onError
  // hears the store's write errors, retries and connection changes (writer thread).
  explicit UsageRecorder(const GatewayConfig& config,
                         std::function<void(const std::string& message)> onError = nullptr);

  // Validates every entry first (std::invalid_argument naming the event type and attribute on
  // the first bad one: nothing is queued then), then queues all rows as one atomic append.
  // onOutcome runs on the writer thread once the rows are committed (or failed, with SQLite's
  // reason), only when the append was accepted.
  AppendResult record(const std::vector<UsageEntry>& entries,
                      UsageRowStore::OutcomeCallback onOutcome);

  // One page of reassembled records matching the query (query.limit counts rows).
  UsagePage query(UsageQuery query);

  UsageStoreStats stats() const { return store_->stats(); }
  bool durable() const { return durable_; }
  // "sqlite" or "postgresql".
  const char* backend() const { return backend_; }
  void close() { store_->close(); }

 private:
  static std::unique_ptr<UsageRowStore> openStore(const GatewayConfig& config,
                                                  std::function<void(const std::string&)> onError);

  std::string service_;
  std::string host_;
  size_t maxServiceDataBytes_;
  bool durable_;
  const char* backend_;
  RecordIdGenerator ids_;
  std::unique_ptr<UsageRowStore> store_;
};

}  // namespace px
