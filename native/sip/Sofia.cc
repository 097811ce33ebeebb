#include "sip/Sofia.h"

#include <mutex>
#include <stdexcept>

#include "sip/SofiaLog.h"

namespace px {

void sofiaInit() {
  // The flag is the one piece of process state here: su_init() itself is process-wide.
  static std::once_flag once;
  std::call_once(once, [] {
    if (su_init() != 0) throw std::runtime_error("su_init() failed");
    // Sofia writes diagnostics (e.g. "Connection refused" per request to a stopped presence
    // server) to stderr; the gateway reports those conditions itself, so SofiaLog drops them
    // unless logging.sofiaLevel (or PARLAYX_SIP_LOG) asks for them.
    SofiaLog::install();
  });
}

}  // namespace px
