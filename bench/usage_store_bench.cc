// Sustained usage-record throughput of the SQLite store against its limit, raw SQLite, measured in
// the same run:
//   store  P producer threads append records (each one encoded getStatus record, segmented) for
//          D seconds; records (rows) committed per second, the close that commits the backlog
//          inside the measured time.
//   raw    the same number of rows, built the same way, inserted by one thread with the sqlite3
//          C API: the store's table and indexes (kUsageCreateTable/-Indexes), its pragmas, one
//          reused prepared statement, as many rows per transaction as the store committed on
//          average (or rawBatch), the closing WAL checkpoint inside the measured time. Building
//          the rows (encoding) is outside the measured time and printed on its own.
//   query  the store's read path (UsageStore::query) on the store's database: a full export
//          paged by cursor, a time slice, GLOBALID lookups, an event type and time slice, a
//          requester filter.
// CPU per record from getrusage: the store's process (producers' encoding included) and its
// writer (writer thread plus the closing checkpoint); raw's insert thread. Also the time the
// writer was runnable but had no CPU (/proc schedstat): on a small machine the producers take it.
//   build-cmake/usage_store_bench [producers=4] [seconds=3] [batch=1] [durable|batched]
//                                 [rawBatch=0: the store's rows per commit] [all|store|raw]
// The last argument runs one part alone (for a profiler); raw alone inserts 1,000,000 rows, by
// default 10,000 per transaction.
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "store/RecordTime.h"
#include "store/UsageStore.h"
#include "usage/Catalogue.h"
#include "usage/RecordId.h"
#include "usage/Segmenter.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kT0 = 1795000000000;

double seconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double cpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return seconds(u);
}

// Time the calling thread has spent runnable but waiting for a CPU (Linux schedstat).
double runQueueSeconds() {
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return 0;
  unsigned long long running = 0;
  unsigned long long waiting = 0;
  const int n = std::fscanf(f, "%llu %llu", &running, &waiting);
  std::fclose(f);
  return n == 2 ? static_cast<double>(waiting) / 1e9 : 0;
}

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Record n of producer p: the rows the store's producers append and raw inserts.
void appendRecord(std::vector<px::UsageRow>& rows, px::RecordIdGenerator& ids, int p, uint64_t n) {
  px::ServiceDataBuilder data(px::EventType::kGetStatus);
  data.set(px::attr::kRequester, "bench-app-" + std::to_string(p))
      .set(px::attr::kResponseTime, "3")
      .setTime(px::attr::kStartTime, kT0 + static_cast<int64_t>(n))
      .set(px::attr::kService, "PX_TS_SIP")
      .set(px::attr::kTarget, "sip:user" + std::to_string(n) + "@example.test");
  px::UsageRecord record;
  record.recordId = ids.newRecordId();
  record.globalId = record.recordId;
  record.service = "PX_TS_SIP";
  record.host = "bench";
  record.eventType = "getStatus";
  record.recordTimeMs = kT0 + static_cast<int64_t>(n) + 1;
  record.serviceData = data.build(px::UsageStatus::kValid);
  for (auto& row : px::segment(std::move(record))) rows.push_back(std::move(row));
}

struct StoreRun {
  uint64_t rows = 0;
  uint64_t commits = 0;
  uint64_t rejected = 0;
  double seconds = 0;
  double processCpu = 0;               // all threads, producers included
  double writerCpu = 0;                // writer thread + the checkpoint of close()
  double writerWaitedForCpu = 0;       // writer thread runnable but not running (schedstat)
  std::vector<std::string> globalIds;  // a sample, for the lookups
};

