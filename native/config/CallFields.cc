// calls.*: Call Notification and Call Direction (config/CallsConfig.h).
#include "config/SectionFields.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <utility>
#include "common/Ascii.h"
#include "config/ConfigValues.h"
#include "config/OutboundConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/TextSyntax.h"

#include "config/FieldBuilders.h"

namespace px::config {

namespace {

using namespace schema;

// calls.*Codes: SIP final response codes 300..699, no duplicates ([] = the event never comes
// from a code).
std::vector<int> readSipCodes(const YamlReader& yaml, const Item& item) {
  std::vector<int> codes;
  for (const Item& e : yaml.list(item)) {
    const int code = static_cast<int>(yaml.integer(e, 300, 699));
    if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
      yaml.fail(e, "duplicate code " + std::to_string(code));
    }
    codes.push_back(code);
  }
  return codes;
}

// A no-answer timer: 0 (off) or 1000..600000 ms.
void zeroOrAtLeastOneSecond(const FieldInput& in, uint32_t value) {
  if (in.present && value != 0 && value < 1000) {
    in.yaml.fail(in.at, "expected 0 (off) or 1000..600000, got " + std::to_string(value));
  }
}

}  // namespace

void addCallFields(std::vector<ConfigField>& f) {
  f.push_back(boolean("calls.enabled", PX_CONFIG_MEMBER(calls.enabled),
                      "Serve Call Notification / Call Direction: the AS SIP port; false = "
                      "their operations answer SVC0001."));
  f.push_back(text("calls.bindHost", PX_CONFIG_MEMBER(calls.bindHost), &readHost,
                   "Address of the application-server SIP port (UDP and TCP)."));
  f.push_back(port("calls.port", PX_CONFIG_MEMBER(calls.port),
                   "Application-server SIP port the S-CSCF's iFC points at; 0 = any free port."));
  f.push_back(structured(
      "calls.busyCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.busyCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as Busy; 300..699 each. Default [486, 600]."));
  f.push_back(structured(
      "calls.noAnswerCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.noAnswerCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as NoAnswer after an 18x; 300..699 each. Default [408, "
      "480]."));
  f.push_back(structured(
      "calls.notReachableCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.notReachableCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as NotReachable; 300..699 each. Default [404, 408, 410, "
      "480, 484, 485, 500..504, 604]."));
  f.push_back(
      then(integer("calls.noAnswerTimeoutMs", PX_CONFIG_MEMBER(calls.noAnswerTimeoutMs), 0, 600000,
                   "CANCEL a watched call this long after its first 18x and report "
                   "NoAnswer; 0 = off, else 1000..600000 ms."),
           [](const FieldInput& in, GatewayConfig& c) {
             zeroOrAtLeastOneSecond(in, c.calls.noAnswerTimeoutMs);
           }));
  f.push_back(then(integer("calls.directionNoAnswerTimeoutMs",
                           PX_CONFIG_MEMBER(calls.directionNoAnswerTimeoutMs), 0, 600000,
                           "The same timer for calls whose NoAnswer a Call Direction registration "
                           "decides; 0 = off, else 1000..600000 ms."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     zeroOrAtLeastOneSecond(in, c.calls.directionNoAnswerTimeoutMs);
                   }));
  f.push_back(integer("calls.decisionTimeoutMs", PX_CONFIG_MEMBER(calls.decisionTimeoutMs), 50,
                      20000,
                      "Longest wait for a Call Direction handle* answer, in ms; then "
                      "defaultAction."));
  {
    ConfigField action{"calls.defaultAction", FieldType::kEnum,
                       "Action when handle* fails or answers late: Continue or EndCall.",
                       std::monostate{}};
    action.values = {"Continue", "EndCall"};
    action.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name = in.at.node.IsScalar() ? in.at.node.Scalar() : "";
      if (name != "Continue" && name != "EndCall") {
        in.yaml.fail(in.at, "expected 'Continue' or 'EndCall', got '" + name + "'");
      }
      c.calls.defaultAction = name;
    };
    action.value = [](const GatewayConfig& c) -> FieldValue { return c.calls.defaultAction; };
    f.push_back(action);
  }
  f.push_back(integer("calls.endCallStatus", PX_CONFIG_MEMBER(calls.endCallStatus), 400, 699,
                      "Final response sent to the caller for EndCall."));
  f.push_back(integer("calls.maxCalls", PX_CONFIG_MEMBER(calls.maxCalls), 1, 1000000,
                      "Calls proxied at once; more are refused with 503."));
  f.push_back(text("calls.notificationServiceName", PX_CONFIG_MEMBER(calls.notificationServiceName),
                   &label127, "SERVICE of Call Notification usage records; 1..127 characters."));
  f.push_back(text("calls.directionServiceName", PX_CONFIG_MEMBER(calls.directionServiceName),
                   &label127, "SERVICE of Call Direction usage records; 1..127 characters."));
}

}  // namespace px::config
