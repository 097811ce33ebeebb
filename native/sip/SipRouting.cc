#include "sip/SipRouting.h"

#include <algorithm>
#include <utility>

namespace px {

NextHop nextHop(std::string_view uri, std::string_view remoteTarget, const RouteSet* routes,
                std::string_view presenceServerUri, bool inDialog) {
  NextHop hop{uri, presenceServerUri, {}, true};
  if (!inDialog) return hop;
  if (!remoteTarget.empty()) hop.requestUri = remoteTarget;
  if (routes) {
    hop.firstHop = routes->firstHop;
    hop.route = routes->header;
    hop.presenceServerRoute = false;
  } else if (!remoteTarget.empty()) {
    hop.firstHop = remoteTarget;
    hop.presenceServerRoute = false;
  }
  return hop;
}

std::unique_ptr<RouteSet> routeSetFrom(std::vector<std::string> entries, bool reverse) {
  if (entries.empty()) return nullptr;
  if (reverse) std::reverse(entries.begin(), entries.end());
  auto routes = std::make_unique<RouteSet>();
  for (const std::string& entry : entries) {
    if (!routes->header.empty()) routes->header += ", ";
    routes->header += entry;
  }
  const std::string& first = entries.front();
  const size_t open = first.find('<');
  const size_t close = first.find('>', open == std::string::npos ? 0 : open);
  routes->firstHop = open != std::string::npos && close != std::string::npos
                         ? first.substr(open + 1, close - open - 1)
                         : first.substr(0, first.find(';'));
  return routes;
}

std::string uriHost(std::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return "";
  std::string_view rest = uri.substr(colon + 1);
  rest = rest.substr(0, rest.find_first_of(";?>"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    return close == std::string_view::npos ? "" : std::string(rest.substr(1, close - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

std::string routeFor(const std::string& presenceServerUri) {
  std::string uri = presenceServerUri;
  if (uri.find(";lr") == std::string::npos) uri += ";lr";
  return "<" + uri + ">";
}

std::string hostForUri(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]";
  return host;
}

}  // namespace px
