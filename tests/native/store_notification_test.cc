// GoogleTest suite of the SQLite notification store (native/store/NotificationStore): round
// trips, replace/remove, survival across close and SIGKILL, write coalescing, failed
// transactions, refused files, directory creation, batching speed and writes after close.
#include "store/NotificationStore.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "support/NotificationStateAssertions.h"
#include "support/TempDir.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/Sqlite.h"

namespace px {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using px::testing::TempDir;

// Every field set, optional ones present, addresses with and without lastSeen.
NotificationState fullState(const std::string& requester, const std::string& correlator) {
  NotificationState s;
  s.spec.id = {requester, correlator};
  s.spec.endpoint = "http://app.example.com:8080/ts/" + correlator;
  s.spec.interfaceName = "TerminalStatusNotification";
  s.spec.globalId = "gid-" + correlator;
  s.spec.addresses = {
      {"tel:+15551230001", "sip:+15551230001@ims.example.com;user=phone", TerminalStatus::kBusy},
      {"sip:alice@example.com", "sip:alice@example.com", std::nullopt},
      {"sip:bob@example.com", "sip:bob@example.com", TerminalStatus::kUnreachable},
      {"sip:carol@example.com", "sip:carol@example.com", TerminalStatus::kReachable},
  };
  s.spec.criteria = {TerminalStatus::kBusy, TerminalStatus::kReachable};
  s.spec.checkImmediate = true;
  s.spec.frequencyMs = 30000;
  s.spec.createdAtMs = 1795536062345;
  s.spec.expiresAtMs = 1795539662345;
  s.spec.countLimit = std::numeric_limits<uint32_t>::max();
  s.progress.sent = 7;
  s.progress.lastSentAtMs = 1795536099999;
  s.progress.nextSequence = std::numeric_limits<uint64_t>::max() - 1;  // above INT64_MAX
  s.spec.api = "camara-device-reachability-status-subscriptions-v0.7";
  s.spec.extension = "{\"types\":[\"t\"],\"note\":\"tab\there\\nline\"}";
  return s;
}

// The other branch of every optional/flag: no count, no criteria, no lastSeen, zeros.
NotificationState sparseState(const std::string& requester, const std::string& correlator) {
  NotificationState s;
  s.spec.id = {requester, correlator};
  s.spec.endpoint = "http://other.example.com/n";
  s.spec.addresses = {{"sip:dave@example.com", "sip:dave@example.com", std::nullopt}};
  return s;
}

// An outbox entry of `kind` (defined with the outbox tests below).
Delivery pendingDelivery(Delivery::Kind kind, const std::string& correlator, uint64_t sequence);

using px::testing::expectSame;

// Records the outcome of each Committed callback (thread-safe: they run on the writer).
class Outcomes {
 public:
  NotificationStore::Committed callback(const std::string& tag) {
    return [this, tag](bool ok, const std::string& error) {
      std::lock_guard<std::mutex> lock(mutex_);
      entries_.push_back({tag, ok, error, std::this_thread::get_id()});
    };
  }
  struct Entry {
    std::string tag;
    bool ok;
    std::string error;
    std::thread::id thread;
  };
  std::vector<Entry> entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

// Expects fn to throw std::runtime_error whose message holds every one of `parts`.
template <typename Fn>
void expectRuntimeError(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }
}

void execRaw(const std::string& path, const char* sql) {
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite::exec(db.get(), sql);
}

// Blocks the writer thread inside a Committed callback until release(), so that writes queued
// meanwhile are taken as one batch.
class WriterGate {
 public:
  // The writer thread's callback holds the promises through a shared_ptr: it may still be
  // inside set_value()/wait() when the test releases and destroys the gate.
  explicit WriterGate(NotificationStore& store) : state_(std::make_shared<State>()) {
    NotificationState s = sparseState("", "gate");
    std::shared_future<void> released = state_->released.get_future().share();
    store.save(s, [state = state_, released](bool, const std::string&) {
      state->entered.set_value();
      released.wait();
    });
    state_->entered.get_future().wait();
  }
  ~WriterGate() { release(); }
  WriterGate(const WriterGate&) = delete;
  WriterGate& operator=(const WriterGate&) = delete;
  void release() {
    if (!open_) {
      open_ = true;
      state_->released.set_value();
    }
  }

