// A scripted SIP call party for the proxy tests: one UDP socket on 127.0.0.1 and a receiver
// thread that queues what arrives (parsed with UdpSipPeer.h's SipMessage). Tests drive both
// sides step by step (send, waitFor), or let a party run on its own for load:
// - Callee with autoAnswer: every new INVITE gets 180 (optional) and `autoFinal`;
// - autoAck: a final response >= 300 to an INVITE is ACKed at once (hop by hop);
// - every CANCEL gets 200, and its INVITE 487 when the callee has not answered it.
// Builders make the requests and responses a UA would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "UdpSipPeer.h"

namespace px::test {

struct Datagram {
  SipMessage message;
  sockaddr_in from{};
};

class SipCallPeer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SipCallPeer(std::string name) : name_(std::move(name)) {
    sock_ = PeerFdHolder(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (sock_.fd < 0) throw std::runtime_error("call peer: socket");
    const int bytes = 4 * 1024 * 1024;
    ::setsockopt(sock_.fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock_.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("call peer: bind");
    }
    socklen_t len = sizeof addr;
    ::getsockname(sock_.fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread(&SipCallPeer::loop, this);
  }
  ~SipCallPeer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  SipCallPeer(const SipCallPeer&) = delete;
  SipCallPeer& operator=(const SipCallPeer&) = delete;

  uint16_t port() const { return port_; }
  std::string hostPort() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string contact() const { return "<sip:" + name_ + "@" + hostPort() + ">"; }

  // Callee automation (set before the calls).
  void autoAnswer(int finalCode, bool ring = true) {
    std::lock_guard<std::mutex> lock(mutex_);
    autoFinal_ = finalCode;
    autoRing_ = ring;
  }
  void autoAck(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    autoAck_ = on;
  }

  void sendTo(const std::string& data, uint16_t port) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendTo(data, to);
  }
  void sendTo(const std::string& data, const sockaddr_in& to) const {
    ::sendto(sock_.fd, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to),
             sizeof to);
  }

