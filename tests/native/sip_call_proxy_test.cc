// The ISC application server (CallServer + CallProxyRole) on a real SipStack: scripted caller and
// callee parties over UDP (and TCP) on loopback; the caller routes its INVITE through the AS
// (Route: <sip:127.0.0.1:<as>;lr>) to a Request-URI at the callee. Every outcome, CANCEL both
// ways, the no-answer timer, 2xx retransmission and ACK, Max-Forwards, a large INVITE over TCP,
// Call Direction's actions and deadline, shutdown, and a long run that must leave nothing behind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "call/CallMatcher.h"
#include "sip/CallServer.h"
#include "sip/SipStack.h"
#include "support/SipCallPeer.h"

namespace px {
namespace {

using call::CallAction;
using call::CallEvent;
using call::CallEventSet;
using call::RegistrationKind;
using std::chrono::milliseconds;
using test::SipCallPeer;
using test::SipMessage;

constexpr const char* kCalled = "tel:+15550001";

CallEventSet events(std::initializer_list<CallEvent> list) {
  CallEventSet set;
  for (CallEvent e : list) set = set.with(e);
  return set;
}

call::CallRegistration registration(RegistrationKind kind, const std::string& address,
                                    CallEventSet criteria, uint64_t order = 1) {
  call::CallRegistration r;
  r.kind = kind;
  r.requester = "app";
  r.correlator = "c" + std::to_string(order);
  r.addresses = {address};
  r.criteria = criteria;
  r.endpoint = "http://127.0.0.1:1/app";
  r.order = order;
  return r;
}

template <typename Pred>
bool eventually(Pred pred, milliseconds timeout = milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

class CallProxy : public ::testing::Test {
 protected:
  void start(std::function<void(CallsConfig&)> tweak = {}) {
    config_.calls.bindHost = "127.0.0.1";
    config_.calls.port = 0;
    config_.calls.decisionTimeoutMs = 400;
    if (tweak) tweak(config_.calls);
    server_ = std::make_unique<CallServer>(config_, index_, [this] { signals_++; });
    stack_ = std::make_unique<SipStack>();
    stack_->start([this](SipStack& s) { return server_->setup(s); });
    as_ = server_->port();
    EXPECT_EQ(as_ != 0, config_.calls.enabled);
  }
  void TearDown() override {
    if (stack_) stack_->close();
  }

  void watch(std::vector<call::CallRegistration> registrations) {
    index_.publish(std::make_shared<const call::CallMatcher>(std::move(registrations)));
  }
  void notifyAll(CallEventSet criteria = CallEventSet::all()) {
    watch({registration(RegistrationKind::kNotification, kCalled, criteria)});
  }

  std::string route() const { return "<sip:127.0.0.1:" + std::to_string(as_) + ";lr>"; }
  // sip:+15550001@<callee>;user=phone: its tel: form is the watched kCalled.
  std::string calledUri(const SipCallPeer& callee) const {
    return "sip:+15550001@" + callee.hostPort() + ";user=phone";
  }
  SipCallPeer::Call dial(SipCallPeer& callee, const std::string& extra = "") {
    SipCallPeer::Call call = caller_.newCall(calledUri(callee), route());
    caller_.sendTo(caller_.invite(call, extra), as_);
    return call;
  }

  std::vector<call::CallEventRecord> takeEvents(size_t atLeast,
                                                milliseconds timeout = milliseconds(3000)) {
    std::vector<call::CallEventRecord> all;
    eventually(
        [&] {
          for (auto& e : server_->takeEvents()) all.push_back(std::move(e));
          return all.size() >= atLeast;
        },
        timeout);
    return all;
  }
  std::vector<call::DecisionRequest> takeDecisions(size_t atLeast) {
    std::vector<call::DecisionRequest> all;
    eventually([&] {
      for (auto& d : server_->takeDecisions()) all.push_back(std::move(d));
      return all.size() >= atLeast;
    });
    return all;
  }
  static std::vector<CallEvent> kinds(const std::vector<call::CallEventRecord>& records) {
    std::vector<CallEvent> out;
    for (const auto& r : records) out.push_back(r.event);
    return out;
  }
  // The counter once it reached `expected` (the role publishes after it answered: a test can see
  // the answer first), or its value after 2 s.
  uint64_t settled(uint64_t CallProxyCounters::*field, uint64_t expected,
                   milliseconds within = milliseconds(2000)) {
    eventually([&] { return server_->stats().*field == expected; }, within);
    return server_->stats().*field;
  }
  // Nothing held once every call ended.
  void expectDrained() {
    EXPECT_TRUE(eventually([&] {
      const CallProxyCounters c = server_->stats();
      return c.callsInFlight == 0 && c.clientTransactions == 0;
    })) << "inFlight "
        << server_->stats().callsInFlight << " client " << server_->stats().clientTransactions;
  }

  GatewayConfig config_;
  call::CallWatchIndex index_;
  std::atomic<int> signals_{0};
  std::unique_ptr<CallServer> server_;
  std::unique_ptr<SipStack> stack_;
  uint16_t as_ = 0;
  SipCallPeer caller_{"alice"};
  SipCallPeer callee_{"bob"};
};

// ---- outcomes -----------------------------------------------------------------------------------

struct OutcomeCase {
  bool ring;
  int code;
  std::optional<CallEvent> event;
};

class CallProxyOutcome : public CallProxy, public ::testing::WithParamInterface<OutcomeCase> {};

TEST_P(CallProxyOutcome, FinalResponseIsRelayedAndMapped) {
  const OutcomeCase c = GetParam();
  start();
  notifyAll(events({CallEvent::kCalledNumber, CallEvent::kBusy, CallEvent::kNotReachable,
                    CallEvent::kNoAnswer, CallEvent::kAnswer}));
  const auto call = dial(callee_, "P-Asserted-Identity: \"Alice A\" <tel:+1-555-0100>\r\n");
  ASSERT_TRUE(caller_.waitStatus(100));
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  // Forwarded: our Route popped, Max-Forwards decremented, our Via on top, no Record-Route.
  EXPECT_EQ(invite->message.requestUri, calledUri(callee_));
  EXPECT_TRUE(invite->message.all("route").empty());
  EXPECT_EQ(invite->message.get("max-forwards"), "69");
  EXPECT_EQ(invite->message.all("via").size(), 2u);
  EXPECT_TRUE(invite->message.all("record-route").empty());
  if (c.ring) {
    callee_.sendTo(callee_.response(invite->message, 180), invite->from);
    ASSERT_TRUE(caller_.waitStatus(180));
  }
  callee_.sendTo(callee_.response(invite->message, c.code), invite->from);
  auto final = caller_.waitStatus(c.code);
  ASSERT_TRUE(final);
  EXPECT_EQ(final->message.all("via").size(), 1u);
  caller_.sendTo(caller_.ackFor(call, final->message), as_);
  EXPECT_TRUE(callee_.waitRequest("ACK"));  // hop by hop: NTA ACKs downstream

  const auto records = takeEvents(c.event ? 2 : 1);
  std::vector<CallEvent> expected = {CallEvent::kCalledNumber};
  if (c.event) expected.push_back(*c.event);
  EXPECT_EQ(kinds(records), expected);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].parties.caller, "tel:+15550100");
  EXPECT_EQ(records[0].parties.callerName, "Alice A");
  EXPECT_EQ(records[0].parties.called, kCalled);
  EXPECT_EQ(records[0].parties.callSessionId, std::to_string(records[0].callRef));
  if (c.event) {
    EXPECT_EQ(records[1].sipStatus, c.code);
    EXPECT_EQ(records[1].description.substr(0, 3), std::to_string(c.code));
  }
  expectDrained();
  EXPECT_EQ(settled(&CallProxyCounters::invites, 1u), 1u);
  EXPECT_EQ(settled(&CallProxyCounters::watchedCalls, 1u), 1u);
  EXPECT_EQ(settled(&CallProxyCounters::forwarded, 1u), 1u);
  EXPECT_EQ(settled(&CallProxyCounters::finalResponses, 1u), 1u);
  EXPECT_GT(signals_.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Outcomes, CallProxyOutcome,
                         ::testing::Values(OutcomeCase{false, 486, CallEvent::kBusy},
                                           OutcomeCase{true, 486, CallEvent::kBusy},
                                           OutcomeCase{false, 600, CallEvent::kBusy},
                                           OutcomeCase{false, 480, CallEvent::kNotReachable},
                                           OutcomeCase{true, 480, CallEvent::kNoAnswer},
                                           OutcomeCase{true, 408, CallEvent::kNoAnswer},
                                           OutcomeCase{false, 404, CallEvent::kNotReachable},
                                           OutcomeCase{false, 503, CallEvent::kNotReachable},
                                           OutcomeCase{true, 603, std::nullopt}));

TEST_F(CallProxy, AnswerAckByeWithRecordRouteReportsAnswerAndDisconnected) {
  start();
  notifyAll();
  // The S-CSCF record-routed before us: our entry goes on top (RFC 3261 §16.6 step 4).
  const auto call = dial(callee_, "Record-Route: <sip:scscf.test;lr>\r\n");
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  std::string recordRoutes;
  for (const std::string& rr : invite->message.all("record-route")) recordRoutes += rr + "|";
  EXPECT_EQ(recordRoutes, route() + "|<sip:scscf.test;lr>|");
  const std::string ok = callee_.response(invite->message, 200);
  callee_.sendTo(ok, invite->from);
  auto answer = caller_.waitStatus(200);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message.get("record-route"), route());  // the callee echoes them in order
  // A retransmitted 2xx is relayed too (the client transaction lingers for 4*T1).
  callee_.sendTo(ok, invite->from);
  EXPECT_TRUE(caller_.waitStatus(200));

