// NativeCore: the JS face of gateway::GatewayCore. It converts arguments and results, keeps the
// Promises of fetches and notification operations, and settles them on the JS thread; every
// decision is the core's.
//
// One LoopQueue (owner: the JS thread, which drains it) brings back to the loop both the SIP
// side's signal (fetch outcomes and subscription events, queued inside the watcher) and the
// notification store's commit callbacks (writer thread), which settle the Promises of
// startNotification / endNotification / terminateNotification and of the call registrations.
// The call AS signals through the same queue: its events and decision requests are drained with
// the presence outcomes and handed to the call listener as one batch.
#include "binding/NativeCore.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "binding/AsyncClose.h"
#include "binding/AsyncQueue.h"
#include "binding/CallsJs.h"
#include "binding/Config.h"
#include "binding/CoreValuesJs.h"
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
         InstanceAccessor<&NativeCore::CallPortNumber>("callPort"),
         InstanceAccessor<&NativeCore::QuarantinedCallsAtStart>("quarantinedCallsAtStart"),
         InstanceMethod<&NativeCore::StartCallRegistration>("startCallRegistration"),
         InstanceMethod<&NativeCore::StopCallRegistration>("stopCallRegistration"),
         InstanceMethod<&NativeCore::ListCallRegistrations>("listCallRegistrations"),
         InstanceMethod<&NativeCore::SetCallListener>("setCallListener"),
         InstanceMethod<&NativeCore::DecideCall>("decideCall"),
         InstanceMethod<&NativeCore::FetchStatus>("fetchStatus"),
         InstanceMethod<&NativeCore::FetchStatusList>("fetchStatusList"),
         InstanceMethod<&NativeCore::Flush>("flush"),
         InstanceMethod<&NativeCore::Stats>("stats"),
         InstanceMethod<&NativeCore::StartNotification>("startNotification"),
         InstanceMethod<&NativeCore::EndNotification>("endNotification"),
         InstanceMethod<&NativeCore::TerminateNotification>("terminateNotification"),
         InstanceMethod<&NativeCore::ListNotifications>("listNotifications"),
         InstanceMethod<&NativeCore::GetNotification>("getNotification"),
         InstanceMethod<&NativeCore::ReadStoredNotifications>("readStoredNotifications"),
         InstanceMethod<&NativeCore::SetDeliveryListener>("setDeliveryListener"),
         InstanceMethod<&NativeCore::DeliveryDone>("deliveryDone"),
         InstanceMethod<&NativeCore::CheckServicePolicy>("checkServicePolicy"),
         InstanceMethod<&NativeCore::CheckNotificationLimits>("checkNotificationLimits"),
         InstanceMethod<&NativeCore::EvaluatePolicy>("evaluatePolicy"),
         InstanceMethod<&NativeCore::ReleasePolicy>("releasePolicy"),
         InstanceMethod<&NativeCore::GroupDocumentsNeeded>("groupDocumentsNeeded"),
         InstanceMethod<&NativeCore::GroupDocumentFetched>("groupDocumentFetched"),
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
  // What an operation resolves with once committed.
  struct Operation {
    enum class Kind { kStarted, kEnded, kCallStarted, kCallStopped };
    Kind kind = Kind::kStarted;
    // kCallStarted: the registration to forget when its write failed.
    call::RegistrationKind callKind = call::RegistrationKind::kNotification;
    std::string correlator;
    NotificationKey key;  // kStarted: the notification (GatewayCore::startCommitted)
  };

  // Feeds subscription events to the core, settles the operations whose store write committed
  // and resolves the Promise of every finished fetch. JS thread.
  void Drain(Napi::Env env, std::vector<Completion>& done) {
    if (core_->drainSubscriptionEvents()) AfterEffects(env);
    if (core_->drainCluster()) AfterEffects(env);
    if (core_->drainCalls()) EmitCalls(env);
    bool released = false;
    for (const Completion& c : done) {
      auto operation = operations_.take(c.operation);
      if (!operation) continue;
      Napi::HandleScope scope(env);
      const Operation& op = operation->payload;
      if (op.kind == Operation::Kind::kStarted) {
        core_->startCommitted(op.key, c.ok);
        released = released || c.ok;
      }
      if (!c.ok && op.kind == Operation::Kind::kStarted &&
          c.error == cluster::ClusterNode::kDuplicateError) {
        // Clustered: another instance holds this correlator (SVC0005, as a local duplicate).
        operation->deferred.Resolve(Napi::String::New(env, "duplicate"));
      } else if (c.ok && op.kind == Operation::Kind::kEnded &&
                 c.error == GatewayCore::kUnknownElsewhere) {
        operation->deferred.Resolve(Napi::Boolean::New(env, false));
      } else if (!c.ok) {
        // Not stored: the registration must not outlive its refused start.
        if (op.kind == Operation::Kind::kCallStarted) {
          core_->forgetCallRegistration(op.callKind, op.correlator);
        }
        operation->deferred.Reject(codedError(env, gateway::notificationStoreFailureText(c.error),
                                              "ERR_PX_NOTIFICATION_STORE")
                                       .Value());
      } else if (op.kind == Operation::Kind::kStarted || op.kind == Operation::Kind::kCallStarted) {
        operation->deferred.Resolve(Napi::String::New(env, "started"));
      } else if (op.kind == Operation::Kind::kCallStopped) {
        operation->deferred.Resolve(Napi::String::New(env, "stopped"));
      } else {
        operation->deferred.Resolve(Napi::Boolean::New(env, true));
      }
    }
    if (released) AfterEffects(env);
    for (cluster::StoredRead& read : core_->takeReads()) {
      auto pending = reads_.take(read.id);
      if (!pending) continue;
      Napi::HandleScope scope(env);
      if (!read.error.empty()) {
        pending->deferred.Reject(codedError(env, gateway::notificationStoreFailureText(read.error),
                                            "ERR_PX_NOTIFICATION_STORE")
                                     .Value());
        continue;
      }
      Napi::Array list = Napi::Array::New(env, read.states.size());
      for (uint32_t i = 0; i < read.states.size(); ++i) {
        list.Set(i, notificationStateToJs(env, read.states[i]));
      }
      pending->deferred.Resolve(list);
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
    queue_->keepAlive(env, !fetches_.empty() || !operations_.empty() || !reads_.empty());
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

  // Hands the call dues to the listener (held until one is set).
  void EmitCalls(Napi::Env env) {
    if (!core_->hasCallWork() || callListener_.IsEmpty()) return;
    const gateway::CallBatch batch = core_->takeCallBatch();
    Napi::HandleScope scope(env);
    Napi::Object js = callBatchToJs(env, batch);
    try {
      callListener_.MakeCallback(env.Global(), {js});
    } catch (const Napi::Error& e) {
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

  // fetchStatus(address, deferWake?) -> Promise<{kind, status?, sipStatus, detail, elapsedMs}>,
  // settled at once when the terminal's running subscription answers it.
  // With deferWake the fetch waits for flush() (one SIP-thread wake-up for a burst). The address
  // must be a valid tel/sip/sips URI (the handlers validate first; this throws TypeError).
  Napi::Value FetchStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "address must be a string");
    RequireOpen(env);
    const std::string address = info[0].As<Napi::String>().Utf8Value();
    const bool deferWake = info.Length() > 1 && info[1].ToBoolean().Value();
    GatewayCore::FetchStart start;
    try {
      start = core_->fetch(address, !deferWake);
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }
    if (start.answered) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(fetchOutcomeToJs(env, *start.answered));
      return deferred.Promise();
    }
    // Outcomes are drained on this thread, so the Deferred is registered before its outcome can
    // be looked up.
    if (fetches_.empty()) queue_->keepAlive(env, true);
    return fetches_.add(env, start.id);
  }

  // fetchStatusList(listUri, addresses[], deferWake?) -> Promise[] (one per address, as
  // fetchStatus's): the members of a resource list fetched with one list subscription
  // (presence.resourceLists). Throws TypeError on a bad list URI or address.
  Napi::Value FetchStatusList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsArray()) {
      throw Napi::TypeError::New(env, "fetchStatusList(listUri, addresses[], deferWake?)");
    }
    RequireOpen(env);
    const std::string listUri = info[0].As<Napi::String>().Utf8Value();
    const Napi::Array given = info[1].As<Napi::Array>();
    std::vector<std::string> addresses;
    for (uint32_t i = 0; i < given.Length(); ++i) {
      const Napi::Value v = given.Get(i);
      if (!v.IsString()) throw Napi::TypeError::New(env, "addresses must be strings");
      addresses.push_back(v.As<Napi::String>().Utf8Value());
    }
    const bool deferWake = info.Length() > 2 && info[2].ToBoolean().Value();
    std::vector<uint64_t> ids;
    try {
      ids = core_->fetchList(listUri, addresses, !deferWake);
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }
    if (fetches_.empty() && !ids.empty()) queue_->keepAlive(env, true);
    Napi::Array promises = Napi::Array::New(env, ids.size());
    for (uint32_t i = 0; i < ids.size(); ++i) promises.Set(i, fetches_.add(env, ids[i]));
    return promises;
  }

  // flush(): sends fetches queued with fetchStatus(address, true) to the SIP thread.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    core_->flush();
    return info.Env().Undefined();
  }

  // startNotification(spec, listUri?) -> Promise<'started'|'duplicate'>, settled once stored.
  Napi::Value StartNotification(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    NotificationSpec spec = notificationSpecFromJs(env, info[0], core_->config());
    // startNotification(spec, listUri?): the group's resource list (js/resourceLists.js).
    const std::string listUri = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    const uint64_t operation = nextOperation_++;
    Operation started;
    started.key = spec.id;
    Napi::Promise promise = operations_.add(env, operation, std::move(started));
    if (core_->startNotification(std::move(spec), CommitCallback(operation), listUri) ==
        GatewayCore::StartResult::kDuplicate) {
      operations_.take(operation)->deferred.Resolve(Napi::String::New(env, "duplicate"));
      return promise;
    }
    UpdateRef(env);
    AfterEffects(env);
    return promise;
  }

  // endNotification(requester, correlator, api?) -> Promise<boolean>: false when unknown (or of
  // another API than `api`, default "" = Parlay X), else true once the removal is committed.
  Napi::Value EndNotification(const Napi::CallbackInfo& info) {
    const std::string api = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    return EndWith(info, [this, &api](const NotificationKey& id, GatewayCore::Committed removed) {
      return core_->endNotification(id, std::move(removed), api);
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
    Napi::Promise promise = operations_.add(
        env, operation,
        Operation{Operation::Kind::kEnded, call::RegistrationKind::kNotification, "", {}});
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

  // getNotification(requester, correlator) -> the notification as listNotifications() shows
  // it, or null when there is none.
  Napi::Value GetNotification(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const NotificationState* state = core_->notification(keyFromJs(info));
    if (state == nullptr) return env.Null();
    return notificationStateToJs(env, *state);
  }

  // readStoredNotifications(requester?, correlator?) -> null when not clustered (the local
  // notifications are the whole service), else Promise<notification[]>: the stored
  // notifications of every instance (one when correlator is given; those of `requester` when it
  // is a string), as listNotifications() shows them. Rejects with ERR_PX_NOTIFICATION_STORE
  // when the database fails.
  Napi::Value ReadStoredNotifications(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    std::optional<NotificationKey> key;
    std::optional<std::string> requester;
    if (info[0].IsString()) requester = info[0].As<Napi::String>().Utf8Value();
    if (info[1].IsString()) {
      key = NotificationKey{requester.value_or(""), info[1].As<Napi::String>().Utf8Value()};
    }
    const uint64_t id = nextOperation_++;
    if (!core_->readStored(id, key, requester)) return env.Null();
    Napi::Promise promise = reads_.add(env, id);
    UpdateRef(env);
    return promise;
  }

  // setDeliveryListener(fn): fn(deliveries) receives every delivery, in order, on the JS thread.
  Napi::Value SetDeliveryListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "listener must be a function");
    listener_ = Napi::Persistent(info[0].As<Napi::Function>());
    EmitDeliveries(env);
    return env.Undefined();
  }

  Napi::Value CallPortNumber(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_->callPort());
  }

  // The stored call registrations that did not decode at start (moved to
  // quarantined_call_registrations): [{kind, requester, correlator, reason, moved}], to log.
  Napi::Value QuarantinedCallsAtStart(const Napi::CallbackInfo& info) {
    return quarantinedCallsToJs(info.Env(), core_->quarantinedCallsAtStart());
  }

  // startCallRegistration(spec) -> Promise<'started'>, settled once stored; rejects with a coded
  // Error for the rules of binding-contract.md.
  Napi::Value StartCallRegistration(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    call::CallRegistration registration = callRegistrationFromJs(env, info[0]);
    Operation op{Operation::Kind::kCallStarted, registration.kind, registration.correlator, {}};
    const uint64_t operation = nextOperation_++;
    Napi::Promise promise = operations_.add(env, operation, std::move(op));
    const gateway::GatewayCore::CallStart started =
        core_->startCallRegistration(std::move(registration), CommitCallback(operation));
    using R = gateway::GatewayCore::CallStart::Result;
    if (started.result != R::kStarted) {
      Napi::Error error =
          started.result == R::kDuplicateCorrelator
              ? codedError(env, "correlator already in use", "ERR_PX_DUPLICATE_CORRELATOR")
          : started.result == R::kOverlappingCriteria
              ? codedError(env, "Overlapped criteria " + started.address,
                           "ERR_PX_OVERLAPPING_CRITERIA")
              : codedError(env, "calls are disabled (calls.enabled: false)",
                           "ERR_PX_CALLS_DISABLED");
      if (started.result == R::kOverlappingCriteria) error.Set("address", started.address);
      operations_.take(operation)->deferred.Reject(error.Value());
      return promise;
    }
    UpdateRef(env);
    return promise;
  }

  // stopCallRegistration(kind, requester, correlator) -> Promise<'stopped'|'unknown'|'notOwner'>;
  // 'stopped' once the removal is committed.
  Napi::Value StopCallRegistration(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const call::RegistrationKind kind = registrationKindFromJs(env, info[0]);
    const std::string requester = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    if (!info[2].IsString()) throw Napi::TypeError::New(env, "correlator must be a string");
    const std::string correlator = info[2].As<Napi::String>().Utf8Value();
    const uint64_t operation = nextOperation_++;
    Napi::Promise promise = operations_.add(
        env, operation, Operation{Operation::Kind::kCallStopped, kind, correlator, {}});
    const call::CallRegistry::StopResult result =
        core_->stopCallRegistration(kind, requester, correlator, CommitCallback(operation));
    if (result != call::CallRegistry::StopResult::kStopped) {
      operations_.take(operation)->deferred.Resolve(Napi::String::New(
          env, result == call::CallRegistry::StopResult::kUnknown ? "unknown" : "notOwner"));
      return promise;
    }
    UpdateRef(env);
    return promise;
  }

  // listCallRegistrations() -> the live registrations, in start order, with createdMs.
  Napi::Value ListCallRegistrations(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<call::CallRegistration>& list = core_->callRegistrations();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) out.Set(i, callRegistrationToJs(env, list[i]));
    return out;
  }

  // setCallListener(fn): fn({notifications, decisions}) on the JS thread for every batch.
  Napi::Value SetCallListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "listener must be a function");
    callListener_ = Napi::Persistent(info[0].As<Napi::Function>());
    EmitCalls(env);
    return env.Undefined();
  }

  // decideCall(callRef, decisionId, {action, routingAddress?}) -> boolean: false when the call no
  // longer waits for this decision.
  Napi::Value DecideCall(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber()) {
      throw Napi::TypeError::New(env, "decideCall: callRef and decisionId must be numbers");
    }
    const double callRef = info[0].As<Napi::Number>().DoubleValue();
    const double decisionId = info[1].As<Napi::Number>().DoubleValue();
    const call::CallAction action = callActionFromJs(env, info[2]);
    if (!(callRef >= 0) || !(decisionId >= 0)) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, core_->decideCall(static_cast<uint64_t>(callRef),
                                                     static_cast<uint64_t>(decisionId), action));
  }

  // checkServicePolicy(requester, operation) -> decision: step 1 of the policy alone.
  Napi::Value CheckServicePolicy(const Napi::CallbackInfo& info) {
    const std::string requester = requesterFromJs(info);
    return policyDecisionToJs(info.Env(),
                              core_->checkServicePolicy(requester, policyOperationFromJs(info, 1)));
  }

  // checkNotificationLimits(requester, {busy, frequencyMs, durationMs, count?}) -> {status,
  // refused, fault?, durationMs}: the requester's startNotification limits (native/policy).
  Napi::Value CheckNotificationLimits(const Napi::CallbackInfo& info) {
    const std::string requester = requesterFromJs(info);
    return notificationDecisionToJs(
        info.Env(), core_->checkNotificationLimits(requester, notificationRequestFromJs(info, 1)));
  }

  // evaluatePolicy(requester, operation, addresses) -> decision. A decision with a non-zero
  // admission must be released with releasePolicy(admission) when the request has finished.
  Napi::Value EvaluatePolicy(const Napi::CallbackInfo& info) {
    const std::string requester = requesterFromJs(info);
    const PolicyOperation op = policyOperationFromJs(info, 1);
    const std::vector<std::string> addresses = stringsFromJs(info, 2);
    return policyDecisionToJs(info.Env(), core_->evaluatePolicy(requester, op, addresses));
  }

  // groupDocumentsNeeded(requester, operation, addresses) -> string[]: the XCAP documents to
  // fetch (js/xcapGroups.js) before evaluatePolicy can resolve the request's XCAP groups.
  Napi::Value GroupDocumentsNeeded(const Napi::CallbackInfo& info) {
    const std::string requester = requesterFromJs(info);
    const PolicyOperation op = policyOperationFromJs(info, 1);
    const std::vector<std::string> urls =
        core_->groupDocumentsNeeded(requester, op, stringsFromJs(info, 2));
    Napi::Array out = Napi::Array::New(info.Env(), urls.size());
    for (size_t i = 0; i < urls.size(); ++i) {
      out.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), urls[i]));
    }
    return out;
  }

  // groupDocumentFetched(url, body | null, error): the outcome of one XCAP fetch.
  Napi::Value GroupDocumentFetched(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !(info[1].IsString() || info[1].IsNull()) || !info[2].IsString()) {
      throw Napi::TypeError::New(env, "groupDocumentFetched(url, body | null, error)");
    }
    const std::string url = info[0].As<Napi::String>();
    const std::string error = info[2].As<Napi::String>();
    if (info[1].IsString()) {
      const std::string body = info[1].As<Napi::String>();
      core_->groupDocumentFetched(url, std::string_view(body), error);
    } else {
      core_->groupDocumentFetched(url, std::nullopt, error);
    }
    return env.Undefined();
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
    callListener_.Reset();
    queue_->release();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  // Declared first, destroyed last: the core's threads post to it until closeBlocking().
  std::optional<LoopQueue<Completion>> queue_;
  std::unique_ptr<GatewayCore> core_;
  PendingPromises<> fetches_;              // by the watcher's fetch id
  PendingPromises<Operation> operations_;  // by nextOperation_
  PendingPromises<> reads_;                // readStoredNotifications, by nextOperation_
  uint64_t nextOperation_ = 1;
  std::optional<UvTimer> timer_;
  Napi::FunctionReference listener_;
  Napi::FunctionReference callListener_;
  Napi::ObjectReference selfRef_;
  AsyncClose closer_;
  std::optional<EnvCleanupHook> cleanupHook_;
};

}  // namespace

Napi::Function defineNativeCore(Napi::Env env) {
  return NativeCore::Define(env);
}

}  // namespace px
