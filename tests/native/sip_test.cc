// PresenceWatcher against a scripted presence server speaking real SIP over UDP on loopback.
#include "sip/PresenceWatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/PidfDocuments.h"
#include "support/UdpSipPeer.h"

namespace px::test {
// For readable test names in ctest (gtest_discover_tests prints the parameter).
inline void PrintTo(PeerScript::Mode mode, std::ostream* out) {
  *out << (mode == PeerScript::Mode::kSilent ? "no answer" : "200 without NOTIFY");
}
}  // namespace px::test

namespace px {
namespace {

using test::PeerScript;
using test::SipMessage;
using test::UdpSipPeer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Kind = FetchOutcome::Kind;

using test::kClosed;
using test::kOnThePhone;
using test::kOpen;
using test::kTarget;
using test::kWatcherUri;
using test::pidf;

PeerScript notifyScript(std::optional<std::string> body,
                        PeerScript::Mode mode = PeerScript::Mode::kOkThenNotify) {
  PeerScript script;
  script.mode = mode;
  script.body = std::move(body);
  return script;
}

PeerScript modeScript(PeerScript::Mode mode, int finalCode = 500) {
  PeerScript script;
  script.mode = mode;
  script.finalCode = finalCode;
  return script;
}

template <typename T, typename Pred>
size_t countIf(const std::vector<T>& items, Pred pred) {
  return static_cast<size_t>(std::count_if(items.begin(), items.end(), pred));
}

// SUBSCRIBEs without a To-tag, i.e. new fetches (not in-dialog requests).
size_t initialSubscribes(const UdpSipPeer& peer) {
  return countIf(peer.subscribes(), [](const UdpSipPeer::Received& r) {
    return SipMessage::param(r.message.get("to"), "tag").empty();
  });
}

// Destroying a handle whose SUBSCRIBE got a 2xx makes NUA send an in-dialog SUBSCRIBE; the
// watcher must never keep a subscription alive, so every SUBSCRIBE must say Expires: 0.
void expectOnlyFetches(const UdpSipPeer& peer) {
  for (const auto& received : peer.subscribes()) {
    EXPECT_EQ(received.message.get("expires"), "0") << received.message.requestUri;
  }
}

long long msBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// Collects outcomes as the watcher signals them. The signal drains the watcher where it runs
// (the SIP thread; fetch()'s caller after close), so each outcome carries when it became
// available.
class OutcomeCollector {
 public:
  struct Arrival {
    FetchOutcome outcome;
    Clock::time_point at;
  };

  PresenceWatcher::OutcomeSignal signal() {
    return [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      drainLocked();
    };
  }

  // Must be called before the first fetch and undone (detach) before the watcher dies.
  void attach(PresenceWatcher* watcher) {
    std::lock_guard<std::mutex> lock(mutex_);
    watcher_ = watcher;
    if (watcher_) drainLocked();
  }