  // The 2xx ACK along the route set (through us), relayed statelessly to the callee's Contact.
  const std::string calleeContact = "sip:bob@" + callee_.hostPort();
  caller_.sendTo(caller_.inDialog("ACK", calleeContact, {route()}, answer->message.get("from"),
                                  answer->message.get("to"), call.callId, 1),
                 as_);
  auto ack = callee_.waitRequest("ACK");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->message.requestUri, calleeContact);

  // The callee hangs up through us.
  callee_.sendTo(
      callee_.inDialog("BYE", "sip:alice@" + caller_.hostPort(), {route()},
                       answer->message.get("to"), answer->message.get("from"), call.callId, 1),
      as_);
  auto bye = caller_.waitRequest("BYE");
  ASSERT_TRUE(bye);
  caller_.sendTo(caller_.response(bye->message, 200), bye->from);
  EXPECT_TRUE(callee_.waitStatus(200));

  EXPECT_EQ(kinds(takeEvents(3)),
            (std::vector<CallEvent>{CallEvent::kCalledNumber, CallEvent::kAnswer,
                                    CallEvent::kDisconnected}));
  EXPECT_EQ(settled(&CallProxyCounters::retransmitted2xx, 1u), 1u);
  EXPECT_EQ(settled(&CallProxyCounters::acksRelayed, 1u), 1u);
  // The INVITE lingers 4*T1 for 2xx retransmissions; closing the stack releases it.
  stack_->close();
  EXPECT_EQ(settled(&CallProxyCounters::callsInFlight, 0u), 0u);
  EXPECT_EQ(settled(&CallProxyCounters::clientTransactions, 0u), 0u);
}

