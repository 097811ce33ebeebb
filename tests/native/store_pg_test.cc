// The spool and replay logic of the PostgreSQL usage store (SpoolingUsageStore) against a fake
// target that can be taken down and brought back, with an injected clock for the reconnection
// backoff; the spool file on its own; and, when PX_TEST_PG_URL names a PostgreSQL database, the
// libpq target against it (those tests are registered only then: nothing is skipped silently).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/Backoff.h"
#include "store/Pg.h"
#include "store/PgUsageStore.h"
#include "store/SpoolingUsageStore.h"
#include "store/UsageSpool.h"

namespace px {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

UsageRow row(const std::string& id, int segment = 0) {
  UsageRow r;
  r.recordId = id;
  r.segment = segment;
  r.globalId = "g-" + id;
  r.service = "PX_TS_SIP";
  r.host = "host";
  r.eventType = "getStatus";
  r.recordTimeMs = 1790000000000;
  r.statusCode = 0;
  r.serviceData = "REQUESTER=app;TARGET=sip:a@b";
  return r;
}

// A fresh directory for a spool file, removed with everything in it at the end of the scope
// (declare it before the store that uses it).
struct TempSpool {
  explicit TempSpool(const std::string& name)
      : dir(std::filesystem::temp_directory_path() /
            ("px-pg-test-" + std::to_string(::getpid()) + "-" + name)) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~TempSpool() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string path() const { return (dir / "spool.db").string(); }
  std::filesystem::path dir;
};

// A manual clock shared by the test and the store.
struct FakeClock {
  std::atomic<int64_t> ms{0};
  Clock::time_point now() const { return Clock::time_point(std::chrono::milliseconds(ms.load())); }
};

// The database: rows keyed (RECORDID, SEGMENT), an insert that skips existing keys (ON CONFLICT
// DO NOTHING), and switches for the outage and for a commit whose answer is lost.
class FakeTarget : public UsageTarget {
 public:
  struct State {
    std::mutex mutex;
    bool up = true;
    bool loseNextAnswer = false;  // commit, then report the connection lost
    int connects = 0;
    int writes = 0;
    std::map<std::pair<std::string, int>, int> rows;  // stored key -> times it was offered
  };
  explicit FakeTarget(State& s) : s_(s) {}

  void connect() override {
    std::lock_guard<std::mutex> lock(s_.mutex);
    ++s_.connects;
    if (!s_.up) throw TargetError("fake: connection refused", true);
    connected_ = true;
  }
  void disconnect() override { connected_ = false; }
  bool connected() const override { return connected_; }
  void write(const std::vector<const UsageRow*>& rows) override {
    std::lock_guard<std::mutex> lock(s_.mutex);
    ++s_.writes;
    if (!s_.up) {
      connected_ = false;
      throw TargetError("fake: server closed the connection", true);
    }
    // An existing key is skipped, as ON CONFLICT DO NOTHING: stored once, offered n times.
    for (const UsageRow* r : rows) ++s_.rows[std::make_pair(r->recordId, r->segment)];
    if (s_.loseNextAnswer) {
      s_.loseNextAnswer = false;
      connected_ = false;
      throw TargetError("fake: connection lost after commit", true);
    }
  }
  std::vector<UsageRow> query(const UsageQuery&) override { return {}; }
  std::string name() const override { return "fake"; }

 private:
  State& s_;
  bool connected_ = false;
};

struct Outcome {
  std::mutex mutex;
  int ok = 0;
  int failed = 0;
  std::string lastReason;
  UsageRowStore::OutcomeCallback callback() {
    return [this](bool committed, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex);
      (committed ? ok : failed) += 1;
      if (!committed) lastReason = reason;
    };
  }
};

