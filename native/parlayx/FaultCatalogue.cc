#include "parlayx/FaultCatalogue.h"

namespace px::parlayx {
namespace {

constexpr FaultKind SVC = FaultKind::kServiceException;
constexpr FaultKind POL = FaultKind::kPolicyException;

// Texts are the common ones quoted identically by several implementations (digest §4, [D]);
// POL0005 uses the spec-table text, not eoneapi's copy of POL0004.
constexpr std::array<FaultDefinition, 21> kCatalogue = {{
    {"SVC0001", SVC, "Service error", "A service error occurred. Error code is %1"},
    {"SVC0002", SVC, "Invalid input value", "Invalid input value for message part %1"},
    {"SVC0003", SVC, "Invalid input value with list of valid values",
     "Invalid input value for message part %1, valid values are %2"},
    {"SVC0004", SVC, "No valid addresses", "No valid addresses provided in message part %1"},
    {"SVC0005", SVC, "Duplicate correlator",
     "Correlator %1 specified in message part %2 is a duplicate"},
    {"SVC0006", SVC, "Invalid group", "Group %1 in message part %2 is not a valid group"},
    {"SVC0007", SVC, "Invalid charging information", "Invalid charging information"},
    {"SVC0008", SVC, "Overlapping criteria", "Overlapped criteria %1"},
    {"POL0001", POL, "Policy error", "A policy error occurred. Error code is %1"},
    {"POL0002", POL, "Privacy error",
     "Privacy verification failed for address %1, request is refused"},
    {"POL0003", POL, "Too many addresses", "Too many addresses specified in message part %1"},
    {"POL0004", POL, "Unlimited notifications not supported",
     "Unlimited notification request not supported"},
    {"POL0005", POL, "Too many notifications requested", "Too many notifications requested"},
    {"POL0006", POL, "Groups not allowed", "Group specified in message part %1 not allowed"},
    {"POL0007", POL, "Nested groups not allowed",
     "Nested groups specified in message part %1 not allowed"},
    {"POL0008", POL, "Charging not supported", "Charging is not supported"},
    {"POL0009", POL, "Invalid frequency requested", "Invalid frequency requested"},
    {"POL0010", POL, "Retention time interval expired",
     "Requested information unavailable as the retention time interval has expired"},
    {"POL0011", POL, "Media type not supported", "Media type not supported"},
    {"POL0012", POL, "Too many description entries",
     "Too many description entries specified in message part %1"},
    {"POL0013", POL, "Duplicated addresses", "Duplicated addresses %1"},
}};

}  // namespace

const char* toString(FaultKind kind) {
  return kind == FaultKind::kServiceException ? "ServiceException" : "PolicyException";
}

const std::array<FaultDefinition, 21>& faultCatalogue() {
  return kCatalogue;
}

const FaultDefinition* findFault(std::string_view messageId) {
  for (const FaultDefinition& fault : kCatalogue) {
    if (fault.messageId == messageId) return &fault;
  }
  return nullptr;
}

}  // namespace px::parlayx
