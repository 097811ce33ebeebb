// GoogleTest suite of the SQLite usage store (native/store): schema, open errors, durable and
// batched writing, backpressure, write errors, close, queries and paging.
#include "store/UsageStore.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include "support/TempDir.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/RecordTime.h"
#include "store/Sqlite.h"
#include "store/UsageRecorder.h"
#include "usage/ServiceData.h"

namespace px {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1795536062345;  // 2026-11-24T16:01:02.345Z

using px::testing::TempDir;

UsageRow makeRow(const std::string& id, int segment = 0, int64_t timeMs = kT0,
                 const std::string& serviceData = "REQUESTER=app1;TARGET=tel\\:+123") {
  UsageRow row;
  row.recordId = id;
  row.segment = segment;
  row.globalId = "g-" + id;
  row.service = "PX_TS_SIP";
  row.host = "gw1";
  row.eventType = "getStatus";
  row.recordTimeMs = timeMs;
  row.statusCode = 0;
  row.serviceData = serviceData;
  return row;
}

UsageStoreOptions durableOptions(const std::string& path) {
  UsageStoreOptions o;
  o.path = path;
  o.durability = Durability::kDurable;
  return o;
}

UsageStoreOptions batchedOptions(const std::string& path, uint32_t flushMs = 20) {
  UsageStoreOptions o;
  o.path = path;
  o.durability = Durability::kBatched;
  o.flushIntervalMs = flushMs;
  return o;
}

// A separate plain connection, as billing or an operator would use.
sqlite::Db rawOpen(const std::string& path) {
  return sqlite::open(path, SQLITE_OPEN_READWRITE);
}

int64_t countRows(const std::string& path, const std::string& where = "") {
  sqlite::Db db = rawOpen(path);
  return sqlite::queryInt(db.get(), ("SELECT count(*) FROM USAGE_RECORD " + where).c_str());
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no exception)";
}

// ---------------------------------------------------------------- RECORDTIME text

TEST(RecordTime, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(formatRecordTime(kT0), "2026-11-24T16:01:02.345Z");
  EXPECT_EQ(formatRecordTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRecordTime(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(formatRecordTime(kMaxRecordTimeMs), "9999-12-31T23:59:59.999Z");
  EXPECT_THROW(formatRecordTime(-1), std::out_of_range);
  EXPECT_THROW(formatRecordTime(kMaxRecordTimeMs + 1), std::out_of_range);
}

TEST(RecordTime, ParsesOnlyTheExactFormat) {
  EXPECT_EQ(parseRecordTime("2026-11-24T16:01:02.345Z"), kT0);
  EXPECT_EQ(parseRecordTime("9999-12-31T23:59:59.999Z"), kMaxRecordTimeMs);
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{86399999}, int64_t{951868799999}, kT0}) {
    EXPECT_EQ(parseRecordTime(formatRecordTime(ms)), ms);
  }
  for (const char* bad :
       {"", "2026-11-24T16:01:02.345", "2026-11-24 16:01:02.345Z", "2026-11-24T16:01:02Z",
        "2026-02-29T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "2026-13-01T00:00:00.000Z",
        "2026-11-24T24:00:00.000Z", "2026-11-24T16:60:00.000Z", "1969-12-31T23:59:59.999Z",
        "2026-11-24T16:01:02.34aZ"}) {
    EXPECT_FALSE(parseRecordTime(bad).has_value()) << bad;
  }
}

TEST(RecordTime, TextOrderIsTimeOrder) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> dist(0, kMaxRecordTimeMs);
  for (int i = 0; i < 1000; ++i) {
    const int64_t a = dist(rng);
    const int64_t b = dist(rng);
    EXPECT_EQ(a < b, formatRecordTime(a) < formatRecordTime(b));
  }
}

// ---------------------------------------------------------------- schema and open

TEST(UsageStoreSchema, CreatesExactlyTheColumnsIndexesAndVersion) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  { UsageStore store(durableOptions(path)); }
  sqlite::Db db = rawOpen(path);
  sqlite::Stmt info = sqlite::prepare(db.get(), "PRAGMA table_info(USAGE_RECORD)");
  std::vector<std::tuple<std::string, std::string, int, int>> columns;
  while (sqlite3_step(info.get()) == SQLITE_ROW) {
    columns.emplace_back(sqlite::columnText(info.get(), 1), sqlite::columnText(info.get(), 2),
                         sqlite3_column_int(info.get(), 3), sqlite3_column_int(info.get(), 5));
  }
  const std::vector<std::tuple<std::string, std::string, int, int>> expected = {
      {"RECORDID", "TEXT", 1, 1},   {"SEGMENT", "INTEGER", 1, 2},    {"GLOBALID", "TEXT", 1, 0},
      {"SERVICE", "TEXT", 1, 0},    {"HOST", "TEXT", 1, 0},          {"EVENTTYPE", "TEXT", 1, 0},
      {"RECORDTIME", "TEXT", 1, 0}, {"STATUSCODE", "INTEGER", 1, 0}, {"SERVICEDATA", "TEXT", 1, 0},
  };
  EXPECT_EQ(columns, expected);
  EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA user_version"), 1);
  EXPECT_EQ(sqlite::queryText(db.get(), "PRAGMA journal_mode"), "wal");

  auto indexColumns = [&](const std::string& index) {
    sqlite::Stmt s = sqlite::prepare(db.get(), "PRAGMA index_info(" + index + ")");
    std::string cols;
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      cols += (cols.empty() ? "" : ",") + sqlite::columnText(s.get(), 2);
    }
    return cols;
  };
  EXPECT_EQ(indexColumns("USAGE_RECORD_TIME"), "RECORDTIME,RECORDID,SEGMENT");
  EXPECT_EQ(indexColumns("USAGE_RECORD_GLOBALID"), "GLOBALID");
  EXPECT_EQ(indexColumns("USAGE_RECORD_EVENT_TIME"), "EVENTTYPE,RECORDTIME");
}

TEST(UsageStoreSchema, StoresRecordTimeAsIsoText) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  ASSERT_TRUE(store.waitCommitted(store.append({makeRow("r1")}).ticket, milliseconds(10000)));
  sqlite::Db db = rawOpen(path);
  EXPECT_EQ(sqlite::queryText(db.get(), "SELECT RECORDTIME FROM USAGE_RECORD"),
            "2026-11-24T16:01:02.345Z");
  EXPECT_EQ(sqlite::queryText(db.get(), "SELECT typeof(RECORDTIME) FROM USAGE_RECORD"), "text");
}

