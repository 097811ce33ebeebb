// The Node.js binding: one thin layer over the core. Nothing here decides Parlay X behaviour; it
// converts values, turns SIP-thread outcomes into resolved Promises, and manages lifetimes.
#include <napi.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "address/Address.h"
#include "binding/AsyncClose.h"
#include "binding/Config.h"
#include "binding/EnvCleanupHook.h"
#include "binding/NotificationsJs.h"
#include "binding/PolicyJs.h"
#include "binding/UsageDatabase.h"
#include "binding/UvTimer.h"
#include "config/GatewayConfig.h"
#include "notify/NotificationEngine.h"
#include "policy/PolicyEngine.h"
#include "sip/PresenceWatcher.h"
#include "store/NotificationStore.h"

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

TimeMs wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The native half of a gateway: configuration, the SIP presence watcher, and the Terminal Status
// notifications (engine on the JS thread, store with its writer thread, subscriptions on the SIP
// thread).
//
// Queues into the JS thread (owner: the JS thread, which drains them in Drain()):
// - the watcher's fetch outcomes and subscription events;
// - completions_: the notification store's commit callbacks (writer thread), which settle the
//   Promises of startNotification / endNotification / terminateNotification.
// All of them wake the JS thread through the one thread-safe function tsfn_.
class NativeCore : public Napi::ObjectWrap<NativeCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeCore",
        {InstanceAccessor<&NativeCore::Config>("config"),
         InstanceAccessor<&NativeCore::SipPort>("sipPort"),
         InstanceAccessor<&NativeCore::QuarantinedAtStart>("quarantinedAtStart"),
         InstanceMethod<&NativeCore::FetchStatus>("fetchStatus"),
         InstanceMethod<&NativeCore::Flush>("flush"), InstanceMethod<&NativeCore::Stats>("stats"),
         InstanceMethod<&NativeCore::StartNotification>("startNotification"),
         InstanceMethod<&NativeCore::EndNotification>("endNotification"),
         InstanceMethod<&NativeCore::TerminateNotification>("terminateNotification"),
         InstanceMethod<&NativeCore::ListNotifications>("listNotifications"),
         InstanceMethod<&NativeCore::SetDeliveryListener>("setDeliveryListener"),
         InstanceMethod<&NativeCore::DeliveryDone>("deliveryDone"),
         InstanceMethod<&NativeCore::CheckServicePolicy>("checkServicePolicy"),
         InstanceMethod<&NativeCore::EvaluatePolicy>("evaluatePolicy"),
         InstanceMethod<&NativeCore::ReleasePolicy>("releasePolicy"),
         InstanceMethod<&NativeCore::Close>("close")});
  }

  explicit NativeCore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCore>(info) {
    Napi::Env env = info.Env();
    config_ = loadConfigFromJs(env, info[0]);
    policy_ = std::make_unique<policy::PolicyEngine>(config_);
    tsfn_ = Tsfn::New(env, "parlayx-gateway sip outcomes", 0, 1, this);
    tsfn_.Unref(env);  // only pending fetches keep the process alive (see Ref in FetchStatus)
    Tsfn tsfn = tsfn_;
    std::vector<NotificationState> stored;
    try {
      store_ = std::make_unique<NotificationStore>(config_.notifications.database);
      stored = store_->loadAll();
      quarantined_ = store_->quarantined();
      // Deliveries decided before the restart and never settled go first (at-least-once).
      undelivered_ = store_->pendingDeliveries();
    } catch (const std::exception& e) {
      tsfn_.Release();
      Napi::Error error = Napi::Error::New(env, e.what());
      error.Set("code", "ERR_PX_NOTIFICATION_STORE");
      throw error;
    }
    try {
      watcher_ = std::make_unique<PresenceWatcher>(config_, [tsfn]() mutable {
        // Non-blocking with an unbounded queue: the SIP thread never waits for JS.
        tsfn.NonBlockingCall();
      });
    } catch (const std::exception& e) {
      tsfn_.Release();
      store_->close();
      Napi::Error error = Napi::Error::New(env, e.what());
      error.Set("code", "ERR_PX_SIP_START");
      throw error;
    }
    timer_.emplace(env, [this, env] { OnTimer(env); });
    selfRef_ = Napi::Persistent(info.This().As<Napi::Object>());
    // The environment can go away (process exit, worker.terminate()) without close().
    cleanupHook_.emplace(env, [this] { CloseBlocking(); });
    // Notifications of the previous run continue: their terminals are watched again, and the ones
    // that expired meanwhile get statusEnd (held until a delivery listener is set).
    const TimeMs now = wallClockMs();
    EngineEffects effects;
    for (NotificationState& state : stored) engine_.restore(std::move(state), now, effects);
    Apply(env, effects);
  }

  ~NativeCore() override {
    cleanupHook_.reset();
    CloseBlocking();
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

  // Resolves the Promise of every finished fetch, feeds subscription events to the notification
  // engine and settles the notification operations whose store write committed. JS thread.
  void Drain(Napi::Env env) {
    if (!watcher_) return;
    DrainSubscriptionEvents(env);
    DrainCompletions(env);
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
    UpdateRef(env);
  }

  // Pending fetches and notification operations keep the process alive; nothing else does.
  void UpdateRef(Napi::Env env) {
    if (closed_) return;
    if (pending_.empty() && operations_.empty()) {
      tsfn_.Unref(env);
    } else {
      tsfn_.Ref(env);
    }
  }

  void DrainSubscriptionEvents(Napi::Env env) {
    std::vector<SubscriptionEvent> events = watcher_->takeSubscriptionEvents();
    if (events.empty() || closing_ || closed_) return;
    const TimeMs now = wallClockMs();
    EngineEffects effects;
    for (const SubscriptionEvent& event : events) {
      if (event.kind == SubscriptionEvent::Kind::kStatus) {
        engine_.onStatus(event.requestUri, event.status, now, effects);
      } else {
        std::string reason = "presence subscription failed";
        if (event.sipStatus != 0) reason += " (SIP " + std::to_string(event.sipStatus) + ")";
        if (!event.detail.empty()) reason += ": " + event.detail;
        engine_.onSubscriptionFailed(event.requestUri, reason, now, effects);
      }
    }
    Apply(env, effects);
  }

  struct Completion {
    uint64_t operation;
    bool ok;
    std::string error;
  };

  void DrainCompletions(Napi::Env env) {
    std::vector<Completion> done;
    {
      std::lock_guard<std::mutex> lock(completionsMutex_);
      done.swap(completions_);
    }
    for (const Completion& c : done) {
      auto it = operations_.find(c.operation);
      if (it == operations_.end()) continue;
      Operation operation = std::move(it->second);
      operations_.erase(it);
      Napi::HandleScope scope(env);
      if (c.ok) {
        operation.deferred.Resolve(operation.result(env));
      } else {
        Napi::Error error = Napi::Error::New(env, "notification store: " + c.error);
        error.Set("code", "ERR_PX_NOTIFICATION_STORE");
        operation.deferred.Reject(error.Value());
      }
    }
  }

  // A notification operation waiting for its store write: settled from DrainCompletions.
  struct Operation {
    Napi::Promise::Deferred deferred;
    // The resolution value, made when it settles (N-API cannot reference a primitive).
    std::function<Napi::Value(Napi::Env)> result;
  };

  // Registers an operation settled when `awaited`'s store write commits; returns its Promise.
  Napi::Promise BeginOperation(Napi::Env env, std::function<Napi::Value(Napi::Env)> result,
                               uint64_t& id) {
    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    id = nextOperation_++;
    operations_.emplace(id, Operation{std::move(deferred), std::move(result)});
    UpdateRef(env);
    return promise;
  }

  NotificationStore::Committed CommitCallback(uint64_t operation) {
    Tsfn tsfn = tsfn_;
    return [this, tsfn, operation](bool ok, const std::string& error) mutable {
      {
        std::lock_guard<std::mutex> lock(completionsMutex_);
        completions_.push_back(Completion{operation, ok, error});
      }
      tsfn.NonBlockingCall();
    };
  }

  // Carries out what the engine decided: SIP subscriptions, store writes (the one of `awaited`
  // with the operation's commit callback), deliveries, and the timer for the next deadline.
  void Apply(Napi::Env env, EngineEffects& effects, const NotificationKey* awaited = nullptr,
             uint64_t operation = 0) {
    // One SIP-thread wake-up for the whole batch (a restore may watch 100,000 terminals).
    for (const std::string& key : effects.watch) watcher_->watch(key, false);
    for (const std::string& key : effects.unwatch) watcher_->unwatch(key, false);
    if (!effects.watch.empty() || !effects.unwatch.empty()) watcher_->flush();
    // Ended wins over changed: a notification that ended in this batch is deleted, not saved.
    const std::set<NotificationKey> ended(effects.ended.begin(), effects.ended.end());
    std::set<NotificationKey> saved;
    bool awaitedWritten = false;
    // One transaction: the changed states (lastSeen) and the deliveries they caused (outbox), so
    // that a crash in between cannot keep the one and lose the other.
    NotificationWrites writes;
    for (const NotificationKey& id : effects.changed) {
      if (ended.count(id) != 0 || !saved.insert(id).second) continue;
      const NotificationState* state = engine_.find(id);
      if (state == nullptr) continue;
      if (awaited != nullptr && id == *awaited) awaitedWritten = true;
      writes.saves.push_back(*state);
    }
    for (const NotificationKey& id : ended) {
      if (awaited != nullptr && id == *awaited) awaitedWritten = true;
      writes.removes.push_back(id);
    }
    writes.deliveries = effects.deliveries;
    if (!writes.saves.empty() || !writes.removes.empty() || !writes.deliveries.empty()) {
      store_->write(std::move(writes),
                    awaitedWritten ? CommitCallback(operation) : NotificationStore::Committed());
    }
    if (awaited != nullptr && !awaitedWritten) {
      // Nothing to write (cannot happen for start/end; kept total): settle at once.
      CommitCallback(operation)(true, "");
    }
    if (!effects.deliveries.empty()) {
      undelivered_.insert(undelivered_.end(), std::make_move_iterator(effects.deliveries.begin()),
                          std::make_move_iterator(effects.deliveries.end()));
      EmitDeliveries(env);
    }
    ArmTimer();
  }

  void EmitDeliveries(Napi::Env env) {
    if (undelivered_.empty() || listener_.IsEmpty()) return;
    std::vector<Delivery> batch;
    batch.swap(undelivered_);
    Napi::HandleScope scope(env);
    Napi::Array deliveries = deliveriesToJs(env, batch);
    try {
      listener_.MakeCallback(env.Global(), {deliveries});
    } catch (const Napi::Error& e) {
      // The listener threw: report it like any uncaught exception, never lose it silently.
      napi_fatal_exception(env, e.Value());
    }
  }

  void ArmTimer() {
    if (!timer_) return;
    const std::optional<TimeMs> next = engine_.nextDeadline();
    if (!next || closing_ || closed_) {
      timer_->stop();
      return;
    }
    const TimeMs wait = *next - wallClockMs();
    timer_->start(wait <= 0 ? 0 : static_cast<uint64_t>(wait));
  }

  void OnTimer(Napi::Env env) {
    if (closing_ || closed_) return;
    Napi::HandleScope scope(env);
    EngineEffects effects;
    engine_.advance(wallClockMs(), effects);
    Apply(env, effects);
  }

  Napi::Value Config(const Napi::CallbackInfo& info) { return configToJs(info.Env(), config_); }
  // The stored notifications that did not decode at start (moved to quarantined_notifications):
  // [{requester, correlator, endpoint, globalId, reason, moved}]. JS tells the application and
  // records it; the core only reports.
  Napi::Value QuarantinedAtStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array list = Napi::Array::New(env, quarantined_.size());
    for (size_t i = 0; i < quarantined_.size(); ++i) {
      const QuarantinedNotification& q = quarantined_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("requester", q.requester);
      o.Set("correlator", q.correlator);
      o.Set("endpoint", q.endpoint);
      o.Set("globalId", q.globalId);
      o.Set("reason", q.reason);
      o.Set("moved", q.moved);
      o.Set("pendingDelivery", q.pendingDelivery);
      list.Set(static_cast<uint32_t>(i), o);
    }
    return list;
  }
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

  void RequireOpen(Napi::Env env) const {
    if (closed_ || closing_) {
      Napi::Error error = Napi::Error::New(env, "gateway is closed");
      error.Set("code", "ERR_PX_CLOSED");
      throw error;
    }
  }

  // Argument 0, the requester: a name, or "" (anonymous) for anything that is not a string.
  static std::string RequesterFromJs(const Napi::CallbackInfo& info) {
    return info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  }

  static NotificationKey KeyFromJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[1].IsString()) throw Napi::TypeError::New(env, "correlator must be a string");
    NotificationKey id;
    id.requester = RequesterFromJs(info);
    id.correlator = info[1].As<Napi::String>().Utf8Value();
    return id;
  }

  // startNotification(spec) -> Promise<'started'|'duplicate'>, settled once stored.
  Napi::Value StartNotification(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    NotificationSpec spec = notificationSpecFromJs(env, info[0], config_);
    const NotificationKey id = spec.id;
    EngineEffects effects;
    if (engine_.start(std::move(spec), wallClockMs(), effects) ==
        NotificationEngine::StartResult::kDuplicateCorrelator) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(Napi::String::New(env, "duplicate"));
      return deferred.Promise();
    }
    uint64_t operation = 0;
    Napi::Promise promise = BeginOperation(
        env, [](Napi::Env e) -> Napi::Value { return Napi::String::New(e, "started"); }, operation);
    Apply(env, effects, &id, operation);
    return promise;
  }

  // endNotification(requester, correlator) -> Promise<boolean>: false when unknown.
  // deliveryDone(requester, correlator, sequence): the delivery was settled (delivered, or given
  // up for good); it leaves the outbox. One not settled is sent again after a restart.
  Napi::Value DeliveryDone(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const NotificationKey id = KeyFromJs(info);
    if (!info[2].IsNumber())
      throw Napi::TypeError::New(env, "deliveryDone: sequence must be a number");
    const double sequence = info[2].As<Napi::Number>().DoubleValue();
    if (!(sequence >= 0) || sequence > 9007199254740991.0) {
      throw Napi::TypeError::New(env, "deliveryDone: sequence out of range");
    }
    if (store_ && !closed_) store_->deliveryDone(id, static_cast<uint64_t>(sequence));
    return env.Undefined();
  }

  Napi::Value EndNotification(const Napi::CallbackInfo& info) {
    return EndWith(info, [this](const NotificationKey& id, EngineEffects& effects) {
      return engine_.end(id, effects);
    });
  }

  // Ends a notification through `end` (engine end or terminate) and settles once the removal is
  // committed: Promise<true>, or Promise<false> when the notification is unknown.
  template <typename End>
  Napi::Value EndWith(const Napi::CallbackInfo& info, End end) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const NotificationKey id = KeyFromJs(info);
    EngineEffects effects;
    if (!end(id, effects)) return FalsePromise(env);
    uint64_t operation = 0;
    Napi::Promise promise = BeginOperation(env, TrueValue, operation);
    Apply(env, effects, &id, operation);
    return promise;
  }

  // terminateNotification(requester, correlator, reason) -> Promise<boolean>: the operator ends a
  // notification; the application gets statusError for the whole notification.
  Napi::Value TerminateNotification(const Napi::CallbackInfo& info) {
    const std::string reason = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value()
                                                  : "notification terminated by the operator";
    return EndWith(info, [this, &reason](const NotificationKey& id, EngineEffects& effects) {
      return engine_.terminate(id, reason, effects);
    });
  }

  static Napi::Value TrueValue(Napi::Env env) { return Napi::Boolean::New(env, true); }

  static Napi::Value FalsePromise(Napi::Env env) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(Napi::Boolean::New(env, false));
    return deferred.Promise();
  }

  Napi::Value ListNotifications(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<NotificationKey> keys = engine_.keys();
    Napi::Array list = Napi::Array::New(env, keys.size());
    uint32_t i = 0;
    for (const NotificationKey& id : keys) {
      if (const NotificationState* state = engine_.find(id)) {
        list.Set(i++, notificationStateToJs(env, *state));
      }
    }
    return list;
  }

  // setDeliveryListener(fn): fn(deliveries) receives every delivery, in order, on the JS thread.
  Napi::Value SetDeliveryListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "listener must be a function");
    listener_ = Napi::Persistent(info[0].As<Napi::Function>());
    EmitDeliveries(env);
    return env.Undefined();
  }

  // checkServicePolicy(requester, operation) -> decision: step 1 of the policy alone.
  Napi::Value CheckServicePolicy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string requester = RequesterFromJs(info);
    return policyDecisionToJs(env,
                              policy_->checkService(requester, policyOperationFromJs(info, 1)));
  }

  // evaluatePolicy(requester, operation, addresses) -> decision. A decision with a non-zero
  // admission must be released with releasePolicy(admission) when the request has finished.
  Napi::Value EvaluatePolicy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string requester = RequesterFromJs(info);
    const PolicyOperation op = policyOperationFromJs(info, 1);
    const std::vector<std::string> addresses = stringsFromJs(info, 2);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    return policyDecisionToJs(env, policy_->evaluate(requester, op, addresses, now.count()));
  }

  Napi::Value ReleasePolicy(const Napi::CallbackInfo& info) {
    if (info[0].IsNumber()) {
      const double id = info[0].As<Napi::Number>().DoubleValue();
      if (id >= 1) policy_->release(static_cast<uint64_t>(id));
    }
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
    o.Set("subscriptions", static_cast<double>(s.subscriptions));
    o.Set("subscriptionsActive", static_cast<double>(s.subscriptionsActive));
    o.Set("subscribeRequests", static_cast<double>(s.subscribeRequests));
    o.Set("refreshes", static_cast<double>(s.refreshes));
    o.Set("resubscribes", static_cast<double>(s.resubscribes));
    o.Set("subscriptionFailures", static_cast<double>(s.subscriptionFailures));
    o.Set("notifySourceRefused", static_cast<double>(s.notifySourceRefused));
    o.Set("tcpConnections", static_cast<double>(s.tcpConnections));
    o.Set("tcpRefused", static_cast<double>(s.tcpRefused));
    o.Set("tcpIdleClosed", static_cast<double>(s.tcpIdleClosed));
    o.Set("notifications", static_cast<double>(engine_.size()));
    o.Set("watchedTerminals", static_cast<double>(engine_.watchedTerminals()));
    o.Set("policyInFlight", static_cast<double>(policy_->inFlight()));
    return o;
  }

  // Closing joins the SIP thread and the store's writer, so it runs on the libuv pool, never on
  // the event loop. Active notifications stay in the store for the next start.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    closing_ = true;
    if (timer_) timer_->stop();
    return closer_.close(
        info.Env(), [this] { CloseBlocking(); }, [this](Napi::Env env) { FinishClose(env); });
  }

  void CloseBlocking() {
    if (watcher_) watcher_->close();
    if (store_) store_->close();
  }

  void FinishClose(Napi::Env env) {
    Drain(env);  // the watcher gave every pending fetch its outcome before the thread ended
    closed_ = true;
    timer_.reset();
    listener_.Reset();
    tsfn_.Release();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  GatewayConfig config_;
  Tsfn tsfn_;
  std::unique_ptr<PresenceWatcher> watcher_;
  std::unordered_map<uint64_t, Napi::Promise::Deferred> pending_;
  std::unique_ptr<NotificationStore> store_;
  std::vector<QuarantinedNotification> quarantined_;
  NotificationEngine engine_;                     // JS thread only
  std::unique_ptr<policy::PolicyEngine> policy_;  // JS thread only
  std::optional<UvTimer> timer_;
  Napi::FunctionReference listener_;
  std::vector<Delivery> undelivered_;  // held until a listener is set
  std::unordered_map<uint64_t, Operation> operations_;
  uint64_t nextOperation_ = 1;
  std::mutex completionsMutex_;
  std::vector<Completion> completions_;  // guarded by completionsMutex_
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
  exports.Set("configSchema", Napi::Function::New(env, ConfigSchema, "configSchema"));
  exports.Set("parseAddress", Napi::Function::New(env, ParseAddress, "parseAddress"));
  return exports;
}

}  // namespace
}  // namespace px

static Napi::Object InitParlayxGateway(Napi::Env env, Napi::Object exports) {
  return px::Init(env, exports);
}

NODE_API_MODULE(parlayx_gateway, InitParlayxGateway)
