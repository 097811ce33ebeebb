// PresenceWatcher's long-lived subscriptions (watch/unwatch) against a scripted notifier speaking
// real SIP over UDP on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sip/PresenceWatcher.h"
#include "support/PidfDocuments.h"
#include "support/UdpSipPeer.h"

namespace px {
namespace {

using test::PeerScript;
using test::SipMessage;
using test::UdpSipPeer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Kind = SubscriptionEvent::Kind;
using Received = UdpSipPeer::Received;

using test::kClosed;
using test::kOnThePhone;
using test::kOpen;
using test::kTarget;
using test::kWatcherUri;
using test::pidf;

PeerScript notifier(std::optional<std::string> body = kOpen) {
  PeerScript script;
  script.mode = PeerScript::Mode::kSubscriptions;
  script.body = std::move(body);
  return script;
}

PeerScript modeScript(PeerScript::Mode mode, int finalCode = 500) {
  PeerScript script;
  script.mode = mode;
  script.finalCode = finalCode;
  script.body = kOpen;
  return script;
}

std::string toTagOf(const Received& r) {
  return SipMessage::param(r.message.get("to"), "tag");
}
bool isInitial(const Received& r) {
  return toTagOf(r).empty();
}
bool isInDialog(const Received& r) {
  return !isInitial(r);
}

std::vector<Received> initialSubscribes(const UdpSipPeer& peer) {
  std::vector<Received> out;
  for (Received& r : peer.subscribes()) {
    if (isInitial(r)) out.push_back(std::move(r));
  }
  return out;
}
std::vector<Received> inDialogSubscribes(const UdpSipPeer& peer) {
  std::vector<Received> out;
  for (Received& r : peer.subscribes()) {
    if (isInDialog(r)) out.push_back(std::move(r));
  }
  return out;
}

long long msBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// Polls `cond` until it holds or `timeout` passes.
template <typename Cond>
bool eventually(Cond cond, milliseconds timeout = milliseconds(3000)) {
  const auto until = Clock::now() + timeout;
  while (!cond()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// Collects subscription events (and fetch outcomes) as the watcher signals them; each event
// carries when it became available.
class EventCollector {
 public:
  struct Arrival {
    SubscriptionEvent event;
    Clock::time_point at;
  };

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

  bool waitFor(size_t n, milliseconds timeout = milliseconds(3000)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return arrivals_.size() >= n; });
  }

  std::vector<Arrival> arrivals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_.size();
  }
  size_t outcomes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_;
  }
  size_t interruptions() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return interruptions_;
  }

 private:
  void drainLocked() {
    if (!watcher_) return;
    const auto now = Clock::now();
    outcomes_ += watcher_->takeOutcomes().size();
    for (SubscriptionEvent& event : watcher_->takeSubscriptionEvents()) {
      // Interruptions are counted apart: the tests below look at statuses and failures.
      if (event.kind == SubscriptionEvent::Kind::kInterrupted) {
        interruptions_++;
        continue;
      }
      arrivals_.push_back(Arrival{std::move(event), now});
    }
    cv_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  PresenceWatcher* watcher_ = nullptr;
  std::vector<Arrival> arrivals_;
  size_t outcomes_ = 0;
  size_t interruptions_ = 0;
};

class SubscriptionTest : public ::testing::Test {
 protected:
  void TearDown() override { watched_.reset(); }

  // Short expiries and backoffs keep the tests fast.
  static GatewayConfig configFor(const UdpSipPeer& peer) {
    GatewayConfig config;
    config.sip.bindHost = "127.0.0.1";
    config.sip.port = 0;
    config.sip.watcherUri = kWatcherUri;
    config.sip.presenceServerUri = peer.uri();
    config.presence.subscriptionExpiresSec = 4;
    config.presence.subscribeTimeoutMs = 1000;
    config.presence.resubscribeBackoffMs = 50;
    config.presence.resubscribeBackoffMaxMs = 400;
    config.presence.maxSubscribeFailures = 3;
    config.presence.maxSubscribesInFlight = 200;
    return config;
  }

  void start(const GatewayConfig& config) {
    watched_ = std::make_unique<Watched>(config, collector_);
  }

  // Watches kTarget and waits for the dialog to be established (first status reported).
  void watchEstablished(const UdpSipPeer& peer) {
    watcher().watch(kTarget);
    ASSERT_TRUE(collector_.waitFor(1)) << "no status from the first NOTIFY";
    ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 1; }));
    ASSERT_EQ(initialSubscribes(peer).size(), 1u);
  }

  class Watched {
   public:
    Watched(const GatewayConfig& config, EventCollector& collector)
        : collector_(collector), watcher_(config, collector.signal()) {
      collector_.attach(&watcher_);
    }
    ~Watched() {
      watcher_.close();
      collector_.attach(nullptr);
    }
    PresenceWatcher& get() { return watcher_; }

   private:
    EventCollector& collector_;
    PresenceWatcher watcher_;
  };

  PresenceWatcher& watcher() { return watched_->get(); }
  std::string watcherContact() { return "sip:127.0.0.1:" + std::to_string(watcher().sipPort()); }

  EventCollector collector_;
  std::unique_ptr<Watched> watched_;
};

