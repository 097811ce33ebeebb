// Parser for the tel: (RFC 3966) and sip:/sips: (RFC 3261) addresses Parlay X clients send.
// Hand-written rather than regex based: it runs for every address of every request, and the
// error reasons end up in SOAP faults, so they have to say what is wrong.
#include "address/Address.h"

#include "common/Ascii.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <string>
#include <utility>

namespace px {
namespace {

constexpr std::size_t kMaxAddressBytes = 512;
constexpr std::size_t kMaxE164Digits = 15;  // ITU-T E.164 caps a full number at 15 digits
constexpr std::size_t kMaxHostnameBytes = 253;
constexpr std::size_t kMaxLabelBytes = 63;
constexpr unsigned kMaxPort = 65535;

using ascii::isAlnum;
using ascii::isAlpha;
using ascii::isDigit;
using ascii::isHex;
bool isIn(char c, std::string_view set) {
  return set.find(c) != std::string_view::npos;
}
bool isWhitespace(char c) {
  return isIn(c, " \t\r\n\v\f");
}
bool isControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// RFC 2396 / RFC 3261 "unreserved" (alphanum / mark), also used by RFC 3966.
bool isUnreserved(char c) {
  return isAlnum(c) || isIn(c, "-_.!~*'()");
}
// RFC 3261 user = 1*( unreserved / escaped / user-unreserved ).
bool isSipUserChar(char c) {
  return isUnreserved(c) || isIn(c, "&=+$,;?/");
}
// RFC 3261 / RFC 3966 paramchar = param-unreserved / unreserved / escaped.
bool isParamChar(char c) {
  return isUnreserved(c) || isIn(c, "[]/:&+$");
}
// RFC 3966 uric (isdn-subaddress) = reserved / unreserved / escaped.
bool isUric(char c) {
  return isUnreserved(c) || isIn(c, ";/?:@&=+$,");
}
bool isVisualSeparator(char c) {
  return isIn(c, "-.()");
}

// True when s is non-empty and every character is allowed or part of a well-formed %HH escape.
template <typename Allowed>
bool isEscapedText(std::string_view s, Allowed allowed) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !isHex(s[i + 1]) || !isHex(s[i + 2])) return false;
      i += 2;
    } else if (!allowed(s[i])) {
      return false;
    }
  }
  return true;
}

// RFC 3261 hostname (also RFC 3966 domainname): dot-separated labels of alphanum and '-', not
// starting or ending with '-'; the last label starts with a letter (that is what tells a
// hostname from an IPv4 address); an optional trailing dot.
bool isHostname(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (h.empty() || h.size() > kMaxHostnameBytes) return false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = h.find('.', start);
    const std::string_view label =
        h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > kMaxLabelBytes) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return isAlpha(label.front());
    start = dot + 1;
  }
}

// Dotted quad, each part 0..255 without leading zeros (a leading zero could be read as octal).
bool isIPv4(std::string_view h) {
  std::size_t i = 0;
  for (int part = 1; part <= 4; ++part) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < h.size() && isDigit(h[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(h[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && h[start] == '0')) return false;
    if (part < 4) {
      if (i >= h.size() || h[i] != '.') return false;
      ++i;
    }
  }
  return i == h.size();
}

bool isIPv6(std::string_view h) {
  // inet_pton implements the RFC 4291 text forms (including "::" and an embedded IPv4 tail)
  // and refuses zone ids, which have no place in a SIP host.
  if (h.empty() || h.size() > INET6_ADDRSTRLEN) return false;
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(h).c_str(), &addr) == 1;
}

AddressParseResult fail(AddressError error, std::string reason) {
  AddressParseResult r;
  r.error = error;
  r.reason = std::move(reason);
  return r;
}

AddressParseResult invalid(std::string reason) {
  return fail(AddressError::kInvalid, std::move(reason));
}

// A telephone number without its visual separators. Returns false when a character is not
// allowed or the number has no digit; digitCount counts the significant characters.
bool stripPhoneNumber(std::string_view number, bool allowStarHash, std::string& out,
                      std::size_t& digitCount) {
  digitCount = 0;
  for (char c : number) {
    if (isDigit(c) || (allowStarHash && (c == '*' || c == '#'))) {
      out.push_back(c);
      ++digitCount;
    } else if (!isVisualSeparator(c)) {
      return false;
    }
  }
  return digitCount > 0;
}

// RFC 3966 global-number-digits: '+' and 1..15 digits with optional visual separators.
bool parseGlobalNumber(std::string_view text, std::string& out, std::string& reason) {
  if (text.empty() || text.front() != '+') {
    reason = "a global number starts with '+'";
    return false;
  }
  out = "+";
  std::size_t digits = 0;
  if (!stripPhoneNumber(text.substr(1), false, out, digits)) {
    reason = "a global number has only digits and the separators - . ( )";
    return false;
  }
  if (digits > kMaxE164Digits) {
    reason = "a global number has at most 15 digits";
    return false;
  }
  return true;
}

