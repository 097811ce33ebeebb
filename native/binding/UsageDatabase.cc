#include "binding/UsageDatabase.h"

#include <algorithm>
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
#include "store/PackedUsageEntries.h"
#include "store/UsageRecorder.h"
#include "usage/Catalogue.h"
#include "usage/ServiceData.h"
#include "usage/UsageStatus.h"

namespace px {
namespace {

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

// {bounds, counts, sum, count}: counts per bucket (not cumulative), one more than bounds (the
// last: above the last bound).
Napi::Object histogramToJs(Napi::Env env, const sqlite::LatencyHistogram& h) {
  const auto& bounds = sqlite::LatencyHistogram::kBounds;
  Napi::Array jsBounds = Napi::Array::New(env, bounds.size());
  for (uint32_t i = 0; i < bounds.size(); ++i) jsBounds.Set(i, bounds[i]);
  Napi::Array counts = Napi::Array::New(env, h.counts.size());
  for (uint32_t i = 0; i < h.counts.size(); ++i) {
    counts.Set(i, static_cast<double>(h.counts[i]));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("bounds", jsBounds);
  o.Set("counts", counts);
  o.Set("sum", h.sum);
  o.Set("count", static_cast<double>(h.count));
  return o;
}

Napi::Object pageToJs(Napi::Env env, const UsagePage& page) {
  Napi::Object result = Napi::Object::New(env);
  Napi::Array records = Napi::Array::New(env, page.records.size());
  for (uint32_t i = 0; i < page.records.size(); ++i) {
    records.Set(i, recordToJs(env, page.records[i]));
  }
  result.Set("records", records);
  if (page.next) {
    Napi::Object next = Napi::Object::New(env);
    next.Set("recordTimeMs", static_cast<double>(page.next->recordTimeMs));
    next.Set("recordId", page.next->recordId);
    next.Set("segment", page.next->segment);
    result.Set("next", next);
  } else {
    result.Set("next", env.Null());
  }
  return result;
}

// The usage store as JS sees it. Commit outcomes and the store's error reports come back from
// the store's writer thread through one LoopQueue (in the order the writer reported them), which
// settles the Promises of record() and tells the error listener; queries run on the libuv pool.
class UsageDatabase : public Napi::ObjectWrap<UsageDatabase> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UsageDatabase",
                       {InstanceMethod<&UsageDatabase::Record>("record"),
                        InstanceMethod<&UsageDatabase::Query>("query"),
                        InstanceMethod<&UsageDatabase::Stats>("stats"),
                        InstanceMethod<&UsageDatabase::Close>("close"),
                        InstanceMethod<&UsageDatabase::SetErrorListener>("setErrorListener"),
                        InstanceAccessor<&UsageDatabase::Durable>("durable")});
  }

  explicit UsageDatabase(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UsageDatabase>(info) {
    Napi::Env env = info.Env();
    const GatewayConfig config = loadConfigFromJs(env, info[0]);
    try {
      // The store reports only from its writer (appends: none before commits_ exists) or close().
      recorder_ = std::make_unique<UsageRecorder>(config, [this](const std::string& message) {
        commits_->post(Commit{0, false, message});
      });
    } catch (const std::exception& e) {
      throw codedError(env, e.what(), "ERR_PX_USAGE_OPEN");
    }
    commits_.emplace(env, "parlayx-gateway usage commits",
                     [this](Napi::Env e, std::vector<Commit>& done) { Settle(e, done); });
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
  // An append's outcome, or (id 0) one of the store's error reports (reason: its text).
  struct Commit {
    uint64_t id;
    bool committed;
    std::string reason;  // SQLite's message when not committed
  };

  // Settles the Promise of every append whose commit finished, and tells the error listener of
  // the store's reports and of the appends that failed, with their reasons (batched ones have no
  // Promise left to reject). JS thread.
  void Settle(Napi::Env env, std::vector<Commit>& done) {
    uint32_t failed = 0;
    std::vector<std::string> reasons;  // distinct, in order
    for (const Commit& c : done) {
      if (c.id == 0) {
        ReportError(env, c.reason, 0, nullptr);
        continue;
      }
      if (!c.committed) {
        ++failed;
        if (std::find(reasons.begin(), reasons.end(), c.reason) == reasons.end()) {
          reasons.push_back(c.reason);
        }
      }
      auto entry = pending_.take(c.id);
      if (!entry) continue;
      if (c.committed) {
        entry->deferred.Resolve(env.Undefined());
      } else {
        Napi::Error error =
            codedError(env, "usage records could not be written", "ERR_PX_USAGE_WRITE");
        error.Set("reason", c.reason);
        entry->deferred.Reject(error.Value());
      }
    }
    if (pending_.empty() && !closed_) commits_->keepAlive(env, false);
    if (failed > 0) {
      std::string reason;
      for (const std::string& r : reasons) reason += (reason.empty() ? "" : "; ") + r;
      ReportError(env, "usage records could not be written", failed, &reason);
    }
  }

  // fn(message, failedAppends, reason) on the JS thread, so that write problems reach the log
  // whatever the durability (the counts are in stats().writeErrors too): for each run of failed
  // appends (failedAppends > 0, reason: SQLite's messages, distinct ones joined by "; "), and for
  // each of the store's own reports (failedAppends 0, reason undefined: message is the report,
  // e.g. a failed attempt that is retried).
  Napi::Value SetErrorListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "listener must be a function");
    errorListener_ = Napi::Persistent(info[0].As<Napi::Function>());
    return env.Undefined();
  }