TEST(UsageStoreSchema, ReopenKeepsRows) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  {
    UsageStore store(durableOptions(path));
    ASSERT_TRUE(store.append({makeRow("a"), makeRow("a", 1)}).accepted);
    ASSERT_TRUE(store.append({makeRow("b")}).accepted);
  }
  UsageStore store(batchedOptions(path));
  UsageQuery all;
  all.limit = 0;
  const std::vector<UsageRow> rows = store.query(all);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].recordId, "a");
  EXPECT_EQ(rows[1].segment, 1);
  EXPECT_EQ(rows[2].recordId, "b");
  EXPECT_EQ(rows[2].serviceData, "REQUESTER=app1;TARGET=tel\\:+123");
  EXPECT_EQ(rows[2].recordTimeMs, kT0);
  // The WAL was checkpointed into the main file on close.
  EXPECT_FALSE(fs::exists(path + "-wal") && fs::file_size(path + "-wal") > 0);
}

TEST(UsageStoreSchema, RandomBytesFileIsRejectedNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    std::mt19937 rng(42);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  const std::string error = errorOf([&] { UsageStore store(durableOptions(path)); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("file is not a database"), std::string::npos) << error;
}

TEST(UsageStoreSchema, CorruptPagesAreDetectedAtOpen) {
  TempDir dir;
  const std::string path = dir.file("corrupt.db");
  {
    UsageStore store(durableOptions(path));
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(store.append({makeRow("r" + std::to_string(i))}).accepted);
    }
  }
  {  // Overwrite page 3 onwards (table and index b-tree pages) keeping the header intact.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2 + 100);
    for (int i = 0; i < 4096 * 3; ++i) f.put(static_cast<char>(0x5a));
  }
  const std::string error = errorOf([&] { UsageStore store(durableOptions(path)); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

TEST(UsageStoreSchema, UnwritablePathsAreRejected) {
  TempDir dir;
  const std::string missing = dir.file("no-such-dir/usage.db");
  std::string error = errorOf([&] { UsageStore store(durableOptions(missing)); });
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_NE(error.find("parent directory"), std::string::npos) << error;

  const std::string plainFile = dir.file("plain");
  std::ofstream(plainFile) << "x";
  const std::string underFile = plainFile + "/usage.db";
  error = errorOf([&] { UsageStore store(durableOptions(underFile)); });
  EXPECT_NE(error.find(underFile), std::string::npos) << error;

  // The path itself is a directory: SQLite's own message is reported.
  const std::string isDir = dir.file("adir");
  fs::create_directory(isDir);
  error = errorOf([&] { UsageStore store(durableOptions(isDir)); });
  EXPECT_NE(error.find(isDir), std::string::npos) << error;
  EXPECT_NE(error.find("unable to open database file"), std::string::npos) << error;

  EXPECT_THROW(UsageStore(durableOptions(":memory:")), std::invalid_argument);
}

TEST(UsageStoreSchema, ForeignTableOrNewerVersionIsRejected) {
  TempDir dir;
  const std::string wrong = dir.file("wrong.db");
  {
    sqlite::Db db = sqlite::open(wrong, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::exec(db.get(), "CREATE TABLE USAGE_RECORD (RECORDID TEXT, DATA TEXT)");
  }
  std::string error = errorOf([&] { UsageStore store(durableOptions(wrong)); });
  EXPECT_NE(error.find(wrong), std::string::npos) << error;
  EXPECT_NE(error.find("unexpected columns"), std::string::npos) << error;

  const std::string newer = dir.file("newer.db");
  { UsageStore store(durableOptions(newer)); }
  {
    sqlite::Db db = rawOpen(newer);
    sqlite::exec(db.get(), "PRAGMA user_version = 2");
  }
  error = errorOf([&] { UsageStore store(durableOptions(newer)); });
  EXPECT_NE(error.find(newer), std::string::npos) << error;
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
}

TEST(UsageStoreSchema, AdoptsAMatchingTableWithoutVersion) {
  TempDir dir;
  const std::string path = dir.file("adopt.db");
  {
    sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::exec(db.get(),
                 "CREATE TABLE USAGE_RECORD (RECORDID TEXT NOT NULL, SEGMENT INTEGER NOT NULL,"
                 " GLOBALID TEXT NOT NULL, SERVICE TEXT NOT NULL, HOST TEXT NOT NULL,"
                 " EVENTTYPE TEXT NOT NULL, RECORDTIME TEXT NOT NULL, STATUSCODE INTEGER NOT NULL,"
                 " SERVICEDATA TEXT NOT NULL, PRIMARY KEY (RECORDID, SEGMENT))");
  }
  { UsageStore store(durableOptions(path)); }
  sqlite::Db db = rawOpen(path);
  EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA user_version"), 1);
  EXPECT_EQ(sqlite::queryInt(db.get(),
                             "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name "
                             "LIKE 'USAGE_RECORD_%'"),
            3);
}

// ---------------------------------------------------------------- writing

TEST(UsageStoreWrite, DurableCommitIsVisibleToAnotherConnection) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  UsageRow row = makeRow("rec-1", 0, kT0, "REQUESTER=a\\;b;TARGET=tel\\:+1");
  row.statusCode = 7;
  const AppendResult r = store.append({row, makeRow("rec-1", 1)});
  ASSERT_TRUE(r.accepted);
  EXPECT_NE(r.ticket, 0u);
  ASSERT_TRUE(store.waitCommitted(r.ticket, milliseconds(10000)));
  EXPECT_EQ(store.wait(r.ticket, milliseconds(0)), CommitState::kCommitted);

  sqlite::Db db = rawOpen(path);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM USAGE_RECORD"), 2);
  EXPECT_EQ(sqlite::queryText(db.get(),
                              "SELECT RECORDID || '|' || SEGMENT || '|' || GLOBALID || '|' || "
                              "SERVICE || '|' || HOST || '|' || EVENTTYPE || '|' || STATUSCODE || "
                              "'|' || SERVICEDATA FROM USAGE_RECORD WHERE SEGMENT = 0"),
            "rec-1|0|g-rec-1|PX_TS_SIP|gw1|getStatus|7|REQUESTER=a\\;b;TARGET=tel\\:+1");
  EXPECT_EQ(sqlite::queryText(db.get(), "PRAGMA journal_mode"), "wal");
  const UsageStoreStats s = store.stats();
  EXPECT_EQ(s.written, 2u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_GE(s.commits, 1u);
}

TEST(UsageStoreWrite, CallbackRunsOnWriterThreadAfterCommit) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  std::promise<std::pair<bool, int64_t>> done;
  std::thread::id callbackThread;
  const AppendResult r = store.append({makeRow("cb")}, [&](bool committed) {
    callbackThread = std::this_thread::get_id();
    // Already committed: another connection sees the row from inside the callback.
    done.set_value({committed, countRows(path, "WHERE RECORDID = 'cb'")});
  });
  ASSERT_TRUE(r.accepted);
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto [committed, visible] = future.get();
  EXPECT_TRUE(committed);
  EXPECT_EQ(visible, 1);
  EXPECT_NE(callbackThread, std::this_thread::get_id());
}

TEST(UsageStoreWrite, BatchedRowsAppearAfterTheFlushInterval) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  constexpr int kFlushMs = 200;
  UsageStore store(batchedOptions(path, kFlushMs));
  const auto start = Clock::now();
  ASSERT_TRUE(store.append({makeRow("b1")}).accepted);
  sqlite::Db db = rawOpen(path);
  Clock::time_point seen;
  for (;;) {
    if (sqlite::queryInt(db.get(), "SELECT count(*) FROM USAGE_RECORD") == 1) {
      seen = Clock::now();
      break;
    }
    ASSERT_LT(Clock::now() - start, milliseconds(kFlushMs + 2000)) << "row never committed";
    std::this_thread::sleep_for(milliseconds(2));
  }
  const auto elapsed = std::chrono::duration_cast<milliseconds>(seen - start).count();
  EXPECT_GE(elapsed, kFlushMs - 5);  // held for the interval (group commit), not written at once
  EXPECT_LE(elapsed, kFlushMs + 1000);
}

TEST(UsageStoreWrite, EightProducersWriteEveryRowExactlyOnce) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(batchedOptions(path, 20));
  constexpr int kThreads = 8;
  constexpr int kRows = 20000;
  std::atomic<int> rejected{0};
  std::atomic<int> failedCallbacks{0};
  std::vector<std::thread> producers;
  std::vector<UsageTicket> lastTickets(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i) {
        const std::string id = "p" + std::to_string(t) + "-" + std::to_string(i);
        const AppendResult r =
            store.appendBlocking({makeRow(id, 0, kT0 + i)}, milliseconds(60000), [&](bool ok) {
              if (!ok) ++failedCallbacks;
            });
        if (!r.accepted) ++rejected;
        lastTickets[t] = r.ticket;
      }
    });
  }
  for (std::thread& p : producers) p.join();
  EXPECT_EQ(rejected.load(), 0);
  for (UsageTicket ticket : lastTickets) {
    EXPECT_TRUE(store.waitCommitted(ticket, milliseconds(60000)));
  }
  store.close();  // every callback has run
  EXPECT_EQ(failedCallbacks.load(), 0);
  sqlite::Db db = rawOpen(path);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM USAGE_RECORD"), kThreads * kRows);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(DISTINCT RECORDID) FROM USAGE_RECORD"),
            kThreads * kRows);
  const UsageStoreStats s = store.stats();
  EXPECT_EQ(s.written, static_cast<uint64_t>(kThreads * kRows));
  EXPECT_EQ(s.writeErrors, 0u);
  EXPECT_LT(s.commits, static_cast<uint64_t>(kThreads * kRows));  // batched, not one per row
}