SpoolingUsageStoreOptions options(Durability durability, const std::string& spool,
                                  FakeClock& clock) {
  SpoolingUsageStoreOptions o;
  o.durability = durability;
  o.flushIntervalMs = 5;
  o.queueCapacity = 10000;
  o.spoolPath = spool;
  o.spoolCapacity = 100;
  o.reconnectBackoffMs = 100;
  o.reconnectBackoffMaxMs = 800;
  o.replayChunkRows = 7;
  o.now = [&clock] { return clock.now(); };
  return o;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

TEST(ReconnectBackoff, DoublesUpToTheMaximumAndStartsOverAfterASuccess) {
  ReconnectBackoff b(50, 300);
  const Clock::time_point t0{};
  EXPECT_TRUE(b.due(t0));
  b.failed(t0);
  EXPECT_EQ(b.delayMs(), 50u);
  EXPECT_FALSE(b.due(t0 + 49ms));
  EXPECT_TRUE(b.due(t0 + 50ms));
  std::vector<uint32_t> delays;
  for (int i = 0; i < 5; ++i) {
    b.failed(t0);
    delays.push_back(b.delayMs());
  }
  EXPECT_EQ(delays, (std::vector<uint32_t>{100, 200, 300, 300, 300}));
  EXPECT_FALSE(b.due(t0 + 299ms));
  b.succeeded();
  EXPECT_TRUE(b.due(t0));
  b.failed(t0);
  EXPECT_EQ(b.delayMs(), 50u);
}

TEST(UsageSpool, KeepsRowsOnceInOrderWithinItsCapacityAndAcrossReopening) {
  const TempSpool temp("spool");
  const std::string path = temp.path();
  {
    UsageSpool spool(path, 5);
    const UsageRow a = row("a"), b = row("b"), b1 = row("b", 1);
    std::string error;
    ASSERT_TRUE(spool.add({&a, &b, &b1}, error)) << error;
    ASSERT_TRUE(spool.add({&a}, error)) << error;  // again: kept once
    EXPECT_EQ(spool.size(), 3u);
    const UsageRow c = row("c"), d = row("d"), e = row("e");
    EXPECT_FALSE(spool.add({&c, &d, &e}, error));  // 6 > 5: none added
    EXPECT_NE(error.find("full"), std::string::npos);
    EXPECT_EQ(spool.size(), 3u);
    spool.close();
  }
  UsageSpool spool(path, 5);
  EXPECT_EQ(spool.size(), 3u);
  int64_t last = 0;
  auto rows = spool.peek(2, last);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].recordId, "a");
  EXPECT_EQ(rows[1].recordId, "b");
  EXPECT_EQ(rows[0].serviceData, "REQUESTER=app;TARGET=sip:a@b");
  EXPECT_EQ(rows[0].recordTimeMs, 1790000000000);
  spool.remove(last);
  EXPECT_EQ(spool.size(), 1u);
  rows = spool.peek(10, last);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].segment, 1);
}

TEST(SpoolingUsageStore, BatchedRowsAreSpooledWhileDownAndReplayedOnceWhenBack) {
  const TempSpool temp("batched");
  FakeClock clock;
  FakeTarget::State state;
  state.up = false;
  Outcome outcome;
  SpoolingUsageStore store(std::make_unique<FakeTarget>(state),
                           options(Durability::kBatched, temp.path(), clock));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store.append({row("r" + std::to_string(i))}, outcome.callback()).accepted);
  }
  store.flush();
  EXPECT_EQ(outcome.ok, 20);
  EXPECT_EQ(outcome.failed, 0);
  UsageStoreStats s = store.stats();
  EXPECT_FALSE(s.reachable);
  EXPECT_EQ(s.spooled, 20u);
  EXPECT_EQ(s.writeErrors, 0u);
  // The backoff holds: no new attempt before its delay on the injected clock.
  const int attempts = [&] {
    std::lock_guard<std::mutex> lock(state.mutex);
    return state.connects;
  }();
  std::this_thread::sleep_for(150ms);
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    EXPECT_EQ(state.connects, attempts);
    state.up = true;
  }
  clock.ms += 100000;
  store.wakeForTest();
  ASSERT_TRUE(store.waitReplayed(5s));
  s = store.stats();
  EXPECT_TRUE(s.reachable);
  EXPECT_EQ(s.replayed, 20u);
  std::lock_guard<std::mutex> lock(state.mutex);
  EXPECT_EQ(state.rows.size(), 20u);
  // Chunks of 7: 3 replay writes.
  EXPECT_GE(state.writes, 3);
}