// --- establishing and NOTIFYs ---------------------------------------------------------------

TEST_F(SubscriptionTest, WatchSubscribesAndReportsTheNotifiedStatus) {
  UdpSipPeer peer(notifier(kOnThePhone));
  start(configFor(peer));
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1));
  const auto arrivals = collector_.arrivals();
  ASSERT_EQ(arrivals.size(), 1u);
  EXPECT_EQ(arrivals[0].event.kind, Kind::kStatus);
  EXPECT_EQ(arrivals[0].event.requestUri, kTarget);
  EXPECT_EQ(arrivals[0].event.status, TerminalStatus::kBusy);

  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  const SipMessage& request = subscribes[0].message;
  EXPECT_EQ(request.requestUri, kTarget);
  EXPECT_EQ(request.get("expires"), "4");
  EXPECT_EQ(request.get("event"), "presence");
  EXPECT_EQ(request.get("accept"), "application/pidf+xml");
  EXPECT_EQ(request.get("cseq"), "1 SUBSCRIBE");
  EXPECT_EQ(request.all("route"),
            std::vector<std::string>{"<sip:127.0.0.1:" + std::to_string(peer.port()) + ";lr>"});
  EXPECT_EQ(SipMessage::uriOf(request.get("to")), kTarget);
  EXPECT_TRUE(toTagOf(subscribes[0]).empty());
  EXPECT_EQ(SipMessage::uriOf(request.get("from")), kWatcherUri);
  EXPECT_FALSE(SipMessage::param(request.get("from"), "tag").empty());
  EXPECT_NE(
      SipMessage::uriOf(request.get("contact")).find(":" + std::to_string(watcher().sipPort())),
      std::string::npos);

  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(0).status, 200);
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 1; }));
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(stats.subscribeRequests, 1u);
  EXPECT_EQ(stats.refreshes, 0u);
  EXPECT_EQ(stats.resubscribes, 0u);
  EXPECT_EQ(stats.subscriptionFailures, 0u);
  EXPECT_EQ(stats.started, 0u) << "a watch is not a fetch";
  EXPECT_EQ(collector_.outcomes(), 0u);
}

TEST_F(SubscriptionTest, EveryNotifyIsReported) {
  UdpSipPeer peer(notifier(kOpen));
  start(configFor(peer));
  watchEstablished(peer);
  const std::string callId = initialSubscribes(peer).at(0).message.get("call-id");
  ASSERT_TRUE(peer.sendNotify(callId, "active;expires=4", kOnThePhone));
  ASSERT_TRUE(collector_.waitFor(2));
  ASSERT_TRUE(peer.sendNotify(callId, "active;expires=4", kOpen));  // repeated: still reported
  ASSERT_TRUE(collector_.waitFor(3));
  // "active" without a body: the presentity publishes nothing any more.
  ASSERT_TRUE(peer.sendNotify(callId, "active;expires=4", std::nullopt));
  ASSERT_TRUE(collector_.waitFor(4));
  // "pending" without a body says nothing about the terminal.
  ASSERT_TRUE(peer.sendNotify(callId, "pending;expires=4", std::nullopt));
  ASSERT_TRUE(peer.waitForNotifyAnswers(5, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(50));
  const auto arrivals = collector_.arrivals();
  ASSERT_EQ(arrivals.size(), 4u);
  const std::vector<TerminalStatus> expected = {TerminalStatus::kReachable, TerminalStatus::kBusy,
                                                TerminalStatus::kReachable,
                                                TerminalStatus::kUnreachable};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(arrivals[i].event.kind, Kind::kStatus) << i;
    EXPECT_EQ(arrivals[i].event.status, expected[i]) << i;
  }
  for (const auto& notify : peer.notifies()) EXPECT_EQ(notify.status, 200);
  EXPECT_EQ(initialSubscribes(peer).size(), 1u);
}

// RFC 6665 §4.1.2.4: the NOTIFY may overtake the 200; it creates the dialog.
TEST_F(SubscriptionTest, NotifyBeforeOkEstablishesTheDialog) {
  PeerScript script = notifier(kOnThePhone);
  script.notifyFirst = true;
  script.okDelay = milliseconds(150);
  UdpSipPeer peer(script);
  start(configFor(peer));
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1));
  EXPECT_EQ(collector_.arrivals().at(0).event.status, TerminalStatus::kBusy);
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 1; }));
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  ASSERT_TRUE(subscribes[0].answeredAt.has_value());
  EXPECT_LT(collector_.arrivals().at(0).at, *subscribes[0].answeredAt)
      << "the status must come from the NOTIFY, before the 200";
  // The dialog works: a later NOTIFY is matched and reported.
  ASSERT_TRUE(peer.sendNotify(subscribes[0].message.get("call-id"), "active;expires=4", kClosed));
  ASSERT_TRUE(collector_.waitFor(2));
  EXPECT_EQ(collector_.arrivals().at(1).event.status, TerminalStatus::kUnreachable);
  ASSERT_TRUE(peer.waitForNotifyAnswers(2, milliseconds(2000)));
  for (const auto& notify : peer.notifies()) EXPECT_EQ(notify.status, 200);
}

