// Linked into fuzz_sip_watcher only: the fuzzer writes the Via, Contact and Record-Route headers
// the watcher answers to and subscribes through, so its sends could go anywhere (a Via maddr, a
// refresh SUBSCRIBE to any address, a DNS query for a host name). These definitions take
// precedence over libc's (and over the sanitizers' weak interceptors): every IP destination
// outside loopback is redirected to a loopback "sink" socket that never answers, whatever network
// the fuzzer runs in. So the watcher sees what a silent network looks like (timeouts), nothing
// leaves the machine, and the first few redirections are logged. scripts/fuzz.sh also runs the
// target in a network namespace of its own when it can.
//
// Redirecting rather than failing with ENETUNREACH: with an unroutable name server, Sofia-SIP's
// resolver retries socket()/connect() without end inside nta_outgoing_tcreate, which blocks the
// SIP thread (reported separately); a fuzzer stuck there finds nothing else.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

std::atomic<unsigned> redirected{0};

enum class Verdict { kPass, kRedirect, kRefuse };

Verdict judge(const sockaddr* addr, socklen_t len) {
  if (!addr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return Verdict::kPass;
  switch (addr->sa_family) {
    case AF_INET: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return Verdict::kRefuse;
      sockaddr_in in{};
      std::memcpy(&in, addr, sizeof in);
      return (ntohl(in.sin_addr.s_addr) >> 24) == 127 ? Verdict::kPass : Verdict::kRedirect;
    }
    case AF_INET6: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return Verdict::kRefuse;
      sockaddr_in6 in6{};
      std::memcpy(&in6, addr, sizeof in6);
      if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr)) return Verdict::kPass;
      if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) && in6.sin6_addr.s6_addr[12] == 127) {
        return Verdict::kPass;
      }
      return Verdict::kRedirect;
    }
    case AF_UNSPEC:   // connect(AF_UNSPEC) dissolves an association
    case AF_UNIX:     // local IPC (nscd)
    case AF_NETLINK:  // the kernel (getaddrinfo's interface query)
      return Verdict::kPass;
    default:
      return Verdict::kRefuse;
  }
}

// The UDP port of the sink: a socket on 127.0.0.1 that is never read (its small buffer fills and
// the kernel drops the rest). Made once, kept for the life of the process.
in_port_t sinkPort() {
  static const in_port_t port = [] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::fprintf(stderr, "LoopbackOnly: cannot make the sink socket\n");
      std::abort();
    }
    return a.sin_port;
  }();
  return port;
}

// The sink's address in the destination's family (v4-mapped for IPv6 sockets).
struct Sink {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

Sink sinkFor(const char* call, const sockaddr* original) {
  Sink s;
  char text[INET6_ADDRSTRLEN] = "?";
  if (original->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, original, sizeof in);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.sin_port = sinkPort();
    std::memcpy(&s.storage, &in, sizeof in);
    s.len = sizeof in;
  } else {
    sockaddr_in6 in6{};
    std::memcpy(&in6, original, sizeof in6);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    in6.sin6_addr = in6addr_any;
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    in6.sin6_addr.s6_addr[12] = 127;
    in6.sin6_addr.s6_addr[15] = 1;
    in6.sin6_port = sinkPort();
    in6.sin6_scope_id = 0;
    std::memcpy(&s.storage, &in6, sizeof in6);
    s.len = sizeof in6;
  }
  // The first few are worth seeing; a flood of them is not.
  if (redirected.fetch_add(1) < 20) {
    std::fprintf(stderr, "LoopbackOnly: %s to %s redirected to the loopback sink\n", call, text);
  }
  return s;
}

int refuse() {
  errno = ENETUNREACH;
  return -1;
}

template <typename Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int connect(int fd, const sockaddr* addr, socklen_t len) {
  static const auto next = real<int (*)(int, const sockaddr*, socklen_t)>("connect");
  switch (judge(addr, len)) {
    case Verdict::kPass:
      return next(fd, addr, len);
    case Verdict::kRedirect: {
      const Sink s = sinkFor("connect", addr);
      return next(fd, s.addr(), s.len);
    }
    case Verdict::kRefuse:
      break;
  }
  return refuse();
}

extern "C" ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                          socklen_t len) {
  static const auto next =
      real<ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t)>("sendto");
  switch (judge(addr, len)) {
    case Verdict::kPass:
      return next(fd, buf, n, flags, addr, len);
    case Verdict::kRedirect: {
      const Sink s = sinkFor("sendto", addr);
      return next(fd, buf, n, flags, s.addr(), s.len);
    }
    case Verdict::kRefuse:
      break;
  }
  return refuse();
}

extern "C" ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  static const auto next = real<ssize_t (*)(int, const msghdr*, int)>("sendmsg");
  if (!msg) return next(fd, msg, flags);
  switch (judge(static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen)) {
    case Verdict::kPass:
      return next(fd, msg, flags);
    case Verdict::kRedirect: {
      Sink s = sinkFor("sendmsg", static_cast<const sockaddr*>(msg->msg_name));
      msghdr copy = *msg;
      copy.msg_name = &s.storage;
      copy.msg_namelen = s.len;
      return next(fd, &copy, flags);
    }
    case Verdict::kRefuse:
      break;
  }
  return refuse();
}

extern "C" int sendmmsg(int fd, mmsghdr* vec, unsigned n, int flags) {
  static const auto next = real<int (*)(int, mmsghdr*, unsigned, int)>("sendmmsg");
  if (!vec) return next(fd, vec, n, flags);
  std::vector<mmsghdr> copy(vec, vec + n);
  std::vector<Sink> sinks(n);
  for (unsigned i = 0; i < n; ++i) {
    const auto* name = static_cast<const sockaddr*>(copy[i].msg_hdr.msg_name);
    switch (judge(name, copy[i].msg_hdr.msg_namelen)) {
      case Verdict::kPass:
        break;
      case Verdict::kRedirect:
        sinks[i] = sinkFor("sendmmsg", name);
        copy[i].msg_hdr.msg_name = &sinks[i].storage;
        copy[i].msg_hdr.msg_namelen = sinks[i].len;
        break;
      case Verdict::kRefuse:
        return refuse();
    }
  }
  const int sent = next(fd, copy.data(), n, flags);
  for (int i = 0; i < sent; ++i) vec[i].msg_len = copy[static_cast<size_t>(i)].msg_len;
  return sent;
}
