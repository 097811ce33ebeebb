// Names of the usage-record STATUSCODE values (seeds/004 table 1).
#pragma once

#include <optional>
#include <string_view>

#include "usage/UsageRecord.h"

namespace px {

// The upper-case name of the source document, e.g. "FAILED_TRAFFIC_SHAPING".
// An out-of-range value (only reachable through a cast) gives "UNKNOWN".
const char* toString(UsageStatus status);

// The status with this STATUSCODE number, nullopt outside 0..16.
std::optional<UsageStatus> usageStatusFromInt(int code);

// The status with exactly this name (case-sensitive), nullopt otherwise.
std::optional<UsageStatus> usageStatusFromName(std::string_view name);

}  // namespace px
