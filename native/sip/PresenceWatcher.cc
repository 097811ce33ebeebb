#include "sip/PresenceWatcher.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "address/Address.h"
#include "common/Ascii.h"
#include "common/IpCidr.h"
#include "presence/PresenceDocument.h"
#include "sip/Sofia.h"
#include "sip/TcpGuard.h"

// After Sofia.h, which includes su_config.h first.
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/url_tag.h>

namespace px {

using Clock = std::chrono::steady_clock;

constexpr unsigned kUdpBufferBytes = 4 * 1024 * 1024;
constexpr unsigned kTimerKMs = 1000;
// Largest SIP message taken: a PIDF document of many tuples fits; a peer cannot make the stack
// buffer megabytes per connection.
constexpr usize_t kMaxMessageBytes = 256 * 1024;

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
  }
  return "failed";
}

namespace {

// Port 0 in the config means "any free port": Sofia cannot report the port it picked through the
// public API, so pick one that is free for both UDP and TCP and bind to it.
uint16_t pickFreePort(const std::string& host) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM, 0));
    if (!udp) break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = INADDR_ANY;
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) break;
    socklen_t len = sizeof addr;
    if (::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) break;
    UniqueFd tcp(::socket(AF_INET, SOCK_STREAM, 0));
    if (tcp && ::bind(tcp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return ntohs(addr.sin_port);
    }
  }
  throw std::runtime_error("cannot find a free SIP port on " + host);
}

std::string hostForUri(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]";
  return host;
}