// After 4*T1 the answered call's transactions are gone (nothing leaks), and a late 2xx
// retransmission is still relayed, statelessly along the Vias (RFC 6026).
TEST_F(CallProxy, LateTwoHundredRetransmissionIsRelayedStatelesslyAfterTheLinger) {
  start();
  notifyAll(events({CallEvent::kCalledNumber}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  const std::string ok = callee_.response(invite->message, 200);
  callee_.sendTo(ok, invite->from);
  ASSERT_TRUE(caller_.waitStatus(200));
  // 4*T1 = 2 s with Sofia's default T1.
  EXPECT_EQ(settled(&CallProxyCounters::callsInFlight, 0u, milliseconds(4000)), 0u);
  EXPECT_EQ(settled(&CallProxyCounters::clientTransactions, 0u), 0u);
  callee_.sendTo(ok, invite->from);
  auto late = caller_.waitStatus(200);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->message.all("via").size(), 1u);  // ours popped: the caller's Via only
  EXPECT_EQ(settled(&CallProxyCounters::retransmitted2xx, 1u), 1u);
}

// ISC as ims_isc marks it: the AS's Route on top, then the S-CSCF's return mark; the
// Request-URI (here tel:) is the called party and stays as it is.
TEST_F(CallProxy, ForwardsAlongTheScscfReturnRouteWithTheRequestUriUnchanged) {
  start();
  notifyAll(events({CallEvent::kCalledNumber}));
  const std::string mark = "<sip:iscmark@" + callee_.hostPort() + ";lr>";
  SipCallPeer::Call call = caller_.newCall("tel:+1-555-0001", route() + ", " + mark);
  caller_.sendTo(caller_.invite(call), as_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  EXPECT_EQ(invite->message.requestUri, "tel:+1-555-0001");
  EXPECT_EQ(invite->message.get("route"), mark);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  EXPECT_TRUE(caller_.waitStatus(486));
  const auto records = takeEvents(1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].parties.called, kCalled);
}

TEST_F(CallProxy, CallerHangsUpThroughUsToo) {
  start();
  notifyAll(events({CallEvent::kDisconnected}));
  const auto call = dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 200), invite->from);
  auto answer = caller_.waitStatus(200);
  ASSERT_TRUE(answer);
  const std::string calleeContact = "sip:bob@" + callee_.hostPort();
  caller_.sendTo(caller_.inDialog("BYE", calleeContact, {route()}, answer->message.get("from"),
                                  answer->message.get("to"), call.callId, 2),
                 as_);
  auto bye = callee_.waitRequest("BYE");
  ASSERT_TRUE(bye);
  EXPECT_TRUE(bye->message.all("route").empty());
  callee_.sendTo(callee_.response(bye->message, 200), bye->from);
  EXPECT_TRUE(caller_.waitStatus(200));
  const auto records = takeEvents(1);
  ASSERT_EQ(kinds(records), (std::vector<CallEvent>{CallEvent::kDisconnected}));
  EXPECT_EQ(records[0].parties.called, kCalled);
}

