// Loads config/gateway.yaml into GatewayConfig. yaml-cpp only parses; everything else (unknown
// and duplicate keys, types, ranges, formats) is checked through YamlReader so that every mistake
// is reported with file, line and dotted key path instead of being silently ignored. The sections
// of the gateway itself are read here; authentication, requesters and policy by
// RequesterConfigReader and PolicyConfigReader, then checked by the override rule.
#include "config/GatewayConfig.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <unistd.h>

#include "address/Address.h"
#include "common/Ascii.h"
#include "common/IpCidr.h"
#include "config/OutboundConfigReader.h"
#include "config/OverrideRule.h"
#include "config/PolicyConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/TextSyntax.h"
#include "config/YamlReader.h"

namespace px {

namespace {

using ascii::isAlnum;
using ascii::isAlpha;
using ascii::isHex;
using config::checkOverrides;
using config::describe;
using config::hasControl;
using config::isHostName;
using config::Item;
using config::join;
using config::LevelSites;
using config::lineOf;
using config::PolicyConfigReader;
using config::quote;
using config::RequesterConfigReader;
using config::RequesterSites;
using config::YamlReader;

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

class Loader {
 public:
  explicit Loader(const YamlReader& yaml) : yaml_(yaml) {}

  GatewayConfig load(const YAML::Node& root) const {
    GatewayConfig cfg;
    const Item doc{root, "", lineOf(root, 1)};
    if (!root.IsNull() && !root.IsMap()) {
      yaml_.fail(doc,
                 "expected a mapping of sections (service, http, sip, ...), got " + describe(root));
    }
    auto top = yaml_.fields(doc, {"service", "http", "sip", "presence", "groups", "authentication",
                                  "requesters", "policy", "notifications", "outbound", "usage"});
    // Where a section is, or an empty one at its path when it is absent (defaults).
    const auto section = [&](const std::string& key) {
      const auto it = top.find(key);
      return it != top.end() ? it->second : YamlReader::absent(doc, key);
    };
    if (auto it = top.find("service"); it != top.end()) readService(it->second, cfg);
    if (auto it = top.find("http"); it != top.end()) readHttp(it->second, cfg.http);
    if (auto it = top.find("sip"); it != top.end()) readSip(it->second, cfg.sip);
    if (auto it = top.find("presence"); it != top.end()) readPresence(it->second, cfg.presence);
    if (auto it = top.find("groups"); it != top.end()) readGroups(it->second, cfg.groups);
    const RequesterConfigReader requesters(yaml_);
    cfg.authentication = requesters.readAuthentication(section("authentication"));
    RequesterSites requesterSites;
    cfg.requesters = requesters.readRequesters(section("requesters"), requesterSites);
    LevelSites policySites;
    cfg.policy = PolicyConfigReader(yaml_).readPolicy(section("policy"), policySites);
    // After both sections: requesters may come before policy in the file.
    checkOverrides(yaml_, cfg.policy.defaults, policySites, cfg.requesters, requesterSites);
    // Always read: the database path is resolved even when left default.
    const auto notifications = top.find("notifications");
    readNotifications(
        notifications != top.end() ? notifications->second : Item{YAML::Node(), "notifications", 0},
        cfg.notifications);
    if (auto it = top.find("outbound"); it != top.end()) {
      cfg.outbound = config::OutboundConfigReader(yaml_).read(it->second);
    }
    // Always read: the database path and the host name are resolved even when left default.
    const auto usage = top.find("usage");
    readUsage(usage != top.end() ? usage->second : Item{YAML::Node(), "usage", 0}, cfg.usage);
    return cfg;
  }

 private:
  uint16_t port(const Item& item) const {
    return static_cast<uint16_t>(yaml_.integer(item, 0, 65535));
  }

  // Listening host for node:http or Sofia-SIP: a host name, IPv4 or bare IPv6 literal.
  std::string host(const Item& item) const {
    const std::string s = yaml_.text(item);
    if (!s.empty() && s.front() == '[') {
      yaml_.fail(item,
                 "expected a host name or IP address; write IPv6 addresses without brackets, got " +
                     quote(s));
    }
    if (!isHostName(s) && !isIpv6Literal(s)) {
      yaml_.fail(item, "expected a host name or IP address, got " + describe(item.node));
    }
    return s;
  }

