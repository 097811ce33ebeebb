// Call Notification / Call Direction (Parlay X part 3 over SIP/IMS): the application-server SIP
// port the S-CSCF's filter criteria point at, how SIP outcomes map onto call events (the three
// code lists of TWSS), the Call Direction deadline and default action. Every scalar key is a row
// of ConfigSchema.cc; the lists are read there too (see docs/configuration.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace px {

struct CallsConfig {
  bool enabled = true;  // false: no AS port, the call operations answer SVC0001
  // The AS agent: its own port and transports on the SIP thread (UDP and TCP: Sofia switches an
  // INVITE over 1300 bytes to TCP).
  std::string bindHost = "127.0.0.1";
  uint16_t port = 5090;  // 0 = any free port (tests)
  // Outcome -> event (docs/configuration.md, call-notification-notes §4). A final response is
  // Busy when in busyCodes; else NoAnswer when an 18x was seen and it is in noAnswerCodes; else
  // NotReachable when in notReachableCodes; else no event (2xx is Answer, 487 after the caller's
  // CANCEL nothing). A transaction timeout or transport error is NotReachable (no 18x) or
  // NoAnswer (after an 18x).
  std::vector<int> busyCodes = {486, 600};
  std::vector<int> noAnswerCodes = {408, 480};
  std::vector<int> notReachableCodes = {404, 408, 410, 480, 484, 485, 500, 501, 502, 503, 504, 604};
  // After the first 18x the gateway CANCELs the call and reports NoAnswer when no final answer
  // came within this many ms. 0 = off. Off for notification by default: it changes the call.
  uint32_t noAnswerTimeoutMs = 0;  // 0, 1000 .. 600000
  // Call Direction's handleNoAnswer needs the timer: used when a direction registration wants
  // NoAnswer for the called party (0 = off, NoAnswer then comes only from the code lists).
  uint32_t directionNoAnswerTimeoutMs = 30000;  // 0, 1000 .. 600000
  // handle* must answer within this; then defaultAction applies (well under the S-CSCF's AS
  // timeout: ims_isc's isc_fr_timeout is 5 s).
  uint32_t decisionTimeoutMs = 1500;       // 50 .. 20000
  std::string defaultAction = "Continue";  // Continue | EndCall
  // EndCall: the final response sent to the caller.
  uint32_t endCallStatus = 603;  // 400 .. 699
  uint32_t maxCalls = 10000;     // 1 .. 1000000 calls proxied at once; more get 503
  std::string notificationServiceName = "PX_CN_SIP";  // SERVICE of Call Notification records
  std::string directionServiceName = "PX_CD_SIP";     // SERVICE of Call Direction records
};

}  // namespace px
