#include "binding/SofiaLogJs.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "binding/AsyncQueue.h"
#include "binding/EnvCleanupHook.h"
#include "sip/SofiaLog.h"

namespace px {
namespace {

// new SofiaLog(level, fn): Sofia's lines at levels 1..level go to fn(lines) on the JS thread, in
// batches, until close(). The lines cross from the SIP threads through one LoopQueue (owner: the
// JS thread), which never keeps the process alive. `logLevel` is the pino level they are logged at.
class SofiaLogJs : public Napi::ObjectWrap<SofiaLogJs> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SofiaLog",
                       {InstanceMethod<&SofiaLogJs::Close>("close"),
                        InstanceAccessor<&SofiaLogJs::LogLevel>("logLevel")});
  }

  explicit SofiaLogJs(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SofiaLogJs>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "SofiaLog(level, fn): level 1..9");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "SofiaLog(level, fn): fn");
    const int32_t level = info[0].As<Napi::Number>().Int32Value();
    if (level < 1 || level > 9) throw Napi::RangeError::New(env, "Sofia log level must be 1..9");
    level_ = static_cast<unsigned>(level);
    listener_ = Napi::Persistent(info[1].As<Napi::Function>());
    lines_.emplace(env, "parlayx-gateway Sofia log",
                   [this](Napi::Env e, std::vector<std::string>& lines) { Deliver(e, lines); });
    LoopQueue<std::string>* queue = &*lines_;
    attachment_ =
        SofiaLog::attach(level_, [queue](std::string line) { queue->post(std::move(line)); });
    selfRef_ = Napi::Persistent(info.This().As<Napi::Object>());  // not collected while attached
    // The environment can go away (process exit, worker.terminate()) without close().
    cleanupHook_.emplace(env, [this] { attachment_.reset(); });
  }

  ~SofiaLogJs() override {
    cleanupHook_.reset();
    attachment_.reset();  // first: no line is posted to the queue after this
  }

 private:
  void Deliver(Napi::Env env, std::vector<std::string>& lines) {
    if (lines.empty() || listener_.IsEmpty()) return;
    Napi::HandleScope scope(env);
    Napi::Array array = Napi::Array::New(env, lines.size());
    for (uint32_t i = 0; i < lines.size(); ++i) array.Set(i, lines[i]);
    try {
      listener_.MakeCallback(env.Global(), {array});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  // close(): detaches from Sofia's log and hands over the lines still queued. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (attachment_) {
      attachment_.reset();
      lines_->drain(env);
      lines_->release();
      listener_.Reset();
      cleanupHook_.reset();
      selfRef_.Reset();
    }
    return env.Undefined();
  }

  Napi::Value LogLevel(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), SofiaLog::pinoLevel(level_));
  }

  unsigned level_ = 0;
  Napi::FunctionReference listener_;
  std::optional<LoopQueue<std::string>> lines_;
  std::unique_ptr<SofiaLog::Attachment> attachment_;  // after lines_: destroyed before it
  std::optional<EnvCleanupHook> cleanupHook_;
  Napi::ObjectReference selfRef_;
};

}  // namespace

Napi::Function defineSofiaLog(Napi::Env env) {
  return SofiaLogJs::Define(env);
}

}  // namespace px