TEST(UsageStoreWrite, DurableGroupCommitFromManyThreads) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  constexpr int kThreads = 4;
  constexpr int kRows = 300;
  std::atomic<int> notCommitted{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i) {
        const AppendResult r =
            store.append({makeRow("d" + std::to_string(t) + "-" + std::to_string(i))});
        // Each producer waits for its own commit, as a request handler would.
        if (!r.accepted || !store.waitCommitted(r.ticket, milliseconds(30000))) ++notCommitted;
      }
    });
  }
  for (std::thread& p : producers) p.join();
  EXPECT_EQ(notCommitted.load(), 0);
  EXPECT_EQ(countRows(path), kThreads * kRows);
  EXPECT_EQ(store.stats().written, static_cast<uint64_t>(kThreads * kRows));
}

TEST(UsageStoreWrite, FullQueueRejectsAndAppendBlockingWaitsForRoom) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  o.queueCapacity = 100;
  UsageStore store(o);
  store.setWriterPausedForTest(true);

  std::vector<UsageRow> sixty;
  for (int i = 0; i < 60; ++i) sixty.push_back(makeRow("a", i));
  std::vector<UsageRow> fifty;
  for (int i = 0; i < 50; ++i) fifty.push_back(makeRow("b", i));
  std::vector<UsageRow> forty;
  for (int i = 0; i < 40; ++i) forty.push_back(makeRow("c", i));
  std::vector<UsageRow> tooMany;
  for (int i = 0; i < 101; ++i) tooMany.push_back(makeRow("big", i));

  const AppendResult a = store.append(sixty);
  ASSERT_TRUE(a.accepted);
  AppendResult r = store.append(fifty);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.reason, AppendRejection::kQueueFull);
  EXPECT_EQ(store.stats().rejectedFull, 1u);
  ASSERT_TRUE(store.append(forty).accepted);  // exactly full
  r = store.append({makeRow("d")});
  EXPECT_EQ(r.reason, AppendRejection::kQueueFull);
  EXPECT_EQ(store.stats().rejectedFull, 2u);
  r = store.append(tooMany);
  EXPECT_EQ(r.reason, AppendRejection::kTooLarge);
  EXPECT_EQ(store.stats().rejectedFull, 3u);
  EXPECT_EQ(store.stats().queued, 100u);

  // appendBlocking gives up at its timeout while no room appears.
  const auto start = Clock::now();
  r = store.appendBlocking({makeRow("e")}, milliseconds(100));
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(r.reason, AppendRejection::kQueueFull);
  EXPECT_EQ(store.stats().rejectedFull, 4u);

  // ... and succeeds as soon as the writer frees room.
  auto blocked = std::async(std::launch::async, [&] {
    return store.appendBlocking({makeRow("f")}, milliseconds(30000));
  });
  EXPECT_EQ(blocked.wait_for(milliseconds(150)), std::future_status::timeout);
  store.setWriterPausedForTest(false);
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const AppendResult f = blocked.get();
  ASSERT_TRUE(f.accepted);
  EXPECT_TRUE(store.waitCommitted(a.ticket, milliseconds(10000)));
  EXPECT_TRUE(store.waitCommitted(f.ticket, milliseconds(10000)));
  EXPECT_EQ(countRows(path), 101);
  EXPECT_EQ(store.stats().rejectedFull, 4u);
}

