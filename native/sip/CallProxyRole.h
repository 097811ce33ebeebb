// The ISC application server on the SIP thread: a stateful proxy (RFC 3261 §16) on its own
// proxy agent (AgentSpec::proxy) that relays INVITEs and what follows them, and reports what
// happens to the calls of watched parties (Parlay X Call Notification) or holds them for the
// application's decision (Call Direction). See call-notification-notes §2.
//
// One ProxyCall per server transaction it relays (an INVITE, or an in-dialog request such as the
// BYE of a record-routed call): the server transaction, the request as received, the client
// transaction, and for an INVITE the watch state (what is wanted, 18x seen, why it ended, the
// decision waited for). Every ProxyCall ends on every path: relayed final, timeout, shutdown.
//
// Choices: callSessionId is the call's ref (CallEventRecord::callRef) as a decimal string; the
// Record-Route is ownRoute() and is added only when a registration wants Disconnected; an
// answered INVITE stays in flight for 4*T1, later 2xx retransmissions are relayed statelessly.
// Refusals: 400 (missing From/To/CSeq/Call-ID/Via), 416 (Request-URI not sip/sips/tel), 483
// (Max-Forwards 0), 503 (calls.maxCalls, or closing), 405 + Allow (a new non-INVITE other than
// OPTIONS), 404 (an INVITE naming only us), 481 (a CANCEL or in-dialog request with nowhere to go);
// OPTIONS 200.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "call/CallMatcher.h"
#include "call/CallOutcome.h"
#include "call/CallTypes.h"
#include "config/GatewayConfig.h"
#include "sip/CallSink.h"
#include "sip/SipRole.h"
#include "sip/SipStack.h"
#include "sip/TimerQueue.h"

namespace px {

class CallProxyRole : public SipRole, private TimerClient {
 public:
  CallProxyRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                const call::CallWatchIndex& index, CallSink& sink);
  ~CallProxyRole() override;
  CallProxyRole(const CallProxyRole&) = delete;
  CallProxyRole& operator=(const CallProxyRole&) = delete;

  int onRequest(const IncomingRequest&) override { return kNotMine; }
  int onTransaction(nta_incoming_t* irq, sip_t const* sip) override;
  void onShutdown() override;
  bool takeStrayResponse(msg_t* msg, sip_t* sip) override;

  // The application's decision (SIP thread; CallServer posts it). Late ones are counted.
  void decide(uint64_t callRef, uint64_t decisionId, const call::CallAction& action);

  // Our own loose route, "<sip:host:port;lr>": popped from requests, put in Record-Route.
  const std::string& ownRoute() const { return ownRoute_; }

 private:
  struct ProxyCall;
  enum class TimerKind : uint8_t { kOff, kDecision, kRingTimeout, kLinger };

  // Sofia callbacks (C frames: nothing may throw through them).
  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);
  static int onCancel(nta_incoming_magic_t* magic, nta_incoming_t* irq, sip_t const* sip);

  int takeInvite(nta_incoming_t* irq, sip_t const* sip);
  int takeOther(nta_incoming_t* irq, sip_t const* sip);
  int relayAck(sip_t const* sip, nta_incoming_t* irq);
  // The received request prepared for forwarding: own Route popped, Max-Forwards decremented.
  // nullptr when it cannot be copied.
  msg_t* prepareForward(nta_incoming_t* irq);
  bool forward(ProxyCall& call);  // false: no client transaction could be made
  void response(ProxyCall& call, sip_t const* sip);
  void finalResponse(ProxyCall& call, int status, bool internal);
  void cancelled(ProxyCall& call);
  void relay(ProxyCall& call);  // the current response of the client transaction, upstream
  void answer(ProxyCall& call, int status);
  void finish(ProxyCall& call);  // releases everything of the call
  void askDecision(ProxyCall& call, call::CallEvent event, int status);
  void carryOut(ProxyCall& call, const call::CallAction& action);
  void report(ProxyCall& call, call::CallEvent event, int status, const std::string& description);
  void emit(uint64_t callRef, const call::CallParties& parties, call::CallEvent event, int status,
            const std::string& description);
  void relayHeldFinal(ProxyCall& call);
  void arm(ProxyCall& call, TimerKind kind, std::chrono::milliseconds after);
  void onTimer(uint64_t key, uint32_t gen, std::chrono::steady_clock::time_point now) override;
  bool timerLive(uint64_t key, uint32_t gen) const override;
  void publish();
  bool setRequestUri(msg_t* msg, const std::string& uri);
  bool isOwn(const url_t* url) const;
  void rememberDialog(const ProxyCall& call);

  SipStack& stack_;
  SipAgent& agent_;
  const GatewayConfig& config_;
  const call::CallWatchIndex& index_;
  CallSink& sink_;
  std::string ownRoute_;
  std::chrono::milliseconds linger_;  // 4*T1: transactions kept after a 2xx (later 2xx
                                      // retransmissions: takeStrayResponse)

  uint64_t nextRef_ = 1;
  uint64_t nextDecision_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<ProxyCall>> calls_;
  // Record-routed answered calls whose BYE reports Disconnected, by Call-ID; bounded by
  // calls.maxCalls (the oldest are forgotten first).
  struct Dialog {
    call::CallParties parties;
    uint64_t callRef = 0;
  };
  std::map<std::string, Dialog> dialogs_;
  std::deque<std::string> dialogOrder_;
  CallProxyCounters counters_;
  bool shuttingDown_ = false;  // new requests get 503
};

}  // namespace px
