// PresenceWatcher: the thread-safe front. It starts a SipStack with the presence roles on it,
// turns calls into commands for the SIP thread, and owns the queues the roles fill.
#include "sip/PresenceWatcher.h"

#include <stdexcept>
#include <utility>

#include "sip/FetchRole.h"
#include "sip/ListFetchRole.h"
#include "sip/ListWatchRole.h"
#include "sip/NotifySources.h"
#include "sip/PresenceSink.h"
#include "sip/SipStack.h"
#include "sip/SourceCombiner.h"
#include "sip/SubscriptionRole.h"

namespace px {

const char* toString(FetchOutcome::Kind kind) {
  switch (kind) {
    case FetchOutcome::Kind::kStatus:
      return "status";
    case FetchOutcome::Kind::kSipError:
      return "sipError";
    case FetchOutcome::Kind::kTimeout:
      return "timeout";
    case FetchOutcome::Kind::kBadDocument:
      return "badDocument";
    case FetchOutcome::Kind::kShutdown:
      return "shutdown";
  }
  return "shutdown";
}

const char* toString(SubscriptionEvent::Kind kind) {
  switch (kind) {
    case SubscriptionEvent::Kind::kStatus:
      return "status";
    case SubscriptionEvent::Kind::kFailed:
      return "failed";
    case SubscriptionEvent::Kind::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

namespace {

// A queue whose consumer is signalled when it goes from empty to non-empty.
template <typename T>
class SignalledQueue {
 public:
  // True when the queue was empty: the caller signals (outside the lock).
  bool push(T item) {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool wasEmpty = items_.empty();
    items_.push_back(std::move(item));
    return wasEmpty;
  }
  std::vector<T> take() {
    std::vector<T> taken;
    std::lock_guard<std::mutex> lock(mutex_);
    taken.swap(items_);
    return taken;
  }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
};

}  // namespace

// Owner: the consumer (it takes from the queues and reads the stats); the SIP thread appends
// through PresenceSink. Each queue and the stats have their own lock, held only here.
class PresenceWatcher::Queues : public PresenceSink {
 public:
  explicit Queues(OutcomeSignal signal) : signal_(std::move(signal)) {}

  void outcome(FetchOutcome outcome) override {
    if (outcomes_.push(std::move(outcome)) && signal_) signal_();
  }
  void event(SubscriptionEvent event) override {
    if (events_.push(std::move(event)) && signal_) signal_();
  }
  void fetchCounters(const FetchCounters& counters) override {
    std::lock_guard<std::mutex> lock(statsMutex_);
    fetch_ = counters;
  }
  void subscriptionCounters(const SubscriptionCounters& counters) override {
    std::lock_guard<std::mutex> lock(statsMutex_);
    subscriptions_ = counters;
  }
  void tcpCounters(const TcpGuardCounters& counters) override {
    std::lock_guard<std::mutex> lock(statsMutex_);
    tcp_ = counters;
  }
  void listCounters(const ListCounters& counters) override {
    std::lock_guard<std::mutex> lock(statsMutex_);
    list_ = counters;
  }

  std::vector<FetchOutcome> takeOutcomes() { return outcomes_.take(); }
  std::vector<SubscriptionEvent> takeEvents() { return events_.take(); }

  WatcherStats stats() const {
    std::lock_guard<std::mutex> lock(statsMutex_);
    WatcherStats stats;
    stats.started = fetch_.started;
    stats.completed = fetch_.completed;
    stats.inFlight = fetch_.inFlight;
    stats.timeouts = fetch_.timeouts;
    stats.sipErrors = fetch_.sipErrors;
    stats.strayRequests = subscriptions_.strayRequests;
    stats.subscriptions = subscriptions_.subscriptions;
    stats.subscriptionsActive = subscriptions_.subscriptionsActive;
    stats.subscribeRequests = subscriptions_.subscribeRequests;
    stats.refreshes = subscriptions_.refreshes;
    stats.resubscribes = subscriptions_.resubscribes;
    stats.subscriptionFailures = subscriptions_.subscriptionFailures;
    stats.notifySourceRefused = fetch_.notifySourceRefused + subscriptions_.notifySourceRefused;
    stats.tcpConnections = tcp_.open;
    stats.tcpRefused = tcp_.refused;
    stats.tcpIdleClosed = tcp_.idleClosed;
    stats.listFetches = list_.listFetches;
    stats.listSubscribes = list_.listSubscribes;
    stats.membersFromLists = list_.membersFromLists;
    stats.memberFallbacks = list_.memberFallbacks;
    stats.listFallbacks = list_.listFallbacks;
    stats.listVersionGaps = list_.versionGaps;
    return stats;
  }

 private:
  OutcomeSignal signal_;
  SignalledQueue<FetchOutcome> outcomes_;
  SignalledQueue<SubscriptionEvent> events_;
  mutable std::mutex statsMutex_;
  FetchCounters fetch_;
  SubscriptionCounters subscriptions_;
  TcpGuardCounters tcp_;
  ListCounters list_;
};

PresenceWatcher::PresenceWatcher(const GatewayConfig& config, OutcomeSignal signal,
                                 SipStack::Setup extraRoles)
    : config_(config),
      queues_(std::make_unique<Queues>(std::move(signal))),
      stack_(std::make_unique<SipStack>()) {
  stack_->start([this, extraRoles = std::move(extraRoles)](SipStack& stack) -> std::string {
    const SipConfig& sip = config_.sip;
    sources_ = std::make_unique<NotifySources>(NotifySources::resolve(sip));
    AgentSpec spec;
    spec.host = sip.bindHost;
    spec.port = sip.port;
    spec.transports = sip.transports;
    spec.tcp = sip.tcp;
    spec.preferredSources = sources_->trusted();
    spec.tcpCounters = [queues = queues_.get()](const TcpGuardCounters& counters) {
      queues->tcpCounters(counters);
    };
    spec.answers.methods = {sip_method_notify};
    spec.answers.allow = "NOTIFY, OPTIONS";
    const PresenceSource source = config_.presence.source;
    spec.answers.allowEvents = source == PresenceSource::kPresence ? "presence"
                               : source == PresenceSource::kReg    ? "reg"
                                                                   : "reg, presence";
    std::string problem;
    SipAgent* agent = stack.addAgent(spec, problem);
    if (!agent) return problem;
    sipPort_ = agent->port();
    // The roles of the configured package; with "both" the reg roles report into the combiner
    // and the presence roles are added beside them.
    const bool both = source == PresenceSource::kBoth;
    PresenceSink* sink = queues_.get();
    if (both) {
      combiner_ = std::make_unique<SourceCombiner>(
          *queues_, [this](const std::string& uri) { presenceSubscriptions_->unwatch(uri); });
      sink = &combiner_->regSink();
    }
    const EventPackage primary = source == PresenceSource::kPresence
                                     ? presencePackage(config_.presence.busyActivities)
                                     : regPackage();
    // Fetches first: a NOTIFY is a fetch's when its Call-ID and tag say so, else a dialog's.
    fetches_ = &stack.addRole<FetchRole>(stack, *agent, config_, *sources_, *sink, primary);
    agent->addRole(*fetches_);
    if (both) {
      presenceFetches_ =
          &stack.addRole<FetchRole>(stack, *agent, config_, *sources_, combiner_->presenceSink(),
                                    presencePackage(config_.presence.busyActivities));
      agent->addRole(*presenceFetches_);
    }
    // Resource lists: their NOTIFYs carry the list role's Call-IDs; it goes first.
    if (config_.presence.resourceLists.enabled && !both && source == PresenceSource::kPresence) {
      listFetches_ = &stack.addRole<ListFetchRole>(
          stack, *agent, config_, *sources_, *sink,
          resourceListPackage(config_.presence.busyActivities), *fetches_);
      agent->addRole(*listFetches_);
    }
    // With "both" the reg dialogs' role passes the NOTIFYs of other dialogs on; the last role
    // answers strays 481.
    subscriptions_ =
        &stack.addRole<SubscriptionRole>(stack, *agent, config_, *sources_, *sink, primary, !both);
    // Notifications on a group: the list dialogs' NOTIFYs carry its Call-IDs; before the
    // per-member dialogs' role, which answers strays.
    if (listFetches_) {
      listWatches_ = &stack.addRole<ListWatchRole>(
          stack, *agent, config_, *sources_, *sink,
          resourceListPackage(config_.presence.busyActivities), *subscriptions_);
      agent->addRole(*listWatches_);
    }
    agent->addRole(*subscriptions_);
    if (both) {
      presenceSubscriptions_ = &stack.addRole<SubscriptionRole>(
          stack, *agent, config_, *sources_, combiner_->presenceSink(),
          presencePackage(config_.presence.busyActivities), true);
      agent->addRole(*presenceSubscriptions_);
    }
    const bool ok = fetches_->ok() && subscriptions_->ok() &&
                    (!listFetches_ || listFetches_->ok()) &&
                    (!listWatches_ || listWatches_->ok()) &&
                    (!both || (presenceFetches_->ok() && presenceSubscriptions_->ok()));
    if (!ok) return "cannot bind the SIP transports on port " + std::to_string(sipPort_);
    return extraRoles ? extraRoles(stack) : std::string();
  });
}

PresenceWatcher::~PresenceWatcher() {
  close();
}

uint64_t PresenceWatcher::fetch(const std::string& requestUri, bool wakeNow) {
  const uint64_t id = nextId_.fetch_add(1);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.presence.fetchTimeoutMs);
  const auto timeout = std::chrono::milliseconds(config_.presence.fetchTimeoutMs);
  const bool taken = stack_->post(
      [this, id, requestUri, deadline, timeout](SipStack::CommandRun run) {
        switch (run) {
          case SipStack::CommandRun::kRun:
            // With "both", one fetch per package under the same id; the combiner answers once.
            fetches_->start(id, requestUri, deadline);
            if (presenceFetches_) presenceFetches_->start(id, requestUri, deadline);
            break;
          case SipStack::CommandRun::kClosing:
            queues_->outcome(FetchRole::unstarted(id, FetchOutcome::Kind::kShutdown,
                                                  "gateway is closing",
                                                  FetchRole::elapsedSince(deadline - timeout)));
            break;
          case SipStack::CommandRun::kAfterLoop:
            queues_->outcome(
                FetchRole::unstarted(id, FetchOutcome::Kind::kShutdown, "gateway is closing", 0));
            break;
        }
      },
      wakeNow);
  if (!taken) {
    queues_->outcome(
        FetchRole::unstarted(id, FetchOutcome::Kind::kShutdown, "gateway is closed", 0));
  }
  return id;
}

std::vector<uint64_t> PresenceWatcher::fetchList(const std::string& listUri,
                                                 const std::vector<std::string>& requestUris,
                                                 bool wakeNow) {
  if (!config_.presence.resourceLists.enabled ||
      config_.presence.source != PresenceSource::kPresence) {
    std::vector<uint64_t> ids;
    ids.reserve(requestUris.size());
    for (const std::string& uri : requestUris) ids.push_back(fetch(uri, false));
    if (wakeNow) flush();
    return ids;
  }
  std::vector<std::pair<uint64_t, std::string>> members;
  std::vector<uint64_t> ids;
  members.reserve(requestUris.size());
  for (const std::string& uri : requestUris) {
    ids.push_back(nextId_.fetch_add(1));
    members.emplace_back(ids.back(), uri);
  }
  const auto timeout = std::chrono::milliseconds(config_.presence.resourceLists.fetchTimeoutMs);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool taken = stack_->post(
      [this, listUri, members, deadline](SipStack::CommandRun run) mutable {
        if (run == SipStack::CommandRun::kRun) {
          listFetches_->start(listUri, std::move(members), deadline);
          return;
        }
        for (const auto& member : members) {
          queues_->outcome(FetchRole::unstarted(member.first, FetchOutcome::Kind::kShutdown,
                                                "gateway is closing", 0));
        }
      },
      wakeNow);
  if (!taken) {
    for (uint64_t id : ids) {
      queues_->outcome(
          FetchRole::unstarted(id, FetchOutcome::Kind::kShutdown, "gateway is closed", 0));
    }
  }
  return ids;
}

// Watch commands after close() are dropped: close() already ended every subscription.
void PresenceWatcher::watch(const std::string& requestUri, bool wakeNow) {
  stack_->post(
      [this, requestUri](SipStack::CommandRun run) {
        if (run != SipStack::CommandRun::kRun) return;
        subscriptions_->watch(requestUri);
        if (presenceSubscriptions_) presenceSubscriptions_->watch(requestUri);
      },
      wakeNow);
}

void PresenceWatcher::unwatch(const std::string& requestUri, bool wakeNow) {
  stack_->post(
      [this, requestUri](SipStack::CommandRun run) {
        if (run != SipStack::CommandRun::kRun) return;
        subscriptions_->unwatch(requestUri);
        if (presenceSubscriptions_) presenceSubscriptions_->unwatch(requestUri);
        if (combiner_) combiner_->forget(requestUri);
      },
      wakeNow);
}

void PresenceWatcher::watchList(const std::string& listUri, const std::vector<std::string>& keys,
                                bool wakeNow) {
  stack_->post(
      [this, listUri, keys](SipStack::CommandRun run) {
        if (run != SipStack::CommandRun::kRun) return;
        if (listWatches_) {
          listWatches_->watch(listUri, keys);
          return;
        }
        for (const std::string& key : keys) {
          subscriptions_->watch(key);
          if (presenceSubscriptions_) presenceSubscriptions_->watch(key);
        }
      },
      wakeNow);
}

void PresenceWatcher::unwatchList(const std::string& listUri, const std::vector<std::string>& keys,
                                  bool wakeNow) {
  stack_->post(
      [this, listUri, keys](SipStack::CommandRun run) {
        if (run != SipStack::CommandRun::kRun) return;
        if (listWatches_) {
          listWatches_->unwatch(listUri);
          return;
        }
        for (const std::string& key : keys) {
          subscriptions_->unwatch(key);
          if (presenceSubscriptions_) presenceSubscriptions_->unwatch(key);
          if (combiner_) combiner_->forget(key);
        }
      },
      wakeNow);
}

void PresenceWatcher::flush() {
  stack_->flush();
}

std::vector<FetchOutcome> PresenceWatcher::takeOutcomes() {
  return queues_->takeOutcomes();
}

std::vector<SubscriptionEvent> PresenceWatcher::takeSubscriptionEvents() {
  return queues_->takeEvents();
}

void PresenceWatcher::close() {
  stack_->close();
}

WatcherStats PresenceWatcher::stats() const {
  return queues_->stats();
}

}  // namespace px