TEST(UsageStoreWrite, CloseFlushesEverythingQueued) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(batchedOptions(path, 60000));  // nothing would be flushed by time
  store.setWriterPausedForTest(true);
  std::atomic<int> committed{0};
  std::vector<UsageTicket> tickets;
  for (int i = 0; i < 100; ++i) {
    std::vector<UsageRow> rows;
    for (int s = 0; s < 10; ++s) rows.push_back(makeRow("c" + std::to_string(i), s));
    const AppendResult r = store.append(rows, [&](bool ok) {
      if (ok) ++committed;
    });
    ASSERT_TRUE(r.accepted);
    tickets.push_back(r.ticket);
  }
  EXPECT_EQ(store.stats().queued, 1000u);
  store.close();
  EXPECT_EQ(committed.load(), 100);
  EXPECT_EQ(countRows(path), 1000);
  EXPECT_EQ(store.stats().written, 1000u);
  EXPECT_EQ(store.stats().queued, 0u);
  for (UsageTicket t : tickets) EXPECT_TRUE(store.waitCommitted(t, milliseconds(0)));
  EXPECT_EQ(store.append({makeRow("late")}).reason, AppendRejection::kClosed);
  EXPECT_THROW(store.query(UsageQuery{}), std::logic_error);
  store.close();  // idempotent
}

TEST(UsageStoreWrite, InvalidRowsAreRejectedUpFront) {
  TempDir dir;
  UsageStore store(durableOptions(dir.file("usage.db")));
  EXPECT_EQ(store.append({makeRow("")}).reason, AppendRejection::kInvalidRow);
  EXPECT_EQ(store.append({makeRow("x", -1)}).reason, AppendRejection::kInvalidRow);
  EXPECT_EQ(store.append({makeRow("x", 0, -5)}).reason, AppendRejection::kInvalidRow);
  EXPECT_EQ(store.append({makeRow("ok"), makeRow("x", 0, kMaxRecordTimeMs + 1)}).reason,
            AppendRejection::kInvalidRow);
  EXPECT_EQ(store.stats().rejectedInvalid, 4u);
  EXPECT_EQ(store.wait(0, milliseconds(0)), CommitState::kFailed);
  EXPECT_EQ(store.wait(999, milliseconds(0)), CommitState::kFailed);  // never issued
}

// The store's error reports, as its writer thread gives them.
class ReportedErrors {
 public:
  void attachTo(UsageStoreOptions& o) {
    o.onError = [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_.push_back(m);
    };
  }
  std::vector<std::string> list() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return errors_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> errors_;
};

TEST(UsageStoreWrite, DuplicateKeyFailsOnlyItsOwnAppendAtomically) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  ReportedErrors reported;
  reported.attachTo(o);
  UsageStore store(o);
  ASSERT_TRUE(store.waitCommitted(store.append({makeRow("A")}).ticket, milliseconds(10000)));

  store.setWriterPausedForTest(true);  // the next four appends share one transaction
  const AppendResult dup = store.append({makeRow("C", 0), makeRow("A", 0), makeRow("C", 1)});
  const AppendResult b = store.append({makeRow("B", 0), makeRow("B", 1)});
  const AppendResult dupSingle = store.append({makeRow("A", 0)});
  const AppendResult d = store.append({makeRow("D")});
  store.setWriterPausedForTest(false);
  EXPECT_TRUE(store.waitCommitted(b.ticket, milliseconds(10000)));
  EXPECT_EQ(store.wait(dup.ticket, milliseconds(10000)), CommitState::kFailed);
  EXPECT_EQ(store.wait(dupSingle.ticket, milliseconds(10000)), CommitState::kFailed);
  EXPECT_TRUE(store.waitCommitted(d.ticket, milliseconds(10000)));

  EXPECT_EQ(countRows(path), 4);  // A, B/0, B/1, D
  EXPECT_EQ(countRows(path, "WHERE RECORDID = 'C'"), 0);
  EXPECT_EQ(store.stats().writeErrors, 2u);
  EXPECT_EQ(store.stats().written, 4u);
  const std::vector<std::string> errors = reported.list();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("record 'A' segment 0"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("UNIQUE constraint failed"), std::string::npos) << errors[0];
}

// The writer writes appends without savepoints and starts the transaction again only when a later
// row of a multi-row append is refused: either way each append is all or nothing, the others of
// the batch commit, nothing counts as a retry and each refusal is reported once.
TEST(UsageStoreWrite, RefusedRowsUndoOnlyTheirOwnAppend) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  ReportedErrors reported;
  reported.attachTo(o);
  UsageStore store(o);
  ASSERT_TRUE(store.waitCommitted(store.append({makeRow("A")}).ticket, milliseconds(10000)));

  for (const bool refusedFirst : {true, false}) {
    const std::string round = refusedFirst ? "1" : "2";
    store.setWriterPausedForTest(true);  // one batch
    const AppendResult x = store.append({makeRow("X" + round, 0), makeRow("X" + round, 1)});
    const AppendResult bad = refusedFirst
                                 ? store.append({makeRow("A", 0), makeRow("E" + round, 0)})
                                 : store.append({makeRow("F" + round, 0), makeRow("F" + round, 1),
                                                 makeRow("A", 0), makeRow("F" + round, 2)});
    const AppendResult y = store.append({makeRow("Y" + round)});
    const AppendResult z = store.append({makeRow("Z" + round, 0), makeRow("Z" + round, 1)});
    store.setWriterPausedForTest(false);
    EXPECT_TRUE(store.waitCommitted(x.ticket, milliseconds(10000))) << round;
    EXPECT_EQ(store.wait(bad.ticket, milliseconds(10000)), CommitState::kFailed) << round;
    EXPECT_TRUE(store.waitCommitted(y.ticket, milliseconds(10000))) << round;
    EXPECT_TRUE(store.waitCommitted(z.ticket, milliseconds(10000))) << round;
  }
  EXPECT_EQ(countRows(path), 11);  // A, and X/0, X/1, Y, Z/0, Z/1 of each round
  EXPECT_EQ(countRows(path, "WHERE RECORDID IN ('E1', 'F2')"), 0);
  const UsageStoreStats s = store.stats();
  EXPECT_EQ(s.writeErrors, 2u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.written, 11u);
  EXPECT_EQ(s.queued, 0u);
  const std::vector<std::string> errors = reported.list();
  ASSERT_EQ(errors.size(), 2u);
  for (const std::string& e : errors) {
    EXPECT_NE(e.find("record 'A' segment 0"), std::string::npos) << e;
    EXPECT_NE(e.find("UNIQUE constraint failed"), std::string::npos) << e;
  }
}