 private:
  struct State {
    std::promise<void> entered;
    std::promise<void> released;
  };
  std::shared_ptr<State> state_;
  bool open_ = false;
};

TEST(NotificationStoreTest, RoundTripsEveryField) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  EXPECT_TRUE(store.loadAll().empty());
  const NotificationState a = fullState("app1", "c-1");
  const NotificationState b = sparseState("", "c-2");  // empty requester: sorts first
  NotificationState c = fullState("app1", "c-0");
  c.spec.addresses.clear();
  c.spec.criteria = {TerminalStatus::kUnreachable};
  c.spec.checkImmediate = false;
  c.spec.countLimit = 0u;
  Outcomes outcomes;
  store.save(a, outcomes.callback("a"));
  store.save(b, outcomes.callback("b"));
  store.save(c, outcomes.callback("c"));
  store.flush();
  const auto entries = outcomes.entries();
  ASSERT_EQ(entries.size(), 3u);
  for (const auto& e : entries) {
    EXPECT_TRUE(e.ok) << e.tag << ": " << e.error;
    EXPECT_TRUE(e.error.empty());
    EXPECT_NE(e.thread, std::this_thread::get_id());  // called on the writer thread
  }
  const std::vector<NotificationState> loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 3u);
  expectSame(b, loaded[0]);
  expectSame(c, loaded[1]);
  expectSame(a, loaded[2]);
  EXPECT_EQ(store.path(), dir.file("n.db"));
}

TEST(NotificationStoreTest, SaveReplacesTheStoredNotification) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  store.save(fullState("app1", "c-1"));
  store.save(sparseState("app1", "c-2"));
  store.flush();
  NotificationState updated = fullState("app1", "c-1");
  updated.spec.addresses.erase(updated.spec.addresses.begin());
  updated.spec.addresses[0].lastSeen = TerminalStatus::kBusy;
  updated.spec.countLimit.reset();
  updated.progress.sent = 8;
  updated.progress.lastSentAtMs += 30000;
  updated.progress.nextSequence = 12;
  store.save(updated);
  store.flush();
  const auto loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 2u);
  expectSame(updated, loaded[0]);
  expectSame(sparseState("app1", "c-2"), loaded[1]);
}

TEST(NotificationStoreTest, RemoveDeletesOnlyThatNotification) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  store.save(fullState("app1", "c-1"));
  store.save(fullState("app2", "c-1"));  // same correlator, other requester
  store.flush();
  Outcomes outcomes;
  store.remove({"app1", "c-1"}, outcomes.callback("remove"));
  store.remove({"nobody", "none"}, outcomes.callback("remove-unknown"));
  store.flush();
  const auto entries = outcomes.entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(entries[0].ok && entries[1].ok);
  const auto loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].spec.id.requester, "app2");
  EXPECT_EQ(loaded[0].spec.id.correlator, "c-1");
}

TEST(NotificationStoreTest, DataSurvivesCloseAndReopen) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    store.save(fullState("app1", "c-1"));
    store.save(sparseState("", "c-2"));
    store.save(fullState("app1", "gone"));
    store.remove({"app1", "gone"});
    store.close();  // close() flushes: no explicit flush()
    store.close();  // idempotent
  }
  NotificationStore reopened(path);
  const auto loaded = reopened.loadAll();
  ASSERT_EQ(loaded.size(), 2u);
  expectSame(sparseState("", "c-2"), loaded[0]);
  expectSame(fullState("app1", "c-1"), loaded[1]);
}

TEST(NotificationStoreTest, CommittedWriteSurvivesSigkill) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No gtest in the child: it reports through its fate (killed = reached the kill).
    try {
      NotificationStore store(path);
      store.save(fullState("app1", "c-1"));
      store.flush();
      kill(getpid(), SIGKILL);
    } catch (...) {
    }
    _exit(1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  NotificationStore store(path);
  const auto loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 1u);
  expectSame(fullState("app1", "c-1"), loaded[0]);
}

