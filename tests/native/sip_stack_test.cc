// SipStack with roles that are not presence: two agents (two ports) on one SIP thread, requests
// dispatched to the agent's roles in order, stateless answers, commands, the shared timer queue
// and the shutdown drain. This is how a second role (the ISC application server) plugs in.
#include "sip/SipStack.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/UdpSipPeer.h"

namespace px {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Answers one method with a fixed status; anything else is the next role's.
class FixedRole : public SipRole, public TimerClient {
 public:
  FixedRole(SipStack& stack, sip_method_t method, int status, bool drainLate = false)
      : stack_(stack), method_(method), status_(status), drainLate_(drainLate) {}

  int onRequest(const IncomingRequest& request) override {
    requests++;
    return request.method == method_ ? status_ : kNotMine;
  }
  void onShutdown() override {
    shutdowns++;
    if (!drainLate_) {
      stack_.roleDrained(*this);
    } else {
      stack_.timers().schedule(Clock::now() + milliseconds(300), *this, 2, 0);
    }
  }
  void onTimer(uint64_t key, uint32_t, Clock::time_point) override {
    if (key == 2) {
      stack_.roleDrained(*this);
      return;
    }
    fired.set_value();
  }
  bool timerLive(uint64_t, uint32_t) const override { return true; }

  std::atomic<int> requests{0};
  std::atomic<int> shutdowns{0};
  std::promise<void> fired;

 private:
  SipStack& stack_;
  sip_method_t method_;
  int status_;
  bool drainLate_;
};

AgentSpec udpAgent(std::vector<sip_method_t> methods, std::string allow) {
  AgentSpec spec;
  spec.host = "127.0.0.1";
  spec.transports = {SipTransport::kUdp};
  spec.answers.methods = std::move(methods);
  spec.answers.allow = std::move(allow);
  return spec;
}

// Sends one request over UDP and returns the answer, if one comes within a second.
std::optional<test::SipMessage> ask(uint16_t port, const std::string& method) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  socklen_t len = sizeof addr;
  ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string request =
      method + " sip:as@127.0.0.1:" + std::to_string(port) +
      " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
      ";branch=z9hG4bK-" + method +
      "\r\nMax-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:as@127.0.0.1>\r\n"
      "Call-ID: stack-test-" +
      method + "\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n";
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  if (::sendto(sock.get(), request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to),
               sizeof to) < 0) {
    return {};
  }
  pollfd pfd{sock.get(), POLLIN, 0};
  if (::poll(&pfd, 1, 1000) != 1) return {};
  char buf[4096];
  const ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
  if (n <= 0) return {};
  return test::SipMessage::parse(std::string_view(buf, static_cast<size_t>(n)));
}

TEST(SipStack, TwoAgentsOnOneThreadEachWithItsRolesAndPolicy) {
  SipStack stack;
  FixedRole* first = nullptr;
  FixedRole* second = nullptr;
  FixedRole* other = nullptr;
  uint16_t portA = 0;
  uint16_t portB = 0;
  stack.start([&](SipStack& s) -> std::string {
    std::string problem;
    SipAgent* a =
        s.addAgent(udpAgent({sip_method_notify, sip_method_info}, "NOTIFY, INFO"), problem);
    SipAgent* b = s.addAgent(udpAgent({sip_method_message}, "MESSAGE"), problem);
    if (!a || !b) return problem;
    portA = a->port();
    portB = b->port();
    first = &s.addRole<FixedRole>(s, sip_method_info, 202);
    second = &s.addRole<FixedRole>(s, sip_method_notify, 489);
    other = &s.addRole<FixedRole>(s, sip_method_message, 200);
    a->addRole(*first);
    a->addRole(*second);
    b->addRole(*other);
    return "";
  });
  ASSERT_NE(portA, portB);

  auto answer = ask(portA, "INFO");  // the first role takes it
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  answer = ask(portA, "NOTIFY");  // the first declines, the second takes it
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 489);
  EXPECT_EQ(first->requests.load(), 2);
  answer = ask(portA, "MESSAGE");  // not this agent's: 405 with its Allow
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 405);
  EXPECT_EQ(answer->first("allow").value_or(""), "NOTIFY, INFO");
  answer = ask(portB, "MESSAGE");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  answer = ask(portB, "OPTIONS");  // answered before any role
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(other->requests.load(), 1);

  // Commands run on the SIP thread; the one timer queue serves every role.
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(stack.post(
      [&](SipStack::CommandRun) {
        ran.set_value(std::this_thread::get_id());
        stack.timers().schedule(Clock::now() + milliseconds(20), *other, 1, 0);
      },
      true));
  auto ranOn = ran.get_future();
  ASSERT_EQ(ranOn.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_NE(ranOn.get(), std::this_thread::get_id());
  EXPECT_EQ(other->fired.get_future().wait_for(std::chrono::seconds(2)), std::future_status::ready);

  stack.close();
  EXPECT_FALSE(stack.post([](SipStack::CommandRun) {}, true));
}

TEST(SipStack, CloseWaitsForEveryRoleToDrain) {
  SipStack stack;
  stack.start([&](SipStack& s) -> std::string {
    std::string problem;
    SipAgent* a = s.addAgent(udpAgent({sip_method_message}, "MESSAGE"), problem);
    if (!a) return problem;
    a->addRole(s.addRole<FixedRole>(s, sip_method_message, 200));
    a->addRole(s.addRole<FixedRole>(s, sip_method_info, 200, true));
    return "";
  });
  std::atomic<int> closingRuns{0};
  stack.post(
      [&](SipStack::CommandRun run) {
        if (run == SipStack::CommandRun::kClosing) closingRuns++;
      },
      false);  // queued, not woken: close() runs it as kClosing
  const auto started = Clock::now();
  stack.close();
  const auto took = Clock::now() - started;
  EXPECT_EQ(closingRuns.load(), 1);
  EXPECT_GE(took, milliseconds(250));       // the late role's 300 ms
  EXPECT_LT(took, SipStack::kDrainBudget);  // not the budget
}

TEST(SipStack, StartFailureIsReported) {
  SipStack stack;
  EXPECT_THROW(stack.start([](SipStack&) { return std::string("no agent for you"); }),
               std::runtime_error);
  EXPECT_FALSE(stack.post([](SipStack::CommandRun) {}, true));
}

}  // namespace
}  // namespace px
