// Fuzz target: the SIP message path the presence watcher feeds from the network. One real
// PresenceWatcher (native/sip, UDP on 127.0.0.1, port 0) runs for the whole fuzzing session with
// this harness as its presence server. At start-up the harness lets it establish one long-lived
// subscription (watch) and keeps one presence fetch pending; every input is then sent as one
// datagram to the watcher, after these placeholders are replaced so that inputs can reach the
// dialog and fetch paths, not only the "unknown dialog: 481" one:
//   @CALLID@ @TAG@     Call-ID and the watcher's tag of the subscription dialog
//   @FCALLID@ @FTAG@   the same of the pending fetch
//   @PORT@ @WPORT@     this harness's and the watcher's UDP port
// (the notifier's tag is always "srv1" for the dialog and "srvf" for the fetch).
// Synchronisation: after the input, an OPTIONS with a fresh Call-ID; its 200 proves that the SIP
// thread has handled the input (one thread, one socket, in order); three unanswered OPTIONS
// (30 s) abort the run, so run it with -timeout above that. Meanwhile the harness answers
// the watcher's SUBSCRIBEs (refreshes, re-subscriptions after a fuzzed "terminated", fetches) like
// a presence server. A watcher that stops answering aborts the run (a hang is a finding).
//
// Built a second time as fuzz_sip_watcher_tcp (PX_FUZZ_SIP_TCP): the watcher also listens on TCP
// and each input is the whole byte stream of one TCP connection (stream framing, Content-Length,
// partial messages); the sync OPTIONS still goes over UDP.
//
// Sofia-SIP is the uninstrumented Debian build: coverage guidance comes from native/sip and
// native/presence. All sends are confined to loopback (LoopbackOnly.cc).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "FuzzCheck.h"
#include "sip/PresenceWatcher.h"
#include "support/UdpSipPeer.h"