  // A sip:/sips: URI as parsed by the address module (no user part needed, parameters allowed,
  // also the routing ones such as ;transport=tcp: the operator's own URIs).
  std::string sipUri(const Item& item) const {
    const std::string s = yaml_.text(item);
    const AddressParseResult r = parseAddress(s, AddressUse::kRouting);
    if (!r.ok()) {
      yaml_.fail(item, "expected a sip: or sips: URI, got " + quote(s) + ": " + r.reason);
    }
    if (r.address.scheme != AddressScheme::kSip && r.address.scheme != AddressScheme::kSips) {
      yaml_.fail(item, "expected a sip: or sips: URI, got " + quote(s));
    }
    return s;
  }

  void readService(const Item& section, GatewayConfig& cfg) const {
    auto f = yaml_.fields(section, {"name"});
    if (auto it = f.find("name"); it != f.end()) cfg.serviceName = yaml_.label(it->second, 127);
  }

  void readHttp(const Item& section, HttpConfig& http) const {
    auto f = yaml_.fields(section, {"host", "port", "basePath", "maxBodyBytes",
                                    "keepAliveTimeoutMs", "requestTimeoutMs", "headersTimeoutMs",
                                    "idleTimeoutMs", "maxConnections", "maxConnectionsPerSource"});
    if (auto it = f.find("host"); it != f.end()) http.host = host(it->second);
    if (auto it = f.find("port"); it != f.end()) http.port = port(it->second);
    if (auto it = f.find("basePath"); it != f.end()) {
      const std::string p = yaml_.text(it->second);
      if (const std::string problem = basePathProblem(p); !problem.empty()) {
        yaml_.fail(it->second,
                   "expected a URL path like \"/parlayx\": " + problem + ", got " + quote(p));
      }
      http.basePath = p;
    }
    if (auto it = f.find("maxBodyBytes"); it != f.end()) {
      http.maxBodyBytes = yaml_.integer(it->second, 1024, 16777216);
    }
    if (auto it = f.find("keepAliveTimeoutMs"); it != f.end()) {
      http.keepAliveTimeoutMs = yaml_.integer(it->second, 0, 600000);
    }
    if (auto it = f.find("requestTimeoutMs"); it != f.end()) {
      http.requestTimeoutMs = yaml_.integer(it->second, 100, 600000);
    }
    // The headers are part of the request: a larger headers timeout could never apply.
    http.headersTimeoutMs = std::min<uint32_t>(5000, http.requestTimeoutMs);
    if (auto it = f.find("headersTimeoutMs"); it != f.end()) {
      http.headersTimeoutMs = yaml_.integer(it->second, 100, 600000);
      if (http.headersTimeoutMs > http.requestTimeoutMs) {
        yaml_.fail(it->second, "must not exceed http.requestTimeoutMs (" +
                                   std::to_string(http.requestTimeoutMs) + "), got " +
                                   std::to_string(http.headersTimeoutMs));
      }
    }
    if (auto it = f.find("idleTimeoutMs"); it != f.end()) {
      http.idleTimeoutMs = yaml_.integer(it->second, 100, 600000);
    }
    if (auto it = f.find("maxConnections"); it != f.end()) {
      http.maxConnections = yaml_.integer(it->second, 1, 100000);
    }
    http.maxConnectionsPerSource = std::min<uint32_t>(128, http.maxConnections);
    if (auto it = f.find("maxConnectionsPerSource"); it != f.end()) {
      http.maxConnectionsPerSource = yaml_.integer(it->second, 1, 100000);
      if (http.maxConnectionsPerSource > http.maxConnections) {
        yaml_.fail(it->second, "must not exceed http.maxConnections (" +
                                   std::to_string(http.maxConnections) + "), got " +
                                   std::to_string(http.maxConnectionsPerSource));
      }
    }
  }

