// Where the presence roles put what they produce for PresenceWatcher's consumer. The watcher
// implements it over its own queues and locks; the roles never see those.
#pragma once

#include <cstdint>

#include "sip/PresenceWatcher.h"
#include "sip/SubscriptionSet.h"
#include "sip/TcpGuard.h"

namespace px {

struct FetchCounters {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t inFlight = 0;
  uint64_t timeouts = 0;
  uint64_t sipErrors = 0;
  uint64_t notifySourceRefused = 0;
};

// Resource list fetches (ListFetchRole, presence.resourceLists).
struct ListCounters {
  uint64_t listFetches = 0;       // list fetches started (one SUBSCRIBE each, bar restarts)
  uint64_t listSubscribes = 0;    // initial list SUBSCRIBEs sent (restarts included)
  uint64_t membersFromLists = 0;  // member outcomes answered from list NOTIFYs
  uint64_t memberFallbacks = 0;   // members fetched per terminal instead
  uint64_t listFallbacks = 0;     // list fetches the server refused (non-2xx, not a list)
  uint64_t versionGaps = 0;       // partial states with a version gap (re-SUBSCRIBEd)
};

class PresenceSink {
 public:
  virtual ~PresenceSink() = default;
  virtual void outcome(FetchOutcome outcome) = 0;
  virtual void event(SubscriptionEvent event) = 0;
  // Counters are published whole, each by the one role that owns them.
  virtual void fetchCounters(const FetchCounters& counters) = 0;
  virtual void subscriptionCounters(const SubscriptionCounters& counters) = 0;
  virtual void tcpCounters(const TcpGuardCounters& counters) = 0;
  virtual void listCounters(const ListCounters& counters) { (void)counters; }
};

}  // namespace px
