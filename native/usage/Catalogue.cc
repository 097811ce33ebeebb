#include "usage/Catalogue.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "usage/UsageStatus.h"

namespace px {
namespace {

AttributeSpec req(std::string_view name) {
  return {name, Presence::kRequired, false, {}};
}
AttributeSpec reqMayBeEmpty(std::string_view name) {
  return {name, Presence::kRequiredMayBeEmpty, false, {}};
}
AttributeSpec opt(std::string_view name) {
  return {name, Presence::kOptional, false, {}};
}
AttributeSpec failureOnly(std::string_view name) {
  return {name, Presence::kFailureOnly, false, {}};
}
AttributeSpec oneOf(std::string_view name, std::vector<std::string_view> values) {
  return {name, Presence::kRequired, false, std::move(values)};
}
// FAILURE_REASON / FAILURE_DETAIL of a DeliveryResult: "Empty if the DeliveryStatus = Success".
AttributeSpec emptyOnSuccess(std::string_view name) {
  return {name, Presence::kRequiredMayBeEmpty, true, {}};
}

std::vector<AttributeSpec> withExceptions(std::vector<AttributeSpec> attributes) {
  attributes.push_back(failureOnly(attr::kFailureReason));
  attributes.push_back(failureOnly(attr::kFailureDetail));
  attributes.push_back(failureOnly(attr::kErrorType));
  return attributes;
}

// seeds/004 tables 2 and 3 (same names; for the group REQUESTER is the requester name and TARGET
// the formatted target addresses, comma-separated).
std::vector<AttributeSpec> getStatusAttributes() {
  return withExceptions({opt(attr::kAssignmentId), reqMayBeEmpty(attr::kRequester),
                         req(attr::kResponseTime), req(attr::kStartTime), req(attr::kService),
                         req(attr::kTarget)});
}

// A Terminal Status delivery event's attributes: the table's, then the optional SERVICE of the
// notification's API (see the header).
std::vector<AttributeSpec> withService(std::vector<AttributeSpec> attributes) {
  attributes.push_back(opt(attr::kService));
  return attributes;
}

std::vector<AttributeSpec> statusNotificationAttempted() {  // table 7
  return withService({req(attr::kCorrelator), req(attr::kTargets), req(attr::kDeliveryStatus),
                      req(attr::kAppCorrelationId)});
}

// A call notification's attempt: one called party per notification (seeds/001 has no delivery
// table; these mirror statusEnd's, with the party the call was for).
std::vector<AttributeSpec> callNotificationAttempted() {
  return {req(attr::kCorrelator), req(attr::kCalledParty), req(attr::kAppCorrelationId)};
}

std::vector<AttributeSpec> deliveryResult() {  // tables 8, 10, 12
  return {emptyOnSuccess(attr::kFailureReason), emptyOnSuccess(attr::kFailureDetail),
          req(attr::kAppCorrelationId)};
}

std::vector<AttributeSpec> statusDeliveryResult() {  // tables 8, 10, 12 with SERVICE
  return withService(deliveryResult());
}

// seeds/001 table 2; NETWORK_EVENT is fixed by the event type.
std::vector<AttributeSpec> callEvent(std::string_view networkEvent) {
  return {oneOf(attr::kCode, {"0", "1"}), oneOf(attr::kCallNotification, {"Sending", "Error"}),
          req(attr::kCorrelator),
          reqMayBeEmpty(attr::kCaller),  // a withheld caller id
          req(attr::kCalledParty),        oneOf(attr::kNetworkEvent, {networkEvent})};
}

// callEvent's counterpart for Call Direction's handle* (see the header).
std::vector<AttributeSpec> directionEvent(std::string_view networkEvent) {
  return {oneOf(attr::kCode, {"0", "1"}),
          oneOf(attr::kCallDirection, {"Sending", "Decided", "Error"}),
          req(attr::kCorrelator),
          reqMayBeEmpty(attr::kCaller),
          req(attr::kCalledParty),
          oneOf(attr::kNetworkEvent, {networkEvent}),
          opt(attr::kAction)};
}

std::vector<AttributeSpec> startCallAttributes() {
  return {oneOf(attr::kCode, {"0", "1"}), reqMayBeEmpty(attr::kRequester), req(attr::kMethod),
          req(attr::kCorrelator),         req(attr::kCalledParty),         req(attr::kCallEvents)};
}

std::vector<AttributeSpec> stopCallAttributes() {
  return {oneOf(attr::kCode, {"0", "1"}), reqMayBeEmpty(attr::kRequester), req(attr::kMethod),
          req(attr::kCorrelator), opt(attr::kCallEvents)};
}

std::vector<EventSpec> makeCatalogue() {
  using K = EventKind;
  std::vector<EventSpec> c;
  c.push_back({EventType::kGetStatus, event::kGetStatus, K::kOperation, getStatusAttributes()});
  c.push_back({EventType::kGetStatusForGroup, event::kGetStatusForGroup, K::kOperation,
               getStatusAttributes()});
  c.push_back(
      {EventType::kStartNotification, event::kStartNotification, K::kOperation,
       withExceptions({reqMayBeEmpty(attr::kRequester), req(attr::kService), opt(attr::kDuration),
                       req(attr::kNotificationExpiresAt), req(attr::kTarget),
                       opt(attr::kAssignmentId), req(attr::kResponseTime), req(attr::kStartTime),
                       req(attr::kCorrelator), req(attr::kNotificationEndpoint),
                       opt(attr::kFrequency), opt(attr::kNotificationLimit)})});
  c.push_back({EventType::kEndNotification, event::kEndNotification, K::kOperation,
               withExceptions({opt(attr::kAssignmentId), reqMayBeEmpty(attr::kRequester),
                               req(attr::kResponseTime), req(attr::kStartTime),
                               req(attr::kCorrelator), req(attr::kService)})});
  c.push_back({EventType::kGetNotification, event::kGetNotification, K::kOperation,
               withExceptions({reqMayBeEmpty(attr::kRequester), req(attr::kResponseTime),
                               req(attr::kStartTime), req(attr::kCorrelator), req(attr::kService),
                               opt(attr::kTarget)})});
  c.push_back({EventType::kListNotifications, event::kListNotifications, K::kOperation,
               withExceptions({reqMayBeEmpty(attr::kRequester), req(attr::kResponseTime),
                               req(attr::kStartTime), req(attr::kService),
                               req(attr::kNotificationCount)})});
  c.push_back({EventType::kStatusNotificationDeliveryAttempted,
               event::kStatusNotificationDeliveryAttempted, K::kDelivery,
               statusNotificationAttempted()});
  c.push_back({EventType::kStatusNotificationDeliveryResult,
               event::kStatusNotificationDeliveryResult, K::kDelivery, statusDeliveryResult()});
  c.push_back({EventType::kStatusChangedDeliveryAttempted, event::kStatusChangedDeliveryAttempted,
               K::kDelivery, statusNotificationAttempted()});
  c.push_back({EventType::kStatusChangedDeliveryResult, event::kStatusChangedDeliveryResult,
               K::kDelivery, statusDeliveryResult()});
  c.push_back(
      {EventType::kStatusErrorDeliveryAttempted, event::kStatusErrorDeliveryAttempted, K::kDelivery,
       withService({req(attr::kCorrelator), reqMayBeEmpty(attr::kTarget), req(attr::kMessageId),
                    req(attr::kReason), req(attr::kAppCorrelationId)})});
  c.push_back({EventType::kStatusErrorDeliveryResult, event::kStatusErrorDeliveryResult,
               K::kDelivery, statusDeliveryResult()});
  c.push_back({EventType::kStatusEndDeliveryAttempted, event::kStatusEndDeliveryAttempted,
               K::kDelivery, withService({req(attr::kCorrelator), req(attr::kAppCorrelationId)})});
  c.push_back({EventType::kStatusEndDeliveryResult, event::kStatusEndDeliveryResult, K::kDelivery,
               statusDeliveryResult()});
  c.push_back({EventType::kStartCallNotification, event::kStartCallNotification, K::kOperation,
               startCallAttributes()});
  c.push_back({EventType::kStopCallNotification, event::kStopCallNotification, K::kOperation,
               stopCallAttributes()});
  c.push_back({EventType::kNotifyCalledNumber, event::kNotifyCalledNumber, K::kCallEvent,
               callEvent("NotifyCalledNumber")});
  c.push_back({EventType::kNotifyBusy, event::kNotifyBusy, K::kCallEvent, callEvent("NotifyBusy")});
  c.push_back({EventType::kNotifyNotReachable, event::kNotifyNotReachable, K::kCallEvent,
               callEvent("NotifyNotReachable")});
  c.push_back({EventType::kNotifyNoAnswer, event::kNotifyNoAnswer, K::kCallEvent,
               callEvent("NotifyNoAnswer")});
  c.push_back({EventType::kStartCallDirectionNotification, event::kStartCallDirectionNotification,
               K::kOperation, startCallAttributes()});
  c.push_back({EventType::kStopCallDirectionNotification, event::kStopCallDirectionNotification,
               K::kOperation, stopCallAttributes()});
  c.push_back({EventType::kHandleCalledNumber, event::kHandleCalledNumber, K::kCallEvent,
               directionEvent("HandleCalledNumber")});
  c.push_back(
      {EventType::kHandleBusy, event::kHandleBusy, K::kCallEvent, directionEvent("HandleBusy")});
  c.push_back({EventType::kHandleNotReachable, event::kHandleNotReachable, K::kCallEvent,
               directionEvent("HandleNotReachable")});
  c.push_back({EventType::kHandleNoAnswer, event::kHandleNoAnswer, K::kCallEvent,
               directionEvent("HandleNoAnswer")});
  c.push_back(
      {EventType::kNotifyAnswer, event::kNotifyAnswer, K::kCallEvent, callEvent("NotifyAnswer")});
  c.push_back({EventType::kNotifyCallEvent, event::kNotifyCallEvent, K::kCallEvent,
               callEvent("NotifyCallEvent")});
  const std::pair<EventType, std::string_view> callDeliveries[] = {
      {EventType::kNotifyCalledNumberDeliveryAttempted,
       event::kNotifyCalledNumberDeliveryAttempted},
      {EventType::kNotifyCalledNumberDeliveryResult, event::kNotifyCalledNumberDeliveryResult},
      {EventType::kNotifyBusyDeliveryAttempted, event::kNotifyBusyDeliveryAttempted},
      {EventType::kNotifyBusyDeliveryResult, event::kNotifyBusyDeliveryResult},
      {EventType::kNotifyNotReachableDeliveryAttempted,
       event::kNotifyNotReachableDeliveryAttempted},
      {EventType::kNotifyNotReachableDeliveryResult, event::kNotifyNotReachableDeliveryResult},
      {EventType::kNotifyNoAnswerDeliveryAttempted, event::kNotifyNoAnswerDeliveryAttempted},
      {EventType::kNotifyNoAnswerDeliveryResult, event::kNotifyNoAnswerDeliveryResult},
      {EventType::kNotifyAnswerDeliveryAttempted, event::kNotifyAnswerDeliveryAttempted},
      {EventType::kNotifyAnswerDeliveryResult, event::kNotifyAnswerDeliveryResult},
      {EventType::kNotifyCallEventDeliveryAttempted, event::kNotifyCallEventDeliveryAttempted},
      {EventType::kNotifyCallEventDeliveryResult, event::kNotifyCallEventDeliveryResult},
  };
  // Attempted / Result alternate, as the Terminal Status pairs.
  for (size_t i = 0; i < std::size(callDeliveries); ++i) {
    c.push_back({callDeliveries[i].first, callDeliveries[i].second, K::kDelivery,
                 i % 2 == 0 ? callNotificationAttempted() : deliveryResult()});
  }
  for (size_t i = 0; i < c.size(); ++i) {
    if (static_cast<size_t>(c[i].type) != i) throw std::logic_error("catalogue out of order");
  }
  return c;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  out.append(text);
  out.push_back('\'');
  return out;
}

// The rules of the header for one attribute; `value` is nullptr when absent.
std::optional<std::string> checkAttribute(const EventSpec& spec, const AttributeSpec& a,
                                          const std::string* value, UsageStatus status) {
  const bool valid = status == UsageStatus::kValid;
  Presence presence = a.presence;
  if (presence == Presence::kRequired && spec.kind == EventKind::kOperation && !valid) {
    presence = Presence::kRequiredMayBeEmpty;
  }
  // Built only for an error: build() checks every attribute of every record.
  auto where = [&] { return "event type " + quoted(spec.name) + " attribute " + quoted(a.name); };
  if (value == nullptr) {
    if (presence == Presence::kRequired || presence == Presence::kRequiredMayBeEmpty) {
      return where() + " is required but missing";
    }
    return std::nullopt;
  }
  if (presence == Presence::kFailureOnly && valid) {
    return where() + " is only allowed when the status is not VALID";
  }
  if (presence == Presence::kRequired && value->empty()) {
    return where() + " must not be empty";
  }
  if (a.emptyWhenValid && valid && !value->empty()) {
    return where() + " must be empty when the status is VALID";
  }
  if (!a.allowedValues.empty() &&
      std::find(a.allowedValues.begin(), a.allowedValues.end(), *value) == a.allowedValues.end()) {
    return where() + " has the value " + quoted(*value) + ", not an allowed one";
  }
  if (a.name == attr::kCode && (*value == "0") != valid) {
    return where() + " is " + quoted(*value) + " but the status is " + toString(status);
  }
  return std::nullopt;
}

std::optional<std::string> checkStatus(UsageStatus status) {
  if (!usageStatusFromInt(static_cast<int>(status))) {
    return "status " + std::to_string(static_cast<int>(status)) + " is not a usage status";
  }
  return std::nullopt;
}

}  // namespace

const std::vector<EventSpec>& eventCatalogue() {
  static const std::vector<EventSpec> catalogue = makeCatalogue();  // immutable once built
  return catalogue;
}

const EventSpec& eventSpec(EventType type) {
  const auto& c = eventCatalogue();
  const auto i = static_cast<size_t>(type);
  if (i >= c.size()) throw std::invalid_argument("unknown usage event type");
  return c[i];
}

std::string_view eventTypeName(EventType type) {
  return eventSpec(type).name;
}

std::optional<EventType> eventTypeFromName(std::string_view name) {
  for (const auto& spec : eventCatalogue()) {
    if (spec.name == name) return spec.type;
  }
  return std::nullopt;
}

std::optional<std::string> checkServiceData(EventType type, const servicedata::Pairs& pairs,
                                            UsageStatus status) {
  if (auto error = checkStatus(status)) return error;
  const EventSpec& spec = eventSpec(type);
  std::vector<const std::string*> values(spec.attributes.size(), nullptr);
  for (const auto& [key, value] : pairs) {
    auto it = std::find_if(spec.attributes.begin(), spec.attributes.end(),
                           [&key = key](const AttributeSpec& a) { return a.name == key; });
    if (it == spec.attributes.end()) {
      return "event type " + quoted(spec.name) + " has no attribute " + quoted(key);
    }
    const auto i = static_cast<size_t>(it - spec.attributes.begin());
    if (values[i] != nullptr) return "attribute " + quoted(key) + " repeated";
    values[i] = &value;
  }
  for (size_t i = 0; i < spec.attributes.size(); ++i) {
    if (auto error = checkAttribute(spec, spec.attributes[i], values[i], status)) return error;
  }
  return std::nullopt;
}

ServiceDataBuilder::ServiceDataBuilder(EventType type)
    : spec_(&eventSpec(type)), values_(spec_->attributes.size()) {}

size_t ServiceDataBuilder::indexOf(std::string_view attribute) const {
  const auto& attributes = spec_->attributes;
  auto it = std::find_if(attributes.begin(), attributes.end(),
                         [attribute](const AttributeSpec& a) { return a.name == attribute; });
  return static_cast<size_t>(it - attributes.begin());
}

ServiceDataBuilder& ServiceDataBuilder::set(std::string_view attribute, std::string value) {
  const size_t i = indexOf(attribute);
  if (i == values_.size()) {
    throw std::invalid_argument("event type " + quoted(spec_->name) + " has no attribute " +
                                quoted(attribute));
  }
  values_[i] = std::move(value);
  return *this;
}

ServiceDataBuilder& ServiceDataBuilder::setTime(std::string_view attribute, int64_t msSinceEpoch) {
  return set(attribute, formatUtcTime(msSinceEpoch));
}

ServiceDataBuilder& ServiceDataBuilder::setDurationMs(std::string_view attribute, int64_t ms) {
  return set(attribute, formatDurationMs(ms));
}

bool ServiceDataBuilder::has(std::string_view attribute) const {
  const size_t i = indexOf(attribute);
  return i < values_.size() && values_[i].has_value();
}

std::string ServiceDataBuilder::build(UsageStatus status) const {
  if (auto error = checkStatus(status)) throw std::invalid_argument(*error);
  for (size_t i = 0; i < values_.size(); ++i) {
    const std::string* value = values_[i] ? &*values_[i] : nullptr;
    if (auto error = checkAttribute(*spec_, spec_->attributes[i], value, status)) {
      throw std::invalid_argument(*error);
    }
  }
  // Keys are unique and non-empty by construction, so encode's checks cannot fire; writing
  // directly avoids copying every value into a Pairs. Sized for the case without escapes.
  size_t size = 0;
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i]) size += spec_->attributes[i].name.size() + values_[i]->size() + 2;
  }
  std::string out;
  out.reserve(size);
  for (size_t i = 0; i < values_.size(); ++i) {
    if (!values_[i]) continue;
    if (!out.empty()) out.push_back(';');
    servicedata::appendEscaped(out, spec_->attributes[i].name);
    out.push_back('=');
    servicedata::appendEscaped(out, *values_[i]);
  }
  return out;
}

std::string formatDurationMs(int64_t ms) {
  if (ms < 0) throw std::invalid_argument("negative duration " + std::to_string(ms) + " ms");
  return std::to_string(ms);
}

}  // namespace px
