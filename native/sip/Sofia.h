// Sofia-SIP includes and RAII owners for the Sofia objects the SIP layer creates.
// Every owner must be released on the SIP thread that created the object.
#pragma once

#include <unistd.h>

#include <memory>

// sofia_features.h and friends need su_config.h first (sofia-sip notes §5.4).
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_config.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>

namespace px {

struct SuRootDeleter {
  void operator()(su_root_t* root) const { su_root_destroy(root); }
};
using SuRoot = std::unique_ptr<su_root_t, SuRootDeleter>;

// nua_destroy() aborts unless nua_shutdown() completed first: the owner of a Nua must only let
// it go after nua_r_shutdown reported a final status.
struct NuaDeleter {
  void operator()(nua_t* nua) const { nua_destroy(nua); }
};
using Nua = std::unique_ptr<nua_t, NuaDeleter>;

// Destroying a handle cancels whatever it still has in progress, silently.
struct NuaHandleDeleter {
  void operator()(nua_handle_t* handle) const { nua_handle_destroy(handle); }
};
using NuaHandle = std::unique_ptr<nua_handle_t, NuaHandleDeleter>;

struct SuTimerDeleter {
  void operator()(su_timer_t* timer) const { su_timer_destroy(timer); }
};
using SuTimer = std::unique_ptr<su_timer_t, SuTimerDeleter>;

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  explicit operator bool() const { return fd_ >= 0; }
  int get() const { return fd_; }

 private:
  int fd_;
};

// su_init() once per process, before any other Sofia call. su_deinit() is never called: other
// users (worker threads, other addons) may still run Sofia, and it does nothing on Linux.
void sofiaInit();

}  // namespace px
