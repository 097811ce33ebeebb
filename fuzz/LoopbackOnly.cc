// Linked into fuzz_sip_watcher only: the fuzzer writes the Via, Contact and Record-Route headers
// the watcher answers to and subscribes through, so its sends could go anywhere (a Via maddr, a
// refresh SUBSCRIBE to a host name resolved over DNS). These definitions take precedence over
// libc's (and over the sanitizers' weak interceptors) and refuse every IP destination outside
// loopback with ENETUNREACH, whatever the network the fuzzer runs in. scripts/fuzz.sh also runs
// the target in a network namespace of its own when it can.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

std::atomic<unsigned> refused{0};

bool allowed(const sockaddr* addr, socklen_t len) {
  if (!addr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return true;  // connected socket
  switch (addr->sa_family) {
    case AF_INET: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
      sockaddr_in in{};
      std::memcpy(&in, addr, sizeof in);
      return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
    }
    case AF_INET6: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
      sockaddr_in6 in6{};
      std::memcpy(&in6, addr, sizeof in6);
      if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr)) return true;
      return IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) && in6.sin6_addr.s6_addr[12] == 127;
    }
    case AF_UNSPEC:   // connect(AF_UNSPEC) dissolves an association
    case AF_UNIX:     // local IPC (nscd)
    case AF_NETLINK:  // the kernel (getaddrinfo's interface query)
      return true;
    default:
      return false;
  }
}

// The destination as text, for the log.
const char* describe(const sockaddr* addr, char* buf, socklen_t size) {
  const void* ip = nullptr;
  if (addr->sa_family == AF_INET) ip = &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr;
  if (addr->sa_family == AF_INET6) ip = &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
  if (!ip || !inet_ntop(addr->sa_family, ip, buf, size)) return "(not an IP address)";
  return buf;
}

int refuse(const char* call, const sockaddr* addr) {
  // The first few refusals are worth seeing; a flood of them is not.
  if (refused.fetch_add(1) < 20) {
    char buf[INET6_ADDRSTRLEN] = {};
    std::fprintf(stderr, "LoopbackOnly: refused %s to %s\n", call, describe(addr, buf, sizeof buf));
  }
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
  if (!allowed(addr, len)) return refuse("connect", addr);
  return next(fd, addr, len);
}

extern "C" ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                          socklen_t len) {
  static const auto next =
      real<ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t)>("sendto");
  if (!allowed(addr, len)) return refuse("sendto", addr);
  return next(fd, buf, n, flags, addr, len);
}

extern "C" ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  static const auto next = real<ssize_t (*)(int, const msghdr*, int)>("sendmsg");
  if (msg && !allowed(static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen)) {
    return refuse("sendmsg", static_cast<const sockaddr*>(msg->msg_name));
  }
  return next(fd, msg, flags);
}

extern "C" int sendmmsg(int fd, mmsghdr* vec, unsigned n, int flags) {
  static const auto next = real<int (*)(int, mmsghdr*, unsigned, int)>("sendmmsg");
  for (unsigned i = 0; vec && i < n; ++i) {
    if (!allowed(static_cast<const sockaddr*>(vec[i].msg_hdr.msg_name),
                 vec[i].msg_hdr.msg_namelen)) {
      return refuse("sendmmsg", static_cast<const sockaddr*>(vec[i].msg_hdr.msg_name));
    }
  }
  return next(fd, vec, n, flags);
}
