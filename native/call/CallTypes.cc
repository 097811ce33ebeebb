#include "call/CallTypes.h"

#include <array>

namespace px::call {

namespace {
constexpr std::array<const char*, kCallEventCount> kEventNames = {
    "Busy", "NotReachable", "NoAnswer", "CalledNumber", "Answer", "Disconnected"};
constexpr std::array<const char*, 3> kActionNames = {"Continue", "Route", "EndCall"};
}  // namespace

const char* toString(CallEvent event) {
  return kEventNames.at(static_cast<size_t>(event));
}

std::optional<CallEvent> callEventFromString(std::string_view text) {
  for (size_t i = 0; i < kEventNames.size(); ++i) {
    if (text == kEventNames[i]) return static_cast<CallEvent>(i);
  }
  return std::nullopt;
}

const char* toString(RegistrationKind kind) {
  return kind == RegistrationKind::kNotification ? "notification" : "direction";
}

const char* toString(CallAction::Kind kind) {
  return kActionNames.at(static_cast<size_t>(kind));
}

std::optional<CallAction::Kind> callActionFromString(std::string_view text) {
  for (size_t i = 0; i < kActionNames.size(); ++i) {
    if (text == kActionNames[i]) return static_cast<CallAction::Kind>(i);
  }
  return std::nullopt;
}

}  // namespace px::call