  // True when at least n outcomes arrived within `timeout`.
  bool waitFor(size_t n, milliseconds timeout) {
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

 private:
  void drainLocked() {
    if (!watcher_) return;
    const auto now = Clock::now();
    for (FetchOutcome& outcome : watcher_->takeOutcomes()) {
      arrivals_.push_back(Arrival{std::move(outcome), now});
    }
    cv_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  PresenceWatcher* watcher_ = nullptr;
  std::vector<Arrival> arrivals_;
};

class PresenceWatcherTest : public ::testing::Test {
 protected:
  void TearDown() override {
    watcher_.reset();  // before the collector's pointer could dangle (see attach)
  }

  GatewayConfig configFor(const UdpSipPeer& peer, uint32_t fetchTimeoutMs = 2000) const {
    GatewayConfig config;
    config.sip.bindHost = "127.0.0.1";
    config.sip.port = 0;
    config.sip.watcherUri = kWatcherUri;
    config.sip.presenceServerUri = peer.uri();
    config.presence.fetchTimeoutMs = fetchTimeoutMs;
    return config;
  }

  // A watcher whose outcomes go to collector_.
  void start(const GatewayConfig& config) {
    watcher_ = std::make_unique<Watched>(config, collector_);
  }

  // One fetch of kTarget; fails the test when no outcome arrives within `wait`.
  FetchOutcome fetchOne(milliseconds wait = milliseconds(5000)) {
    const uint64_t id = watcher_->get().fetch(kTarget);
    EXPECT_TRUE(collector_.waitFor(1, wait)) << "no outcome";
    const auto arrivals = collector_.arrivals();
    if (arrivals.empty()) return FetchOutcome{};
    EXPECT_EQ(arrivals.size(), 1u);
    EXPECT_EQ(arrivals.front().outcome.id, id);
    return arrivals.front().outcome;
  }

  // A watcher attached to a collector for its whole life.
  class Watched {
   public:
    Watched(const GatewayConfig& config, OutcomeCollector& collector)
        : collector_(collector), watcher_(config, collector.signal()) {
      collector_.attach(&watcher_);
    }
    ~Watched() {
      watcher_.close();  // the last outcomes (kShutdown) still reach the collector
      collector_.attach(nullptr);
    }
    PresenceWatcher& get() { return watcher_; }

   private:
    OutcomeCollector& collector_;
    PresenceWatcher watcher_;
  };

  PresenceWatcher& watcher() { return watcher_->get(); }

  OutcomeCollector collector_;
  std::unique_ptr<Watched> watcher_;
};

// --- NOTIFY documents -------------------------------------------------------------------------

TEST_F(PresenceWatcherTest, OpenDocumentIsReachable) {
  UdpSipPeer peer(notifyScript(kOpen));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus) << toString(outcome.kind) << " " << outcome.detail;
  EXPECT_EQ(outcome.status, TerminalStatus::kReachable);
  EXPECT_EQ(outcome.sipStatus, 200);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.started, 1u);
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_EQ(stats.inFlight, 0u);
}

TEST_F(PresenceWatcherTest, OnThePhoneIsBusy) {
  UdpSipPeer peer(notifyScript(kOnThePhone));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus) << outcome.detail;
  EXPECT_EQ(outcome.status, TerminalStatus::kBusy);
}

TEST_F(PresenceWatcherTest, ClosedDocumentIsUnreachable) {
  UdpSipPeer peer(notifyScript(kClosed));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus) << outcome.detail;
  EXPECT_EQ(outcome.status, TerminalStatus::kUnreachable);
}

TEST_F(PresenceWatcherTest, NotifyWithoutBodyIsUnreachable) {
  UdpSipPeer peer(notifyScript(std::nullopt));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus) << outcome.detail;
  EXPECT_EQ(outcome.status, TerminalStatus::kUnreachable);
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(0).status, 200);
}

// RFC 6665 §4.1.2.4: the NOTIFY may overtake the 200. Busy, so the status cannot be a default.
TEST_F(PresenceWatcherTest, NotifyBeforeOkStillGivesTheStatus) {
  PeerScript script = notifyScript(kOnThePhone, PeerScript::Mode::kNotifyThenOk);
  script.okDelay = milliseconds(100);
  UdpSipPeer peer(script);
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus) << toString(outcome.kind) << " " << outcome.detail;
  EXPECT_EQ(outcome.status, TerminalStatus::kBusy);
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  const auto notifies = peer.notifies();
  EXPECT_EQ(notifies.at(0).status, 200);
  std::this_thread::sleep_for(milliseconds(200));  // the late 200 must not add anything
  EXPECT_EQ(collector_.count(), 1u);
  // The outcome came from the NOTIFY alone: it arrived before the peer sent its 200.
  const auto arrivals = collector_.arrivals();
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  ASSERT_TRUE(subscribes.front().answeredAt.has_value());
  EXPECT_LT(arrivals.front().at, *subscribes.front().answeredAt);
  EXPECT_EQ(watcher().stats().inFlight, 0u);
}

