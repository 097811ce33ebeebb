// Sustained usage-record throughput of the SQLite store: P producer threads append records
// (each one encoded getStatus record, segmented) for D seconds; prints records/s committed.
//   build-cmake/usage_store_bench [producers=4] [seconds=3] [batch=1] [durable|batched]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/UsageStore.h"
#include "usage/Catalogue.h"
#include "usage/RecordId.h"
#include "usage/Segmenter.h"

int main(int argc, char** argv) {
  const int producers = argc > 1 ? std::atoi(argv[1]) : 4;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 1;
  const bool durable = argc > 4 && std::string(argv[4]) == "durable";
  const auto dir =
      std::filesystem::temp_directory_path() / ("px-usage-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  px::UsageStoreOptions options;
  options.path = (dir / "usage.db").string();
  options.durability = durable ? px::Durability::kDurable : px::Durability::kBatched;
  options.queueCapacity = 1000000;
  options.quickCheckOnOpen = false;
  px::UsageStore store(options);
  px::RecordIdGenerator ids;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rejected{0};
  std::vector<std::thread> threads;
  const auto started = std::chrono::steady_clock::now();
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<px::UsageRow> rows;
        for (int b = 0; b < batch; ++b) {
          px::ServiceDataBuilder data(px::EventType::kGetStatus);
          data.set(px::attr::kRequester, "bench-app-" + std::to_string(p))
              .set(px::attr::kResponseTime, "3")
              .setTime(px::attr::kStartTime, 1795000000000 + static_cast<int64_t>(n))
              .set(px::attr::kService, "PX_TS_SIP")
              .set(px::attr::kTarget, "sip:user" + std::to_string(n) + "@example.test");
          ++n;
          px::UsageRecord record;
          record.recordId = ids.newRecordId();
          record.globalId = record.recordId;
          record.service = "PX_TS_SIP";
          record.host = "bench";
          record.eventType = "getStatus";
          record.recordTimeMs = 1795000000000 + static_cast<int64_t>(n);
          record.serviceData = data.build(px::UsageStatus::kValid);
          for (auto& row : px::segment(record)) rows.push_back(std::move(row));
        }
        const auto result = store.appendBlocking(std::move(rows), std::chrono::milliseconds(1000));
        if (!result.accepted) rejected++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  store.close();  // everything queued is committed before the clock stops
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto stats = store.stats();
  std::printf(
      "producers=%d batch=%d mode=%s: %llu records committed in %.2f s = %.0f records/s "
      "(%llu commits, %llu rejected)\n",
      producers, batch, durable ? "durable" : "batched",
      static_cast<unsigned long long>(stats.written), elapsed,
      static_cast<double>(stats.written) / elapsed, static_cast<unsigned long long>(stats.commits),
      static_cast<unsigned long long>(rejected.load()));
  std::filesystem::remove_all(dir);
  return 0;
}
