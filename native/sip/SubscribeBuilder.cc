#include "sip/SubscribeBuilder.h"

#include <algorithm>

#include "sip/SipRouting.h"

namespace px {

SubscribeBuilder::SubscribeBuilder(const SipConfig& sip, uint32_t subscriptionExpiresSec,
                                   const EventPackage& package)
    : watcherUri_(sip.watcherUri),
      presenceServerUri_(sip.presenceServerUri),
      subscriptionExpiresSec_(std::max<uint32_t>(1, subscriptionExpiresSec)),
      home_(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t)))) {
  if (!home_) return;
  su_home_t* home = home_.get();
  route_ = sip_route_make(home, routeFor(sip.presenceServerUri).c_str());
  event_ = sip_event_make(home, package.event.c_str());
  accept_ = sip_accept_make(home, package.accept.c_str());
  if (!package.supported.empty()) supported_ = sip_supported_make(home, package.supported.c_str());
  expiresZero_ = sip_expires_make(home, "0");
  expiresRequested_ = sip_expires_make(home, std::to_string(subscriptionExpiresSec_).c_str());
  userAgent_ = sip_user_agent_make(home, sip.userAgent.c_str());
  ok_ = route_ && event_ && accept_ && (package.supported.empty() || supported_) && expiresZero_ &&
        expiresRequested_ && userAgent_;
}

nta_outgoing_t* SubscribeBuilder::send(nta_agent_t* agent, nta_leg_t* leg, nta_response_f* callback,
                                       nta_outgoing_magic_t* magic,
                                       const SubscribeRequest& request) {
  const NextHop hop = nextHop(request.uri, request.remoteTarget, request.routes, presenceServerUri_,
                              request.inDialog);
  const std::string from = "<" + watcherUri_ + ">;tag=" + std::string(request.fromTag);
  std::string to = "<" + std::string(request.uri) + ">";
  if (!request.toTag.empty()) to += ";tag=" + std::string(request.toTag);
  const std::string callId(request.callId);
  const std::string cseq = std::to_string(request.cseq) + " SUBSCRIBE";
  const std::string requestUri(hop.requestUri);
  const std::string firstHop(hop.firstHop);
  const std::string route(hop.route);
  // The watcher sends two values only, both pre-parsed: 0 and the requested duration.
  sip_expires_t* expires = request.expiresSec == 0 ? expiresZero_ : expiresRequested_;
  const bool stateless = callback == nullptr;
  return nta_outgoing_tcreate(
      leg, callback, magic, URL_STRING_MAKE(firstHop.c_str()), sip_method_subscribe, "SUBSCRIBE",
      URL_STRING_MAKE(requestUri.c_str()), NTATAG_STATELESS(stateless),
      SIPTAG_ROUTE(hop.presenceServerRoute ? route_ : nullptr),
      SIPTAG_ROUTE_STR(route.empty() ? nullptr : route.c_str()), SIPTAG_FROM_STR(from.c_str()),
      SIPTAG_TO_STR(to.c_str()), SIPTAG_CALL_ID_STR(callId.c_str()), SIPTAG_CSEQ_STR(cseq.c_str()),
      SIPTAG_CONTACT(nta_agent_contact(agent)), SIPTAG_EVENT(event_), SIPTAG_ACCEPT(accept_),
      SIPTAG_SUPPORTED(supported_), SIPTAG_EXPIRES(expires), SIPTAG_USER_AGENT(userAgent_),
      TAG_END());
}

}  // namespace px
