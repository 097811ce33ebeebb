// The thread-safe front of the ISC application server (Parlay X Call Notification / Call
// Direction): the S-CSCF's iFC (or any proxy) sends INVITEs to its port; CallProxyRole relays
// them as a stateful proxy on the SIP thread and reports what the calls of watched parties do.
//
// It lives on the presence watcher's SipStack (one SIP thread): setup() is given to the stack's
// start (PresenceWatcher's extra roles) and adds an agent of its own (calls.port, UDP and TCP).
//
// Queues (see docs/architecture.md):
// - which parties are watched: CallWatchIndex, an immutable matcher published by the JS thread,
//   read by the SIP thread without a lock;
// - the command queue of the stack (owner: the SIP thread): decide() posts one command;
// - the event and decision queues (owner: the consumer, e.g. the binding on the JS thread): the
//   role appends through CallSink; going from empty to non-empty calls the Signal once.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "call/CallMatcher.h"
#include "call/CallTypes.h"
#include "config/GatewayConfig.h"
#include "sip/CallSink.h"

namespace px {

class CallProxyRole;
class SipStack;

class CallServer : private CallSink {
 public:
  // Called (SIP thread) when events or decision requests become available; must not block.
  using Signal = std::function<void()>;

  CallServer(const GatewayConfig& config, const call::CallWatchIndex& index, Signal signal);
  ~CallServer() override;
  CallServer(const CallServer&) = delete;
  CallServer& operator=(const CallServer&) = delete;

  // SIP thread, in the stack's setup: adds the AS agent and the proxy role. "" or why not.
  std::string setup(SipStack& stack);
  // The AS port (after setup).
  uint16_t port() const;

  // Carries out the application's decision for a waiting call. Any thread. Ignored (and counted
  // as late) when the call no longer waits for this decision.
  void decide(uint64_t callRef, uint64_t decisionId, call::CallAction action);

  std::vector<call::CallEventRecord> takeEvents();
  std::vector<call::DecisionRequest> takeDecisions();
  CallProxyCounters stats() const;

 private:
  void event(call::CallEventRecord record) override;
  void decision(call::DecisionRequest request) override;
  void counters(const CallProxyCounters& counters) override;
  // A decide() the role never saw (the stack closing or gone): still counted as late.
  void countLateWithoutRole();

  const GatewayConfig config_;
  const call::CallWatchIndex& index_;
  Signal signal_;
  mutable std::mutex mutex_;  // guards the queues and counters below
  std::vector<call::CallEventRecord> events_;
  std::vector<call::DecisionRequest> decisions_;
  CallProxyCounters counters_;
  uint64_t lateWithoutRole_ = 0;  // added to the role's decisionsLate
  std::atomic<uint16_t> port_{0};
  std::atomic<SipStack*> stack_{nullptr};  // set by setup; post() is thread-safe
  CallProxyRole* role_ = nullptr;          // SIP thread only
};

}  // namespace px
