// A usage record store in front of a remote database (UsageTarget: PostgreSQL, PgUsageStore.h),
// with one writer thread, group commit, reconnection with backoff and, in batched mode, a local
// spool for the time the database is unreachable.
//
// Owners and threads:
//   - the queue (appends accepted and not yet taken) is guarded by mutex_; producers add to it
//     in append() (any thread), the writer thread takes it whole;
//   - the target's writer connection, the backoff and the spool are the writer thread's alone
//     (close() touches them only after joining it); the target's reader connection is
//     serialised by the target itself (query(), any thread);
//   - outcomes: each accepted append's callback runs once, on the writer thread.
//
// Writing. The writer takes everything queued (durable: at once; batched: at most
// flushIntervalMs after the oldest, sooner when a quarter of queueCapacity is waiting) and writes
// it as one idempotent multi-row insert: rows whose (RECORDID, SEGMENT) exists are skipped, so a
// batch written twice (a commit whose answer was lost, a replay after a crash) is stored once.
//   durable: an append is reported committed only after the database committed it. While the
//     database is unreachable (connection lost, or the backoff after a failed reconnection has
//     not passed) every append fails at once with the connection's error, counted in writeErrors.
//   batched: while the database is unreachable, rows go to the spool (UsageSpool.h) and count as
//     committed; a full spool fails the append. When the connection is back, the spool is
//     replayed in chunks of replayChunkRows (between batches, oldest first) and each chunk is
//     forgotten only after the database committed it: a crash between the two replays it again,
//     which the idempotent insert absorbs.
// A batch the database refuses for its data (not its connection) is written again one append at
// a time, so only the appends at fault fail.
// Reconnection: after a failed connection the next attempt waits reconnectBackoffMs, doubled per
// failure up to reconnectBackoffMaxMs (Backoff.h); while disconnected the writer also tries on its
// own when nothing is queued, so that readiness and the spool recover without traffic.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/Backoff.h"
#include "store/UsageRowStore.h"
#include "store/UsageSpool.h"

namespace px {

// A failure of the remote database. unavailable: the connection (or the server) is gone; else
// the database refused the rows themselves.
class TargetError : public std::runtime_error {
 public:
  TargetError(const std::string& message, bool unavailable)
      : std::runtime_error(message), unavailable_(unavailable) {}
  bool unavailable() const { return unavailable_; }

 private:
  bool unavailable_;
};

// The remote database. connect/disconnect/write: the writer thread only; query: any thread.
class UsageTarget {
 public:
  virtual ~UsageTarget() = default;
  // Connects (and migrates the schema on the first connection); throws TargetError.
  virtual void connect() = 0;
  virtual void disconnect() = 0;
  virtual bool connected() const = 0;
  // Inserts rows in one transaction, skipping those whose (RECORDID, SEGMENT) exists; throws
  // TargetError (the transaction is then not committed).
  virtual void write(const std::vector<const UsageRow*>& rows) = 0;
  virtual std::vector<UsageRow> query(const UsageQuery& q) = 0;
  // For messages: the database without secrets ("PostgreSQL host=... dbname=...").
  virtual std::string name() const = 0;
};

struct SpoolingUsageStoreOptions {
  Durability durability = Durability::kDurable;
  uint32_t flushIntervalMs = 100;
  size_t queueCapacity = 100000;
  std::string spoolPath;  // batched only; "" = no spool (batched appends fail while down)
  uint64_t spoolCapacity = 1000000;
  uint32_t reconnectBackoffMs = 200;
  uint32_t reconnectBackoffMaxMs = 5000;
  size_t replayChunkRows = 5000;
  // The backoff's clock (tests inject theirs; the writer still sleeps in real time, at most
  // 100 ms at once while a reconnection is pending, and wakeForTest() wakes it).
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
  std::function<void(const std::string& message)> onError;  // writer thread (or close())
  std::string threadName = "px-usage-pg";
};

class SpoolingUsageStore : public UsageRowStore {
 public:
  // Opens the spool (batched) and starts the writer, which connects in the background: a
  // database that is down at start is a store that is not reachable yet, not an error.
  SpoolingUsageStore(std::unique_ptr<UsageTarget> target, SpoolingUsageStoreOptions options);
  ~SpoolingUsageStore() override;
  SpoolingUsageStore(const SpoolingUsageStore&) = delete;
  SpoolingUsageStore& operator=(const SpoolingUsageStore&) = delete;

  AppendResult append(std::vector<UsageRow> rows, OutcomeCallback onOutcome) override;
  std::vector<UsageRow> query(const UsageQuery& q) override;
  UsageStoreStats stats() const override;
  void close() override;

  // Waits until everything accepted so far has its outcome (tests, benches). Not from the writer.
  void flush();
  // Waits until the spool is empty and the database reachable, or the timeout passes.
  bool waitReplayed(std::chrono::milliseconds timeout);
  // Test hook: wake the writer to look at the (injected) clock again.
  void wakeForTest();

 private:
  struct Pending {
    std::vector<UsageRow> rows;
    OutcomeCallback onOutcome;
    bool done = false;
    bool ok = false;
    std::string reason;
  };

  void run();
  void writeBatch(std::vector<Pending>& batch);
  bool ensureConnected();
  void lost(const std::string& message);
  void replayChunk();
  bool replayAllowed() const;
  void pauseReplay(const std::string& why);
  void finish(std::vector<Pending>& batch, std::chrono::steady_clock::time_point oldest,
              std::chrono::steady_clock::time_point taken);
  void report(const std::string& message) const;

  const SpoolingUsageStoreOptions options_;
  std::unique_ptr<UsageTarget> target_;
  std::unique_ptr<UsageSpool> spool_;  // batched with a spool path
  ReconnectBackoff backoff_;           // writer thread
  std::string lastError_;              // writer thread: why the database is unreachable
  bool everConnected_ = false;         // writer thread
  std::chrono::steady_clock::time_point replayPausedUntil_{};  // writer: spool read/delete failed

  mutable std::mutex mutex_;
  std::condition_variable workCv_;
  std::condition_variable doneCv_;
  std::vector<Pending> queue_;
  size_t queuedRows_ = 0;                         // rows in queue_
  std::chrono::steady_clock::time_point oldest_;  // when queue_ became non-empty
  uint64_t accepted_ = 0;                         // appends accepted
  uint64_t finished_ = 0;                         // appends with an outcome
  UsageTicket nextTicket_ = 1;
  bool stopping_ = false;
  bool wake_ = false;
  UsageStoreStats stats_;

  std::mutex closeMutex_;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace px
