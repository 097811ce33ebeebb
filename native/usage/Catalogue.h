// The one list of usage-record event types and the SERVICEDATA attributes each may carry
// (seeds/004 tables 2-12 for Terminal Status, seeds/001 tables 1-2 for Call Notification).
// Records are written through ServiceDataBuilder, which refuses an attribute the event type does
// not list, so a misspelt or missing attribute fails in tests instead of reaching billing.
//
// Decisions where the source documents are silent or loose:
// - SERVICE and EVENTTYPE of seeds/001 are the record's columns (UsageRecord::service/eventType),
//   not service data, so the Call Notification events do not list them. The Terminal Status
//   tables list SERVICE as service data as well, so there it is kept (it says who requested).
// - Presence (see Presence below) was judged from the tables: what the gateway always knows is
//   kRequired; REQUESTER is kRequiredMayBeEmpty because an unauthenticated request has no
//   requester name; what a request may omit (DURATION, FREQUENCY, ...) and ASSIGNMENT_ID (there is
//   no Parlay assignment over SIP/IMS) are kOptional.
// - Failed operations (EventKind::kOperation with a status other than VALID): a kRequired
//   attribute may be empty (the request may have been refused before the value was known), and
//   the service-exception attributes of table 6 (FAILURE_REASON, FAILURE_DETAIL, ERROR_TYPE) may
//   be added to the Terminal Status operations. Setting them with status VALID is refused.
// - DeliveryResult events: FAILURE_REASON and FAILURE_DETAIL are always written and must be empty
//   when the status is VALID ("Empty if the DeliveryStatus = Success").
// - Call Notification: CODE is "0" or "1" and must agree with the status ("0" iff VALID);
//   CALL_NOTIFICATION is "Sending" or "Error"; NETWORK_EVENT is the one matching the event type
//   (notifyBusy -> "NotifyBusy"); stopCallNotification has no CALLED_PARTY, and its CALL_EVENTS is
//   optional (the stop request names only the correlator).
// - Call Direction (not in the seeds; mirrors seeds/001): start/stopCallDirectionNotification
//   carry the attributes of start/stopCallNotification. handle* mirror table 2 with
//   CALL_DIRECTION in place of CALL_NOTIFICATION: "Sending" before the call to the application,
//   "Decided" when it answered in time, "Error" when the call failed or came late (CODE "1");
//   ACTION (optional: absent on "Sending") is the action carried out: "Continue", "EndCall",
//   "Route:<address>", or "Default:<action>" when calls.defaultAction applied. NETWORK_EVENT is
//   HandleCalledNumber, HandleBusy, ...
// - notifyAnswer / notifyCallEvent (3.x) are call events like notifyBusy (NETWORK_EVENT
//   NotifyAnswer / NotifyCallEvent). Every notify* delivery has the pair
//   notify<Event>_DeliveryAttempted / _DeliveryResult with the attributes of
//   statusNotification_* (TARGETS: the called party).
// - statusChanged_DeliveryAttempted/_DeliveryResult (seeds/000) are the TWSS names of the same
//   deliveries as statusNotification_*; they carry the statusNotification_* attributes.
// - getNotification / listNotifications (not in the seeds): reading the notification registry, one
//   notification or the requester's list (CAMARA GET .../subscriptions/{id} and GET
//   .../subscriptions; the SOAP interface has no read). Named like the operations they read
//   (startNotification / endNotification) and the core calls; they carry endNotification's
//   common attributes (REQUESTER, RESPONSE_TIME, START_TIME, SERVICE) and table 6 on failures.
//   getNotification: CORRELATOR (the id asked for) and TARGET (optional: the notification's
//   addresses, comma-separated, written when it was found); an unknown id is status INVALID with
//   SVC0002. listNotifications: NOTIFICATION_COUNT, the number of notifications answered.
// - The Terminal Status delivery events (statusNotification_*, statusChanged_*, statusError_*,
//   statusEnd_*) may carry SERVICE (optional, after the table's attributes): the service of the
//   notification's API when it is not Parlay X (a CAMARA subscription: camara.serviceName), so a
//   delivery names its service without the start record. Parlay X deliveries leave it out.
// - Values are strings; use formatUtcTime for START_TIME / NOTIFICATION_EXPIRES_AT and
//   formatDurationMs for RESPONSE_TIME / DURATION / FREQUENCY so every record reads alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "usage/ServiceData.h"
#include "usage/UsageRecord.h"
#include "usage/UtcTime.h"  // formatUtcTime for time attributes

