// The values of Parlay X Call Notification / Call Direction (ES 202 391-3, 3.x drafts) as the core
// uses them, shared by the SIP application-server role (SIP thread), the registrations (JS
// thread) and the binding. Plain values only: they cross threads by copy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace px::call {

// Parlay X CallEvents, in the order of the 3_8 schema. Answer and Disconnected are 3.x.
enum class CallEvent : uint8_t {
  kBusy,
  kNotReachable,
  kNoAnswer,
  kCalledNumber,
  kAnswer,
  kDisconnected,
};
inline constexpr size_t kCallEventCount = 6;

// "Busy", "NotReachable", ... (the CallEvents enumeration values).
const char* toString(CallEvent event);
std::optional<CallEvent> callEventFromString(std::string_view text);

// A set of CallEvents (bit i = CallEvent i). Empty criteria in a request means every event.
class CallEventSet {
 public:
  constexpr CallEventSet() = default;
  static constexpr CallEventSet all() { return CallEventSet((1u << kCallEventCount) - 1); }
  static constexpr CallEventSet fromBits(uint8_t bits) {
    return CallEventSet(bits & ((1u << kCallEventCount) - 1));
  }
  constexpr bool has(CallEvent e) const { return (bits_ >> static_cast<unsigned>(e)) & 1u; }
  constexpr CallEventSet with(CallEvent e) const {
    return CallEventSet(static_cast<uint8_t>(bits_ | (1u << static_cast<unsigned>(e))));
  }
  constexpr CallEventSet operator|(CallEventSet o) const {
    return CallEventSet(static_cast<uint8_t>(bits_ | o.bits_));
  }
  constexpr CallEventSet operator&(CallEventSet o) const {
    return CallEventSet(static_cast<uint8_t>(bits_ & o.bits_));
  }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint8_t bits() const { return bits_; }
  constexpr bool operator==(CallEventSet o) const { return bits_ == o.bits_; }

 private:
  constexpr explicit CallEventSet(uint8_t bits) : bits_(bits) {}
  uint8_t bits_ = 0;
};

// startCallNotification (the application is told) or startCallDirectionNotification (the
// application decides, the call waits).
enum class RegistrationKind : uint8_t { kNotification, kDirection };
const char* toString(RegistrationKind kind);  // "notification" / "direction"

// Who calls whom, as the notify*/handle* operations carry it.
struct CallParties {
  std::string caller;         // callingParticipant: P-Asserted-Identity, else From URI
  std::string callerName;     // callingParticipantName: its display name ("" when none)
  std::string called;         // calledParticipant: the canonical address matched (Address.h)
  std::string callSessionId;  // callSessionIdentifier: the gateway's id of the call
};

// The application's answer to handle* (Parlay X Action), or the configured default.
struct CallAction {
  enum class Kind : uint8_t { kContinue, kRoute, kEndCall };
  Kind kind = Kind::kContinue;
  std::string routingAddress;  // kRoute: the new Request-URI (a tel/sip/sips address)
};
const char* toString(CallAction::Kind kind);  // "Continue" / "Route" / "EndCall"
std::optional<CallAction::Kind> callActionFromString(std::string_view text);

// Something happened to a call whose called party is watched (SIP thread -> JS thread).
struct CallEventRecord {
  uint64_t callRef = 0;  // the gateway's id of the call (unique per process)
  CallEvent event = CallEvent::kCalledNumber;
  CallParties parties;
  int sipStatus = 0;        // the final response that caused it (0 for CalledNumber/timer events)
  std::string description;  // EventDescription.description, e.g. "486 Busy Here"
  uint64_t atMs = 0;        // wall clock, ms since the epoch
};

// A watched call waits for a decision of Call Direction (SIP thread -> JS thread). The JS side
// answers with CallServer::decide(callRef, decisionId, action) before deadlineMs (steady clock
// of the SIP side is not shared: the role keeps its own deadline and applies the configured
// default action when it passes; a late decide() is then ignored and counted).
struct DecisionRequest {
  uint64_t callRef = 0;
  uint64_t decisionId = 0;  // one call may ask more than once (CalledNumber, then Busy, ...)
  CallEvent event = CallEvent::kCalledNumber;
  CallParties parties;
  int sipStatus = 0;
  uint32_t timeoutMs = 0;  // how long the role waits before the default action
};

}  // namespace px::call