namespace {

using px::test::PeerFd;
using px::test::SipMessage;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kOpen =
    "<?xml version='1.0' encoding='UTF-8'?>\r\n"
    "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:alice@example.test'>"
    "<tuple id='t1'><status><basic>open</basic></status></tuple></presence>";
constexpr std::string_view kWatched = "sip:alice@example.test";
constexpr std::string_view kFetched = "sip:bob@example.test";

std::string replaceAll(std::string text, std::string_view from, const std::string& to) {
  size_t pos = 0;
  int left = 64;  // bounded: the input size bounds it anyway, this bounds the growth
  while (left-- > 0 && (pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

class Harness {
 public:
  Harness() : sock_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    if (sock_.get() < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("bind");
    }
    port_ = ntohs(addr.sin_port);
    // Room for bursts (NOTIFY retransmissions, re-subscriptions): a dropped answer to the sync
    // OPTIONS would cost a 10 s wait.
    const int rcvbuf = 4 << 20;
    (void)::setsockopt(sock_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    px::GatewayConfig cfg;
    cfg.sip.bindHost = "127.0.0.1";
    cfg.sip.port = 0;
    cfg.sip.transports = {px::SipTransport::kUdp};
#ifdef PX_FUZZ_SIP_TCP
    cfg.sip.transports.push_back(px::SipTransport::kTcp);
#endif
    cfg.sip.presenceServerUri = "sip:127.0.0.1:" + std::to_string(port_);
    cfg.presence.fetchTimeoutMs = 60000;  // the pending fetch waits for a fuzzed NOTIFY
    cfg.presence.subscribeTimeoutMs = 5000;
    cfg.presence.resubscribeBackoffMs = 10;  // a fuzzed "terminated" re-subscribes at once
    cfg.presence.resubscribeBackoffMaxMs = 20;
    cfg.presence.maxSubscribeFailures = 1000;
    watcher_ = std::make_unique<px::PresenceWatcher>(cfg, [] {});
    watcherAddr_ = addr;
    watcherAddr_.sin_port = htons(watcher_->sipPort());

    watcher_->watch(std::string(kWatched));
    startFetch();
    sync();
    // The subscription's first NOTIFY was answered: the dialog is established.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!dialogUp_ || !fetchPending_) {
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "fuzz_sip_watcher: the watcher did not subscribe\n");
        std::abort();
      }
      pump(std::chrono::milliseconds(50));
    }
  }

  void run(std::string_view input) {
    // Consume what the watcher reported; restart what ended.
    for (const auto& outcome : watcher_->takeOutcomes()) {
      if (outcome.id == fetchId_) fetchPending_ = false;
    }
    for (const auto& event : watcher_->takeSubscriptionEvents()) {
      if (event.kind == px::SubscriptionEvent::Kind::kFailed) watcher_->watch(event.requestUri);
    }
    if (!fetchPending_) startFetch();

    std::string datagram(input);
    datagram = replaceAll(std::move(datagram), "@CALLID@", subCallId_);
    datagram = replaceAll(std::move(datagram), "@TAG@", subTag_);
    datagram = replaceAll(std::move(datagram), "@FCALLID@", fetchCallId_);
    datagram = replaceAll(std::move(datagram), "@FTAG@", fetchTag_);
    datagram = replaceAll(std::move(datagram), "@WPORT@", std::to_string(watcher_->sipPort()));
    datagram = replaceAll(std::move(datagram), "@PORT@", std::to_string(port_));
    if (datagram.size() > 65000) datagram.resize(65000);  // one UDP datagram
#ifdef PX_FUZZ_SIP_TCP
    sendStream(datagram);
#else
    send(datagram);
#endif
    sync();
  }

 private:
  void startFetch() {
    fetchId_ = watcher_->fetch(std::string(kFetched));
    fetchPending_ = true;
  }

#ifdef PX_FUZZ_SIP_TCP
  // The input as the byte stream of one TCP connection. The connection stays open over two sync
  // rounds (UDP OPTIONS) so that the SIP thread reads and handles the stream (its data was
  // queued before the first OPTIONS was sent), then it is reset (SO_LINGER 0: no TIME_WAIT piles
  // up). Not half-closed and waited for: the watcher keeps a connection whose stream it cannot
  // parse open after the peer's EOF (fuzz/README.md, findings), which would stall every input.
  void sendStream(const std::string& data) {
    PeerFd fd(::socket(AF_INET, SOCK_STREAM, 0));
    if (fd.get() < 0 || !connectWatcher(fd.get())) {
      const int err = errno;
      const px::WatcherStats stats = watcher_->stats();
      std::fprintf(stderr,
                   "fuzz_sip_watcher: cannot connect to the watcher over TCP: %s (guard: %llu "
                   "open, %llu refused)\n",
                   std::strerror(err), static_cast<unsigned long long>(stats.tcpConnections),
                   static_cast<unsigned long long>(stats.tcpRefused));
      std::abort();
    }
    const linger hard{1, 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the watcher closed early (e.g. a framing error): fine
      off += static_cast<size_t>(n);
    }
    sync();
    sync();
  }

  // connect(), which libFuzzer's SIGALRM (its -timeout watchdog) may interrupt: the connection
  // then completes in the background and poll() tells when.
  bool connectWatcher(int fd) const {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&watcherAddr_), sizeof watcherAddr_) == 0) {
      return true;
    }
    if (errno != EINTR) return false;
    pollfd p{fd, POLLOUT, 0};
    int ready = 0;
    do {
      ready = ::poll(&p, 1, 10000);
    } while (ready < 0 && errno == EINTR);
    int error = 0;
    socklen_t len = sizeof error;
    if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return false;
    errno = error;
    return error == 0;
  }
