// A one-shot libuv timer on the Node event loop, owned like any other resource. It never keeps
// the process alive (unref'd): the gateway's HTTP server or pending work does that.
//
// libuv frees a handle only after uv_close()'s callback; the destructor hands the handle to that
// callback, which deletes it, so the timer may be destroyed at any time on the JS thread.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

namespace px {

class UvTimer {
 public:
  UvTimer(Napi::Env env, std::function<void()> onFire) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return;
    auto handle = std::make_unique<Handle>();
    if (uv_timer_init(loop, &handle->timer) != 0) return;
    handle->timer.data = handle.get();
    handle->onFire = std::move(onFire);
    uv_unref(reinterpret_cast<uv_handle_t*>(&handle->timer));
    handle_ = std::move(handle);
  }
  ~UvTimer() {
    if (!handle_) return;
    uv_timer_stop(&handle_->timer);
    // Ownership passes to libuv until the close callback.
    Handle* handle = handle_.release();
    uv_close(reinterpret_cast<uv_handle_t*>(&handle->timer),
             [](uv_handle_t* h) { std::unique_ptr<Handle> owned(static_cast<Handle*>(h->data)); });
  }
  UvTimer(const UvTimer&) = delete;
  UvTimer& operator=(const UvTimer&) = delete;

  // (Re)arms the timer to fire once after delayMs.
  void start(uint64_t delayMs) {
    if (handle_) uv_timer_start(&handle_->timer, &UvTimer::OnTimer, delayMs, 0);
  }
  void stop() {
    if (handle_) uv_timer_stop(&handle_->timer);
  }

 private:
  struct Handle {
    uv_timer_t timer{};
    std::function<void()> onFire;
  };
  static void OnTimer(uv_timer_t* timer) {
    auto* handle = static_cast<Handle*>(timer->data);
    if (handle->onFire) handle->onFire();
  }

  std::unique_ptr<Handle> handle_;
};

}  // namespace px