// The host of a SIP URI ("sip:user@[::1]:5060;lr" -> "::1"), "" when there is none.
std::string uriHost(std::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return "";
  std::string_view rest = uri.substr(colon + 1);
  rest = rest.substr(0, rest.find_first_of(";?>"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    return close == std::string_view::npos ? "" : std::string(rest.substr(1, close - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

// The address a SIP message came from (Sofia records it in the message), if known.
std::optional<IpCidr> sourceOf(msg_t* msg) {
  const su_addrinfo_t* ai = msg ? msg_addrinfo(msg) : nullptr;
  return ai ? IpCidr::fromSockaddr(ai->ai_addr) : std::nullopt;
}

std::string routeFor(const std::string& presenceServerUri) {
  std::string uri = presenceServerUri;
  if (uri.find(";lr") == std::string::npos) uri += ";lr";
  return "<" + uri + ">";
}

}  // namespace

// Everything that must only be touched on the SIP thread.
//
// Fetches use Sofia's transaction layer (NTA) directly rather than NUA: a fetch needs no dialog
// state (one SUBSCRIBE transaction, then one NOTIFY matched by Call-ID and tag), and NUA's
// per-handle machinery (dialog usages, event marshalling, a timer walk over every handle) cost
// more than half of the SIP thread's time per fetch.
//
// Long-lived subscriptions (RFC 6665, subscriber side) use bare NTA transactions as well, with
// the dialog kept here in compact form: NUA would keep a handle, a dialog usage and a su_home per
// subscription (about 14 KB each, plus its 1 s timer walk over every handle), too much for
// 100,000 watched terminals. No NTA object outlives a transaction: in-dialog requests are built
// by hand (Call-ID, tags, CSeq, Route) on a dialog-less leg, and their first hop is passed to NTA
// explicitly as route_url: the first entry of the route set, or the remote target (the
// notifier's Contact) when the set is empty. Incoming requests are answered statelessly (see
// onMessage), so no NTA object is kept for a NOTIFY either.
//
// Memory (measured against Kamailio, 100,000 subscriptions): about 0.5 KB of heap per
// subscription at rest (Subscription ~150 B, its map nodes, URI, remote tag and target), about
// 1.1 KB of RSS per subscription including the transient SUBSCRIBE transactions (~10 KB each for
// Timer K after their answer, see kTimerKMs) while they start.
class PresenceWatcher::Stack {
 public:
  struct Pending {
    NtaOutgoing subscribe;  // reset once the final response arrived
    std::string callId;
    std::string fromTag;
    Clock::time_point started;
    std::optional<IpCidr> peer;  // where the 2xx came from: a NOTIFY source of this fetch
  };

  enum class SubState : uint8_t {
    kQueued,             // wants a new dialog; waits for a transaction slot
    kSubscribing,        // the new dialog's SUBSCRIBE went out; waits for its 2xx + first NOTIFY
    kActive,             // established; the timer is the refresh
    kRefreshQueued,      // established; the refresh waits for a transaction slot
    kRefreshing,         // established; the refresh SUBSCRIBE went out
    kBackoff,            // after a failure; the timer starts the next dialog
    kUnsubscribeQueued,  // unwatched; the Expires: 0 waits for a transaction slot
    kUnsubscribing,      // unwatched; the Expires: 0 went out
  };

  struct RouteSet {
    std::string header;    // Route header value, in the order in-dialog requests carry it
    std::string firstHop;  // URI of its first entry: where in-dialog requests are sent
  };

  // One watched terminal, or one being unsubscribed. Kept small: 100,000 may be watched.
  struct Subscription {
    std::string uri;
    std::string remoteTag;             // "" while no dialog exists
    std::string remoteTarget;          // the notifier's Contact; "" while unknown
    std::unique_ptr<RouteSet> routes;  // only when the dialog has a route set
    std::optional<IpCidr> peer;        // where the dialog's 2xx came from
    NtaOutgoing orq;                   // the SUBSCRIBE still waiting for its final answer
    Clock::time_point refreshAt{};     // when to refresh; {} while no expiry is known
    uint64_t id = 0;                   // one per watch(): key of subs_, part of the Call-ID
    uint32_t seq = 0;                  // dialog number within this watch: Call-ID and From-tag
    uint32_t cseq = 0;
    uint32_t timerGen = 0;  // timer entries of another generation are stale
    uint32_t failures = 0;  // consecutive; reset when a dialog got its 2xx and a NOTIFY
    SubState state = SubState::kQueued;
    bool unwatched = false;
    bool responded = false;  // this dialog's initial SUBSCRIBE got its 2xx
    bool notified = false;   // this dialog got a NOTIFY
  };

  // One entry of the subscription timer heap; stale entries are skipped when they come up.
  struct TimerEntry {
    Clock::time_point at;
    uint64_t id;
    uint32_t gen;
    bool operator>(const TimerEntry& other) const { return at > other.at; }
  };

  // What a SUBSCRIBE's final response says, copied out before its transaction is destroyed.
  struct ResponseInfo {
    int status = 0;
    std::string phrase;
    std::string toTag;
    std::string contact;
    std::unique_ptr<RouteSet> routes;
    std::optional<uint64_t> expires;
    std::optional<IpCidr> source;  // where the response came from
  };

  Stack(PresenceWatcher& owner, su_root_t* root)
      : owner_(owner),
        root_(root),
        mapper_(owner.config_.presence.busyActivities),
        timeout_(std::chrono::milliseconds(owner.config_.presence.fetchTimeoutMs)) {
    std::random_device entropy;
    tagPrefix_ = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
    subPrefix_ = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  }

  bool start(const std::string& bindUrl) {
    const SipConfig& sip = owner_.config_.sip;
    agent_.reset(nta_agent_create(
        root_, URL_STRING_MAKE(bindUrl.c_str()), &Stack::onMessage,
        reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_UA(1), NTATAG_CLIENT_RPORT(1),
        // A burst of NOTIFYs must not overflow the default ~200 KiB UDP
        // buffer: a dropped NOTIFY costs a 500 ms retransmission.
        TPTAG_UDP_RMEM(kUdpBufferBytes), TPTAG_UDP_WMEM(kUdpBufferBytes),
        // Timer K (T4): how long an answered SUBSCRIBE transaction stays to absorb duplicate
        // answers, about 10 KB each. 5 s kept ~25,000 of them (250 MB) while 100,000
        // subscriptions started; duplicates come within a round trip, later ones are dropped.
        NTATAG_SIP_T4(kTimerKMs),
        // Sofia buffers a message up to this size (default 2 MiB) before refusing it: with up
        // to sip.tcp.maxConnections inbound connections that is the memory a peer can pin.
        NTATAG_MAXSIZE(kMaxMessageBytes),
        // Sofia's own idle and incomplete-message limits for TCP. The TcpGuard closes idle
        // inbound connections (also while a message trickles in) and counts them; Sofia's idle
        // limit is set later than the guard's so that it only ends the outbound connections
        // and nothing is closed uncounted.
        TPTAG_IDLE(2 * sip.tcp.idleTimeoutMs), TPTAG_TIMEOUT(sip.tcp.idleTimeoutMs), TAG_END()));
    if (!agent_) return false;
    resolveNotifySources(sip);
    if (std::find(sip.transports.begin(), sip.transports.end(), SipTransport::kTcp) !=
        sip.transports.end()) {
      tcpGuard_ = std::make_unique<TcpGuard>(root_, sip.tcp, sip.bindHost, owner_.sipPort_,
                                             [this](const TcpGuardCounters& counters) {
                                               std::lock_guard<std::mutex> lock(owner_.statsMutex_);
                                               owner_.stats_.tcpConnections = counters.open;
                                               owner_.stats_.tcpRefused = counters.refused;
                                               owner_.stats_.tcpIdleClosed = counters.idleClosed;
                                             });
      tcpGuard_->setPreferred(notifySources_);
      // No listener found would leave TCP unbounded: refuse to start rather than run so.
      if (!tcpGuard_->start()) {
        startProblem_ = "cannot guard the SIP TCP listener on port " +
                        std::to_string(owner_.sipPort_) + " (sip.tcp limits)";
        return false;
      }
    }
    // Requests are answered statelessly by onMessage: there is no default leg, so NTA creates
    // no server transaction for them. A transaction would keep each NOTIFY and its answer for
    // 64*T1 = 32 s (Timer J), about 10 KB per NOTIFY: 1 GB while 100,000 subscriptions start.
    // This leg only carries outgoing requests; its URL matches no request we receive.
    leg_.reset(nta_leg_tcreate(agent_.get(), &Stack::onLegRequest,
                               reinterpret_cast<nta_leg_magic_t*>(this), NTATAG_NO_DIALOG(1),
                               URLTAG_URL(URL_STRING_MAKE(kOutgoingOnlyUrl)), TAG_END()));
    timer_.reset(su_timer_create(su_root_task(root_), 0));
    if (!leg_ || !timer_) return false;
    routeUrl_ = sip.presenceServerUri;
    host_ = sip.bindHost;
    // The headers every SUBSCRIBE shares are parsed once; NTA copies them into each request.
    home_.reset(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t))));
    if (!home_) return false;
    su_home_t* home = home_.get();
    route_ = sip_route_make(home, routeFor(sip.presenceServerUri).c_str());
    event_ = sip_event_make(home, "presence");
    accept_ = sip_accept_make(home, "application/pidf+xml");
    expires_ = sip_expires_make(home, "0");
    subExpires_ = sip_expires_make(home, std::to_string(requestedExpiresSec()).c_str());
    userAgent_ = sip_user_agent_make(home, sip.userAgent.c_str());
    return route_ && event_ && accept_ && expires_ && subExpires_ && userAgent_;
  }

  // Why start() failed when it was not the binding itself; "" otherwise.
  const std::string& startProblem() const { return startProblem_; }

  // su_msg callback: the command queue has work (or close() was called).
  static void onWake(su_root_magic_t* magic, su_msg_r, su_msg_arg_t*) {
    auto* self = reinterpret_cast<Stack*>(magic);
    try {
      self->drainCommands();
    } catch (...) {
      // Never let an exception cross a Sofia C frame; a failed drain is retried on next wake.
    }
  }

  // Called from a foreign thread with commandsMutex_ held: wakes the SIP thread.
  void wake() {
    su_msg_r msg = SU_MSG_R_INIT;
    if (su_msg_create(msg, su_root_task(root_), su_task_null, &Stack::onWake, sizeof(void*)) == 0) {
      su_msg_send(msg);
    }
  }

  void drainCommands() {
    std::vector<Command> batch;
    bool closing = false;
    {
      std::lock_guard<std::mutex> lock(owner_.commandsMutex_);
      batch.swap(owner_.commands_);
      owner_.wakePending_ = false;
      closing = owner_.closing_;
    }
    for (Command& command : batch) {
      switch (command.op) {
        case Command::Op::kFetch:
          if (closing) {
            finishQueued(command, FetchOutcome::Kind::kShutdown, "gateway is closing");
          } else {
            startFetch(command);
          }
          break;
        case Command::Op::kWatch:
          if (!closing) watch(std::move(command.requestUri));
          break;
        case Command::Op::kUnwatch:
          if (!closing) unwatch(command.requestUri);
          break;
      }
    }
    if (closing) {
      shutdown();
    } else {
      pumpSubscribes();
    }
  }

  // ---- fetches --------------------------------------------------------------------------------

  void startFetch(const Command& command) {
    if (Clock::now() >= command.deadline) {
      finishQueued(command, FetchOutcome::Kind::kTimeout, "fetch timed out before it was sent");
      return;
    }
    const SipConfig& sip = owner_.config_.sip;
    {
      // Counted before the SUBSCRIBE leaves, so stats never lag what the network has seen.
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.started++;
      owner_.stats_.inFlight++;
    }
    Pending pending;
    pending.started = command.deadline - timeout_;
    pending.fromTag = hex(tagPrefix_ ^ command.id);
    pending.callId = pending.fromTag + "-" + std::to_string(command.id) + "@" + host_;
    const std::string from = "<" + sip.watcherUri + ">;tag=" + pending.fromTag;
    const std::string to = "<" + command.requestUri + ">";
    pending.subscribe.reset(nta_outgoing_tcreate(
        leg_.get(), &Stack::onResponse, reinterpret_cast<nta_outgoing_magic_t*>(this),
        URL_STRING_MAKE(routeUrl_.c_str()), sip_method_subscribe, "SUBSCRIBE",
        URL_STRING_MAKE(command.requestUri.c_str()), SIPTAG_ROUTE(route_),
        SIPTAG_FROM_STR(from.c_str()), SIPTAG_TO_STR(to.c_str()),
        SIPTAG_CALL_ID_STR(pending.callId.c_str()), SIPTAG_CSEQ_STR("1 SUBSCRIBE"),
        SIPTAG_CONTACT(nta_agent_contact(agent_.get())), SIPTAG_EVENT(event_),
        SIPTAG_ACCEPT(accept_), SIPTAG_EXPIRES(expires_), SIPTAG_USER_AGENT(userAgent_),
        TAG_END()));
    if (!pending.subscribe) {
      {
        std::lock_guard<std::mutex> lock(owner_.statsMutex_);
        owner_.stats_.started--;
        owner_.stats_.inFlight--;
      }
      finishQueued(command, FetchOutcome::Kind::kSipError,
                   "cannot send SUBSCRIBE to " + command.requestUri);
      return;
    }
    byCallId_.emplace(pending.callId, command.id);
    byTransaction_.emplace(pending.subscribe.get(), command.id);
    pending_.emplace(command.id, std::move(pending));
    deadlines_.emplace_back(command.deadline, command.id);
    armTimer();
  }

  void finishQueued(const Command& command, FetchOutcome::Kind kind, std::string detail) {
    FetchOutcome outcome;
    outcome.id = command.id;
    outcome.kind = kind;
    outcome.detail = std::move(detail);
    outcome.elapsedMs = elapsedSince(command.deadline - timeout_);
    owner_.pushOutcome(std::move(outcome));
  }

  // Ends a pending fetch: drops its transaction (stopping retransmissions) and its Call-ID, so a
  // late NOTIFY is answered 481, and publishes the outcome.
  void finish(uint64_t id, FetchOutcome outcome) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    outcome.id = id;
    outcome.elapsedMs = elapsedSince(it->second.started);
    byCallId_.erase(it->second.callId);
    byTransaction_.erase(it->second.subscribe.get());
    pending_.erase(it);
    {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.completed++;
      owner_.stats_.inFlight--;
      if (outcome.kind == FetchOutcome::Kind::kTimeout) owner_.stats_.timeouts++;
      if (outcome.kind == FetchOutcome::Kind::kSipError) owner_.stats_.sipErrors++;
    }
    owner_.pushOutcome(std::move(outcome));
  }

  // The SUBSCRIBE's responses. 1xx/2xx: keep waiting for the NOTIFY (which may have come first).
  static int onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip) {
    auto* self = reinterpret_cast<Stack*>(magic);
    try {
      auto found = self->byTransaction_.find(orq);
      if (found != self->byTransaction_.end()) self->handleResponse(found->second, orq, sip);
    } catch (...) {
    }
    return 0;
  }

  int handleResponse(uint64_t id, nta_outgoing_t* orq, sip_t const* sip) {
    const int status = nta_outgoing_status(orq);
    if (status < 200) return 0;
    auto it = pending_.find(id);
    if (it == pending_.end()) return 0;
    if (status < 300) {
      // Final 2xx: the transaction is done; the fetch waits for its NOTIFY. Keeping the
      // transaction object until the fetch ends lets NTA absorb 2xx retransmissions.
      it->second.peer = responseSource(orq);
      return 0;
    }
    FetchOutcome outcome;
    outcome.kind = FetchOutcome::Kind::kSipError;
    outcome.sipStatus = status;
    outcome.detail = sip && sip->sip_status && sip->sip_status->st_phrase
                         ? sip->sip_status->st_phrase
                         : (status == 408 ? "Request Timeout" : "");
    finish(id, std::move(outcome));
    return 0;
  }

  // Every request we receive, and every response that matches no transaction (e.g. to a
  // SUBSCRIBE whose fetch already ended, dropped). Requests are answered statelessly: NOTIFYs of
  // fetches and subscriptions in progress are mapped and answered 200; anything else gets the
  // answer RFC 3261/6665 asks for. Without a server transaction a retransmitted NOTIFY (its 200
  // was lost) is handled again: a subscription reports its status twice (the consumer dedups),
  // a finished fetch answers 481 (the notifier already ended that subscription).
  static int onMessage(nta_agent_magic_t* magic, nta_agent_t* agent, msg_t* msg, sip_t* sip) {
    if (!sip || !sip->sip_request) {
      try {
        if (sip) reinterpret_cast<Stack*>(magic)->onCloseAnswer(sip);
      } catch (...) {
      }
      msg_destroy(msg);
      return 0;
    }
    int status = 500;
    try {
      auto* self = reinterpret_cast<Stack*>(magic);
      const su_addrinfo_t* ai = msg_addrinfo(msg);
      if (ai && ai->ai_socktype == SOCK_STREAM && self->tcpGuard_) {
        self->tcpGuard_->noteMessage(ai->ai_addr);
      }
      status = self->handleRequest(sip->sip_request->rq_method, sip, sourceOf(msg));
    } catch (...) {
    }
    if (status == 0) {  // ACK
      msg_destroy(msg);
      return 0;
    }
    // The answer goes back where the request came from, never to a host its top Via names in
    // maddr: that would let anyone aim the gateway's answers at a third host (reflection).
    if (sip->sip_via) msg_header_remove_param(sip->sip_via->v_common, "maddr");
    // nta_msg_treply takes the request message over.
    nta_msg_treply(agent, msg, status, sip_status_phrase(status),
                   SIPTAG_ALLOW_STR(status == 405 ? "NOTIFY, OPTIONS" : nullptr),
                   SIPTAG_ALLOW_EVENTS_STR(status == 489 ? "presence" : nullptr), TAG_END());
    return 0;
  }

  // The leg matches no request (see start()); should one arrive anyway, same handling.
  static int onLegRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq,
                          sip_t const* sip) {
    try {
      msg_t* msg = nta_incoming_getrequest(irq);  // a reference: released below
      const std::optional<IpCidr> source = sourceOf(msg);
      if (msg) msg_destroy(msg);
      return reinterpret_cast<Stack*>(magic)->handleRequest(nta_incoming_method(irq), sip, source);
    } catch (...) {
      return 500;
    }
  }

  int handleRequest(sip_method_t method, sip_t const* sip, const std::optional<IpCidr>& source) {
    if (method == sip_method_options) return 200;
    if (method == sip_method_ack) return 0;
    if (method != sip_method_notify) return 405;
    if (!sip || !sip->sip_call_id || !sip->sip_call_id->i_id) return 400;
    auto found = byCallId_.find(sip->sip_call_id->i_id);
    const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
    if (found != byCallId_.end() && toTag &&
        pending_.at(found->second).fromTag == std::string_view(toTag)) {
      const Pending& pending = pending_.at(found->second);
      if (!notifySourceAllowed(source, pending.peer, nullptr, nullptr)) return refuseSource();
      return handleFetchNotify(found->second, sip);
    }
    const int answer = handleSubscriptionNotify(sip, sip->sip_call_id->i_id, toTag, source);
    pumpSubscribes();
    return answer;
  }

  int handleFetchNotify(uint64_t id, sip_t const* sip) {
    if (!isPresenceEvent(sip)) return 489;
    const PresenceMapping mapping = mapBody(sip);
    FetchOutcome outcome;
    if (mapping.ok) {
      outcome.kind = FetchOutcome::Kind::kStatus;
      outcome.status = mapping.status;
      outcome.sipStatus = 200;
    } else {
      outcome.kind = FetchOutcome::Kind::kBadDocument;
      outcome.detail = mapping.error;
    }
    finish(id, std::move(outcome));
    return 200;
  }

  // ---- long-lived subscriptions ---------------------------------------------------------------

  void watch(std::string uri) {
    if (watched_.count(uri) != 0) return;
    const uint64_t id = nextSubscriptionId_++;
    Subscription& sub = subs_[id];
    sub.id = id;
    sub.uri = std::move(uri);
    watched_.emplace(std::string_view(sub.uri), id);  // the key views sub.uri: erased first
    queueSend(sub, SubState::kQueued);
    publishCounts();
  }

  void unwatch(const std::string& uri) {
    auto it = watched_.find(uri);
    if (it == watched_.end()) return;
    Subscription& sub = subs_.at(it->second);
    watched_.erase(it);
    sub.unwatched = true;
    switch (sub.state) {
      case SubState::kQueued:
      case SubState::kBackoff:
        forget(sub);  // its stale send-queue entry is skipped
        break;
      case SubState::kSubscribing:
        // Without a 2xx there is no dialog to end yet: the 2xx starts the unsubscribe, an error
        // or the deadline forgets it.
        if (sub.orq) break;
        [[fallthrough]];
      case SubState::kActive:
      case SubState::kRefreshQueued:
      case SubState::kRefreshing:
        releaseOrq(sub);
        queueSend(sub, SubState::kUnsubscribeQueued);
        break;
      case SubState::kUnsubscribeQueued:
      case SubState::kUnsubscribing:
        break;
    }
    publishCounts();
  }

  // Sends queued SUBSCRIBEs while fewer than presence.maxSubscribesInFlight are unanswered.
  void pumpSubscribes() {
    const size_t limit = std::max<uint32_t>(1, presence().maxSubscribesInFlight);
    while (!shuttingDown_ && subsInFlight_ < limit && !sendQueue_.empty()) {
      const uint64_t id = sendQueue_.front();
      sendQueue_.pop_front();
      auto it = subs_.find(id);
      if (it == subs_.end()) continue;
      Subscription& sub = it->second;
      switch (sub.state) {
        case SubState::kQueued:
          sendNewDialog(sub);
          break;
        case SubState::kRefreshQueued:
          sendRefresh(sub);
          break;
        case SubState::kUnsubscribeQueued:
          sendUnsubscribe(sub);
          break;
        default:
          break;  // a stale entry: the subscription moved on meanwhile
      }
    }
  }

  void sendNewDialog(Subscription& sub) {
    const bool retry = sub.seq > 0;
    sub.seq++;
    sub.cseq = 1;
    clearDialog(sub);
    sub.responded = false;
    sub.notified = false;
    setState(sub, SubState::kSubscribing);
    countSent(retry, false, 1);
    const std::string callId = callIdFor(sub);
    const std::string from = "<" + owner_.config_.sip.watcherUri + ">;tag=" + fromTagFor(sub);
    const std::string to = "<" + sub.uri + ">";
    NtaOutgoing orq(nta_outgoing_tcreate(
        leg_.get(), &Stack::onSubscribeResponse, reinterpret_cast<nta_outgoing_magic_t*>(this),
        URL_STRING_MAKE(routeUrl_.c_str()), sip_method_subscribe, "SUBSCRIBE",
        URL_STRING_MAKE(sub.uri.c_str()), SIPTAG_ROUTE(route_), SIPTAG_FROM_STR(from.c_str()),
        SIPTAG_TO_STR(to.c_str()), SIPTAG_CALL_ID_STR(callId.c_str()),
        SIPTAG_CSEQ_STR("1 SUBSCRIBE"), SIPTAG_CONTACT(nta_agent_contact(agent_.get())),
        SIPTAG_EVENT(event_), SIPTAG_ACCEPT(accept_), SIPTAG_EXPIRES(subExpires_),
        SIPTAG_USER_AGENT(userAgent_), TAG_END()));
    if (!orq) {
      countSent(retry, false, -1);
      fail(sub, 0, "cannot send SUBSCRIBE to " + sub.uri);
      return;
    }
    attachOrq(sub, std::move(orq));
    schedule(sub, Clock::now() + subscribeTimeout());
  }

  void sendRefresh(Subscription& sub) {
    countSent(false, true, 1);
    NtaOutgoing orq = sendInDialog(sub, subExpires_);
    setState(sub, SubState::kRefreshing);
    if (!orq) {
      countSent(false, true, -1);
      fail(sub, 0, "cannot send the refresh SUBSCRIBE to " + sub.uri);
      return;
    }
    attachOrq(sub, std::move(orq));
    schedule(sub, Clock::now() + subscribeTimeout());
  }

  // Fire and forget, but the dialog is remembered until its answer (or the deadline), so the
  // notifier's last NOTIFY is still answered 200.
  void sendUnsubscribe(Subscription& sub) {
    countSent(false, false, 1);
    NtaOutgoing orq = sendInDialog(sub, expires_);
    setState(sub, SubState::kUnsubscribing);
    if (!orq) {
      countSent(false, false, -1);
      forget(sub);
      return;
    }
    attachOrq(sub, std::move(orq));
    schedule(sub, Clock::now() + subscribeTimeout());
  }

  // A SUBSCRIBE within the dialog (RFC 3261 §12.2.1.1). NTA's default leg has no dialog, so the
  // first hop is given as route_url: the first route (loose routing assumed: ";lr"), else the
  // remote target; a dialog whose 2xx had no Contact goes the initial way, via the presence
  // server.
  NtaOutgoing sendInDialog(Subscription& sub, sip_expires_t* expires) {
    return NtaOutgoing(sendInDialogRaw(sub, expires, false));
  }

  // stateless: no transaction (no retransmission, nothing kept; the answer reaches onMessage).
  // NTA may then return NONE ((nta_outgoing_t*)-1) for an object it already freed: never destroy
  // that result.
  nta_outgoing_t* sendInDialogRaw(Subscription& sub, sip_expires_t* expires, bool stateless) {
    sub.cseq++;
    const std::string callId = callIdFor(sub);
    const std::string from = "<" + owner_.config_.sip.watcherUri + ">;tag=" + fromTagFor(sub);
    const std::string to = "<" + sub.uri + ">;tag=" + sub.remoteTag;
    const std::string cseq = std::to_string(sub.cseq) + " SUBSCRIBE";
    const std::string& requestUri = sub.remoteTarget.empty() ? sub.uri : sub.remoteTarget;
    const char* firstHop = routeUrl_.c_str();
    sip_route_t* route = nullptr;
    const char* routeSet = nullptr;
    if (sub.routes) {
      firstHop = sub.routes->firstHop.c_str();
      routeSet = sub.routes->header.c_str();
    } else if (!sub.remoteTarget.empty()) {
      firstHop = sub.remoteTarget.c_str();
    } else {
      route = route_;
    }
    return nta_outgoing_tcreate(
        leg_.get(), stateless ? nullptr : &Stack::onSubscribeResponse,
        stateless ? nullptr : reinterpret_cast<nta_outgoing_magic_t*>(this),
        URL_STRING_MAKE(firstHop), sip_method_subscribe, "SUBSCRIBE",
        URL_STRING_MAKE(requestUri.c_str()), NTATAG_STATELESS(stateless), SIPTAG_ROUTE(route),
        SIPTAG_ROUTE_STR(routeSet), SIPTAG_FROM_STR(from.c_str()), SIPTAG_TO_STR(to.c_str()),
        SIPTAG_CALL_ID_STR(callId.c_str()), SIPTAG_CSEQ_STR(cseq.c_str()),
        SIPTAG_CONTACT(nta_agent_contact(agent_.get())), SIPTAG_EVENT(event_),
        SIPTAG_ACCEPT(accept_), SIPTAG_EXPIRES(expires), SIPTAG_USER_AGENT(userAgent_), TAG_END());
  }

  static int onSubscribeResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq,
                                 sip_t const* sip) {
    auto* self = reinterpret_cast<Stack*>(magic);
    try {
      self->handleSubscribeResponse(orq, sip);
    } catch (...) {
    }
    return 0;
  }

  void handleSubscribeResponse(nta_outgoing_t* orq, sip_t const* sip) {
    if (nta_outgoing_status(orq) < 200) return;
    auto found = subByOrq_.find(orq);
    if (found == subByOrq_.end()) return;
    // Read first: destroying the transaction may free the response.
    ResponseInfo info = readResponse(orq, sip);
    Subscription& sub = subs_.at(found->second);
    releaseOrq(sub);
    switch (sub.state) {
      case SubState::kSubscribing:
        onNewDialogResponse(sub, std::move(info));
        break;
      case SubState::kRefreshing:
        onRefreshResponse(sub, std::move(info));
        break;
      case SubState::kUnsubscribing:
        forgetUnsubscribed(sub);
        break;
      default:
        break;
    }
    pumpSubscribes();
    finishShutdownIfDone();
  }

  void onNewDialogResponse(Subscription& sub, ResponseInfo info) {
    if (info.status >= 300 || info.toTag.empty()) {
      if (sub.unwatched) {
        forget(sub);
        return;
      }
      fail(sub, info.status,
           info.status >= 300 ? "SUBSCRIBE answered " + describe(info)
                              : "2xx to SUBSCRIBE without a To-tag");
      return;
    }
    sub.responded = true;
    sub.peer = info.source;
    if (sub.remoteTag.empty()) {  // else a NOTIFY came first and made the dialog
      sub.remoteTag = std::move(info.toTag);
      sub.routes = std::move(info.routes);
    }
    if (sub.remoteTarget.empty()) sub.remoteTarget = std::move(info.contact);
    const auto refreshAt = refreshTime(Clock::now(), grantedSeconds(info.expires));
    if (sub.refreshAt == Clock::time_point{} || refreshAt < sub.refreshAt) {
      sub.refreshAt = refreshAt;
    }
    if (sub.unwatched) {
      queueSend(sub, SubState::kUnsubscribeQueued);
    } else if (sub.notified) {
      establish(sub);
    }
  }

  void onRefreshResponse(Subscription& sub, ResponseInfo info) {
    if (info.status >= 300) {
      // 481, 404/410, 408, 5xx...: the dialog is gone (RFC 6665 §4.1.2.2).
      fail(sub, info.status, "refresh SUBSCRIBE answered " + describe(info));
      return;
    }
    if (!info.contact.empty()) sub.remoteTarget = std::move(info.contact);  // target refresh
    sub.refreshAt = refreshTime(Clock::now(), grantedSeconds(info.expires));
    setState(sub, SubState::kActive);
    schedule(sub, sub.refreshAt);
  }

  // The dialog got its 2xx and a NOTIFY: healthy again.
  void establish(Subscription& sub) {
    setState(sub, SubState::kActive);
    sub.failures = 0;
    if (sub.refreshAt == Clock::time_point{}) {
      sub.refreshAt = refreshTime(Clock::now(), requestedExpiresSec());
    }
    schedule(sub, sub.refreshAt);
  }

  // A NOTIFY not of a fetch: of a subscription dialog, of one recently ended, or stray.
  int handleSubscriptionNotify(sip_t const* sip, std::string_view callId, const char* toTag,
                               const std::optional<IpCidr>& source) {
    // Its Contact and Record-Route would become the dialog's target and route: a value Sofia
    // cannot print back into a request (a space, say) aborted the process on the next refresh.
    if ((sip->sip_contact && usableUri(sip->sip_contact->m_url).empty()) ||
        !routesUsable(sip->sip_record_route)) {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.strayRequests++;
      return 400;
    }
    Subscription* sub = findDialog(callId, toTag);
    if (!sub) {
      // The last NOTIFY after an unsubscribe; while closing, that of any dialog.
      if (shuttingDown_ || isTombstoned(callId)) return 200;
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.strayRequests++;
      return 481;  // ends whatever the notifier still holds for it (RFC 6665 4.1.3)
    }
    if (!notifySourceAllowed(source, sub->peer, &sub->remoteTarget,
                             sub->routes ? &sub->routes->firstHop : nullptr)) {
      return refuseSource();
    }
    const char* fromTag = sip->sip_from ? sip->sip_from->a_tag : nullptr;
    if (!fromTag || !*fromTag) return 400;
    if (!sub->remoteTag.empty() && sub->remoteTag != fromTag) {
      // Another fork of the SUBSCRIBE: only the first dialog is kept.
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.strayRequests++;
      return 481;
    }
    if (!isPresenceEvent(sip)) return 489;
    if (sub->remoteTag.empty()) {  // the NOTIFY overtook the 2xx and creates the dialog
      sub->remoteTag = fromTag;
      sub->routes = makeRouteSet(sip->sip_record_route, false);
    }
    if (sip->sip_contact) {
      std::string target = urlString(sip->sip_contact->m_url);
      if (!target.empty()) sub->remoteTarget = std::move(target);
    }
    if (sub->unwatched) return 200;  // being unsubscribed: nothing more to report

    const sip_subscription_state_t* state = sip->sip_subscription_state;
    const std::string_view substate = state && state->ss_substate ? state->ss_substate : "active";
    const bool terminated = ascii::equalsNoCase(substate, "terminated");
    const bool hasBody = sip->sip_payload && sip->sip_payload->pl_len > 0;
    sub->notified = true;
    // An "active" NOTIFY without a body says the presentity publishes nothing (e.g. Kamailio
    // when a publication expired): that maps to Unreachable. "pending" or "terminated" without
    // a body say nothing about the terminal.
    if (hasBody || (!terminated && !ascii::equalsNoCase(substate, "pending"))) {
      const PresenceMapping mapping = mapBody(sip);
      if (mapping.ok) {
        SubscriptionEvent event;
        event.kind = SubscriptionEvent::Kind::kStatus;
        event.requestUri = sub->uri;
        event.status = mapping.status;
        owner_.pushSubscriptionEvent(std::move(event));
      }
    }
    if (terminated) {
      tombstone(std::string(callId));  // its retransmissions still get 200
      // The notifier ended the dialog (any reason): start a new one after the backoff. Kamailio
      // sends reason=timeout when the subscription expired, deactivated/probation on policy,
      // rejected/noresource/giveup when it will not serve it; all count as one failure.
      const std::string reason = state && state->ss_reason ? state->ss_reason : "";
      const uint64_t retryAfterSec =
          state && state->ss_retry_after ? std::strtoull(state->ss_retry_after, nullptr, 10) : 0;
      fail(*sub, sub->responded ? 200 : 0,
           "the presence server terminated the subscription" +
               (reason.empty() ? std::string() : " (reason=" + reason + ")"),
           retryAfterSec);
      return 200;
    }
    if (state && state->ss_expires) {
      const uint64_t seconds = std::strtoull(state->ss_expires, nullptr, 10);
      const auto refreshAt =
          refreshTime(Clock::now(), static_cast<uint32_t>(std::min<uint64_t>(seconds, 86400)));
      if (sub->refreshAt == Clock::time_point{} || refreshAt < sub->refreshAt) {
        sub->refreshAt = refreshAt;
        if (sub->state == SubState::kActive) schedule(*sub, refreshAt);
      }
    }
    if (sub->state == SubState::kSubscribing && sub->responded) establish(*sub);
    return 200;
  }

  // The subscription whose current dialog has this Call-ID and our tag, if it takes NOTIFYs.
  Subscription* findDialog(std::string_view callId, const char* toTag) {
    // "<hex>-s<id>-<seq>@host"
    const size_t mark = callId.find("-s");
    const size_t dash = callId.find('-', mark == std::string_view::npos ? 0 : mark + 2);
    const size_t at = callId.find('@');
    if (mark == std::string_view::npos || dash == std::string_view::npos ||
        at == std::string_view::npos || !(mark + 2 < dash && dash + 1 < at) || !toTag) {
      return nullptr;
    }
    uint64_t id = 0;
    uint32_t seq = 0;
    const char* text = callId.data();
    if (std::from_chars(text + mark + 2, text + dash, id).ec != std::errc() ||
        std::from_chars(text + dash + 1, text + at, seq).ec != std::errc()) {
      return nullptr;
    }
    auto it = subs_.find(id);
    if (it == subs_.end()) return nullptr;
    Subscription& sub = it->second;
    if (sub.seq != seq || sub.state == SubState::kQueued || sub.state == SubState::kBackoff ||
        callIdFor(sub) != callId || fromTagFor(sub) != toTag) {
      return nullptr;
    }
    return &sub;
  }

  // One failure of the current dialog (or of the attempt to make one): re-subscribe with a new
  // dialog after the backoff, or give the terminal up after maxSubscribeFailures in a row.
  void fail(Subscription& sub, int sipStatus, std::string detail, uint64_t retryAfterSec = 0) {
    releaseOrq(sub);
    clearDialog(sub);
    if (sub.unwatched) {
      forget(sub);
      return;
    }
    sub.failures++;
    if (sub.failures >= std::max<uint32_t>(1, presence().maxSubscribeFailures)) {
      SubscriptionEvent event;
      event.kind = SubscriptionEvent::Kind::kFailed;
      event.requestUri = sub.uri;
      event.sipStatus = sipStatus;
      event.detail = std::move(detail);
      {
        std::lock_guard<std::mutex> lock(owner_.statsMutex_);
        owner_.stats_.subscriptionFailures++;
      }
      forget(sub);
      owner_.pushSubscriptionEvent(std::move(event));
      return;
    }
    const uint64_t maxMs =
        std::max(presence().resubscribeBackoffMaxMs, presence().resubscribeBackoffMs);
    uint64_t delayMs = presence().resubscribeBackoffMs;
    for (uint32_t i = 1; i < sub.failures && delayMs < maxMs; ++i) delayMs *= 2;
    delayMs = std::min(std::max(delayMs, retryAfterSec * 1000), maxMs);
    setState(sub, SubState::kBackoff);
    schedule(sub, Clock::now() + std::chrono::milliseconds(delayMs));
  }

  void onSubscriptionTimer(Subscription& sub) {
    switch (sub.state) {
      case SubState::kBackoff:
        queueSend(sub, SubState::kQueued);
        break;
      case SubState::kSubscribing:
        if (sub.unwatched) {
          forget(sub);
        } else if (sub.responded) {
          fail(sub, 200,
               "no NOTIFY within " + std::to_string(presence().subscribeTimeoutMs) +
                   " ms of the 2xx to SUBSCRIBE");
        } else {
          fail(sub, 408,
               "no answer to SUBSCRIBE within " + std::to_string(presence().subscribeTimeoutMs) +
                   " ms");
        }
        break;
      case SubState::kActive:
        queueSend(sub, SubState::kRefreshQueued);
        break;
      case SubState::kRefreshing:
        fail(sub, 408,
             "no answer to the refresh SUBSCRIBE within " +
                 std::to_string(presence().subscribeTimeoutMs) + " ms");
        break;
      case SubState::kUnsubscribing:
        releaseOrq(sub);
        forgetUnsubscribed(sub);
        break;
      default:
        break;
    }
  }

  void expireSubscriptionTimers() {
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.front().at <= now) {
      std::pop_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
      const TimerEntry entry = timers_.back();
      timers_.pop_back();
      auto it = subs_.find(entry.id);
      if (it == subs_.end() || it->second.timerGen != entry.gen) continue;  // stale
      onSubscriptionTimer(it->second);
    }
    pumpSubscribes();
  }

  // Replaces the subscription's pending timer (if any) by one at `at`.
  void schedule(Subscription& sub, Clock::time_point at) {
    sub.timerGen++;
    // Rescheduling leaves stale entries behind; rebuild the heap before they dominate it.
    if (timers_.size() >= 2 * subs_.size() + 1024) compactTimers();
    timers_.push_back(TimerEntry{at, sub.id, sub.timerGen});
    std::push_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
    armTimer();
  }

  void compactTimers() {
    timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                                 [this](const TimerEntry& entry) {
                                   auto it = subs_.find(entry.id);
                                   return it == subs_.end() || it->second.timerGen != entry.gen;
                                 }),
                  timers_.end());
    std::make_heap(timers_.begin(), timers_.end(), std::greater<TimerEntry>());
  }

  void queueSend(Subscription& sub, SubState state) {
    setState(sub, state);
    sub.timerGen++;  // no timer while queued
    sendQueue_.push_back(sub.id);
  }

  void attachOrq(Subscription& sub, NtaOutgoing orq) {
    subByOrq_.emplace(orq.get(), sub.id);
    sub.orq = std::move(orq);
    subsInFlight_++;
  }

  // Drops the subscription's unanswered transaction (NTA stops reporting it) and its slot.
  void releaseOrq(Subscription& sub) {
    if (!sub.orq) return;
    subByOrq_.erase(sub.orq.get());
    sub.orq.reset();
    subsInFlight_--;
  }

  static void clearDialog(Subscription& sub) {
    sub.remoteTag.clear();
    sub.remoteTarget.clear();
    sub.routes.reset();
    sub.peer.reset();
    sub.refreshAt = {};
  }

  static bool isEstablished(SubState state) {
    return state == SubState::kActive || state == SubState::kRefreshQueued ||
           state == SubState::kRefreshing;
  }

  void setState(Subscription& sub, SubState next) {
    const bool was = isEstablished(sub.state);
    const bool is = isEstablished(next);
    sub.state = next;
    if (was == is) return;
    if (is) {
      activeCount_++;
    } else {
      activeCount_--;
    }
    publishCounts();
  }

  void forget(Subscription& sub) {
    if (!sub.unwatched) watched_.erase(sub.uri);
    releaseOrq(sub);
    setState(sub, SubState::kQueued);
    const uint64_t id = sub.id;  // not a reference into the node being erased
    subs_.erase(id);
    publishCounts();
    finishShutdownIfDone();
  }

  // After the Expires: 0: its answer came (or never will). A late NOTIFY still gets 200.
  void forgetUnsubscribed(Subscription& sub) {
    tombstone(callIdFor(sub));
    forget(sub);
  }

  void tombstone(std::string callId) {
    const auto now = Clock::now();
    pruneTombstones(now);
    if (tombstones_.insert(callId).second) {
      tombstoneOrder_.emplace_back(now + kTombstoneLifetime, std::move(callId));
    }
  }

  bool isTombstoned(std::string_view callId) {
    pruneTombstones(Clock::now());
    return tombstones_.count(std::string(callId)) != 0;
  }

  void pruneTombstones(Clock::time_point now) {
    while (!tombstoneOrder_.empty() && tombstoneOrder_.front().first <= now) {
      tombstones_.erase(tombstoneOrder_.front().second);
      tombstoneOrder_.pop_front();
    }
  }

  void publishCounts() {
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.subscriptions = watched_.size();
    owner_.stats_.subscriptionsActive = activeCount_;
  }

  // delta +1 before a SUBSCRIBE leaves (stats never lag the network), -1 when it could not.
  void countSent(bool resubscribe, bool refresh, int delta) {
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    WatcherStats& stats = owner_.stats_;
    const auto apply = [delta](uint64_t& counter) {
      counter = delta > 0 ? counter + 1 : counter - 1;
    };
    apply(stats.subscribeRequests);
    if (resubscribe) apply(stats.resubscribes);
    if (refresh) apply(stats.refreshes);
  }

  std::string callIdFor(const Subscription& sub) const {
    return hex(subPrefix_ ^ sub.id) + "-s" + std::to_string(sub.id) + "-" +
           std::to_string(sub.seq) + "@" + host_;
  }

  std::string fromTagFor(const Subscription& sub) const {
    return hex(subPrefix_ ^ tagPrefix_ ^ sub.id) + "." + std::to_string(sub.seq);
  }

  const PresenceConfig& presence() const { return owner_.config_.presence; }

  uint32_t requestedExpiresSec() const {
    return std::max<uint32_t>(1, presence().subscriptionExpiresSec);
  }

  std::chrono::milliseconds subscribeTimeout() const {
    return std::chrono::milliseconds(presence().subscribeTimeoutMs);
  }

  // The Expires of a 2xx, or the requested one when absent; never above the requested one
  // (RFC 6665 §4.2.1.1) nor below 1 s.
  uint32_t grantedSeconds(const std::optional<uint64_t>& expires) const {
    const uint64_t requested = requestedExpiresSec();
    return static_cast<uint32_t>(std::clamp<uint64_t>(expires.value_or(requested), 1, requested));
  }

  // Refresh before expiry, leaving half the duration but at most 60 s for the refresh to land.
  static Clock::time_point refreshTime(Clock::time_point now, uint32_t seconds) {
    const uint64_t ms = static_cast<uint64_t>(seconds) * 1000;
    const uint64_t margin = std::min<uint64_t>(ms / 2, 60000);
    return now + std::chrono::milliseconds(ms - margin);
  }

  ResponseInfo readResponse(nta_outgoing_t* orq, sip_t const* sip) {
    ResponseInfo info;
    info.status = nta_outgoing_status(orq);
    info.source = responseSource(orq);
    if (sip && sip->sip_status && sip->sip_status->st_phrase) {
      info.phrase = sip->sip_status->st_phrase;
    } else if (info.status == 408) {
      info.phrase = "Request Timeout";
    }
    if (!sip || info.status >= 300) return info;
    if (sip->sip_to && sip->sip_to->a_tag) info.toTag = sip->sip_to->a_tag;
    // A target or route that is not a clean sip:/sips: URI is not adopted (see usableUri).
    if (sip->sip_contact) info.contact = usableUri(sip->sip_contact->m_url);
    if (routesUsable(sip->sip_record_route))
      info.routes = makeRouteSet(sip->sip_record_route, true);
    if (sip->sip_expires) info.expires = sip->sip_expires->ex_delta;
    return info;
  }

  static std::string describe(const ResponseInfo& info) {
    return std::to_string(info.status) + (info.phrase.empty() ? "" : " " + info.phrase);
  }

  // Record-Route → route set: reversed for the 2xx we received as UAC, in order for a NOTIFY
  // we received as UAS (RFC 3261 §12.1.2 / §12.1.1).
  std::unique_ptr<RouteSet> makeRouteSet(const sip_record_route_t* rr, bool reverse) {
    std::vector<std::string> entries;
    for (; rr; rr = rr->r_next) {
      char* text = sip_header_as_string(home_.get(), reinterpret_cast<sip_header_t const*>(rr));
      if (text) {
        entries.emplace_back(text);
        su_free(home_.get(), text);
      }
    }
    if (entries.empty()) return nullptr;
    if (reverse) std::reverse(entries.begin(), entries.end());
    auto routes = std::make_unique<RouteSet>();
    for (const std::string& entry : entries) {
      if (!routes->header.empty()) routes->header += ", ";
      routes->header += entry;
    }
    const std::string& first = entries.front();
    const size_t open = first.find('<');
    const size_t close = first.find('>', open == std::string::npos ? 0 : open);
    routes->firstHop = open != std::string::npos && close != std::string::npos
                           ? first.substr(open + 1, close - open - 1)
                           : first.substr(0, first.find(';'));
    return routes;
  }

  // The URI as text when it may be used as a request's target or route: printable, no white
  // space or control characters, and a sip:/sips: URI our address parser accepts (routing
  // parameters allowed); "" otherwise. What Sofia parsed leniently from the network is not
  // always what it can build a request from again.
  std::string usableUri(const url_t* url) {
    std::string text = urlString(url);
    for (unsigned char c : text) {
      if (c <= 0x20 || c >= 0x7f) return std::string();
    }
    const AddressParseResult parsed = parseAddress(text, AddressUse::kRouting);
    if (!parsed.ok() || (parsed.address.scheme != AddressScheme::kSip &&
                         parsed.address.scheme != AddressScheme::kSips)) {
      return std::string();
    }
    return text;
  }

  bool routesUsable(const sip_record_route_t* rr) {
    for (; rr; rr = rr->r_next) {
      if (usableUri(rr->r_url).empty()) return false;
    }
    return true;
  }

  std::string urlString(const url_t* url) {
    char* text = url_as_string(home_.get(), url);
    if (!text) return std::string();
    std::string out(text);
    su_free(home_.get(), text);
    return out;
  }

  static bool isPresenceEvent(sip_t const* sip) {
    return sip->sip_event && sip->sip_event->o_type &&
           std::string_view(sip->sip_event->o_type) == "presence";
  }

  PresenceMapping mapBody(sip_t const* sip) const {
    const std::string_view contentType =
        sip->sip_content_type && sip->sip_content_type->c_type ? sip->sip_content_type->c_type : "";
    std::string_view body;
    if (sip->sip_payload && sip->sip_payload->pl_data) {
      body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
    }
    return mapper_.map(contentType, body);
  }

  // ---- NOTIFY sources -------------------------------------------------------------------------

  // The presence server's host (an IP literal, or a name resolved once here: NTA resolves the
  // same name for every SUBSCRIBE anyway) and the trusted sources of the configuration.
  void resolveNotifySources(const SipConfig& sip) {
    for (const std::string& text : sip.trustedNotifySources) {
      if (auto cidr = IpCidr::parse(text)) notifySources_.push_back(*cidr);
    }
    const std::string host = uriHost(sip.presenceServerUri);
    if (auto literal = IpCidr::parse(host)) {
      notifySources_.push_back(*literal);
      return;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* list = nullptr;
    if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return;
    for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
      if (auto address = IpCidr::fromSockaddr(ai->ai_addr)) notifySources_.push_back(*address);
    }
    ::freeaddrinfo(list);
  }

  static std::optional<IpCidr> responseSource(nta_outgoing_t* orq) {
    msg_t* response = nta_outgoing_getresponse(orq);  // a reference: released below
    std::optional<IpCidr> source = sourceOf(response);
    if (response) msg_destroy(response);
    return source;
  }

  // A NOTIFY of a dialog is taken from: the presence server or a trusted source, the source of
  // the dialog's 2xx, or the host (IP literal) of its remote target or first route. A NOTIFY
  // that overtakes the 2xx therefore needs the presence server's or a trusted address. Only the
  // IP is compared: over TCP the notifier's source port is an ephemeral one.
  bool notifySourceAllowed(const std::optional<IpCidr>& source, const std::optional<IpCidr>& peer,
                           const std::string* remoteTarget, const std::string* firstHop) const {
    if (!owner_.config_.sip.checkNotifySource) return true;
    if (!source) return false;
    for (const IpCidr& allowed : notifySources_) {
      if (allowed.contains(*source)) return true;
    }
    if (peer && peer->contains(*source)) return true;
    for (const std::string* uri : {remoteTarget, firstHop}) {
      if (!uri || uri->empty()) continue;
      if (auto host = IpCidr::parse(uriHost(*uri)); host && host->contains(*source)) return true;
    }
    return false;
  }

  // 403, not 481: the request is understood and names a live dialog, but the sender may not
  // speak for it. 481 would claim the dialog is gone, and a notifier that is legitimate but not
  // configured (a multi-homed presence server) would end the subscription without a trace;
  // a 403 shows in its logs. The body is never looked at.
  int refuseSource() {
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.notifySourceRefused++;
    return 403;
  }

  // ---- timer ----------------------------------------------------------------------------------

  // Arms the one su_timer for the earliest of: fetch deadlines, subscription timers, the close
  // grace. Entries may be stale: firing early for them costs one wake-up.
  void armTimer() {
    if (!timer_ || broken_) return;
    std::optional<Clock::time_point> next;
    const auto consider = [&next](Clock::time_point at) {
      if (!next || at < *next) next = at;
    };
    if (!deadlines_.empty()) consider(deadlines_.front().first);
    if (!timers_.empty()) consider(timers_.front().at);
    if (shuttingDown_) consider(nextCloseDeadline());
    if (!next || (timerArmed_ && armedAt_ <= *next)) return;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now());
    const long ms = wait.count() < 0 ? 0 : static_cast<long>(wait.count()) + 1;
    su_timer_reset(timer_.get());
    timerArmed_ = false;
    if (su_timer_set_interval(timer_.get(), &Stack::onTimer,
                              reinterpret_cast<su_timer_arg_t*>(this),
                              static_cast<su_duration_t>(ms)) == 0) {
      timerArmed_ = true;
      armedAt_ = *next;
    }
  }

  static void onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<Stack*>(arg);
    try {
      self->timerArmed_ = false;
      self->expireDeadlines();
      self->expireSubscriptionTimers();
      if (self->shuttingDown_) self->expireClose(Clock::now());
      self->armTimer();
    } catch (...) {
    }
  }

  // Deadlines are pushed in fetch order and all fetches share one timeout, so the queue is sorted.
  void expireDeadlines() {
    const auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      const uint64_t id = deadlines_.front().second;
      deadlines_.pop_front();
      if (pending_.count(id) == 0) continue;  // already finished
      FetchOutcome outcome;
      outcome.kind = FetchOutcome::Kind::kTimeout;
      outcome.detail = "no presence document within " +
                       std::to_string(owner_.config_.presence.fetchTimeoutMs) + " ms";
      finish(id, std::move(outcome));
    }
  }

  // ---- shutdown -------------------------------------------------------------------------------

  // Ends every fetch (kShutdown) and every subscription. Each established dialog gets a
  // SUBSCRIBE Expires: 0, sent statelessly (best effort: no retransmission, no transaction kept)
  // and paced like other SUBSCRIBEs by maxSubscribesInFlight; the loop runs until every one was
  // answered, until no answer came for kCloseGrace (a silent notifier, lost datagrams), or for
  // kCloseBudget in all. Dialogs not reached expire at the notifier, and their NOTIFYs meanwhile
  // get 481 from whoever owns the port next. (Sending 100,000 at once would keep 100,000
  // transactions, about 1 GB, until the loop ends.)
  void shutdown() {
    if (shuttingDown_) return;
    shuttingDown_ = true;
    std::vector<uint64_t> ids;
    ids.reserve(pending_.size());
    for (const auto& entry : pending_) ids.push_back(entry.first);
    for (uint64_t id : ids) {
      FetchOutcome outcome;
      outcome.kind = FetchOutcome::Kind::kShutdown;
      outcome.detail = "gateway is closing";
      finish(id, std::move(outcome));
    }
    deadlines_.clear();

    watched_.clear();
    sendQueue_.clear();
    timers_.clear();
    ids.clear();
    ids.reserve(subs_.size());
    for (const auto& entry : subs_) ids.push_back(entry.first);
    for (uint64_t id : ids) {
      Subscription& sub = subs_.at(id);
      sub.unwatched = true;
      releaseOrq(sub);
      // An unwatch's Expires: 0 already went out: not waited for.
      if (sub.remoteTag.empty() || sub.state == SubState::kUnsubscribing) {
        forget(sub);
      } else {
        closeQueue_.push_back(id);
      }
    }
    publishCounts();
    closeStartedAt_ = closeProgressAt_ = Clock::now();
    pumpClose();
    finishShutdownIfDone();
    armTimer();
  }

  void pumpClose() {
    const size_t limit = std::max<uint32_t>(1, presence().maxSubscribesInFlight);
    while (closePending_.size() < limit && !closeQueue_.empty()) {
      auto it = subs_.find(closeQueue_.front());
      closeQueue_.pop_front();
      if (it == subs_.end()) continue;
      Subscription& sub = it->second;
      countSent(false, false, 1);
      if (sendInDialogRaw(sub, expires_, true) != nullptr) {
        const auto now = Clock::now();
        std::string callId = callIdFor(sub);
        closePending_.insert(callId);
        closeOrder_.emplace_back(now, std::move(callId));
      } else {
        countSent(false, false, -1);
      }
      forget(sub);
    }
  }

  // A response that matched no transaction: while closing, maybe to a stateless Expires: 0.
  void onCloseAnswer(sip_t const* sip) {
    if (!shuttingDown_ || !sip->sip_status || sip->sip_status->st_status < 200 ||
        !sip->sip_call_id || !sip->sip_call_id->i_id || !sip->sip_cseq ||
        sip->sip_cseq->cs_method != sip_method_subscribe) {
      return;
    }
    if (closePending_.erase(sip->sip_call_id->i_id) == 0) return;
    closeProgressAt_ = Clock::now();
    pumpClose();
    finishShutdownIfDone();
  }

  // Timer work while closing: requests unanswered for kCloseGrace are given up (their slot
  // freed); no answer at all for kCloseGrace ends the wait.
  void expireClose(Clock::time_point now) {
    if (now - closeProgressAt_ >= kCloseGrace || now - closeStartedAt_ >= kCloseBudget) {
      breakLoop();
      return;
    }
    while (!closeOrder_.empty() && closeOrder_.front().first + kCloseGrace <= now) {
      closePending_.erase(closeOrder_.front().second);
      closeOrder_.pop_front();
    }
    pumpClose();
    finishShutdownIfDone();
  }

  // The earliest moment expireClose has work; drops answered requests from the front.
  Clock::time_point nextCloseDeadline() {
    while (!closeOrder_.empty() && closePending_.count(closeOrder_.front().second) == 0) {
      closeOrder_.pop_front();
    }
    Clock::time_point next =
        std::min(closeProgressAt_ + kCloseGrace, closeStartedAt_ + kCloseBudget);
    if (!closeOrder_.empty()) next = std::min(next, closeOrder_.front().first + kCloseGrace);
    return next;
  }

  void finishShutdownIfDone() {
    if (shuttingDown_ && subs_.empty() && closePending_.empty()) breakLoop();
  }

  void breakLoop() {
    if (broken_) return;
    broken_ = true;
    if (timer_) su_timer_reset(timer_.get());
    timerArmed_ = false;
    su_root_break(root_);
  }

  static std::string hex(uint64_t value) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<size_t>(i)] = kDigits[value & 15];
    return out;
  }

  uint32_t elapsedSince(Clock::time_point started) const {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    return ms < 0 ? 0 : static_cast<uint32_t>(ms);
  }

  // Transactions before the leg, the leg before the agent; the root goes last (by the caller).
  void destroy() {
    byTransaction_.clear();
    byCallId_.clear();
    pending_.clear();
    watched_.clear();
    subByOrq_.clear();
    subs_.clear();
    timers_.clear();
    timer_.reset();
    tcpGuard_.reset();
    leg_.reset();
    agent_.reset();
    home_.reset();
  }

 private:
  // How long an ended dialog's Call-ID still gets 200 for its NOTIFYs: a NOTIFY transaction's
  // lifetime over UDP (64 * T1).
  static constexpr std::chrono::seconds kTombstoneLifetime{32};
  // How long close() waits for an answer to its Expires: 0 requests, and in all.
  static constexpr std::chrono::milliseconds kCloseGrace{200};
  static constexpr std::chrono::milliseconds kCloseBudget{2000};
  static constexpr const char* kOutgoingOnlyUrl = "sip:outgoing-only.invalid";

  PresenceWatcher& owner_;
  su_root_t* root_;
  PresenceDocumentMapper mapper_;
  Clock::duration timeout_;
  uint64_t tagPrefix_ = 0;
  uint64_t subPrefix_ = 0;
  std::string routeUrl_;
  SuHome home_;  // owns the pre-parsed headers below; scratch space for header → string
  sip_route_t* route_ = nullptr;
  sip_event_t* event_ = nullptr;
  sip_accept_t* accept_ = nullptr;
  sip_expires_t* expires_ = nullptr;
  sip_expires_t* subExpires_ = nullptr;
  sip_user_agent_t* userAgent_ = nullptr;
  std::string host_;
  NtaAgent agent_;
  NtaLeg leg_;
  SuTimer timer_;
  std::unique_ptr<TcpGuard> tcpGuard_;  // only with the tcp transport
  std::string startProblem_;
  // NOTIFY sources accepted for every dialog: the presence server's addresses and
  // sip.trustedNotifySources.
  std::vector<IpCidr> notifySources_;
  bool timerArmed_ = false;
  Clock::time_point armedAt_{};
  // Fetches.
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
  std::deque<std::pair<Clock::time_point, uint64_t>> deadlines_;
  // Subscriptions: subs_ owns them (node-based: addresses are stable); watched_ indexes the
  // watched ones by URI (its keys view Subscription::uri).
  std::unordered_map<uint64_t, Subscription> subs_;
  std::unordered_map<std::string_view, uint64_t> watched_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> subByOrq_;
  std::deque<uint64_t> sendQueue_;  // FIFO of subscriptions waiting for a transaction slot
  std::vector<TimerEntry> timers_;  // min-heap by time, lazy deletion (TimerEntry::gen)
  std::deque<std::pair<Clock::time_point, std::string>> tombstoneOrder_;
  std::unordered_set<std::string> tombstones_;
  uint64_t nextSubscriptionId_ = 1;
  size_t subsInFlight_ = 0;
  size_t activeCount_ = 0;
  bool shuttingDown_ = false;
  bool broken_ = false;
  // close(): dialogs waiting for their Expires: 0, and those sent but not answered yet.
  std::deque<uint64_t> closeQueue_;
  std::unordered_set<std::string> closePending_;
  std::deque<std::pair<Clock::time_point, std::string>> closeOrder_;
  Clock::time_point closeStartedAt_{};
  Clock::time_point closeProgressAt_{};
};