#endif

  void send(const std::string& data) {
    // A refused send (e.g. an empty datagram) is not a problem of the watcher.
    (void)::sendto(sock_.get(), data.data(), data.size(), 0,
                   reinterpret_cast<const sockaddr*>(&watcherAddr_), sizeof watcherAddr_);
  }

  // OPTIONS with a fresh Call-ID, then everything the watcher sends until its 200 arrives.
  void sync() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const std::string callId = "sync-" + std::to_string(++syncSeq_) + "@127.0.0.1";
      send("OPTIONS sip:127.0.0.1:" + std::to_string(watcher_->sipPort()) +
           " SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" +
           std::to_string(port_) + ";branch=z9hG4bKsync" + std::to_string(syncSeq_) +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:fuzz@127.0.0.1>;tag=fuzz\r\n"
           "To: <sip:parlayx-gateway@127.0.0.1>\r\n"
           "Call-ID: " +
           callId +
           "\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n");
      syncCallId_ = callId;
      synced_ = false;
      // Generous: a fuzzer at nice 19 on a busy machine can be off the CPU for seconds.
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (!synced_ && Clock::now() < deadline) pump(std::chrono::milliseconds(100));
      if (synced_) return;
    }
    std::fprintf(stderr, "fuzz_sip_watcher: the watcher stopped answering OPTIONS\n");
    std::abort();
  }

  void pump(std::chrono::milliseconds wait) {
    pollfd p{sock_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(sock_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;
      const std::optional<SipMessage> msg = SipMessage::parse(std::string_view(buf, size_t(n)));
      if (msg) handle(*msg);
    }
  }

  void handle(const SipMessage& msg) {
    if (!msg.isRequest) {
      if (msg.get("call-id") == syncCallId_) synced_ = true;
      if (msg.get("call-id") == subCallId_ && msg.cseqMethod() == "NOTIFY" && msg.status == 200) {
        dialogUp_ = true;
      }
      return;
    }
    if (msg.method != "SUBSCRIBE") return;
    const std::string toTag = SipMessage::param(msg.get("to"), "tag");
    const bool fetch = msg.get("expires") == "0";
    if (!toTag.empty()) {  // refresh or unsubscribe of the dialog
      send(response(msg, toTag));
      return;
    }
    if (fetch) {
      fetchCallId_ = msg.get("call-id");
      fetchTag_ = SipMessage::param(msg.get("from"), "tag");
      send(response(msg, "srvf"));
      return;
    }
    // A new subscription dialog (the first, or one after a failure): 200, then NOTIFY active.
    subCallId_ = msg.get("call-id");
    subTag_ = SipMessage::param(msg.get("from"), "tag");
    send(response(msg, "srv1"));
    send("NOTIFY sip:parlayx-gateway@127.0.0.1:" + std::to_string(watcher_->sipPort()) +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:" +
         std::to_string(port_) + ";branch=z9hG4bKn" + std::to_string(++notifySeq_) +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: " +
         msg.get("to") +
         ";tag=srv1\r\n"
         "To: " +
         msg.get("from") +
         "\r\n"
         "Call-ID: " +
         subCallId_ +
         "\r\n"
         "CSeq: 1 NOTIFY\r\n"
         "Contact: <sip:127.0.0.1:" +
         std::to_string(port_) +
         ">\r\n"
         "Event: presence\r\n"
         "Subscription-State: active;expires=3600\r\n"
         "Content-Type: application/pidf+xml\r\n"
         "Content-Length: " +
         std::to_string(kOpen.size()) + "\r\n\r\n" + std::string(kOpen));
  }

  std::string response(const SipMessage& request, const std::string& toTag) const {
    std::string out = "SIP/2.0 200 OK\r\n";
    for (const auto& via : request.all("via")) out += "Via: " + via + "\r\n";
    out += "From: " + request.get("from") + "\r\n";
    out += "To: " + request.get("to") +
           (SipMessage::param(request.get("to"), "tag").empty() ? ";tag=" + toTag : "") + "\r\n";
    out += "Call-ID: " + request.get("call-id") + "\r\n";
    out += "CSeq: " + request.get("cseq") + "\r\n";
    out += "Contact: <sip:127.0.0.1:" + std::to_string(port_) + ">\r\n";
    out += "Expires: " + request.get("expires") + "\r\n";
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  PeerFd sock_;
  uint16_t port_ = 0;
  sockaddr_in watcherAddr_{};
  std::unique_ptr<px::PresenceWatcher> watcher_;
  std::string subCallId_, subTag_, fetchCallId_, fetchTag_, syncCallId_;
  uint64_t fetchId_ = 0;
  uint64_t syncSeq_ = 0;
  uint64_t notifySeq_ = 0;
  bool fetchPending_ = false;
  bool dialogUp_ = false;
  bool synced_ = false;
};

Harness* harness = nullptr;  // made once, never destroyed: the watcher lives as long as the run

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();  // NOLINT: deliberately immortal, see above
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  harness->run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
