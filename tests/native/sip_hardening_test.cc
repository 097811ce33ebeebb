// Issue 12 on the SIP side, over real sockets on loopback (127.0.0.0/8 all routes to lo):
// - terminal addresses with routing URI parameters or headers never reach the wire;
// - an in-dialog NOTIFY from a source that is not the dialog's peer is answered 403 and its body
//   is never applied (fetches and subscriptions), unless trusted or the check is off;
// - answers never follow a Via maddr; a Contact or Record-Route Sofia cannot print is refused.
// The TCP connection caps are in sip_tcp_guard_test.cc.
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
#include "support/WatcherHarness.h"

namespace px {
namespace {

using test::PeerFd;
using test::PeerScript;
using test::SipMessage;
using test::UdpSipPeer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test::configFor;
using test::fetchNotify;
using test::notifyFor;
using test::RawUdp;
using test::Sink;
using test::Watcher;

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

}  // namespace
}  // namespace px
