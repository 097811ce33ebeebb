// Where a request of the presence watcher goes: route sets, first hops and URI hosts. Pure (no
// Sofia): the one place that decides the Request-URI, Route and first hop of every SUBSCRIBE.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace px {

// A dialog's route set (RFC 3261 §12.1), kept only when the dialog has one.
struct RouteSet {
  std::string header;    // Route header value, in the order in-dialog requests carry it
  std::string firstHop;  // URI of its first entry: where in-dialog requests are sent
};

// Where one request goes. The views point into the inputs of nextHop().
struct NextHop {
  std::string_view requestUri;
  std::string_view firstHop;  // given to NTA as route_url
  std::string_view route;     // Route header text; "" for none
  bool presenceServerRoute;   // carry the presence server's pre-parsed Route instead of `route`
};

// Outside a dialog (no remote tag): via the presence server. Within one (RFC 3261 §12.2.1.1):
// the first route (loose routing assumed: ";lr"), else the remote target; a dialog whose 2xx had
// no Contact goes the initial way, via the presence server.
NextHop nextHop(std::string_view uri, std::string_view remoteTarget, const RouteSet* routes,
                std::string_view presenceServerUri, bool inDialog);

// Route entries as printed ("<sip:a;lr>", ...), in the order received → the route set: reversed
// for the 2xx we received as UAC, in order for a NOTIFY we received as UAS (RFC 3261 §12.1.2 /
// §12.1.1). nullptr when there are no entries.
std::unique_ptr<RouteSet> routeSetFrom(std::vector<std::string> entries, bool reverse);

// The host of a SIP URI ("sip:user@[::1]:5060;lr" -> "::1"), "" when there is none.
std::string uriHost(std::string_view uri);

// The presence server as a loose Route entry: "<uri;lr>".
std::string routeFor(const std::string& presenceServerUri);

// An IPv6 literal in brackets, for a URI.
std::string hostForUri(const std::string& host);

}  // namespace px
