#include "config/ConfigValues.h"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include <unistd.h>

#include "address/Address.h"
#include "common/Ascii.h"
#include "common/IpCidr.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

using ascii::isAlnum;
using ascii::isAlpha;
using ascii::isHex;

// Loose IPv6 literal check (hex groups, colons, optional dotted IPv4 tail); the socket layer
// does the exact parse, this only catches obvious typos early.
bool isIpv6Literal(std::string_view s) {
  if (s.size() < 2 || s.size() > 45 || s.find(':') == std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return isHex(c) || c == ':' || c == '.'; });
}

// XML NCName restricted to ASCII: RPID activity element names are ASCII in practice.
bool isNcName(std::string_view s) {
  if (s.empty() || !(isAlpha(s.front()) || s.front() == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '_' || c == '-' || c == '.'; });
}

// RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool isUriScheme(std::string_view s) {
  if (s.empty() || s.size() > 64 || !isAlpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '+' || c == '-' || c == '.'; });
}

// RFC 3986 pchar minus the percent sign, which is checked separately (must start an escape).
bool isPathChar(char c) {
  static constexpr std::string_view kExtra = "-._~!$&'()*+,;=:@";
  return isAlnum(c) || kExtra.find(c) != std::string_view::npos;
}

// Why a base path is unusable, or "" when it is fine.
std::string basePathProblem(std::string_view p) {
  if (p.empty() || p.front() != '/') return "must start with '/'";
  if (p == "/") return "";
  if (p.back() == '/') return "must not end with '/'";
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '/') {
      if (i + 1 < p.size() && p[i + 1] == '/') return "must not contain empty segments ('//')";
      const size_t next = p.find('/', i + 1);
      const std::string_view seg = p.substr(i + 1, next == p.npos ? p.npos : next - i - 1);
      if (seg == "." || seg == "..") return "must not contain '.' or '..' segments";
    } else if (c == '%') {
      if (i + 2 >= p.size() || !isHex(p[i + 1]) || !isHex(p[i + 2])) {
        return "'%' must start a percent escape (%XX)";
      }
    } else if (!isPathChar(c)) {
      return "contains a character not allowed in a URL path";
    }
  }
  return "";
}

// "scheme:rest" with the scheme lower-cased when it is one of `schemes`, else "".
std::string asGroup(const std::string& uri, const std::vector<std::string>& schemes) {
  const size_t colon = uri.find(':');
  if (colon == std::string::npos) return "";
  const std::string scheme = ascii::lowered(std::string_view(uri).substr(0, colon));
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) return "";
  return scheme + uri.substr(colon);
}

}  // namespace

std::string readHost(const YamlReader& yaml, const Item& item) {
  const std::string s = yaml.text(item);
  if (!s.empty() && s.front() == '[') {
    yaml.fail(item,
              "expected a host name or IP address; write IPv6 addresses without brackets, got " +
                  quote(s));
  }
  if (!isHostName(s) && !isIpv6Literal(s)) {
    yaml.fail(item, "expected a host name or IP address, got " + describe(item.node));
  }
  return s;
}

// No user part needed, parameters allowed, also the routing ones such as ;transport=tcp: these
// are the operator's own URIs.
std::string readSipUri(const YamlReader& yaml, const Item& item) {
  const std::string s = yaml.text(item);
  const AddressParseResult r = parseAddress(s, AddressUse::kRouting);
  if (!r.ok()) {
    yaml.fail(item, "expected a sip: or sips: URI, got " + quote(s) + ": " + r.reason);
  }
  if (r.address.scheme != AddressScheme::kSip && r.address.scheme != AddressScheme::kSips) {
    yaml.fail(item, "expected a sip: or sips: URI, got " + quote(s));
  }
  return s;
}

std::string readBasePath(const YamlReader& yaml, const Item& item) {
  const std::string p = yaml.text(item);
  if (const std::string problem = basePathProblem(p); !problem.empty()) {
    yaml.fail(item, "expected a URL path like \"/parlayx\": " + problem + ", got " + quote(p));
  }
  return p;
}

std::string readTelDomain(const YamlReader& yaml, const Item& item) {
  const std::string d = yaml.text(item);
  const bool bracketedV6 = d.size() > 2 && d.front() == '[' && d.back() == ']' &&
                           isIpv6Literal(std::string_view(d).substr(1, d.size() - 2));
  if (!d.empty() && !isHostName(d) && !bracketedV6) {
    yaml.fail(item, "expected a domain name, IPv4 address, [IPv6] address or \"\", got " +
                        describe(item.node));
  }
  return d;
}

std::string readRealm(const YamlReader& yaml, const Item& item) {
  // Printable ASCII: the realm is sent in WWW-Authenticate as a quoted-string, where '"' and
  // '\' would need escaping that clients handle inconsistently.
  const std::string realm = yaml.text(item);
  const bool ok =
      !realm.empty() && realm.size() <= 127 && std::all_of(realm.begin(), realm.end(), [](char c) {
        return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
      });
  if (!ok) {
    yaml.fail(item, "expected 1..127 printable ASCII characters without '\"' or '\\', got " +
                        describe(item.node));
  }
  return realm;
}

