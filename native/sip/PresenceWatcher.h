// The gateway's SIP presence watcher (IMS Pw reference point), built on Sofia-SIP's transaction
// layer (NTA).
//
// Threads: one SIP thread per watcher owns every Sofia object (root, agent, transactions, timer);
// nothing Sofia crosses to another thread. Two queues cross the boundary:
// - the command queue (owner: the SIP thread, which drains it): any thread enqueues fetches and
//   wakes the SIP thread with one su_msg per batch;
// - the outcome queue (owner: the consumer, e.g. the Node binding): the SIP thread appends
//   outcomes and calls the OutcomeSignal once each time the queue goes from empty to non-empty
//   (fetch() after close() does the same on the caller's thread); the consumer calls
//   takeOutcomes() from its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/GatewayConfig.h"
#include "presence/TerminalStatus.h"

namespace px {

struct FetchOutcome {
  enum class Kind {
    kStatus,       // a NOTIFY was mapped (or ended without a document): `status` is set
    kSipError,     // the SUBSCRIBE got a final non-2xx answer: `sipStatus`, `detail`
    kTimeout,      // no usable NOTIFY within presence.fetchTimeoutMs
    kBadDocument,  // the NOTIFY body could not be mapped: `detail` says why
    kShutdown,     // the watcher closed before the fetch finished
  };
  uint64_t id = 0;
  Kind kind = Kind::kTimeout;
  TerminalStatus status = TerminalStatus::kUnreachable;
  int sipStatus = 0;  // final SUBSCRIBE response code, 0 when none arrived
  std::string detail;
  uint32_t elapsedMs = 0;
};

const char* toString(FetchOutcome::Kind kind);

struct WatcherStats {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t inFlight = 0;
  uint64_t timeouts = 0;
  uint64_t sipErrors = 0;
  uint64_t strayRequests = 0;  // NOTIFYs of no fetch in progress (e.g. after a timeout): 481
};

class PresenceWatcher {
 public:
  // Called when outcomes become available (on the SIP thread, or on the caller's thread for a
  // fetch() after close()); must not block.
  using OutcomeSignal = std::function<void()>;

  // Binds the SIP transports and starts the SIP thread; throws std::runtime_error when the stack
  // cannot start (e.g. the port is in use).
  PresenceWatcher(const GatewayConfig& config, OutcomeSignal signal);
  ~PresenceWatcher();

  PresenceWatcher(const PresenceWatcher&) = delete;
  PresenceWatcher& operator=(const PresenceWatcher&) = delete;

  // Starts a one-shot presence fetch (SUBSCRIBE Expires: 0) of a SIP/tel Request-URI. Thread-safe.
  // The fetch always ends with exactly one outcome, within fetchTimeoutMs of this call.
  // With wakeNow false the SIP thread is only woken by the next flush() (or a later fetch with
  // wakeNow): a caller that starts many fetches in a burst pays one thread wake-up for all.
  uint64_t fetch(const std::string& requestUri, bool wakeNow = true);

  // Wakes the SIP thread if fetches are queued and no wake-up is already on its way. Thread-safe.
  void flush();

  // Takes every outcome queued so far. Thread-safe.
  std::vector<FetchOutcome> takeOutcomes();

  // Ends pending fetches with kShutdown, shuts the stack down and joins the thread. Blocks; call
  // it off the event loop. Idempotent.
  void close();

  WatcherStats stats() const;
  uint16_t sipPort() const { return sipPort_; }

 private:
  class Stack;  // lives on the SIP thread

  struct Command {
    uint64_t id;
    std::string requestUri;
    std::chrono::steady_clock::time_point deadline;
  };

  void run(std::string bindUrl);
  void pushOutcome(FetchOutcome outcome);

  const GatewayConfig config_;
  OutcomeSignal signal_;
  uint16_t sipPort_ = 0;
  std::atomic<uint64_t> nextId_{1};

  std::mutex commandsMutex_;
  std::vector<Command> commands_;
  bool wakePending_ =
      false;              // a wake-up is on its way to the SIP thread; guarded by commandsMutex_
  bool closing_ = false;  // guarded by commandsMutex_

  std::mutex outcomesMutex_;
  std::vector<FetchOutcome> outcomes_;

  mutable std::mutex statsMutex_;
  WatcherStats stats_;

  // Start-up handshake between the constructor and the SIP thread.
  std::mutex startMutex_;
  std::condition_variable startCv_;
  bool started_ = false;
  std::string startError_;
  Stack* stack_ = nullptr;  // owned by the SIP thread; valid while started_ && !closed

  std::mutex closeMutex_;
  std::thread thread_;
};

}  // namespace px
