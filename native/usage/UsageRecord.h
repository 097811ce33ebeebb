// A usage record as billing reads it (TWSS usage record layout, seeds/004): one row per segment.
#pragma once

#include <cstdint>
#include <string>

namespace px {

// STATUSCODE values, exactly the numbers of the source document (seeds/004).
enum class UsageStatus : int {
  kValid = 0,
  kFailedPrivacy = 1,
  kFailedAddressPlanValidation = 2,
  kExceededMaxTargets = 3,
  kFailedPacer = 4,
  kFailedCallLevelPrivacy = 5,
  kFailedProcessUpToLimit = 6,
  kFailedAdmissionControl = 7,
  kFailedServiceNotRunning = 8,
  kFailedJmsEnqueue = 9,  // used for "usage record queue full"
  kUnknownScheme = 10,
  kFailedOperation = 11,
  kFailedOther = 12,
  kInvalid = 13,
  kGroupsNotAllowed = 14,
  kUnresolvedGroups = 15,
  kFailedTrafficShaping = 16,
};

// One logical record before segmentation. serviceData is the encoded "key=value;..." text.
struct UsageRecord {
  std::string recordId;   // unique per logical record (all its segments share it)
  std::string globalId;   // one per incoming request, shared by every record it causes
  std::string service;    // service implementation name (config service.name)
  std::string host;       // host name of the gateway
  std::string eventType;  // operation name, e.g. "getStatus", "statusNotification_DeliveryResult"
  int64_t recordTimeMs = 0;  // UTC, milliseconds since the epoch
  UsageStatus status = UsageStatus::kValid;
  std::string serviceData;
};

// One stored row: a segment of a record's SERVICEDATA.
struct UsageRow {
  std::string recordId;
  int segment = 0;  // 0, 1, 2, ... (SEGMENT)
  std::string globalId;
  std::string service;
  std::string host;
  std::string eventType;
  int64_t recordTimeMs = 0;
  int statusCode = 0;
  std::string serviceData;  // this segment's part of the encoded text
};

}  // namespace px