  void readSip(const Item& section, SipConfig& sip) const {
    auto f = yaml_.fields(
        section, {"bindHost", "port", "transports", "watcherUri", "presenceServerUri", "telDomain",
                  "userAgent", "tcp", "checkNotifySource", "trustedNotifySources"});
    if (auto it = f.find("bindHost"); it != f.end()) sip.bindHost = host(it->second);
    if (auto it = f.find("port"); it != f.end()) sip.port = port(it->second);
    if (auto it = f.find("transports"); it != f.end()) {
      std::vector<SipTransport> transports;
      for (const Item& e : yaml_.list(it->second)) {
        const std::string name = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
        if (name != "udp" && name != "tcp") {
          yaml_.fail(e, "expected 'udp' or 'tcp', got " + describe(e.node));
        }
        const SipTransport t = name == "udp" ? SipTransport::kUdp : SipTransport::kTcp;
        if (std::find(transports.begin(), transports.end(), t) != transports.end()) {
          yaml_.fail(e, "duplicate transport " + quote(name));
        }
        transports.push_back(t);
      }
      if (transports.empty()) yaml_.fail(it->second, "expected at least one transport (udp, tcp)");
      sip.transports = std::move(transports);
    }
    if (auto it = f.find("watcherUri"); it != f.end()) sip.watcherUri = sipUri(it->second);
    if (auto it = f.find("presenceServerUri"); it != f.end()) {
      sip.presenceServerUri = sipUri(it->second);
    }
    if (auto it = f.find("telDomain"); it != f.end()) {
      const std::string d = yaml_.text(it->second);
      const bool bracketedV6 = d.size() > 2 && d.front() == '[' && d.back() == ']' &&
                               isIpv6Literal(std::string_view(d).substr(1, d.size() - 2));
      if (!d.empty() && !isHostName(d) && !bracketedV6) {
        yaml_.fail(it->second,
                   "expected a domain name, IPv4 address, [IPv6] address or \"\", got " +
                       describe(it->second.node));
      }
      sip.telDomain = d;
    }
    if (auto it = f.find("userAgent"); it != f.end()) sip.userAgent = yaml_.label(it->second, 255);
    if (auto it = f.find("tcp"); it != f.end()) readSipTcp(it->second, sip.tcp);
    if (auto it = f.find("checkNotifySource"); it != f.end()) {
      sip.checkNotifySource = yaml_.boolean(it->second);
    }
    if (auto it = f.find("trustedNotifySources"); it != f.end()) {
      std::vector<std::string> sources;
      for (const Item& e : yaml_.list(it->second)) {
        const std::string s = e.node.IsScalar() ? e.node.Scalar() : "";
        const std::optional<IpCidr> cidr = IpCidr::parse(s);
        if (!cidr) {
          yaml_.fail(e,
                     "expected an IP address or CIDR block (192.0.2.1, 10.0.0.0/8, "
                     "2001:db8::/32), got " +
                         describe(e.node));
        }
        sources.push_back(cidr->toString());
      }
      sip.trustedNotifySources = std::move(sources);
    }
  }

  void readSipTcp(const Item& section, SipConfig::Tcp& tcp) const {
    auto f = yaml_.fields(section, {"idleTimeoutMs", "maxConnections", "maxConnectionsPerSource"});
    if (auto it = f.find("idleTimeoutMs"); it != f.end()) {
      tcp.idleTimeoutMs = yaml_.integer(it->second, 1000, 3600000);
    }
    if (auto it = f.find("maxConnections"); it != f.end()) {
      tcp.maxConnections = yaml_.integer(it->second, 1, 65536);
    }
    if (auto it = f.find("maxConnectionsPerSource"); it != f.end()) {
      tcp.maxConnectionsPerSource = yaml_.integer(it->second, 1, tcp.maxConnections);
    } else if (tcp.maxConnectionsPerSource > tcp.maxConnections) {
      tcp.maxConnectionsPerSource = tcp.maxConnections;  // the default never exceeds the total
    }
  }

