// What a SIP role (the presence fetches, the presence subscriptions, next an ISC application
// server) implements to live on a SipStack. Every call comes on the SIP thread.
#pragma once

#include <optional>

#include "common/IpCidr.h"
#include "sip/Sofia.h"

namespace px {

// A request that matched no transaction (the stack keeps no server transactions: see
// StatelessAnswers.h), after the answers every role shares were given.
struct IncomingRequest {
  sip_method_t method;
  sip_t const* sip;  // has a Call-ID
  std::optional<IpCidr> source;
};

class SipRole {
 public:
  // onRequest's answer when the request belongs to another role of the same agent.
  static constexpr int kNotMine = -1;

  virtual ~SipRole() = default;

  // The status to answer with statelessly (>= 100), or kNotMine. The agent asks its roles in the
  // order they were added; a request no role takes gets 481.
  virtual int onRequest(const IncomingRequest& request) = 0;

  // Proxy agents only (AgentSpec::proxy): a request that matched no transaction, with its new
  // server transaction. 0: the role took `irq` over (it answers and destroys it); a status
  // (>= 100): NTA answers with it and destroys `irq`; kNotMine: the next role's.
  virtual int onTransaction(nta_incoming_t* irq, sip_t const* sip) {
    (void)irq;
    (void)sip;
    return kNotMine;
  }

  // A response that matched no transaction of the agent (e.g. to a stateless request).
  virtual void onStrayResponse(sip_t const* sip) { (void)sip; }
  // A stray response offered whole first: a role that relays it (a proxy forwarding a 2xx
  // retransmission statelessly, RFC 6026) takes the message and returns true.
  virtual bool takeStrayResponse(msg_t* msg, sip_t* sip) {
    (void)msg;
    (void)sip;
    return false;
  }

  // The stack is closing: end everything, then call SipStack::roleDrained(*this) once (possibly
  // from within this call). Commands run afterwards see CommandRun::kClosing.
  virtual void onShutdown() = 0;
};

}  // namespace px
