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

[[maybe_unused]] const bool registered = [] {
  const char* url = std::getenv("PX_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return false;
  ::testing::RegisterTest("PgUsageTarget", "WritesIdempotentlyAndQueriesARealDatabase", nullptr,
                          nullptr, __FILE__, __LINE__,
                          [u = std::string(url)]() -> ::testing::Test* {
                            struct T : ::testing::Test {
                              explicit T(std::string s) : url(std::move(s)) {}
                              void TestBody() override { realPgRoundTrip(url); }
                              std::string url;
                            };
                            return std::make_unique<T>(u).release();  // gtest owns it
                          });
  return true;
}();

}  // namespace
}  // namespace px
