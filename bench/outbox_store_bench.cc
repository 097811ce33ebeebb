// What the delivery outbox (issue 12: at-least-once across crashes) costs the notification store.
// The engine's effects for one status change are a changed notification (its lastSeen) and one
// statusNotification; since the outbox they are written together, and the delivery is deleted
// again when it settles. This drives the store the way the binding does, in bursts of B changes
// (one event-loop turn's worth), and prints changes/s for three modes in the same run:
//   state      the state save alone (what was written before the outbox)
//   outbox     state + delivery in one write(), then deliveryDone() for each
//   raw        the same rows with plain SQLite (one transaction per burst, synchronous=FULL, WAL),
//              no queue, no thread: the limit the store is compared with
// Also the process CPU per change of each mode.
//   build-cmake/outbox_store_bench [changes=20000] [burst=100] [notifications=1000]
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "store/NotificationStore.h"

namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

px::NotificationState state(int n) {
  px::NotificationState s;
  s.spec.id = px::NotificationKey{"bench", "c-" + std::to_string(n)};
  s.spec.endpoint = "http://app.example/ts";
  s.spec.globalId = "0190f1a2-0000-7000-8000-" + std::to_string(100000000000 + n);
  px::WatchedAddress a;
  a.address = "sip:user" + std::to_string(n) + "@example.test";
  a.key = a.address;
  a.lastSeen = px::TerminalStatus::kBusy;
  s.spec.addresses.push_back(a);
  s.spec.expiresAtMs = 4102444800000;
  return s;
}

px::Delivery delivery(const px::NotificationState& s, uint64_t sequence) {
  px::Delivery d;
  d.id = s.spec.id;
  d.endpoint = s.spec.endpoint;
  d.globalId = s.spec.globalId;
  d.sequence = sequence;
  d.statuses.emplace_back(s.spec.addresses[0].address, px::TerminalStatus::kBusy);
  return d;
}

struct Result {
  double perSecond;
  double cpuUsPerChange;
};

Result runStore(const std::string& path, bool outbox, int changes, int burst, int notifications) {
  std::filesystem::remove(path);
  px::NotificationStore store(path);
  store.loadAll();
  const double cpu0 = cpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int done = 0; done < changes;) {
    px::NotificationWrites writes;
    std::vector<px::Delivery> sent;
    for (int i = 0; i < burst && done < changes; ++i, ++done) {
      px::NotificationState s = state(done % notifications);
      s.progress.nextSequence = static_cast<uint64_t>(done) + 1;
      if (outbox) {
        writes.deliveries.push_back(delivery(s, static_cast<uint64_t>(done)));
        sent.push_back(writes.deliveries.back());
      }
      writes.saves.push_back(std::move(s));
    }
    store.write(std::move(writes));
    // The previous burst's deliveries settle while this one is written (as JS would report).
    for (const px::Delivery& d : sent) store.deliveryDone(d.id, d.sequence);
  }
  store.flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpuSeconds() - cpu0;
  return {changes / seconds, cpu / changes * 1e6};
}

Result runRaw(const std::string& path, int changes, int burst, int notifications) {
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE n (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;"
               "CREATE TABLE o (k TEXT, s INTEGER, v TEXT, PRIMARY KEY (k, s)) WITHOUT ROWID;",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* upsert = nullptr;
  sqlite3_stmt* keep = nullptr;
  sqlite3_stmt* settle = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO n VALUES (?1, ?2)", -1, &upsert, nullptr);
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO o VALUES (?1, ?2, ?3)", -1, &keep, nullptr);
  sqlite3_prepare_v2(db, "DELETE FROM o WHERE k = ?1 AND s = ?2", -1, &settle, nullptr);
  const std::string value(160, 'x');  // about the size of one encoded row
  const double cpu0 = cpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int done = 0; done < changes;) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    const int first = done;
    for (int i = 0; i < burst && done < changes; ++i, ++done) {
      const std::string key = "c-" + std::to_string(done % notifications);
      for (sqlite3_stmt* stmt : {upsert, keep}) {
        sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
        if (stmt == keep) {
          sqlite3_bind_int64(stmt, 2, done);
          sqlite3_bind_text(stmt, 3, value.c_str(), -1, SQLITE_STATIC);
        } else {
          sqlite3_bind_text(stmt, 2, value.c_str(), -1, SQLITE_STATIC);
        }
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
      }
    }
    for (int s = first; s < done; ++s) {
      const std::string key = "c-" + std::to_string(s % notifications);
      sqlite3_bind_text(settle, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(settle, 2, s);
      sqlite3_step(settle);
      sqlite3_reset(settle);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpuSeconds() - cpu0;
  for (sqlite3_stmt* stmt : {upsert, keep, settle}) sqlite3_finalize(stmt);
  sqlite3_close(db);
  return {changes / seconds, cpu / changes * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  const int changes = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int burst = argc > 2 ? std::atoi(argv[2]) : 100;
  const int notifications = argc > 3 ? std::atoi(argv[3]) : 1000;
  const auto dir =
      std::filesystem::temp_directory_path() / ("px-outbox-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "n.db").string();
  const Result stateOnly = runStore(path, false, changes, burst, notifications);
  const Result withOutbox = runStore(path, true, changes, burst, notifications);
  const Result raw = runRaw((dir / "raw.db").string(), changes, burst, notifications);
  std::printf("%d changes in bursts of %d over %d notifications (synchronous=FULL, WAL)\n", changes,
              burst, notifications);
  std::printf("  state only (before the outbox): %9.0f changes/s  %6.1f us CPU/change\n",
              stateOnly.perSecond, stateOnly.cpuUsPerChange);
  std::printf("  state + outbox + settle:        %9.0f changes/s  %6.1f us CPU/change\n",
              withOutbox.perSecond, withOutbox.cpuUsPerChange);
  std::printf("  raw SQLite, same rows (limit):  %9.0f changes/s  %6.1f us CPU/change\n",
              raw.perSecond, raw.cpuUsPerChange);
  std::printf(
      "{\"bench\":\"outbox_store\",\"stateOnly\":%.0f,\"outbox\":%.0f,\"raw\":%.0f,"
      "\"cpuUsStateOnly\":%.1f,\"cpuUsOutbox\":%.1f,\"cpuUsRaw\":%.1f}\n",
      stateOnly.perSecond, withOutbox.perSecond, raw.perSecond, stateOnly.cpuUsPerChange,
      withOutbox.cpuUsPerChange, raw.cpuUsPerChange);
  std::filesystem::remove_all(dir);
  return 0;
}