  // Takes the first queued message matching `pred` (waiting up to `timeout`).
  std::optional<Datagram> waitFor(const std::function<bool(const SipMessage&)>& pred,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<Datagram> found;
    cv_.wait_for(lock, timeout, [&] {
      for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
        if (pred(it->message)) {
          found = std::move(*it);
          inbox_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::optional<Datagram> waitRequest(const std::string& method,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return waitFor([&](const SipMessage& m) { return m.isRequest && m.method == method; }, timeout);
  }
  std::optional<Datagram> waitStatus(int status,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return waitFor([&](const SipMessage& m) { return !m.isRequest && m.status == status; },
                   timeout);
  }
  std::optional<Datagram> waitFinal(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return waitFor(
        [&](const SipMessage& m) {
          return !m.isRequest && m.status >= 200 && m.cseqMethod() == "INVITE";
        },
        timeout);
  }
  // Everything queued and not taken, e.g. to assert that nothing else came.
  std::vector<SipMessage> pending() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<SipMessage> out;
    for (const auto& d : inbox_) out.push_back(d.message);
    return out;
  }
  size_t finalsSeen() const { return finals_.load(); }
  size_t invitesSeen() const { return invitesSeen_.load(); }

  // ---- builders --------------------------------------------------------------------------------

  struct Call {
    std::string callId;
    std::string branch;
    std::string fromTag;
    std::string requestUri;
    std::string route;  // Route header value ("" none)
    std::string to;     // To without tag
    uint32_t cseq = 1;
  };

  Call newCall(const std::string& requestUri, const std::string& route) {
    Call call;
    const uint64_t n = ++counter_;
    call.callId = name_ + "-" + std::to_string(n) + "-" + std::to_string(port_) + "@test";
    call.branch = "z9hG4bK" + name_ + std::to_string(n);
    call.fromTag = "ft" + std::to_string(n);
    call.requestUri = requestUri;
    call.route = route;
    call.to = "<" + requestUri + ">";
    return call;
  }

  std::string invite(const Call& call, const std::string& extraHeaders = "",
                     const std::string& body = "", int maxForwards = 70,
                     const std::string& transport = "UDP") const {
    std::string out = "INVITE " + call.requestUri + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/" + transport + " " + hostPort() + ";branch=" + call.branch + ";rport\r\n";
    if (maxForwards >= 0) out += "Max-Forwards: " + std::to_string(maxForwards) + "\r\n";
    if (!call.route.empty()) out += "Route: " + call.route + "\r\n";
    out += "From: \"Alice Caller\" <sip:alice@caller.test>;tag=" + call.fromTag + "\r\n";
    out += "To: " + call.to + "\r\n";
    out += "Call-ID: " + call.callId + "\r\n";
    out += "CSeq: " + std::to_string(call.cseq) + " INVITE\r\n";
    out += "Contact: " + contact() + "\r\n";
    out += extraHeaders;
    if (!body.empty()) out += "Content-Type: application/sdp\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return out;
  }

  // CANCEL and the ACK of a non-2xx final reuse the INVITE's branch (RFC 3261 §9.1, §17.1.1.3).
  std::string cancel(const Call& call) const {
    std::string out = "CANCEL " + call.requestUri + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP " + hostPort() + ";branch=" + call.branch + ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    if (!call.route.empty()) out += "Route: " + call.route + "\r\n";
    out += "From: \"Alice Caller\" <sip:alice@caller.test>;tag=" + call.fromTag + "\r\n";
    out += "To: " + call.to + "\r\n";
    out += "Call-ID: " + call.callId + "\r\n";
    out += "CSeq: " + std::to_string(call.cseq) + " CANCEL\r\n";
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  std::string ackFor(const Call& call, const SipMessage& final) const {
    std::string out = "ACK " + call.requestUri + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP " + hostPort() + ";branch=" + call.branch + ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    if (!call.route.empty()) out += "Route: " + call.route + "\r\n";
    out += "From: " + final.get("from") + "\r\n";
    out += "To: " + final.get("to") + "\r\n";
    out += "Call-ID: " + call.callId + "\r\n";
    out += "CSeq: " + std::to_string(call.cseq) + " ACK\r\n";
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  // An in-dialog request (2xx ACK, BYE) along a route set; `target` is the remote Contact.
  std::string inDialog(const std::string& method, const std::string& target,
                       const std::vector<std::string>& routes, const std::string& from,
                       const std::string& to, const std::string& callId, uint32_t cseq) {
    std::string out = method + " " + target + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP " + hostPort() + ";branch=z9hG4bK" + name_ + "d" +
           std::to_string(++counter_) + ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    for (const std::string& route : routes) out += "Route: " + route + "\r\n";
    out += "From: " + from + "\r\n";
    out += "To: " + to + "\r\n";
    out += "Call-ID: " + callId + "\r\n";
    out += "CSeq: " + std::to_string(cseq) + " " + method + "\r\n";
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  // A response to `request` (all its Vias), with our tag on To when it has none.
  std::string response(const SipMessage& request, int code, const std::string& extra = "") const {
    std::string out = "SIP/2.0 " + std::to_string(code) + " " + phrase(code) + "\r\n";
    for (const std::string& via : request.all("via")) out += "Via: " + via + "\r\n";
    for (const std::string& rr : request.all("record-route")) {
      out += "Record-Route: " + rr + "\r\n";
    }
    out += "From: " + request.get("from") + "\r\n";
    std::string to = request.get("to");
    if (code > 100 && SipMessage::param(to, "tag").empty()) to += ";tag=" + tagFor(request);
    out += "To: " + to + "\r\n";
    out += "Call-ID: " + request.get("call-id") + "\r\n";
    out += "CSeq: " + request.get("cseq") + "\r\n";
    if (code / 100 == 2 && request.method == "INVITE") out += "Contact: " + contact() + "\r\n";
    out += extra;
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  static const char* phrase(int code) {
    switch (code) {
      case 100:
        return "Trying";
      case 180:
        return "Ringing";
      case 183:
        return "Session Progress";
      case 200:
        return "OK";
      case 404:
        return "Not Found";
      case 408:
        return "Request Timeout";
      case 480:
        return "Temporarily Unavailable";
      case 483:
        return "Too Many Hops";
      case 486:
        return "Busy Here";
      case 487:
        return "Request Terminated";
      case 503:
        return "Service Unavailable";
      case 600:
        return "Busy Everywhere";
      case 603:
        return "Decline";
      default:
        return "Whatever";
    }
  }

  std::string tagFor(const SipMessage& request) const {
    return "tt" + std::to_string(std::hash<std::string>()(request.get("call-id")) % 100000);
  }

 private:
  struct PeerFdHolder {
    explicit PeerFdHolder(int f = -1) : fd(f) {}
    PeerFdHolder(PeerFdHolder&& o) noexcept : fd(o.fd) { o.fd = -1; }
    PeerFdHolder& operator=(PeerFdHolder&& o) noexcept {
      if (fd >= 0) ::close(fd);
      fd = o.fd;
      o.fd = -1;
      return *this;
    }
    ~PeerFdHolder() {
      if (fd >= 0) ::close(fd);
    }
    int fd;
  };

  void loop() {
    std::vector<char> buffer(65536);
    while (!stop_) {
      pollfd pfd{sock_.fd, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(sock_.fd, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      auto message = SipMessage::parse(std::string_view(buffer.data(), static_cast<size_t>(n)));
      if (!message) continue;
      if (automate(*message, from)) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      inbox_.push_back(Datagram{std::move(*message), from});
      cv_.notify_all();
    }
  }

  // True when the automation consumed the message.
  bool automate(const SipMessage& message, const sockaddr_in& from) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!message.isRequest) {
      if (message.cseqMethod() == "INVITE" && message.status >= 200) finals_++;
      if (autoAck_ && message.cseqMethod() == "INVITE" && message.status >= 300) {
        // Rebuild the ACK from the response (same branch as the INVITE: its top Via).
        std::string out = "ACK " + SipMessage::uriOf(message.get("to")) + " SIP/2.0\r\n";
        out += "Via: " + message.get("via") + "\r\n";
        out += "Max-Forwards: 70\r\n";
        out += "From: " + message.get("from") + "\r\n";
        out += "To: " + message.get("to") + "\r\n";
        out += "Call-ID: " + message.get("call-id") + "\r\n";
        const std::string cseq = message.get("cseq");
        out += "CSeq: " + cseq.substr(0, cseq.find(' ')) + " ACK\r\n";
        out += "Content-Length: 0\r\n\r\n";
        lock.unlock();
        sendTo(out, from);
        return true;
      }
      return false;
    }
    if (message.method == "INVITE") {
      invitesSeen_++;
      invites_[message.get("call-id")] = message;
    }
    if (message.method == "CANCEL") {
      // 200 to the CANCEL, 487 to its INVITE if not answered yet.
      const std::string key = message.get("call-id");
      const bool answered = answered_.count(key) > 0;
      answered_.insert(key);
      lock.unlock();
      sendTo(response(message, 200), from);
      // The 487 carries the INVITE's Vias (a CANCEL has only its hop's).
      lock.lock();
      const auto invite = invites_.find(key);
      const std::optional<SipMessage> original =
          invite == invites_.end() ? std::nullopt : std::optional<SipMessage>(invite->second);
      lock.unlock();
      if (!answered && original) sendTo(response(*original, 487), from);
      return false;  // also queued: tests assert on it
    }
    if (message.method == "ACK") return autoFinal_ != 0;
    if (message.method == "INVITE" && autoFinal_ != 0) {
      const std::string key = message.get("call-id");
      if (answered_.count(key) > 0) return true;  // a retransmission
      answered_.insert(key);
      const int code = autoFinal_;
      const bool ring = autoRing_;
      lock.unlock();
      if (ring) sendTo(response(message, 180), from);
      sendTo(response(message, code), from);
      return true;
    }
    return false;
  }

  std::string name_;
  PeerFdHolder sock_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> counter_{0};
  std::atomic<size_t> finals_{0};
  std::atomic<size_t> invitesSeen_{0};
  std::map<std::string, SipMessage> invites_;  // the last INVITE of each Call-ID
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Datagram> inbox_;
  std::set<std::string> answered_;  // Call-IDs the automation (or a CANCEL) answered
  int autoFinal_ = 0;
  bool autoRing_ = true;
  bool autoAck_ = false;
  std::thread thread_;  // last
};

}  // namespace px::test
