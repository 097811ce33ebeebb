#include "sip/TcpGuard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace px {

namespace {

using Clock = std::chrono::steady_clock;

// Sweeps while connections come in are at most this frequent: one costs a few system calls per
// open descriptor of the process.
constexpr std::chrono::milliseconds kSweepInterval{25};
// While connections are open, they are recounted at least this often.
constexpr std::chrono::milliseconds kRecountInterval{1000};
// Connections refused per readable event at the cap; the rest wait for the next loop iteration.
constexpr int kRefuseBatch = 64;
// Descriptors probed when /proc/self/fd cannot be read (e.g. no descriptor left to open it).
constexpr long kMaxProbedFds = 65536;

struct Endpoint {
  std::string ip;
  uint16_t port = 0;
};

Endpoint endpointOf(const sockaddr* sa) {
  Endpoint out;
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    out.port = ntohs(v4->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    out.port = ntohs(v6->sin6_port);
  }
  out.ip = text;
  return out;
}

bool sameAddress(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}

bool isWildcard(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    return IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr);
  }
  return false;
}

uint16_t portOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

bool localAddress(int fd, sockaddr_storage& out) {
  socklen_t len = sizeof out;
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&out), &len) == 0 &&
         (out.ss_family == AF_INET || out.ss_family == AF_INET6);
}

bool intOption(int fd, int option, int& value) {
  socklen_t len = sizeof value;
  return ::getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0;
}

// Calls visit(fd) for each open descriptor of the process.
template <typename Visit>
void forEachFd(Visit visit) {
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      const long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || fd == own) continue;
      visit(static_cast<int>(fd));
    }
    ::closedir(dir);
    return;
  }
  rlimit limit{};
  long max = kMaxProbedFds;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    max = std::min<long>(max, static_cast<long>(limit.rlim_cur));
  }
  for (long fd = 0; fd < max; ++fd) {
    if (::fcntl(static_cast<int>(fd), F_GETFD) != -1) visit(static_cast<int>(fd));
  }
}

}  // namespace

TcpGuard::TcpGuard(su_root_t* root, const SipConfig::Tcp& limits, std::string bindHost,
                   uint16_t port, Publish publish)
    : root_(root),
      limits_(limits),
      bindHost_(std::move(bindHost)),
      port_(port),
      publish_(std::move(publish)) {}

TcpGuard::~TcpGuard() {
  // Deregister while the duplicated descriptors are still open; they close after.
  for (const auto& listener : listeners_) {
    if (listener->index >= 0) su_root_deregister(root_, listener->index);
  }
  listeners_.clear();
}

bool TcpGuard::start() {
  const std::optional<IpCidr> bound = IpCidr::parse(bindHost_);
  std::vector<int> found;
  forEachFd([&](int fd) {
    sockaddr_storage local{};
    int type = 0;
    int listening = 0;
    if (!localAddress(fd, local) || portOf(local) != port_) return;
    if (bound && !isWildcard(local)) {
      const auto address = IpCidr::fromSockaddr(reinterpret_cast<const sockaddr*>(&local));
      if (!address || !bound->contains(*address)) return;
    }
    if (!intOption(fd, SO_TYPE, type) || type != SOCK_STREAM) return;
    if (!intOption(fd, SO_ACCEPTCONN, listening) || listening == 0) return;
    found.push_back(fd);
  });
  timer_.reset(su_timer_create(su_root_task(root_), 0));
  if (!timer_) return false;
  for (int fd : found) {
    auto listener = std::make_unique<Listener>();
    listener->fd = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!listener->fd || !localAddress(listener->fd.get(), listener->local)) continue;
    // O_NONBLOCK lives on the shared open file: Sofia's accept() then never blocks on an empty
    // queue after the guard took its connections.
    const int flags = ::fcntl(listener->fd.get(), F_GETFL);
    if (flags == -1 || ::fcntl(listener->fd.get(), F_SETFL, flags | O_NONBLOCK) == -1) continue;
    su_wait_t wait[1] = {SU_WAIT_INIT};
    if (su_wait_create(wait, listener->fd.get(), SU_WAIT_ACCEPT) != 0) continue;
    listener->owner = this;
    listener->index = su_root_register(root_, wait, &TcpGuard::onListenerReadable,
                                       reinterpret_cast<su_wakeup_arg_t*>(listener.get()), 0);
    if (listener->index < 0) continue;
    listeners_.push_back(std::move(listener));
  }
  publish();
  return !listeners_.empty();
}

int TcpGuard::onListenerReadable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* arg) {
  auto* listener = reinterpret_cast<Listener*>(arg);
  try {
    listener->owner->listenerReadable(*listener);
  } catch (...) {
    // Never across Sofia's C frames; the next sweep recounts.
  }
  return 0;
}

void TcpGuard::listenerReadable(Listener& listener) {
  // The count only grows between sweeps (closed connections are not noticed until one): recount
  // before refusing anyone. Sooner than kSweepInterval when at least a quarter of the cap came
  // in since the last sweep found the rest open: short connections one after another (a client
  // that reconnects, 10,000 a second on loopback) then never look like a flood, and the sweep's
  // cost is still spread over a quarter of the cap's accepts.
  if (estimate_ >= limits_.maxConnections &&
      (Clock::now() - lastSweep_ >= kSweepInterval ||
       lastKept_ * 4 <= uint64_t{limits_.maxConnections} * 3)) {
    sweep();
  }
  if (estimate_ >= limits_.maxConnections) {
    for (int i = 0; i < kRefuseBatch; ++i) {
      UniqueFd s(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!s) break;
      // RST rather than FIN: no TIME_WAIT kept here for a flood.
      const linger hard{1, 0};
      ::setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      counters_.refused++;
    }
    publish();
  } else {
    estimate_++;  // Sofia accepts one connection for this event
  }
  armTimer(std::max(Clock::now(), lastSweep_ + kSweepInterval));
}

