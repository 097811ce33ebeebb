// PIDF documents and addresses shared by the SIP watcher suites (fetches and subscriptions).
#pragma once

#include <string>

namespace px::test {

inline constexpr const char* kTarget = "sip:alice@example.test";
inline constexpr const char* kWatcherUri = "sip:watcher@gateway.test";

// A PIDF document for alice with one tuple of the given <basic>, plus optional person XML.
inline std::string pidf(const std::string& basic, const std::string& person = "") {
  return "<?xml version='1.0' encoding='UTF-8'?>"
         "<presence xmlns='urn:ietf:params:xml:ns:pidf'"
         " xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'"
         " xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:alice@example.test'>"
         "<tuple id='t1'><status><basic>" +
         basic + "</basic></status></tuple>" + person + "</presence>";
}
inline const std::string kOpen = pidf("open");
inline const std::string kClosed = pidf("closed");
inline const std::string kOnThePhone =
    pidf("open",
         "<dm:person id='p1'><rpid:activities><rpid:on-the-phone/></rpid:activities>"
         "</dm:person>");

}  // namespace px::test
