#include "usage/UsageStatus.h"

#include <array>

namespace px {
namespace {

// Indexed by the STATUSCODE number; the order is the document's.
constexpr std::array<const char*, 17> kNames = {
    "VALID",
    "FAILED_PRIVACY",
    "FAILED_ADDRESS_PLAN_VALIDATION",
    "EXCEEDED_MAX_TARGETS",
    "FAILED_PACER",
    "FAILED_CALL_LEVEL_PRIVACY",
    "FAILED_PROCESS_UP_TO_LIMIT",
    "FAILED_ADMISSION_CONTROL",
    "FAILED_SERVICE_NOT_RUNNING",
    "FAILED_JMS_ENQUEUE",
    "UNKNOWN_SCHEME",
    "FAILED_OPERATION",
    "FAILED_OTHER",
    "INVALID",
    "GROUPS_NOT_ALLOWED",
    "UNRESOLVED_GROUPS",
    "FAILED_TRAFFIC_SHAPING",
};

}  // namespace

const char* toString(UsageStatus status) {
  const int code = static_cast<int>(status);
  if (code < 0 || code >= static_cast<int>(kNames.size())) return "UNKNOWN";
  return kNames[static_cast<size_t>(code)];
}

std::optional<UsageStatus> usageStatusFromInt(int code) {
  if (code < 0 || code >= static_cast<int>(kNames.size())) return std::nullopt;
  return static_cast<UsageStatus>(code);
}

std::optional<UsageStatus> usageStatusFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<UsageStatus>(static_cast<int>(i));
  }
  return std::nullopt;
}

}  // namespace px