PresenceWatcher::PresenceWatcher(const GatewayConfig& config, OutcomeSignal signal)
    : config_(config), signal_(std::move(signal)) {
  sofiaInit();
  const SipConfig& sip = config_.sip;
  sipPort_ = sip.port != 0 ? sip.port : pickFreePort(sip.bindHost);
  std::string url = "sip:" + hostForUri(sip.bindHost) + ":" + std::to_string(sipPort_);
  if (sip.transports.size() == 1) {
    url += sip.transports.front() == SipTransport::kUdp ? ";transport=udp" : ";transport=tcp";
  }
  thread_ = std::thread(&PresenceWatcher::run, this, url);
  std::unique_lock<std::mutex> lock(startMutex_);
  startCv_.wait(lock, [this] { return started_; });
  if (!startError_.empty()) {
    lock.unlock();
    thread_.join();
    throw std::runtime_error(startError_);
  }
}

PresenceWatcher::~PresenceWatcher() {
  close();
}

void PresenceWatcher::run(std::string bindUrl) {
  SuRoot root(su_root_create(nullptr));
  std::unique_ptr<Stack> stack;
  std::string error;
  if (!root) {
    error = "cannot create the SIP event loop";
  } else {
    stack = std::make_unique<Stack>(*this, root.get());
    su_root_set_magic(root.get(), reinterpret_cast<su_root_magic_t*>(stack.get()));
    if (!stack->start(bindUrl)) {
      error = stack->startProblem().empty()
                  ? "cannot bind the SIP transports on " + bindUrl + " (address in use or invalid)"
                  : stack->startProblem();
    }
  }
  {
    std::lock_guard<std::mutex> lock(startMutex_);
    started_ = true;
    startError_ = error;
    if (error.empty()) {
      std::lock_guard<std::mutex> commands(commandsMutex_);
      stack_ = stack.get();
    }
  }
  startCv_.notify_all();
  if (!error.empty()) return;

  su_root_run(root.get());  // until close() makes the stack break it

  {
    std::lock_guard<std::mutex> commands(commandsMutex_);
    stack_ = nullptr;
  }
  stack->destroy();
  stack.reset();
  // Fetches queued after the last drain still get their outcome.
  std::vector<Command> leftovers;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    leftovers.swap(commands_);
  }
  for (const Command& command : leftovers) {
    if (command.op != Command::Op::kFetch) continue;  // watches end with the watcher
    FetchOutcome outcome;
    outcome.id = command.id;
    outcome.kind = FetchOutcome::Kind::kShutdown;
    outcome.detail = "gateway is closing";
    pushOutcome(std::move(outcome));
  }
}

