// A scripted presence server for tests: real SIP over UDP on 127.0.0.1, one socket and one
// thread. It answers SUBSCRIBE per a PeerScript (final error, 200 + NOTIFY, NOTIFY before 200,
// 200 only, silence, or a notifier keeping long-lived subscription dialogs), retransmits its
// NOTIFYs like a UAC would (T1 doubling), absorbs SUBSCRIBE retransmissions, and records what it
// received for the test to assert on.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace px::test {

// Owns a file descriptor.
class PeerFd {
 public:
  explicit PeerFd(int fd = -1) : fd_(fd) {}
  ~PeerFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  PeerFd(const PeerFd&) = delete;
  PeerFd& operator=(const PeerFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

inline std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline std::string trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

// A parsed SIP message. Header names are stored lower-case in their long form; header lines
// that hold several comma-separated Via values are split into one entry per Via.
struct SipMessage {
  bool isRequest = false;
  std::string method;      // requests
  std::string requestUri;  // requests
  int status = 0;          // responses
  std::string reason;      // responses
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& h : headers) {
      if (h.first == name) out.push_back(h.second);
    }
    return out;
  }
  std::optional<std::string> first(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.first == name) return h.second;
    }
    return std::nullopt;
  }
  std::string get(std::string_view name) const { return first(name).value_or(""); }

  // "1 SUBSCRIBE" -> "SUBSCRIBE"
  std::string cseqMethod() const {
    const std::string cseq = get("cseq");
    const size_t space = cseq.find(' ');
    return space == std::string::npos ? "" : trim(std::string_view(cseq).substr(space + 1));
  }
  std::string topViaBranch() const { return param(get("via"), "branch"); }

  // The value of ;name=value in a header value (outside <...>), "" when absent.
  static std::string param(std::string_view value, std::string_view name) {
    const size_t close = value.find('>');
    std::string_view params = close == std::string_view::npos ? value : value.substr(close + 1);
    size_t pos = 0;
    while ((pos = params.find(';', pos)) != std::string_view::npos) {
      ++pos;
      const size_t end = std::min(params.find(';', pos), params.size());
      std::string_view item = params.substr(pos, end - pos);
      const size_t eq = item.find('=');
      if (toLower(trim(item.substr(0, eq))) == name) {
        return eq == std::string_view::npos ? "" : trim(item.substr(eq + 1));
      }
    }
    return "";
  }

  // The URI inside a name-addr ("Alice" <sip:a@b>;tag=x -> sip:a@b) or an addr-spec.
  static std::string uriOf(std::string_view value) {
    const size_t lt = value.find('<');
    if (lt != std::string_view::npos) {
      const size_t gt = value.find('>', lt);
      return std::string(value.substr(lt + 1, gt == std::string_view::npos ? gt : gt - lt - 1));
    }
    return trim(value.substr(0, std::min(value.find(';'), value.size())));
  }

  static std::optional<SipMessage> parse(std::string_view data) {
    const size_t headEnd = data.find("\r\n\r\n");
    if (headEnd == std::string_view::npos) return std::nullopt;
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < headEnd) {
      size_t eol = data.find("\r\n", pos);
      if (eol == std::string_view::npos || eol > headEnd) eol = headEnd;
      std::string line(data.substr(pos, eol - pos));
      if (!lines.empty() && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        lines.back() += " " + trim(line);  // header folding
      } else {
        lines.push_back(std::move(line));
      }
      pos = eol + 2;
    }
    if (lines.empty()) return std::nullopt;
    SipMessage msg;
    const std::string& start = lines.front();
    if (start.rfind("SIP/2.0 ", 0) == 0) {
      if (start.size() < 11) return std::nullopt;
      msg.status = std::atoi(start.c_str() + 8);
      msg.reason = start.size() > 12 ? start.substr(12) : "";
    } else {
      const size_t sp1 = start.find(' ');
      const size_t sp2 = start.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1 || start.substr(sp2 + 1) != "SIP/2.0") {
        return std::nullopt;
      }
      msg.isRequest = true;
      msg.method = start.substr(0, sp1);
      msg.requestUri = start.substr(sp1 + 1, sp2 - sp1 - 1);
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) return std::nullopt;
      const std::string name = longName(toLower(trim(std::string_view(lines[i]).substr(0, colon))));
      const std::string value = trim(std::string_view(lines[i]).substr(colon + 1));
      if (name == "via") {
        size_t from = 0;
        while (from <= value.size()) {
          const size_t comma = std::min(value.find(',', from), value.size());
          msg.headers.emplace_back(name, trim(std::string_view(value).substr(from, comma - from)));
          from = comma + 1;
        }
      } else {
        msg.headers.emplace_back(name, value);
      }
    }
    std::string_view body = data.substr(headEnd + 4);
    if (auto length = msg.first("content-length")) {
      const size_t n = static_cast<size_t>(std::strtoul(length->c_str(), nullptr, 10));
      if (n > body.size()) return std::nullopt;
      body = body.substr(0, n);
    }
    msg.body = std::string(body);
    return msg;
  }

  // RFC 3261 §7.3.3 compact forms.
  static std::string longName(const std::string& name) {
    static const std::map<std::string, std::string> kCompact = {{"v", "via"},
                                                                {"f", "from"},
                                                                {"t", "to"},
                                                                {"i", "call-id"},
                                                                {"m", "contact"},
                                                                {"o", "event"},
                                                                {"c", "content-type"},
                                                                {"l", "content-length"},
                                                                {"k", "supported"},
                                                                {"u", "allow-events"},
                                                                {"e", "content-encoding"}};
    const auto it = kCompact.find(name);
    return it == kCompact.end() ? name : it->second;
  }
};

