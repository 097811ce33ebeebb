// Issue 12 on the SIP side, over real sockets on loopback (127.0.0.0/8 all routes to lo):
// - terminal addresses with routing URI parameters or headers never reach the wire;
// - an in-dialog NOTIFY from a source that is not the dialog's peer is answered 403 and its body
//   is never applied (fetches and subscriptions), unless trusted or the check is off;
// - inbound SIP TCP connections are capped in all and per source, and closed when idle or when a
//   message never completes, while UDP fetches keep being served.
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

namespace px {
namespace {

using test::PeerFd;
using test::PeerScript;
using test::SipMessage;
using test::UdpSipPeer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Collects fetch outcomes and subscription events as the watcher signals them.
class Sink {
 public:
  PresenceWatcher::OutcomeSignal signal() {
    return [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      drainLocked();
    };
  }
  void attach(PresenceWatcher* watcher) {
    std::lock_guard<std::mutex> lock(mutex_);
    watcher_ = watcher;
    if (watcher_) drainLocked();
  }
  std::optional<FetchOutcome> waitOutcome(uint64_t id, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<FetchOutcome> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const FetchOutcome& o : outcomes_) {
        if (o.id == id) found = o;
      }
      return found.has_value();
    });
    return found;
  }
  std::vector<SubscriptionEvent> events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }
  bool waitEvents(size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }

 private:
  void drainLocked() {
    if (!watcher_) return;
    for (FetchOutcome& o : watcher_->takeOutcomes()) outcomes_.push_back(std::move(o));
    for (SubscriptionEvent& e : watcher_->takeSubscriptionEvents()) events_.push_back(e);
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  PresenceWatcher* watcher_ = nullptr;
  std::vector<FetchOutcome> outcomes_;
  std::vector<SubscriptionEvent> events_;
};

class Watcher {
 public:
  Watcher(const GatewayConfig& config, Sink& sink) : sink_(sink), watcher_(config, sink.signal()) {
    sink_.attach(&watcher_);
  }
  ~Watcher() {
    watcher_.close();
    sink_.attach(nullptr);
  }
  PresenceWatcher* operator->() { return &watcher_; }

 private:
  Sink& sink_;
  PresenceWatcher watcher_;
};

GatewayConfig configFor(const UdpSipPeer& peer) {
  GatewayConfig config;
  config.sip.bindHost = "127.0.0.1";
  config.sip.port = 0;
  config.sip.watcherUri = test::kWatcherUri;
  config.sip.presenceServerUri = peer.uri();
  config.presence.fetchTimeoutMs = 1500;
  return config;
}

// A UDP socket on a chosen loopback address that sends one request and reads the answer.
class RawUdp {
 public:
  explicit RawUdp(const char* ip) : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip, &addr.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(std::string("bind ") + ip);
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    ip_ = ip;
    port_ = ntohs(addr.sin_port);
  }
  std::string via() const {
    return "SIP/2.0/UDP " + ip_ + ":" + std::to_string(port_) + ";branch=z9hG4bK" +
           std::to_string(++branch_) + "x" + std::to_string(port_);
  }
  void send(const std::string& data, uint16_t port) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd_.get(), data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // The first final response within `timeout` (of that Call-ID when one is given).
  std::optional<SipMessage> response(milliseconds timeout, const std::string& callId = "") const {
    const auto until = Clock::now() + timeout;
    std::vector<char> buf(65536);
    while (Clock::now() < until) {
      pollfd p{fd_.get(), POLLIN, 0};
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
      if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
      const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      auto message = SipMessage::parse(std::string_view(buf.data(), static_cast<size_t>(n)));
      if (message && !message->isRequest && message->status >= 200 &&
          (callId.empty() || message->get("call-id") == callId)) {
        return message;
      }
    }
    return std::nullopt;
  }

 private:
  PeerFd fd_;
  std::string ip_;
  uint16_t port_ = 0;
  mutable int branch_ = 0;
};