// Rows wait in the queue packed into shared chunks: every column must come back exactly, for
// appends of one and of many rows, an append larger than a chunk, empty and binary text, and
// across batches that reuse the chunks of earlier ones.
TEST(UsageStoreWrite, QueuedRowsKeepEveryColumnExactly) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  std::vector<UsageRow> expected;
  auto row = [&](const std::string& id, int segment, size_t dataBytes, char fill) {
    UsageRow r = makeRow(id, segment, kT0 + static_cast<int64_t>(expected.size()) * 997,
                         std::string(dataBytes, fill));
    r.globalId = dataBytes % 2 ? "" : "g-" + id;
    r.service = std::string(1 + dataBytes % 7, 'S');
    r.host = std::string("h\0st", 4) + std::to_string(segment);
    r.eventType = segment % 2 ? "statusNotification_DeliveryResult" : "getStatus";
    r.statusCode = static_cast<int>(dataBytes % 17);
    return r;
  };
  for (int round = 0; round < 3; ++round) {
    store.setWriterPausedForTest(true);  // one batch per round
    UsageTicket last = 0;
    for (int a = 0; a < 300; ++a) {
      const std::string id = "q" + std::to_string(round) + "-" + std::to_string(a);
      std::vector<UsageRow> rows;
      const int segments = a % 5 == 0 ? 3 : 1;
      for (int s = 0; s < segments; ++s) {
        rows.push_back(row(id, s, static_cast<size_t>((a * 131 + s * 17) % 1500),
                           static_cast<char>('a' + a % 26)));
      }
      if (a == 150) rows.push_back(row(id, segments, 300000, '\x01'));  // more than a chunk
      for (const UsageRow& r : rows) expected.push_back(r);
      const AppendResult result = store.append(std::move(rows));
      ASSERT_TRUE(result.accepted);
      last = result.ticket;
    }
    store.setWriterPausedForTest(false);
    ASSERT_TRUE(store.waitCommitted(last, milliseconds(30000)));
  }
  UsageQuery all;
  all.limit = 0;
  std::vector<UsageRow> stored = store.query(all);
  auto key = [](const UsageRow& r) {
    return std::make_tuple(r.recordTimeMs, r.recordId, r.segment);
  };
  std::sort(expected.begin(), expected.end(),
            [&](const UsageRow& a, const UsageRow& b) { return key(a) < key(b); });
  ASSERT_EQ(stored.size(), expected.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    const UsageRow& s = stored[i];
    const UsageRow& e = expected[i];
    ASSERT_EQ(s.recordId, e.recordId) << i;
    EXPECT_EQ(s.segment, e.segment) << e.recordId;
    EXPECT_EQ(s.globalId, e.globalId) << e.recordId;
    EXPECT_EQ(s.service, e.service) << e.recordId;
    EXPECT_EQ(s.host, e.host) << e.recordId;
    EXPECT_EQ(s.eventType, e.eventType) << e.recordId;
    EXPECT_EQ(s.recordTimeMs, e.recordTimeMs) << e.recordId;
    EXPECT_EQ(s.statusCode, e.statusCode) << e.recordId;
    EXPECT_EQ(s.serviceData, e.serviceData) << e.recordId;
  }
  EXPECT_EQ(store.stats().written, expected.size());
}

TEST(UsageStoreWrite, BusyDatabaseFailsTheBatchAfterRetries) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  o.busyTimeoutMs = 20;
  o.writeRetries = 2;
  o.retryBackoffMs = 10;
  std::atomic<int> messages{0};
  std::atomic<bool> sawLocked{false};
  o.onError = [&](const std::string& m) {
    ++messages;
    if (m.find("database is locked") != std::string::npos) sawLocked = true;
  };
  UsageStore store(o);
  sqlite::Db other = rawOpen(path);
  sqlite::exec(other.get(), "BEGIN IMMEDIATE");  // another process holds the write lock

  std::promise<bool> outcome;
  const AppendResult r = store.append({makeRow("x")}, [&](bool ok) { outcome.set_value(ok); });
  ASSERT_TRUE(r.accepted);
  auto future = outcome.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(future.get());
  EXPECT_EQ(store.wait(r.ticket, milliseconds(0)), CommitState::kFailed);
  UsageStoreStats s = store.stats();
  EXPECT_EQ(s.writeErrors, 1u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.written, 0u);
  EXPECT_EQ(messages.load(), 3);  // two retries and the final failure
  EXPECT_TRUE(sawLocked.load());

  sqlite::exec(other.get(), "ROLLBACK");
  EXPECT_TRUE(store.waitCommitted(store.append({makeRow("y")}).ticket, milliseconds(10000)));
  EXPECT_EQ(countRows(path), 1);
}

TEST(UsageStoreWrite, BusyDatabaseRecoversWithinRetries) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  o.busyTimeoutMs = 20;
  o.writeRetries = 6;
  o.retryBackoffMs = 20;  // attempts span 20 + 20 + 40 + 80 + 160 + 320 ms and more
  UsageStore store(o);
  sqlite::Db other = rawOpen(path);
  sqlite::exec(other.get(), "BEGIN IMMEDIATE");
  const AppendResult r = store.append({makeRow("x")});
  ASSERT_TRUE(r.accepted);
  // Wait until at least one attempt has failed, then release the lock.
  const auto start = Clock::now();
  while (store.stats().retries == 0 && Clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  sqlite::exec(other.get(), "ROLLBACK");
  EXPECT_TRUE(store.waitCommitted(r.ticket, milliseconds(20000)));
  EXPECT_GE(store.stats().retries, 1u);
  EXPECT_EQ(store.stats().writeErrors, 0u);
  EXPECT_EQ(countRows(path), 1);
}

// ---------------------------------------------------------------- commit latency and reasons

TEST(CommitLatency, BucketBoundsAreInclusiveAndTheLastBucketTakesTheRest) {
  sqlite::LatencyHistogram h;
  const auto& bounds = sqlite::LatencyHistogram::kBounds;
  h.observe(0);
  h.observe(bounds[0]);         // le is inclusive: the first bucket
  h.observe(bounds[1]);         // the second
  h.observe(bounds[1] * 1.01);  // the third
  h.observe(bounds.back() + 1);
  EXPECT_EQ(h.counts[0], 2u);
  EXPECT_EQ(h.counts[1], 1u);
  EXPECT_EQ(h.counts[2], 1u);
  EXPECT_EQ(h.counts[bounds.size()], 1u);
  EXPECT_EQ(h.count, 5u);
  EXPECT_DOUBLE_EQ(h.sum, bounds[0] + bounds[1] + bounds[1] * 1.01 + bounds.back() + 1);
}

