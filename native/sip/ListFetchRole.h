// getStatusForGroup through a resource list server (RFC 4662): ONE SUBSCRIBE with
// Supported: eventlist to the group's list URI answers every member the list holds. Each member
// keeps the fetch id the caller reserved for it, so every member still ends with exactly one
// FetchOutcome, as a per-terminal fetch would:
// - from the list: the merged RLMI state (ResourceListState) maps each member the RLS reports
//   (its PIDF part through the presence mapper); members the list reports no state for are
//   Unreachable once the list has settled (presence.resourceLists.settleMs after the last
//   NOTIFY: an RLS such as Kamailio's omits members with nothing published, for which a
//   per-terminal fetch gets a NOTIFY without a document, i.e. Unreachable);
// - per terminal (FetchRole, same id): every member when the server does not do lists (a final
//   non-2xx such as 421/489/404, or a NOTIFY that is not multipart/related), the members the
//   list does not hold, and all remaining ones after a second version gap or a body that
//   cannot be parsed;
// - kTimeout at presence.resourceLists.fetchTimeoutMs.
// Once every member is answered the list dialog is ended (SUBSCRIBE Expires: 0, stateless); its
// Call-ID is remembered for a while so that the RLS's last NOTIFYs still get 200.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/GatewayConfig.h"
#include "presence/ResourceListDocument.h"
#include "presence/StatusSource.h"
#include "sip/FetchRole.h"
#include "sip/NotifySources.h"
#include "sip/PresenceSink.h"
#include "sip/SipMessages.h"
#include "sip/SipRole.h"
#include "sip/SipStack.h"
#include "sip/SubscribeBuilder.h"
#include "sip/TimerQueue.h"

namespace px {

class ListFetchRole : public SipRole, private TimerClient {
 public:
  using Clock = std::chrono::steady_clock;

  // `fallback`: the presence FetchRole of the same agent, for per-terminal fetches.
  ListFetchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                const NotifySources& sources, PresenceSink& sink, EventPackage presence,
                FetchRole& fallback);
  ~ListFetchRole() override;
  ListFetchRole(const ListFetchRole&) = delete;
  ListFetchRole& operator=(const ListFetchRole&) = delete;

  bool ok() const { return builder_.ok() && reader_.ok(); }

  // members: (fetch id, Request-URI) pairs; each ends with one outcome.
  void start(const std::string& listUri, std::vector<std::pair<uint64_t, std::string>> members,
             Clock::time_point deadline);

  int onRequest(const IncomingRequest& request) override;
  void onShutdown() override;

 private:
  struct Member {
    uint64_t id = 0;
    std::string uri;
    bool done = false;
  };
  struct ListFetch {
    uint64_t key = 0;
    std::string listUri;
    std::vector<Member> members;
    std::unordered_map<std::string, std::vector<size_t>> byUri;  // normalized URI -> members
    size_t remaining = 0;
    Clock::time_point started;
    Clock::time_point deadline;
    std::string callId;
    std::string fromTag;
    std::string toTag;
    std::string remoteTarget;
    uint32_t cseq = 1;
    NtaOutgoing subscribe;
    std::optional<IpCidr> peer;
    ResourceListState state;
    uint32_t settleGen = 0;
    uint32_t restarts = 0;
  };

  bool sendInitial(ListFetch& fetch);
  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip);
  void handleResponse(uint64_t key, nta_outgoing_t* orq, sip_t const* sip);
  int handleNotify(ListFetch& fetch, sip_t const* sip);
  void answer(ListFetch& fetch, Member& member, FetchOutcome outcome);
  // Per-terminal fetches for every member not answered yet (or only those not in the list).
  void fallBack(ListFetch& fetch, bool onlyUnlisted, const char* why);
  void settle(ListFetch& fetch);
  void finishIfDone(uint64_t key);
  void end(uint64_t key);  // unsubscribes (if a dialog exists) and forgets the fetch
  void onTimer(uint64_t id, uint32_t gen, Clock::time_point now) override;
  bool timerLive(uint64_t id, uint32_t gen) const override;
  void tombstone(const std::string& callId);
  void publish() { sink_.listCounters(counters_); }

  SipStack& stack_;
  SipAgent& agent_;
  const GatewayConfig& config_;
  const NotifySources& sources_;
  PresenceSink& sink_;
  EventPackage presence_;  // Supported: eventlist, the list Accept, the PIDF mapper
  FetchRole& fallback_;
  SubscribeBuilder builder_;
  SipReader reader_;
  std::string host_;
  uint64_t tagPrefix_ = 0;
  uint64_t nextKey_ = 1;
  ListCounters counters_;
  std::unordered_map<uint64_t, ListFetch> fetches_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
  std::deque<std::pair<Clock::time_point, std::string>> tombstoneOrder_;
  std::unordered_set<std::string> tombstones_;
};

// The list package: Event presence, Supported: eventlist, Accept of RFC 4662 §5.
EventPackage resourceListPackage(std::vector<std::string> busyActivities);

}  // namespace px
