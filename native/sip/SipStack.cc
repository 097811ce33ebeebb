#include "sip/SipStack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

#include "sip/SipRouting.h"

// After Sofia.h, which includes su_config.h first.
#include <sofia-sip/url_tag.h>

namespace px {

namespace {

constexpr unsigned kUdpBufferBytes = 4 * 1024 * 1024;
constexpr unsigned kTimerKMs = 1000;
// Largest SIP message taken: a PIDF document of many tuples fits; a peer cannot make the stack
// buffer megabytes per connection.
constexpr usize_t kMaxMessageBytes = 256 * 1024;
constexpr const char* kOutgoingOnlyUrl = "sip:outgoing-only.invalid";

std::optional<IpCidr> sourceOfMessage(msg_t* msg) {
  const su_addrinfo_t* ai = msg ? msg_addrinfo(msg) : nullptr;
  return ai ? IpCidr::fromSockaddr(ai->ai_addr) : std::nullopt;
}

}  // namespace

// ---- agents -------------------------------------------------------------------------------------

SipAgent::~SipAgent() {
  tcpGuard_.reset();
  leg_.reset();
  agent_.reset();
}

int SipAgent::onMessage(nta_agent_magic_t* magic, nta_agent_t* agent, msg_t* msg, sip_t* sip) {
  auto* self = reinterpret_cast<SipAgent*>(magic);
  if (!sip || !sip->sip_request) {
    try {
      if (sip) {
        for (SipRole* role : self->roles_) {
          if (role->takeStrayResponse(msg, sip)) return 0;
        }
        for (SipRole* role : self->roles_) role->onStrayResponse(sip);
      }
    } catch (...) {
      // Never let an exception cross a Sofia C frame.
    }
    msg_destroy(msg);
    return 0;
  }
  int status = 500;
  try {
    const su_addrinfo_t* ai = msg_addrinfo(msg);
    if (ai && ai->ai_socktype == SOCK_STREAM && self->tcpGuard_) {
      self->tcpGuard_->noteMessage(ai->ai_addr);
    }
    status = self->dispatch(sip->sip_request->rq_method, sip, sourceOfMessage(msg));
  } catch (...) {
  }
  answerStatelessly(agent, msg, sip, status, self->answers_);
  return 0;
}

// A proxy agent's default leg gets every new request; for the other agents the leg matches no
// request (see SipStack::addAgent) and, should one arrive anyway, it is handled as by onMessage.
int SipAgent::onLegRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq,
                           sip_t const* sip) {
  auto* self = reinterpret_cast<SipAgent*>(magic);
  try {
    msg_t* msg = nta_incoming_getrequest(irq);  // a reference: released below
    const std::optional<IpCidr> source = sourceOfMessage(msg);
    const su_addrinfo_t* ai = msg ? msg_addrinfo(msg) : nullptr;
    if (self->proxy_ && ai && ai->ai_socktype == SOCK_STREAM && self->tcpGuard_) {
      self->tcpGuard_->noteMessage(ai->ai_addr);
    }
    if (msg) msg_destroy(msg);
    if (self->proxy_) return self->dispatchTransaction(irq, sip);
    return self->dispatch(nta_incoming_method(irq), sip, source);
  } catch (...) {
    return 500;
  }
}

int SipAgent::dispatchTransaction(nta_incoming_t* irq, sip_t const* sip) {
  for (SipRole* role : roles_) {
    const int status = role->onTransaction(irq, sip);
    if (status != SipRole::kNotMine) return status;
  }
  return nta_incoming_method(irq) == sip_method_ack ? 200 : 481;
}

int SipAgent::dispatch(sip_method_t method, sip_t const* sip, const std::optional<IpCidr>& source) {
  const int screened = screenRequest(answers_, method, sip);
  if (screened != kAskRoles) return screened;
  const IncomingRequest request{method, sip, source};
  for (SipRole* role : roles_) {
    const int status = role->onRequest(request);
    if (status != SipRole::kNotMine) return status;
  }
  return 481;
}

// ---- the stack ----------------------------------------------------------------------------------

