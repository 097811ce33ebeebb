// Long-lived presence subscriptions on the SIP stack: the Sofia side of SubscriptionSet. It turns
// the set's requests into SUBSCRIBE transactions (SubscribeBuilder), their answers and the
// NOTIFYs of its dialogs into the set's inputs (SipReader), and its timers into entries of the
// stack's timer queue. Every decision is the set's.
//
// Dialogs use bare NTA transactions, not NUA: NUA would keep a handle, a dialog usage and a
// su_home per subscription (about 14 KB each, plus its 1 s timer walk over every handle), too much
// for 100,000 watched terminals. Memory (measured against Kamailio, 100,000 subscriptions): about
// 0.5 KB of heap per subscription at rest, about 1.1 KB of RSS including the transient SUBSCRIBE
// transactions (~10 KB each for Timer K after their answer) while they start.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "config/GatewayConfig.h"
#include "presence/StatusSource.h"
#include "sip/NotifySources.h"
#include "sip/PresenceSink.h"
#include "sip/SipMessages.h"
#include "sip/SipRole.h"
#include "sip/SipStack.h"
#include "sip/SubscribeBuilder.h"
#include "sip/SubscriptionSet.h"
#include "sip/TimerQueue.h"

namespace px {

class SubscriptionRole : public SipRole, private SubscriptionPort, private TimerClient {
 public:
  // Subscriptions of one event package. presence.source "both" runs one role per package on the
  // same agent: each takes the NOTIFYs of its own dialogs (SubscriptionSet::owns); only the role
  // asked last (`answersStrays`) answers the NOTIFYs of no dialog (481).
  SubscriptionRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                   const NotifySources& sources, PresenceSink& sink, EventPackage package,
                   bool answersStrays = true);
  ~SubscriptionRole() override;
  SubscriptionRole(const SubscriptionRole&) = delete;
  SubscriptionRole& operator=(const SubscriptionRole&) = delete;

  bool ok() const { return builder_.ok() && reader_.ok(); }

  void watch(std::string uri);
  void unwatch(const std::string& uri);

  // Every NOTIFY no fetch took: of a dialog, of one recently ended, or stray (481).
  int onRequest(const IncomingRequest& request) override;
  // While closing: the answers to the stateless Expires: 0.
  void onStrayResponse(sip_t const* sip) override;
  void onShutdown() override;

 private:
  // SubscriptionPort
  bool sendSubscribe(uint64_t id, const SubscribeRequest& request, Send how) override;
  void cancelSubscribe(uint64_t id) override;
  void schedule(SipClock::time_point at, uint64_t id, uint32_t gen) override;
  void report(SubscriptionEvent event) override;
  void countersChanged(const SubscriptionCounters& counters) override;
  void drained() override;
  // TimerClient
  void onTimer(uint64_t id, uint32_t gen, SipClock::time_point now) override;
  bool timerLive(uint64_t id, uint32_t gen) const override;

  static int onAnswer(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);

  SipStack& stack_;
  SipAgent& agent_;
  PresenceSink& sink_;
  EventPackage package_;
  bool answersStrays_;
  SubscribeBuilder builder_;
  SipReader reader_;
  // The SUBSCRIBE transactions waiting for their final answer, by subscription and back.
  std::unordered_map<uint64_t, NtaOutgoing> orqs_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byOrq_;
  SubscriptionSet set_;  // last: its destruction calls nothing back
};

}  // namespace px
