#include "binding/UsageDatabase.h"

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "binding/AsyncClose.h"
#include "binding/Config.h"
#include "binding/EnvCleanupHook.h"
#include "store/UsageRecorder.h"
#include "usage/Catalogue.h"
#include "usage/ServiceData.h"
#include "usage/UsageStatus.h"

namespace px {
namespace {

Napi::Error codedError(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  return error;
}

UsageEntry entryFromJs(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "usage entry must be an object");
  Napi::Object o = value.As<Napi::Object>();
  UsageEntry entry;
  entry.globalId = o.Get("globalId").ToString().Utf8Value();
  entry.eventType = o.Get("eventType").ToString().Utf8Value();
  entry.statusCode = o.Get("statusCode").ToNumber().Int32Value();
  entry.recordTimeMs = o.Get("recordTimeMs").ToNumber().Int64Value();
  Napi::Value attributes = o.Get("attributes");
  if (!attributes.IsObject()) throw Napi::TypeError::New(env, "usage entry needs attributes");
  Napi::Object map = attributes.As<Napi::Object>();
  Napi::Array names = map.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    Napi::Value name = names.Get(i);
    Napi::Value attribute = map.Get(name);
    if (attribute.IsUndefined()) continue;
    entry.attributes.emplace_back(name.ToString().Utf8Value(), attribute.ToString().Utf8Value());
  }
  return entry;
}

Napi::Object recordToJs(Napi::Env env, const UsageRecord& record) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("recordId", record.recordId);
  o.Set("globalId", record.globalId);
  o.Set("service", record.service);
  o.Set("host", record.host);
  o.Set("eventType", record.eventType);
  o.Set("recordTime", formatUtcTime(record.recordTimeMs));
  o.Set("statusCode", static_cast<int>(record.status));
  o.Set("status", toString(record.status));
  o.Set("serviceData", record.serviceData);
  Napi::Object attributes = Napi::Object::New(env);
  if (auto pairs = servicedata::decode(record.serviceData)) {
    for (const auto& [name, value] : *pairs) attributes.Set(name, value);
  }
  o.Set("attributes", attributes);
  return o;
}

UsageQuery queryFromJs(const Napi::Value& value) {
  UsageQuery q;
  if (!value.IsObject()) return q;
  Napi::Object o = value.As<Napi::Object>();
  auto str = [&](const char* key) -> std::optional<std::string> {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    return v.ToString().Utf8Value();
  };
  auto time = [&](const char* key) -> std::optional<int64_t> {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    return v.ToNumber().Int64Value();
  };
  q.fromTimeMs = time("fromMs");
  q.toTimeMs = time("toMs");
  q.service = str("service");
  q.eventType = str("eventType");
  q.globalId = str("globalId");
  q.requester = str("requester");
  if (!o.Get("statusCode").IsUndefined() && !o.Get("statusCode").IsNull()) {
    q.statusCode = o.Get("statusCode").ToNumber().Int32Value();
  }
  if (o.Get("limit").IsNumber()) q.limit = o.Get("limit").ToNumber().Uint32Value();
  Napi::Value after = o.Get("after");
  if (after.IsObject()) {
    Napi::Object a = after.As<Napi::Object>();
    UsageCursor cursor;
    cursor.recordTimeMs = a.Get("recordTimeMs").ToNumber().Int64Value();
    cursor.recordId = a.Get("recordId").ToString().Utf8Value();
    cursor.segment = a.Get("segment").ToNumber().Int32Value();
    q.after = cursor;
  }
  return q;
}