AddressParseResult parseTel(std::string_view rest) {
  const std::size_t semi = rest.find(';');
  const std::string_view number = rest.substr(0, semi);
  if (number.empty()) return invalid("tel: URI without a number");

  const bool global = number.front() == '+';
  Address a;
  a.scheme = AddressScheme::kTel;
  std::string reason;
  if (global) {
    if (!parseGlobalNumber(number, a.user, reason)) return invalid("tel: " + reason);
  } else {
    std::size_t digits = 0;
    if (!stripPhoneNumber(number, true, a.user, digits)) {
      return invalid("tel: a local number has only digits, * # and the separators - . ( )");
    }
  }

  // Parameters: phone-context is checked and normalised, the others are kept verbatim.
  std::string params;
  bool hasContext = false;
  std::string seenNames = ";";  // ";name;" list to refuse repeated parameters
  std::size_t pos = semi;
  while (pos != std::string_view::npos) {
    const std::size_t next = rest.find(';', pos + 1);
    const std::string_view param = rest.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    pos = next;

    const std::size_t eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const bool hasValue = eq != std::string_view::npos;
    const std::string_view value = hasValue ? param.substr(eq + 1) : std::string_view();
    if (name.empty()) return invalid("tel: empty parameter name");
    for (char c : name) {
      if (!isAlnum(c) && c != '-') return invalid("tel: bad parameter name");
    }
    const std::string key = ascii::lowered(name);
    if (seenNames.find(";" + key + ";") != std::string::npos) {
      return invalid("tel: parameter '" + key + "' given twice");
    }
    seenNames += key + ";";
    if (hasValue && value.empty()) return invalid("tel: parameter '" + key + "' without value");

    if (key == "phone-context") {
      if (global) return invalid("tel: phone-context is only for local numbers");
      if (!hasValue) return invalid("tel: phone-context without value");
      std::string context;
      if (value.front() == '+') {
        if (!parseGlobalNumber(value, context, reason))
          return invalid("tel: phone-context: " + reason);
      } else if (isHostname(value)) {
        context = ascii::lowered(value);
      } else {
        return invalid("tel: phone-context is neither a domain name nor a global number");
      }
      a.host = context;
      params += ";phone-context=" + context;
      hasContext = true;
      continue;
    }
    if (key == "ext") {
      std::string extension;
      std::size_t digits = 0;
      if (!hasValue || !stripPhoneNumber(value, false, extension, digits)) {
        return invalid("tel: ext must be digits");
      }
    } else if (key == "isub") {
      if (!hasValue || !isEscapedText(value, isUric)) return invalid("tel: bad isub value");
    } else if (hasValue && !isEscapedText(value, isParamChar)) {
      return invalid("tel: bad value for parameter '" + key + "'");
    }
    params += ';';
    params += param;
  }
  if (!global && !hasContext) return invalid("tel: a local number needs ;phone-context=");

  a.canonical = "tel:" + a.user + params;
  AddressParseResult r;
  r.address = std::move(a);
  return r;
}