uint64_t bucketTotal(const sqlite::LatencyHistogram& h) {
  uint64_t total = 0;
  for (uint64_t c : h.counts) total += c;
  return total;
}

TEST(UsageStoreLatency, OneObservationOfEachPerCommittedTransaction) {
  TempDir dir;
  UsageStore store(durableOptions(dir.file("usage.db")));
  for (int i = 0; i < 5; ++i) {
    const AppendResult r = store.append({makeRow("r" + std::to_string(i))});
    ASSERT_TRUE(store.waitCommitted(r.ticket, milliseconds(10000)));
  }
  const UsageStoreStats s = store.stats();
  EXPECT_EQ(s.commits, 5u);  // each append waited for: one transaction each
  for (const sqlite::LatencyHistogram* h : {&s.latency.commit, &s.latency.wait}) {
    EXPECT_EQ(h->count, s.commits);
    EXPECT_EQ(bucketTotal(*h), h->count);
    EXPECT_GT(h->sum, 0);
  }
  // A transaction's wait includes its writing.
  EXPECT_GE(s.latency.wait.sum, s.latency.commit.sum);
}

// The wait runs from the oldest append's submission: time queued behind a busy (here: paused)
// writer counts; the commit duration does not include it.
TEST(UsageStoreLatency, WaitCountsTheTimeQueued) {
  TempDir dir;
  UsageStore store(durableOptions(dir.file("usage.db")));
  store.setWriterPausedForTest(true);
  const AppendResult first = store.append({makeRow("a")});
  std::this_thread::sleep_for(milliseconds(100));
  const AppendResult second = store.append({makeRow("b")});  // same transaction, waited less
  store.setWriterPausedForTest(false);
  ASSERT_TRUE(store.waitCommitted(first.ticket, milliseconds(10000)));
  ASSERT_TRUE(store.waitCommitted(second.ticket, milliseconds(10000)));
  const sqlite::CommitLatency latency = store.stats().latency;
  ASSERT_EQ(latency.wait.count, 1u);
  EXPECT_GE(latency.wait.sum, 0.1);
  const auto& bounds = sqlite::LatencyHistogram::kBounds;
  for (size_t i = 0; i < bounds.size() && bounds[i] < 0.1; ++i) {
    EXPECT_EQ(latency.wait.counts[i], 0u) << "le " << bounds[i];
  }
  ASSERT_EQ(latency.commit.count, 1u);
  EXPECT_LT(latency.commit.sum, latency.wait.sum);
}

// A transaction given up commits nothing and is not observed; its appends' outcomes say why in
// SQLite's words.
TEST(UsageStoreLatency, AFailedTransactionIsNotObservedAndTellsWhy) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  o.busyTimeoutMs = 20;
  o.writeRetries = 0;
  UsageStore store(o);
  sqlite::Db other = rawOpen(path);
  sqlite::exec(other.get(), "BEGIN IMMEDIATE");  // another process holds the write lock
  std::promise<std::pair<bool, std::string>> outcome;
  ASSERT_TRUE(store
                  .append({makeRow("x")},
                          [&](bool ok, const std::string& reason) {
                            outcome.set_value({ok, reason});
                          })
                  .accepted);
  const auto [ok, reason] = outcome.get_future().get();
  EXPECT_FALSE(ok);
  EXPECT_EQ(reason, "database is locked");
  EXPECT_EQ(store.stats().latency.commit.count, 0u);
  EXPECT_EQ(store.stats().latency.wait.count, 0u);

  sqlite::exec(other.get(), "ROLLBACK");
  EXPECT_TRUE(store.waitCommitted(store.append({makeRow("y")}).ticket, milliseconds(10000)));
  EXPECT_EQ(store.stats().latency.commit.count, 1u);
}

// A row refused by the database fails its own append with the refusal's text (here a trigger's
// RAISE message); the others commit and report no reason.
TEST(UsageStoreWrite, OutcomeReasonIsSqlitesMessageForTheRefusedRow) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStore store(durableOptions(path));
  sqlite::Db other = rawOpen(path);
  sqlite::exec(other.get(),
               "CREATE TRIGGER refuse_r BEFORE INSERT ON USAGE_RECORD WHEN NEW.RECORDID = 'r' "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
  other.reset();
  std::promise<std::string> refused;
  std::promise<std::string> accepted;
  store.setWriterPausedForTest(true);  // one transaction
  store.append({makeRow("r")}, [&](bool ok, const std::string& reason) {
    refused.set_value((ok ? "committed: " : "failed: ") + reason);
  });
  store.append({makeRow("s")}, [&](bool ok, const std::string& reason) {
    accepted.set_value((ok ? "committed: " : "failed: ") + reason);
  });
  store.setWriterPausedForTest(false);
  EXPECT_EQ(refused.get_future().get(), "failed: refused by the test");
  EXPECT_EQ(accepted.get_future().get(), "committed: ");
}

TEST(UsageStoreWrite, DiskFullIsReportedNeverSilent) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  UsageStoreOptions o = durableOptions(path);
  o.maxPageCount = 40;  // about 160 KiB with 4 KiB pages
  o.writeRetries = 1;
  o.retryBackoffMs = 1;
  std::atomic<bool> sawFull{false};
  o.onError = [&](const std::string& m) {
    if (m.find("full") != std::string::npos) sawFull = true;
  };
  UsageStore store(o);
  const std::string big(2000, 'x');
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<UsageTicket> tickets;
  for (int i = 0; i < 200; ++i) {
    const AppendResult r =
        store.append({makeRow("f" + std::to_string(i), 0, kT0, "SERVICE=" + big)},
                     [&](bool c) { ++(c ? ok : failed); });
    ASSERT_TRUE(r.accepted);
    tickets.push_back(r.ticket);
  }
  int committedTickets = 0;
  for (UsageTicket t : tickets) {
    const CommitState state = store.wait(t, milliseconds(30000));
    ASSERT_NE(state, CommitState::kPending);
    if (state == CommitState::kCommitted) ++committedTickets;
  }
  store.close();  // joins the writer: every callback has run
  EXPECT_EQ(ok.load() + failed.load(), 200);
  EXPECT_EQ(ok.load(), committedTickets);
  EXPECT_GT(failed.load(), 0);
  EXPECT_TRUE(sawFull.load());
  const UsageStoreStats s = store.stats();
  EXPECT_EQ(s.writeErrors, static_cast<uint64_t>(failed.load()));
  EXPECT_EQ(s.written, static_cast<uint64_t>(ok.load()));
  EXPECT_EQ(countRows(path), ok.load());  // exactly the appends reported committed
}

