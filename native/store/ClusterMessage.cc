// The NOTIFY payloads of channel px_cluster (PgRegistrations.h): length-prefixed strings, as
// the outbox's payloads (DeliveryRows.h), so any key round-trips.
#include <optional>
#include <string>
#include <vector>

#include "store/DeliveryRows.h"
#include "store/PgRegistrations.h"

namespace px::store {

std::string encodeClusterMessage(const ClusterMessage& message) {
  std::string out;
  switch (message.kind) {
    case ClusterMessage::Kind::kEnded:
      appendLengthPrefixed(out, "ended");
      appendLengthPrefixed(out, message.owner);
      appendLengthPrefixed(out, message.key.requester);
      appendLengthPrefixed(out, message.key.correlator);
      break;
    case ClusterMessage::Kind::kReleased:
      appendLengthPrefixed(out, "released");
      break;
    case ClusterMessage::Kind::kCalls:
      appendLengthPrefixed(out, "calls");
      break;
    case ClusterMessage::Kind::kUnknown:
      appendLengthPrefixed(out, "unknown");
      break;
  }
  return out;
}

ClusterMessage parseClusterMessage(const std::string& payload) {
  ClusterMessage message;
  const std::optional<std::vector<std::string>> parts = splitLengthPrefixed(payload);
  if (!parts || parts->empty()) return message;
  const std::vector<std::string>& p = *parts;
  if (p[0] == "ended" && p.size() == 4) {
    message.kind = ClusterMessage::Kind::kEnded;
    message.owner = p[1];
    message.key = NotificationKey{p[2], p[3]};
  } else if (p[0] == "released" && p.size() == 1) {
    message.kind = ClusterMessage::Kind::kReleased;
  } else if (p[0] == "calls" && p.size() == 1) {
    message.kind = ClusterMessage::Kind::kCalls;
  }
  return message;
}

}  // namespace px::store