// RFC 3261 19.1.1 parameters that choose the destination, the transport or the method of the
// request sent to the URI (lr makes a Request-URI look like a loose-routing proxy). The name is
// compared after %HH decoding: an escaped "m%61ddr" is the same parameter to the next hop.
bool isRoutingParameter(std::string_view name) {
  std::string decoded;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() && isHex(name[i + 1]) && isHex(name[i + 2])) {
      decoded += static_cast<char>(std::stoi(std::string(name.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      decoded += name[i];
    }
  }
  for (std::string_view p : {"maddr", "transport", "ttl", "lr", "method"}) {
    if (ascii::equalsNoCase(decoded, p)) return true;
  }
  return false;
}

AddressParseResult parseSip(AddressScheme scheme, std::string_view rest, AddressUse use) {
  Address a;
  a.scheme = scheme;

  std::string_view hostPart = rest;
  const std::size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    // '@' is allowed nowhere else in a SIP-URI, so the first one ends the userinfo.
    if (rest.find('@', at + 1) != std::string_view::npos) return invalid("more than one '@'");
    const std::string_view user = rest.substr(0, at);
    if (user.empty()) return invalid("empty user part before '@'");
    if (user.find(':') != std::string_view::npos) {
      return invalid("a password in the address is not accepted");
    }
    if (!isEscapedText(user, isSipUserChar)) return invalid("bad character in the user part");
    a.user = std::string(user);
    hostPart = rest.substr(at + 1);
  }

  if (hostPart.find('?') != std::string_view::npos) return invalid("URI headers are not accepted");

  const std::size_t semi = hostPart.find(';');
  const std::string_view hostPort = hostPart.substr(0, semi);
  const std::string_view params =
      semi == std::string_view::npos ? std::string_view() : hostPart.substr(semi);
  if (hostPort.empty()) return invalid("empty host");

  std::string_view afterHost;
  if (hostPort.front() == '[') {
    const std::size_t close = hostPort.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 reference");
    const std::string_view v6 = hostPort.substr(1, close - 1);
    if (!isIPv6(v6)) return invalid("bad IPv6 address");
    a.host = "[" + ascii::lowered(v6) + "]";
    afterHost = hostPort.substr(close + 1);
  } else {
    const std::size_t colon = hostPort.find(':');
    const std::string_view host = hostPort.substr(0, colon);
    if (host.empty()) return invalid("empty host");
    if (!isIPv4(host) && !isHostname(host)) return invalid("bad host");
    a.host = ascii::lowered(host);
    afterHost = colon == std::string_view::npos ? std::string_view() : hostPort.substr(colon);
  }

  if (!afterHost.empty()) {
    if (afterHost.front() != ':') return invalid("unexpected text after the host");
    const std::string_view port = afterHost.substr(1);
    if (port.empty()) return invalid("empty port");
    unsigned value = 0;
    for (char c : port) {
      if (!isDigit(c)) return invalid("port is not a number");
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > kMaxPort) return invalid("port out of range 1..65535");
    }
    if (value == 0) return invalid("port out of range 1..65535");
    a.port = value;
  }

  // uri-parameters: ;pname[=pvalue], both 1*paramchar. Kept verbatim (transport=, user=, ...).
  std::size_t pos = params.empty() ? std::string_view::npos : 0;
  while (pos != std::string_view::npos) {
    const std::size_t next = params.find(';', pos + 1);
    const std::string_view param = params.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    pos = next;
    const std::size_t eq = param.find('=');
    if (!isEscapedText(param.substr(0, eq), isParamChar)) return invalid("bad URI parameter");
    if (use == AddressUse::kTerminal && isRoutingParameter(param.substr(0, eq))) {
      return invalid("URI parameter '" + ascii::lowered(param.substr(0, eq)) +
                     "' is not accepted in a terminal address (it would steer SIP routing)");
    }
    if (eq != std::string_view::npos && !isEscapedText(param.substr(eq + 1), isParamChar)) {
      return invalid("bad URI parameter value");
    }
  }

  a.canonical = scheme == AddressScheme::kSips ? "sips:" : "sip:";
  if (!a.user.empty()) a.canonical += a.user + "@";
  a.canonical += a.host;
  if (a.port != 0) a.canonical += ":" + std::to_string(a.port);
  a.canonical += params;
  AddressParseResult r;
  r.address = std::move(a);
  return r;
}

}  // namespace

AddressParseResult parseAddress(std::string_view text, AddressUse use) {
  if (text.empty()) return invalid("empty address");
  if (text.size() > kMaxAddressBytes) return invalid("address longer than 512 bytes");
  if (isWhitespace(text.front()) || isWhitespace(text.back())) {
    return invalid("leading or trailing whitespace");
  }
  for (char c : text) {
    if (isControl(c)) return invalid("control character in address");
  }

  // RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return invalid("missing URI scheme");
  const std::string_view scheme = text.substr(0, colon);
  if (scheme.empty() || !isAlpha(scheme.front())) return invalid("missing URI scheme");
  for (char c : scheme) {
    if (!isAlnum(c) && !isIn(c, "+-.")) return invalid("missing URI scheme");
  }

  const std::string_view rest = text.substr(colon + 1);
  if (ascii::equalsNoCase(scheme, "tel")) return parseTel(rest);
  if (ascii::equalsNoCase(scheme, "sip")) return parseSip(AddressScheme::kSip, rest, use);
  if (ascii::equalsNoCase(scheme, "sips")) return parseSip(AddressScheme::kSips, rest, use);
  return fail(AddressError::kUnknownScheme,
              "unsupported URI scheme '" + ascii::lowered(scheme) + "'");
}

std::string toSipRequestUri(const Address& address, std::string_view telDomain) {
  if (address.scheme != AddressScheme::kTel || telDomain.empty()) return address.canonical;
  // RFC 3261 19.1.6: the whole telephone-subscriber (number and its parameters) becomes the
  // user part. Characters a SIP user part cannot carry as they are ('#', and ':' '[' ']' from
  // parameter values) are escaped.
  constexpr std::string_view kTelPrefix = "tel:";
  const std::string_view subscriber = std::string_view(address.canonical).substr(kTelPrefix.size());
  std::string uri = "sip:";
  uri.reserve(subscriber.size() + telDomain.size() + 16);
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : subscriber) {
    if (isSipUserChar(c) || c == '%') {
      uri += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      uri += '%';
      uri += kHex[u >> 4];
      uri += kHex[u & 0x0f];
    }
  }
  uri += '@';
  uri += telDomain;
  uri += ";user=phone";
  return uri;
}

}  // namespace px