TEST(SpoolingUsageStore, DurableAppendsFailAtOnceWhileDownAndAreCounted) {
  FakeClock clock;
  FakeTarget::State state;
  Outcome outcome;
  SpoolingUsageStore store(std::make_unique<FakeTarget>(state),
                           options(Durability::kDurable, "", clock));
  ASSERT_TRUE(store.append({row("ok")}, outcome.callback()).accepted);
  store.flush();
  EXPECT_EQ(outcome.ok, 1);
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.up = false;
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.append({row("down" + std::to_string(i))}, outcome.callback()).accepted);
  }
  store.flush();
  EXPECT_EQ(outcome.failed, 5);
  EXPECT_NE(outcome.lastReason.find("fake unreachable"), std::string::npos) << outcome.lastReason;
  EXPECT_EQ(store.stats().writeErrors, 5u);
  EXPECT_FALSE(store.stats().reachable);
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.up = true;
  }
  clock.ms += 100000;
  store.wakeForTest();
  ASSERT_TRUE(eventually([&] { return store.stats().reachable; }));
  ASSERT_TRUE(store.append({row("back")}, outcome.callback()).accepted);
  store.flush();
  EXPECT_EQ(outcome.ok, 2);
  EXPECT_EQ(store.stats().reconnects, 1u);
}

TEST(SpoolingUsageStore, ABatchWhoseCommitAnswerWasLostIsSpooledAndReplayedWithoutDuplicates) {
  const TempSpool temp("lost");
  FakeClock clock;
  FakeTarget::State state;
  Outcome outcome;
  SpoolingUsageStore store(std::make_unique<FakeTarget>(state),
                           options(Durability::kBatched, temp.path(), clock));
  ASSERT_TRUE(eventually([&] { return store.stats().reachable; }));
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.loseNextAnswer = true;
  }
  ASSERT_TRUE(store.append({row("x"), row("x", 1), row("y")}, outcome.callback()).accepted);
  store.flush();
  EXPECT_EQ(outcome.ok, 1);
  EXPECT_EQ(store.stats().spooled, 3u);  // committed, but the store could not know
  clock.ms += 100000;
  store.wakeForTest();
  ASSERT_TRUE(store.waitReplayed(5s));
  std::lock_guard<std::mutex> lock(state.mutex);
  // Each row stored once, though offered twice: committed, then replayed from the spool.
  EXPECT_EQ(state.rows.size(), 3u);
  for (const auto& [key, times] : state.rows) EXPECT_EQ(times, 2) << key.first;
}

TEST(SpoolingUsageStore, AFullSpoolFailsTheAppendAndCountsIt) {
  const TempSpool temp("full");
  FakeClock clock;
  FakeTarget::State state;
  state.up = false;
  Outcome outcome;
  SpoolingUsageStore store(std::make_unique<FakeTarget>(state),
                           options(Durability::kBatched, temp.path(), clock));
  std::vector<UsageRow> many;
  for (int i = 0; i < 101; ++i) many.push_back(row("m" + std::to_string(i)));
  ASSERT_TRUE(store.append(std::move(many), outcome.callback()).accepted);
  store.flush();
  EXPECT_EQ(outcome.failed, 1);
  EXPECT_NE(outcome.lastReason.find("full"), std::string::npos) << outcome.lastReason;
  EXPECT_EQ(store.stats().writeErrors, 1u);
  EXPECT_EQ(store.stats().spooled, 0u);
}