TEST_F(CallProxy, AnswerWithoutDisconnectedIsNotRecordRouted) {
  start();
  notifyAll(events({CallEvent::kAnswer, CallEvent::kBusy}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  EXPECT_TRUE(invite->message.all("record-route").empty());
  callee_.sendTo(callee_.response(invite->message, 200), invite->from);
  ASSERT_TRUE(caller_.waitStatus(200));
  EXPECT_EQ(kinds(takeEvents(1)), (std::vector<CallEvent>{CallEvent::kAnswer}));
}

TEST_F(CallProxy, UnwatchedPartyIsProxiedWithoutEvents) {
  start();
  watch({registration(RegistrationKind::kNotification, "tel:+19999999", CallEventSet::all())});
  const auto call = dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  EXPECT_TRUE(invite->message.all("record-route").empty());
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  auto final = caller_.waitStatus(486);
  ASSERT_TRUE(final);
  caller_.sendTo(caller_.ackFor(call, final->message), as_);
  expectDrained();
  EXPECT_TRUE(server_->takeEvents().empty());
  EXPECT_EQ(settled(&CallProxyCounters::watchedCalls, 0u), 0u);
  EXPECT_EQ(settled(&CallProxyCounters::invites, 1u), 1u);
  EXPECT_EQ(signals_.load(), 0);
}

TEST_F(CallProxy, NotificationRegistrationOnSipFormMatchesToo) {
  start();
  watch({registration(RegistrationKind::kNotification, "sip:+15550001@" + callee_.hostPort(),
                      events({CallEvent::kBusy}))});
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  ASSERT_TRUE(caller_.waitStatus(486));
  const auto records = takeEvents(1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, CallEvent::kBusy);
  EXPECT_EQ(records[0].parties.caller, "sip:alice@caller.test");
  EXPECT_EQ(records[0].parties.callerName, "Alice Caller");
}

TEST_F(CallProxy, NobodyListeningIsNotReachable) {
  start();
  notifyAll(events({CallEvent::kNotReachable, CallEvent::kNoAnswer}));
  uint16_t closedPort = 0;
  {
    SipCallPeer gone("gone");
    closedPort = gone.port();
  }
  SipCallPeer::Call call = caller_.newCall(
      "sip:+15550001@127.0.0.1:" + std::to_string(closedPort) + ";user=phone", route());
  caller_.sendTo(caller_.invite(call), as_);
  // The ICMP error ends the client transaction at once (NTA's own 503): no real answer came.
  auto final = caller_.waitFinal(milliseconds(40000));
  ASSERT_TRUE(final);
  EXPECT_GE(final->message.status, 500);
  const auto records = takeEvents(1);
  ASSERT_EQ(kinds(records), (std::vector<CallEvent>{CallEvent::kNotReachable}));
  expectDrained();
}

TEST_F(CallProxy, DisabledCallsBindNothing) {
  start([](CallsConfig& calls) { calls.enabled = false; });
}

// ---- CANCEL -------------------------------------------------------------------------------------

TEST_F(CallProxy, CallerCancelBeforeAnyProvisionalIsRelayedWithoutEvent) {
  start();
  notifyAll();
  const auto call = dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  caller_.sendTo(caller_.cancel(call), as_);
  EXPECT_TRUE(caller_.waitFor(
      [](const SipMessage& m) { return m.status == 200 && m.cseqMethod() == "CANCEL"; }));
  // NTA holds its CANCEL until a provisional came (RFC 3261 §9.1).
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  EXPECT_TRUE(callee_.waitRequest("CANCEL"));  // the callee answers 200 + 487 by itself
  auto final = caller_.waitStatus(487);
  ASSERT_TRUE(final);
  caller_.sendTo(caller_.ackFor(call, final->message), as_);
  EXPECT_EQ(kinds(takeEvents(1)), (std::vector<CallEvent>{CallEvent::kCalledNumber}));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(server_->takeEvents().empty());
  expectDrained();
  EXPECT_EQ(settled(&CallProxyCounters::cancels, 1u), 1u);
}

TEST_F(CallProxy, CallerCancelAfterFinalChangesNothing) {
  start();
  notifyAll(events({CallEvent::kBusy}));
  const auto call = dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  auto final = caller_.waitStatus(486);
  ASSERT_TRUE(final);
  caller_.sendTo(caller_.cancel(call), as_);
  // NTA answers it from the completed transaction (200) or, once gone, the role does (481).
  EXPECT_TRUE(caller_.waitFor([](const SipMessage& m) { return m.cseqMethod() == "CANCEL"; }));
  caller_.sendTo(caller_.ackFor(call, final->message), as_);
  EXPECT_EQ(kinds(takeEvents(1)), (std::vector<CallEvent>{CallEvent::kBusy}));
  expectDrained();
  EXPECT_FALSE(callee_.waitRequest("CANCEL", milliseconds(200)));
}

// ---- no-answer timer ----------------------------------------------------------------------------

TEST_F(CallProxy, NoAnswerTimerCancelsAfterRingingAndReportsNoAnswer) {
  start([](CallsConfig& calls) { calls.noAnswerTimeoutMs = 1000; });
  notifyAll(events({CallEvent::kNoAnswer}));
  const auto call = dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  const auto rang = std::chrono::steady_clock::now();
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  ASSERT_TRUE(caller_.waitStatus(180));
  EXPECT_TRUE(callee_.waitRequest("CANCEL", milliseconds(3000)));
  EXPECT_GE(std::chrono::steady_clock::now() - rang, milliseconds(900));
  auto final = caller_.waitStatus(487);
  ASSERT_TRUE(final);
  caller_.sendTo(caller_.ackFor(call, final->message), as_);
  const auto records = takeEvents(1);
  ASSERT_EQ(kinds(records), (std::vector<CallEvent>{CallEvent::kNoAnswer}));
  EXPECT_EQ(records[0].sipStatus, 487);
  EXPECT_EQ(settled(&CallProxyCounters::noAnswerTimeouts, 1u), 1u);
  expectDrained();
}

TEST_F(CallProxy, NoAnswerTimerIsOffForNotificationByDefault) {
  start();
  notifyAll(events({CallEvent::kNoAnswer}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  ASSERT_TRUE(caller_.waitStatus(180));
  EXPECT_FALSE(callee_.waitRequest("CANCEL", milliseconds(1500)));
  callee_.sendTo(callee_.response(invite->message, 480), invite->from);
  ASSERT_TRUE(caller_.waitStatus(480));
  EXPECT_EQ(kinds(takeEvents(1)), (std::vector<CallEvent>{CallEvent::kNoAnswer}));
}

// ---- refusals -----------------------------------------------------------------------------------

TEST_F(CallProxy, MaxForwardsZeroGets483) {
  start();
  notifyAll();
  SipCallPeer::Call call = caller_.newCall(calledUri(callee_), route());
  caller_.sendTo(caller_.invite(call, "", "", 0), as_);
  EXPECT_TRUE(caller_.waitStatus(483));
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(200)));
  EXPECT_EQ(settled(&CallProxyCounters::refused, 1u), 1u);
  EXPECT_TRUE(server_->takeEvents().empty());
}

TEST_F(CallProxy, UnknownMethodOutsideDialogGets405AndOptions200) {
  start();
  std::string message = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n";
  message += "Via: SIP/2.0/UDP " + caller_.hostPort() + ";branch=z9hG4bKmsg1;rport\r\n";
  message += "Max-Forwards: 70\r\nFrom: <sip:alice@caller.test>;tag=m1\r\n";
  message += "To: <sip:bob@127.0.0.1>\r\nCall-ID: msg1@test\r\nCSeq: 1 MESSAGE\r\n";
  message += "Content-Length: 0\r\n\r\n";
  caller_.sendTo(message, as_);
  auto refused = caller_.waitStatus(405);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->message.get("allow").find("INVITE"), std::string::npos);

  std::string options = "OPTIONS sip:127.0.0.1:" + std::to_string(as_) + " SIP/2.0\r\n";
  options += "Via: SIP/2.0/UDP " + caller_.hostPort() + ";branch=z9hG4bKopt1;rport\r\n";
  options += "Max-Forwards: 70\r\nFrom: <sip:alice@caller.test>;tag=o1\r\n";
  options += "To: <sip:as@127.0.0.1>\r\nCall-ID: opt1@test\r\nCSeq: 1 OPTIONS\r\n";
  options += "Content-Length: 0\r\n\r\n";
  caller_.sendTo(options, as_);
  EXPECT_TRUE(caller_.waitStatus(200));
}

TEST_F(CallProxy, UnsupportedRequestUriSchemeGets416) {
  start();
  SipCallPeer::Call call = caller_.newCall("im:bob@example.test", route());
  caller_.sendTo(caller_.invite(call), as_);
  auto answer = caller_.waitFinal();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message.status, 416);
}

