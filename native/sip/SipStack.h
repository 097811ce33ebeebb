// One SIP thread and what lives on it: the su_root, the NTA agents and their transports (a
// TcpGuard per TCP listener), the command queue into the thread, one timer queue, the roles and
// the shutdown drain. Roles (SipRole.h) are added by the setup function given to start(), on the
// SIP thread; they own their protocol state, the stack owns everything Sofia they share.
//
// A new role plugs in without touching the others: add it in the setup, either to an existing
// agent (it then sees the requests the roles before it decline) or to an agent of its own
// (addAgent: its own port, transports and answer policy, same thread, same timer queue). See
// docs/architecture.md, "Where the SIP code lives".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/IpCidr.h"
#include "config/GatewayConfig.h"
#include "sip/LoopSpinGuard.h"
#include "sip/SipRole.h"
#include "sip/Sofia.h"
#include "sip/StatelessAnswers.h"
#include "sip/TcpGuard.h"
#include "sip/TimerQueue.h"

namespace px {

class SipStack;

// One NTA agent: its transports (UDP and/or TCP on one port), a leg for outgoing requests, its
// answer policy and the roles that answer its requests, in order.
struct AgentSpec {
  std::string host;   // bind address (literal or name)
  uint16_t port = 0;  // 0: a port free for both UDP and TCP
  std::vector<SipTransport> transports;
  SipConfig::Tcp tcp;                    // limits of the TcpGuard (with the tcp transport)
  std::vector<IpCidr> preferredSources;  // the guard keeps their connections first
  TcpGuard::Publish tcpCounters;
  AnswerPolicy answers;
  // A stateful proxy agent (the ISC application server): NTA in proxy mode (UA(0), no automatic
  // 487 to a CANCEL, rport both ways) and a default leg, so every request that matches no
  // transaction gets a server transaction and goes to the roles' onTransaction. `answers` is
  // then not used: the role answers everything itself.
  bool proxy = false;
};

class SipAgent {
 public:
  // Only SipStack::addAgent makes agents (a passkey keeps make_unique usable).
  class Key {
    friend class SipStack;
    Key() = default;
  };
  explicit SipAgent(Key) {}
  SipAgent(const SipAgent&) = delete;
  SipAgent& operator=(const SipAgent&) = delete;
  ~SipAgent();

  nta_agent_t* agent() const { return agent_.get(); }
  // Carries outgoing requests only (NTATAG_NO_DIALOG); its URL matches no request we receive.
  // For a proxy agent (AgentSpec::proxy) it is the default leg that receives every request.
  nta_leg_t* leg() const { return leg_.get(); }
  uint16_t port() const { return port_; }
  void addRole(SipRole& role) { roles_.push_back(&role); }

 private:
  friend class SipStack;

  static int onMessage(nta_agent_magic_t* magic, nta_agent_t* agent, msg_t* msg, sip_t* sip);
  static int onLegRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq,
                          sip_t const* sip);
  int dispatchTransaction(nta_incoming_t* irq, sip_t const* sip);
  int dispatch(sip_method_t method, sip_t const* sip, const std::optional<IpCidr>& source);

  AnswerPolicy answers_;
  bool proxy_ = false;
  uint16_t port_ = 0;
  std::vector<SipRole*> roles_;
  // Destroyed in reverse: the guard, the leg, then the agent.
  NtaAgent agent_;
  NtaLeg leg_;
  std::unique_ptr<TcpGuard> tcpGuard_;  // only with the tcp transport
};

class SipStack : private TimerClient {
 public:
  enum class CommandRun {
    kRun,        // on the SIP thread, stack running
    kClosing,    // on the SIP thread, close() was called: roles are shutting down
    kAfterLoop,  // the loop ended, roles and agents are gone: only report, touch nothing SIP
  };
  // A closure run on the SIP thread (or after its loop ended, see CommandRun).
  using Command = std::function<void(CommandRun)>;
  // Runs on the SIP thread before the loop: adds agents and roles; returns "" or why it failed.
  using Setup = std::function<std::string(SipStack&)>;

  // How long the shutdown drain may take in all.
  static constexpr std::chrono::milliseconds kDrainBudget{2000};

  SipStack();
  ~SipStack();
  SipStack(const SipStack&) = delete;
  SipStack& operator=(const SipStack&) = delete;

  // Starts the SIP thread and runs setup there; throws std::runtime_error when it fails.
  void start(Setup setup);

  // Queues a command (any thread). With wakeNow false the SIP thread is only woken by the next
  // flush() or a later post with wakeNow: a burst pays one wake-up. False (the command is not
  // taken) when the stack is closing or not running.
  bool post(Command command, bool wakeNow);
  // Wakes the SIP thread if commands are queued and no wake-up is on its way. Any thread.
  void flush();
  // Shuts the roles down (they drain for at most kDrainBudget), ends the loop, destroys roles and
  // agents on the SIP thread, joins it, then runs commands left over with kAfterLoop. Blocks;
  // idempotent.
  void close();

  // ---- SIP thread only (setup, roles) --------------------------------------------------------
  su_root_t* root() const { return root_.get(); }
  TimerQueue& timers() { return *timers_; }
  // Binds an agent; nullptr and `problem` set when it cannot.
  SipAgent* addAgent(const AgentSpec& spec, std::string& problem);
  // The stack owns its roles; they are destroyed before the agents.
  template <typename Role, typename... Args>
  Role& addRole(Args&&... args) {
    auto role = std::make_unique<Role>(std::forward<Args>(args)...);
    Role& ref = *role;
    roles_.push_back(std::move(role));
    return ref;
  }
  // A role finished its shutdown.
  void roleDrained(SipRole& role);

  // Port 0 in the config means "any free port": Sofia cannot report the port it picked through
  // the public API, so pick one that is free for both UDP and TCP and bind to it.
  static uint16_t pickFreePort(const std::string& host);

 private:
  void run(Setup setup);
  static void onWake(su_root_magic_t* magic, su_msg_r, su_msg_arg_t*);
  void wake();  // with commandsMutex_ held
  void drainCommands();
  void shutdown();
  void breakLoop();
  void onTimer(uint64_t key, uint32_t gen, std::chrono::steady_clock::time_point now) override;
  bool timerLive(uint64_t key, uint32_t gen) const override;
  void teardown();

  // The command queue. Owner: the SIP thread, which drains it; any thread appends.
  std::mutex commandsMutex_;
  std::vector<Command> commands_;
  bool wakePending_ = false;  // a wake-up is on its way to the SIP thread
  bool closing_ = false;
  bool running_ = false;  // the loop runs (or is about to): commands are taken

  // Start-up handshake between start() and the SIP thread.
  std::mutex startMutex_;
  std::condition_variable startCv_;
  bool started_ = false;
  std::string startError_;

  std::mutex closeMutex_;
  std::thread thread_;

  // SIP thread only. Destroyed in reverse: roles, agents, timers, root (see teardown()).
  SuRoot root_;
  std::unique_ptr<TimerQueue> timers_;
  std::unique_ptr<LoopSpinGuard> spinGuard_;  // SIP thread; before the root goes
  std::vector<std::unique_ptr<SipAgent>> agents_;
  std::vector<std::unique_ptr<SipRole>> roles_;
  size_t drainedRoles_ = 0;
  bool shuttingDown_ = false;
  bool broken_ = false;
};

}  // namespace px