SipStack::SipStack() = default;

SipStack::~SipStack() {
  close();
}

uint16_t SipStack::pickFreePort(const std::string& host) {
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

void SipStack::start(Setup setup) {
  sofiaInit();
  thread_ = std::thread(&SipStack::run, this, std::move(setup));
  std::unique_lock<std::mutex> lock(startMutex_);
  startCv_.wait(lock, [this] { return started_; });
  if (!startError_.empty()) {
    lock.unlock();
    thread_.join();
    throw std::runtime_error(startError_);
  }
}

SipAgent* SipStack::addAgent(const AgentSpec& spec, std::string& problem) {
  auto agent = std::make_unique<SipAgent>(SipAgent::Key());
  agent->answers_ = spec.answers;
  agent->proxy_ = spec.proxy;
  agent->port_ = spec.port != 0 ? spec.port : pickFreePort(spec.host);
  std::string url = "sip:" + hostForUri(spec.host) + ":" + std::to_string(agent->port_);
  if (spec.transports.size() == 1) {
    url += spec.transports.front() == SipTransport::kUdp ? ";transport=udp" : ";transport=tcp";
  }
  agent->agent_.reset(nta_agent_create(
      root_.get(), URL_STRING_MAKE(url.c_str()), &SipAgent::onMessage,
      reinterpret_cast<nta_agent_magic_t*>(agent.get()), NTATAG_UA(!spec.proxy),
      NTATAG_CLIENT_RPORT(1),
      // A proxy relays the caller's CANCEL and the callee's 487 itself and answers to the
      // source port of the request (call-notification-notes §2).
      TAG_IF(spec.proxy, NTATAG_CANCEL_487(0)), TAG_IF(spec.proxy, NTATAG_SERVER_RPORT(1)),
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
      TPTAG_IDLE(2 * spec.tcp.idleTimeoutMs), TPTAG_TIMEOUT(spec.tcp.idleTimeoutMs), TAG_END()));
  if (!agent->agent_) {
    problem = "cannot bind the SIP transports on " + url + " (address in use or invalid)";
    return nullptr;
  }
  if (std::find(spec.transports.begin(), spec.transports.end(), SipTransport::kTcp) !=
      spec.transports.end()) {
    agent->tcpGuard_ = std::make_unique<TcpGuard>(root_.get(), spec.tcp, spec.host, agent->port_,
                                                  spec.tcpCounters);
    agent->tcpGuard_->setPreferred(spec.preferredSources);
    // No listener found would leave TCP unbounded: refuse to start rather than run so.
    if (!agent->tcpGuard_->start()) {
      problem = "cannot guard the SIP TCP listener on port " + std::to_string(agent->port_) +
                " (sip.tcp limits)";
      return nullptr;
    }
  }
  // Requests are answered statelessly by onMessage: there is no default leg, so NTA creates
  // no server transaction for them (see StatelessAnswers.h). This leg only carries outgoing
  // requests; its URL matches no request we receive. A proxy agent's leg has no URL: it is the
  // default leg, and every new request gets a server transaction.
  agent->leg_.reset(nta_leg_tcreate(
      agent->agent_.get(), &SipAgent::onLegRequest, reinterpret_cast<nta_leg_magic_t*>(agent.get()),
      NTATAG_NO_DIALOG(1), TAG_IF(!spec.proxy, URLTAG_URL(URL_STRING_MAKE(kOutgoingOnlyUrl))),
      TAG_END()));
  if (!agent->leg_) {
    problem = "cannot create the outgoing SIP leg on " + url;
    return nullptr;
  }
  agents_.push_back(std::move(agent));
  return agents_.back().get();
}

void SipStack::run(Setup setup) {
  // Named for top -H, perf and gdb: the SIP thread is the one an operator looks for first.
  pthread_setname_np(pthread_self(), "px-sip");
  std::string error;
  root_.reset(su_root_create(nullptr));
  if (!root_) {
    error = "cannot create the SIP event loop";
  } else {
    su_root_set_magic(root_.get(), reinterpret_cast<su_root_magic_t*>(this));
    timers_ = std::make_unique<TimerQueue>(root_.get());
    spinGuard_ = std::make_unique<LoopSpinGuard>(root_.get());
    try {
      error = timers_->ok() ? setup(*this) : "cannot create the SIP timer";
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  {
    std::lock_guard<std::mutex> lock(startMutex_);
    started_ = true;
    startError_ = error;
    if (error.empty()) {
      std::lock_guard<std::mutex> commands(commandsMutex_);
      running_ = true;
    }
  }
  startCv_.notify_all();
  if (error.empty()) su_root_run(root_.get());  // until the shutdown drain breaks it

  {
    std::lock_guard<std::mutex> commands(commandsMutex_);
    running_ = false;
  }
  teardown();
  if (!error.empty()) return;
  // Commands queued after the last drain still run, to report (e.g. fetches end kShutdown).
  std::vector<Command> leftovers;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    leftovers.swap(commands_);
  }
  for (Command& command : leftovers) command(CommandRun::kAfterLoop);
}

// Transactions (in the roles) before the legs, legs before the agents; the root goes last.
void SipStack::teardown() {
  roles_.clear();
  agents_.clear();
  timers_.reset();
  spinGuard_.reset();
  root_.reset();
}

void SipStack::onWake(su_root_magic_t* magic, su_msg_r, su_msg_arg_t*) {
  auto* self = reinterpret_cast<SipStack*>(magic);
  try {
    self->drainCommands();
  } catch (...) {
    // Never let an exception cross a Sofia C frame; a failed drain is retried on next wake.
  }
}

void SipStack::wake() {
  su_msg_r msg = SU_MSG_R_INIT;
  if (su_msg_create(msg, su_root_task(root_.get()), su_task_null, &SipStack::onWake,
                    sizeof(void*)) == 0) {
    su_msg_send(msg);
  }
}

bool SipStack::post(Command command, bool wakeNow) {
  std::lock_guard<std::mutex> lock(commandsMutex_);
  if (closing_ || !running_) return false;
  commands_.push_back(std::move(command));
  if (wakeNow && !wakePending_) {
    wakePending_ = true;
    wake();
  }
  return true;
}

void SipStack::flush() {
  std::lock_guard<std::mutex> lock(commandsMutex_);
  if (!commands_.empty() && !wakePending_ && !closing_ && running_) {
    wakePending_ = true;
    wake();
  }
}

void SipStack::drainCommands() {
  std::vector<Command> batch;
  bool closing = false;
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    batch.swap(commands_);
    wakePending_ = false;
    closing = closing_;
  }
  const CommandRun run = closing ? CommandRun::kClosing : CommandRun::kRun;
  for (Command& command : batch) command(run);
  if (closing) shutdown();
}

void SipStack::close() {
  std::lock_guard<std::mutex> closeLock(closeMutex_);
  {
    std::lock_guard<std::mutex> lock(commandsMutex_);
    if (!closing_) {
      closing_ = true;
      if (running_) wake();
    }
  }
  if (thread_.joinable()) thread_.join();
}

// Every role ends its work; the loop runs until all drained or for kDrainBudget in all.
void SipStack::shutdown() {
  if (shuttingDown_) return;
  shuttingDown_ = true;
  timers_->schedule(std::chrono::steady_clock::now() + kDrainBudget, *this, 0, 0);
  for (auto& role : roles_) role->onShutdown();
  if (drainedRoles_ >= roles_.size()) breakLoop();
}

void SipStack::roleDrained(SipRole&) {
  drainedRoles_++;
  if (shuttingDown_ && drainedRoles_ >= roles_.size()) breakLoop();
}

void SipStack::onTimer(uint64_t, uint32_t, std::chrono::steady_clock::time_point) {
  breakLoop();
}

bool SipStack::timerLive(uint64_t, uint32_t) const {
  return shuttingDown_ && !broken_;
}

void SipStack::breakLoop() {
  if (broken_) return;
  broken_ = true;
  timers_->stop();
  su_root_break(root_.get());
}

}  // namespace px