TEST_F(SubscriptionTest, StrayNotifyIsAnswered481) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  peer.sendStrayNotify(watcherContact());
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(0).status, 481);
  EXPECT_EQ(watcher().stats().strayRequests, 1u);
  EXPECT_EQ(collector_.count(), 0u);
}

TEST_F(SubscriptionTest, WatchingTwiceMakesOneDialog) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  watcher().watch(kTarget, false);
  watcher().watch(kTarget, false);
  watcher().flush();
  ASSERT_TRUE(collector_.waitFor(1));
  watcher().watch(kTarget);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(peer.subscribes().size(), 1u);
  EXPECT_EQ(collector_.count(), 1u);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(stats.subscribeRequests, 1u);
}

// Sends one request datagram to the watcher and returns its answer (nullopt: none within 1 s).
std::optional<SipMessage> ask(uint16_t port, const std::string& method) {
  test::PeerFd sock(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof local;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return std::nullopt;
  }
  const std::string target = "sip:127.0.0.1:" + std::to_string(port);
  const std::string request =
      method + " " + target +
      " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(ntohs(local.sin_port)) +
      ";branch=z9hG4bKask1\r\nMax-Forwards: 70\r\nFrom: <sip:tester@example.test>;tag=t1\r\n"
      "To: <" +
      target + ">\r\nCall-ID: ask-" + method + "@127.0.0.1\r\nCSeq: 1 " + method +
      "\r\nContent-Length: 0\r\n\r\n";
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(sock.get(), request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to),
           sizeof to);
  pollfd fd{sock.get(), POLLIN, 0};
  if (::poll(&fd, 1, 1000) != 1) return std::nullopt;
  char buf[4096];
  const ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  return SipMessage::parse(std::string_view(buf, static_cast<size_t>(n)));
}

// Requests are answered without NTA server transactions; the answers are still the right ones.
TEST_F(SubscriptionTest, OtherRequestsGetStatelessAnswers) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  const auto options = ask(watcher().sipPort(), "OPTIONS");
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->status, 200);
  EXPECT_EQ(options->get("cseq"), "1 OPTIONS");
  const auto info = ask(watcher().sipPort(), "INFO");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status, 405);
  EXPECT_EQ(info->get("allow"), "NOTIFY, OPTIONS");
  EXPECT_FALSE(SipMessage::param(info->get("to"), "tag").empty());
}

// --- refreshes --------------------------------------------------------------------------------

// Granted 2 s: the refresh is due 1 s after the 200 (granted - min(granted / 2, 60 s)).
TEST_F(SubscriptionTest, RefreshGoesInTheDialogBeforeExpiry) {
  UdpSipPeer peer(notifier());
  GatewayConfig config = configFor(peer);
  config.presence.subscriptionExpiresSec = 2;
  start(config);
  watchEstablished(peer);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(3000), isInDialog));
  const Received initial = initialSubscribes(peer).at(0);
  const Received refresh = inDialogSubscribes(peer).at(0);
  const SipMessage& request = refresh.message;
  const std::string callId = initial.message.get("call-id");
  EXPECT_EQ(request.get("call-id"), callId);
  EXPECT_EQ(request.get("cseq"), "2 SUBSCRIBE");
  EXPECT_EQ(toTagOf(refresh), peer.dialogTag(callId));
  EXPECT_EQ(SipMessage::param(request.get("from"), "tag"),
            SipMessage::param(initial.message.get("from"), "tag"));
  EXPECT_EQ(request.requestUri, "sip:notifier@127.0.0.1:" + std::to_string(peer.port()))
      << "the Request-URI is the Contact of the 200";
  EXPECT_TRUE(request.all("route").empty()) << "no route set: straight to the remote target";
  EXPECT_EQ(request.get("expires"), "2");
  EXPECT_EQ(request.get("event"), "presence");
  ASSERT_TRUE(initial.answeredAt.has_value());
  const long long after = msBetween(*initial.answeredAt, refresh.at);
  EXPECT_GE(after, 950);
  EXPECT_LE(after, 1500);
  // The notifier accepted it (it checks the dialog) and NOTIFYs again.
  ASSERT_TRUE(collector_.waitFor(2));
  ASSERT_TRUE(eventually([&] { return watcher().stats().refreshes >= 1; }));
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.subscriptionsActive, 1u);
  EXPECT_EQ(stats.resubscribes, 0u);
  EXPECT_EQ(initialSubscribes(peer).size(), 1u);
  // And the next refresh increments the CSeq again.
  ASSERT_TRUE(peer.waitForSubscribesWhere(2, milliseconds(3000), isInDialog));
  EXPECT_EQ(inDialogSubscribes(peer).at(1).message.get("cseq"), "3 SUBSCRIBE");
}

