// Notifications on a group through a resource list server (RFC 4662): ONE long-lived list
// subscription (Supported: eventlist) to the group's list URI stands in for the per-member
// subscriptions of SubscriptionRole. Each RLMI NOTIFY is merged into the list's state
// (ResourceListState: full states replace it, partial ones update it in version order) and every
// member whose state changed is reported as a SubscriptionEvent kStatus under its key, exactly as
// its own subscription would report it (the notification engine dedups and decides):
// - a member the list holds without state (no instance, or only pending ones: the RLS has none
//   yet) and never reported is Unreachable once the list is quiet for
//   presence.resourceLists.settleMs, as a per-member NOTIFY without a document;
// - a version gap ends the dialog and starts a new one (a new full state);
// - the dialog is refreshed at half its granted expiry; a failed refresh or a terminated
//   Subscription-State starts a new dialog;
// - when the server does not serve the list (a non-2xx to the initial SUBSCRIBE, a NOTIFY that is
//   not multipart/related, a body that cannot be parsed) every member is watched per member
//   through `fallback` (SubscriptionRole) instead; members a full state does not hold too;
// - unwatch() ends the dialog (SUBSCRIBE Expires: 0 in the dialog, stateless) and the per-member
//   fallbacks. The Call-IDs of ended dialogs still get 200 for a while (the RLS's last NOTIFYs).
// SIP thread only (PresenceWatcher posts watch/unwatch to it).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/GatewayConfig.h"
#include "presence/ResourceListDocument.h"
#include "presence/StatusSource.h"
#include "sip/NotifySources.h"
#include "sip/PresenceSink.h"
#include "sip/SipMessages.h"
#include "sip/SipRole.h"
#include "sip/SipStack.h"
#include "sip/SubscribeBuilder.h"
#include "sip/SubscriptionRole.h"
#include "sip/TimerQueue.h"

namespace px {

// The events one applied list NOTIFY means for the watched members (pure: tested by
// tests/native/presence_resource_list_test.cc). `members`: normalized member URI -> keys.
std::vector<SubscriptionEvent> listStatusEvents(
    const ResourceListState& state, bool fullState,
    const std::map<std::string, std::vector<std::string>>& members);

class ListWatchRole : public SipRole, private TimerClient {
 public:
  using Clock = std::chrono::steady_clock;

  ListWatchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                const NotifySources& sources, PresenceSink& sink, EventPackage presence,
                SubscriptionRole& fallback);
  ~ListWatchRole() override;
  ListWatchRole(const ListWatchRole&) = delete;
  ListWatchRole& operator=(const ListWatchRole&) = delete;

  bool ok() const { return builder_.ok() && reader_.ok(); }

  // members: the terminal keys (SIP Request-URIs) the list stands for. A list already watched
  // is left as it is.
  void watch(const std::string& listUri, const std::vector<std::string>& members);
  void unwatch(const std::string& listUri);

  int onRequest(const IncomingRequest& request) override;
  void onShutdown() override;

 private:
  struct ListWatch {
    uint64_t key = 0;
    std::string listUri;
    std::map<std::string, std::vector<std::string>> byUri;  // normalized URI -> keys
    std::set<std::string> fallenBack;  // keys watched per member through fallback_
    bool allFallenBack = false;
    std::string callId;
    std::string fromTag;
    std::string toTag;
    std::string remoteTarget;
    uint32_t cseq = 1;
    uint32_t dialogs = 0;            // dialogs started: Call-ID and From-tag
    uint32_t timerGen = 0;           // the refresh timer (timer id 2 * key)
    uint32_t settleGen = 0;          // the settle timer (timer id 2 * key + 1)
    std::set<std::string> reported;  // keys a status was reported for
    bool refreshing = false;
    NtaOutgoing subscribe;
    std::optional<IpCidr> peer;
    ResourceListState state;
  };

  bool sendInitial(ListWatch& list);
  void sendRefresh(ListWatch& list);
  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);
  void handleResponse(uint64_t key, nta_outgoing_t* orq, sip_t const* sip);
  int handleNotify(ListWatch& list, sip_t const* sip);
  // Ends the current dialog (Expires: 0 when established) and forgets its Call-ID.
  void endDialog(ListWatch& list);
  // A new dialog (a new full state); falls back per member when it cannot be sent.
  void restart(ListWatch& list);
  // Every member (or those a full state does not hold) watched per member instead.
  void fallBack(ListWatch& list, bool onlyUnlisted);
  // presence.resourceLists.settleMs after the last NOTIFY: members the list holds without a
  // state that were never reported are Unreachable (as a per-member NOTIFY without a document).
  void settle(ListWatch& list);
  void onTimer(uint64_t id, uint32_t gen, Clock::time_point now) override;
  bool timerLive(uint64_t id, uint32_t gen) const override;
  void tombstone(const std::string& callId);

  SipStack& stack_;
  SipAgent& agent_;
  const GatewayConfig& config_;
  const NotifySources& sources_;
  PresenceSink& sink_;
  EventPackage presence_;
  SubscriptionRole& fallback_;
  SubscribeBuilder builder_;
  SipReader reader_;
  std::string host_;
  uint64_t tagPrefix_ = 0;
  uint64_t nextKey_ = 1;
  std::unordered_map<uint64_t, ListWatch> lists_;
  std::unordered_map<std::string, uint64_t> byListUri_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
  std::deque<std::pair<Clock::time_point, std::string>> tombstoneOrder_;
  std::unordered_set<std::string> tombstones_;
};

}  // namespace px