// A NOTIFY in the dialog of `subscribe` (as the notifier would send it), from `from`.
std::string notifyFor(const RawUdp& from, const std::string& callId, const std::string& fromHeader,
                      const std::string& toHeader, const std::string& body, uint16_t watcherPort,
                      int cseq = 7) {
  return "NOTIFY sip:watcher@127.0.0.1:" + std::to_string(watcherPort) +
         " SIP/2.0\r\n"
         "Via: " +
         from.via() +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: " +
         fromHeader + "\r\nTo: " + toHeader + "\r\nCall-ID: " + callId +
         "\r\nCSeq: " + std::to_string(cseq) +
         " NOTIFY\r\n"
         "Event: presence\r\n"
         "Subscription-State: active;expires=60\r\n"
         "Contact: <sip:notifier@127.0.0.1>\r\n"
         "Content-Type: application/pidf+xml\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The NOTIFY a notifier would send for a fetch's SUBSCRIBE (To-tag of ours, our From-tag).
std::string fetchNotify(const RawUdp& from, const SipMessage& subscribe, const std::string& body,
                        uint16_t watcherPort) {
  const std::string ourTag = "forger1";
  return notifyFor(from, subscribe.get("call-id"), subscribe.get("to") + ";tag=" + ourTag,
                   subscribe.get("from"), body, watcherPort);
}

// --- target URI sanitization -----------------------------------------------------------------

// What the binding does with a requested address: parse (refusing routing parameters), then
// fetch the canonical Request-URI. Only the clean address may produce a SUBSCRIBE.
TEST(SipHardening, HostileTargetsNeverReachTheWire) {
  UdpSipPeer peer;  // 200 + NOTIFY open
  PeerScript script;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  Watcher watcher(configFor(peer), sink);
  const std::vector<std::string> hostile = {
      "sip:alice@example.test;maddr=10.0.0.1",
      "sip:alice@example.test;transport=tcp",
      "sip:alice@example.test;ttl=1;maddr=239.1.1.1",
      "sip:alice@example.test;lr",
      "sip:alice@example.test;method=INVITE",
      "sip:alice@example.test?Route=%3Csip:10.0.0.1;lr%3E",
      "sip:alice@example.test;transport=udp?Call-ID=x",
      "sips:alice@example.test;M%41DDR=10.0.0.1",
  };
  for (const std::string& text : hostile) {
    const AddressParseResult parsed = parseAddress(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (parsed.ok()) watcher->fetch(toSipRequestUri(parsed.address, "example.test"));
  }
  const AddressParseResult clean = parseAddress("sip:alice@example.test;user=phone");
  ASSERT_TRUE(clean.ok()) << clean.reason;
  const uint64_t id = watcher->fetch(toSipRequestUri(clean.address, "example.test"));
  const auto outcome = sink.waitOutcome(id, milliseconds(3000));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kStatus) << outcome->detail;

  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  const SipMessage& m = subscribes.front().message;
  EXPECT_EQ(m.requestUri, "sip:alice@example.test;user=phone");
  for (const char* needle : {"maddr", "transport", "ttl", "method", "10.0.0.1", "?"}) {
    EXPECT_EQ(m.requestUri.find(needle), std::string::npos) << needle;
    EXPECT_EQ(m.get("to").find(needle), std::string::npos) << needle;
  }
  // The only Route is the presence server's.
  ASSERT_EQ(m.all("route").size(), 1u);
  EXPECT_NE(m.get("route").find(std::to_string(peer.port())), std::string::npos);
}

// --- garbage on the UDP port -----------------------------------------------------------------

TEST(SipHardening, UdpGarbageLeavesTheWatcherServing) {
  UdpSipPeer peer;
  PeerScript script;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  Watcher watcher(configFor(peer), sink);
  const uint16_t port = watcher->sipPort();
  RawUdp junk("127.0.0.4");
  std::mt19937 random(12345);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(1 + random() % 1400, '\0');
    for (char& b : bytes) b = static_cast<char>(random());
    junk.send(bytes, port);
  }
  const std::string notify =
      notifyFor(junk, "junk@x", "<sip:a@b>;tag=1", "<sip:c@d>;tag=2", test::kOpen, port);
  for (size_t cut = 1; cut < notify.size(); cut += 29) junk.send(notify.substr(0, cut), port);
  junk.send("NOTIFY sip:gw@127.0.0.1 SIP/2.0\r\nX-Huge: " + std::string(60000, 'h') + "\r\n\r\n",
            port);
  std::string lying = notify;
  lying.replace(lying.find("Content-Length: "), 16, "Content-Length: 99999");
  junk.send(lying, port);
  junk.send("SIP/2.0 200 OK\r\nCall-ID: nothing\r\nCSeq: 1 SUBSCRIBE\r\n\r\n", port);
  // A NOTIFY with an unknown Call-ID from anywhere: 481, counted as stray.
  const std::string stray =
      notifyFor(junk, "stray@x", "<sip:a@b>;tag=1", "<sip:c@d>;tag=2", test::kOpen, port);
  junk.send(stray, port);
  const auto answer = junk.response(milliseconds(2000), "stray@x");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 481);

  const uint64_t id = watcher->fetch(test::kTarget);
  const auto outcome = sink.waitOutcome(id, milliseconds(3000));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kStatus);
  EXPECT_EQ(outcome->status, TerminalStatus::kReachable);
  EXPECT_GE(watcher->stats().strayRequests, 1u);
}

