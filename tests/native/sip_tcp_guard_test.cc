// Inbound SIP TCP connections (native/sip/TcpGuard): capped in all and per source, closed when
// idle or when a message never completes, while UDP fetches keep being served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "address/Address.h"
#include "sip/PresenceWatcher.h"
#include "sip/TcpGuard.h"
#include "support/PidfDocuments.h"
#include "support/UdpSipPeer.h"
#include "support/WatcherHarness.h"

namespace px {
namespace {

using test::configFor;
using test::PeerFd;
using test::PeerScript;
using test::Sink;
using test::UdpSipPeer;
using test::Watcher;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// --- TCP connection caps and idle timeout ----------------------------------------------------

// A TCP client connection to the watcher's SIP port from a chosen loopback address.
class TcpClient {
 public:
  TcpClient(const char* ip, uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip, &local.sin_addr);
    ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_.get(); }
  // True when the gateway closed (FIN or RST) the connection; drains what it sent.
  bool closedByPeer() const {
    char buf[4096];
    for (;;) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return false;
      const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }
  bool send(const std::string& data) const {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }

 private:
  PeerFd fd_;
  bool connected_ = false;
};

size_t countOpen(const std::vector<std::unique_ptr<TcpClient>>& clients) {
  size_t open = 0;
  for (const auto& c : clients) open += c->closedByPeer() ? 0 : 1;
  return open;
}

template <typename Pred>
bool eventually(milliseconds timeout, Pred pred) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

std::string options(uint16_t port, int n) {
  return "OPTIONS sip:127.0.0.1:" + std::to_string(port) +
         ";transport=tcp SIP/2.0\r\n"
         "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKkeep" +
         std::to_string(n) +
         "\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:k@127.0.0.1>;tag=k\r\nTo: <sip:gw@127.0.0.1>\r\n"
         "Call-ID: keep" +
         std::to_string(n) + "@127.0.0.1\r\nCSeq: " + std::to_string(n) +
         " OPTIONS\r\nContent-Length: 0\r\n\r\n";
}

TEST(SipTcpGuard, CapsPerSourceAndInAllWhileUdpFetchesServe) {
  UdpSipPeer peer;
  PeerScript script;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  GatewayConfig config = configFor(peer);
  config.sip.tcp.maxConnections = 10;
  config.sip.tcp.maxConnectionsPerSource = 4;
  config.sip.tcp.idleTimeoutMs = 60000;
  Watcher watcher(config, sink);
  const uint16_t port = watcher->sipPort();

  std::vector<std::unique_ptr<TcpClient>> a, b, c;
  const auto connectAll = [port](std::vector<std::unique_ptr<TcpClient>>& group, const char* ip) {
    for (int i = 0; i < 12; ++i) {
      group.push_back(std::make_unique<TcpClient>(ip, port));
      ASSERT_TRUE(group.back()->connected()) << ip;
    }
  };
  // One source: 4 kept (the oldest), 8 closed.
  connectAll(a, "127.0.0.1");
  ASSERT_TRUE(eventually(milliseconds(3000), [&] { return countOpen(a) == 4; })) << countOpen(a);
  // Two more: the second gets its 4, the third what is left of the 10 in all.
  connectAll(b, "127.0.0.2");
  connectAll(c, "127.0.0.3");
  ASSERT_TRUE(eventually(
      milliseconds(3000),
      [&] { return watcher->stats().tcpRefused >= 26 && countOpen(b) == 4 && countOpen(c) <= 2; }))
      << watcher->stats().tcpRefused << " refused; open " << countOpen(b) << ", " << countOpen(c);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(countOpen(a), 4u);
  EXPECT_EQ(countOpen(b), 4u);
  EXPECT_LE(countOpen(c), 2u);
  EXPECT_TRUE(eventually(milliseconds(1500), [&] {
    return watcher->stats().tcpConnections == 8 + countOpen(c);
  })) << watcher->stats().tcpConnections;
  EXPECT_EQ(watcher->stats().tcpRefused, 36 - 8 - countOpen(c));

  // UDP fetches are served meanwhile.
  const uint64_t id = watcher->fetch(test::kTarget);
  const auto outcome = sink.waitOutcome(id, milliseconds(3000));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kStatus);

  // Closing connections frees room for new ones.
  a.clear();
  b.clear();
  ASSERT_TRUE(eventually(milliseconds(3000), [&] { return watcher->stats().tcpConnections <= 2; }));
  TcpClient late("127.0.0.2", port);
  ASSERT_TRUE(late.connected());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(late.closedByPeer());
}

