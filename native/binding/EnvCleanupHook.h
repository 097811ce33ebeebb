// An environment cleanup hook owned like any other resource: installed on construction, removed
// on destruction or remove(), and run at most once if the environment goes away first (process
// exit, worker.terminate()) while its owner is still alive.
#pragma once

#include <node_api.h>

#include <functional>
#include <utility>

namespace px {

class EnvCleanupHook {
 public:
  EnvCleanupHook(napi_env env, std::function<void()> onCleanup)
      : env_(env), onCleanup_(std::move(onCleanup)) {
    installed_ = napi_add_env_cleanup_hook(env_, &EnvCleanupHook::Run, this) == napi_ok;
  }
  ~EnvCleanupHook() { remove(); }

  // Its address is registered with Node: neither copied nor moved.
  EnvCleanupHook(const EnvCleanupHook&) = delete;
  EnvCleanupHook& operator=(const EnvCleanupHook&) = delete;

  void remove() {
    if (installed_) {
      napi_remove_env_cleanup_hook(env_, &EnvCleanupHook::Run, this);
      installed_ = false;
    }
  }

 private:
  static void Run(void* arg) {
    auto* self = static_cast<EnvCleanupHook*>(arg);
    self->installed_ = false;  // Node removes a hook once it has run
    self->onCleanup_();
  }

  napi_env env_;
  std::function<void()> onCleanup_;
  bool installed_ = false;
};

}  // namespace px
