// Where the gateway may open outbound HTTP connections (notification endpoints today; CAMARA
// sinks and call-direction endpoints later). By default every destination that is not a public
// unicast address is refused, so that an application cannot aim the gateway at the operator's
// own network (SSRF); this section lists the exceptions an operator allows. The JS guard
// (js/outbound/DestinationPolicy.js) applies it, at request time and again at connect time.
#pragma once

#include <string>
#include <vector>

namespace px {

struct OutboundConfig {
  // Exceptions to the refused ranges: CIDRs ("10.20.0.0/16", "fd00::/8"), single IP addresses
  // (stored as /32 or /128) and host names (stored lower-case; such a host is allowed whatever
  // it resolves to). Stored normalised: CIDRs as "<address>/<prefix>", names as written.
  std::vector<std::string> allowCidrs;
  std::vector<std::string> allowHosts;
  // The gateway's own listeners (HTTP and SIP ports on loopback, unspecified or local addresses)
  // are refused even when an allowed range covers them; true lifts that.
  bool allowOwnListeners = false;
};

}  // namespace px