uint64_t PresenceWatcher::fetch(const std::string& requestUri, bool wakeNow) {
  const uint64_t id = nextId_.fetch_add(1);
  const auto deadline = Clock::now() + std::chrono::milliseconds(config_.presence.fetchTimeoutMs);
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (!closing_ && stack_) {
      commands_.push_back(Command{id, requestUri, deadline});
      if (wakeNow && !wakePending_) {
        wakePending_ = true;
        stack_->wake();
      }
      return id;
    }
  }
  FetchOutcome outcome;
  outcome.id = id;
  outcome.kind = FetchOutcome::Kind::kShutdown;
  outcome.detail = "gateway is closed";
  pushOutcome(std::move(outcome));
  return id;
}

void PresenceWatcher::watch(const std::string& requestUri, bool wakeNow) {
  enqueue(Command{0, requestUri, {}, Command::Op::kWatch}, wakeNow);
}

void PresenceWatcher::unwatch(const std::string& requestUri, bool wakeNow) {
  enqueue(Command{0, requestUri, {}, Command::Op::kUnwatch}, wakeNow);
}

// Watch commands after close() are dropped: close() already ended every subscription.
void PresenceWatcher::enqueue(Command command, bool wakeNow) {
  std::lock_guard<std::mutex> lock(commandsMutex_);
  if (closing_ || !stack_) return;
  commands_.push_back(std::move(command));
  if (wakeNow && !wakePending_) {
    wakePending_ = true;
    stack_->wake();
  }
}