TEST_F(SubscriptionTest, ShorterGrantedExpiryIsHonoured) {
  PeerScript script = notifier();
  script.grantedExpires = 1;  // asked for 4
  UdpSipPeer peer(script);
  start(configFor(peer));
  watchEstablished(peer);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(2000), isInDialog));
  const long long after =
      msBetween(*initialSubscribes(peer).at(0).answeredAt, inDialogSubscribes(peer).at(0).at);
  EXPECT_GE(after, 450);
  EXPECT_LE(after, 900);
}

TEST_F(SubscriptionTest, ShorterExpiryInNotifyBringsTheRefreshForward) {
  PeerScript script = notifier();
  script.grantedExpires = 4;
  script.notifyExpires = 1;
  UdpSipPeer peer(script);
  start(configFor(peer));
  watchEstablished(peer);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(2000), isInDialog));
  const long long after =
      msBetween(*initialSubscribes(peer).at(0).answeredAt, inDialogSubscribes(peer).at(0).at);
  EXPECT_LE(after, 900) << "refresh follows the NOTIFY's expires=1, not the 200's 4 s";
}

// With a route set, in-dialog requests go to its first entry and carry it as Route headers.
TEST_F(SubscriptionTest, RefreshFollowsTheRouteSet) {
  UdpSipPeer peer(notifier());
  const std::string hop = "sip:127.0.0.1:" + std::to_string(peer.port());
  PeerScript script = notifier();
  script.grantedExpires = 1;
  script.recordRoute = "<" + hop + ";lr;n=far>, <" + hop + ";lr;n=near>";
  script.contact = "sip:notifier@127.0.0.1:9";  // unreachable: only the route set gets there
  peer.setScript(script);
  start(configFor(peer));
  watchEstablished(peer);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(2000), isInDialog));
  const SipMessage refresh = inDialogSubscribes(peer).at(0).message;
  EXPECT_EQ(refresh.requestUri, "sip:notifier@127.0.0.1:9");
  std::vector<std::string> routes;
  for (const std::string& line : refresh.all("route")) {
    size_t from = 0;
    while (from <= line.size()) {
      const size_t comma = std::min(line.find(',', from), line.size());
      routes.push_back(test::trim(std::string_view(line).substr(from, comma - from)));
      from = comma + 1;
    }
  }
  // Record-Route of the 200, reversed.
  EXPECT_EQ(routes,
            (std::vector<std::string>{"<" + hop + ";lr;n=near>", "<" + hop + ";lr;n=far>"}));
}

// Without a route set the refresh goes to the Contact of the 200, not to the presence server.
TEST_F(SubscriptionTest, RefreshGoesToTheRemoteTarget) {
  PeerScript targetScript = notifier();
  UdpSipPeer target(targetScript);  // knows no dialog: answers the refresh 481
  PeerScript script = notifier();
  script.grantedExpires = 1;
  script.contact = "sip:notifier@127.0.0.1:" + std::to_string(target.port());
  UdpSipPeer server(script);
  start(configFor(server));
  watchEstablished(server);
  ASSERT_TRUE(target.waitForSubscribes(1, milliseconds(2000)));
  const Received refresh = target.subscribes().at(0);
  EXPECT_EQ(refresh.message.requestUri, script.contact);
  EXPECT_FALSE(toTagOf(refresh).empty());
  EXPECT_EQ(refresh.message.get("cseq"), "2 SUBSCRIBE");
  EXPECT_EQ(refresh.message.get("call-id"), initialSubscribes(server).at(0).message.get("call-id"));
  EXPECT_TRUE(refresh.message.all("route").empty());
  EXPECT_TRUE(inDialogSubscribes(server).empty());
  // The 481 killed the dialog: a new one starts at the presence server.
  ASSERT_TRUE(server.waitForSubscribesWhere(2, milliseconds(2000), isInitial));
}

// --- failures and re-subscription -------------------------------------------------------------

