// The one way the binding hands work done on other threads (SIP thread, store writers, libuv
// pool) back to JS: results are queued from any thread, one thread-safe function wakes the event
// loop, and the Promises waiting for them are settled there.
//
// - LoopQueue<Item>: items posted from any thread, delivered in batches on the JS thread (one
//   wake-up per batch). wake() runs the same drain without an item, for a producer that keeps
//   its own queue (the SIP watcher). It never keeps the process alive unless told to
//   (keepAlive), which its owner does while Promises wait on it.
// - PendingPromises<Payload>: the Deferreds waiting for a result, by id, with what the owner
//   needs to settle each one.
// - runOnPool(): a blocking call on the libuv pool whose result resolves a Promise.
#pragma once

#include <napi.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace px {

template <typename Item>
class LoopQueue {
 public:
  using Drain = std::function<void(Napi::Env, std::vector<Item>&)>;

  LoopQueue(Napi::Env env, const char* name, Drain drain) : drain_(std::move(drain)) {
    tsfn_ = Tsfn::New(env, name, 0, 1, this);
    tsfn_.Unref(env);
  }
  // Its address is the thread-safe function's context: neither copied nor moved.
  LoopQueue(const LoopQueue&) = delete;
  LoopQueue& operator=(const LoopQueue&) = delete;

  // Any thread. Non-blocking with an unbounded queue: no producer ever waits for JS.
  void post(Item item) {
    bool wasEmpty = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wasEmpty = items_.empty();
      items_.push_back(std::move(item));
    }
    if (wasEmpty) tsfn_.NonBlockingCall();  // a call already on its way takes this item too
  }

  // Any thread: runs the drain on the JS thread with whatever is queued (possibly nothing).
  void wake() { tsfn_.NonBlockingCall(); }

  // JS thread: the drain, now (e.g. a last time before release()).
  void drain(Napi::Env env) {
    std::vector<Item> items;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items.swap(items_);
    }
    drain_(env, items);
  }

  // JS thread: whether pending work keeps the process alive.
  void keepAlive(Napi::Env env, bool on) {
    if (released_) return;
    if (on) {
      tsfn_.Ref(env);
    } else {
      tsfn_.Unref(env);
    }
  }

  // JS thread, once: no wake-up after this.
  void release() {
    if (released_) return;
    released_ = true;
    tsfn_.Release();
  }

 private:
  static void CallJs(Napi::Env env, Napi::Function, LoopQueue* self, void*) {
    if (env == nullptr || self == nullptr) return;  // the function is being torn down
    try {
      self->drain(env);
    } catch (const Napi::Error&) {
      // JS cannot run any more (a worker being terminated): nobody is left to resolve for, and
      // an exception must not leave this C callback.
    }
  }
  using Tsfn = Napi::TypedThreadSafeFunction<LoopQueue, void, &LoopQueue::CallJs>;

  Drain drain_;
  Tsfn tsfn_;
  bool released_ = false;  // JS thread
  std::mutex mutex_;
  std::vector<Item> items_;  // guarded by mutex_
};

// JS thread only.
template <typename Payload = std::monostate>
class PendingPromises {
 public:
  struct Entry {
    Napi::Promise::Deferred deferred;
    Payload payload;
  };

  Napi::Promise add(Napi::Env env, uint64_t id, Payload payload = {}) {
    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    entries_.emplace(id, Entry{std::move(deferred), std::move(payload)});
    return promise;
  }

  // The entry of `id`, removed; nullopt when none waits (already settled, or never added).
  std::optional<Entry> take(uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    std::optional<Entry> entry(std::move(it->second));
    entries_.erase(it);
    return entry;
  }

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_map<uint64_t, Entry> entries_;
};

// Runs `work` on the libuv pool and resolves with toJs(result) on the JS thread; rejects with
// the message of a std::exception that `work` throws.
template <typename Result>
Napi::Promise runOnPool(Napi::Env env, const char* name, std::function<Result()> work,
                        std::function<Napi::Value(Napi::Env, Result&)> toJs) {
  class Task : public Napi::AsyncWorker {
   public:
    Task(Napi::Env e, const char* n, std::function<Result()> w,
         std::function<Napi::Value(Napi::Env, Result&)> c)
        : Napi::AsyncWorker(e, n),
          work_(std::move(w)),
          toJs_(std::move(c)),
          deferred_(Napi::Promise::Deferred::New(e)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        result_ = work_();
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override { deferred_.Resolve(toJs_(Env(), result_)); }
    void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

   private:
    std::function<Result()> work_;
    std::function<Napi::Value(Napi::Env, Result&)> toJs_;
    Result result_{};
    Napi::Promise::Deferred deferred_;
  };
  auto* task = new Task(env, name, std::move(work), std::move(toJs));  // deletes itself
  Napi::Promise promise = task->Promise();
  task->Queue();
  return promise;
}

}  // namespace px