TEST_F(CallProxy, InviteToTheAsItselfGets404NotALoop) {
  start();
  SipCallPeer::Call call = caller_.newCall("sip:+15550001@127.0.0.1:" + std::to_string(as_), "");
  caller_.sendTo(caller_.invite(call), as_);
  auto answer = caller_.waitFinal();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message.status, 404);
  expectDrained();
  EXPECT_EQ(settled(&CallProxyCounters::refused, 1u), 1u);
  EXPECT_EQ(settled(&CallProxyCounters::forwarded, 0u), 0u);
}

TEST_F(CallProxy, InviteWithoutFromGets400) {
  start();
  SipCallPeer::Call call = caller_.newCall(calledUri(callee_), route());
  std::string invite = caller_.invite(call);
  const size_t from = invite.find("From: ");
  invite.erase(from, invite.find("\r\n", from) + 2 - from);
  caller_.sendTo(invite, as_);
  auto answer = caller_.waitFinal();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->message.status, 400);
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(100)));
  expectDrained();
}

TEST_F(CallProxy, MaxCallsReachedGets503) {
  start([](CallsConfig& calls) { calls.maxCalls = 1; });
  dial(callee_);
  ASSERT_TRUE(callee_.waitRequest("INVITE"));
  dial(callee_);
  EXPECT_TRUE(caller_.waitStatus(503));
  EXPECT_EQ(settled(&CallProxyCounters::refused, 1u), 1u);
}

