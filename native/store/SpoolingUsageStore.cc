#include "store/SpoolingUsageStore.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "store/RecordTime.h"

namespace px {
namespace {

bool rowIsValid(const UsageRow& row) {
  return !row.recordId.empty() && row.segment >= 0 && row.recordTimeMs >= kMinRecordTimeMs &&
         row.recordTimeMs <= kMaxRecordTimeMs;
}

using Clock = std::chrono::steady_clock;

}  // namespace

SpoolingUsageStore::SpoolingUsageStore(std::unique_ptr<UsageTarget> target,
                                       SpoolingUsageStoreOptions options)
    : options_(std::move(options)),
      target_(std::move(target)),
      backoff_(options_.reconnectBackoffMs, options_.reconnectBackoffMaxMs) {
  if (options_.queueCapacity == 0) throw std::invalid_argument("queueCapacity must be >= 1");
  if (options_.durability == Durability::kBatched && !options_.spoolPath.empty()) {
    spool_ = std::make_unique<UsageSpool>(options_.spoolPath, options_.spoolCapacity);
  }
  stats_.reachable = false;  // until the writer's first connection
  if (spool_) stats_.spooled = spool_->size();
  thread_ = std::thread(&SpoolingUsageStore::run, this);
}

SpoolingUsageStore::~SpoolingUsageStore() {
  try {
    close();
  } catch (const std::exception& e) {
    report(std::string("usage store: close in destructor failed: ") + e.what());
  }
}

AppendResult SpoolingUsageStore::append(std::vector<UsageRow> rows, OutcomeCallback onOutcome) {
  AppendResult result;
  const bool valid = std::all_of(rows.begin(), rows.end(), rowIsValid);
  const size_t n = rows.size();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      result.reason = AppendRejection::kClosed;
      return result;
    }
    if (!valid) {
      ++stats_.rejectedInvalid;
      result.reason = AppendRejection::kInvalidRow;
      return result;
    }
    if (n > options_.queueCapacity || stats_.queued + n > options_.queueCapacity) {
      ++stats_.rejectedFull;
      result.reason =
          n > options_.queueCapacity ? AppendRejection::kTooLarge : AppendRejection::kQueueFull;
      return result;
    }
    if (queue_.empty()) oldest_ = Clock::now();
    const size_t limit = std::max<size_t>(1, options_.queueCapacity / 4);
    wake = queue_.empty() || options_.durability == Durability::kDurable ||
           (queuedRows_ < limit && queuedRows_ + n >= limit);
    queue_.push_back(Pending{std::move(rows), std::move(onOutcome), false, false, {}});
    queuedRows_ += n;
    stats_.queued += n;
    ++accepted_;
    result = AppendResult{true, AppendRejection::kNone, nextTicket_++};
  }
  if (wake) workCv_.notify_one();
  return result;
}

void SpoolingUsageStore::run() {
  pthread_setname_np(pthread_self(), options_.threadName.substr(0, 15).c_str());
  std::vector<Pending> batch;
  for (;;) {
    Clock::time_point oldest;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        stopping = stopping_;
        if (!queue_.empty()) {
          if (stopping || options_.durability == Durability::kDurable) break;
          const size_t limit = std::max<size_t>(1, options_.queueCapacity / 4);
          const auto due = oldest_ + std::chrono::milliseconds(options_.flushIntervalMs);
          if (queuedRows_ >= limit || Clock::now() >= due) break;
          workCv_.wait_until(lock, due);
          continue;
        }
        if (stopping) break;
        // Idle: reconnect (and replay) on our own while the database is away or rows wait.
        const bool spooled = spool_ && spool_->size() > 0;
        if (!target_->connected() || spooled) {
          const bool connected = target_->connected();
          if (connected ? replayAllowed() : backoff_.due(options_.now())) break;
          auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
              (connected ? replayPausedUntil_ : backoff_.next()) - options_.now());
          wait = std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
          workCv_.wait_for(lock, wait);
          continue;
        }
        workCv_.wait(lock, [&] { return stopping_ || !queue_.empty() || wake_; });
        wake_ = false;
      }
      std::swap(batch, queue_);
      queuedRows_ = 0;
      oldest = oldest_;
    }
    const Clock::time_point taken = Clock::now();
    if (!batch.empty()) {
      writeBatch(batch);
    } else if (!stopping) {
      ensureConnected();  // idle: the backoff said it is time to try again
    }
    if (spool_ && spool_->size() > 0 && target_->connected() && replayAllowed()) replayChunk();
    if (!batch.empty()) finish(batch, oldest, taken);
    batch.clear();
    if (stopping) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
    }
  }
}

