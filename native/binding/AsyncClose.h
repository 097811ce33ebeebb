// The close() of a native object whose shutdown blocks (joining a thread): the blocking part runs
// on the libuv pool, the JS side finishes on the event loop, and every close() call after the
// first gets the same Promise.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>

#include "binding/AsyncQueue.h"

namespace px {

class AsyncClose {
 public:
  // blocking runs on a pool thread; finish runs on the JS thread afterwards, before the Promise
  // settles.
  Napi::Value close(Napi::Env env, std::function<void()> blocking,
                    std::function<void(Napi::Env)> finish) {
    if (started_) {
      if (!promise_.IsEmpty()) return promise_.Value();
      auto done = Napi::Promise::Deferred::New(env);
      done.Resolve(env.Undefined());
      return done.Promise();
    }
    started_ = true;
    // The pool task of AsyncQueue.h; `finish` runs before the Promise resolves.
    Napi::Promise promise = runOnPool<bool>(
        env, "parlayx-gateway close",
        [blocking = std::move(blocking)] {
          blocking();
          return true;
        },
        [finish = std::move(finish)](Napi::Env e, bool&) -> Napi::Value {
          finish(e);
          return e.Undefined();
        });
    promise_ = Napi::Persistent(promise.As<Napi::Object>());
    return promise;
  }

  bool started() const { return started_; }

 private:
  bool started_ = false;
  Napi::ObjectReference promise_;
};

}  // namespace px
