#include "sip/NotifySources.h"

#include <netdb.h>
#include <sys/socket.h>

#include "sip/SipRouting.h"

namespace px {

NotifySources NotifySources::resolve(const SipConfig& sip) {
  NotifySources out;
  out.check_ = sip.checkNotifySource;
  for (const std::string& text : sip.trustedNotifySources) {
    if (auto cidr = IpCidr::parse(text)) out.sources_.push_back(*cidr);
  }
  const std::string host = uriHost(sip.presenceServerUri);
  if (auto literal = IpCidr::parse(host)) {
    out.sources_.push_back(*literal);
    return out;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* list = nullptr;
  if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return out;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    if (auto address = IpCidr::fromSockaddr(ai->ai_addr)) out.sources_.push_back(*address);
  }
  ::freeaddrinfo(list);
  return out;
}

bool NotifySources::allowed(const std::optional<IpCidr>& source, const std::optional<IpCidr>& peer,
                            const std::string* remoteTarget, const std::string* firstHop) const {
  if (!check_) return true;
  if (!source) return false;
  for (const IpCidr& allowed : sources_) {
    if (allowed.contains(*source)) return true;
  }
  if (peer && peer->contains(*source)) return true;
  for (const std::string* uri : {remoteTarget, firstHop}) {
    if (!uri || uri->empty()) continue;
    if (auto host = IpCidr::parse(uriHost(*uri)); host && host->contains(*source)) return true;
  }
  return false;
}

}  // namespace px