// ---- TCP ----------------------------------------------------------------------------------------

TEST_F(CallProxy, LargeInviteOverTcpIsRelayed) {
  start();
  notifyAll(events({CallEvent::kBusy}));
  UniqueFd tcp(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(tcp);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(as_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(tcp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  SipCallPeer::Call call = caller_.newCall(calledUri(callee_), route());
  const std::string body = "v=0\r\n" + std::string(1500, 'a') + "\r\n";
  const std::string invite = caller_.invite(call, "", body, 70, "TCP");
  ASSERT_GT(invite.size(), 1300u);
  ASSERT_EQ(::send(tcp.get(), invite.data(), invite.size(), 0),
            static_cast<ssize_t>(invite.size()));
  auto forwarded = callee_.waitRequest("INVITE");
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->message.body.size(), body.size());
  callee_.sendTo(callee_.response(forwarded->message, 486), forwarded->from);
  // Read the answers from the TCP connection until the 486.
  std::string stream;
  const auto until = std::chrono::steady_clock::now() + milliseconds(5000);
  while (stream.find("SIP/2.0 486") == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    pollfd pfd{tcp.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(tcp.get(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    stream.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_NE(stream.find("SIP/2.0 486"), std::string::npos) << stream;
  EXPECT_EQ(kinds(takeEvents(1)), (std::vector<CallEvent>{CallEvent::kBusy}));
}

// ---- Call Direction -----------------------------------------------------------------------------

class CallProxyDirection : public CallProxy {
 protected:
  void directAll(CallEventSet criteria) {
    watch({registration(RegistrationKind::kDirection, kCalled, criteria)});
  }
  // Decides the one pending decision; returns the request.
  call::DecisionRequest decideNext(CallAction::Kind kind, const std::string& address = "") {
    const auto decisions = takeDecisions(1);
    EXPECT_EQ(decisions.size(), 1u);
    if (decisions.empty()) return {};
    CallAction action;
    action.kind = kind;
    action.routingAddress = address;
    server_->decide(decisions[0].callRef, decisions[0].decisionId, action);
    return decisions[0];
  }
};

TEST_F(CallProxyDirection, CalledNumberHoldsTheInviteUntilContinue) {
  start();
  directAll(events({CallEvent::kCalledNumber}));
  dial(callee_);
  ASSERT_TRUE(caller_.waitStatus(100));
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(100)));
  const auto request = decideNext(CallAction::Kind::kContinue);
  EXPECT_EQ(request.event, CallEvent::kCalledNumber);
  EXPECT_EQ(request.timeoutMs, 400u);
  EXPECT_EQ(request.parties.called, kCalled);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  EXPECT_TRUE(caller_.waitStatus(486));
  expectDrained();
  EXPECT_EQ(settled(&CallProxyCounters::decisionsAsked, 1u), 1u);
  EXPECT_TRUE(server_->takeEvents().empty());  // direction only: no notifications
}

TEST_F(CallProxyDirection, NotificationAndDirectionOnOnePartyBothHappen) {
  start();
  watch({registration(RegistrationKind::kNotification, kCalled,
                      events({CallEvent::kCalledNumber, CallEvent::kBusy}), 1),
         registration(RegistrationKind::kDirection, kCalled, events({CallEvent::kBusy}), 2)});
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");  // CalledNumber is not decided: forwarded at once
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  const auto request = decideNext(CallAction::Kind::kContinue);
  EXPECT_EQ(request.event, CallEvent::kBusy);
  EXPECT_TRUE(caller_.waitStatus(486));
  EXPECT_EQ(kinds(takeEvents(2)),
            (std::vector<CallEvent>{CallEvent::kCalledNumber, CallEvent::kBusy}));
  expectDrained();
}

TEST_F(CallProxyDirection, CalledNumberRouteSendsTheInviteToTheNewAddress) {
  start();
  directAll(events({CallEvent::kCalledNumber}));
  SipCallPeer other("carol");
  dial(callee_);
  decideNext(CallAction::Kind::kRoute, "sip:carol@" + other.hostPort());
  auto invite = other.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  EXPECT_EQ(invite->message.requestUri, "sip:carol@" + other.hostPort());
  other.sendTo(other.response(invite->message, 486), invite->from);
  EXPECT_TRUE(caller_.waitStatus(486));
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(100)));
  EXPECT_EQ(settled(&CallProxyCounters::routed, 1u), 1u);
  expectDrained();
}

// Route: the new Request-URI goes back along the S-CSCF's return route (a tel: address as
// sip:<number>@<sip.telDomain>;user=phone, as the watcher subscribes tel: addresses).
TEST_F(CallProxyDirection, RouteKeepsTheScscfReturnRoute) {
  config_.sip.telDomain = "ims.test";
  start();
  directAll(events({CallEvent::kCalledNumber}));
  const std::string mark = "<sip:iscmark@" + callee_.hostPort() + ";lr>";
  SipCallPeer::Call call = caller_.newCall("tel:+15550001", route() + ", " + mark);
  caller_.sendTo(caller_.invite(call), as_);
  decideNext(CallAction::Kind::kRoute, "tel:+15550002");
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  EXPECT_EQ(invite->message.requestUri, "sip:+15550002@ims.test;user=phone");
  EXPECT_EQ(invite->message.get("route"), mark);
}

TEST_F(CallProxyDirection, CalledNumberEndCallAnswersEndCallStatus) {
  start([](CallsConfig& calls) { calls.endCallStatus = 480; });
  directAll(events({CallEvent::kCalledNumber}));
  dial(callee_);
  decideNext(CallAction::Kind::kEndCall);
  EXPECT_TRUE(caller_.waitStatus(480));
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(100)));
  EXPECT_EQ(settled(&CallProxyCounters::endedByApplication, 1u), 1u);
  expectDrained();
}