class UsageDatabase : public Napi::ObjectWrap<UsageDatabase> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UsageDatabase",
                       {InstanceMethod<&UsageDatabase::Record>("record"),
                        InstanceMethod<&UsageDatabase::Query>("query"),
                        InstanceMethod<&UsageDatabase::Stats>("stats"),
                        InstanceMethod<&UsageDatabase::Close>("close"),
                        InstanceAccessor<&UsageDatabase::Durable>("durable")});
  }

  explicit UsageDatabase(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UsageDatabase>(info) {
    Napi::Env env = info.Env();
    const GatewayConfig config = loadConfigFromJs(env, info[0]);
    try {
      recorder_ = std::make_unique<UsageRecorder>(config);
    } catch (const std::exception& e) {
      throw codedError(env, e.what(), "ERR_PX_USAGE_OPEN");
    }
    tsfn_ = Tsfn::New(env, "parlayx-gateway usage commits", 0, 1, this);
    tsfn_.Unref(env);
    selfRef_ = Napi::Persistent(info.This().As<Napi::Object>());
    // The environment can go away (process exit, worker.terminate()) without close().
    cleanupHook_.emplace(env, [this] {
      if (recorder_) recorder_->close();
    });
  }

  ~UsageDatabase() override {
    cleanupHook_.reset();
    if (recorder_) recorder_->close();
  }

 private:
  static void CallJs(Napi::Env env, Napi::Function, UsageDatabase* self, void*) {
    if (env == nullptr || self == nullptr) return;
    try {
      self->Drain(env);
    } catch (const Napi::Error&) {
      // JS cannot run any more (worker terminating); nothing left to resolve.
    }
  }
  using Tsfn = Napi::TypedThreadSafeFunction<UsageDatabase, void, &UsageDatabase::CallJs>;

  // Settles the Promise of every append whose commit finished. JS thread.
  void Drain(Napi::Env env) {
    std::vector<std::pair<uint64_t, bool>> done;
    {
      std::lock_guard<std::mutex> lock(doneMutex_);
      done.swap(done_);
    }
    for (const auto& [id, committed] : done) {
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;
      Napi::Promise::Deferred deferred = std::move(it->second);
      pending_.erase(it);
      if (committed) {
        deferred.Resolve(env.Undefined());
      } else {
        deferred.Reject(
            codedError(env, "usage records could not be written", "ERR_PX_USAGE_WRITE").Value());
      }
    }
    if (pending_.empty() && !closed_) tsfn_.Unref(env);
  }

  // record(entries) -> Promise<void>: resolved once committed (durable) or queued (batched).
  Napi::Value Record(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closing_ || closed_) throw codedError(env, "usage database is closed", "ERR_PX_CLOSED");
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "record(entries) needs an array");
    Napi::Array array = info[0].As<Napi::Array>();
    std::vector<UsageEntry> entries;
    for (uint32_t i = 0; i < array.Length(); ++i) entries.push_back(entryFromJs(env, array.Get(i)));

    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    const uint64_t id = nextId_++;
    const bool durable = recorder_->durable();
    AppendResult result;
    try {
      Tsfn tsfn = tsfn_;
      result = recorder_->record(entries, [this, id, durable, tsfn](bool committed) mutable {
        if (!durable && committed) return;  // already resolved at acceptance
        bool wasEmpty = false;
        {
          std::lock_guard<std::mutex> lock(doneMutex_);
          wasEmpty = done_.empty();
          done_.emplace_back(id, committed);
        }
        if (wasEmpty) tsfn.NonBlockingCall();
      });
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }
    if (!result.accepted) {
      const char* code = result.reason == AppendRejection::kClosed ? "ERR_PX_CLOSED"
                         : result.reason == AppendRejection::kInvalidRow
                             ? "ERR_PX_USAGE_INVALID"
                             : "ERR_PX_USAGE_QUEUE_FULL";
      deferred.Reject(codedError(env, "usage records not accepted", code).Value());
      return promise;
    }
    if (durable) {
      if (pending_.empty()) tsfn_.Ref(env);
      pending_.emplace(id, std::move(deferred));
    } else {
      deferred.Resolve(env.Undefined());
    }
    return promise;
  }

  class QueryWorker : public Napi::AsyncWorker {
   public:
    QueryWorker(Napi::Env env, UsageRecorder* recorder, UsageQuery query)
        : Napi::AsyncWorker(env, "parlayx-gateway usage query"),
          recorder_(recorder),
          query_(std::move(query)),
          deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        page_ = recorder_->query(query_);
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      Napi::Env env = Env();
      Napi::Object result = Napi::Object::New(env);
      Napi::Array records = Napi::Array::New(env, page_.records.size());
      for (uint32_t i = 0; i < page_.records.size(); ++i) {
        records.Set(i, recordToJs(env, page_.records[i]));
      }
      result.Set("records", records);
      if (page_.next) {
        Napi::Object next = Napi::Object::New(env);
        next.Set("recordTimeMs", static_cast<double>(page_.next->recordTimeMs));
        next.Set("recordId", page_.next->recordId);
        next.Set("segment", page_.next->segment);
        result.Set("next", next);
      } else {
        result.Set("next", env.Null());
      }
      deferred_.Resolve(result);
    }
    void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

   private:
    UsageRecorder* recorder_;
    UsageQuery query_;
    UsagePage page_;
    Napi::Promise::Deferred deferred_;
  };

  // query({fromMs, toMs, service, eventType, statusCode, globalId, requester, limit, after})
  //   -> Promise<{records, next}>; runs on the libuv pool.
  Napi::Value Query(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closing_ || closed_) throw codedError(env, "usage database is closed", "ERR_PX_CLOSED");
    auto* worker = new QueryWorker(env, recorder_.get(), queryFromJs(info[0]));  // self-deleting
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const UsageStoreStats s = recorder_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("queued", static_cast<double>(s.queued));
    o.Set("written", static_cast<double>(s.written));
    o.Set("commits", static_cast<double>(s.commits));
    o.Set("rejectedFull", static_cast<double>(s.rejectedFull));
    o.Set("writeErrors", static_cast<double>(s.writeErrors));
    return o;
  }

  Napi::Value Durable(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), recorder_->durable());
  }

  // close() -> Promise: writes and commits everything queued (pool thread), then closes the file.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    closing_ = true;
    return closer_.close(
        info.Env(), [this] { recorder_->close(); }, [this](Napi::Env env) { FinishClose(env); });
  }

  void FinishClose(Napi::Env env) {
    Drain(env);
    closed_ = true;
    tsfn_.Release();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  std::unique_ptr<UsageRecorder> recorder_;
  Tsfn tsfn_;
  std::mutex doneMutex_;
  std::vector<std::pair<uint64_t, bool>> done_;  // commit results; drained on the JS thread
  std::unordered_map<uint64_t, Napi::Promise::Deferred> pending_;
  uint64_t nextId_ = 1;
  Napi::ObjectReference selfRef_;
  AsyncClose closer_;
  std::optional<EnvCleanupHook> cleanupHook_;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

Napi::Function defineUsageDatabase(Napi::Env env) {
  return UsageDatabase::Define(env);
}

}  // namespace px