// ---------------------------------------------------------------- queries

class UsageStoreQuery : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<UsageStore>(durableOptions(dir_.file("q.db")));
    auto rec = [&](const std::string& id, int64_t t, const std::string& service,
                   const std::string& event, int status, const std::string& global,
                   std::vector<std::string> segments) {
      std::vector<UsageRow> rows;
      for (size_t s = 0; s < segments.size(); ++s) {
        UsageRow row = makeRow(id, static_cast<int>(s), t, segments[s]);
        row.service = service;
        row.eventType = event;
        row.statusCode = status;
        row.globalId = global;
        rows.push_back(row);
      }
      last_ = store_->append(rows).ticket;
    };
    rec("r01", kT0 + 0, "PX_TS_SIP", "getStatus", 0, "g1", {"REQUESTER=bob;TARGET=tel\\:+1"});
    rec("r02", kT0 + 10, "PX_TS_SIP", "getStatusForGroup", 15, "g2",
        {"ASSIGNMENT_ID=7;REQUESTER=bob", ";TARGET=tel\\:+2"});
    rec("r03", kT0 + 10, "OTHER", "getStatus", 0, "g2", {"REQUESTER=bobby"});
    rec("r04", kT0 + 20, "PX_TS_SIP", "getStatus", 1, "g3", {"XREQUESTER=bob;A=1"});
    rec("r05", kT0 + 30, "PX_TS_SIP", "getStatus", 0, "g4", {"A=x\\;REQUESTER=bob;B=2"});
    rec("r06", kT0 + 40, "PX_TS_SIP", "getStatus", 0, "g5", {"REQUESTER=a\\;b\\=c\\\\d;X=1"});
    rec("r07", kT0 + 50, "PX_TS_SIP", "getStatus", 0, "g6", {"A=1;REQUESTER=bo", "b;TARGET=x"});
    rec("r08", kT0 + 60, "PX_TS_SIP", "statusNotification_DeliveryResult", 12, "g1",
        {"FAILURE_REASON=x"});
    ASSERT_TRUE(store_->waitCommitted(last_, milliseconds(10000)));
  }

  std::vector<std::string> ids(const UsageQuery& q) {
    std::vector<std::string> out;
    for (const UsageRow& row : store_->query(q)) {
      out.push_back(row.recordId + "/" + std::to_string(row.segment));
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<UsageStore> store_;
  UsageTicket last_ = 0;
};

using Ids = std::vector<std::string>;

TEST_F(UsageStoreQuery, NoFilterReturnsAllRowsInOrder) {
  EXPECT_EQ(ids(UsageQuery{}), (Ids{"r01/0", "r02/0", "r02/1", "r03/0", "r04/0", "r05/0", "r06/0",
                                    "r07/0", "r07/1", "r08/0"}));
  const std::vector<UsageRow> rows = store_->query(UsageQuery{});
  EXPECT_EQ(rows[1].eventType, "getStatusForGroup");
  EXPECT_EQ(rows[1].statusCode, 15);
  EXPECT_EQ(rows[1].globalId, "g2");
  EXPECT_EQ(rows[1].recordTimeMs, kT0 + 10);
  EXPECT_EQ(rows[2].serviceData, ";TARGET=tel\\:+2");
}

TEST_F(UsageStoreQuery, TimeRangeIsInclusiveFromExclusiveTo) {
  UsageQuery q;
  q.fromTimeMs = kT0 + 10;
  q.toTimeMs = kT0 + 30;
  EXPECT_EQ(ids(q), (Ids{"r02/0", "r02/1", "r03/0", "r04/0"}));
  q.fromTimeMs = -100;  // before the representable range: no lower bound
  q.toTimeMs = kT0 + 1;
  EXPECT_EQ(ids(q), (Ids{"r01/0"}));
  q.fromTimeMs = kT0 + 60;
  q.toTimeMs = kMaxRecordTimeMs + 1000;  // past the range: no upper bound
  EXPECT_EQ(ids(q), (Ids{"r08/0"}));
  q.toTimeMs = 0;
  EXPECT_TRUE(ids(q).empty());
}

TEST_F(UsageStoreQuery, EqualityFilters) {
  UsageQuery q;
  q.service = "OTHER";
  EXPECT_EQ(ids(q), (Ids{"r03/0"}));
  q = UsageQuery{};
  q.eventType = "statusNotification_DeliveryResult";
  EXPECT_EQ(ids(q), (Ids{"r08/0"}));
  q = UsageQuery{};
  q.statusCode = 15;
  EXPECT_EQ(ids(q), (Ids{"r02/0", "r02/1"}));
  q = UsageQuery{};
  q.globalId = "g1";
  EXPECT_EQ(ids(q), (Ids{"r01/0", "r08/0"}));
  q = UsageQuery{};
  q.eventType = "getStatus";
  q.fromTimeMs = kT0 + 10;
  q.toTimeMs = kT0 + 40;
  q.statusCode = 0;
  EXPECT_EQ(ids(q), (Ids{"r03/0", "r05/0"}));
  q.service = "NOPE";
  EXPECT_TRUE(ids(q).empty());
}

TEST_F(UsageStoreQuery, RequesterMatchesWholePairsOfSegmentZero) {
  UsageQuery q;
  q.requester = "bob";
  // r02: pair at the end of segment 0 and a segment 1 that starts with ';' (pair complete);
  // all its segments are returned. Not: bobby (r03), XREQUESTER (r04), an escaped ';' before
  // the key (r05), a pair cut by the segment boundary (r07).
  EXPECT_EQ(ids(q), (Ids{"r01/0", "r02/0", "r02/1"}));
  q.requester = "a;b=c\\d";  // unescaped value; stored as a\;b\=c\\d
  EXPECT_EQ(ids(q), (Ids{"r06/0"}));
  q.requester = "bo";  // r07's segment 0 ends in "REQUESTER=bo" but the pair continues
  EXPECT_TRUE(ids(q).empty());
  q.requester = "bobby";
  q.service = "OTHER";
  EXPECT_EQ(ids(q), (Ids{"r03/0"}));
  q.service = "PX_TS_SIP";
  EXPECT_TRUE(ids(q).empty());
}

TEST(UsageStorePaging, PagesReturnEveryRowExactlyOnce) {
  TempDir dir;
  UsageStore store(batchedOptions(dir.file("p.db"), 5));
  UsageTicket last = 0;
  int expected = 0;
  int expectedGetStatus = 0;
  for (int i = 0; i < 600; ++i) {
    std::vector<UsageRow> rows;
    const int segments = 1 + i % 3;
    for (int s = 0; s < segments; ++s) {
      // Many records share a time so the cursor must break ties on RECORDID and SEGMENT.
      UsageRow row = makeRow("id" + std::to_string((i * 7919) % 600), s, kT0 + i / 10);
      row.eventType = i % 2 ? "getStatus" : "getStatusForGroup";
      rows.push_back(row);
    }
    expected += segments;
    if (i % 2) expectedGetStatus += segments;
    last = store.append(rows).ticket;
  }
  ASSERT_TRUE(store.waitCommitted(last, milliseconds(20000)));

  for (const bool filtered : {false, true}) {
    UsageQuery q;
    q.limit = 0;
    if (filtered) q.eventType = "getStatus";
    const std::vector<UsageRow> all = store.query(q);
    EXPECT_EQ(all.size(), static_cast<size_t>(filtered ? expectedGetStatus : expected));
    for (const uint32_t pageSize : {1u, 7u, 100u}) {
      std::vector<UsageRow> paged;
      q.limit = pageSize;
      q.after.reset();
      for (int pages = 0;; ++pages) {
        ASSERT_LT(pages, 5000);
        const std::vector<UsageRow> page = store.query(q);
        EXPECT_LE(page.size(), pageSize);
        if (page.empty()) break;
        paged.insert(paged.end(), page.begin(), page.end());
        q.after = cursorAfter(page.back());
      }
      ASSERT_EQ(paged.size(), all.size()) << "page size " << pageSize;
      std::set<std::pair<std::string, int>> seen;
      for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(paged[i].recordId, all[i].recordId);
        EXPECT_EQ(paged[i].segment, all[i].segment);
        EXPECT_TRUE(seen.insert({paged[i].recordId, paged[i].segment}).second);
      }
    }
  }
}