TEST(NotificationStoreTest, CoalescedWritesCallEveryCallbackAndLastWriteWins) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  Outcomes outcomes;
  NotificationState v3 = fullState("app1", "c-1");
  {
    WriterGate gate(store);  // everything below is queued behind the busy writer
    NotificationState v1 = fullState("app1", "c-1");
    v1.progress.sent = 1;
    NotificationState v2 = v1;
    v2.progress.sent = 2;
    v3.progress.sent = 3;
    store.save(v1, outcomes.callback("v1"));
    store.save(sparseState("app1", "c-2"), outcomes.callback("other"));
    store.save(v2, outcomes.callback("v2"));
    store.remove({"app1", "c-1"}, outcomes.callback("remove"));
    store.save(v3, outcomes.callback("v3"));
    store.save(sparseState("app1", "c-3"), outcomes.callback("c3"));
    store.remove({"app1", "c-3"}, outcomes.callback("remove-c3"));
    store.save(v3);  // no callback: allowed
    EXPECT_TRUE(outcomes.entries().empty());
  }
  store.flush();
  const auto entries = outcomes.entries();
  const std::vector<std::string> order = {"v1", "other", "v2", "remove", "v3", "c3", "remove-c3"};
  ASSERT_EQ(entries.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(entries[i].tag, order[i]);  // call order, whatever the key
    EXPECT_TRUE(entries[i].ok) << entries[i].error;
  }
  const auto loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0].spec.id.correlator, "gate");  // requester "" sorts first
  expectSame(v3, loaded[1]);
  EXPECT_EQ(loaded[2].spec.id.correlator, "c-2");
}

TEST(NotificationStoreTest, FlushMakesWritesVisibleToAnotherConnection) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  NotificationStore store(path);
  store.save(fullState("app1", "c-1"));
  store.save(sparseState("", "c-2"));
  store.flush();
  sqlite::Db reader = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(reader.get(), "SELECT count(*) FROM notifications"), 2);
  // 3 since call_registrations (Call Notification / Call Direction).
  EXPECT_EQ(sqlite::queryInt(reader.get(), "PRAGMA user_version"), 4);
  // The documented column layout.
  EXPECT_EQ(sqlite::queryText(reader.get(),
                              "SELECT addresses FROM notifications WHERE correlator = 'c-1'"),
            "tel:+15551230001\tsip:+15551230001@ims.example.com;user=phone\tBusy\n"
            "sip:alice@example.com\tsip:alice@example.com\t\n"
            "sip:bob@example.com\tsip:bob@example.com\tUnreachable\n"
            "sip:carol@example.com\tsip:carol@example.com\tReachable");
  EXPECT_EQ(sqlite::queryText(reader.get(),
                              "SELECT criteria FROM notifications WHERE correlator = 'c-1'"),
            "Busy,Reachable");
  EXPECT_EQ(sqlite::queryInt(reader.get(),
                             "SELECT count(*) FROM notifications WHERE "
                             "correlator = 'c-2' AND count_limit IS NULL AND "
                             "requester = '' AND criteria = ''"),
            1);
  EXPECT_EQ(sqlite::queryText(reader.get(), "PRAGMA journal_mode"), "wal");
}

TEST(NotificationStoreTest, FailedTransactionRollsBackAndReportsSqliteMessage) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  NotificationStore store(path);
  execRaw(path,
          "CREATE TRIGGER refuse BEFORE INSERT ON notifications WHEN NEW.correlator = 'bad' "
          "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END");
  Outcomes outcomes;
  {
    WriterGate gate(store);
    store.save(fullState("app1", "good"), outcomes.callback("good"));
    store.save(fullState("app1", "bad"), outcomes.callback("bad"));
  }
  store.flush();
  auto entries = outcomes.entries();
  ASSERT_EQ(entries.size(), 2u);
  for (const auto& e : entries) {
    EXPECT_FALSE(e.ok) << e.tag;
    EXPECT_NE(e.error.find("refused by test trigger"), std::string::npos) << e.error;
    EXPECT_NE(e.error.find(path), std::string::npos) << e.error;
  }
  // The whole batch was rolled back ("good" too); the store keeps working.
  auto loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].spec.id.correlator, "gate");
  store.save(fullState("app1", "good"), outcomes.callback("retry"));
  store.flush();
  entries = outcomes.entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_TRUE(entries[2].ok) << entries[2].error;
  EXPECT_EQ(store.loadAll().size(), 2u);
}