// ---- Against a real PostgreSQL: registered only when PX_TEST_PG_URL is set ----------------------

void realPgRoundTrip(const std::string& url) {
  auto target = makePgUsageTarget(url, 5);
  target->connect();
  target->connect();  // the migrations run again as no-ops
  const std::string id = "gtest-" + std::to_string(::getpid()) + "-" +
                         std::to_string(Clock::now().time_since_epoch().count());
  UsageRow a = row(id), b = row(id, 1);
  b.serviceData = "\"quoted\\\" {braces}, commas";
  target->write({&a, &b});
  target->write({&a, &b});  // idempotent
  UsageQuery q;
  q.globalId = a.globalId;
  const auto rows = target->query(q);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].serviceData, b.serviceData);
  EXPECT_EQ(rows[0].recordTimeMs, a.recordTimeMs);
  q.requester = "app";
  EXPECT_EQ(target->query(q).size(), 2u);
  q.requester = "other";
  EXPECT_EQ(target->query(q).size(), 0u);

  // 100 rows: the COPY path; again: COPY fails on the first duplicate and the idempotent insert
  // takes over; one more new row among them is stored, the others once.
  std::vector<UsageRow> many;
  for (int i = 0; i < 100; ++i) {
    many.push_back(row(id + "-m" + std::to_string(i)));
    many.back().globalId = "g-" + id + "-many";
    many.back().serviceData = "tab\there;newline\nback\\slash;cr\r" + std::to_string(i);
  }
  std::vector<const UsageRow*> refs;
  for (const UsageRow& r : many) refs.push_back(&r);
  target->write(refs);
  many.push_back(row(id + "-m100"));
  many.back().globalId = "g-" + id + "-many";
  refs.clear();
  for (const UsageRow& r : many) refs.push_back(&r);
  target->write(refs);
  UsageQuery all;
  all.globalId = "g-" + id + "-many";
  all.limit = 0;
  const auto stored = target->query(all);
  ASSERT_EQ(stored.size(), 101u);
  std::map<std::string, std::string> byId;
  for (const UsageRow& r : stored) byId[r.recordId] = r.serviceData;
  EXPECT_EQ(byId[id + "-m7"], "tab\there;newline\nback\\slash;cr\r7");
}