std::vector<SipTransport> readTransports(const YamlReader& yaml, const Item& item) {
  std::vector<SipTransport> transports;
  for (const Item& e : yaml.list(item)) {
    const std::string name = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
    if (name != "udp" && name != "tcp") {
      yaml.fail(e, "expected 'udp' or 'tcp', got " + describe(e.node));
    }
    const SipTransport t = name == "udp" ? SipTransport::kUdp : SipTransport::kTcp;
    if (std::find(transports.begin(), transports.end(), t) != transports.end()) {
      yaml.fail(e, "duplicate transport " + quote(name));
    }
    transports.push_back(t);
  }
  if (transports.empty()) yaml.fail(item, "expected at least one transport (udp, tcp)");
  return transports;
}

std::vector<std::string> readBusyActivities(const YamlReader& yaml, const Item& item) {
  std::vector<std::string> names;
  for (const Item& e : yaml.list(item)) {
    const std::string name = e.node.IsScalar() ? e.node.Scalar() : "";
    if (!isNcName(name)) {
      yaml.fail(e, "expected an RPID activity element name (XML NCName), got " + describe(e.node));
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      yaml.fail(e, "duplicate activity " + quote(name));
    }
    names.push_back(name);
  }
  if (names.empty()) yaml.fail(item, "expected at least one activity name");
  return names;
}

std::vector<std::string> readGroupSchemes(const YamlReader& yaml, const Item& item) {
  std::vector<std::string> schemes;
  for (const Item& e : yaml.list(item)) {
    const std::string name = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
    if (!isUriScheme(name)) {
      yaml.fail(e, "expected a URI scheme name, got " + describe(e.node));
    }
    if (name == "tel" || name == "sip" || name == "sips") {
      yaml.fail(e, quote(name) + " addresses terminals and cannot be a group scheme");
    }
    if (std::find(schemes.begin(), schemes.end(), name) != schemes.end()) {
      yaml.fail(e, "duplicate scheme " + quote(name));
    }
    schemes.push_back(name);
  }
  return schemes;
}

std::map<std::string, std::vector<std::string>> readGroupMembers(
    const YamlReader& yaml, const Item& section, const std::vector<std::string>& schemes) {
  std::map<std::string, std::vector<std::string>> members;
  const std::string known = schemes.empty() ? "none configured" : join(schemes);
  for (auto& [uri, keyLine, item] : yaml.entries(section)) {
    const std::string group = asGroup(uri, schemes);
    const Item at{item.node, item.path, keyLine};
    if (group.empty()) {
      yaml.fail(at, "group URI " + quote(uri) + " does not use a group scheme (" + known + ")");
    }
    if (group.size() == group.find(':') + 1 || group.size() > 512 || hasControl(group) ||
        group.find(' ') != std::string::npos) {
      yaml.fail(at,
                "expected a group URI like \"" + schemes.front() + ":name\", got " + quote(uri));
    }
    if (members.count(group) != 0) {
      yaml.fail(at, "duplicate group " + quote(uri) + " (group schemes are case-insensitive)");
    }
    std::vector<std::string> addresses;
    std::set<std::string> canonical;
    for (const Item& e : yaml.list(item)) {
      if (!e.node.IsScalar()) {
        yaml.fail(e, "expected a tel:, sip: or sips: address, got " + describe(e.node));
      }
      const std::string& a = e.node.Scalar();
      if (!asGroup(a, schemes).empty()) {
        yaml.fail(e, "member " + quote(a) + " is a group: nested groups are not supported");
      }
      const AddressParseResult r = parseAddress(a);
      if (!r.ok()) {
        yaml.fail(e, "expected a tel:, sip: or sips: address, got " + quote(a) + ": " + r.reason);
      }
      if (!canonical.insert(r.address.canonical).second) {
        yaml.fail(e, "duplicate member " + quote(a));
      }
      addresses.push_back(a);
    }
    if (addresses.empty()) yaml.fail(item, "expected at least one member address");
    members.emplace(group, std::move(addresses));
  }
  return members;
}

std::vector<std::string> readTrustedSources(const YamlReader& yaml, const Item& item) {
  std::vector<std::string> sources;
  for (const Item& e : yaml.list(item)) {
    const std::string s = e.node.IsScalar() ? e.node.Scalar() : "";
    const std::optional<IpCidr> cidr = IpCidr::parse(s);
    if (!cidr) {
      yaml.fail(e,
                "expected an IP address or CIDR block (192.0.2.1, 10.0.0.0/8, "
                "2001:db8::/32), got " +
                    describe(e.node));
    }
    sources.push_back(cidr->toString());
  }
  return sources;
}

UsageDurability readDurability(const YamlReader& yaml, const Item& item) {
  const std::string name = item.node.IsScalar() ? ascii::lowered(item.node.Scalar()) : "";
  if (name != "durable" && name != "batched") {
    yaml.fail(item, "expected 'durable' or 'batched', got " + describe(item.node));
  }
  return name == "durable" ? UsageDurability::kDurable : UsageDurability::kBatched;
}

std::string machineName(const YamlReader& yaml, const Item& at) {
  char buf[256] = {};  // POSIX host names are at most 255 bytes
  if (gethostname(buf, sizeof buf - 1) != 0) {
    yaml.fail(at, "cannot determine the host name (" + std::generic_category().message(errno) +
                      "); set it in the configuration");
  }
  if (buf[0] == '\0') {
    yaml.fail(at, "this machine has no host name; set it in the configuration");
  }
  return buf;
}

}  // namespace px::config
