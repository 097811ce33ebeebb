// The one builder of SUBSCRIBE requests (fetches, new dialogs, refreshes, unsubscribes, the
// close-time Expires: 0). No NTA object outlives a transaction: in-dialog requests are built by
// hand (Call-ID, tags, CSeq, Route) on the agent's dialog-less leg, and their first hop is given
// to NTA explicitly as route_url (see nextHop in SipRouting.h).
#pragma once

#include <cstdint>
#include <string>

#include "config/GatewayConfig.h"
#include "presence/StatusSource.h"
#include "sip/Sofia.h"
#include "sip/SubscriptionSet.h"

namespace px {

class SubscribeBuilder {
 public:
  // Every request carries the package's Event and Accept.
  SubscribeBuilder(const SipConfig& sip, uint32_t subscriptionExpiresSec,
                   const EventPackage& package);
  SubscribeBuilder(const SubscribeBuilder&) = delete;
  SubscribeBuilder& operator=(const SubscribeBuilder&) = delete;

  bool ok() const { return ok_; }

  // Sends `request` on the agent's leg. With a callback, a transaction (owned by the caller)
  // reports its answers to it; with none (stateless) nothing is kept and the answer reaches the
  // agent's stray-response path. NTA may then return NONE ((nta_outgoing_t*)-1) for an object it
  // already freed: never destroy a stateless result. nullptr when it could not be sent.
  nta_outgoing_t* send(nta_agent_t* agent, nta_leg_t* leg, nta_response_f* callback,
                       nta_outgoing_magic_t* magic, const SubscribeRequest& request);

 private:
  std::string watcherUri_;
  std::string presenceServerUri_;
  uint32_t subscriptionExpiresSec_;
  SuHome home_;  // owns the pre-parsed headers below: NTA copies them into each request
  sip_route_t* route_ = nullptr;
  sip_event_t* event_ = nullptr;
  sip_accept_t* accept_ = nullptr;
  sip_supported_t* supported_ = nullptr;  // only when the package has one
  sip_expires_t* expiresZero_ = nullptr;
  sip_expires_t* expiresRequested_ = nullptr;
  sip_user_agent_t* userAgent_ = nullptr;
  bool ok_ = false;
};

}  // namespace px