// A write whose transaction fails at its commit, after PostgreSQL has already answered the
// statement itself: the insert goes by the extended protocol, where the INSERT's CommandComplete
// is sent before the commit (at Sync), so an "INSERT 0 1" comes first and the failure after it.
// A deferred constraint trigger (on test rows only) makes the commit fail: refused (RAISE), or
// the connection cut (the backend terminates itself, as a server shutting down does). Neither may
// be reported committed, and the rows must not be there.
void realPgCommitFailure(const std::string& url) {
  auto target = makePgUsageTarget(url, 5);
  target->connect();  // migrated
  pg::Conn admin = pg::connect(url, 5);
  pg::exec(admin.get(), R"SQL(
CREATE OR REPLACE FUNCTION px_test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.servicedata = 'cut' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
    PERFORM pg_sleep(5);
  END IF;
  RAISE EXCEPTION 'px test: refused at commit';
END
$fn$;
DROP TRIGGER IF EXISTS px_test_fail_at_commit ON usage_record;
CREATE CONSTRAINT TRIGGER px_test_fail_at_commit AFTER INSERT ON usage_record
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.recordid LIKE 'px-fail-at-commit-%')
  EXECUTE FUNCTION px_test_fail_at_commit();
)SQL",
           "trigger");
  struct DropTrigger {
    PGconn* conn;
    ~DropTrigger() {
      pg::Result r(pq::PQexec(conn,
                              "DROP TRIGGER IF EXISTS px_test_fail_at_commit ON usage_record; "
                              "DROP FUNCTION IF EXISTS px_test_fail_at_commit()"));
    }
  } dropTrigger{admin.get()};
  const std::string id = "px-fail-at-commit-" + std::to_string(::getpid()) + "-" +
                         std::to_string(Clock::now().time_since_epoch().count());
  auto stored = [&](const std::string& globalId) {
    UsageQuery q;
    q.globalId = globalId;
    q.limit = 0;
    return target->query(q).size();
  };

  // The premise: by the extended protocol, the INSERT is answered OK first, the commit's failure
  // comes after it.
  {
    const std::string probe = id + "-probe";
    const char* values[] = {probe.c_str()};
    ASSERT_EQ(
        pq::PQsendQueryParams(admin.get(),
                              "INSERT INTO usage_record VALUES ($1, 0, 'g', 's', 'h', 'e', now(), "
                              "0, '')",
                              1, nullptr, values, nullptr, nullptr, 0),
        1);
    std::vector<ExecStatusType> statuses;
    for (pg::Result r(pq::PQgetResult(admin.get())); r; r.reset(pq::PQgetResult(admin.get()))) {
      statuses.push_back(pq::PQresultStatus(r.get()));
    }
    EXPECT_EQ(statuses, (std::vector<ExecStatusType>{PGRES_COMMAND_OK, PGRES_FATAL_ERROR}));
  }

  // Refused at commit (insert path, then COPY path): an error of the data, the connection kept.
  UsageRow refused = row(id + "-refused");
  try {
    target->write({&refused});
    ADD_FAILURE() << "a write refused at commit was reported committed";
  } catch (const TargetError& e) {
    EXPECT_FALSE(e.unavailable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("refused at commit"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(target->connected());
  EXPECT_EQ(stored(refused.globalId), 0u);
  std::vector<UsageRow> many;
  for (int i = 0; i < 70; ++i) {
    many.push_back(row(id + "-copy-" + std::to_string(i)));
    many.back().globalId = "g-" + id + "-copy";
  }
  std::vector<const UsageRow*> refs;
  for (const UsageRow& r : many) refs.push_back(&r);
  EXPECT_THROW(target->write(refs), TargetError);
  EXPECT_EQ(stored("g-" + id + "-copy"), 0u);

  // Cut at commit: the connection is lost, the write not committed, and the next connection
  // writes the same row once.
  UsageRow cut = row(id + "-cut");
  cut.serviceData = "cut";
  try {
    target->write({&cut});
    ADD_FAILURE() << "a write whose connection was cut at commit was reported committed";
  } catch (const TargetError& e) {
    EXPECT_TRUE(e.unavailable()) << e.what();
  }
  EXPECT_FALSE(target->connected());
  EXPECT_EQ(stored(cut.globalId), 0u);
  UsageRow fine = row("px-commit-ok-" + id.substr(18));
  target->connect();
  target->write({&fine});
  EXPECT_EQ(stored(fine.globalId), 1u);
}

void registerPg(const char* name, void (*body)(const std::string&), const std::string& url) {
  ::testing::RegisterTest("PgUsageTarget", name, nullptr, nullptr, __FILE__, __LINE__,
                          [url, body]() -> ::testing::Test* {
                            struct T : ::testing::Test {
                              T(std::string s, void (*b)(const std::string&))
                                  : url(std::move(s)), body(b) {}
                              void TestBody() override { body(url); }
                              std::string url;
                              void (*body)(const std::string&);
                            };
                            return std::make_unique<T>(url, body).release();  // gtest owns it
                          });
}

[[maybe_unused]] const bool registered = [] {
  const char* url = std::getenv("PX_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return false;
  registerPg("WritesIdempotentlyAndQueriesARealDatabase", realPgRoundTrip, url);
  registerPg("AWriteThatFailsAtItsCommitIsNeverReportedCommitted", realPgCommitFailure, url);
  return true;
}();

}  // namespace
}  // namespace px
