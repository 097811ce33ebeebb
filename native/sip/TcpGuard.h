// Bounds the inbound SIP TCP connections of one Sofia agent: a cap in all, a cap per remote IP,
// and an idle timeout (no complete SIP message for sip.tcp.idleTimeoutMs). Lives on the SIP
// thread, next to the agent.
//
// Why it works this way: Sofia's tport accepts every connection itself (tport_accept: one
// accept() per readable event of its listening socket, then tport_alloc_secondary) and has no
// connection cap, no accept hook, and no public way to enumerate all secondaries (tport_secondary
// returns the root of its red-black tree and tport_next only walks to successors). So:
// - Discovery: the guard finds its agent's sockets in /proc/self/fd. An accepted connection is a
//   stream socket whose local address is the listener's address and port (outgoing connections
//   bind an ephemeral port, tport_base_connect), so nothing else matches; all of them are
//   created, used and closed on this thread, so none changes while a sweep looks at them.
// - Closing: shutdown(SHUT_RDWR), never close(): Sofia still owns the descriptor, sees end of
//   stream, and closes and frees its transport by its own path (no double close).
// - Gate: the guard registers a dup() of the listening socket on the same su_root. Each readable
//   event of the listener means Sofia accepts one connection in that loop iteration, so the guard
//   counts one more per event; once that count reaches maxConnections, it accepts the pending
//   connections itself and closes them at once (refused), and Sofia's own accept() finds none
//   (the listener is non-blocking; Sofia only logs EAGAIN). The count is corrected by a sweep of
//   /proc/self/fd at most every kSweepInterval while connections come in (sooner at the cap when
//   a quarter of the cap arrived since the last sweep: short connections one after another are
//   not a flood), which also closes the newest connections of a source beyond
//   maxConnectionsPerSource, and by the idle timer.
// - Idle: the watcher reports every complete message received over TCP (noteMessage); a
//   connection with none for idleTimeoutMs since it was seen or since its last message is shut
//   down. This also bounds a message that never completes (slow or endless headers), which keeps
//   Sofia's own TPTAG_IDLE from firing.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/IpCidr.h"
#include "config/GatewayConfig.h"
#include "sip/Sofia.h"

namespace px {

struct TcpGuardCounters {
  uint64_t open = 0;        // inbound connections seen by the last sweep, not being closed
  uint64_t refused = 0;     // closed over maxConnections or maxConnectionsPerSource
  uint64_t idleClosed = 0;  // closed after idleTimeoutMs without a complete message
};

class TcpGuard {
 public:
  using Publish = std::function<void(const TcpGuardCounters&)>;

  // bindHost: sip.bindHost; when it is an IP literal, only listeners on that address are ours
  // (another watcher of the process may listen on the same port of another address).
  TcpGuard(su_root_t* root, const SipConfig::Tcp& limits, std::string bindHost, uint16_t port,
           Publish publish);
  ~TcpGuard();
  TcpGuard(const TcpGuard&) = delete;
  TcpGuard& operator=(const TcpGuard&) = delete;

  // Finds the agent's TCP listening sockets (bound to `port`) and starts guarding them. False
  // when none is found (then nothing is guarded; the caller decides whether that is an error).
  bool start();

  // Sources whose connections keep their place first when a cap closes some (the presence
  // server, sip.trustedNotifySources). They still count toward the caps.
  void setPreferred(std::vector<IpCidr> sources) { preferred_ = std::move(sources); }

  // One open connection as the caps see it.
  struct CapCandidate {
    std::string ip;  // remote IP: the per-source key
    std::chrono::steady_clock::time_point seen;
    int fd = -1;  // tie-break for connections seen by the same sweep
    bool preferred = false;
  };
  // Indexes (into `live`) of the connections the caps close: connections of preferred sources
  // keep their place first, then the oldest; the rest beyond maxConnections in all or
  // maxConnectionsPerSource from one IP are closed.
  static std::vector<size_t> overCaps(const std::vector<CapCandidate>& live,
                                      const SipConfig::Tcp& limits);

  // A complete SIP message arrived over TCP from `peer`: its connection is not idle.
  void noteMessage(const sockaddr* peer);

 private:
  struct Listener {
    TcpGuard* owner = nullptr;
    UniqueFd fd{-1};  // our dup() of Sofia's listening socket
    int index = -1;
    sockaddr_storage local{};
  };
  struct Connection {
    int fd = -1;
    std::string ip;  // remote IP (text), the per-source key
    std::chrono::steady_clock::time_point seen;
    std::chrono::steady_clock::time_point active;  // seen, or last complete message
    bool closing = false;                          // shut down, waiting for Sofia to close it
    bool preferred = false;                        // from a setPreferred() source
    bool present = false;                          // scratch: found by the current sweep
  };

  static int onListenerReadable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* arg);
  static void onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg);
  void listenerReadable(Listener& listener);
  void sweep();
  void armTimer(std::chrono::steady_clock::time_point at);
  void publish();
  bool isOurs(const sockaddr_storage& local) const;

  su_root_t* root_;
  SipConfig::Tcp limits_;
  std::string bindHost_;
  uint16_t port_;
  Publish publish_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<IpCidr> preferred_;
  SuTimer timer_;
  std::chrono::steady_clock::time_point timerAt_{};
  bool timerArmed_ = false;
  std::chrono::steady_clock::time_point lastSweep_{};
  // Keyed by "<remote ip>|<remote port>|<fd>": one entry per connection.
  std::unordered_map<std::string, Connection> connections_;
  uint64_t estimate_ = 0;  // open connections: last sweep + accepts since
  uint64_t lastKept_ = 0;  // open connections the last sweep found
  TcpGuardCounters counters_;
};

}  // namespace px