// --- in-dialog NOTIFY source -----------------------------------------------------------------

class NotifySourceTest : public ::testing::Test {
 protected:
  // A fetch whose SUBSCRIBE got a 200 and no NOTIFY (yet): the forger's chance.
  struct Pending {
    uint64_t id;
    SipMessage subscribe;
  };
  Pending startFetch(Watcher& watcher, UdpSipPeer& peer, size_t nth) {
    const uint64_t id = watcher->fetch(test::kTarget);
    EXPECT_TRUE(peer.waitForSubscribes(nth, milliseconds(2000)));
    return Pending{id, peer.subscribes().at(nth - 1).message};
  }
};

TEST_F(NotifySourceTest, ForgedFetchNotifyFromAnotherAddressIsRefused) {
  UdpSipPeer peer;
  PeerScript script;
  script.mode = PeerScript::Mode::kOkNoNotify;
  peer.setScript(script);
  Sink sink;
  GatewayConfig config = configFor(peer);
  config.presence.fetchTimeoutMs = 800;
  Watcher watcher(config, sink);
  const uint16_t port = watcher->sipPort();

  const Pending first = startFetch(watcher, peer, 1);
  RawUdp forger("127.0.0.2");
  forger.send(fetchNotify(forger, first.subscribe, test::kOpen, port), port);
  const auto answer = forger.response(milliseconds(2000));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 403);
  // Its body was not applied: the fetch still ends by its deadline.
  const auto outcome = sink.waitOutcome(first.id, milliseconds(3000));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kTimeout);
  EXPECT_EQ(watcher->stats().notifySourceRefused, 1u);

  // Control: the same NOTIFY from the presence server's address is taken.
  const Pending second = startFetch(watcher, peer, 2);
  RawUdp server("127.0.0.1");
  server.send(fetchNotify(server, second.subscribe, test::kClosed, port), port);
  const auto ok = server.response(milliseconds(2000));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  const auto mapped = sink.waitOutcome(second.id, milliseconds(3000));
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->kind, FetchOutcome::Kind::kStatus);
  EXPECT_EQ(mapped->status, TerminalStatus::kUnreachable);
  EXPECT_EQ(watcher->stats().notifySourceRefused, 1u);
}

TEST_F(NotifySourceTest, TrustedSourcesAndTheSwitchLetOtherAddressesIn) {
  for (const bool trusted : {true, false}) {
    SCOPED_TRACE(trusted ? "trustedNotifySources" : "checkNotifySource: false");
    UdpSipPeer peer;
    PeerScript script;
    script.mode = PeerScript::Mode::kOkNoNotify;
    peer.setScript(script);
    Sink sink;
    GatewayConfig config = configFor(peer);
    if (trusted) {
      config.sip.trustedNotifySources = {"10.9.0.0/16", "127.0.0.2"};
    } else {
      config.sip.checkNotifySource = false;
    }
    Watcher watcher(config, sink);
    const uint16_t port = watcher->sipPort();
    const Pending fetch = startFetch(watcher, peer, 1);
    RawUdp other("127.0.0.2");
    other.send(fetchNotify(other, fetch.subscribe, test::kOpen, port), port);
    const auto answer = other.response(milliseconds(2000));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
    const auto outcome = sink.waitOutcome(fetch.id, milliseconds(3000));
    ASSERT_TRUE(outcome);
    EXPECT_EQ(outcome->kind, FetchOutcome::Kind::kStatus);
    EXPECT_EQ(outcome->status, TerminalStatus::kReachable);
    EXPECT_EQ(watcher->stats().notifySourceRefused, 0u);
  }
}

TEST_F(NotifySourceTest, ForgedSubscriptionNotifyIsRefusedAndNotReported) {
  UdpSipPeer peer;
  PeerScript script;
  script.mode = PeerScript::Mode::kSubscriptions;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  Watcher watcher(configFor(peer), sink);
  const uint16_t port = watcher->sipPort();
  watcher->watch(test::kTarget);
  ASSERT_TRUE(sink.waitEvents(1, milliseconds(3000)));
  ASSERT_EQ(sink.events().front().status, TerminalStatus::kReachable);
  const SipMessage subscribe = peer.subscribes().front().message;
  const std::string callId = subscribe.get("call-id");
  const std::string peerTag = peer.dialogTag(callId);
  ASSERT_FALSE(peerTag.empty());

  // The forger knows the dialog (Call-ID and both tags) but sends from 127.0.0.3.
  RawUdp forger("127.0.0.3");
  forger.send(notifyFor(forger, callId, "<" + std::string(test::kTarget) + ">;tag=" + peerTag,
                        subscribe.get("from"), test::kClosed, port, 50),
              port);
  const auto answer = forger.response(milliseconds(2000));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 403);
  EXPECT_EQ(watcher->stats().notifySourceRefused, 1u);

  // The real notifier still gets through; only its status is reported.
  ASSERT_TRUE(peer.sendNotify(callId, "active;expires=60", test::kOnThePhone));
  ASSERT_TRUE(sink.waitEvents(2, milliseconds(3000)));
  const auto events = sink.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].status, TerminalStatus::kBusy);
  for (const SubscriptionEvent& e : events) EXPECT_NE(e.status, TerminalStatus::kUnreachable);
  EXPECT_EQ(watcher->stats().subscriptionsActive, 1u);
}