// One bad row (another version's, or edited by hand) must not stop the gateway: it is moved to
// quarantined_notifications, named with file and key, and the other rows load.
TEST(NotificationStoreTest, UndecodableRowIsQuarantinedNamingFileAndCorrelator) {
  const std::vector<std::string> corruptions = {
      "UPDATE notifications SET criteria = 'Reachable,Sleepy'",
      "UPDATE notifications SET criteria = 'Busy,'",
      "UPDATE notifications SET addresses = 'sip:a@x\tsip:a@x'",
      "UPDATE notifications SET addresses = 'sip:a@x\tsip:a@x\tAway'",
      "UPDATE notifications SET addresses = addresses || '\n'",
      "UPDATE notifications SET sent = 'many'",
      "UPDATE notifications SET sent = -1",
      "UPDATE notifications SET count_limit = 4294967296",
      "UPDATE notifications SET check_immediate = 2",
      "UPDATE notifications SET frequency_ms = 1.5",
      "UPDATE notifications SET endpoint = x'00ff'",
      "UPDATE notifications SET correlator = x'626164'",
  };
  for (const std::string& sql : corruptions) {
    SCOPED_TRACE(sql);
    TempDir dir;
    const std::string path = dir.file("n.db");
    {
      NotificationStore store(path);
      store.save(fullState("app1", "broken-one"));
    }
    execRaw(path, (sql + " WHERE correlator = 'broken-one'").c_str());
    {
      NotificationStore store(path);
      store.save(fullState("app1", "good-one"));
      store.flush();
    }
    {
      NotificationStore store(path);  // the schema is fine: opening succeeds
      const auto loaded = store.loadAll();
      ASSERT_EQ(loaded.size(), 1u);
      EXPECT_EQ(loaded[0].spec.id.correlator, "good-one");
      ASSERT_EQ(store.quarantined().size(), 1u);
      const QuarantinedNotification& q = store.quarantined()[0];
      EXPECT_TRUE(q.moved);
      EXPECT_EQ(q.requester, "app1");
      EXPECT_NE(q.reason.find(path), std::string::npos) << q.reason;
      EXPECT_NE(q.reason.find("cannot be decoded"), std::string::npos) << q.reason;
    }
    // Moved, not lost: the row is in quarantined_notifications with its reason, and the next
    // start loads the good row without quarantining anything again.
    sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
    EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM quarantined_notifications"), 1);
    EXPECT_EQ(sqlite::queryInt(db.get(),
                               "SELECT count(*) FROM quarantined_notifications WHERE reason LIKE "
                               "'%cannot be decoded%' AND quarantined_at_ms > 0"),
              1);
    EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM notifications"), 1);
    NotificationStore again(path);
    EXPECT_EQ(again.loadAll().size(), 1u);
    EXPECT_TRUE(again.quarantined().empty());
  }
}

TEST(NotificationStoreTest, RefusesAFileThatIsNotANotificationDatabase) {
  TempDir dir;
  const std::string foreign = dir.file("foreign.db");
  execRaw(foreign, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)");
  expectRuntimeError([&] { NotificationStore store(foreign); },
                     {foreign, "not a notification database"});

  // A foreign file that happens to carry our user_version is still refused.
  const std::string versioned = dir.file("versioned.db");
  execRaw(versioned, "CREATE TABLE notifications (x TEXT); PRAGMA user_version = 1");
  expectRuntimeError([&] { NotificationStore store(versioned); },
                     {versioned, "not a notification database"});

  const std::string garbage = dir.file("garbage.db");
  {
    std::ofstream out(garbage, std::ios::binary);
    out << std::string(8192, 'x');
  }
  expectRuntimeError([&] { NotificationStore store(garbage); }, {garbage});
}

TEST(NotificationStoreTest, RefusesAnUnknownSchemaVersion) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    store.save(fullState("app1", "c-1"));
  }
  execRaw(path, "PRAGMA user_version = 99");
  expectRuntimeError([&] { NotificationStore store(path); }, {path, "version 99"});
  execRaw(path, "PRAGMA user_version = 2");
  NotificationStore store(path);  // back to a known version: the data is intact
  EXPECT_EQ(store.loadAll().size(), 1u);
}