  void readPresence(const Item& section, PresenceConfig& presence) const {
    auto f = yaml_.fields(section,
                          {"fetchTimeoutMs", "busyActivities", "subscriptionExpiresSec",
                           "subscribeTimeoutMs", "resubscribeBackoffMs", "resubscribeBackoffMaxMs",
                           "maxSubscribeFailures", "maxSubscribesInFlight"});
    if (auto it = f.find("fetchTimeoutMs"); it != f.end()) {
      presence.fetchTimeoutMs = yaml_.integer(it->second, 50, 60000);
    }
    if (auto it = f.find("subscriptionExpiresSec"); it != f.end()) {
      presence.subscriptionExpiresSec = yaml_.integer(it->second, 1, 86400);
    }
    if (auto it = f.find("subscribeTimeoutMs"); it != f.end()) {
      presence.subscribeTimeoutMs = yaml_.integer(it->second, 100, 120000);
    }
    if (auto it = f.find("resubscribeBackoffMs"); it != f.end()) {
      presence.resubscribeBackoffMs = yaml_.integer(it->second, 10, 3600000);
    }
    if (auto it = f.find("resubscribeBackoffMaxMs"); it != f.end()) {
      presence.resubscribeBackoffMaxMs = yaml_.integer(it->second, 10, 3600000);
    }
    if (presence.resubscribeBackoffMaxMs < presence.resubscribeBackoffMs) {
      const auto it = f.find("resubscribeBackoffMaxMs");
      yaml_.fail(it != f.end() ? it->second : f.at("resubscribeBackoffMs"),
                 "resubscribeBackoffMaxMs must not be smaller than resubscribeBackoffMs");
    }
    if (auto it = f.find("maxSubscribeFailures"); it != f.end()) {
      presence.maxSubscribeFailures = yaml_.integer(it->second, 1, 1000);
    }
    if (auto it = f.find("maxSubscribesInFlight"); it != f.end()) {
      presence.maxSubscribesInFlight = yaml_.integer(it->second, 1, 100000);
    }
    if (auto it = f.find("busyActivities"); it != f.end()) {
      std::vector<std::string> names;
      for (const Item& e : yaml_.list(it->second)) {
        const std::string name = e.node.IsScalar() ? e.node.Scalar() : "";
        if (!isNcName(name)) {
          yaml_.fail(
              e, "expected an RPID activity element name (XML NCName), got " + describe(e.node));
        }
        if (std::find(names.begin(), names.end(), name) != names.end()) {
          yaml_.fail(e, "duplicate activity " + quote(name));
        }
        names.push_back(name);
      }
      if (names.empty()) yaml_.fail(it->second, "expected at least one activity name");
      presence.busyActivities = std::move(names);
    }
  }

  void readGroups(const Item& section, GroupsConfig& groups) const {
    auto f = yaml_.fields(section, {"schemes", "members"});
    // Schemes first: member keys are checked against them whatever the order in the file.
    if (auto it = f.find("schemes"); it != f.end()) {
      std::vector<std::string> schemes;
      for (const Item& e : yaml_.list(it->second)) {
        const std::string name = e.node.IsScalar() ? ascii::lowered(e.node.Scalar()) : "";
        if (!isUriScheme(name)) {
          yaml_.fail(e, "expected a URI scheme name, got " + describe(e.node));
        }
        if (name == "tel" || name == "sip" || name == "sips") {
          yaml_.fail(e, quote(name) + " addresses terminals and cannot be a group scheme");
        }
        if (std::find(schemes.begin(), schemes.end(), name) != schemes.end()) {
          yaml_.fail(e, "duplicate scheme " + quote(name));
        }
        schemes.push_back(name);
      }
      groups.schemes = std::move(schemes);
    }
    if (auto it = f.find("members"); it != f.end()) {
      groups.members = readMembers(it->second, groups.schemes);
    }
  }

  void readNotifications(const Item& section, NotificationsConfig& n) const {
    auto f = yaml_.fields(section,
                          {"database", "defaultDurationSec", "maxDurationSec", "minFrequencyMs",
                           "unlimitedCountAllowed", "maxCount", "busyCriteriaAllowed", "delivery"});
    const auto database = f.find("database");
    n.database =
        database != f.end()
            ? yaml_.resolvePath(database->second, yaml_.filePath(database->second))
            : yaml_.resolvePath(Item{YAML::Node(), YamlReader::child(section.path, "database"), 0},
                                n.database);
    if (auto it = f.find("maxDurationSec"); it != f.end()) {
      n.maxDurationSec = yaml_.integer(it->second, 1, 31536000);
    }
    if (auto it = f.find("defaultDurationSec"); it != f.end()) {
      n.defaultDurationSec = yaml_.integer(it->second, 1, 31536000);
    }
    if (n.defaultDurationSec > n.maxDurationSec) {
      const auto it = f.find("defaultDurationSec");
      yaml_.fail(it != f.end() ? it->second : f.at("maxDurationSec"),
                 "defaultDurationSec must not be larger than maxDurationSec");
    }
    if (auto it = f.find("minFrequencyMs"); it != f.end()) {
      n.minFrequencyMs = yaml_.integer(it->second, 0, 86400000);
    }
    if (auto it = f.find("unlimitedCountAllowed"); it != f.end()) {
      n.unlimitedCountAllowed = yaml_.boolean(it->second);
    }
    if (auto it = f.find("maxCount"); it != f.end()) {
      n.maxCount = yaml_.integer(it->second, 1, 1000000000);
    }
    if (auto it = f.find("busyCriteriaAllowed"); it != f.end()) {
      n.busyCriteriaAllowed = yaml_.boolean(it->second);
    }
    if (auto it = f.find("delivery"); it != f.end()) readDelivery(it->second, n.delivery);
  }

