#include "sip/TimerQueue.h"

#include <algorithm>
#include <functional>

namespace px {

TimerQueue::TimerQueue(su_root_t* root) : timer_(su_timer_create(su_root_task(root), 0)) {}

void TimerQueue::schedule(Clock::time_point at, TimerClient& client, uint64_t key, uint32_t gen) {
  if (stopped_) return;
  if (heap_.size() >= compactAt_) compact();
  heap_.push_back(Entry{at, &client, key, gen});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  arm();
}

void TimerQueue::stop() {
  stopped_ = true;
  heap_.clear();
  if (timer_) su_timer_reset(timer_.get());
  armed_ = false;
}

void TimerQueue::onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
  auto* self = reinterpret_cast<TimerQueue*>(arg);
  try {
    self->armed_ = false;
    self->fire();
    self->arm();
  } catch (...) {
    // Never let an exception cross a Sofia C frame.
  }
}

void TimerQueue::fire() {
  const auto now = Clock::now();
  while (!stopped_ && !heap_.empty() && heap_.front().at <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
    const Entry entry = heap_.back();
    heap_.pop_back();
    if (entry.client->timerLive(entry.key, entry.gen)) {
      entry.client->onTimer(entry.key, entry.gen, now);
    }
  }
}

void TimerQueue::arm() {
  if (!timer_ || stopped_ || heap_.empty()) return;
  const Clock::time_point next = heap_.front().at;
  if (armed_ && armedAt_ <= next) return;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
  const long ms = wait.count() < 0 ? 0 : static_cast<long>(wait.count()) + 1;
  su_timer_reset(timer_.get());
  armed_ = false;
  if (su_timer_set_interval(timer_.get(), &TimerQueue::onTimer,
                            reinterpret_cast<su_timer_arg_t*>(this),
                            static_cast<su_duration_t>(ms)) == 0) {
    armed_ = true;
    armedAt_ = next;
  }
}

void TimerQueue::compact() {
  heap_.erase(std::remove_if(heap_.begin(), heap_.end(),
                             [](const Entry& entry) {
                               return !entry.client->timerLive(entry.key, entry.gen);
                             }),
              heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  compactAt_ = 2 * heap_.size() + 1024;
}

}  // namespace px
