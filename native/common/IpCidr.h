// An IP address or CIDR block ("192.0.2.7", "10.0.0.0/8", "2001:db8::/32"), and matching a
// socket address against it. Used for sip.trustedNotifySources (config and SIP thread).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace px {

struct IpCidr {
  int family = AF_INET;             // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
  unsigned prefix = 32;             // significant bits

  // Parses "<IPv4 or IPv6 literal>[/<prefix>]"; nullopt when malformed or the prefix is too long.
  static std::optional<IpCidr> parse(std::string_view text) {
    const size_t slash = text.find('/');
    const std::string host(text.substr(0, slash));
    IpCidr out;
    if (::inet_pton(AF_INET, host.c_str(), out.bytes.data()) == 1) {
      out.family = AF_INET;
      out.prefix = 32;
    } else if (::inet_pton(AF_INET6, host.c_str(), out.bytes.data()) == 1) {
      out.family = AF_INET6;
      out.prefix = 128;
    } else {
      return std::nullopt;
    }
    if (slash != std::string_view::npos) {
      const std::string_view bits = text.substr(slash + 1);
      if (bits.empty() || bits.size() > 3) return std::nullopt;
      unsigned value = 0;
      for (char c : bits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
      }
      if (value > out.prefix) return std::nullopt;
      out.prefix = value;
    }
    return out;
  }

  // The address of a socket address as a /32 or /128; IPv4-mapped IPv6 becomes IPv4.
  static std::optional<IpCidr> fromSockaddr(const sockaddr* sa) {
    if (!sa) return std::nullopt;
    IpCidr out;
    if (sa->sa_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
      std::memcpy(out.bytes.data(), &v4->sin_addr, 4);
      return out;
    }
    if (sa->sa_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
      if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        std::memcpy(out.bytes.data(), reinterpret_cast<const uint8_t*>(&v6->sin6_addr) + 12, 4);
        return out;
      }
      out.family = AF_INET6;
      out.prefix = 128;
      std::memcpy(out.bytes.data(), &v6->sin6_addr, 16);
      return out;
    }
    return std::nullopt;
  }

  // True when `address` (a /32 or /128) lies in this block.
  bool contains(const IpCidr& address) const {
    if (address.family != family) return false;
    const unsigned whole = prefix / 8;
    if (std::memcmp(bytes.data(), address.bytes.data(), whole) != 0) return false;
    const unsigned rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (bytes[whole] & mask) == (address.bytes[whole] & mask);
  }

  std::string toString() const {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, bytes.data(), text, sizeof text);
    const unsigned full = family == AF_INET ? 32 : 128;
    return prefix == full ? std::string(text) : std::string(text) + "/" + std::to_string(prefix);
  }
};

}  // namespace px