void PresenceWatcher::flush() {
  std::lock_guard<std::mutex> lock(commandsMutex_);
  if (!commands_.empty() && !wakePending_ && !closing_ && stack_) {
    wakePending_ = true;
    stack_->wake();
  }
}

void PresenceWatcher::pushOutcome(FetchOutcome outcome) {
  bool wasEmpty = false;
  {
    std::lock_guard<std::mutex> lock(outcomesMutex_);
    wasEmpty = outcomes_.empty();
    outcomes_.push_back(std::move(outcome));
  }
  if (wasEmpty && signal_) signal_();
}

std::vector<FetchOutcome> PresenceWatcher::takeOutcomes() {
  std::vector<FetchOutcome> taken;
  std::lock_guard<std::mutex> lock(outcomesMutex_);
  taken.swap(outcomes_);
  return taken;
}

void PresenceWatcher::pushSubscriptionEvent(SubscriptionEvent event) {
  bool wasEmpty = false;
  {
    std::lock_guard<std::mutex> lock(subscriptionEventsMutex_);
    wasEmpty = subscriptionEvents_.empty();
    subscriptionEvents_.push_back(std::move(event));
  }
  if (wasEmpty && signal_) signal_();
}

std::vector<SubscriptionEvent> PresenceWatcher::takeSubscriptionEvents() {
  std::vector<SubscriptionEvent> taken;
  std::lock_guard<std::mutex> lock(subscriptionEventsMutex_);
  taken.swap(subscriptionEvents_);
  return taken;
}

void PresenceWatcher::close() {
  std::lock_guard<std::mutex> closeLock(closeMutex_);
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (!closing_) {
      closing_ = true;
      if (stack_) stack_->wake();
    }
  }
  if (thread_.joinable()) thread_.join();
}

WatcherStats PresenceWatcher::stats() const {
  std::lock_guard<std::mutex> lock(statsMutex_);
  return stats_;
}

}  // namespace px