TEST_F(PresenceWatcherTest, MalformedBodyIsBadDocument) {
  UdpSipPeer peer(
      notifyScript(std::string("<presence xmlns='urn:ietf:params:xml:ns:pidf'>"
                               "<tuple id='t'><status><basic>open</basic>")));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kBadDocument) << toString(outcome.kind);
  EXPECT_FALSE(outcome.detail.empty());
  // The watcher still accepted the NOTIFY at the SIP level.
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  EXPECT_EQ(peer.notifies().at(0).status, 200);
}

TEST_F(PresenceWatcherTest, WrongContentTypeIsBadDocument) {
  PeerScript script = notifyScript(kOpen);
  script.contentType = "text/plain";
  UdpSipPeer peer(script);
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kBadDocument) << toString(outcome.kind);
  EXPECT_FALSE(outcome.detail.empty());
}

// --- SUBSCRIBE errors -------------------------------------------------------------------------

class SipErrorTest : public PresenceWatcherTest, public ::testing::WithParamInterface<int> {};

TEST_P(SipErrorTest, FinalErrorIsSipErrorWithThatStatus) {
  const int code = GetParam();
  UdpSipPeer peer(modeScript(PeerScript::Mode::kFinal, code));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kSipError) << toString(outcome.kind) << " " << outcome.detail;
  EXPECT_EQ(outcome.sipStatus, code);
  EXPECT_EQ(outcome.detail, test::reasonPhrase(code));
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.sipErrors, 1u);
  EXPECT_EQ(stats.inFlight, 0u);
  EXPECT_EQ(peer.subscribes().size(), 1u) << "the watcher must not retry by itself";
}

INSTANTIATE_TEST_SUITE_P(Codes, SipErrorTest, ::testing::Values(403, 404, 489, 500, 503),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "Status" + std::to_string(param.param);
                         });

// --- timeouts ---------------------------------------------------------------------------------

constexpr uint32_t kShortTimeoutMs = 300;

// The outcome is kTimeout, no earlier than the timeout and at most 200 ms after it.
void expectTimely(const OutcomeCollector& collector, Clock::time_point before) {
  const auto arrivals = collector.arrivals();
  ASSERT_EQ(arrivals.size(), 1u);
  const FetchOutcome& outcome = arrivals.front().outcome;
  EXPECT_EQ(outcome.kind, Kind::kTimeout) << toString(outcome.kind) << " " << outcome.detail;
  EXPECT_FALSE(outcome.detail.empty());
  const long long waited = msBetween(before, arrivals.front().at);
  EXPECT_GE(waited, kShortTimeoutMs);
  EXPECT_LE(waited, kShortTimeoutMs + 200);
  EXPECT_GE(outcome.elapsedMs, kShortTimeoutMs - 1);  // measured from inside fetch()
  EXPECT_LE(outcome.elapsedMs, kShortTimeoutMs + 200);
}

TEST_F(PresenceWatcherTest, OkWithoutNotifyTimesOut) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kOkNoNotify));
  start(configFor(peer, kShortTimeoutMs));
  const auto before = Clock::now();
  watcher().fetch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(2000)));
  expectTimely(collector_, before);
  EXPECT_EQ(initialSubscribes(peer), 1u);
  std::this_thread::sleep_for(milliseconds(100));  // an un-SUBSCRIBE may follow the timeout
  expectOnlyFetches(peer);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.timeouts, 1u);
  EXPECT_EQ(stats.inFlight, 0u);
}

TEST_F(PresenceWatcherTest, NoAnswerTimesOut) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kSilent));
  start(configFor(peer, kShortTimeoutMs));
  const auto before = Clock::now();
  watcher().fetch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(2000)));
  expectTimely(collector_, before);
  EXPECT_EQ(peer.subscribes().size(), 1u);
  EXPECT_EQ(watcher().stats().timeouts, 1u);
  EXPECT_EQ(watcher().stats().inFlight, 0u);
}