struct PeerScript {
  enum class Mode {
    kFinal,         // answer every SUBSCRIBE with finalCode (a non-2xx)
    kOkThenNotify,  // 200, then the NOTIFY after notifyDelay
    kNotifyThenOk,  // the NOTIFY, then the 200 after okDelay
    kOkNoNotify,    // 200 and nothing else
    kSilent,        // never answer
    // A notifier (RFC 6665) keeping dialogs: a SUBSCRIBE without To-tag gets 200 (Expires:
    // granted) and a NOTIFY "active;expires=N" with `body`; an in-dialog SUBSCRIBE gets
    // refreshCode (200: plus a NOTIFY active; other codes end the dialog), or with Expires: 0
    // a 200 and a NOTIFY "terminated;reason=timeout"; an unknown dialog gets 481. Tests push
    // further NOTIFYs with UdpSipPeer::sendNotify.
    kSubscriptions,
  };
  Mode mode = Mode::kOkThenNotify;
  int finalCode = 500;
  std::optional<std::string> body;  // NOTIFY body; nullopt = no body and no Content-Type
  std::string contentType = "application/pidf+xml";
  std::chrono::milliseconds notifyDelay{0};
  std::chrono::milliseconds okDelay{30};
  // Answer nothing until this many distinct SUBSCRIBEs have arrived, then answer all of them:
  // proves that that many fetches were in flight at once.
  size_t holdUntil = 0;
  // kSubscriptions only:
  std::optional<uint32_t> grantedExpires;  // Expires of the 200s; nullopt: as requested
  std::optional<uint32_t> notifyExpires;   // expires= of NOTIFYs "active"; nullopt: as granted
  int refreshCode = 200;                   // answer to in-dialog SUBSCRIBEs with Expires > 0
  std::string contact;       // Contact of the 200s and NOTIFYs; "" = sip:notifier@<this peer>
  std::string recordRoute;   // Record-Route value of the 200s to new SUBSCRIBEs; "" = none
  bool notifyFirst = false;  // the first NOTIFY goes out before the 200 (which waits okDelay)
  std::chrono::milliseconds answerDelay{0};  // delay of every 200 (and the NOTIFY after it)
};

inline const char* reasonPhrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 489:
      return "Bad Event";
    case 500:
      return "Server Internal Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Whatever";
  }
}

class UdpSipPeer {
 public:
  using Clock = std::chrono::steady_clock;