TEST_F(SubscriptionTest, RefreshAnswered481StartsANewDialogAfterBackoff) {
  PeerScript script = notifier();
  script.grantedExpires = 1;
  script.refreshCode = 481;
  UdpSipPeer peer(script);
  GatewayConfig config = configFor(peer);
  config.presence.resubscribeBackoffMs = 300;
  start(config);
  watchEstablished(peer);
  ASSERT_TRUE(peer.waitForSubscribesWhere(2, milliseconds(3000), isInitial));
  const auto initials = initialSubscribes(peer);
  const auto refreshes = inDialogSubscribes(peer);
  ASSERT_GE(refreshes.size(), 1u);
  EXPECT_NE(initials[1].message.get("call-id"), initials[0].message.get("call-id"));
  EXPECT_NE(SipMessage::param(initials[1].message.get("from"), "tag"),
            SipMessage::param(initials[0].message.get("from"), "tag"));
  EXPECT_EQ(initials[1].message.get("cseq"), "1 SUBSCRIBE");
  ASSERT_TRUE(refreshes[0].answeredAt.has_value());
  EXPECT_GE(msBetween(*refreshes[0].answeredAt, initials[1].at), 290) << "backoff";
  // The new dialog reports again, and the terminal is not given up.
  ASSERT_TRUE(collector_.waitFor(2));
  for (const auto& arrival : collector_.arrivals()) EXPECT_EQ(arrival.event.kind, Kind::kStatus);
  const WatcherStats stats = watcher().stats();
  EXPECT_GE(stats.resubscribes, 1u);
  EXPECT_GE(stats.refreshes, 1u);
  EXPECT_EQ(stats.subscriptionFailures, 0u);
  EXPECT_EQ(stats.subscriptions, 1u);
}

class TerminatedTest : public SubscriptionTest,
                       public ::testing::WithParamInterface<const char*> {};

TEST_P(TerminatedTest, TerminatedNotifyStartsANewDialog) {
  UdpSipPeer peer(notifier(kOpen));
  start(configFor(peer));
  watchEstablished(peer);
  const std::string callId = initialSubscribes(peer).at(0).message.get("call-id");
  ASSERT_TRUE(peer.sendNotify(callId, std::string("terminated;reason=") + GetParam(), kClosed));
  ASSERT_TRUE(peer.waitForSubscribesWhere(2, milliseconds(2000), isInitial));
  const auto initials = initialSubscribes(peer);
  EXPECT_NE(initials[1].message.get("call-id"), callId);
  EXPECT_TRUE(inDialogSubscribes(peer).empty()) << "no unsubscribe for a terminated dialog";
  // The terminated NOTIFY was accepted and its document reported.
  ASSERT_TRUE(peer.waitForNotifyAnswers(2, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(1).status, 200);
  ASSERT_TRUE(collector_.waitFor(3));  // open, closed (terminated), open (new dialog)
  const auto arrivals = collector_.arrivals();
  EXPECT_EQ(arrivals[1].event.status, TerminalStatus::kUnreachable);
  EXPECT_EQ(arrivals[2].event.status, TerminalStatus::kReachable);
  EXPECT_EQ(collector_.interruptions(), 1u) << "between the terminated dialog and the new one";
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 1; }));
  EXPECT_EQ(watcher().stats().resubscribes, 1u);
  EXPECT_EQ(watcher().stats().subscriptionFailures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Reasons, TerminatedTest,
                         ::testing::Values("deactivated", "timeout", "rejected", "noresource"));

// A dialog that got its 200 and a NOTIFY resets the failure count: terminations that are each
// followed by a healthy dialog never add up to maxSubscribeFailures.
TEST_F(SubscriptionTest, HealthyDialogResetsTheFailureCount) {
  UdpSipPeer peer(notifier(kOpen));
  GatewayConfig config = configFor(peer);
  config.presence.maxSubscribeFailures = 2;
  start(config);
  watcher().watch(kTarget);
  for (size_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(peer.waitForSubscribesWhere(round, milliseconds(2000), isInitial)) << round;
    ASSERT_TRUE(collector_.waitFor(round)) << round;  // its first NOTIFY was reported
    ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 1; }));
    const std::string callId = initialSubscribes(peer).at(round - 1).message.get("call-id");
    ASSERT_TRUE(peer.sendNotify(callId, "terminated;reason=deactivated", std::nullopt));
  }
  ASSERT_TRUE(peer.waitForSubscribesWhere(4, milliseconds(2000), isInitial));
  for (const auto& arrival : collector_.arrivals()) EXPECT_EQ(arrival.event.kind, Kind::kStatus);
  EXPECT_EQ(watcher().stats().subscriptionFailures, 0u);
  EXPECT_EQ(watcher().stats().resubscribes, 3u);
}

class RepeatedErrorTest : public SubscriptionTest, public ::testing::WithParamInterface<int> {};