TEST(SipTcpGuard, IdleAndNeverCompletingConnectionsAreClosedActiveOnesKept) {
  UdpSipPeer peer;
  Sink sink;
  GatewayConfig config = configFor(peer);
  config.sip.tcp.idleTimeoutMs = 1000;
  Watcher watcher(config, sink);
  const uint16_t port = watcher->sipPort();

  TcpClient idle("127.0.0.1", port);
  TcpClient slow("127.0.0.1", port);  // a message that never completes, a byte at a time
  TcpClient busy("127.0.0.1", port);  // a complete OPTIONS every 250 ms
  ASSERT_TRUE(idle.connected() && slow.connected() && busy.connected());
  const std::string partial = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9\r\n";
  const auto start = Clock::now();
  bool idleClosed = false;
  bool slowClosed = false;
  size_t sent = 0;
  int n = 0;
  while (Clock::now() - start < milliseconds(2600)) {
    if (sent < partial.size()) slow.send(partial.substr(sent++, 1));
    busy.send(options(port, ++n));
    std::this_thread::sleep_for(milliseconds(250));
    const auto elapsed = Clock::now() - start;
    if (!idleClosed && idle.closedByPeer()) {
      idleClosed = true;
      EXPECT_GE(elapsed, milliseconds(900)) << "closed before the idle timeout";
    }
    if (!slowClosed && slow.closedByPeer()) slowClosed = true;
    EXPECT_FALSE(busy.closedByPeer()) << "an active connection was closed";
  }
  EXPECT_TRUE(idleClosed);
  EXPECT_TRUE(slowClosed);
  EXPECT_GE(watcher->stats().tcpIdleClosed, 2u);
  EXPECT_EQ(watcher->stats().tcpRefused, 0u);
}

// Many short connections one after another (a client reconnecting, the TCP fuzz target) never
// have more than one open at a time: none may be refused, however fast they come.
TEST(SipTcpGuard, ShortConnectionsOneAtATimeAreNeverRefused) {
  UdpSipPeer peer;
  Sink sink;
  GatewayConfig config = configFor(peer);
  config.sip.tcp.maxConnections = 32;
  config.sip.tcp.maxConnectionsPerSource = 4;
  Watcher watcher(config, sink);
  const uint16_t port = watcher->sipPort();
  // 400 arrive within ~0.15 s (before the listen queue of dead connections fills and a SYN waits
  // 1 s for its retransmission): far more than the cap within one kSweepInterval.
  for (int i = 0; i < 400; ++i) {
    TcpClient client("127.0.0.1", port);
    ASSERT_TRUE(client.connected()) << "connection " << i << ": " << std::strerror(errno) << ", "
                                    << watcher->stats().tcpRefused << " refused";
    const linger hard{1, 0};  // reset at the end: no TIME_WAIT piles up
    ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    if (i % 2 == 0) client.send(options(port, i + 1));
  }
  EXPECT_EQ(watcher->stats().tcpRefused, 0u);
}

TEST(SipTcpGuard, OversizedMessageEndsItsConnectionLongBeforeTheIdleTimeout) {
  UdpSipPeer peer;
  PeerScript script;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  GatewayConfig config = configFor(peer);
  config.sip.tcp.idleTimeoutMs = 60000;
  Watcher watcher(config, sink);
  const uint16_t port = watcher->sipPort();
  TcpClient huge("127.0.0.1", port);
  ASSERT_TRUE(huge.connected());
  // Headers without end: 1 MiB, in pieces, while the connection lasts.
  huge.send("OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Filler: ");
  const std::string chunk(16 * 1024, 'f');
  const auto start = Clock::now();
  bool closed = false;
  for (int i = 0; i < 64 && !closed; ++i) {
    if (!huge.send(chunk)) closed = true;
    if (huge.closedByPeer()) closed = true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (!closed) closed = eventually(milliseconds(3000), [&] { return huge.closedByPeer(); });
  EXPECT_TRUE(closed) << "a 1 MiB header was buffered";
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  // The watcher still serves.
  const uint64_t id = watcher->fetch(test::kTarget);
  const auto outcome = sink.waitOutcome(id, milliseconds(3000));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kStatus);
}

}  // namespace
}  // namespace px

namespace px {
namespace {

TEST(TcpGuardCaps, PreferredSourcesThenOldestKeepTheirPlace) {
  using Candidate = TcpGuard::CapCandidate;
  SipConfig::Tcp limits;
  limits.maxConnections = 5;
  limits.maxConnectionsPerSource = 3;
  const auto t0 = Clock::now();
  const auto at = [t0](int ms) { return t0 + milliseconds(ms); };
  const std::vector<Candidate> live = {
      {"10.0.0.1", at(0), 10, false},  // 0: kept (oldest of .1)
      {"10.0.0.1", at(1), 11, false},  // 1: kept
      {"10.0.0.1", at(2), 12, false},  // 2: kept (3rd of .1)
      {"10.0.0.1", at(3), 13, false},  // 3: closed, over the per-source cap
      {"10.0.0.2", at(4), 14, false},  // 4: closed: the total cap is taken by older and preferred
      {"10.0.0.9", at(9), 15, true},   // 5: kept although newest: the presence server
      {"10.0.0.9", at(9), 16, true},   // 6: kept (5th in all)
      {"10.0.0.3", at(5), 17, false},  // 7: closed
  };
  std::vector<size_t> closed = TcpGuard::overCaps(live, limits);
  std::sort(closed.begin(), closed.end());
  EXPECT_EQ(closed, (std::vector<size_t>{3, 4, 7}));

  limits.maxConnections = 1;
  limits.maxConnectionsPerSource = 1;
  closed = TcpGuard::overCaps(live, limits);
  EXPECT_EQ(closed.size(), live.size() - 1);
  EXPECT_EQ(std::count(closed.begin(), closed.end(), size_t{5}), 0);  // the oldest preferred stays
  EXPECT_TRUE(TcpGuard::overCaps({}, limits).empty());
}

}  // namespace
}  // namespace px
