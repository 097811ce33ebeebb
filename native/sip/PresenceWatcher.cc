#include "sip/PresenceWatcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "presence/PresenceDocument.h"
#include "sip/Sofia.h"

namespace px {

using Clock = std::chrono::steady_clock;

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
// public NUA API, so pick one that is free for both UDP and TCP and bind to it.
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
class PresenceWatcher::Stack {
 public:
  struct Pending {
    NuaHandle handle;
    Clock::time_point started;
  };

  Stack(PresenceWatcher& owner, su_root_t* root)
      : owner_(owner),
        root_(root),
        mapper_(owner.config_.presence.busyActivities),
        timeout_(std::chrono::milliseconds(owner.config_.presence.fetchTimeoutMs)) {}

  bool start(const std::string& bindUrl) {
    const SipConfig& sip = owner_.config_.sip;
    const std::string route = routeFor(sip.presenceServerUri);
    nua_.reset(nua_create(root_, &Stack::onEvent, reinterpret_cast<nua_magic_t*>(this),
                          NUTAG_URL(bindUrl.c_str()), SIPTAG_FROM_STR(sip.watcherUri.c_str()),
                          SIPTAG_USER_AGENT_STR(sip.userAgent.c_str()),
                          NUTAG_INITIAL_ROUTE_STR(route.c_str()), NUTAG_MEDIA_ENABLE(0),
                          NUTAG_ENABLEINVITE(0), NUTAG_ENABLEMESSAGE(0), TAG_END()));
    if (!nua_) return false;
    timer_.reset(su_timer_create(su_root_task(root_), 0));
    return static_cast<bool>(timer_);
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
      closing = owner_.closing_;
    }
    for (Command& command : batch) {
      if (closing) {
        finishQueued(command, FetchOutcome::Kind::kShutdown, "gateway is closing");
      } else {
        startFetch(command);
      }
    }
    if (closing) beginShutdown();
  }

