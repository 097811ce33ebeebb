// What the presence roles read from Sofia's parsed messages: sources, responses, NOTIFY facts,
// route sets and bodies. Everything is copied out, so the pure state machine never sees Sofia.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/IpCidr.h"
#include "sip/Sofia.h"
#include "sip/SubscriptionSet.h"

namespace px {

// The address a SIP message came from (Sofia records it in the message), if known.
std::optional<IpCidr> sourceOf(msg_t* msg);
std::optional<IpCidr> responseSource(nta_outgoing_t* orq);

// Reads SIP text with the help of a scratch su_home (header → string).
class SipReader {
 public:
  SipReader();
  bool ok() const { return static_cast<bool>(home_); }

  // A SUBSCRIBE's final response (read it before destroying the transaction: that may free it).
  SubscribeAnswer readAnswer(nta_outgoing_t* orq, sip_t const* sip);

  // A NOTIFY for SubscriptionSet::onNotify; the result views `sip`. `event` is the subscribed
  // package (NotifyFacts::presenceEvent says whether the NOTIFY's Event is it).
  NotifyFacts readNotify(sip_t const* sip, const std::optional<IpCidr>& source,
                         std::string_view event = "presence");

  // The URI as text when it may be used as a request's target or route: printable, no white
  // space or control characters, and a sip:/sips: URI our address parser accepts (routing
  // parameters allowed); "" otherwise. What Sofia parsed leniently from the network is not
  // always what it can build a request from again.
  std::string usableUri(const url_t* url);
  bool routesUsable(const sip_record_route_t* rr);
  // Record-Route → route set (see routeSetFrom).
  std::unique_ptr<RouteSet> routeSet(const sip_record_route_t* rr, bool reverse);
  std::string urlString(const url_t* url);

 private:
  SuHome home_;
};

bool isPresenceEvent(sip_t const* sip);
// Event: <event> (the package name, parameters ignored).
bool isEvent(sip_t const* sip, std::string_view event);
std::string_view contentTypeOf(sip_t const* sip);
// The Content-Type with its parameters (a multipart body needs its boundary and start).
std::string fullContentTypeOf(sip_t const* sip);
std::string_view bodyOf(sip_t const* sip);

}  // namespace px
