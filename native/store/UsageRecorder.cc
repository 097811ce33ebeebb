#include "store/UsageRecorder.h"

#include <filesystem>
#include <stdexcept>
#include <utility>

#include "store/PgUsageStore.h"
#include "store/UsageStore.h"
#include "usage/Segmenter.h"
#include "usage/UsageStatus.h"

namespace px {

std::unique_ptr<UsageRowStore> UsageRecorder::openStore(
    const GatewayConfig& config, std::function<void(const std::string&)> onError) {
  const Durability durability = config.usage.durability == UsageDurability::kDurable
                                    ? Durability::kDurable
                                    : Durability::kBatched;
  if (config.store.backend == StoreBackend::kPostgresql) {
    PgUsageStoreOptions pg;
    pg.url = config.store.url;
    pg.connectTimeoutSec = config.store.connectTimeoutSec;
    pg.store.durability = durability;
    pg.store.flushIntervalMs = config.usage.flushIntervalMs;
    pg.store.queueCapacity = config.usage.queueCapacity;
    pg.store.spoolPath = config.store.spool;
    pg.store.spoolCapacity = config.store.spoolCapacity;
    pg.store.reconnectBackoffMs = config.store.reconnectBackoffMs;
    pg.store.reconnectBackoffMaxMs = config.store.reconnectBackoffMaxMs;
    pg.store.onError = std::move(onError);
    return openPgUsageStore(std::move(pg));
  }
  UsageStoreOptions options;
  options.onError = std::move(onError);
  options.path = config.usage.database;
  options.durability = durability;
  options.flushIntervalMs = config.usage.flushIntervalMs;
  options.queueCapacity = config.usage.queueCapacity;
  // The database directory (default var/) is created on first use, like any data directory.
  const std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) {
    throw std::runtime_error(options.path + ": cannot create its directory: " + error.message());
  }
  return std::make_unique<UsageStore>(std::move(options));
}

UsageRecorder::UsageRecorder(const GatewayConfig& config,
                             std::function<void(const std::string& message)> onError)
    : service_(config.serviceName),
      host_(config.usage.host),
      maxServiceDataBytes_(config.usage.maxServiceDataBytes),
      durable_(config.usage.durability == UsageDurability::kDurable),
      backend_(config.store.backend == StoreBackend::kPostgresql ? "postgresql" : "sqlite"),
      store_(openStore(config, std::move(onError))) {}

AppendResult UsageRecorder::record(const std::vector<UsageEntry>& entries,
                                   UsageRowStore::OutcomeCallback onOutcome) {
  std::vector<UsageRow> rows;
  rows.reserve(entries.size());
  for (const UsageEntry& entry : entries) {
    const std::optional<EventType> type = eventTypeFromName(entry.eventType);
    if (!type) throw std::invalid_argument("unknown usage event type '" + entry.eventType + "'");
    const std::optional<UsageStatus> status = usageStatusFromInt(entry.statusCode);
    if (!status) {
      throw std::invalid_argument("usage status code " + std::to_string(entry.statusCode) +
                                  " is not one of 0..16");
    }
    ServiceDataBuilder builder(*type);
    for (const auto& [name, value] : entry.attributes) builder.set(name, value);
    UsageRecord record;
    record.recordId = ids_.newRecordId();
    record.globalId = entry.globalId;
    record.service = service_;
    record.host = host_;
    record.eventType = entry.eventType;
    record.recordTimeMs = entry.recordTimeMs;
    record.status = *status;
    record.serviceData = builder.build(*status);
    for (UsageRow& row : segment(std::move(record), maxServiceDataBytes_)) {
      rows.push_back(std::move(row));
    }
  }
  return store_->append(std::move(rows), std::move(onOutcome));
}

UsagePage UsageRecorder::query(UsageQuery query) {
  if (query.limit == 0) query.limit = 1000;
  for (;;) {
    std::vector<UsageRow> rows = store_->query(query);
    const bool full = rows.size() >= query.limit;
    UsagePage page;
    std::vector<UsageRow> current;
    auto flush = [&] {
      if (current.empty()) return;
      std::optional<UsageRecord> record = reassemble(std::move(current));
      current.clear();
      if (record) page.records.push_back(std::move(*record));
    };
    // A full page may end inside a record: keep that last record for the next page.
    size_t usable = rows.size();
    if (full) {
      while (usable > 0 && rows[usable - 1].recordId == rows.back().recordId) --usable;
      if (usable == 0) {  // one record larger than the page: read it with a larger page
        query.limit *= 2;
        continue;
      }
      page.next = cursorAfter(rows[usable - 1]);
    }
    for (size_t i = 0; i < usable; ++i) {
      if (!current.empty() && current.front().recordId != rows[i].recordId) flush();
      current.push_back(std::move(rows[i]));
    }
    flush();
    return page;
  }
}

}  // namespace px