// Found by fuzz_sip_watcher: a NOTIFY whose Contact Sofia parses but cannot print back into a
// request (a space inside) became the remote target, and the next refresh SUBSCRIBE hit an
// assertion in Sofia that aborted the whole process. Such a NOTIFY is now answered 400 and its
// Contact and Record-Route are never adopted; the dialog goes on with its old target.
TEST_F(NotifySourceTest, ANotifyWithAnUnusableContactOrRouteIsRefusedAndNeverAdopted) {
  UdpSipPeer peer;
  PeerScript script;
  script.mode = PeerScript::Mode::kSubscriptions;
  script.body = test::kOpen;
  peer.setScript(script);
  Sink sink;
  Watcher watcher(configFor(peer), sink);
  const uint16_t port = watcher->sipPort();
  watcher->watch(test::kTarget);
  ASSERT_TRUE(sink.waitEvents(1, milliseconds(3000)));
  const SipMessage subscribe = peer.subscribes().front().message;
  const std::string callId = subscribe.get("call-id");
  const std::string peerTag = peer.dialogTag(callId);
  ASSERT_FALSE(peerTag.empty());

  // From the presence server's own address, so only the content is wrong.
  RawUdp notifier("127.0.0.1");
  const std::string base =
      notifyFor(notifier, callId, "<" + std::string(test::kTarget) + ">;tag=" + peerTag,
                subscribe.get("from"), test::kClosed, port, 60);
  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"Contact: <sip:notifier@127.0.0.1>", "Contact: <sip:127.0.0.1:5/UDP 127.0.1:9>"},
      {"Contact: <sip:notifier@127.0.0.1>", "Contact: <http://127.0.0.1/x>"},
      {"Contact: <sip:notifier@127.0.0.1>",
       "Contact: <sip:notifier@127.0.0.1>\r\nRecord-Route: <sip:a b@127.0.0.1;lr>"},
  };
  for (const auto& [from, to] : hostile) {
    SCOPED_TRACE(to);
    std::string notify = base;
    notify.replace(notify.find(from), from.size(), to);
    notify.replace(notify.find("active;expires=60"), 17, "active;expires=0");
    notifier.send(notify, port);
    const auto answer = notifier.response(milliseconds(2000));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 400);
  }
  // Nothing of it was applied, and the dialog still works: the real notifier's NOTIFY is
  // reported, and the process is alive to report it.
  ASSERT_TRUE(peer.sendNotify(callId, "active;expires=60", test::kOnThePhone));
  ASSERT_TRUE(sink.waitEvents(2, milliseconds(3000)));
  EXPECT_EQ(sink.events().back().status, TerminalStatus::kBusy);
  EXPECT_EQ(sink.events().size(), 2u);
}

// Found by fuzz_sip_watcher: a request's top Via with maddr made the stateless answer go to that
// host, so anyone could aim the gateway's answers at a third party. Answers now go back to the
// sender whatever maddr says (here 127.0.0.7, which nobody listens on, would swallow them).
TEST(SipHardening, AnswersGoBackToTheSenderNotToAViaMaddr) {
  UdpSipPeer peer;
  Sink sink;
  Watcher watcher(configFor(peer), sink);
  const uint16_t port = watcher->sipPort();
  RawUdp sender("127.0.0.2");
  std::string via = sender.via();
  via += ";maddr=127.0.0.7";
  const std::string options = "OPTIONS sip:watcher@127.0.0.1:" + std::to_string(port) +
                              " SIP/2.0\r\nVia: " + via +
                              "\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: "
                              "<sip:w@z>\r\nCall-ID: maddr@x\r\nCSeq: 1 OPTIONS\r\n"
                              "Content-Length: 0\r\n\r\n";
  sender.send(options, port);
  const auto answer = sender.response(milliseconds(2000), "maddr@x");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  std::string stray = options;
  stray.replace(0, 7, "NOTIFY ");
  stray.replace(stray.find("1 OPTIONS"), 9, "1 NOTIFY");
  sender.send(stray, port);
  const auto refused = sender.response(milliseconds(2000), "maddr@x");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 481);
}

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