  void readDelivery(const Item& section, DeliveryConfig& d) const {
    auto f =
        yaml_.fields(section, {"timeoutMs", "maxAttempts", "retryBackoffMs", "retryBackoffMaxMs",
                               "maxSocketsPerEndpoint", "maxConnections"});
    if (auto it = f.find("timeoutMs"); it != f.end()) {
      d.timeoutMs = yaml_.integer(it->second, 100, 120000);
    }
    if (auto it = f.find("maxAttempts"); it != f.end()) {
      d.maxAttempts = yaml_.integer(it->second, 1, 100);
    }
    if (auto it = f.find("retryBackoffMs"); it != f.end()) {
      d.retryBackoffMs = yaml_.integer(it->second, 10, 3600000);
    }
    if (auto it = f.find("retryBackoffMaxMs"); it != f.end()) {
      d.retryBackoffMaxMs = yaml_.integer(it->second, 10, 3600000);
    }
    if (d.retryBackoffMaxMs < d.retryBackoffMs) {
      const auto it = f.find("retryBackoffMaxMs");
      yaml_.fail(it != f.end() ? it->second : f.at("retryBackoffMs"),
                 "retryBackoffMaxMs must not be smaller than retryBackoffMs");
    }
    if (auto it = f.find("maxSocketsPerEndpoint"); it != f.end()) {
      d.maxSocketsPerEndpoint = yaml_.integer(it->second, 1, 1024);
    }
    if (auto it = f.find("maxConnections"); it != f.end()) {
      d.maxConnections = yaml_.integer(it->second, 1, 65535);
    }
  }

  void readUsage(const Item& section, UsageConfig& usage) const {
    auto f = yaml_.fields(section, {"database", "durability", "flushIntervalMs", "queueCapacity",
                                    "maxServiceDataBytes", "host"});
    // Where a key is, or just its path (line 0) when it is missing and the default is used.
    const auto at = [&](const std::string& key) {
      const auto it = f.find(key);
      return it != f.end() ? it->second
                           : Item{YAML::Node(), YamlReader::child(section.path, key), 0};
    };
    const Item database = at("database");
    usage.database = yaml_.resolvePath(
        database, f.count("database") != 0 ? yaml_.filePath(database) : usage.database);
    if (auto it = f.find("durability"); it != f.end()) {
      const std::string name =
          it->second.node.IsScalar() ? ascii::lowered(it->second.node.Scalar()) : "";
      if (name != "durable" && name != "batched") {
        yaml_.fail(it->second, "expected 'durable' or 'batched', got " + describe(it->second.node));
      }
      usage.durability = name == "durable" ? UsageDurability::kDurable : UsageDurability::kBatched;
    }
    if (auto it = f.find("flushIntervalMs"); it != f.end()) {
      usage.flushIntervalMs = yaml_.integer(it->second, 1, 10000);
    }
    if (auto it = f.find("queueCapacity"); it != f.end()) {
      usage.queueCapacity = yaml_.integer(it->second, 100, 10000000);
    }
    if (auto it = f.find("maxServiceDataBytes"); it != f.end()) {
      usage.maxServiceDataBytes = yaml_.integer(it->second, 64, 1048576);
    }
    const Item host = at("host");
    if (f.count("host") != 0) usage.host = yaml_.text(host).empty() ? "" : yaml_.label(host, 255);
    if (usage.host.empty()) usage.host = machineName(host);
  }

  // This machine's host name, for the usage records' HOST column.
  std::string machineName(const Item& at) const {
    char buf[256] = {};  // POSIX host names are at most 255 bytes
    if (gethostname(buf, sizeof buf - 1) != 0) {
      yaml_.fail(at, "cannot determine the host name (" + std::generic_category().message(errno) +
                         "); set it in the configuration");
    }
    if (buf[0] == '\0') {
      yaml_.fail(at, "this machine has no host name; set it in the configuration");
    }
    return buf;
  }

  // "scheme:rest" with the scheme lower-cased when it is one of `schemes`, else "".
  static std::string asGroup(const std::string& uri, const std::vector<std::string>& schemes) {
    const size_t colon = uri.find(':');
    if (colon == std::string::npos) return "";
    const std::string scheme = ascii::lowered(std::string_view(uri).substr(0, colon));
    if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) return "";
    return scheme + uri.substr(colon);
  }