namespace px {

enum class EventType {
  kGetStatus,
  kGetStatusForGroup,
  kStartNotification,
  kEndNotification,
  // Reading the notification registry (CAMARA subscriptions' GET).
  kGetNotification,
  kListNotifications,
  kStatusNotificationDeliveryAttempted,
  kStatusNotificationDeliveryResult,
  kStatusChangedDeliveryAttempted,
  kStatusChangedDeliveryResult,
  kStatusErrorDeliveryAttempted,
  kStatusErrorDeliveryResult,
  kStatusEndDeliveryAttempted,
  kStatusEndDeliveryResult,
  kStartCallNotification,
  kStopCallNotification,
  kNotifyCalledNumber,
  kNotifyBusy,
  kNotifyNotReachable,
  kNotifyNoAnswer,
  // Call Direction (docs/calls.md) and the 3.x call events.
  kStartCallDirectionNotification,
  kStopCallDirectionNotification,
  kHandleCalledNumber,
  kHandleBusy,
  kHandleNotReachable,
  kHandleNoAnswer,
  kNotifyAnswer,
  kNotifyCallEvent,
  // Deliveries of call notifications, as the Terminal Status delivery pairs.
  kNotifyCalledNumberDeliveryAttempted,
  kNotifyCalledNumberDeliveryResult,
  kNotifyBusyDeliveryAttempted,
  kNotifyBusyDeliveryResult,
  kNotifyNotReachableDeliveryAttempted,
  kNotifyNotReachableDeliveryResult,
  kNotifyNoAnswerDeliveryAttempted,
  kNotifyNoAnswerDeliveryResult,
  kNotifyAnswerDeliveryAttempted,
  kNotifyAnswerDeliveryResult,
  kNotifyCallEventDeliveryAttempted,
  kNotifyCallEventDeliveryResult,
};

// EVENTTYPE column text of each event type.
namespace event {
inline constexpr std::string_view kGetStatus = "getStatus";
inline constexpr std::string_view kGetStatusForGroup = "getStatusForGroup";
inline constexpr std::string_view kStartNotification = "startNotification";
inline constexpr std::string_view kEndNotification = "endNotification";
inline constexpr std::string_view kGetNotification = "getNotification";
inline constexpr std::string_view kListNotifications = "listNotifications";
inline constexpr std::string_view kStatusNotificationDeliveryAttempted =
    "statusNotification_DeliveryAttempted";
inline constexpr std::string_view kStatusNotificationDeliveryResult =
    "statusNotification_DeliveryResult";
inline constexpr std::string_view kStatusChangedDeliveryAttempted =
    "statusChanged_DeliveryAttempted";
inline constexpr std::string_view kStatusChangedDeliveryResult = "statusChanged_DeliveryResult";
inline constexpr std::string_view kStatusErrorDeliveryAttempted = "statusError_DeliveryAttempted";
inline constexpr std::string_view kStatusErrorDeliveryResult = "statusError_DeliveryResult";
inline constexpr std::string_view kStatusEndDeliveryAttempted = "statusEnd_DeliveryAttempted";
inline constexpr std::string_view kStatusEndDeliveryResult = "statusEnd_DeliveryResult";
inline constexpr std::string_view kStartCallNotification = "startCallNotification";
inline constexpr std::string_view kStopCallNotification = "stopCallNotification";
inline constexpr std::string_view kNotifyCalledNumber = "notifyCalledNumber";
inline constexpr std::string_view kNotifyBusy = "notifyBusy";
inline constexpr std::string_view kNotifyNotReachable = "notifyNotReachable";
inline constexpr std::string_view kNotifyNoAnswer = "notifyNoAnswer";
inline constexpr std::string_view kStartCallDirectionNotification =
    "startCallDirectionNotification";
inline constexpr std::string_view kStopCallDirectionNotification = "stopCallDirectionNotification";
inline constexpr std::string_view kHandleCalledNumber = "handleCalledNumber";
inline constexpr std::string_view kHandleBusy = "handleBusy";
inline constexpr std::string_view kHandleNotReachable = "handleNotReachable";
inline constexpr std::string_view kHandleNoAnswer = "handleNoAnswer";
inline constexpr std::string_view kNotifyAnswer = "notifyAnswer";
inline constexpr std::string_view kNotifyCallEvent = "notifyCallEvent";
inline constexpr std::string_view kNotifyCalledNumberDeliveryAttempted =
    "notifyCalledNumber_DeliveryAttempted";
inline constexpr std::string_view kNotifyCalledNumberDeliveryResult =
    "notifyCalledNumber_DeliveryResult";
inline constexpr std::string_view kNotifyBusyDeliveryAttempted = "notifyBusy_DeliveryAttempted";
inline constexpr std::string_view kNotifyBusyDeliveryResult = "notifyBusy_DeliveryResult";
inline constexpr std::string_view kNotifyNotReachableDeliveryAttempted =
    "notifyNotReachable_DeliveryAttempted";
inline constexpr std::string_view kNotifyNotReachableDeliveryResult =
    "notifyNotReachable_DeliveryResult";
inline constexpr std::string_view kNotifyNoAnswerDeliveryAttempted =
    "notifyNoAnswer_DeliveryAttempted";
inline constexpr std::string_view kNotifyNoAnswerDeliveryResult = "notifyNoAnswer_DeliveryResult";
inline constexpr std::string_view kNotifyAnswerDeliveryAttempted = "notifyAnswer_DeliveryAttempted";
inline constexpr std::string_view kNotifyAnswerDeliveryResult = "notifyAnswer_DeliveryResult";
inline constexpr std::string_view kNotifyCallEventDeliveryAttempted =
    "notifyCallEvent_DeliveryAttempted";
inline constexpr std::string_view kNotifyCallEventDeliveryResult = "notifyCallEvent_DeliveryResult";
}  // namespace event

// SERVICEDATA keys, spelt as the source documents spell them.
namespace attr {
inline constexpr std::string_view kAssignmentId = "ASSIGNMENT_ID";
inline constexpr std::string_view kRequester = "REQUESTER";
inline constexpr std::string_view kResponseTime = "RESPONSE_TIME";
inline constexpr std::string_view kStartTime = "START_TIME";
inline constexpr std::string_view kService = "SERVICE";
inline constexpr std::string_view kTarget = "TARGET";
inline constexpr std::string_view kDuration = "DURATION";
inline constexpr std::string_view kNotificationExpiresAt = "NOTIFICATION_EXPIRES_AT";
inline constexpr std::string_view kCorrelator = "CORRELATOR";
inline constexpr std::string_view kNotificationEndpoint = "NOTIFICATION_ENDPOINT";
inline constexpr std::string_view kFrequency = "FREQUENCY";
inline constexpr std::string_view kNotificationLimit = "NOTIFICATION LIMIT";  // sic: a space
inline constexpr std::string_view kNotificationCount = "NOTIFICATION_COUNT";  // not in the seeds
inline constexpr std::string_view kFailureReason = "FAILURE_REASON";
inline constexpr std::string_view kFailureDetail = "FAILURE_DETAIL";
inline constexpr std::string_view kErrorType = "ERROR_TYPE";
inline constexpr std::string_view kTargets = "TARGETS";
inline constexpr std::string_view kDeliveryStatus = "DELIVERY_STATUS";
inline constexpr std::string_view kAppCorrelationId = "APP_CORRELATION_ID";
inline constexpr std::string_view kMessageId = "MESSAGE_ID";
inline constexpr std::string_view kReason = "REASON";
inline constexpr std::string_view kCode = "CODE";
inline constexpr std::string_view kMethod = "METHOD";
inline constexpr std::string_view kCalledParty = "CALLED_PARTY";
inline constexpr std::string_view kCallEvents = "CALL_EVENTS";
inline constexpr std::string_view kCallNotification = "CALL_NOTIFICATION";
inline constexpr std::string_view kCaller = "CALLER";
inline constexpr std::string_view kNetworkEvent = "NETWORK_EVENT";
inline constexpr std::string_view kCallDirection = "CALL_DIRECTION";
inline constexpr std::string_view kAction = "ACTION";
}  // namespace attr

enum class EventKind {
  kOperation,  // an incoming request (Terminal Status operations, start/stopCallNotification)
  kDelivery,   // an outgoing notification delivery (*_DeliveryAttempted / *_DeliveryResult)
  kCallEvent,  // a network call event turned into a notification (notifyBusy, ...)
};

enum class Presence {
  kRequired,            // must be set and not empty (may be empty for failed operations)
  kRequiredMayBeEmpty,  // must be set, "" allowed
  kOptional,            // may be left out; "" allowed
  kFailureOnly,         // table 6: optional, refused when the status is VALID
};

struct AttributeSpec {
  std::string_view name;
  Presence presence = Presence::kRequired;
  bool emptyWhenValid = false;                  // must be "" when the status is VALID
  std::vector<std::string_view> allowedValues;  // empty: any value
};

struct EventSpec {
  EventType type;
  std::string_view name;  // EVENTTYPE text
  EventKind kind;
  std::vector<AttributeSpec> attributes;  // every attribute the event type may carry, in
                                          // the order build() writes them (the source's order)
};

// All event types, in EventType order (eventCatalogue()[size_t(t)].type == t).
const std::vector<EventSpec>& eventCatalogue();
const EventSpec& eventSpec(EventType type);
std::string_view eventTypeName(EventType type);
std::optional<EventType> eventTypeFromName(std::string_view name);

// Checks decoded service data against the catalogue: unknown, missing, empty-but-required,
// disallowed values and the status rules above. nullopt when valid, else the reason.
std::optional<std::string> checkServiceData(EventType type, const servicedata::Pairs& pairs,
                                            UsageStatus status);

// Builds the SERVICEDATA text of one record:
//   ServiceDataBuilder b(EventType::kGetStatus);
//   b.set(attr::kRequester, "app1").set(attr::kTarget, "tel:+15551234567");
//   std::string text = b.build(UsageStatus::kValid);
// A value set twice is replaced. build() writes the attributes in catalogue order and can be
// called again (e.g. with another status).
class ServiceDataBuilder {
 public:
  explicit ServiceDataBuilder(EventType type);

  // Throws std::invalid_argument naming the event type and the attribute when the event type
  // does not list it.
  ServiceDataBuilder& set(std::string_view attribute, std::string value);
  ServiceDataBuilder& setTime(std::string_view attribute, int64_t msSinceEpoch);  // formatUtcTime
  ServiceDataBuilder& setDurationMs(std::string_view attribute, int64_t ms);  // formatDurationMs

  bool has(std::string_view attribute) const;
  EventType eventType() const { return spec_->type; }

  // Throws std::invalid_argument (with the reason of checkServiceData) when the data breaks a
  // catalogue rule for this status, e.g. a required attribute is missing.
  std::string build(UsageStatus status) const;

 private:
  size_t indexOf(std::string_view attribute) const;  // attributes.size() when not listed

  const EventSpec* spec_;
  std::vector<std::optional<std::string>> values_;  // parallel to spec_->attributes
};

// Decimal milliseconds, e.g. "1500". Negative: std::invalid_argument (a clock bug; measure
// durations with a steady clock).
std::string formatDurationMs(int64_t ms);

}  // namespace px
