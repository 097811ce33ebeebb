#include "sip/CallServer.h"

#include <utility>

#include "sip/CallProxyRole.h"
#include "sip/SipStack.h"

namespace px {

CallServer::CallServer(const GatewayConfig& config, const call::CallWatchIndex& index,
                       Signal signal)
    : config_(config), index_(index), signal_(std::move(signal)) {}

CallServer::~CallServer() = default;

std::string CallServer::setup(SipStack& stack) {
  // Disabled: no AS port at all (port() stays 0); decide() finds no stack and counts late.
  if (!config_.calls.enabled) return "";
  AgentSpec spec;
  spec.host = config_.calls.bindHost;
  spec.port = config_.calls.port;
  // Both: NTA switches an INVITE over 1300 bytes to TCP (RFC 3261 §18.1.1).
  spec.transports = {SipTransport::kUdp, SipTransport::kTcp};
  spec.tcp = config_.sip.tcp;
  spec.proxy = true;
  std::string problem;
  SipAgent* agent = stack.addAgent(spec, problem);
  if (!agent) return "calls: " + problem;
  port_ = agent->port();
  CallSink& sink = *this;
  role_ = &stack.addRole<CallProxyRole>(stack, *agent, config_, index_, sink);
  agent->addRole(*role_);
  stack_ = &stack;
  return "";
}

uint16_t CallServer::port() const {
  return port_.load();
}

void CallServer::decide(uint64_t callRef, uint64_t decisionId, call::CallAction action) {
  SipStack* stack = stack_.load();
  const bool taken = stack && stack->post(
                                  [this, callRef, decisionId,
                                   action = std::move(action)](SipStack::CommandRun run) {
                                    if (run == SipStack::CommandRun::kAfterLoop || !role_) {
                                      countLateWithoutRole();
                                      return;
                                    }
                                    role_->decide(callRef, decisionId, action);
                                  },
                                  true);
  if (!taken) {
    // The stack is closing or gone: the call was (or is being) answered without us.
    countLateWithoutRole();
  }
}

void CallServer::countLateWithoutRole() {
  std::lock_guard<std::mutex> lock(mutex_);
  lateWithoutRole_++;
  counters_.decisionsLate++;
}

std::vector<call::CallEventRecord> CallServer::takeEvents() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(events_, {});
}

std::vector<call::DecisionRequest> CallServer::takeDecisions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(decisions_, {});
}

CallProxyCounters CallServer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

void CallServer::event(call::CallEventRecord record) {
  bool wasEmpty = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wasEmpty = events_.empty() && decisions_.empty();
    events_.push_back(std::move(record));
  }
  if (wasEmpty && signal_) signal_();
}

void CallServer::decision(call::DecisionRequest request) {
  bool wasEmpty = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wasEmpty = events_.empty() && decisions_.empty();
    decisions_.push_back(std::move(request));
  }
  if (wasEmpty && signal_) signal_();
}

void CallServer::counters(const CallProxyCounters& counters) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_ = counters;
  counters_.decisionsLate += lateWithoutRole_;
}

}  // namespace px