TEST_P(RepeatedErrorTest, GivesUpAfterMaxFailuresWithOneFailedEvent) {
  const int code = GetParam();
  UdpSipPeer peer(modeScript(PeerScript::Mode::kFinal, code));
  GatewayConfig config = configFor(peer);
  config.presence.maxSubscribeFailures = 3;
  config.presence.resubscribeBackoffMs = 100;
  config.presence.resubscribeBackoffMaxMs = 1000;
  start(config);
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(3000)));
  std::this_thread::sleep_for(milliseconds(500));  // nothing more may follow
  const auto arrivals = collector_.arrivals();
  ASSERT_EQ(arrivals.size(), 1u);
  const SubscriptionEvent& event = arrivals[0].event;
  EXPECT_EQ(event.kind, Kind::kFailed);
  EXPECT_EQ(event.requestUri, kTarget);
  EXPECT_EQ(event.sipStatus, code);
  EXPECT_NE(event.detail.find(std::to_string(code)), std::string::npos) << event.detail;
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 3u);
  std::set<std::string> callIds;
  for (const auto& s : subscribes) callIds.insert(s.message.get("call-id"));
  EXPECT_EQ(callIds.size(), 3u) << "each attempt is a new dialog";
  // Exponential backoff: 100 ms after the first failure, 200 ms after the second.
  const long long gap1 = msBetween(*subscribes[0].answeredAt, subscribes[1].at);
  const long long gap2 = msBetween(*subscribes[1].answeredAt, subscribes[2].at);
  EXPECT_GE(gap1, 95);
  EXPECT_GE(gap2, 195);
  EXPECT_GT(gap2, gap1 + 50);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.subscriptionFailures, 1u);
  EXPECT_EQ(stats.subscriptions, 0u);
  EXPECT_EQ(stats.subscriptionsActive, 0u);
  EXPECT_EQ(stats.subscribeRequests, 3u);
  EXPECT_EQ(stats.resubscribes, 2u);
  // The terminal was forgotten: watching it again starts over.
  peer.setScript(notifier());
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(2));
  EXPECT_EQ(collector_.arrivals().at(1).event.kind, Kind::kStatus);
}

INSTANTIATE_TEST_SUITE_P(Codes, RepeatedErrorTest, ::testing::Values(403, 503),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "Status" + std::to_string(param.param);
                         });

TEST_F(SubscriptionTest, NoAnswerIsATimeoutFailure) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kSilent));
  GatewayConfig config = configFor(peer);
  config.presence.subscribeTimeoutMs = 200;
  config.presence.maxSubscribeFailures = 2;
  start(config);
  const auto before = Clock::now();
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(3000)));
  const auto arrival = collector_.arrivals().at(0);
  EXPECT_EQ(arrival.event.kind, Kind::kFailed);
  EXPECT_EQ(arrival.event.sipStatus, 408);
  EXPECT_NE(arrival.event.detail.find("no answer"), std::string::npos) << arrival.event.detail;
  // Two attempts of 200 ms with a 50 ms backoff between them.
  EXPECT_GE(msBetween(before, arrival.at), 440);
  EXPECT_LE(msBetween(before, arrival.at), 1000);
  EXPECT_EQ(peer.subscribes().size(), 2u);
  EXPECT_EQ(watcher().stats().subscriptionFailures, 1u);
  EXPECT_EQ(collector_.interruptions(), 1u) << "the first of the two failures";
}

TEST_F(SubscriptionTest, OkWithoutNotifyIsATimeoutFailure) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kOkNoNotify));
  GatewayConfig config = configFor(peer);
  config.presence.subscribeTimeoutMs = 200;
  config.presence.maxSubscribeFailures = 1;
  start(config);
  watcher().watch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(3000)));
  const SubscriptionEvent event = collector_.arrivals().at(0).event;
  EXPECT_EQ(event.kind, Kind::kFailed);
  EXPECT_EQ(event.sipStatus, 200);
  EXPECT_NE(event.detail.find("no NOTIFY"), std::string::npos) << event.detail;
  EXPECT_EQ(watcher().stats().subscriptionsActive, 0u);
}

// --- unwatch ----------------------------------------------------------------------------------

TEST_F(SubscriptionTest, UnwatchEndsTheDialogAndAcceptsItsLastNotify) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  watchEstablished(peer);
  const std::string callId = initialSubscribes(peer).at(0).message.get("call-id");
  watcher().unwatch(kTarget);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(2000), isInDialog));
  const SipMessage unsubscribe = inDialogSubscribes(peer).at(0).message;
  EXPECT_EQ(unsubscribe.get("expires"), "0");
  EXPECT_EQ(unsubscribe.get("call-id"), callId);
  EXPECT_EQ(unsubscribe.get("cseq"), "2 SUBSCRIBE");
  EXPECT_EQ(SipMessage::param(unsubscribe.get("to"), "tag"), peer.dialogTag(callId));
  EXPECT_EQ(unsubscribe.requestUri, "sip:notifier@127.0.0.1:" + std::to_string(peer.port()));
  // The notifier's final NOTIFY (terminated) is accepted, and nothing is reported for it.
  ASSERT_TRUE(peer.waitForNotifyAnswers(2, milliseconds(2000)));
  const auto notifies = peer.notifies();
  EXPECT_EQ(notifies.at(1).subscriptionState, "terminated;reason=timeout");
  EXPECT_EQ(notifies.at(1).status, 200);
  // Even a NOTIFY after the dialog was forgotten gets 200, not 481.
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptions == 0; }));
  ASSERT_TRUE(peer.sendNotify(callId, "terminated;reason=timeout", kClosed));
  ASSERT_TRUE(peer.waitForNotifyAnswers(3, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(2).status, 200);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(collector_.count(), 1u);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.subscriptions, 0u);
  EXPECT_EQ(stats.subscriptionsActive, 0u);
  EXPECT_EQ(stats.subscribeRequests, 2u);
  EXPECT_EQ(stats.strayRequests, 0u);
  // Watching again is a new dialog.
  watcher().watch(kTarget);
  ASSERT_TRUE(peer.waitForSubscribesWhere(2, milliseconds(2000), isInitial));
  EXPECT_NE(initialSubscribes(peer).at(1).message.get("call-id"), callId);
  ASSERT_TRUE(collector_.waitFor(2));
}