bool SpoolingUsageStore::ensureConnected() {
  if (target_->connected()) return true;
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping = stopping_;
  }
  // Closing: one more attempt whatever the backoff, so that queued rows get their chance.
  if (!stopping && !backoff_.due(options_.now())) return false;
  try {
    target_->connect();
  } catch (const TargetError& e) {
    backoff_.failed(options_.now());
    if (e.what() != lastError_ || backoff_.failures() == 1) {
      report(std::string(e.what()) + "; next attempt in " + std::to_string(backoff_.delayMs()) +
             " ms");
    }
    lastError_ = e.what();
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.reachable = false;
    return false;
  }
  backoff_.succeeded();
  if (everConnected_) report(target_->name() + ": connected again");
  lastError_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.reachable = true;
  if (everConnected_) ++stats_.reconnects;
  everConnected_ = true;
  return true;
}

void SpoolingUsageStore::lost(const std::string& message) {
  target_->disconnect();
  backoff_.failed(options_.now());
  lastError_ = message;
  report(message + "; reconnecting in " + std::to_string(backoff_.delayMs()) + " ms");
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.reachable = false;
}

void SpoolingUsageStore::writeBatch(std::vector<Pending>& batch) {
  std::vector<const UsageRow*> rows;
  auto rowsOf = [&](const Pending& p) {
    for (const UsageRow& row : p.rows) rows.push_back(&row);
  };
  if (ensureConnected()) {
    rows.clear();
    for (const Pending& p : batch) rowsOf(p);
    bool oneByOne = false;
    try {
      if (!rows.empty()) target_->write(rows);
      for (Pending& p : batch) p.done = p.ok = true;
    } catch (const TargetError& e) {
      if (e.unavailable()) {
        lost(e.what());
      } else {
        oneByOne = batch.size() > 1;
        if (!oneByOne) batch.front().done = true, batch.front().reason = e.what();
      }
    }
    // Refused for its data: each append on its own, so that only the faulty ones fail.
    for (Pending& p : batch) {
      if (!oneByOne || !target_->connected()) break;
      rows.clear();
      rowsOf(p);
      try {
        if (!rows.empty()) target_->write(rows);
        p.done = p.ok = true;
      } catch (const TargetError& e) {
        if (e.unavailable()) {
          lost(e.what());
        } else {
          p.done = true;
          p.reason = e.what();
          report(target_->name() + ": append of " + std::to_string(p.rows.size()) +
                 " rows refused: " + e.what());
        }
      }
    }
  }
  // What is left could not reach the database.
  rows.clear();
  std::vector<Pending*> left;
  for (Pending& p : batch) {
    if (p.done) continue;
    left.push_back(&p);
    rowsOf(p);
  }
  if (left.empty()) return;
  const std::string why = target_->name() + " unreachable: " +
                          (lastError_.empty() ? std::string("not connected") : lastError_);
  std::string error;
  if (spool_ && spool_->add(rows, error)) {
    for (Pending* p : left) p->done = p->ok = true;
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.spooled = spool_->size();
    return;
  }
  if (spool_) report(error);
  for (Pending* p : left) {
    p->done = true;
    p->reason = spool_ ? why + "; " + error : why;
  }
}