// A version 1 file (no outbox) is migrated in place: its notifications load, the outbox works.
TEST(NotificationStoreTest, MigratesAVersion1File) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    store.save(fullState("app1", "c-1"));
  }
  execRaw(path, "DROP TABLE pending_deliveries; PRAGMA user_version = 1");
  {
    NotificationStore store(path);
    EXPECT_EQ(store.loadAll().size(), 1u);
    Delivery d;
    d.kind = Delivery::Kind::kStatusEnd;
    d.id = NotificationKey{"app1", "c-1"};
    d.endpoint = "http://app.example/ts";
    d.globalId = "g";
    d.sequence = 3;
    NotificationWrites writes;
    writes.deliveries.push_back(d);
    store.write(std::move(writes));
  }
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
  // Migrated to the current version (4: call_registrations, the API columns too).
  EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA user_version"), 4);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM pending_deliveries"), 1);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM call_registrations"), 0);
}

// A version 3 file (before CAMARA subscriptions: no api / extension columns) is migrated in
// place: its notifications are Parlay X ones, its outbox rows are kept and read, reasonless.
TEST(NotificationStoreTest, MigratesAVersion3File) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    NotificationState old = fullState("app1", "c-1");
    old.spec.api.clear();
    old.spec.extension.clear();
    NotificationWrites writes;
    writes.saves.push_back(old);
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusEnd, "c-1", 5));
    store.write(std::move(writes));
  }
  execRaw(path,
          "ALTER TABLE notifications DROP COLUMN api; ALTER TABLE notifications DROP COLUMN "
          "extension; ALTER TABLE pending_deliveries DROP COLUMN api; ALTER TABLE "
          "pending_deliveries DROP COLUMN extension; ALTER TABLE pending_deliveries DROP COLUMN "
          "decided_at_ms; PRAGMA user_version = 3");
  {
    NotificationStore store(path);
    const std::vector<NotificationState> loaded = store.loadAll();
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0].spec.api, "");
    EXPECT_EQ(loaded[0].spec.extension, "");
    EXPECT_EQ(loaded[0].spec.countLimit, std::numeric_limits<uint32_t>::max());
    ASSERT_EQ(store.pendingDeliveries().size(), 1u);
    EXPECT_EQ(store.pendingDeliveries()[0].endReason, Delivery::EndReason::kNone);
    EXPECT_EQ(store.pendingDeliveries()[0].atMs, 0);
    store.save(fullState("app1", "c-2"));  // the new columns are written
  }
  NotificationStore store(path);
  const std::vector<NotificationState> loaded = store.loadAll();
  ASSERT_EQ(loaded.size(), 2u);
  expectSame(fullState("app1", "c-2"), loaded[1]);
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA user_version"), 4);
}

// A subscription-ends waiting in the outbox keeps its reason, detail, API fields and time.
TEST(NotificationStoreOutbox, AnEventApiStatusEndRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  Delivery d = pendingDelivery(Delivery::Kind::kStatusEnd, "c-9", 4);
  d.endReason = Delivery::EndReason::kTerminated;
  d.text = "presence server answered 403";
  d.api = "camara-device-reachability-status-subscriptions-v0.7";
  d.extension = "{\"sinkCredential\":{\"accessToken\":\"x\"}}";
  d.atMs = 1795536062345;
  {
    NotificationStore store(path);
    NotificationWrites writes;
    writes.deliveries.push_back(d);
    store.write(std::move(writes));
  }
  NotificationStore store(path);
  store.loadAll();
  ASSERT_EQ(store.pendingDeliveries().size(), 1u);
  const Delivery& got = store.pendingDeliveries()[0];
  EXPECT_EQ(got.kind, Delivery::Kind::kStatusEnd);
  EXPECT_EQ(got.endReason, Delivery::EndReason::kTerminated);
  EXPECT_EQ(got.text, d.text);
  EXPECT_EQ(got.api, d.api);
  EXPECT_EQ(got.extension, d.extension);
  EXPECT_EQ(got.atMs, d.atMs);
}

TEST(NotificationStoreTest, RefusesOurFileWithAlteredColumns) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  { NotificationStore store(path); }
  execRaw(path, "ALTER TABLE notifications ADD COLUMN extra TEXT");
  expectRuntimeError([&] { NotificationStore store(path); }, {path, "unexpected columns"});
}

