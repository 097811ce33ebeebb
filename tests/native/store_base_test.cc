// GoogleTest suite of the SQLite base shared by the usage and notification stores
// (native/store/SqliteDatabase, native/store/GroupCommitWriter): schema identity and version
// checks at open, the retry policy on a busy database, group commit, flush and the close drain.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/GroupCommitWriter.h"
#include "store/Sqlite.h"
#include "store/SqliteDatabase.h"
#include "support/TempDir.h"

namespace px {
namespace {

using px::testing::TempDir;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The work item of these tests: integers, one row each in table t.
struct IntBatch {
  std::vector<int> values;
  bool empty() const { return values.empty(); }
  size_t weight() const { return values.size(); }
  void clear() { values.clear(); }
};
using IntWriter = sqlite::GroupCommitWriter<IntBatch>;

sqlite::Schema tableSchema(int64_t version = 1) {
  sqlite::Schema schema;
  schema.version = version;
  schema.prepare = [](sqlite3* db, const sqlite::FileState& found) {
    if (found.fresh()) sqlite::exec(db, "CREATE TABLE t (v INTEGER PRIMARY KEY)");
  };
  return schema;
}

sqlite::OpenOptions openOptions(const std::string& path, uint32_t busyTimeoutMs = 5000) {
  sqlite::OpenOptions o;
  o.label = "test store";
  o.path = path;
  o.busyTimeoutMs = busyTimeoutMs;
  return o;
}

std::string openError(const sqlite::OpenOptions& options, const sqlite::Schema& schema) {
  try {
    sqlite::SqliteDatabase db(options, schema);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no exception)";
}

int64_t rowCount(const std::string& path) {
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
  return sqlite::queryInt(db.get(), "SELECT count(*) FROM t");
}

// What the writer's hooks saw, thread-safe (the hooks run on the writer thread).
class Journal {
 public:
  IntWriter::Hooks hooks(sqlite3* db) {
    IntWriter::Hooks h;
    h.write = [db](IntBatch& batch) {
      sqlite::Stmt insert = sqlite::prepare(db, "INSERT INTO t (v) VALUES (?1)", false);
      for (int v : batch.values) {
        sqlite3_bind_int(insert.get(), 1, v);
        const int rc = sqlite::runReset(insert.get());
        if (rc != SQLITE_DONE) return sqlite::WriteStatus{rc, sqlite3_errmsg(db), "inserting"};
      }
      return sqlite::WriteStatus{};
    };
    h.finished = [this](IntBatch& batch, const sqlite::WriteStatus& outcome) {
      std::lock_guard<std::mutex> lock(mutex_);
      batches.push_back(batch.values.size());
      outcomes.push_back(outcome);
    };
    h.failedAttempt = [this](const IntBatch&, const sqlite::FailedAttempt& failure) {
      std::lock_guard<std::mutex> lock(mutex_);
      notes.push_back(failure.status.message + "; " + failure.note());
      ++failedAttempts;
    };
    return h;
  }
  template <typename F>
  auto read(F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    return f();
  }
  std::atomic<int> failedAttempts{0};
  std::vector<size_t> batches;  // items per finished batch
  std::vector<sqlite::WriteStatus> outcomes;
  std::vector<std::string> notes;

 private:
  std::mutex mutex_;
};

void submitValue(IntWriter& writer, int v) {
  ASSERT_TRUE(writer.submit([v](IntBatch& b) {
    b.values.push_back(v);
    return true;
  }));
}

// ---------------------------------------------------------------- open and schema

TEST(SqliteDatabase, CreatesStampsAndReopensItsSchema) {
  TempDir dir;
  const std::string path = dir.file("s.db");
  sqlite::Schema schema = tableSchema(3);
  schema.applicationId = 0x54455354;
  schema.kind = "test database";
  {
    sqlite::SqliteDatabase db(openOptions(path), schema);
    EXPECT_EQ(sqlite::queryText(db.get(), "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA synchronous"), 2);  // FULL
    EXPECT_EQ(db.close(), "");
    EXPECT_FALSE(db);
  }
  sqlite::Db raw = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(raw.get(), "PRAGMA user_version"), 3);
  EXPECT_EQ(sqlite::queryInt(raw.get(), "PRAGMA application_id"), 0x54455354);
  raw.reset();
  sqlite::SqliteDatabase again(openOptions(path), schema);  // its own file: accepted
}

TEST(SqliteDatabase, RefusesANewerSchemaVersionNamingLabelAndPath) {
  TempDir dir;
  const std::string path = dir.file("newer.db");
  { sqlite::SqliteDatabase db(openOptions(path), tableSchema(2)); }
  const std::string error = openError(openOptions(path), tableSchema(1));
  EXPECT_NE(error.find("test store '" + path + "'"), std::string::npos) << error;
  EXPECT_NE(error.find("schema version 2 is newer than this build's 1"), std::string::npos)
      << error;
  // Refused inside the open transaction: nothing was changed.
  sqlite::Db raw = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(raw.get(), "PRAGMA user_version"), 2);
}

