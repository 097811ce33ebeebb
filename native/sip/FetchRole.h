// One-shot presence fetches (getStatus): SUBSCRIBE Expires: 0, then the one NOTIFY matched by
// Call-ID and our tag; exactly one FetchOutcome each, within presence.fetchTimeoutMs.
//
// Fetches use NTA transactions directly rather than NUA: a fetch needs no dialog state, and NUA's
// per-handle machinery (dialog usages, event marshalling, a timer walk over every handle) cost
// more than half of the SIP thread's time per fetch.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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
#include "sip/TimerQueue.h"

namespace px {

class FetchRole : public SipRole, private TimerClient {
 public:
  using Clock = std::chrono::steady_clock;

  // Fetches of one event package (presence.source "both" runs one FetchRole per package).
  FetchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
            const NotifySources& sources, PresenceSink& sink, EventPackage package);
  ~FetchRole() override;
  FetchRole(const FetchRole&) = delete;
  FetchRole& operator=(const FetchRole&) = delete;

  bool ok() const { return builder_.ok() && reader_.ok(); }

  // Sends the fetch's SUBSCRIBE, or ends it at once (its deadline passed, it cannot be sent).
  void start(uint64_t id, const std::string& requestUri, Clock::time_point deadline);

  // The outcome of a fetch that never started (queued when the watcher closed, say).
  static FetchOutcome unstarted(uint64_t id, FetchOutcome::Kind kind, std::string detail,
                                uint32_t elapsedMs);
  static uint32_t elapsedSince(Clock::time_point started);

  // A NOTIFY of a fetch in progress: mapped and answered 200; else kNotMine. Without a server
  // transaction a retransmitted NOTIFY of a finished fetch reaches the next role (481).
  int onRequest(const IncomingRequest& request) override;
  void onShutdown() override;

 private:
  struct Pending {
    NtaOutgoing subscribe;  // kept until the fetch ends: NTA absorbs 2xx retransmissions
    std::string callId;
    std::string fromTag;
    Clock::time_point started;
    std::optional<IpCidr> peer;  // where the 2xx came from: a NOTIFY source of this fetch
  };

  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);
  void handleResponse(uint64_t id, nta_outgoing_t* orq, sip_t const* sip);
  int handleNotify(uint64_t id, sip_t const* sip);
  // Ends a pending fetch: drops its transaction (stopping retransmissions) and its Call-ID, so a
  // late NOTIFY is answered 481, and publishes the outcome.
  void finish(uint64_t id, FetchOutcome outcome);
  void finishUnstarted(uint64_t id, Clock::time_point deadline, FetchOutcome::Kind kind,
                       std::string detail);
  void onTimer(uint64_t id, uint32_t gen, Clock::time_point now) override;
  bool timerLive(uint64_t id, uint32_t gen) const override;
  void publish() { sink_.fetchCounters(counters_); }

  SipStack& stack_;
  SipAgent& agent_;
  const GatewayConfig& config_;
  const NotifySources& sources_;
  PresenceSink& sink_;
  EventPackage package_;
  SubscribeBuilder builder_;
  SipReader reader_;
  std::string host_;
  uint64_t tagPrefix_ = 0;
  Clock::duration timeout_;
  FetchCounters counters_;
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
};

}  // namespace px