TEST_F(CallProxyDirection, DeadlineAppliesDefaultActionAndLateDecideIsIgnored) {
  start([](CallsConfig& calls) { calls.defaultAction = "EndCall"; });
  directAll(events({CallEvent::kCalledNumber}));
  dial(callee_);
  const auto decisions = takeDecisions(1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_TRUE(caller_.waitStatus(603, milliseconds(2000)));
  EXPECT_EQ(settled(&CallProxyCounters::decisionsTimedOut, 1u), 1u);
  CallAction action;
  action.kind = CallAction::Kind::kContinue;
  server_->decide(decisions[0].callRef, decisions[0].decisionId, action);
  EXPECT_TRUE(eventually([&] { return server_->stats().decisionsLate == 1; }));
  EXPECT_FALSE(callee_.waitRequest("INVITE", milliseconds(100)));
  expectDrained();
}

TEST_F(CallProxyDirection, DeadlineWithContinueForwards) {
  start();
  directAll(events({CallEvent::kCalledNumber}));
  dial(callee_);
  EXPECT_TRUE(callee_.waitRequest("INVITE", milliseconds(2000)));
  EXPECT_EQ(settled(&CallProxyCounters::decisionsTimedOut, 1u), 1u);
}

TEST_F(CallProxyDirection, CallerCancelWhileHeldGets487) {
  start();
  directAll(events({CallEvent::kCalledNumber}));
  const auto call = dial(callee_);
  const auto decisions = takeDecisions(1);
  ASSERT_EQ(decisions.size(), 1u);
  caller_.sendTo(caller_.cancel(call), as_);
  EXPECT_TRUE(caller_.waitStatus(487));
  CallAction action;
  server_->decide(decisions[0].callRef, decisions[0].decisionId, action);
  EXPECT_TRUE(eventually([&] { return server_->stats().decisionsLate == 1; }));
  expectDrained();
}

TEST_F(CallProxyDirection, BusyHeldThenContinueRelaysTheBusy) {
  start();
  directAll(events({CallEvent::kBusy}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  EXPECT_TRUE(callee_.waitRequest("ACK"));
  EXPECT_FALSE(caller_.waitStatus(486, milliseconds(100)));
  const auto request = decideNext(CallAction::Kind::kContinue);
  EXPECT_EQ(request.event, CallEvent::kBusy);
  EXPECT_EQ(request.sipStatus, 486);
  EXPECT_TRUE(caller_.waitStatus(486));
  expectDrained();
}

TEST_F(CallProxyDirection, BusyRouteTriesTheNewAddress) {
  start();
  directAll(events({CallEvent::kBusy}));
  SipCallPeer other("carol");
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 486), invite->from);
  decideNext(CallAction::Kind::kRoute, "sip:carol@" + other.hostPort());
  auto rerouted = other.waitRequest("INVITE");
  ASSERT_TRUE(rerouted);
  other.sendTo(other.response(rerouted->message, 200), rerouted->from);
  EXPECT_TRUE(caller_.waitStatus(200));
  EXPECT_EQ(settled(&CallProxyCounters::routed, 1u), 1u);
}

TEST_F(CallProxyDirection, NotReachableEndCall) {
  start();
  directAll(events({CallEvent::kNotReachable}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 404), invite->from);
  const auto request = decideNext(CallAction::Kind::kEndCall);
  EXPECT_EQ(request.event, CallEvent::kNotReachable);
  EXPECT_TRUE(caller_.waitStatus(603));
  expectDrained();
}

TEST_F(CallProxyDirection, NoAnswerUsesTheDirectionTimer) {
  start([](CallsConfig& calls) { calls.directionNoAnswerTimeoutMs = 1000; });
  directAll(events({CallEvent::kNoAnswer}));
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  EXPECT_TRUE(callee_.waitRequest("CANCEL", milliseconds(3000)));
  const auto request = decideNext(CallAction::Kind::kContinue);
  EXPECT_EQ(request.event, CallEvent::kNoAnswer);
  EXPECT_TRUE(caller_.waitStatus(487));
  expectDrained();
}

// ---- shutdown and load --------------------------------------------------------------------------

TEST_F(CallProxy, ShutdownAnswersOutstandingCallsAndReleasesThem) {
  start();
  notifyAll();
  dial(callee_);
  auto invite = callee_.waitRequest("INVITE");
  ASSERT_TRUE(invite);
  callee_.sendTo(callee_.response(invite->message, 180), invite->from);
  ASSERT_TRUE(caller_.waitStatus(180));
  stack_->close();
  EXPECT_TRUE(caller_.waitStatus(503));
  EXPECT_EQ(settled(&CallProxyCounters::callsInFlight, 0u), 0u);
  EXPECT_EQ(settled(&CallProxyCounters::clientTransactions, 0u), 0u);
}

TEST_F(CallProxy, LongRunLeavesNothingBehind) {
  start();
  notifyAll(events({CallEvent::kBusy}));
  callee_.autoAnswer(486);
  caller_.autoAck(true);
  constexpr size_t kCalls = 2000;
  constexpr size_t kBurst = 100;
  for (size_t sent = 0; sent < kCalls; sent += kBurst) {
    for (size_t i = 0; i < kBurst; ++i) dial(callee_);
    ASSERT_TRUE(
        eventually([&] { return caller_.finalsSeen() >= sent + kBurst; }, milliseconds(10000)))
        << "finals " << caller_.finalsSeen() << " of " << sent + kBurst;
  }
  expectDrained();
  EXPECT_EQ(settled(&CallProxyCounters::invites, kCalls), kCalls);
  EXPECT_EQ(settled(&CallProxyCounters::finalResponses, kCalls), kCalls);
  EXPECT_EQ(takeEvents(kCalls).size(), kCalls);
}

}  // namespace
}  // namespace px
