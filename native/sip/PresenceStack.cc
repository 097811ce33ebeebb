// PresenceWatcher::Stack: start, the command queue, the timer, shutdown and small helpers.
#include "sip/PresenceStack.h"

namespace px {

uint16_t PresenceWatcher::Stack::pickFreePort(const std::string& host) {
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

std::string PresenceWatcher::Stack::hostForUri(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]";
  return host;
}

std::string PresenceWatcher::Stack::uriHost(std::string_view uri) {
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

std::optional<IpCidr> PresenceWatcher::Stack::sourceOf(msg_t* msg) {
  const su_addrinfo_t* ai = msg ? msg_addrinfo(msg) : nullptr;
  return ai ? IpCidr::fromSockaddr(ai->ai_addr) : std::nullopt;
}

std::string PresenceWatcher::Stack::routeFor(const std::string& presenceServerUri) {
  std::string uri = presenceServerUri;
  if (uri.find(";lr") == std::string::npos) uri += ";lr";
  return "<" + uri + ">";
}

bool PresenceWatcher::Stack::start(const std::string& bindUrl) {
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

void PresenceWatcher::Stack::onWake(su_root_magic_t* magic, su_msg_r, su_msg_arg_t*) {
  auto* self = reinterpret_cast<Stack*>(magic);
  try {
    self->drainCommands();
  } catch (...) {
    // Never let an exception cross a Sofia C frame; a failed drain is retried on next wake.
  }
}

void PresenceWatcher::Stack::wake() {
  su_msg_r msg = SU_MSG_R_INIT;
  if (su_msg_create(msg, su_root_task(root_), su_task_null, &Stack::onWake, sizeof(void*)) == 0) {
    su_msg_send(msg);
  }
}

void PresenceWatcher::Stack::drainCommands() {
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

void PresenceWatcher::Stack::armTimer() {
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
  if (su_timer_set_interval(timer_.get(), &Stack::onTimer, reinterpret_cast<su_timer_arg_t*>(this),
                            static_cast<su_duration_t>(ms)) == 0) {
    timerArmed_ = true;
    armedAt_ = *next;
  }
}

void PresenceWatcher::Stack::onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
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

void PresenceWatcher::Stack::expireDeadlines() {
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

void PresenceWatcher::Stack::shutdown() {
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

void PresenceWatcher::Stack::pumpClose() {
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

void PresenceWatcher::Stack::onCloseAnswer(sip_t const* sip) {
  if (!shuttingDown_ || !sip->sip_status || sip->sip_status->st_status < 200 || !sip->sip_call_id ||
      !sip->sip_call_id->i_id || !sip->sip_cseq ||
      sip->sip_cseq->cs_method != sip_method_subscribe) {
    return;
  }
  if (closePending_.erase(sip->sip_call_id->i_id) == 0) return;
  closeProgressAt_ = Clock::now();
  pumpClose();
  finishShutdownIfDone();
}

void PresenceWatcher::Stack::expireClose(Clock::time_point now) {
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

Clock::time_point PresenceWatcher::Stack::nextCloseDeadline() {
  while (!closeOrder_.empty() && closePending_.count(closeOrder_.front().second) == 0) {
    closeOrder_.pop_front();
  }
  Clock::time_point next = std::min(closeProgressAt_ + kCloseGrace, closeStartedAt_ + kCloseBudget);
  if (!closeOrder_.empty()) next = std::min(next, closeOrder_.front().first + kCloseGrace);
  return next;
}

void PresenceWatcher::Stack::finishShutdownIfDone() {
  if (shuttingDown_ && subs_.empty() && closePending_.empty()) breakLoop();
}

void PresenceWatcher::Stack::breakLoop() {
  if (broken_) return;
  broken_ = true;
  if (timer_) su_timer_reset(timer_.get());
  timerArmed_ = false;
  su_root_break(root_);
}

std::string PresenceWatcher::Stack::hex(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<size_t>(i)] = kDigits[value & 15];
  return out;
}

uint32_t PresenceWatcher::Stack::elapsedSince(Clock::time_point started) const {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  return ms < 0 ? 0 : static_cast<uint32_t>(ms);
}

void PresenceWatcher::Stack::destroy() {
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

}  // namespace px