TEST(NotificationStoreTest, CreatesAMissingParentDirectory) {
  TempDir dir;
  const std::string path = dir.file("a/b/c/n.db");
  ASSERT_FALSE(fs::exists(dir.file("a")));
  {
    NotificationStore store(path);
    store.save(sparseState("", "c-1"));
  }
  EXPECT_TRUE(fs::is_regular_file(path));
  NotificationStore store(path);
  EXPECT_EQ(store.loadAll().size(), 1u);
}

TEST(NotificationStoreTest, ADirectoryThatCannotBeCreatedIsNamed) {
  TempDir dir;
  const std::string blocker = dir.file("plainfile");
  { std::ofstream(blocker) << "not a directory"; }
  const std::string path = blocker + "/sub/n.db";
  expectRuntimeError([&] { NotificationStore store(path); }, {path, blocker + "/sub"});
  // The database path itself being a directory.
  fs::create_directories(dir.file("isadir"));
  expectRuntimeError([&] { NotificationStore store(dir.file("isadir")); }, {dir.file("isadir")});
}

TEST(NotificationStoreTest, TenThousandSavesThenFlushTakeUnderTwoSeconds) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  std::atomic<int> ok{0};
  const auto start = Clock::now();
  for (int i = 0; i < 10000; ++i) {
    NotificationState s = fullState("app1", "c-" + std::to_string(i));
    store.save(s, [&ok](bool committed, const std::string&) {
      if (committed) ++ok;
    });
  }
  store.flush();
  const auto elapsed = Clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2))
      << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
  EXPECT_EQ(ok.load(), 10000);
  EXPECT_EQ(store.loadAll().size(), 10000u);
}

TEST(NotificationStoreTest, WritesAfterCloseFailAtOnce) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  store.close();
  const std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  auto check = [&](bool ok, const std::string& error) {
    ++calls;
    EXPECT_FALSE(ok);
    EXPECT_EQ(error, "store is closed");
    EXPECT_EQ(std::this_thread::get_id(), caller);
  };
  store.save(fullState("app1", "c-1"), check);
  EXPECT_EQ(calls, 1);  // synchronously, before save() returned
  store.remove({"app1", "c-1"}, check);
  EXPECT_EQ(calls, 2);
  store.save(fullState("app1", "c-1"));  // no callback: nothing to call, no crash
  store.flush();                         // returns at once
  EXPECT_THROW(store.loadAll(), std::logic_error);
}

TEST(NotificationStoreTest, AnAddressTheFormatCannotHoldIsRefusedAtOnce) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  NotificationState s = fullState("app1", "c-1");
  s.spec.addresses[1].address = "sip:evil\t@example.com";
  int calls = 0;
  store.save(s, [&](bool ok, const std::string& error) {
    ++calls;
    EXPECT_FALSE(ok);
    EXPECT_NE(error.find("tab or line break"), std::string::npos) << error;
  });
  EXPECT_EQ(calls, 1);
  s.spec.addresses[1].address = "sip:ok@example.com";
  s.spec.addresses[2].key = "sip:evil\n@example.com";
  store.save(s, [&](bool ok, const std::string&) {
    ++calls;
    EXPECT_FALSE(ok);
  });
  EXPECT_EQ(calls, 2);
  store.flush();
  EXPECT_TRUE(store.loadAll().empty());
}

TEST(NotificationStoreTest, FlushOrCloseFromACallbackIsRefused) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  std::promise<std::string> result;
  store.save(sparseState("", "c-1"), [&](bool, const std::string&) {
    std::string what;
    try {
      store.flush();
    } catch (const std::logic_error& e) {
      what += e.what();
    }
    try {
      store.close();
    } catch (const std::logic_error& e) {
      what += e.what();
    }
    result.set_value(what);
  });
  const std::string what = result.get_future().get();
  EXPECT_NE(what.find("flush()"), std::string::npos) << what;
  EXPECT_NE(what.find("close()"), std::string::npos) << what;
  store.close();
  NotificationStore reopened(dir.file("n.db"));
  EXPECT_EQ(reopened.loadAll().size(), 1u);
}

}  // namespace
}  // namespace px