// Unwatched while its SUBSCRIBE waits for the 200: the 200 is followed by the Expires: 0.
TEST_F(SubscriptionTest, UnwatchWhileSubscribingUnsubscribesAfterTheOk) {
  PeerScript script = notifier();
  script.answerDelay = milliseconds(300);
  UdpSipPeer peer(script);
  start(configFor(peer));
  watcher().watch(kTarget);
  ASSERT_TRUE(peer.waitForSubscribes(1, milliseconds(2000)));
  watcher().unwatch(kTarget);
  ASSERT_TRUE(peer.waitForSubscribesWhere(1, milliseconds(2000), isInDialog));
  const auto initial = initialSubscribes(peer).at(0);
  const auto unsubscribe = inDialogSubscribes(peer).at(0);
  EXPECT_EQ(unsubscribe.message.get("expires"), "0");
  EXPECT_EQ(unsubscribe.message.get("call-id"), initial.message.get("call-id"));
  EXPECT_GE(unsubscribe.at, *initial.answeredAt);
  ASSERT_TRUE(peer.waitForNotifyAnswers(2, milliseconds(2000)));
  for (const auto& notify : peer.notifies()) EXPECT_EQ(notify.status, 200);
  EXPECT_EQ(collector_.count(), 0u) << "nothing is reported after unwatch";
  EXPECT_EQ(watcher().stats().subscriptions, 0u);
}

// Unwatched while still queued for a transaction slot: it is never sent.
TEST_F(SubscriptionTest, UnwatchWhileQueuedSendsNothing) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kSilent));
  GatewayConfig config = configFor(peer);
  config.presence.maxSubscribesInFlight = 1;
  config.presence.subscribeTimeoutMs = 200;
  start(config);
  watcher().watch("sip:first@example.test");
  watcher().watch("sip:second@example.test");
  ASSERT_TRUE(peer.waitForSubscribes(1, milliseconds(2000)));
  watcher().unwatch("sip:second@example.test");
  watcher().unwatch("sip:first@example.test");
  std::this_thread::sleep_for(milliseconds(500));  // the first's deadline freed the slot
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  EXPECT_EQ(subscribes[0].message.requestUri, "sip:first@example.test");
  EXPECT_EQ(collector_.count(), 0u);
  EXPECT_EQ(watcher().stats().subscriptions, 0u);
}

TEST_F(SubscriptionTest, UnwatchOfAnUnknownUriDoesNothing) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  watcher().unwatch(kTarget);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(peer.subscribes().empty());
  EXPECT_EQ(watcher().stats().subscriptions, 0u);
}

// --- pacing -----------------------------------------------------------------------------------

TEST_F(SubscriptionTest, AtMostMaxSubscribesInFlight) {
  constexpr size_t kWatches = 50;
  PeerScript script = notifier();
  script.answerDelay = milliseconds(20);
  UdpSipPeer peer(script);
  GatewayConfig config = configFor(peer);
  config.presence.maxSubscribesInFlight = 5;
  start(config);
  for (size_t i = 0; i < kWatches; ++i) {
    watcher().watch("sip:user" + std::to_string(i) + "@example.test", false);
  }
  watcher().flush();
  ASSERT_TRUE(collector_.waitFor(kWatches, milliseconds(5000))) << collector_.count();
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == kWatches; }));
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), kWatches);
  // Unanswered SUBSCRIBEs at the peer over time: +1 on arrival, -1 when answered.
  std::vector<std::pair<Clock::time_point, int>> changes;
  for (size_t i = 0; i < subscribes.size(); ++i) {
    ASSERT_TRUE(subscribes[i].answeredAt.has_value());
    changes.emplace_back(subscribes[i].at, +1);
    changes.emplace_back(*subscribes[i].answeredAt, -1);
    // First come, first served.
    EXPECT_EQ(subscribes[i].message.requestUri, "sip:user" + std::to_string(i) + "@example.test");
  }
  std::sort(changes.begin(), changes.end());  // at equal times, answers (-1) first
  int open = 0;
  int peak = 0;
  for (const auto& change : changes) {
    open += change.second;
    peak = std::max(peak, open);
  }
  EXPECT_EQ(peak, 5);
  EXPECT_EQ(watcher().stats().subscriptions, kWatches);
}