void TcpGuard::noteMessage(const sockaddr* peer) {
  if (!peer || connections_.empty()) return;
  const Endpoint remote = endpointOf(peer);
  auto it = connections_.find(remote.ip + "|" + std::to_string(remote.port));
  if (it != connections_.end()) it->second.active = Clock::now();
}

bool TcpGuard::isOurs(const sockaddr_storage& local) const {
  for (const auto& listener : listeners_) {
    if (local.ss_family != listener->local.ss_family || portOf(local) != port_) continue;
    if (isWildcard(listener->local) || sameAddress(local, listener->local)) return true;
  }
  return false;
}

void TcpGuard::sweep() {
  const auto now = Clock::now();
  lastSweep_ = now;
  for (auto& entry : connections_) entry.second.present = false;
  forEachFd([&](int fd) {
    sockaddr_storage local{};
    if (!localAddress(fd, local) || portOf(local) != port_ || !isOurs(local)) return;
    int listening = 0;
    if (!intOption(fd, SO_ACCEPTCONN, listening) || listening != 0) return;
    sockaddr_storage remote{};
    socklen_t len = sizeof remote;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) != 0) return;
    const Endpoint peer = endpointOf(reinterpret_cast<const sockaddr*>(&remote));
    Connection& c = connections_[peer.ip + "|" + std::to_string(peer.port)];
    if (c.fd != fd) {  // new, or the same remote endpoint on a new connection
      c = Connection{};
      c.fd = fd;
      c.ip = peer.ip;
      c.seen = c.active = now;
      const auto address = IpCidr::fromSockaddr(reinterpret_cast<const sockaddr*>(&remote));
      for (const IpCidr& source : preferred_) {
        if (address && source.contains(*address)) c.preferred = true;
      }
    }
    c.present = true;
  });
  for (auto it = connections_.begin(); it != connections_.end();) {
    it = it->second.present ? std::next(it) : connections_.erase(it);
  }

  const auto idle = std::chrono::milliseconds(limits_.idleTimeoutMs);
  std::vector<Connection*> live;
  live.reserve(connections_.size());
  for (auto& entry : connections_) {
    Connection& c = entry.second;
    if (c.closing) continue;
    if (now - c.active >= idle) {
      ::shutdown(c.fd, SHUT_RDWR);
      c.closing = true;
      counters_.idleClosed++;
      continue;
    }
    live.push_back(&c);
  }
  std::vector<CapCandidate> candidates;
  candidates.reserve(live.size());
  for (const Connection* c : live)
    candidates.push_back(CapCandidate{c->ip, c->seen, c->fd, c->preferred});
  std::vector<bool> close(live.size(), false);
  for (size_t index : overCaps(candidates, limits_)) close[index] = true;
  uint64_t kept = 0;
  std::optional<Clock::time_point> next;
  for (size_t i = 0; i < live.size(); ++i) {
    Connection* c = live[i];
    if (close[i]) {
      ::shutdown(c->fd, SHUT_RDWR);
      c->closing = true;
      counters_.refused++;
      continue;
    }
    kept++;
    if (!next || c->active + idle < *next) next = c->active + idle;
  }
  estimate_ = kept;
  lastKept_ = kept;
  publish();
  // The next idle deadline, and at least every kRecountInterval while connections are open so
  // that stats() and the count follow connections the peers closed.
  if (next) armTimer(std::max(std::min(*next, now + kRecountInterval), now + kSweepInterval));
  // Connections being closed are looked at again soon, to drop them once Sofia closed them.
  if (kept != connections_.size()) armTimer(now + kSweepInterval * 4);
}

std::vector<size_t> TcpGuard::overCaps(const std::vector<CapCandidate>& live,
                                       const SipConfig::Tcp& limits) {
  // Preferred sources, then the oldest keep their place; the newest beyond a cap are closed.
  std::vector<size_t> order(live.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&live](size_t x, size_t y) {
    const CapCandidate& a = live[x];
    const CapCandidate& b = live[y];
    if (a.preferred != b.preferred) return a.preferred;
    return a.seen != b.seen ? a.seen < b.seen : a.fd < b.fd;
  });
  std::unordered_map<std::string, uint32_t> perSource;
  uint64_t kept = 0;
  std::vector<size_t> closed;
  for (size_t index : order) {
    uint32_t& fromSource = perSource[live[index].ip];
    if (kept >= limits.maxConnections || fromSource >= limits.maxConnectionsPerSource) {
      closed.push_back(index);
      continue;
    }
    kept++;
    fromSource++;
  }
  return closed;
}

void TcpGuard::armTimer(Clock::time_point at) {
  if (!timer_ || (timerArmed_ && timerAt_ <= at)) return;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now());
  const long ms = wait.count() < 0 ? 0 : static_cast<long>(wait.count()) + 1;
  su_timer_reset(timer_.get());
  timerArmed_ = false;
  if (su_timer_set_interval(timer_.get(), &TcpGuard::onTimer,
                            reinterpret_cast<su_timer_arg_t*>(this),
                            static_cast<su_duration_t>(ms)) == 0) {
    timerArmed_ = true;
    timerAt_ = at;
  }
}

void TcpGuard::onTimer(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
  auto* self = reinterpret_cast<TcpGuard*>(arg);
  try {
    self->timerArmed_ = false;
    self->sweep();
  } catch (...) {
  }
}

void TcpGuard::publish() {
  counters_.open = estimate_;
  if (publish_) publish_(counters_);
}

}  // namespace px