TEST(UsageStorePaging, TimeAndCursorQueriesUseTheTimeIndex) {
  TempDir dir;
  const std::string path = dir.file("plan.db");
  { UsageStore store(durableOptions(path)); }
  sqlite::Db db = rawOpen(path);
  sqlite::Stmt plan = sqlite::prepare(
      db.get(),
      "EXPLAIN QUERY PLAN SELECT * FROM USAGE_RECORD AS r WHERE r.RECORDTIME >= ? AND "
      "(r.RECORDTIME, r.RECORDID, r.SEGMENT) > (?, ?, ?) ORDER BY r.RECORDTIME, r.RECORDID, "
      "r.SEGMENT LIMIT 100");
  std::string detail;
  while (sqlite3_step(plan.get()) == SQLITE_ROW) detail += sqlite::columnText(plan.get(), 3) + ";";
  EXPECT_NE(detail.find("USING INDEX USAGE_RECORD_TIME"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("TEMP B-TREE"), std::string::npos) << detail;
}

TEST(UsageStoreConcurrency, QueriesRunWhileWriting) {
  TempDir dir;
  UsageStore store(batchedOptions(dir.file("c.db"), 2));
  std::atomic<bool> stop{false};
  std::atomic<size_t> maxSeen{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      UsageQuery q;
      q.limit = 0;
      q.service = "PX_TS_SIP";
      while (!stop) {
        const size_t n = store.query(q).size();
        size_t prev = maxSeen.load();
        while (n > prev && !maxSeen.compare_exchange_weak(prev, n)) {
        }
      }
    });
  }
  UsageTicket last = 0;
  for (int i = 0; i < 3000; ++i) {
    last = store.appendBlocking({makeRow("w" + std::to_string(i))}, milliseconds(30000)).ticket;
  }
  ASSERT_TRUE(store.waitCommitted(last, milliseconds(30000)));
  UsageQuery q;
  q.limit = 0;
  EXPECT_EQ(store.query(q).size(), 3000u);
  stop = true;
  for (std::thread& r : readers) r.join();
  EXPECT_LE(maxSeen.load(), 3000u);
  store.close();
}

// ---------------------------------------------------------------- the recorder

// UsageRecorder: entries are checked, encoded, cut into segments and come back reassembled.
TEST(UsageRecorder, RecordsComeBackReassembled) {
  TempDir dir;
  GatewayConfig config;
  config.usage.database = dir.file("usage.db");
  config.usage.host = "gw-test";
  config.usage.maxServiceDataBytes = 64;
  UsageRecorder recorder(config);
  auto entry = [](const std::string& globalId, int64_t timeMs, const std::string& target) {
    UsageEntry e;
    e.globalId = globalId;
    e.eventType = "getStatus";
    e.recordTimeMs = timeMs;
    e.attributes = {{"REQUESTER", "app=1"},
                    {"RESPONSE_TIME", "3"},
                    {"START_TIME", formatUtcTime(timeMs)},
                    {"SERVICE", "PX_TS_SIP"},
                    {"TARGET", target}};
    return e;
  };
  const std::string longTarget = "sip:" + std::string(150, 'x') + "\\;=\xC3\xA9@example.test";
  std::promise<bool> committed;
  const AppendResult result =
      recorder.record({entry("g-1", kT0, "tel:+15551234567"), entry("g-2", kT0 + 1, longTarget)},
                      [&](bool ok, const std::string&) { committed.set_value(ok); });
  ASSERT_TRUE(result.accepted);
  ASSERT_TRUE(committed.get_future().get());
  EXPECT_GT(countRows(config.usage.database), 3);  // the long record takes several segments

  const UsagePage page = recorder.query(UsageQuery{});
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_FALSE(page.next);
  const std::vector<std::string> targets = {"tel:+15551234567", longTarget};
  for (size_t i = 0; i < 2; ++i) {
    const UsageRecord& r = page.records[i];
    EXPECT_EQ(r.globalId, "g-" + std::to_string(i + 1));
    EXPECT_EQ(r.service, "PX_TS_SIP");
    EXPECT_EQ(r.host, "gw-test");
    EXPECT_EQ(r.eventType, "getStatus");
    EXPECT_EQ(r.recordTimeMs, kT0 + static_cast<int64_t>(i));
    EXPECT_EQ(r.status, UsageStatus::kValid);
    const auto pairs = servicedata::decode(r.serviceData);
    ASSERT_TRUE(pairs) << r.serviceData;
    EXPECT_EQ(pairs->at(0), (std::pair<std::string, std::string>{"REQUESTER", "app=1"}));
    EXPECT_EQ(pairs->back(), (std::pair<std::string, std::string>{"TARGET", targets[i]}));
  }
  recorder.close();
}

}  // namespace
}  // namespace px