// The NOTIFY comes after the timeout outcome: it must not produce a second outcome.
TEST_F(PresenceWatcherTest, LateNotifyAfterTimeoutAddsNoOutcome) {
  PeerScript script = notifyScript(kOpen);
  script.notifyDelay = milliseconds(kShortTimeoutMs + 200);
  UdpSipPeer peer(script);
  start(configFor(peer, kShortTimeoutMs));
  watcher().fetch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(2000)));
  EXPECT_EQ(collector_.arrivals().front().outcome.kind, Kind::kTimeout);
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(3000))) << "the late NOTIFY got no answer";
  EXPECT_GT(peer.notifies().at(0).firstSentAt, collector_.arrivals().front().at);
  const int answer = peer.notifies().at(0).status;
  // The fetch's handle is gone, so the NOTIFY matches no dialog: NUA itself answers 481 (without
  // reporting the request, so stats().strayRequests does not count it).
  EXPECT_EQ(answer, 481);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(collector_.count(), 1u);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_EQ(stats.inFlight, 0u);
  // The watcher keeps working afterwards.
  peer.setScript(notifyScript(kOpen));
  watcher().fetch(kTarget);
  ASSERT_TRUE(collector_.waitFor(2, milliseconds(2000)));
  EXPECT_EQ(collector_.arrivals().at(1).outcome.kind, Kind::kStatus);
}

// --- what goes over the wire ------------------------------------------------------------------

TEST_F(PresenceWatcherTest, SubscribeCarriesTheFetchHeaders) {
  UdpSipPeer peer(notifyScript(kOpen));
  start(configFor(peer));
  const FetchOutcome outcome = fetchOne();
  EXPECT_EQ(outcome.kind, Kind::kStatus);
  const auto subscribes = peer.subscribes();
  ASSERT_EQ(subscribes.size(), 1u);
  const SipMessage& request = subscribes.front().message;
  EXPECT_EQ(request.method, "SUBSCRIBE");
  EXPECT_EQ(request.requestUri, kTarget);
  EXPECT_EQ(SipMessage::uriOf(request.get("to")), kTarget);
  EXPECT_EQ(SipMessage::uriOf(request.get("from")), kWatcherUri);
  EXPECT_FALSE(SipMessage::param(request.get("from"), "tag").empty());
  EXPECT_EQ(request.get("event"), "presence");
  EXPECT_EQ(request.get("accept"), "application/pidf+xml");
  EXPECT_EQ(request.get("expires"), "0");
  EXPECT_EQ(request.all("route"),
            std::vector<std::string>{"<sip:127.0.0.1:" + std::to_string(peer.port()) + ";lr>"});
  EXPECT_EQ(request.cseqMethod(), "SUBSCRIBE");
  EXPECT_FALSE(request.get("call-id").empty());
  const auto vias = request.all("via");
  ASSERT_EQ(vias.size(), 1u);
  EXPECT_EQ(vias.front().rfind("SIP/2.0/UDP ", 0), 0u) << vias.front();
  EXPECT_EQ(request.topViaBranch().rfind("z9hG4bK", 0), 0u);
  // The Contact is where the NOTIFY goes: the watcher's own port.
  const std::string contact = SipMessage::uriOf(request.get("contact"));
  EXPECT_NE(contact.find(":" + std::to_string(watcher().sipPort())), std::string::npos) << contact;
}

TEST_F(PresenceWatcherTest, NotifyIsAnswered200) {
  UdpSipPeer peer(notifyScript(kClosed));
  start(configFor(peer));
  fetchOne();
  ASSERT_TRUE(peer.waitForNotifyAnswers(1, milliseconds(2000)));
  const auto notifies = peer.notifies();
  ASSERT_EQ(notifies.size(), 1u);
  EXPECT_EQ(notifies.front().status, 200);
  EXPECT_EQ(notifies.front().callId, peer.subscribes().at(0).message.get("call-id"));
  EXPECT_EQ(notifies.front().transmissions, 1) << "the 200 should arrive before any resend";
  EXPECT_EQ(watcher().stats().strayRequests, 0u);
}

// --- load -------------------------------------------------------------------------------------

