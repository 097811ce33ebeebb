// The Node.js binding: one thin layer over the core. Nothing here decides Parlay X behaviour; it
// converts values, turns SIP-thread outcomes into resolved Promises, and manages lifetimes.
#include <napi.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "address/Address.h"
#include "binding/AsyncClose.h"
#include "binding/Config.h"
#include "binding/EnvCleanupHook.h"
#include "binding/UsageDatabase.h"
#include "config/GatewayConfig.h"
#include "sip/PresenceWatcher.h"

namespace px {
namespace {

Napi::Value LoadConfig(const Napi::CallbackInfo& info) {
  return configToJs(info.Env(), loadConfigFromJs(info.Env(), info[0]));
}

Napi::Value ParseAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "address must be a string");
  const AddressParseResult parsed = parseAddress(info[0].As<Napi::String>().Utf8Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", parsed.ok());
  if (!parsed.ok()) {
    o.Set("error", parsed.error == AddressError::kUnknownScheme ? "unknownScheme" : "invalid");
    o.Set("reason", parsed.reason);
    return o;
  }
  const char* scheme = parsed.address.scheme == AddressScheme::kTel   ? "tel"
                       : parsed.address.scheme == AddressScheme::kSip ? "sip"
                                                                      : "sips";
  o.Set("scheme", scheme);
  o.Set("canonical", parsed.address.canonical);
  return o;
}

// The native half of a gateway: configuration plus the SIP presence watcher.
class NativeCore : public Napi::ObjectWrap<NativeCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeCore",
        {InstanceAccessor<&NativeCore::Config>("config"),
         InstanceAccessor<&NativeCore::SipPort>("sipPort"),
         InstanceMethod<&NativeCore::FetchStatus>("fetchStatus"),
         InstanceMethod<&NativeCore::Flush>("flush"), InstanceMethod<&NativeCore::Stats>("stats"),
         InstanceMethod<&NativeCore::Close>("close")});
  }

  explicit NativeCore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCore>(info) {
    Napi::Env env = info.Env();
    config_ = loadConfigFromJs(env, info[0]);
    tsfn_ = Tsfn::New(env, "parlayx-gateway sip outcomes", 0, 1, this);
    tsfn_.Unref(env);  // only pending fetches keep the process alive (see Ref in FetchStatus)
    Tsfn tsfn = tsfn_;
    try {
      watcher_ = std::make_unique<PresenceWatcher>(config_, [tsfn]() mutable {
        // Non-blocking with an unbounded queue: the SIP thread never waits for JS.
        tsfn.NonBlockingCall();
      });
    } catch (const std::exception& e) {
      tsfn_.Release();
      Napi::Error error = Napi::Error::New(env, e.what());
      error.Set("code", "ERR_PX_SIP_START");
      throw error;
    }
    selfRef_ = Napi::Persistent(info.This().As<Napi::Object>());
    // The environment can go away (process exit, worker.terminate()) without close().
    cleanupHook_.emplace(env, [this] {
      if (watcher_) watcher_->close();
    });
  }

  ~NativeCore() override {
    cleanupHook_.reset();
    if (watcher_) watcher_->close();
  }

 private:
  static void CallJs(Napi::Env env, Napi::Function, NativeCore* self, void*) {
    if (env == nullptr || self == nullptr) return;  // the TSFN is being torn down
    try {
      self->Drain(env);
    } catch (const Napi::Error&) {
      // JS cannot run any more (a worker being terminated): nobody is left to resolve for, and
      // an exception must not leave this C callback.
    }
  }
  using Tsfn = Napi::TypedThreadSafeFunction<NativeCore, void, &NativeCore::CallJs>;

  // Resolves the Promise of every finished fetch. Runs on the JS thread.
  void Drain(Napi::Env env) {
    if (!watcher_) return;
    for (FetchOutcome& outcome : watcher_->takeOutcomes()) {
      auto it = pending_.find(outcome.id);
      if (it == pending_.end()) continue;
      Napi::Promise::Deferred deferred = std::move(it->second);
      pending_.erase(it);
      Napi::HandleScope scope(env);
      Napi::Object o = Napi::Object::New(env);
      o.Set("kind", toString(outcome.kind));
      if (outcome.kind == FetchOutcome::Kind::kStatus) {
        o.Set("status", std::string(toString(outcome.status)));
      }
      o.Set("sipStatus", outcome.sipStatus);
      o.Set("detail", outcome.detail);
      o.Set("elapsedMs", outcome.elapsedMs);
      deferred.Resolve(o);
    }
    if (pending_.empty() && !closed_) tsfn_.Unref(env);
  }

  Napi::Value Config(const Napi::CallbackInfo& info) { return configToJs(info.Env(), config_); }
  Napi::Value SipPort(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), watcher_ ? watcher_->sipPort() : 0);
  }

  // fetchStatus(address, deferWake?) -> Promise<{kind, status?, sipStatus, detail, elapsedMs}>.
  // With deferWake the fetch waits for flush() (one SIP-thread wake-up for a burst). The address
  // must be a valid tel/sip/sips URI (the handlers validate first; this throws TypeError).
  Napi::Value FetchStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "address must be a string");
    if (closed_ || closing_) {
      Napi::Error error = Napi::Error::New(env, "gateway is closed");
      error.Set("code", "ERR_PX_CLOSED");
      throw error;
    }
    const AddressParseResult parsed = parseAddress(info[0].As<Napi::String>().Utf8Value());
    if (!parsed.ok()) throw Napi::TypeError::New(env, "invalid address: " + parsed.reason);
    const std::string requestUri = toSipRequestUri(parsed.address, config_.sip.telDomain);
    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    if (pending_.empty()) tsfn_.Ref(env);
    // The id is reserved before the SIP thread can answer: outcomes are drained on this thread,
    // so the Deferred is registered before its outcome can be looked up.
    const bool deferWake = info.Length() > 1 && info[1].ToBoolean().Value();
    const uint64_t id = watcher_->fetch(requestUri, !deferWake);
    pending_.emplace(id, std::move(deferred));
    return promise;
  }

  // flush(): sends fetches queued with fetchStatus(address, true) to the SIP thread.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    if (watcher_ && !closing_ && !closed_) watcher_->flush();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    const WatcherStats s = watcher_ ? watcher_->stats() : WatcherStats{};
    o.Set("started", static_cast<double>(s.started));
    o.Set("completed", static_cast<double>(s.completed));
    o.Set("inFlight", static_cast<double>(s.inFlight));
    o.Set("timeouts", static_cast<double>(s.timeouts));
    o.Set("sipErrors", static_cast<double>(s.sipErrors));
    o.Set("strayRequests", static_cast<double>(s.strayRequests));
    o.Set("pendingPromises", static_cast<double>(pending_.size()));
    return o;
  }

  // Closing joins the SIP thread, so it runs on the libuv pool, never on the event loop.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    closing_ = true;
    return closer_.close(
        info.Env(), [this] { watcher_->close(); }, [this](Napi::Env env) { FinishClose(env); });
  }

  void FinishClose(Napi::Env env) {
    Drain(env);  // the watcher gave every pending fetch its outcome before the thread ended
    closed_ = true;
    tsfn_.Release();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  GatewayConfig config_;
  Tsfn tsfn_;
  std::unique_ptr<PresenceWatcher> watcher_;
  std::unordered_map<uint64_t, Napi::Promise::Deferred> pending_;
  Napi::ObjectReference selfRef_;
  AsyncClose closer_;
  std::optional<EnvCleanupHook> cleanupHook_;
  bool closing_ = false;
  bool closed_ = false;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCore", NativeCore::Define(env));
  exports.Set("UsageDatabase", defineUsageDatabase(env));
  exports.Set("loadConfig", Napi::Function::New(env, LoadConfig, "loadConfig"));
  exports.Set("parseAddress", Napi::Function::New(env, ParseAddress, "parseAddress"));
  return exports;
}

}  // namespace
}  // namespace px

static Napi::Object InitParlayxGateway(Napi::Env env, Napi::Object exports) {
  return px::Init(env, exports);
}

NODE_API_MODULE(parlayx_gateway, InitParlayxGateway)
