// A Delivery as a row of the notification store's pending_deliveries table (the outbox): the
// deliveries decided but not yet settled are kept there so that a crash between a status change
// (whose lastSeen is committed) and its delivery loses nothing; they are sent again at start
// (at-least-once).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "notify/NotificationEngine.h"
#include "store/NotificationRows.h"

namespace px::store {

// kind name as stored: statusNotification, statusError, statusEnd.
const char* deliveryKindName(Delivery::Kind kind);
bool parseDeliveryKind(std::string_view name, Delivery::Kind* kind);
// end reason name as stored and told to JS: "" (none), expired, countReached, deleted, terminated.
const char* endReasonName(Delivery::EndReason reason);
bool parseEndReason(std::string_view name, Delivery::EndReason* reason);

// The kind-specific fields (statuses; or address, messageId, text, variables; or a statusEnd's
// end reason and text, nothing for a reasonless one) as one text of
// length-prefixed strings ("<bytes>:<string>" each), so any character round-trips.
std::string encodeDeliveryPayload(const Delivery& d);
// Fills the kind-specific fields of d (d.kind set); false with *problem when the text is not
// an encoding of that kind.
bool decodeDeliveryPayload(std::string_view text, Delivery& d, std::string* problem);

// The length-prefixed string encoding itself ("<bytes>:<string>" each), also used by the
// cluster's NOTIFY payloads (PgRegistrations.h).
void appendLengthPrefixed(std::string& out, std::string_view s);
// The strings of such a text, or nullopt when it is not a sequence of "<n>:<n bytes>".
std::optional<std::vector<std::string>> splitLengthPrefixed(std::string_view text);

// The columns of the outbox in select order (SQLite pending_deliveries, PostgreSQL
// pending_delivery).
inline constexpr const char* kDeliveryColumns =
    "requester, correlator, sequence, kind, endpoint, global_id, payload, api, extension, "
    "decided_at_ms";

// A row selected with kDeliveryColumns into *d; false with *problem when it does not decode.
bool decodeDeliveryRow(const StoredRow& row, Delivery* d, std::string* problem);

}  // namespace px::store