StoreRun runStore(const std::string& path, int producers, int seconds, int batch, bool durable) {
  px::UsageStoreOptions options;
  options.path = path;
  options.durability = durable ? px::Durability::kDurable : px::Durability::kBatched;
  options.queueCapacity = 1000000;
  options.quickCheckOnOpen = false;
  px::UsageStore store(options);
  px::RecordIdGenerator ids;

  StoreRun run;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rejected{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> samples(producers);
  const double cpu0 = cpuSeconds(RUSAGE_SELF);
  const auto started = Clock::now();
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      uint64_t n = 0;
      uint64_t appends = 0;
      const uint64_t sampleEvery = static_cast<uint64_t>(std::max(1, 997 / batch));
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<px::UsageRow> rows;
        for (int b = 0; b < batch; ++b) appendRecord(rows, ids, p, n++);
        if (appends++ % sampleEvery == 0) samples[p].push_back(rows.front().globalId);
        const auto result = store.appendBlocking(std::move(rows), std::chrono::milliseconds(1000));
        if (!result.accepted) rejected++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  // An empty append after every other: its callback runs on the writer thread after the last
  // batch has committed and reads that thread's CPU time.
  std::atomic<double> writerCpu{0};
  std::atomic<double> writerWaited{0};
  store.append({}, [&](bool) {
    writerCpu = cpuSeconds(RUSAGE_THREAD);
    writerWaited = runQueueSeconds();
  });
  const double mainCpu0 = cpuSeconds(RUSAGE_THREAD);
  store.close();  // everything queued is committed before the clock stops
  run.seconds = since(started);
  run.processCpu = cpuSeconds(RUSAGE_SELF) - cpu0;
  run.writerCpu = writerCpu + (cpuSeconds(RUSAGE_THREAD) - mainCpu0);
  run.writerWaitedForCpu = writerWaited;
  const auto stats = store.stats();
  run.rows = stats.written;
  run.commits = stats.commits;
  run.rejected = rejected;
  for (auto& s : samples) run.globalIds.insert(run.globalIds.end(), s.begin(), s.end());
  return run;
}

struct RawRun {
  uint64_t rows = 0;
  double seconds = 0;    // inserting and committing, the final checkpoint
  double cpu = 0;        // the same, CPU of the inserting thread
  double encodeCpu = 0;  // building the rows (not in the figures above)
};

void check(int rc, sqlite3* db, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return;
  std::fprintf(stderr, "raw sqlite: %s: %s\n", what, sqlite3_errmsg(db));
  std::exit(1);
}

// The store's writer without the store: same schema and pragmas, one thread, `rows` rows made
// like the producers' (`producers` interleaved), `perTransaction` rows per transaction.
RawRun runRaw(const std::string& path, uint64_t rows, uint64_t perTransaction, int producers,
              bool durable) {
  const px::UsageStoreOptions defaults;
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr),
        db, "open");
  const std::string setup = std::string("PRAGMA journal_mode=WAL;") + px::kUsageCreateTable + ";" +
                            px::kUsageCreateIndexes +
                            (durable ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") +
                            "PRAGMA cache_size = -" + std::to_string(defaults.writerCacheKiB) +
                            ";PRAGMA wal_autocheckpoint = 10000;";
  check(sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), db, "schema");
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  const std::string sql = std::string("INSERT INTO USAGE_RECORD (") + px::kUsageColumns +
                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
  check(sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr), db,
        "prepare");
  check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr), db, "prepare");
  check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr), db, "prepare");

  RawRun run;
  px::RecordIdGenerator ids;
  std::vector<px::UsageRow> batch;
  std::vector<std::string> times;
  uint64_t made = 0;  // records made (a record may have several rows)
  double wall = 0;
  while (run.rows < rows) {
    // Untimed: the next transaction's rows, encoded, and their RECORDTIME text.
    const double encode0 = cpuSeconds(RUSAGE_THREAD);
    batch.clear();
    while (batch.size() < std::min<uint64_t>(perTransaction, rows - run.rows)) {
      appendRecord(batch, ids, static_cast<int>(made % producers), made / producers);
      ++made;
    }
    times.clear();
    for (const px::UsageRow& row : batch) times.push_back(px::formatRecordTime(row.recordTimeMs));
    const double cpu0 = cpuSeconds(RUSAGE_THREAD);
    run.encodeCpu += cpu0 - encode0;
    const auto t0 = Clock::now();
    check(sqlite3_step(begin), db, "begin");
    sqlite3_reset(begin);
    for (size_t i = 0; i < batch.size(); ++i) {
      const px::UsageRow& row = batch[i];
      auto text = [&](int index, const std::string& value) {
        sqlite3_bind_text64(insert, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
      };
      text(1, row.recordId);
      sqlite3_bind_int(insert, 2, row.segment);
      text(3, row.globalId);
      text(4, row.service);
      text(5, row.host);
      text(6, row.eventType);
      text(7, times[i]);
      sqlite3_bind_int(insert, 8, row.statusCode);
      text(9, row.serviceData);
      check(sqlite3_step(insert), db, "insert");
      sqlite3_reset(insert);
    }
    check(sqlite3_step(commit), db, "commit");
    sqlite3_reset(commit);
    wall += since(t0);
    run.cpu += cpuSeconds(RUSAGE_THREAD) - cpu0;
    run.rows += batch.size();
  }
  const double cpu0 = cpuSeconds(RUSAGE_THREAD);
  const auto t0 = Clock::now();
  for (sqlite3_stmt* stmt : {insert, begin, commit}) sqlite3_finalize(stmt);
  check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr), db,
        "checkpoint");
  sqlite3_close(db);
  run.seconds = wall + since(t0);
  run.cpu += cpuSeconds(RUSAGE_THREAD) - cpu0;
  return run;
}

// Runs q `times` times; milliseconds per run and the rows of the last.
std::pair<double, size_t> timeQuery(int times, const std::function<size_t()>& q) {
  size_t rows = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < times; ++i) rows = q();
  return {since(t0) * 1000 / times, rows};
}

