// The watcher under test and raw UDP peers for the SIP hardening suites (sip_hardening_test.cc,
// sip_tcp_guard_test.cc): a sink of outcomes and events, the watcher's RAII owner, a config
// pointing at a scripted peer, a raw UDP socket on a chosen loopback address, NOTIFY texts.
#pragma once

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

#include "PidfDocuments.h"
#include "UdpSipPeer.h"
#include "address/Address.h"
#include "sip/PresenceWatcher.h"
#include "sip/TcpGuard.h"

namespace px::test {

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

inline GatewayConfig configFor(const UdpSipPeer& peer) {
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
inline std::string notifyFor(const RawUdp& from, const std::string& callId,
                             const std::string& fromHeader, const std::string& toHeader,
                             const std::string& body, uint16_t watcherPort, int cseq = 7) {
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
inline std::string fetchNotify(const RawUdp& from, const SipMessage& subscribe,
                               const std::string& body, uint16_t watcherPort) {
  const std::string ourTag = "forger1";
  return notifyFor(from, subscribe.get("call-id"), subscribe.get("to") + ";tag=" + ourTag,
                   subscribe.get("from"), body, watcherPort);
}
}  // namespace px::test