TEST(SqliteDatabase, RefusesAFileOfAnotherApplication) {
  TempDir dir;
  const std::string path = dir.file("foreign.db");
  {
    sqlite::Db raw = sqlite::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::exec(raw.get(), "CREATE TABLE accounts (id INTEGER); PRAGMA user_version = 1");
  }
  sqlite::Schema schema = tableSchema(1);
  schema.applicationId = 0x54455354;
  schema.kind = "test database";
  const std::string error = openError(openOptions(path), schema);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not a test database (application_id 0, user_version 1, 1 schema objects)"),
            std::string::npos)
      << error;
}

TEST(SqliteDatabase, SchemaErrorsAndSqliteErrorsCarryLabelAndPath) {
  TempDir dir;
  const std::string path = dir.file("refused.db");
  sqlite::Schema schema = tableSchema(1);
  schema.prepare = [](sqlite3*, const sqlite::FileState&) {
    throw sqlite::SchemaError("table t is not ours");
  };
  EXPECT_EQ(openError(openOptions(path), schema), "test store '" + path + "': table t is not ours");

  const std::string garbage = dir.file("garbage.db");
  { sqlite::Db raw = sqlite::open(garbage, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); }
  std::FILE* f = std::fopen(garbage.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const std::string junk(8192, 'x');
  std::fwrite(junk.data(), 1, junk.size(), f);
  std::fclose(f);
  const std::string error = openError(openOptions(garbage), tableSchema());
  EXPECT_NE(error.find("test store '" + garbage + "'"), std::string::npos) << error;
  EXPECT_NE(error.find("file is not a database"), std::string::npos) << error;
}

// ---------------------------------------------------------------- retry policy

TEST(RetryPolicy, DataErrorsAreNotRetriedAndTheBackoffDoubles) {
  EXPECT_TRUE(sqlite::RetryPolicy::retryable(SQLITE_BUSY));
  EXPECT_TRUE(sqlite::RetryPolicy::retryable(SQLITE_LOCKED));
  EXPECT_TRUE(sqlite::RetryPolicy::retryable(SQLITE_FULL));
  EXPECT_TRUE(sqlite::RetryPolicy::retryable(SQLITE_IOERR_WRITE));
  EXPECT_FALSE(sqlite::RetryPolicy::retryable(SQLITE_CONSTRAINT_PRIMARYKEY));
  EXPECT_FALSE(sqlite::RetryPolicy::retryable(SQLITE_CONSTRAINT_TRIGGER));
  EXPECT_FALSE(sqlite::RetryPolicy::retryable(SQLITE_TOOBIG));
  const sqlite::RetryPolicy policy{5, 20};
  EXPECT_EQ(policy.delayMs(1), 20u);
  EXPECT_EQ(policy.delayMs(2), 40u);
  EXPECT_EQ(policy.delayMs(4), 160u);
}

TEST(GroupCommitWriter, RetriesABusyDatabaseAndThenSucceeds) {
  TempDir dir;
  const std::string path = dir.file("busy.db");
  sqlite::SqliteDatabase db(openOptions(path, 20), tableSchema());
  sqlite::Db other = sqlite::open(path, SQLITE_OPEN_READWRITE);
  sqlite::exec(other.get(), "BEGIN IMMEDIATE");  // another connection holds the write lock
  Journal journal;
  IntWriter::Options options;
  options.retry = sqlite::RetryPolicy{8, 20};  // 20 + 40 + 80 + ... ms: far beyond the hold
  IntWriter writer(db.get(), options, journal.hooks(db.get()));
  submitValue(writer, 1);
  submitValue(writer, 2);
  const auto start = Clock::now();
  while (journal.failedAttempts.load() == 0 && Clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::this_thread::sleep_for(milliseconds(100));  // hold it a while longer
  sqlite::exec(other.get(), "ROLLBACK");
  writer.flush();
  EXPECT_GE(journal.failedAttempts.load(), 1);
  journal.read([&] {
    ASSERT_FALSE(journal.outcomes.empty());
    for (const sqlite::WriteStatus& s : journal.outcomes) EXPECT_TRUE(s.ok()) << s.message;
    ASSERT_FALSE(journal.notes.empty());
    EXPECT_NE(journal.notes[0].find("database is locked; retry 1 of 8 in 20 ms"), std::string::npos)
        << journal.notes[0];
  });
  writer.close();
  EXPECT_EQ(rowCount(path), 2);
}

TEST(GroupCommitWriter, GivesUpAfterThePolicysLimitAndReportsTheError) {
  TempDir dir;
  const std::string path = dir.file("busy.db");
  sqlite::SqliteDatabase db(openOptions(path, 10), tableSchema());
  sqlite::Db other = sqlite::open(path, SQLITE_OPEN_READWRITE);
  sqlite::exec(other.get(), "BEGIN IMMEDIATE");
  Journal journal;
  IntWriter::Options options;
  options.retry = sqlite::RetryPolicy{2, 5};
  IntWriter writer(db.get(), options, journal.hooks(db.get()));
  submitValue(writer, 1);
  writer.flush();
  journal.read([&] {
    ASSERT_EQ(journal.outcomes.size(), 1u);  // the batch is finished, with its error: not lost
    EXPECT_FALSE(journal.outcomes[0].ok());
    EXPECT_EQ(journal.outcomes[0].code & 0xff, SQLITE_BUSY);
    EXPECT_EQ(journal.outcomes[0].message, "database is locked");
    EXPECT_EQ(journal.outcomes[0].step, "begin");
    ASSERT_EQ(journal.notes.size(), 3u);  // two retries, then the last attempt
    EXPECT_NE(journal.notes[0].find("retry 1 of 2 in 5 ms"), std::string::npos);
    EXPECT_NE(journal.notes[1].find("retry 2 of 2 in 10 ms"), std::string::npos);
    EXPECT_NE(journal.notes[2].find("gave up after 3 attempts"), std::string::npos);
  });
  // The writer goes on once the lock is gone.
  sqlite::exec(other.get(), "ROLLBACK");
  submitValue(writer, 2);
  writer.flush();
  journal.read([&] {
    ASSERT_EQ(journal.outcomes.size(), 2u);
    EXPECT_TRUE(journal.outcomes[1].ok()) << journal.outcomes[1].message;
  });
  writer.close();
  EXPECT_EQ(rowCount(path), 1);
}

TEST(GroupCommitWriter, ADataErrorIsNotRetriedAndRollsTheBatchBack) {
  TempDir dir;
  const std::string path = dir.file("dup.db");
  sqlite::SqliteDatabase db(openOptions(path), tableSchema());
  Journal journal;
  IntWriter writer(db.get(), IntWriter::Options{}, journal.hooks(db.get()));
  writer.setPausedForTest(true);
  submitValue(writer, 1);
  submitValue(writer, 2);
  submitValue(writer, 1);  // duplicate primary key: the whole batch fails
  writer.setPausedForTest(false);
  writer.flush();
  journal.read([&] {
    ASSERT_EQ(journal.outcomes.size(), 1u);
    EXPECT_EQ(journal.outcomes[0].code & 0xff, SQLITE_CONSTRAINT);
    EXPECT_EQ(journal.outcomes[0].step, "inserting");
    ASSERT_EQ(journal.notes.size(), 1u);
    EXPECT_NE(journal.notes[0].find("gave up after 1 attempts"), std::string::npos);
  });
  writer.close();
  EXPECT_EQ(rowCount(path), 0);
}

// ---------------------------------------------------------------- group commit, flush, close

TEST(GroupCommitWriter, QueuedWritesCommitInFewerTransactions) {
  TempDir dir;
  const std::string path = dir.file("group.db");
  sqlite::SqliteDatabase db(openOptions(path), tableSchema());
  Journal journal;
  IntWriter writer(db.get(), IntWriter::Options{}, journal.hooks(db.get()));
  writer.setPausedForTest(true);  // the writer is busy elsewhere: everything below queues
  constexpr int kWrites = 500;
  for (int i = 0; i < kWrites; ++i) submitValue(writer, i);
  writer.setPausedForTest(false);
  writer.flush();
  journal.read([&] {
    ASSERT_EQ(journal.batches.size(), 1u);  // 500 writes, one transaction
    EXPECT_EQ(journal.batches[0], static_cast<size_t>(kWrites));
  });
  // Many producers at once also share transactions.
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) submitValue(writer, kWrites + t * 1000 + i);
    });
  }
  for (std::thread& p : producers) p.join();
  writer.flush();
  journal.read([&] {
    EXPECT_LT(journal.batches.size(), 1u + 1000u);
    size_t items = 0;
    for (size_t n : journal.batches) items += n;
    EXPECT_EQ(items, 1500u);
  });
  writer.close();
  EXPECT_EQ(rowCount(path), 1500);
}

