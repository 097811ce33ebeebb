// The SIP thread's one timer queue: a deadline heap driven by one su_timer, shared by every role
// of a SipStack. Entries are (time, client, key, generation); a client voids an entry by moving on
// to another generation (lazy deletion), so rescheduling is one push and no search.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "sip/Sofia.h"

namespace px {

class TimerClient {
 public:
  virtual ~TimerClient() = default;
  // An entry came due (only when timerLive says it is current).
  virtual void onTimer(uint64_t key, uint32_t gen, std::chrono::steady_clock::time_point now) = 0;
  virtual bool timerLive(uint64_t key, uint32_t gen) const = 0;
};

class TimerQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TimerQueue(su_root_t* root);
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  bool ok() const { return static_cast<bool>(timer_); }
  void schedule(Clock::time_point at, TimerClient& client, uint64_t key, uint32_t gen);
  // No more firing (the loop is ending); entries are dropped.
  void stop();

 private:
  struct Entry {
    Clock::time_point at;
    TimerClient* client;
    uint64_t key;
    uint32_t gen;
    bool operator>(const Entry& other) const { return at > other.at; }
  };

  static void onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg);
  void fire();
  // Arms the su_timer for the earliest entry. Entries may be stale: firing early for them costs
  // one wake-up.
  void arm();
  // Rescheduling leaves stale entries behind; the heap is rebuilt before they dominate it.
  void compact();

  std::vector<Entry> heap_;  // min-heap by time
  size_t compactAt_ = 1024;
  SuTimer timer_;
  bool armed_ = false;
  bool stopped_ = false;
  Clock::time_point armedAt_{};
};

}  // namespace px