  void startFetch(const Command& command) {
    const auto now = Clock::now();
    const auto started = command.deadline - timeout_;
    if (now >= command.deadline) {
      finishQueued(command, FetchOutcome::Kind::kTimeout, "fetch timed out before it was sent");
      return;
    }
    NuaHandle handle(nua_handle(nua_.get(), idToMagic(command.id),
                                SIPTAG_TO_STR(command.requestUri.c_str()), TAG_END()));
    if (!handle) {
      finishQueued(command, FetchOutcome::Kind::kSipError, "cannot create a SIP handle");
      return;
    }
    nua_subscribe(handle.get(), NUTAG_URL(command.requestUri.c_str()), SIPTAG_EVENT_STR("presence"),
                  SIPTAG_ACCEPT_STR("application/pidf+xml"), SIPTAG_EXPIRES_STR("0"), TAG_END());
    pending_.emplace(command.id, Pending{std::move(handle), started});
    deadlines_.emplace_back(command.deadline, command.id);
    {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.started++;
      owner_.stats_.inFlight++;
    }
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

  // Ends a pending fetch: releases its handle (cancelling anything still in progress) and
  // publishes the outcome.
  void finish(uint64_t id, FetchOutcome outcome) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    outcome.id = id;
    outcome.elapsedMs = elapsedSince(it->second.started);
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

  void beginShutdown() {
    if (shutdownStarted_) return;
    shutdownStarted_ = true;
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
    nua_shutdown(nua_.get());
  }

  static void onEvent(nua_event_t event, int status, char const* phrase, nua_t*, nua_magic_t* magic,
                      nua_handle_t* nh, nua_hmagic_t* hmagic, sip_t const* sip, tagi_t tags[]) {
    auto* self = reinterpret_cast<Stack*>(magic);
    try {
      self->handleEvent(event, status, phrase ? phrase : "", nh, hmagic, sip, tags);
    } catch (...) {
      // Never let an exception cross a Sofia C frame.
    }
  }

  void handleEvent(nua_event_t event, int status, const char* phrase, nua_handle_t* nh,
                   nua_hmagic_t* hmagic, sip_t const* sip, tagi_t tags[]) {
    if (event == nua_r_shutdown) {
      if (status >= 200) su_root_break(root_);
      return;
    }
    if (!hmagic) {
      // A request that matched none of our dialogs; NUA created the handle and answered it, so
      // it is ours to release (a leaked handle costs ~3 KB each).
      if (nh && isIncomingRequest(event)) {
        {
          std::lock_guard<std::mutex> lock(owner_.statsMutex_);
          owner_.stats_.strayRequests++;
        }
        nua_handle_destroy(nh);
      }
      return;
    }
    const uint64_t id = magicToId(hmagic);
    if (pending_.count(id) == 0) return;

    if (event == nua_r_subscribe) {
      if (status >= 300) {
        FetchOutcome outcome;
        outcome.kind = FetchOutcome::Kind::kSipError;
        outcome.sipStatus = status;
        outcome.detail = phrase;
        finish(id, std::move(outcome));
      }
      return;  // 1xx and 2xx: wait for the NOTIFY (it may also have come first)
    }
    if (event == nua_i_notify) {
      FetchOutcome outcome;
      if (!sip) {  // NUA's own final-NOTIFY wait expired
        outcome.kind = FetchOutcome::Kind::kTimeout;
        outcome.detail = phrase;
        finish(id, std::move(outcome));
        return;
      }
      const std::string_view contentType = sip->sip_content_type && sip->sip_content_type->c_type
                                               ? sip->sip_content_type->c_type
                                               : "";
      std::string_view body;
      if (sip->sip_payload && sip->sip_payload->pl_data) {
        body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
      }
      const PresenceMapping mapping = mapper_.map(contentType, body);
      if (mapping.ok) {
        outcome.kind = FetchOutcome::Kind::kStatus;
        outcome.status = mapping.status;
        outcome.sipStatus = 200;
      } else {
        outcome.kind = FetchOutcome::Kind::kBadDocument;
        outcome.detail = mapping.error;
      }
      (void)tags;
      finish(id, std::move(outcome));
    }
  }

  static bool isIncomingRequest(nua_event_t event) {
    switch (event) {
      case nua_i_invite:
      case nua_i_notify:
      case nua_i_subscribe:
      case nua_i_message:
      case nua_i_options:
      case nua_i_refer:
      case nua_i_publish:
      case nua_i_info:
      case nua_i_register:
      case nua_i_update:
      case nua_i_prack:
      case nua_i_method:
      case nua_i_bye:
      case nua_i_cancel:
        return true;
      default:
        return false;
    }
  }

  static nua_hmagic_t* idToMagic(uint64_t id) {
    return reinterpret_cast<nua_hmagic_t*>(static_cast<uintptr_t>(id));
  }
  static uint64_t magicToId(nua_hmagic_t* magic) {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(magic));
  }

  uint32_t elapsedSince(Clock::time_point started) const {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    return ms < 0 ? 0 : static_cast<uint32_t>(ms);
  }

  // Teardown order matters (sofia-sip notes §0.5): nua_destroy only after nua_r_shutdown, then
  // handles are gone, then the timer, then the root (by the caller).
  void destroy() {
    pending_.clear();
    timer_.reset();
    nua_.reset();
  }

 private:
  PresenceWatcher& owner_;
  su_root_t* root_;
  PresenceDocumentMapper mapper_;
  Clock::duration timeout_;
  Nua nua_;
  SuTimer timer_;
  bool timerArmed_ = false;
  bool shutdownStarted_ = false;
  std::unordered_map<uint64_t, Pending> pending_;
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
    su_root_threading(root.get(), 0);  // NUA runs on this thread, not on a clone
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

  su_root_run(root.get());  // until nua_r_shutdown breaks it

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

uint64_t PresenceWatcher::fetch(const std::string& requestUri) {
  const uint64_t id = nextId_.fetch_add(1);
  const auto deadline = Clock::now() + std::chrono::milliseconds(config_.presence.fetchTimeoutMs);
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (!closing_ && stack_) {
      const bool wasEmpty = commands_.empty();
      commands_.push_back(Command{id, requestUri, deadline});
      if (wasEmpty) stack_->wake();
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