TEST(GroupCommitWriter, LingerWaitsForMoreWorkUpToTheDelay) {
  TempDir dir;
  const std::string path = dir.file("linger.db");
  sqlite::SqliteDatabase db(openOptions(path), tableSchema());
  Journal journal;
  IntWriter::Options options;
  options.linger = milliseconds(200);
  options.lingerLimit = 1000;
  IntWriter writer(db.get(), options, journal.hooks(db.get()));
  const auto start = Clock::now();
  for (int i = 0; i < 10; ++i) submitValue(writer, i);
  writer.flush();
  EXPECT_GE(Clock::now() - start, milliseconds(150));
  journal.read([&] { EXPECT_EQ(journal.batches, std::vector<size_t>{10}); });
  writer.close();
}

TEST(GroupCommitWriter, CloseDrainsTheQueueAndThenRefuses) {
  TempDir dir;
  const std::string path = dir.file("drain.db");
  sqlite::SqliteDatabase db(openOptions(path), tableSchema());
  Journal journal;
  IntWriter writer(db.get(), IntWriter::Options{}, journal.hooks(db.get()));
  writer.setPausedForTest(true);  // close() overrides the pause
  for (int i = 0; i < 100; ++i) submitValue(writer, i);
  bool afterStopRan = false;
  writer.close([&] {
    afterStopRan = true;
    EXPECT_EQ(db.close(), "");
  });
  EXPECT_TRUE(afterStopRan);
  journal.read([&] {
    size_t items = 0;
    for (size_t n : journal.batches) items += n;
    EXPECT_EQ(items, 100u);
  });
  EXPECT_EQ(rowCount(path), 100);
  bool called = false;
  EXPECT_FALSE(writer.submit([&](IntBatch&) { return called = true; }));
  EXPECT_FALSE(called);
  writer.close();  // idempotent
  writer.flush();  // nothing pending: returns at once
}

TEST(GroupCommitWriter, FlushAndCloseFromTheWriterThreadAreRefused) {
  TempDir dir;
  sqlite::SqliteDatabase db(openOptions(dir.file("w.db")), tableSchema());
  std::atomic<int> refused{0};
  IntWriter* self = nullptr;
  IntWriter::Hooks hooks;
  hooks.write = [](IntBatch&) { return sqlite::WriteStatus{}; };
  hooks.finished = [&](IntBatch&, const sqlite::WriteStatus&) {
    EXPECT_TRUE(self->onWriterThread());
    try {
      self->flush();
    } catch (const std::logic_error&) {
      ++refused;
    }
    try {
      self->close();
    } catch (const std::logic_error&) {
      ++refused;
    }
  };
  IntWriter writer(db.get(), IntWriter::Options{}, std::move(hooks));
  self = &writer;
  EXPECT_FALSE(writer.onWriterThread());
  submitValue(writer, 1);
  writer.flush();
  EXPECT_EQ(refused.load(), 2);
  writer.close();
}

}  // namespace
}  // namespace px
