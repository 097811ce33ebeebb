// Writes usage records: validates each record's service data against the attribute catalogue,
// gives it a RECORDID, cuts SERVICEDATA into segments and hands the rows to the UsageStore.
// Reads them back reassembled. The one entry point the binding uses for usage records.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "store/UsageStore.h"
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
  // Opens (creating its directory) or creates the database of config.usage. Throws
  // std::runtime_error naming the file when it cannot be opened, is corrupt or foreign. onError
  // hears the store's write errors and retries (UsageStoreOptions::onError: writer thread).
  explicit UsageRecorder(const GatewayConfig& config,
                         std::function<void(const std::string& message)> onError = nullptr);

  // Validates every entry first (std::invalid_argument naming the event type and attribute on
  // the first bad one: nothing is queued then), then queues all rows as one atomic append.
  // onOutcome runs on the writer thread once the rows are committed (or failed, with SQLite's
  // reason), only when the append was accepted.
  AppendResult record(const std::vector<UsageEntry>& entries,
                      UsageStore::OutcomeCallback onOutcome);

  // One page of reassembled records matching the query (query.limit counts rows).
  UsagePage query(UsageQuery query);

  UsageStoreStats stats() const { return store_.stats(); }
  bool durable() const { return durable_; }
  void close() { store_.close(); }

 private:
  static UsageStoreOptions storeOptions(const GatewayConfig& config,
                                        std::function<void(const std::string&)> onError);

  std::string service_;
  std::string host_;
  size_t maxServiceDataBytes_;
  bool durable_;
  RecordIdGenerator ids_;
  UsageStore store_;
};

}  // namespace px
