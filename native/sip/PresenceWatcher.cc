#include "sip/PresenceWatcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "presence/PresenceDocument.h"
#include "sip/Sofia.h"

namespace px {

using Clock = std::chrono::steady_clock;

constexpr unsigned kUdpBufferBytes = 4 * 1024 * 1024;

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
class PresenceWatcher::Stack {
 public:
  struct Pending {
    NtaOutgoing subscribe;  // reset once the final response arrived
    std::string callId;
    std::string fromTag;
    Clock::time_point started;
  };

  Stack(PresenceWatcher& owner, su_root_t* root)
      : owner_(owner),
        root_(root),
        mapper_(owner.config_.presence.busyActivities),
        timeout_(std::chrono::milliseconds(owner.config_.presence.fetchTimeoutMs)) {
    std::random_device entropy;
    tagPrefix_ = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  }

  bool start(const std::string& bindUrl) {
    const SipConfig& sip = owner_.config_.sip;
    agent_.reset(nta_agent_create(
        root_, URL_STRING_MAKE(bindUrl.c_str()), &Stack::onStray,
        reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_UA(1), NTATAG_CLIENT_RPORT(1),
        // A burst of NOTIFYs must not overflow the default ~200 KiB UDP
        // buffer: a dropped NOTIFY costs a 500 ms retransmission.
        TPTAG_UDP_RMEM(kUdpBufferBytes), TPTAG_UDP_WMEM(kUdpBufferBytes), TAG_END()));
    if (!agent_) return false;
    leg_.reset(nta_leg_tcreate(agent_.get(), &Stack::onRequest,
                               reinterpret_cast<nta_leg_magic_t*>(this), NTATAG_NO_DIALOG(1),
                               TAG_END()));
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
    userAgent_ = sip_user_agent_make(home, sip.userAgent.c_str());
    return route_ && event_ && accept_ && expires_ && userAgent_;
  }

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
      if (closing) {
        finishQueued(command, FetchOutcome::Kind::kShutdown, "gateway is closing");
      } else {
        startFetch(command);
      }
    }
    if (closing) shutdown();
  }

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

  // Every request reaches the default leg. NOTIFYs of fetches in progress are mapped and answered
  // 200; anything else gets the answer RFC 3261/6665 asks for.
  static int onRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq, sip_t const* sip) {
    try {
      return reinterpret_cast<Stack*>(magic)->handleRequest(irq, sip);
    } catch (...) {
      return 500;
    }
  }

  int handleRequest(nta_incoming_t* irq, sip_t const* sip) {
    const sip_method_t method = nta_incoming_method(irq);
    if (method == sip_method_options) return 200;
    if (method == sip_method_ack) return 0;
    if (method != sip_method_notify) return 405;
    if (!sip || !sip->sip_call_id || !sip->sip_call_id->i_id) return 400;
    auto found = byCallId_.find(sip->sip_call_id->i_id);
    const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
    if (found == byCallId_.end() || !toTag ||
        pending_.at(found->second).fromTag != std::string_view(toTag)) {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.strayRequests++;
      return 481;  // ends whatever the notifier still holds for it (RFC 6665 4.1.3)
    }
    if (!sip->sip_event || !sip->sip_event->o_type ||
        std::string_view(sip->sip_event->o_type) != "presence") {
      return 489;
    }
    const std::string_view contentType =
        sip->sip_content_type && sip->sip_content_type->c_type ? sip->sip_content_type->c_type : "";
    std::string_view body;
    if (sip->sip_payload && sip->sip_payload->pl_data) {
      body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
    }
    const PresenceMapping mapping = mapper_.map(contentType, body);
    FetchOutcome outcome;
    if (mapping.ok) {
      outcome.kind = FetchOutcome::Kind::kStatus;
      outcome.status = mapping.status;
      outcome.sipStatus = 200;
    } else {
      outcome.kind = FetchOutcome::Kind::kBadDocument;
      outcome.detail = mapping.error;
    }
    finish(found->second, std::move(outcome));
    return 200;
  }

  // Responses that match no transaction (e.g. to a SUBSCRIBE whose fetch already ended).
  static int onStray(nta_agent_magic_t*, nta_agent_t*, msg_t* msg, sip_t*) {
    msg_destroy(msg);
    return 0;
  }

  void armTimer() {
    if (timerArmed_ || deadlines_.empty() || !timer_) return;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadlines_.front().first - Clock::now());
    const long ms = wait.count() < 0 ? 0 : static_cast<long>(wait.count()) + 1;
    if (su_timer_set_interval(timer_.get(), &Stack::onTimer,
                              reinterpret_cast<su_timer_arg_t*>(this),
                              static_cast<su_duration_t>(ms)) == 0) {
      timerArmed_ = true;
    }
  }

  static void onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<Stack*>(arg);
    try {
      self->timerArmed_ = false;
      self->expireDeadlines();
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
    armTimer();
  }

  void shutdown() {
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
    if (timer_) su_timer_reset(timer_.get());
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
    timer_.reset();
    leg_.reset();
    agent_.reset();
    home_.reset();
  }

 private:
  PresenceWatcher& owner_;
  su_root_t* root_;
  PresenceDocumentMapper mapper_;
  Clock::duration timeout_;
  uint64_t tagPrefix_ = 0;
  std::string routeUrl_;
  SuHome home_;  // owns the pre-parsed headers below
  sip_route_t* route_ = nullptr;
  sip_event_t* event_ = nullptr;
  sip_accept_t* accept_ = nullptr;
  sip_expires_t* expires_ = nullptr;
  sip_user_agent_t* userAgent_ = nullptr;
  std::string host_;
  NtaAgent agent_;
  NtaLeg leg_;
  SuTimer timer_;
  bool timerArmed_ = false;
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> byCallId_;
  std::unordered_map<const nta_outgoing_t*, uint64_t> byTransaction_;
  std::deque<std::pair<Clock::time_point, uint64_t>> deadlines_;
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
      error = "cannot bind the SIP transports on " + bindUrl + " (address in use or invalid)";
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
