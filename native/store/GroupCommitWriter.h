// The one writer-thread loop of the SQLite stores: a queue of store-defined work, group commit of
// whatever is queued in one transaction, one retry policy, commit callbacks, flush and a close
// that drains.
//
// Owners and threads:
//   - the queue (one Batch, the store's accumulation of everything submitted since the writer
//     last took it) is guarded by the writer's mutex; producers change it only inside submit()
//     (any thread), the writer thread takes it whole;
//   - the connection is used by the writer thread inside each attempt, under the connection
//     mutex, which the store also takes (useConnection()) for anything else it does on it;
//   - Hooks::write and Hooks::finished run on the writer thread, no queue lock held;
//   - the commit latency histograms are written by the writer thread once per committed batch
//     and read by latency() from any thread, under their own mutex (never the queue lock).
//
// Batch requirements: default constructible, movable, and
//   bool empty() const;    nothing to write
//   size_t weight() const; how much is queued (rows, changes), compared with Options::lingerLimit
//   void clear();          back to empty, keeping capacity
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "store/Sqlite.h"

namespace px::sqlite {

// How a failed transaction is retried. The same for every store.
struct RetryPolicy {
  uint32_t retries = 3;     // further attempts after the first failure
  uint32_t backoffMs = 20;  // delay before the first retry, doubled for each further one

  // False for errors of the data (a constraint, a value too big or of the wrong type): the same
  // transaction fails the same way again. Locks, a full disk and I/O errors may pass.
  static bool retryable(int code);
  // Delay before retry number `retry` (1-based).
  uint32_t delayMs(uint32_t retry) const;
};

// Outcome of one statement or attempt. step names what failed ("begin", "commit", or the store's
// own word such as "saving"); message is SQLite's text, captured before any reset or rollback.
struct WriteStatus {
  int code = SQLITE_OK;
  std::string message;
  std::string step;
  bool ok() const { return code == SQLITE_OK; }
};

// One failed attempt, as reported to Hooks::failedAttempt.
struct FailedAttempt {
  const WriteStatus& status;
  uint32_t attempt;  // 1-based
  uint32_t retries;  // the policy's limit
  bool retrying;     // false: the batch is given up
  uint32_t delayMs;  // before the retry

  // "retry 1 of 3 in 20 ms" or "gave up after 4 attempts".
  std::string note() const;
};

// Durations in seconds in fixed buckets (Prometheus histogram layout, bounds inclusive).
struct LatencyHistogram {
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket (not cumulative); last: > 10 s
  uint64_t count = 0;
  double sum = 0;  // seconds

  void observe(double seconds) {
    const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
    ++counts[static_cast<size_t>(bucket - kBounds.begin())];
    ++count;
    sum += seconds;
  }
};

// One observation of each per committed batch (a failed batch commits nothing: not observed).
// Per batch rather than per append: two clock reads per transaction, none per row.
struct CommitLatency {
  // From the writer taking the batch to its commit: the transaction's attempts, retry delays
  // included.
  LatencyHistogram commit;
  // From the submission of the batch's oldest item to its commit: the longest any item of the
  // batch waited (queueing behind the previous batch, lingering, writing). What a caller waiting
  // for its commit waits, at most.
  LatencyHistogram wait;
};

// BEGIN IMMEDIATE / COMMIT / ROLLBACK of one connection, prepared once.
class Transaction {
 public:
  explicit Transaction(sqlite3* db);
  WriteStatus begin();
  WriteStatus commit();  // on failure the transaction is rolled back
  void rollbackIfOpen();
  void release();  // finalizes the statements (before the connection closes)

 private:
  WriteStatus failed(int code, const char* step);

