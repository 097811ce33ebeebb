// JS class SofiaLog: Sofia-SIP's own log lines, handed to a JS listener (sip/SofiaLog.h).
#pragma once

#include <napi.h>

namespace px {

Napi::Function defineSofiaLog(Napi::Env env);

}  // namespace px