TEST_F(PresenceWatcherTest, ThousandFetchesInFlightAtOnce) {
  constexpr size_t kFetches = 1000;
  PeerScript script = notifyScript(kOpen);
  script.holdUntil = kFetches;  // nothing is answered until all 1000 SUBSCRIBEs are in
  UdpSipPeer peer(script);
  start(configFor(peer, 15000));
  std::set<uint64_t> ids;
  for (size_t i = 0; i < kFetches; ++i) {
    ids.insert(watcher().fetch("sip:user" + std::to_string(i) + "@example.test"));
  }
  EXPECT_EQ(ids.size(), kFetches);
  ASSERT_TRUE(peer.waitForSubscribes(kFetches, milliseconds(8000)))
      << "peer saw " << peer.subscribes().size();
  // The peer now sends 2000 datagrams at once. They overflow a default-sized (208 KiB) UDP
  // receive buffer, and the losses then wait for retransmissions: say how many are left.
  ASSERT_TRUE(collector_.waitFor(kFetches, milliseconds(10000)))
      << collector_.count() << " outcomes; NOTIFYs unanswered by the watcher: "
      << countIf(peer.notifies(), [](const auto& n) { return n.status == 0; })
      << "; SUBSCRIBE datagrams (with retransmissions): " << peer.subscribeDatagrams();
  const auto arrivals = collector_.arrivals();
  EXPECT_EQ(arrivals.size(), kFetches);
  std::set<uint64_t> seen;
  size_t statuses = 0;
  for (const auto& arrival : arrivals) {
    EXPECT_TRUE(seen.insert(arrival.outcome.id).second) << "duplicate " << arrival.outcome.id;
    statuses += arrival.outcome.kind == Kind::kStatus &&
                arrival.outcome.status == TerminalStatus::kReachable;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(statuses, kFetches);
  // Every Request-URI went out once as its own SUBSCRIBE.
  std::set<std::string> uris;
  for (const auto& received : peer.subscribes()) uris.insert(received.message.requestUri);
  EXPECT_EQ(uris.size(), kFetches);
  const WatcherStats stats = watcher().stats();
  EXPECT_EQ(stats.started, kFetches);
  EXPECT_EQ(stats.completed, kFetches);
  EXPECT_EQ(stats.inFlight, 0u);
  EXPECT_EQ(stats.timeouts, 0u);
}

// --- lifecycle --------------------------------------------------------------------------------

class CloseInFlightTest : public PresenceWatcherTest,
                          public ::testing::WithParamInterface<PeerScript::Mode> {};

TEST_P(CloseInFlightTest, CloseEndsPendingFetchesWithShutdown) {
  constexpr size_t kFetches = 50;
  UdpSipPeer peer(modeScript(GetParam()));
  start(configFor(peer, 20000));
  std::set<uint64_t> ids;
  for (size_t i = 0; i < kFetches; ++i) {
    ids.insert(watcher().fetch("sip:user" + std::to_string(i) + "@example.test"));
  }
  ASSERT_TRUE(peer.waitForSubscribes(kFetches, milliseconds(3000)));
  EXPECT_EQ(watcher().stats().inFlight, kFetches);
  EXPECT_EQ(collector_.count(), 0u);

  const auto before = Clock::now();
  watcher().close();
  EXPECT_LT(msBetween(before, Clock::now()), 2000);
  // close() joined the SIP thread: every outcome is already there.
  const auto arrivals = collector_.arrivals();
  ASSERT_EQ(arrivals.size(), kFetches);
  std::set<uint64_t> seen;
  for (const auto& arrival : arrivals) {
    EXPECT_EQ(arrival.outcome.kind, Kind::kShutdown);
    seen.insert(arrival.outcome.id);
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(watcher().stats().inFlight, 0u);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(initialSubscribes(peer), kFetches);
  expectOnlyFetches(peer);

  const auto again = Clock::now();
  watcher().close();  // idempotent
  EXPECT_LT(msBetween(again, Clock::now()), 100);
  EXPECT_EQ(collector_.count(), kFetches);
}

INSTANTIATE_TEST_SUITE_P(Scripts, CloseInFlightTest,
                         ::testing::Values(PeerScript::Mode::kSilent,
                                           PeerScript::Mode::kOkNoNotify),
                         [](const ::testing::TestParamInfo<PeerScript::Mode>& param) {
                           return param.param == PeerScript::Mode::kSilent ? "NoAnswer"
                                                                           : "OkNoNotify";
                         });

TEST_F(PresenceWatcherTest, FetchAfterCloseIsShutdown) {
  UdpSipPeer peer(notifyScript(kOpen));
  start(configFor(peer));
  watcher().close();
  const uint64_t id = watcher().fetch(kTarget);
  ASSERT_TRUE(collector_.waitFor(1, milliseconds(1000)));
  const auto arrivals = collector_.arrivals();
  ASSERT_EQ(arrivals.size(), 1u);
  EXPECT_EQ(arrivals.front().outcome.id, id);
  EXPECT_EQ(arrivals.front().outcome.kind, Kind::kShutdown);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(peer.subscribes().empty());
}

TEST_F(PresenceWatcherTest, SecondWatcherOnTheSamePortThrows) {
  UdpSipPeer peer(notifyScript(kOpen));
  start(configFor(peer));
  GatewayConfig config = configFor(peer);
  config.sip.port = watcher().sipPort();
  ASSERT_NE(config.sip.port, 0);
  OutcomeCollector other;
  EXPECT_THROW(PresenceWatcher(config, other.signal()), std::runtime_error);
  // The first watcher is unaffected.
  EXPECT_EQ(fetchOne().kind, Kind::kStatus);
}

TEST_F(PresenceWatcherTest, SecondUdpOnlyWatcherOnTheSamePortThrows) {
  UdpSipPeer peer(notifyScript(kOpen));
  GatewayConfig config = configFor(peer);
  config.sip.transports = {SipTransport::kUdp};
  start(config);
  config.sip.port = watcher().sipPort();
  OutcomeCollector other;
  EXPECT_THROW(PresenceWatcher(config, other.signal()), std::runtime_error);
  EXPECT_EQ(fetchOne().kind, Kind::kStatus);
}

TEST_F(PresenceWatcherTest, DestroyWithoutCloseIsClean) {
  UdpSipPeer peer(modeScript(PeerScript::Mode::kOkNoNotify));
  OutcomeCollector collector;
  std::set<uint64_t> ids;
  Clock::time_point destroying;
  {
    // Declared first so it runs last: outcomes are still delivered while the destructor runs.
    struct Detach {
      OutcomeCollector& collector;
      ~Detach() { collector.attach(nullptr); }
    } detach{collector};
    PresenceWatcher watcher(configFor(peer, 20000), collector.signal());
    collector.attach(&watcher);
    for (int i = 0; i < 10; ++i) ids.insert(watcher.fetch(kTarget));
    ASSERT_TRUE(peer.waitForSubscribes(10, milliseconds(3000)));
    destroying = Clock::now();
  }  // no close(): the destructor does it
  EXPECT_LT(msBetween(destroying, Clock::now()), 2000);
  const auto arrivals = collector.arrivals();
  ASSERT_EQ(arrivals.size(), ids.size());
  for (const auto& arrival : arrivals) {
    EXPECT_EQ(arrival.outcome.kind, Kind::kShutdown);
    EXPECT_EQ(ids.count(arrival.outcome.id), 1u);
  }
}

TEST_F(PresenceWatcherTest, WatcherStartsAndStopsRepeatedly) {
  UdpSipPeer peer(notifyScript(kOpen));
  for (int round = 0; round < 5; ++round) {
    OutcomeCollector collector;
    PresenceWatcher watcher(configFor(peer), collector.signal());
    collector.attach(&watcher);
    watcher.fetch(kTarget);
    ASSERT_TRUE(collector.waitFor(1, milliseconds(3000))) << "round " << round;
    EXPECT_EQ(collector.arrivals().front().outcome.kind, Kind::kStatus);
    watcher.close();
    collector.attach(nullptr);
  }
  EXPECT_EQ(peer.subscribes().size(), 5u);
}

}  // namespace
}  // namespace px