  sqlite3* db_;
  Stmt begin_, commit_, rollback_;
};

template <typename Batch>
class GroupCommitWriter {
 public:
  struct Options {
    RetryPolicy retry;
    // 0: a batch is taken as soon as anything is queued (durable group commit). Otherwise the
    // writer waits up to this long after the first item of a batch, unless weight() reaches
    // lingerLimit first (fewer, larger transactions; the loss window of a batched store).
    std::chrono::milliseconds linger{0};
    size_t lingerLimit = 1;
    // The writer thread's name (top -H, perf, gdb); at most 15 characters are kept.
    std::string threadName = "px-store";
  };
  struct Hooks {
    // Writes the batch inside the writer's open transaction; an error status rolls it back and
    // the policy decides on a retry. Called again for each retry with the same batch.
    std::function<WriteStatus(Batch&)> write;
    // Once per batch after it committed or was given up (outcome = last attempt's status).
    std::function<void(Batch&, const WriteStatus& outcome)> finished;
    // Optional: each failed attempt, before the retry's delay or before finished().
    std::function<void(const Batch&, const FailedAttempt&)> failedAttempt;
  };

  // Starts the writer thread on `db`, which must outlive close().
  GroupCommitWriter(sqlite3* db, Options options, Hooks hooks)
      : options_(options), hooks_(std::move(hooks)), transaction_(db) {
    thread_ = std::thread(&GroupCommitWriter::run, this);
    // Written before any submit() can hand the writer work, so the writer's reads are ordered.
    threadId_.store(thread_.get_id());
  }
  ~GroupCommitWriter() {
    try {
      close();
    } catch (...) {  // close() from the writer thread itself: nothing sensible left to do
    }
  }
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Runs add(queue) -> bool under the queue lock and wakes the writer when needed. add may
  // refuse (return false, queue unchanged). Returns false without calling add once close() has
  // begun.
  template <typename Add>
  bool submit(Add&& add) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      const bool wasEmpty = pending_.empty();
      const size_t before = pending_.weight();
      if (!add(pending_) || pending_.empty()) return true;
      ++submitted_;
      if (wasEmpty) oldest_ = std::chrono::steady_clock::now();
      // Wake the writer only when it may be idle or lingering below the limit.
      const size_t limit = options_.lingerLimit;
      wake = wasEmpty || options_.linger.count() == 0 ||
             (before < limit && pending_.weight() >= limit);
    }
    if (wake) workCv_.notify_one();
    return true;
  }

  // Waits until everything submitted so far has finished (callbacks run). Not from the writer.
  void flush() {
    if (onWriterThread()) throw std::logic_error("flush() called on the writer thread");
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t target = submitted_;
    doneCv_.wait(lock, [&] { return finished_ >= target; });
  }

  // Stops accepting, lets the writer drain the queue, joins it, finalizes the transaction
  // statements and then runs afterStop (once, under the connection mutex: release the store's
  // statements and the connection there). Idempotent; later callers wait for the first.
  void close(const std::function<void()>& afterStop = nullptr) {
    std::lock_guard<std::mutex> closeLock(closeMutex_);
    if (closed_) return;
    if (onWriterThread()) throw std::logic_error("close() called on the writer thread");
    closed_ = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    workCv_.notify_all();
    if (thread_.joinable()) thread_.join();
    threadId_.store(std::thread::id());  // a later thread may be given the same id
    std::lock_guard<std::mutex> connection(connectionMutex_);
    transaction_.release();
    if (afterStop) afterStop();
  }

  // Serialises other use of the connection with the writer's transactions.
  std::unique_lock<std::mutex> useConnection() {
    return std::unique_lock<std::mutex>(connectionMutex_);
  }

  bool onWriterThread() const { return std::this_thread::get_id() == threadId_.load(); }

  // The commit latency histograms since the writer started (any thread).
  CommitLatency latency() const {
    std::lock_guard<std::mutex> lock(latencyMutex_);
    return latency_;
  }

  // Test hook: while paused the writer takes no new batch (the current one completes); close()
  // overrides the pause.
  void setPausedForTest(bool paused) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      paused_ = paused;
    }
    workCv_.notify_one();
  }

 private:
  void run() {
    pthread_setname_np(pthread_self(), options_.threadName.substr(0, 15).c_str());
    using Clock = std::chrono::steady_clock;
    Batch batch;
    for (;;) {
      uint64_t through;
      Clock::time_point oldest;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!waitForBatch(lock)) return;
        std::swap(batch, pending_);
        through = submitted_;
        oldest = oldest_;
      }
      const Clock::time_point taken = Clock::now();
      const WriteStatus outcome = writeWithRetry(batch);
      if (outcome.ok()) {
        // Before finished(): whoever learns of the commit finds it counted.
        const Clock::time_point committed = Clock::now();
        using Seconds = std::chrono::duration<double>;
        std::lock_guard<std::mutex> lock(latencyMutex_);
        latency_.commit.observe(Seconds(committed - taken).count());
        latency_.wait.observe(Seconds(committed - oldest).count());
      }
      try {
        hooks_.finished(batch, outcome);
      } catch (...) {  // the stores catch their callbacks' exceptions; never lose the writer
      }
      batch.clear();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_ = through;
      }
      doneCv_.notify_all();
    }
  }

  // True when a batch is due; false when stopping with nothing left.
  bool waitForBatch(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      if (!pending_.empty() && (!paused_ || stopping_)) {
        if (options_.linger.count() == 0 || stopping_ ||
            pending_.weight() >= options_.lingerLimit) {
          return true;
        }
        const auto due = oldest_ + options_.linger;
        if (std::chrono::steady_clock::now() >= due) return true;
        workCv_.wait_until(lock, due);
      } else {
        if (stopping_ && pending_.empty()) return false;
        workCv_.wait(lock);
      }
    }
  }

  WriteStatus writeWithRetry(Batch& batch) {
    for (uint32_t attempt = 1;; ++attempt) {
      WriteStatus status = attemptOnce(batch);
      if (status.ok()) return status;
      const RetryPolicy& policy = options_.retry;
      const bool retrying = RetryPolicy::retryable(status.code) && attempt <= policy.retries;
      const uint32_t delayMs = retrying ? policy.delayMs(attempt) : 0;
      if (hooks_.failedAttempt) {
        try {
          hooks_.failedAttempt(batch,
                               FailedAttempt{status, attempt, policy.retries, retrying, delayMs});
        } catch (...) {  // a logger failure must not stop the writer
        }
      }
      if (!retrying) return status;
      std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
    }
  }

  WriteStatus attemptOnce(Batch& batch) {
    std::lock_guard<std::mutex> lock(connectionMutex_);
    WriteStatus status = transaction_.begin();
    if (!status.ok()) return status;
    try {
      status = hooks_.write(batch);
    } catch (const std::exception& e) {
      status = WriteStatus{SQLITE_ERROR, e.what(), "writing"};
    }
    if (!status.ok()) {
      transaction_.rollbackIfOpen();
      return status;
    }
    return transaction_.commit();
  }

  const Options options_;
  const Hooks hooks_;

  std::mutex connectionMutex_;  // the connection: the writer's attempts, useConnection(), close
  Transaction transaction_;

  std::mutex mutex_;                              // guards everything below up to closeMutex_
  std::condition_variable workCv_;                // writer: work queued, pause lifted, or stop
  std::condition_variable doneCv_;                // flush(): a batch finished
  Batch pending_;                                 // the queue
  std::chrono::steady_clock::time_point oldest_;  // when pending_ became non-empty
  uint64_t submitted_ = 0;                        // submissions accepted so far
  uint64_t finished_ = 0;                         // submissions whose batch finished
  bool stopping_ = false;
  bool paused_ = false;
  std::atomic<std::thread::id> threadId_;  // the writer's while it runs

  mutable std::mutex latencyMutex_;  // guards latency_
  CommitLatency latency_;

  std::mutex closeMutex_;  // serialises close() callers
  bool closed_ = false;    // guarded by closeMutex_
  std::thread thread_;
};

}  // namespace px::sqlite