// --- close ------------------------------------------------------------------------------------

TEST_F(SubscriptionTest, CloseUnsubscribesEstablishedDialogs) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  std::set<std::string> uris;
  for (int i = 0; i < 3; ++i) {
    uris.insert("sip:user" + std::to_string(i) + "@example.test");
    watcher().watch("sip:user" + std::to_string(i) + "@example.test");
  }
  ASSERT_TRUE(collector_.waitFor(3));
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == 3; }));
  const auto before = Clock::now();
  watcher().close();
  EXPECT_LT(msBetween(before, Clock::now()), 1000);
  // close() waited for the answers, so the Expires: 0 requests are already at the peer.
  const auto unsubscribes = inDialogSubscribes(peer);
  ASSERT_EQ(unsubscribes.size(), 3u);
  std::set<std::string> callIds;
  for (const auto& initial : initialSubscribes(peer))
    callIds.insert(initial.message.get("call-id"));
  for (const auto& unsubscribe : unsubscribes) {
    EXPECT_EQ(unsubscribe.message.get("expires"), "0");
    EXPECT_EQ(callIds.count(unsubscribe.message.get("call-id")), 1u);
    EXPECT_TRUE(unsubscribe.answeredAt.has_value());
  }
  EXPECT_EQ(watcher().stats().subscriptions, 0u);
  EXPECT_EQ(watcher().stats().subscriptionsActive, 0u);
  watcher().watch(kTarget);  // after close: nothing happens
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(initialSubscribes(peer).size(), 3u);
  EXPECT_EQ(collector_.count(), 3u);
}

// close() paces its Expires: 0 requests like other SUBSCRIBEs and waits for their answers.
TEST_F(SubscriptionTest, CloseIsPacedByMaxSubscribesInFlight) {
  constexpr size_t kDialogs = 6;
  UdpSipPeer peer(notifier());
  GatewayConfig config = configFor(peer);
  config.presence.maxSubscribesInFlight = 2;
  start(config);
  for (size_t i = 0; i < kDialogs; ++i) {
    watcher().watch("sip:user" + std::to_string(i) + "@example.test");
  }
  ASSERT_TRUE(collector_.waitFor(kDialogs));
  ASSERT_TRUE(eventually([&] { return watcher().stats().subscriptionsActive == kDialogs; }));
  PeerScript slow = notifier();
  slow.answerDelay = milliseconds(60);
  peer.setScript(slow);
  const auto before = Clock::now();
  watcher().close();
  EXPECT_GE(msBetween(before, Clock::now()), 3 * 60 - 10) << "three rounds of two";
  const auto unsubscribes = inDialogSubscribes(peer);
  ASSERT_EQ(unsubscribes.size(), kDialogs);
  std::vector<std::pair<Clock::time_point, int>> changes;
  for (const auto& unsubscribe : unsubscribes) {
    EXPECT_EQ(unsubscribe.message.get("expires"), "0");
    ASSERT_TRUE(unsubscribe.answeredAt.has_value());
    changes.emplace_back(unsubscribe.at, +1);
    changes.emplace_back(*unsubscribe.answeredAt, -1);
  }
  std::sort(changes.begin(), changes.end());
  int open = 0;
  int peak = 0;
  for (const auto& change : changes) peak = std::max(peak, open += change.second);
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(watcher().stats().subscribeRequests, 2 * kDialogs);
}

// An unanswered Expires: 0 does not hold close() up beyond its short grace.
TEST_F(SubscriptionTest, CloseDoesNotWaitLongForASilentNotifier) {
  UdpSipPeer peer(notifier());
  start(configFor(peer));
  watchEstablished(peer);
  PeerScript silent = notifier();
  silent.mode = PeerScript::Mode::kSilent;
  peer.setScript(silent);
  const auto before = Clock::now();
  watcher().close();
  const long long took = msBetween(before, Clock::now());
  EXPECT_GE(took, 150);
  EXPECT_LT(took, 600);
  EXPECT_EQ(inDialogSubscribes(peer).size(), 1u);
}

// Fetches and subscriptions share the stack without seeing each other's NOTIFYs.
TEST_F(SubscriptionTest, FetchesStillWorkNextToSubscriptions) {
  UdpSipPeer peer(notifier(kOnThePhone));
  start(configFor(peer));
  watchEstablished(peer);
  watcher().fetch("sip:bob@example.test");
  ASSERT_TRUE(eventually([&] { return collector_.outcomes() == 1; }));
  EXPECT_EQ(watcher().stats().completed, 1u);
  EXPECT_EQ(collector_.count(), 1u) << "the fetch's NOTIFY is not a subscription event";
}

}  // namespace
}  // namespace px
