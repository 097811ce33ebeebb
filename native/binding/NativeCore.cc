// NativeCore: the JS face of gateway::GatewayCore. It converts arguments and results, keeps the
// Promises of fetches and notification operations, and settles them on the JS thread; every
// decision is the core's.
//
// One LoopQueue (owner: the JS thread, which drains it) brings back to the loop both the SIP
// side's signal (fetch outcomes and subscription events, queued inside the watcher) and the
// notification store's commit callbacks (writer thread), which settle the Promises of
// startNotification / endNotification / terminateNotification.
#include "binding/NativeCore.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "binding/AsyncClose.h"
#include "binding/AsyncQueue.h"
#include "binding/Config.h"
#include "binding/EnvCleanupHook.h"
#include "binding/Errors.h"
#include "binding/NotificationsJs.h"
#include "binding/PolicyJs.h"
#include "binding/UvTimer.h"
#include "gateway/FailureTexts.h"
#include "gateway/GatewayCore.h"

namespace px {
namespace {

using gateway::GatewayCore;

Napi::Object fetchOutcomeToJs(Napi::Env env, const FetchOutcome& outcome) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", toString(outcome.kind));
  if (outcome.kind == FetchOutcome::Kind::kStatus) {
    o.Set("status", std::string(toString(outcome.status)));
  }
  o.Set("sipStatus", outcome.sipStatus);
  o.Set("detail", outcome.detail);
  o.Set("elapsedMs", outcome.elapsedMs);
  return o;
}

Napi::Array quarantinedToJs(Napi::Env env, const std::vector<QuarantinedNotification>& rows) {
  Napi::Array list = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const QuarantinedNotification& q = rows[i];
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

Napi::Object statsToJs(Napi::Env env, const gateway::GatewayStats& stats, size_t pendingFetches) {
  Napi::Object o = Napi::Object::New(env);
  const WatcherStats& s = stats.sip;
  o.Set("started", static_cast<double>(s.started));
  o.Set("completed", static_cast<double>(s.completed));
  o.Set("inFlight", static_cast<double>(s.inFlight));
  o.Set("timeouts", static_cast<double>(s.timeouts));
  o.Set("sipErrors", static_cast<double>(s.sipErrors));
  o.Set("strayRequests", static_cast<double>(s.strayRequests));
  o.Set("pendingPromises", static_cast<double>(pendingFetches));
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
  o.Set("notifications", static_cast<double>(stats.notifications));
  o.Set("watchedTerminals", static_cast<double>(stats.watchedTerminals));
  o.Set("policyInFlight", static_cast<double>(stats.policyInFlight));
  return o;
}

// Argument 0, the requester: a name, or "" (anonymous) for anything that is not a string.
std::string requesterFromJs(const Napi::CallbackInfo& info) {
  return info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
}

NotificationKey keyFromJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "correlator must be a string");
  NotificationKey id;
  id.requester = requesterFromJs(info);
  id.correlator = info[1].As<Napi::String>().Utf8Value();
  return id;
}

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
    GatewayConfig config = loadConfigFromJs(env, info[0]);
    queue_.emplace(env, "parlayx-gateway sip outcomes",
                   [this](Napi::Env e, std::vector<Completion>& done) { Drain(e, done); });
    LoopQueue<Completion>* queue = &*queue_;
    try {
      // Only pending fetches and operations keep the process alive (see UpdateRef).
      core_ = GatewayCore::start(std::move(config), [queue] { queue->wake(); });
    } catch (const gateway::StartError& e) {
      queue_->release();
      throw codedError(env, e.what(),
                       e.stage() == gateway::StartError::Stage::kSip ? "ERR_PX_SIP_START"
                                                                     : "ERR_PX_NOTIFICATION_STORE");
    }
    timer_.emplace(env, [this, env] { OnTimer(env); });
    selfRef_ = Napi::Persistent(info.This().As<Napi::Object>());
    // The environment can go away (process exit, worker.terminate()) without close().
    cleanupHook_.emplace(env, [this] { core_->closeBlocking(); });
    // The restored notifications may have deadlines; their deliveries wait for a listener.
    ArmTimer();
  }

  ~NativeCore() override {
    cleanupHook_.reset();
    if (core_) core_->closeBlocking();
  }

 private:
  // A store commit of a notification operation (writer thread -> JS thread).
  struct Completion {
    uint64_t operation;
    bool ok;
    std::string error;
  };
  // What a notification operation resolves with once committed.
  enum class Operation { kStarted, kEnded };

  // Feeds subscription events to the core, settles the operations whose store write committed
  // and resolves the Promise of every finished fetch. JS thread.
  void Drain(Napi::Env env, std::vector<Completion>& done) {
    if (core_->drainSubscriptionEvents()) AfterEffects(env);
    for (const Completion& c : done) {
      auto operation = operations_.take(c.operation);
      if (!operation) continue;
      Napi::HandleScope scope(env);
      if (!c.ok) {
        operation->deferred.Reject(codedError(env, gateway::notificationStoreFailureText(c.error),
                                              "ERR_PX_NOTIFICATION_STORE")
                                       .Value());
      } else if (operation->payload == Operation::kStarted) {
        operation->deferred.Resolve(Napi::String::New(env, "started"));
      } else {
        operation->deferred.Resolve(Napi::Boolean::New(env, true));
      }
    }
    for (const FetchOutcome& outcome : core_->takeFetchOutcomes()) {
      auto fetch = fetches_.take(outcome.id);
      if (!fetch) continue;
      Napi::HandleScope scope(env);
      fetch->deferred.Resolve(fetchOutcomeToJs(env, outcome));
    }
    UpdateRef(env);
  }

  // Pending fetches and notification operations keep the process alive; nothing else does.
  void UpdateRef(Napi::Env env) {
    if (core_->closed()) return;
    queue_->keepAlive(env, !fetches_.empty() || !operations_.empty());
  }

  NotificationStore::Committed CommitCallback(uint64_t operation) {
    LoopQueue<Completion>* queue = &*queue_;
    return [queue, operation](bool ok, const std::string& error) {
      queue->post(Completion{operation, ok, error});
    };
  }

  // After the core applied effects: hand the deliveries to the listener, re-arm the timer.
  void AfterEffects(Napi::Env env) {
    EmitDeliveries(env);
    ArmTimer();
  }

  void EmitDeliveries(Napi::Env env) {
    if (!core_->hasDeliveries() || listener_.IsEmpty()) return;
    const std::vector<Delivery> batch = core_->takeDeliveries();
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
    const std::optional<uint64_t> delay = core_->timerDelayMs();
    if (delay) {
      timer_->start(*delay);
    } else {
      timer_->stop();
    }
  }

  void OnTimer(Napi::Env env) {
    if (core_->closing()) return;
    Napi::HandleScope scope(env);
    core_->advance();
    AfterEffects(env);
  }

  void RequireOpen(Napi::Env env) const {
    if (core_->closing()) throw codedError(env, "gateway is closed", "ERR_PX_CLOSED");
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    return configToJs(info.Env(), core_->config());
  }

  // The stored notifications that did not decode at start (moved to quarantined_notifications):
  // [{requester, correlator, endpoint, globalId, reason, moved, pendingDelivery}]. JS tells the
  // application and records it; the core only reports.
  Napi::Value QuarantinedAtStart(const Napi::CallbackInfo& info) {
    return quarantinedToJs(info.Env(), core_->quarantinedAtStart());
  }

  Napi::Value SipPort(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_->sipPort());
  }

  // fetchStatus(address, deferWake?) -> Promise<{kind, status?, sipStatus, detail, elapsedMs}>.
  // With deferWake the fetch waits for flush() (one SIP-thread wake-up for a burst). The address
  // must be a valid tel/sip/sips URI (the handlers validate first; this throws TypeError).
  Napi::Value FetchStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "address must be a string");
    RequireOpen(env);
    const std::string address = info[0].As<Napi::String>().Utf8Value();
    const bool deferWake = info.Length() > 1 && info[1].ToBoolean().Value();
    uint64_t id = 0;
    try {
      id = core_->fetch(address, !deferWake);
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }
    // Outcomes are drained on this thread, so the Deferred is registered before its outcome can
    // be looked up.
    if (fetches_.empty()) queue_->keepAlive(env, true);
    return fetches_.add(env, id);
  }

  // flush(): sends fetches queued with fetchStatus(address, true) to the SIP thread.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    core_->flush();
    return info.Env().Undefined();
  }

  // startNotification(spec) -> Promise<'started'|'duplicate'>, settled once stored.
  Napi::Value StartNotification(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    NotificationSpec spec = notificationSpecFromJs(env, info[0], core_->config());
    const uint64_t operation = nextOperation_++;
    Napi::Promise promise = operations_.add(env, operation, Operation::kStarted);
    if (core_->startNotification(std::move(spec), CommitCallback(operation)) ==
        GatewayCore::StartResult::kDuplicate) {
      operations_.take(operation)->deferred.Resolve(Napi::String::New(env, "duplicate"));
      return promise;
    }
    UpdateRef(env);
    AfterEffects(env);
    return promise;
  }

  // endNotification(requester, correlator) -> Promise<boolean>: false when unknown, else true
  // once the removal is committed.
  Napi::Value EndNotification(const Napi::CallbackInfo& info) {
    return EndWith(info, [this](const NotificationKey& id, GatewayCore::Committed removed) {
      return core_->endNotification(id, std::move(removed));
    });
  }

  // terminateNotification(requester, correlator, reason) -> Promise<boolean>: the operator ends a
  // notification; the application gets statusError for the whole notification.
  Napi::Value TerminateNotification(const Napi::CallbackInfo& info) {
    const std::string reason = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value()
                                                  : "notification terminated by the operator";
    return EndWith(info,
                   [this, &reason](const NotificationKey& id, GatewayCore::Committed removed) {
                     return core_->terminateNotification(id, reason, std::move(removed));
                   });
  }

  template <typename End>
  Napi::Value EndWith(const Napi::CallbackInfo& info, End end) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const NotificationKey id = keyFromJs(info);
    const uint64_t operation = nextOperation_++;
    Napi::Promise promise = operations_.add(env, operation, Operation::kEnded);
    if (!end(id, CommitCallback(operation))) {
      operations_.take(operation)->deferred.Resolve(Napi::Boolean::New(env, false));
      return promise;
    }
    UpdateRef(env);
    AfterEffects(env);
    return promise;
  }

  // deliveryDone(requester, correlator, sequence): the delivery was settled (delivered, or given
  // up for good); it leaves the outbox. One not settled is sent again after a restart.
  Napi::Value DeliveryDone(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const NotificationKey id = keyFromJs(info);
    if (!info[2].IsNumber())
      throw Napi::TypeError::New(env, "deliveryDone: sequence must be a number");
    const double sequence = info[2].As<Napi::Number>().DoubleValue();
    if (!(sequence >= 0) || sequence > 9007199254740991.0) {
      throw Napi::TypeError::New(env, "deliveryDone: sequence out of range");
    }
    core_->deliveryDone(id, static_cast<uint64_t>(sequence));
    return env.Undefined();
  }

  Napi::Value ListNotifications(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<const NotificationState*> states = core_->notifications();
    Napi::Array list = Napi::Array::New(env, states.size());
    for (uint32_t i = 0; i < states.size(); ++i) {
      list.Set(i, notificationStateToJs(env, *states[i]));
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
    const std::string requester = requesterFromJs(info);
    return policyDecisionToJs(info.Env(),
                              core_->checkServicePolicy(requester, policyOperationFromJs(info, 1)));
  }

  // evaluatePolicy(requester, operation, addresses) -> decision. A decision with a non-zero
  // admission must be released with releasePolicy(admission) when the request has finished.
  Napi::Value EvaluatePolicy(const Napi::CallbackInfo& info) {
    const std::string requester = requesterFromJs(info);
    const PolicyOperation op = policyOperationFromJs(info, 1);
    const std::vector<std::string> addresses = stringsFromJs(info, 2);
    return policyDecisionToJs(info.Env(), core_->evaluatePolicy(requester, op, addresses));
  }

  Napi::Value ReleasePolicy(const Napi::CallbackInfo& info) {
    if (info[0].IsNumber()) {
      const double id = info[0].As<Napi::Number>().DoubleValue();
      if (id >= 1) core_->releasePolicy(static_cast<uint64_t>(id));
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return statsToJs(info.Env(), core_->stats(), fetches_.size());
  }

  // Closing joins the SIP thread and the store's writer, so it runs on the libuv pool, never on
  // the event loop. Active notifications stay in the store for the next start.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_->beginClose();
    if (timer_) timer_->stop();
    return closer_.close(
        info.Env(), [this] { core_->closeBlocking(); },
        [this](Napi::Env env) { FinishClose(env); });
  }

  void FinishClose(Napi::Env env) {
    queue_->drain(env);  // the watcher gave every pending fetch its outcome before it stopped
    core_->markClosed();
    timer_.reset();
    listener_.Reset();
    queue_->release();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  // Declared first, destroyed last: the core's threads post to it until closeBlocking().
  std::optional<LoopQueue<Completion>> queue_;
  std::unique_ptr<GatewayCore> core_;
  PendingPromises<> fetches_;              // by the watcher's fetch id
  PendingPromises<Operation> operations_;  // by nextOperation_
  uint64_t nextOperation_ = 1;
  std::optional<UvTimer> timer_;
  Napi::FunctionReference listener_;
  Napi::ObjectReference selfRef_;
  AsyncClose closer_;
  std::optional<EnvCleanupHook> cleanupHook_;
};

}  // namespace

Napi::Function defineNativeCore(Napi::Env env) {
  return NativeCore::Define(env);
}

}  // namespace px