void SpoolingUsageStore::replayChunk() {
  int64_t last = 0;
  std::vector<UsageRow> rows;
  try {
    rows = spool_->peek(options_.replayChunkRows, last);
  } catch (const std::exception& e) {
    pauseReplay(e.what());
    return;
  }
  if (rows.empty()) return;
  std::vector<const UsageRow*> refs;
  for (const UsageRow& row : rows) refs.push_back(&row);
  try {
    target_->write(refs);
  } catch (const TargetError& e) {
    if (e.unavailable()) {
      lost(e.what());
      return;
    }
    // A row the database will never take would block the spool: write the chunk row by row and
    // drop (loudly) only the refused ones.
    for (const UsageRow* row : refs) {
      try {
        target_->write({row});
      } catch (const TargetError& rowError) {
        if (rowError.unavailable()) {
          lost(rowError.what());
          return;
        }
        report(target_->name() + ": spooled record '" + row->recordId + "' segment " +
               std::to_string(row->segment) + " refused, dropped: " + rowError.what());
      }
    }
  }
  try {
    spool_->remove(last);
  } catch (const std::exception& e) {
    pauseReplay(e.what());  // replayed again later: the idempotent insert skips them
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.replayed += rows.size();
  stats_.spooled = spool_->size();
}

bool SpoolingUsageStore::replayAllowed() const {
  return options_.now() >= replayPausedUntil_;
}

void SpoolingUsageStore::pauseReplay(const std::string& why) {
  // A spool that cannot be read or emptied must not spin the writer: try again later.
  replayPausedUntil_ = options_.now() + std::chrono::milliseconds(options_.reconnectBackoffMaxMs);
  report(why + "; replay paused for " + std::to_string(options_.reconnectBackoffMaxMs) + " ms");
}

void SpoolingUsageStore::finish(std::vector<Pending>& batch, Clock::time_point oldest,
                                Clock::time_point taken) {
  size_t written = 0;
  bool anyOk = false;
  for (const Pending& p : batch) {
    if (p.ok) written += p.rows.size(), anyOk = true;
  }
  const Clock::time_point end = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Pending& p : batch) {
      stats_.queued -= p.rows.size();
      if (!p.ok) ++stats_.writeErrors;
    }
    stats_.written += written;
    if (anyOk) {
      ++stats_.commits;
      using Seconds = std::chrono::duration<double>;
      stats_.latency.commit.observe(Seconds(end - taken).count());
      stats_.latency.wait.observe(Seconds(end - oldest).count());
    }
  }
  for (Pending& p : batch) {
    if (!p.onOutcome) continue;
    try {
      p.onOutcome(p.ok, p.reason);
    } catch (const std::exception& e) {
      report(std::string("usage store: outcome callback threw: ") + e.what());
    } catch (...) {
      report("usage store: outcome callback threw");
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ += batch.size();
  }
  doneCv_.notify_all();
}

std::vector<UsageRow> SpoolingUsageStore::query(const UsageQuery& q) {
  {
    std::lock_guard<std::mutex> lock(closeMutex_);
    if (closed_) throw std::logic_error("usage store (" + target_->name() + ") is closed");
  }
  try {
    return target_->query(q);
  } catch (const TargetError& e) {
    throw std::runtime_error(e.what());
  }
}

UsageStoreStats SpoolingUsageStore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void SpoolingUsageStore::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = accepted_;
  doneCv_.wait(lock, [&] { return finished_ >= target; });
}

bool SpoolingUsageStore::waitReplayed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stats_.reachable && stats_.spooled == 0 && stats_.queued == 0) return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void SpoolingUsageStore::wakeForTest() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = true;
  }
  workCv_.notify_all();
}

void SpoolingUsageStore::close() {
  std::lock_guard<std::mutex> closeLock(closeMutex_);
  if (closed_) return;
  if (std::this_thread::get_id() == thread_.get_id()) {
    throw std::logic_error("usage store: close() called from an outcome callback");
  }
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  workCv_.notify_all();
  if (thread_.joinable()) thread_.join();
  doneCv_.notify_all();
  target_->disconnect();
  if (spool_) spool_->close();
}

void SpoolingUsageStore::report(const std::string& message) const {
  if (!options_.onError) return;
  try {
    options_.onError(message);
  } catch (...) {  // a logger failure must not stop the writer
  }
}

}  // namespace px
