// JS class UsageDatabase: the usage record store of a gateway (record, query, close).
#pragma once

#include <napi.h>

namespace px {

Napi::Function defineUsageDatabase(Napi::Env env);

}  // namespace px
