// The close() of a native object whose shutdown blocks (joining a thread): the blocking part runs
// on the libuv pool, the JS side finishes on the event loop, and every close() call after the
// first gets the same Promise.
#pragma once

#include <napi.h>

#include <functional>

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
    auto* worker = new Worker(env, std::move(blocking), std::move(finish));  // deletes itself
    Napi::Promise promise = worker->Promise();
    promise_ = Napi::Persistent(promise.As<Napi::Object>());
    worker->Queue();
    return promise;
  }

  bool started() const { return started_; }

 private:
  class Worker : public Napi::AsyncWorker {
   public:
    Worker(Napi::Env env, std::function<void()> blocking, std::function<void(Napi::Env)> finish)
        : Napi::AsyncWorker(env, "parlayx-gateway close"),
          blocking_(std::move(blocking)),
          finish_(std::move(finish)),
          deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override { blocking_(); }
    void OnOK() override {
      finish_(Env());
      deferred_.Resolve(Env().Undefined());
    }
    void OnError(const Napi::Error& error) override {
      finish_(Env());
      deferred_.Reject(error.Value());
    }

   private:
    std::function<void()> blocking_;
    std::function<void(Napi::Env)> finish_;
    Napi::Promise::Deferred deferred_;
  };

  bool started_ = false;
  Napi::ObjectReference promise_;
};

}  // namespace px
