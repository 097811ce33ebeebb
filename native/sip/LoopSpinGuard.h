// Keeps the SIP thread from spinning before a Sofia timer.
//
// Sofia's loop (su_base_port_run) waits in whole milliseconds, and the wait before a timer is
// the time left truncated to ms: a timer due in under 1 ms makes it call epoll_wait with a 0
// timeout over and over until the timer is due. Under load NTA's agent timer is nearly always
// less than 1 ms away (every transaction's timers are on it), so the SIP thread spun through
// tens of thousands of empty epoll_wait calls a second, each one a system call.
//
// The guard is Sofia's prepoll hook: when the loop comes round again within 50 us of its last
// turn (it found nothing to do: it spun), it first waits on the port's own epoll set with poll()
// for up to 1 ms. Ready I/O (a packet, a message from another thread: the port's mailbox is in that
// set) ends the wait at once; otherwise a timer fires at most 1 ms late, which SIP's timers
// (T1 = 500 ms) and ours do not notice. A loop that blocked in epoll_wait is not touched.
//
// The port's epoll descriptor is not in Sofia's API: the guard registers an eventfd of its own
// and finds the epoll set that holds it (/proc/self/fdinfo: the target's fd and inode). When it
// cannot (another port type, no /proc), active() is false and the loop is Sofia's own.
// SIP thread only: made, used and destroyed there, while the root lives.
#pragma once

#include <sofia-sip/su_wait.h>

#include <chrono>
#include <cstdint>

namespace px {

class LoopSpinGuard {
 public:
  explicit LoopSpinGuard(su_root_t* root);
  ~LoopSpinGuard();
  LoopSpinGuard(const LoopSpinGuard&) = delete;
  LoopSpinGuard& operator=(const LoopSpinGuard&) = delete;

  bool active() const { return epollFd_ >= 0; }
  // Turns of the loop that waited here, and those of them that found nothing ready.
  uint64_t waits() const { return waits_; }
  uint64_t idleWaits() const { return idleWaits_; }

 private:
  static void prepoll(su_prepoll_magic_t* magic, su_root_t* root);
  void beforeWait();

  su_root_t* root_;
  int epollFd_ = -1;  // Sofia's; valid while the root lives
  std::chrono::steady_clock::time_point lastTurn_{};
  uint64_t waits_ = 0;
  uint64_t idleWaits_ = 0;
};

// The epoll descriptor of `root`'s port, or -1 (see above). Exposed for the tests.
int findPortEpollFd(su_root_t* root);

}  // namespace px