  struct Received {
    SipMessage message;
    Clock::time_point at;
    std::optional<Clock::time_point> answeredAt;  // when our final response first went out
  };
  struct NotifyResult {
    std::string callId;
    int status = 0;  // final response the watcher sent to our NOTIFY, 0 while none
    int transmissions = 0;
    Clock::time_point firstSentAt;
    std::string subscriptionState;  // kSubscriptions dialogs and sendNotify: as sent
  };

  explicit UdpSipPeer(PeerScript script = {})
      : script_(std::move(script)),
        sock_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)),
        wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (sock_.get() < 0 || wake_.get() < 0) throw std::runtime_error("peer: socket/eventfd");
    // Large buffer: 1000 SUBSCRIBEs may arrive in one burst. FORCE needs root; fall back.
    const int bytes = 8 * 1024 * 1024;
    if (::setsockopt(sock_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
      ::setsockopt(sock_.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("peer: bind");
    }
    socklen_t len = sizeof addr;
    ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    nonce_ = std::to_string(std::random_device{}());
    thread_ = std::thread(&UdpSipPeer::loop, this);
  }

  ~UdpSipPeer() {
    stop_ = true;
    const uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
  }

  UdpSipPeer(const UdpSipPeer&) = delete;
  UdpSipPeer& operator=(const UdpSipPeer&) = delete;

  uint16_t port() const { return port_; }
  std::string uri() const { return "sip:127.0.0.1:" + std::to_string(port_); }

  void setScript(PeerScript script) {
    std::lock_guard<std::mutex> lock(mutex_);
    script_ = std::move(script);
  }

  // Distinct SUBSCRIBE transactions, in arrival order (retransmissions are not repeated).
  std::vector<Received> subscribes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return subscribes_;
  }
  size_t subscribeDatagrams() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return subscribeDatagrams_;
  }
  std::vector<Received> otherRequests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return otherRequests_;
  }
  std::vector<NotifyResult> notifies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<NotifyResult> out;
    for (const auto& n : notifies_) out.push_back(n.result);
    return out;
  }

  bool waitForSubscribes(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return subscribes_.size() >= n; });
  }
  // Waits until at least n distinct SUBSCRIBEs satisfy pred(const Received&).
  template <typename Pred>
  bool waitForSubscribesWhere(size_t n, std::chrono::milliseconds timeout, Pred pred) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      return static_cast<size_t>(std::count_if(subscribes_.begin(), subscribes_.end(), pred)) >= n;
    });
  }

  // kSubscriptions: sends a NOTIFY in the dialog of that Call-ID ("terminated..." ends the
  // dialog). False when this peer holds no such dialog.
  bool sendNotify(const std::string& callId, const std::string& subscriptionState,
                  const std::optional<std::string>& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = dialogs_.find(callId);
    if (it == dialogs_.end()) return false;
    queueDialogNotify(it->second, subscriptionState, body, Clock::now());
    if (toLower(subscriptionState).rfind("terminated", 0) == 0) it->second.ended = true;
    sendDue();
    return true;
  }

  // kSubscriptions: our tag in the dialog of that Call-ID ("" when unknown).
  std::string dialogTag(const std::string& callId) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = dialogs_.find(callId);
    return it == dialogs_.end() ? "" : it->second.localTag;
  }

  // Sends a NOTIFY that belongs to no dialog to `target` (e.g. the watcher's Contact).
  void sendStrayNotify(const std::string& target) {
    std::lock_guard<std::mutex> lock(mutex_);
    Dialog stray;
    stray.callId = "stray" + std::to_string(++counter_) + "-" + nonce_ + "@127.0.0.1";
    stray.localTag = "peer" + std::to_string(++counter_);
    stray.remote = "<sip:watcher@gateway.test>;tag=nosuchtag";
    stray.local = "<sip:alice@example.test>";
    stray.target = target;
    queueDialogNotify(stray, "active;expires=60", script_.body, Clock::now());
    sendDue();
  }
  // Waits until n of our NOTIFYs got a final response.
  bool waitForNotifyAnswers(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      size_t answered = 0;
      for (const auto& pending : notifies_) answered += pending.result.status >= 200 ? 1 : 0;
      return answered >= n;
    });
  }

 private:
  struct Outgoing {  // a datagram due at `due`
    Clock::time_point due;
    std::string data;
    sockaddr_in to;
    int notifyIndex = -1;     // >= 0: a NOTIFY (retransmitted until answered)
    int subscribeIndex = -1;  // >= 0: the final response to subscribes_[subscribeIndex]
  };
  struct PendingNotify {
    NotifyResult result;
    std::string branch;
    std::chrono::milliseconds interval{500};
  };
  struct Transaction {     // a SUBSCRIBE we saw, keyed by Call-ID + CSeq + branch
    std::string response;  // what we answered, "" while none
    sockaddr_in from{};
  };

  void loop() {
    std::vector<char> buf(65536);
    while (!stop_) {
      int waitMs = 200;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!outgoing_.empty()) {
          const auto next =
              std::min_element(outgoing_.begin(), outgoing_.end(),
                               [](const Outgoing& a, const Outgoing& b) { return a.due < b.due; });
          const auto ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(next->due - Clock::now());
          waitMs = static_cast<int>(std::clamp<long long>(ms.count() + 1, 0, 200));
        }
      }
      pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      ::poll(fds, 2, waitMs);
      if (stop_) break;
      for (;;) {
        sockaddr_in from{};
        socklen_t fromLen = sizeof from;
        const ssize_t n = ::recvfrom(sock_.get(), buf.data(), buf.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &fromLen);
        if (n <= 0) break;
        onDatagram(std::string_view(buf.data(), static_cast<size_t>(n)), from);
      }
      std::lock_guard<std::mutex> lock(mutex_);
      sendDue();
    }
  }

  void onDatagram(std::string_view data, const sockaddr_in& from) {
    auto parsed = SipMessage::parse(data);
    if (!parsed) return;  // e.g. keep-alives
    std::lock_guard<std::mutex> lock(mutex_);
    if (!parsed->isRequest) {
      onResponse(*parsed);
    } else if (parsed->method == "SUBSCRIBE") {
      onSubscribe(std::move(*parsed), from);
    } else {
      otherRequests_.push_back(Received{std::move(*parsed), Clock::now(), std::nullopt});
    }
    cv_.notify_all();
  }

  void onResponse(const SipMessage& response) {
    if (response.cseqMethod() != "NOTIFY") return;
    const std::string branch = response.topViaBranch();
    for (auto& pending : notifies_) {
      if (pending.branch == branch && response.status >= 200 && pending.result.status == 0) {
        pending.result.status = response.status;
      }
    }
  }

  void onSubscribe(SipMessage request, const sockaddr_in& from) {
    ++subscribeDatagrams_;
    const std::string key =
        request.get("call-id") + "|" + request.get("cseq") + "|" + request.topViaBranch();
    auto it = transactions_.find(key);
    if (it != transactions_.end()) {  // retransmission: repeat our answer, if any
      if (!it->second.response.empty()) send(it->second.response, from);
      return;
    }
    transactions_[key].from = from;
    subscribes_.push_back(Received{std::move(request), Clock::now(), std::nullopt});
    if (script_.holdUntil > 0) {
      held_.push_back(subscribes_.size() - 1);
      if (subscribes_.size() < script_.holdUntil) return;
      for (size_t index : held_) answer(index);
      held_.clear();
      return;
    }
    answer(subscribes_.size() - 1);
  }

  // Acts on subscribes_[index] per the script.
  void answer(size_t index) {
    if (script_.mode == PeerScript::Mode::kSubscriptions) {
      answerSubscription(index);
      return;
    }
    const SipMessage& request = subscribes_[index].message;
    const std::string key =
        request.get("call-id") + "|" + request.get("cseq") + "|" + request.topViaBranch();
    Transaction& tx = transactions_[key];
    const std::string toTag = "peer" + std::to_string(++counter_);
    const auto now = Clock::now();
    switch (script_.mode) {
      case PeerScript::Mode::kSilent:
      case PeerScript::Mode::kSubscriptions:  // see answerSubscription
        return;
      case PeerScript::Mode::kFinal:
        tx.response = response(request, script_.finalCode, toTag);
        sendAnswer(index, tx);
        return;
      case PeerScript::Mode::kOkNoNotify:
        tx.response = response(request, 200, toTag);
        sendAnswer(index, tx);
        return;
      case PeerScript::Mode::kOkThenNotify:
        tx.response = response(request, 200, toTag);
        sendAnswer(index, tx);
        queueNotify(request, toTag, now + script_.notifyDelay);
        return;
      case PeerScript::Mode::kNotifyThenOk:
        queueNotify(request, toTag, now);
        sendDue();
        // Registered now so that a retransmitted SUBSCRIBE gets it too, but sent later.
        tx.response = response(request, 200, toTag);
        outgoing_.push_back(
            Outgoing{now + script_.okDelay, tx.response, tx.from, -1, static_cast<int>(index)});
        return;
    }
  }

  // A subscription dialog as the notifier holds it.
  struct Dialog {
    std::string callId;
    std::string localTag;  // ours: the To-tag of our 200s, the From-tag of our NOTIFYs
    std::string remote;    // the subscriber's From (with its tag): To of our NOTIFYs
    std::string local;     // the subscriber's To without tag: From of our NOTIFYs (plus tag)
    std::string target;    // the subscriber's Contact URI: where NOTIFYs go
    uint32_t granted = 0;
    uint32_t cseq = 0;
    bool ended = false;
  };

  std::string notifierContact() const {
    return script_.contact.empty() ? "sip:notifier@127.0.0.1:" + std::to_string(port_)
                                   : script_.contact;
  }

  // kSubscriptions: answers subscribes_[index] as a notifier.
  void answerSubscription(size_t index) {
    const SipMessage& request = subscribes_[index].message;
    const std::string key =
        request.get("call-id") + "|" + request.get("cseq") + "|" + request.topViaBranch();
    Transaction& tx = transactions_[key];
    const auto now = Clock::now();
    const std::string callId = request.get("call-id");
    const std::string expiresHeader = request.get("expires");
    const uint32_t requested =
        expiresHeader.empty() ? 3600u : static_cast<uint32_t>(std::stoul(expiresHeader));
    const std::string toTag = SipMessage::param(request.get("to"), "tag");
    if (toTag.empty()) {  // a new dialog
      Dialog& dialog = dialogs_[callId];
      dialog = Dialog{};
      dialog.callId = callId;
      dialog.localTag = "peer" + std::to_string(++counter_);
      dialog.remote = request.get("from");
      dialog.local = request.get("to");
      dialog.target = SipMessage::uriOf(request.get("contact"));
      dialog.granted = script_.grantedExpires.value_or(requested);
      const std::string active =
          "active;expires=" + std::to_string(script_.notifyExpires.value_or(dialog.granted));
      tx.response = dialogResponse(request, 200, dialog.localTag, dialog.granted, true);
      if (script_.notifyFirst) {
        queueDialogNotify(dialog, active, script_.body, now);
        sendDue();
        outgoing_.push_back(
            Outgoing{now + script_.okDelay, tx.response, tx.from, -1, static_cast<int>(index)});
      } else if (script_.answerDelay.count() > 0) {
        outgoing_.push_back(
            Outgoing{now + script_.answerDelay, tx.response, tx.from, -1, static_cast<int>(index)});
        queueDialogNotify(dialog, active, script_.body, now + script_.answerDelay);
      } else {
        sendAnswer(index, tx);
        queueDialogNotify(dialog, active, script_.body, now);
        sendDue();
      }
      return;
    }
    auto it = dialogs_.find(callId);
    if (it == dialogs_.end() || it->second.localTag != toTag || it->second.ended) {
      tx.response = dialogResponse(request, 481, "", 0, false);
      sendAnswer(index, tx);
      return;
    }
    Dialog& dialog = it->second;
    const auto due = now + script_.answerDelay;
    if (requested == 0) {
      tx.response = dialogResponse(request, 200, "", 0, false);
      dialog.ended = true;
      queueDialogNotify(dialog, "terminated;reason=timeout", std::nullopt, due);
    } else if (script_.refreshCode != 200) {
      tx.response = dialogResponse(request, script_.refreshCode, "", 0, false);
      dialog.ended = true;
    } else {
      dialog.granted = script_.grantedExpires.value_or(requested);
      tx.response = dialogResponse(request, 200, "", dialog.granted, false);
      queueDialogNotify(
          dialog,
          "active;expires=" + std::to_string(script_.notifyExpires.value_or(dialog.granted)),
          script_.body, due);
    }
    outgoing_.push_back(Outgoing{due, tx.response, tx.from, -1, static_cast<int>(index)});
    sendDue();
  }

  // A response to a SUBSCRIBE; toTag "" keeps the request's To as it is (in-dialog).
  std::string dialogResponse(const SipMessage& request, int code, const std::string& toTag,
                             uint32_t expires, bool recordRoute) const {
    std::string out = "SIP/2.0 " + std::to_string(code) + " " + reasonPhrase(code) + "\r\n";
    for (const std::string& via : request.all("via")) out += "Via: " + via + "\r\n";
    out += "From: " + request.get("from") + "\r\n";
    out += "To: " + request.get("to") + (toTag.empty() ? "" : ";tag=" + toTag) + "\r\n";
    out += "Call-ID: " + request.get("call-id") + "\r\n";
    out += "CSeq: " + request.get("cseq") + "\r\n";
    if (code / 100 == 2) {
      out += "Expires: " + std::to_string(expires) + "\r\n";
      out += "Contact: <" + notifierContact() + ">\r\n";
      if (recordRoute && !script_.recordRoute.empty()) {
        out += "Record-Route: " + script_.recordRoute + "\r\n";
      }
    }
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  // Queues a NOTIFY in `dialog` (mutex_ held), retransmitted until answered.
  void queueDialogNotify(Dialog& dialog, const std::string& subscriptionState,
                         const std::optional<std::string>& body, Clock::time_point due) {
    PendingNotify pending;
    pending.branch = "z9hG4bK" + nonce_ + "n" + std::to_string(++counter_);
    pending.result.callId = dialog.callId;
    pending.result.subscriptionState = subscriptionState;
    std::string out = "NOTIFY " + dialog.target + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=" + pending.branch +
           ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    out += "From: " + dialog.local + ";tag=" + dialog.localTag + "\r\n";
    out += "To: " + dialog.remote + "\r\n";
    out += "Call-ID: " + dialog.callId + "\r\n";
    out += "CSeq: " + std::to_string(++dialog.cseq) + " NOTIFY\r\n";
    out += "Contact: <" + notifierContact() + ">\r\n";
    out += "Event: presence\r\n";
    out += "Subscription-State: " + subscriptionState + "\r\n";
    if (body) {
      out += "Content-Type: " + script_.contentType + "\r\n";
      out += "Content-Length: " + std::to_string(body->size()) + "\r\n\r\n";
      out += *body;
    } else {
      out += "Content-Length: 0\r\n\r\n";
    }
    notifies_.push_back(std::move(pending));
    outgoing_.push_back(Outgoing{due, std::move(out), addressOf(dialog.target),
                                 static_cast<int>(notifies_.size() - 1)});
  }

  void sendAnswer(size_t index, const Transaction& tx) {
    if (!subscribes_[index].answeredAt) subscribes_[index].answeredAt = Clock::now();
    send(tx.response, tx.from);
  }

  std::string response(const SipMessage& request, int code, const std::string& toTag) const {
    std::string out = "SIP/2.0 " + std::to_string(code) + " " + reasonPhrase(code) + "\r\n";
    for (const std::string& via : request.all("via")) out += "Via: " + via + "\r\n";
    out += "From: " + request.get("from") + "\r\n";
    out += "To: " + request.get("to") + ";tag=" + toTag + "\r\n";
    out += "Call-ID: " + request.get("call-id") + "\r\n";
    out += "CSeq: " + request.get("cseq") + "\r\n";
    if (code / 100 == 2) {
      out += "Expires: 0\r\n";
      out += "Contact: <" + uri() + ">\r\n";
    }
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  void queueNotify(const SipMessage& subscribe, const std::string& toTag, Clock::time_point due) {
    const std::string target = SipMessage::uriOf(subscribe.get("contact"));
    PendingNotify pending;
    pending.branch = "z9hG4bK" + nonce_ + "n" + std::to_string(++counter_);
    pending.result.callId = subscribe.get("call-id");
    std::string out = "NOTIFY " + target + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=" + pending.branch +
           ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    out += "From: " + subscribe.get("to") + ";tag=" + toTag + "\r\n";
    out += "To: " + subscribe.get("from") + "\r\n";
    out += "Call-ID: " + subscribe.get("call-id") + "\r\n";
    out += "CSeq: 1 NOTIFY\r\n";
    out += "Contact: <" + uri() + ">\r\n";
    out += "Event: presence\r\n";
    out += "Subscription-State: terminated;reason=timeout\r\n";
    if (script_.body) {
      out += "Content-Type: " + script_.contentType + "\r\n";
      out += "Content-Length: " + std::to_string(script_.body->size()) + "\r\n\r\n";
      out += *script_.body;
    } else {
      out += "Content-Length: 0\r\n\r\n";
    }
    notifies_.push_back(std::move(pending));
    outgoing_.push_back(
        Outgoing{due, std::move(out), addressOf(target), static_cast<int>(notifies_.size() - 1)});
  }

  // host:port of a sip: URI (IPv4 literal or localhost; default port 5060).
  static sockaddr_in addressOf(const std::string& uri) {
    std::string_view rest = uri;
    const size_t colon = rest.find(':');
    rest = rest.substr(colon + 1);  // after "sip:"
    const size_t at = rest.find('@');
    if (at != std::string_view::npos) rest = rest.substr(at + 1);
    rest = rest.substr(0, std::min(rest.find(';'), rest.size()));
    const size_t portColon = rest.rfind(':');
    std::string host(rest.substr(0, portColon));
    const int port = portColon == std::string_view::npos
                         ? 5060
                         : std::atoi(std::string(rest.substr(portColon + 1)).c_str());
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (host == "localhost" || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    return addr;
  }

  // Sends what is due (mutex_ held); NOTIFYs are re-queued until answered (T1 doubling up to T2, 7
  // times).
  void sendDue() {
    std::vector<Outgoing> due;
    {
      const auto now = Clock::now();
      auto split = std::partition(outgoing_.begin(), outgoing_.end(),
                                  [&](const Outgoing& o) { return o.due > now; });
      due.assign(std::make_move_iterator(split), std::make_move_iterator(outgoing_.end()));
      outgoing_.erase(split, outgoing_.end());
    }
    for (Outgoing& o : due) {
      if (o.notifyIndex >= 0) {
        PendingNotify& pending = notifies_[static_cast<size_t>(o.notifyIndex)];
        if (pending.result.status != 0) continue;
        if (pending.result.transmissions == 0) pending.result.firstSentAt = Clock::now();
        send(o.data, o.to);
        if (++pending.result.transmissions < 7) {
          o.due = Clock::now() + pending.interval;
          pending.interval = std::min(pending.interval * 2, std::chrono::milliseconds(4000));
          outgoing_.push_back(std::move(o));
        }
      } else {
        if (o.subscribeIndex >= 0) {
          auto& answered = subscribes_[static_cast<size_t>(o.subscribeIndex)].answeredAt;
          if (!answered) answered = Clock::now();
        }
        send(o.data, o.to);
      }
    }
  }

  void send(const std::string& data, const sockaddr_in& to) const {
    ::sendto(sock_.get(), data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to),
             sizeof to);
  }

  mutable std::mutex mutex_;  // guards everything below that the loop and tests share
  mutable std::condition_variable cv_;
  PeerScript script_;
  std::vector<Received> subscribes_;
  std::vector<Received> otherRequests_;
  size_t subscribeDatagrams_ = 0;
  std::map<std::string, Transaction> transactions_;
  std::vector<size_t> held_;
  std::deque<PendingNotify> notifies_;
  std::map<std::string, Dialog> dialogs_;  // kSubscriptions, by Call-ID
  std::vector<Outgoing> outgoing_;
  uint64_t counter_ = 0;

  PeerFd sock_;
  PeerFd wake_;
  uint16_t port_ = 0;
  std::string nonce_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace px::test
