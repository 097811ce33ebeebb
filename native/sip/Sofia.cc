#include "sip/Sofia.h"

#include <sofia-sip/su_log.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace px {

namespace {

// Sofia writes diagnostics (e.g. "Connection refused" per request to a stopped presence server)
// to stderr. The gateway reports those conditions itself, so they are dropped unless
// PARLAYX_SIP_LOG is set, for debugging.
void sofiaLogger(void*, char const* format, va_list args) {
  std::vfprintf(stderr, format, args);
}
void sofiaLogDrop(void*, char const*, va_list) {}

}  // namespace

void sofiaInit() {
  // The flag is the one piece of process state here: su_init() itself is process-wide.
  static std::once_flag once;
  std::call_once(once, [] {
    if (su_init() != 0) throw std::runtime_error("su_init() failed");
    const bool verbose = std::getenv("PARLAYX_SIP_LOG") != nullptr;
    su_log_redirect(su_log_default, verbose ? &sofiaLogger : &sofiaLogDrop, nullptr);
  });
}

}  // namespace px