  std::map<std::string, std::vector<std::string>> readMembers(
      const Item& section, const std::vector<std::string>& schemes) const {
    std::map<std::string, std::vector<std::string>> members;
    const std::string known = schemes.empty() ? "none configured" : join(schemes);
    for (auto& [uri, keyLine, item] : yaml_.entries(section)) {
      const std::string group = asGroup(uri, schemes);
      const Item at{item.node, item.path, keyLine};
      if (group.empty()) {
        yaml_.fail(at, "group URI " + quote(uri) + " does not use a group scheme (" + known + ")");
      }
      if (group.size() == group.find(':') + 1 || group.size() > 512 || hasControl(group) ||
          group.find(' ') != std::string::npos) {
        yaml_.fail(at,
                   "expected a group URI like \"" + schemes.front() + ":name\", got " + quote(uri));
      }
      if (members.count(group) != 0) {
        yaml_.fail(at, "duplicate group " + quote(uri) + " (group schemes are case-insensitive)");
      }
      std::vector<std::string> addresses;
      std::set<std::string> canonical;
      for (const Item& e : yaml_.list(item)) {
        if (!e.node.IsScalar()) {
          yaml_.fail(e, "expected a tel:, sip: or sips: address, got " + describe(e.node));
        }
        const std::string& a = e.node.Scalar();
        if (!asGroup(a, schemes).empty()) {
          yaml_.fail(e, "member " + quote(a) + " is a group: nested groups are not supported");
        }
        const AddressParseResult r = parseAddress(a);
        if (!r.ok()) {
          yaml_.fail(e,
                     "expected a tel:, sip: or sips: address, got " + quote(a) + ": " + r.reason);
        }
        if (!canonical.insert(r.address.canonical).second) {
          yaml_.fail(e, "duplicate member " + quote(a));
        }
        addresses.push_back(a);
      }
      if (addresses.empty()) yaml_.fail(item, "expected at least one member address");
      members.emplace(group, std::move(addresses));
    }
    return members;
  }

  const YamlReader& yaml_;
};

// Records where each document starts; the events themselves are not needed.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Refuses a stream with several documents (YAML::Load would silently use the first) and the
// token yaml-cpp 0.7 cannot consume (e.g. a stray ',' in block context): there its parser reports
// a null document at the same position again and again (yaml-cpp PR #1319), which LoadAll turns
// into an endless loop and Load into a silently empty config. At most three documents are read.
void checkSingleDocument(const std::string& yaml, const std::string& name) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStarts docs;
  while (docs.starts.size() < 3 && parser.HandleNextDocument(docs)) {
  }
  for (size_t i = 1; i < docs.starts.size(); ++i) {
    const YAML::Mark& m = docs.starts[i];
    if (m.pos == docs.starts[i - 1].pos) {
      const std::string what = m.pos >= 0 && static_cast<size_t>(m.pos) < yaml.size()
                                   ? "unexpected " + quote(yaml.substr(m.pos, 1))
                                   : "unexpected content";
      throw ConfigError(name, m.line + 1, "", what + " (YAML syntax error)");
    }
  }
  if (docs.starts.size() > 1) {
    throw ConfigError(name, docs.starts[1].line + 1, "",
                      "expected one YAML document, found another one here");
  }
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

namespace {

GatewayConfig loadText(const std::string& yaml, const std::string& name,
                       const std::string& configPath) {
  try {
    checkSingleDocument(yaml, name);
    // YAML::Load, not LoadAll: LoadAll of yaml-cpp 0.7 never returns on some malformed input.
    const YamlReader reader(name, configPath);
    return Loader(reader).load(YAML::Load(yaml));
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // ParserException and friends: yaml-cpp's message and position, not its formatted what().
    throw ConfigError(name, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(name, 0, "", e.what());
  }
}

}  // namespace

GatewayConfig loadConfigText(const std::string& yaml, const std::string& name) {
  return loadText(yaml, name, "");
}

GatewayConfig loadConfigFile(const std::string& path) {
  std::string text;
  {
    errno = 0;
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f) {
      throw ConfigError(path, 0, "", "cannot read file: " + std::generic_category().message(errno));
    }
    char buf[8192];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
    if (std::ferror(f.get())) {  // e.g. EISDIR: fopen() accepts a directory, reading fails
      throw ConfigError(path, 0, "", "cannot read file: " + std::generic_category().message(errno));
    }
  }
  GatewayConfig cfg = loadText(text, path, path);
  cfg.sourcePath = path;
  return cfg;
}

}  // namespace px
