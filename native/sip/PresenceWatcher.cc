#include "sip/PresenceWatcher.h"

#include "sip/PresenceStack.h"

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
  }
  return "failed";
}

PresenceWatcher::PresenceWatcher(const GatewayConfig& config, OutcomeSignal signal)
    : config_(config), signal_(std::move(signal)) {
  sofiaInit();
  const SipConfig& sip = config_.sip;
  sipPort_ = sip.port != 0 ? sip.port : Stack::pickFreePort(sip.bindHost);
  std::string url = "sip:" + Stack::hostForUri(sip.bindHost) + ":" + std::to_string(sipPort_);
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