void runQueries(const std::string& path, const StoreRun& store, int producers) {
  px::UsageStoreOptions options;
  options.path = path;
  options.quickCheckOnOpen = false;
  px::UsageStore reader(options);
  // Producer times run kT0+1 .. kT0+rows/producers: the slices are 1,000 ms (~1,000 records of
  // each producer) in the middle.
  const int64_t middle = kT0 + static_cast<int64_t>(store.rows / producers / 2);

  const auto t0 = Clock::now();
  px::UsageQuery page;
  page.limit = 1000;
  uint64_t exported = 0;
  for (;;) {
    const std::vector<px::UsageRow> rows = reader.query(page);
    exported += rows.size();
    if (rows.size() < page.limit) break;
    page.after = px::cursorAfter(rows.back());
  }
  const double exportSeconds = since(t0);
  std::printf("  query export (pages of 1000, cursor): %llu rows in %.2f s = %.0f rows/s\n",
              static_cast<unsigned long long>(exported), exportSeconds,
              static_cast<double>(exported) / exportSeconds);

  px::UsageQuery slice;
  slice.fromTimeMs = middle;
  slice.toTimeMs = middle + 1000;
  slice.limit = 0;
  auto [sliceMs, sliceRows] = timeQuery(20, [&] { return reader.query(slice).size(); });
  std::printf("  query time slice: %zu rows in %.2f ms\n", sliceRows, sliceMs);

  px::UsageQuery event = slice;
  event.eventType = "getStatus";
  auto [eventMs, eventRows] = timeQuery(20, [&] { return reader.query(event).size(); });
  std::printf("  query eventType + time slice: %zu rows in %.2f ms\n", eventRows, eventMs);

  px::UsageQuery requester = slice;
  requester.requester = "bench-app-1";
  auto [requesterMs, requesterRows] = timeQuery(20, [&] { return reader.query(requester).size(); });
  std::printf("  query requester + time slice: %zu rows in %.2f ms\n", requesterRows, requesterMs);

  size_t found = 0;
  const auto g0 = Clock::now();
  for (const std::string& id : store.globalIds) {
    px::UsageQuery q;
    q.globalId = id;
    found += reader.query(q).size();
  }
  const double globalMs = since(g0) * 1000;
  std::printf("  query globalId: %zu lookups (%zu rows) in %.2f ms = %.1f us each\n",
              store.globalIds.size(), found, globalMs,
              store.globalIds.empty()
                  ? 0.0
                  : globalMs * 1000 / static_cast<double>(store.globalIds.size()));
  reader.close();
}

}  // namespace

int main(int argc, char** argv) {
  const int producers = argc > 1 ? std::atoi(argv[1]) : 4;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 1;
  const bool durable = argc > 4 && std::string(argv[4]) == "durable";
  const long rawBatchArg = argc > 5 ? std::atol(argv[5]) : 0;
  const std::string part = argc > 6 ? argv[6] : "all";
  const auto dir =
      std::filesystem::temp_directory_path() / ("px-usage-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string storePath = (dir / "usage.db").string();

  double storeRate = 0;
  uint64_t perCommit = 1;
  StoreRun store;
  if (part != "raw") {
    store = runStore(storePath, producers, seconds, batch, durable);
    storeRate = static_cast<double>(store.rows) / store.seconds;
    perCommit = store.commits > 0 ? (store.rows + store.commits / 2) / store.commits : 1;
    std::printf(
        "producers=%d batch=%d mode=%s: store %llu records committed in %.2f s = %.0f records/s "
        "(%llu commits, %llu rows/commit, %llu rejected); CPU %.2f us/record (writer %.2f; writer "
        "waited %.2f s for a CPU)\n",
        producers, batch, durable ? "durable" : "batched",
        static_cast<unsigned long long>(store.rows), store.seconds, storeRate,
        static_cast<unsigned long long>(store.commits), static_cast<unsigned long long>(perCommit),
        static_cast<unsigned long long>(store.rejected),
        store.processCpu / static_cast<double>(store.rows) * 1e6,
        store.writerCpu / static_cast<double>(store.rows) * 1e6, store.writerWaitedForCpu);
    std::fflush(stdout);
  } else {
    store.rows = 1000000;
    perCommit = 10000;
  }

  if (part != "store") {
    const uint64_t rawBatch = rawBatchArg > 0 ? static_cast<uint64_t>(rawBatchArg) : perCommit;
    const RawRun raw = runRaw((dir / "raw.db").string(), store.rows, rawBatch, producers, durable);
    const double rawRate = static_cast<double>(raw.rows) / raw.seconds;
    std::printf(
        "  raw SQLite: %llu records, %llu rows/transaction, 1 thread, in %.2f s = %.0f records/s; "
        "CPU %.2f us/record (encoding, not timed: %.2f)\n",
        static_cast<unsigned long long>(raw.rows), static_cast<unsigned long long>(rawBatch),
        raw.seconds, rawRate, raw.cpu / static_cast<double>(raw.rows) * 1e6,
        raw.encodeCpu / static_cast<double>(raw.rows) * 1e6);
    if (part == "all") std::printf("  store/raw = %.1f %%\n", 100 * storeRate / rawRate);
    std::fflush(stdout);
  }

  if (part == "all") runQueries(storePath, store, producers);
  std::filesystem::remove_all(dir);
  return 0;
}