namespace px {
namespace {

Delivery pendingDelivery(Delivery::Kind kind, const std::string& correlator, uint64_t sequence) {
  Delivery d;
  d.kind = kind;
  d.id = NotificationKey{"app1", correlator};
  d.endpoint = "http://app.example/ts";
  d.globalId = "global-" + correlator;
  d.sequence = sequence;
  if (kind == Delivery::Kind::kStatusNotification) {
    d.statuses = {{"sip:a@x;odd=\"1:2\"", TerminalStatus::kBusy},
                  {"tel:+1555", TerminalStatus::kUnreachable}};
  } else if (kind == Delivery::Kind::kStatusError) {
    d.address = "";
    d.messageId = "SVC0001";
    d.text = "A service error occurred. Error code is %1";
    d.variables = {"operator: line\nbreak;\ttab", ""};
  }
  return d;
}

// The outbox: a state change and the deliveries it caused land in one transaction; deliveries
// stay until settled and come back, in order and intact, after a restart.
TEST(NotificationStoreOutbox, PendingDeliveriesSurviveARestartUntilSettled) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    EXPECT_TRUE(store.loadAll().empty());
    NotificationWrites writes;
    writes.saves.push_back(fullState("app1", "c-1"));
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusNotification, "c-1", 7));
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusError, "c-1", 8));
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusEnd, "c-0", 2));
    bool committed = false;
    store.write(std::move(writes), [&](bool ok, const std::string&) { committed = ok; });
    store.flush();
    EXPECT_TRUE(committed);
  }
  {
    NotificationStore store(path);
    EXPECT_EQ(store.loadAll().size(), 1u);
    const std::vector<Delivery>& pending = store.pendingDeliveries();
    ASSERT_EQ(pending.size(), 3u);
    EXPECT_EQ(pending[0].id.correlator, "c-0");
    EXPECT_EQ(pending[0].kind, Delivery::Kind::kStatusEnd);
    EXPECT_EQ(pending[1].sequence, 7u);
    EXPECT_EQ(pending[1].statuses,
              pendingDelivery(Delivery::Kind::kStatusNotification, "c-1", 7).statuses);
    EXPECT_EQ(pending[1].globalId, "global-c-1");
    EXPECT_EQ(pending[2].kind, Delivery::Kind::kStatusError);
    EXPECT_EQ(pending[2].variables,
              pendingDelivery(Delivery::Kind::kStatusError, "c-1", 8).variables);
    EXPECT_EQ(pending[2].text, "A service error occurred. Error code is %1");
    store.deliveryDone(NotificationKey{"app1", "c-1"}, 7);
    store.deliveryDone(NotificationKey{"app1", "c-0"}, 2);
    // A notification's removal does not take its last deliveries (statusEnd) with it.
    store.remove(NotificationKey{"app1", "c-1"});
  }
  NotificationStore store(path);
  EXPECT_TRUE(store.loadAll().empty());
  ASSERT_EQ(store.pendingDeliveries().size(), 1u);
  EXPECT_EQ(store.pendingDeliveries()[0].sequence, 8u);
  EXPECT_TRUE(store.quarantined().empty());
}

TEST(NotificationStoreOutbox, AnUndecodablePendingDeliveryIsReportedAndKept) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  {
    NotificationStore store(path);
    NotificationWrites writes;
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusNotification, "c-1", 1));
    writes.deliveries.push_back(pendingDelivery(Delivery::Kind::kStatusEnd, "c-2", 1));
    store.write(std::move(writes));
  }
  execRaw(path, "UPDATE pending_deliveries SET payload = '99:short' WHERE correlator = 'c-1'");
  {
    NotificationStore store(path);
    store.loadAll();
    ASSERT_EQ(store.pendingDeliveries().size(), 1u);
    EXPECT_EQ(store.pendingDeliveries()[0].id.correlator, "c-2");
    ASSERT_EQ(store.quarantined().size(), 1u);
    EXPECT_NE(store.quarantined()[0].reason.find("pending delivery"), std::string::npos);
    EXPECT_TRUE(store.quarantined()[0].pendingDelivery);
  }
  // Kept for the operator, reported again, never sent.
  NotificationStore store(path);
  store.loadAll();
  EXPECT_EQ(store.pendingDeliveries().size(), 1u);
  EXPECT_EQ(store.quarantined().size(), 1u);
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM pending_deliveries"), 2);
}

}  // namespace
}  // namespace px