  void ReportError(Napi::Env env, const std::string& message, uint32_t failedAppends,
                   const std::string* reason) {
    if (errorListener_.IsEmpty()) return;
    Napi::HandleScope scope(env);
    try {
      errorListener_.MakeCallback(
          env.Global(), {Napi::String::New(env, message), Napi::Number::New(env, failedAppends),
                         reason ? Napi::String::New(env, *reason) : env.Undefined()});
    } catch (const Napi::Error& e) {
      // The listener threw: report it like any uncaught exception, never lose it silently.
      napi_fatal_exception(env, e.Value());
    }
  }

  // record(packed) -> Promise<void>: resolved once committed (durable) or queued (batched).
  Napi::Value Record(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closing_ || closed_) throw codedError(env, "usage database is closed", "ERR_PX_CLOSED");
    // The entries packed into one string by js/usage.js (store/PackedUsageEntries.h).
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "record(packed) needs a string");
    std::vector<UsageEntry> entries;
    try {
      entries = unpackUsageEntries(info[0].As<Napi::String>().Utf16Value());
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }

    const uint64_t id = nextId_++;
    const bool durable = recorder_->durable();
    AppendResult result;
    try {
      LoopQueue<Commit>* commits = &*commits_;
      result = recorder_->record(entries,
                                 [commits, id, durable](bool committed, const std::string& reason) {
                                   if (!durable && committed)
                                     return;  // already resolved at acceptance
                                   commits->post(Commit{id, committed, reason});
                                 });
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, e.what());
    }
    if (!result.accepted) {
      const char* code = result.reason == AppendRejection::kClosed ? "ERR_PX_CLOSED"
                         : result.reason == AppendRejection::kInvalidRow
                             ? "ERR_PX_USAGE_INVALID"
                             : "ERR_PX_USAGE_QUEUE_FULL";
      auto refused = Napi::Promise::Deferred::New(env);
      refused.Reject(codedError(env, "usage records not accepted", code).Value());
      return refused.Promise();
    }
    if (durable) {
      if (pending_.empty()) commits_->keepAlive(env, true);
      return pending_.add(env, id);
    }
    auto queued = Napi::Promise::Deferred::New(env);
    queued.Resolve(env.Undefined());
    return queued.Promise();
  }

  // query({fromMs, toMs, service, eventType, statusCode, globalId, requester, limit, after})
  //   -> Promise<{records, next}>; runs on the libuv pool.
  Napi::Value Query(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closing_ || closed_) throw codedError(env, "usage database is closed", "ERR_PX_CLOSED");
    UsageRecorder* recorder = recorder_.get();
    return runOnPool<UsagePage>(
        env, "parlayx-gateway usage query",
        [recorder, query = queryFromJs(info[0])] { return recorder->query(query); }, pageToJs);
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
    // The database behind (store.backend) and, for PostgreSQL, its reachability and spool.
    o.Set("backend", recorder_->backend());
    o.Set("reachable", s.reachable);
    o.Set("spooled", static_cast<double>(s.spooled));
    o.Set("replayed", static_cast<double>(s.replayed));
    o.Set("reconnects", static_cast<double>(s.reconnects));
    o.Set("commitSeconds", histogramToJs(env, s.latency.commit));
    o.Set("commitWaitSeconds", histogramToJs(env, s.latency.wait));
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
    commits_->drain(env);
    closed_ = true;
    commits_->release();
    errorListener_.Reset();
    cleanupHook_.reset();
    selfRef_.Reset();
  }

  std::unique_ptr<UsageRecorder> recorder_;
  std::optional<LoopQueue<Commit>> commits_;  // commit results of durable appends
  PendingPromises<> pending_;                 // durable appends waiting for their commit
  Napi::FunctionReference errorListener_;     // setErrorListener(); empty: failures not told
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
