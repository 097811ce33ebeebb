// Loads config/gateway.yaml into GatewayConfig. yaml-cpp only parses; everything else (unknown
// and duplicate keys, types, ranges, formats) is checked here so that every mistake is reported
// with file, line and dotted key path instead of being silently ignored.
#include "config/GatewayConfig.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <unistd.h>

#include "address/Address.h"
#include "common/Ascii.h"

namespace px {

namespace {

constexpr std::string_view kIntTag = "tag:yaml.org,2002:int";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

using ascii::isAlnum;
using ascii::isAlpha;
using ascii::isDigit;
using ascii::isHex;
bool isControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
bool hasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), isControl);
}

// Code points of UTF-8 text (continuation bytes are not counted), so limits mean characters.
size_t charCount(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that the
// common "trasnports" typo counts as one edit.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// Host name (RFC 1123 labels) or dotted IPv4; IPv4 is a special case of the label syntax.
bool isHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

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

std::string quote(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out = "'";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "'";
  return out;
}

// What a node is, for "expected X, got Y" messages.
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return n.Tag() == "!" ? "the quoted string " + quote(n.Scalar()) : quote(n.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing (null)";
}

// A value found in the document with where it was found.
struct Item {
  YAML::Node node;
  std::string path;  // dotted key path, "" for the document root
  int line = 0;      // 1-based; the key's line when the value itself has no position
};

int lineOf(const YAML::Node& n, int fallback) {
  if (n.IsNull()) return fallback;  // a missing value's mark points at the next token
  const YAML::Mark m = n.Mark();
  return m.is_null() ? fallback : m.line + 1;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

class Loader {
 public:
  // configPath: the file relative paths are resolved against ("" = the current directory).
  Loader(std::string file, std::string configPath)
      : file_(std::move(file)), configPath_(std::move(configPath)) {}

  GatewayConfig load(const YAML::Node& root) const {
    GatewayConfig cfg;
    const Item doc{root, "", lineOf(root, 1)};
    if (!root.IsNull() && !root.IsMap()) {
      fail(doc, "expected a mapping of sections (service, http, sip, ...), got " + describe(root));
    }
    auto top = fields(doc, {"service", "http", "sip", "presence", "terminalStatus", "groups",
                            "notifications", "usage"});
    if (auto it = top.find("service"); it != top.end()) readService(it->second, cfg);
    if (auto it = top.find("http"); it != top.end()) readHttp(it->second, cfg.http);
    if (auto it = top.find("sip"); it != top.end()) readSip(it->second, cfg.sip);
    if (auto it = top.find("presence"); it != top.end()) readPresence(it->second, cfg.presence);
    if (auto it = top.find("terminalStatus"); it != top.end()) {
      auto ts = fields(it->second, {"maxTargets"});
      if (auto f = ts.find("maxTargets"); f != ts.end()) {
        cfg.terminalStatus.maxTargets = integer(f->second, 1, 10000);
      }
    }
    if (auto it = top.find("groups"); it != top.end()) readGroups(it->second, cfg.groups);
    // Always read: the database path is resolved even when left default.
    const auto notifications = top.find("notifications");
    readNotifications(
        notifications != top.end() ? notifications->second : Item{YAML::Node(), "notifications", 0},
        cfg.notifications);
    // Always read: the database path and the host name are resolved even when left default.
    const auto usage = top.find("usage");
    readUsage(usage != top.end() ? usage->second : Item{YAML::Node(), "usage", 0}, cfg.usage);
    return cfg;
  }

 private:
  [[noreturn]] void fail(const Item& at, const std::string& message) const {
    throw ConfigError(file_, at.line, at.path, message);
  }

  static std::string child(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
  }

  // One key of a mapping: problems with the key itself are reported at keyLine, problems with
  // the value at value.line (they differ when the value starts on the next line).
  struct Entry {
    std::string name;
    int keyLine;
    Item value;
  };

  // Entries of a mapping in document order; null counts as empty so that a section whose keys
  // are all commented out keeps its defaults. Keys must be scalars and unique (yaml-cpp keeps
  // duplicates in iteration, so they are caught here).
  std::vector<Entry> entries(const Item& map) const {
    std::vector<Entry> out;
    if (map.node.IsNull()) return out;
    if (!map.node.IsMap()) fail(map, "expected a mapping, got " + describe(map.node));
    std::map<std::string, int> seen;  // key -> line
    // By value: yaml-cpp iterators yield temporaries, references into them dangle.
    for (const auto& kv : map.node) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      const int keyLine = lineOf(key, map.line);
      if (!key.IsScalar()) {
        fail(Item{key, map.path, keyLine}, "keys must be strings, got " + describe(key));
      }
      const std::string name = key.Scalar();
      const std::string path = child(map.path, name);
      if (auto [pos, fresh] = seen.emplace(name, keyLine); !fresh) {
        fail(Item{key, path, keyLine}, "duplicate key " + quote(name) + " (first at line " +
                                           std::to_string(pos->second) + ")");
      }
      out.push_back(Entry{name, keyLine, Item{value, path, lineOf(value, keyLine)}});
    }
    return out;
  }

  // A mapping with a fixed set of keys: unknown keys are errors, with a suggestion when one of
  // the known keys is close (edit distance <= 2, case-insensitive).
  std::map<std::string, Item> fields(const Item& map, const std::vector<std::string>& known) const {
    std::map<std::string, Item> out;
    for (auto& [name, keyLine, item] : entries(map)) {
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string best;
        size_t bestDistance = 3;
        for (const auto& k : known) {
          const size_t d = editDistance(lower(name), lower(k));
          if (d < bestDistance) {
            bestDistance = d;
            best = k;
          }
        }
        std::string message = "unknown key " + quote(name);
        message += best.empty() ? " (known keys: " + join(known) + ")"
                                : " (did you mean " + quote(best) + "?)";
        fail(Item{item.node, item.path, keyLine}, message);
      }
      out.emplace(name, std::move(item));
    }
    return out;
  }

  std::vector<Item> list(const Item& seq) const {
    if (!seq.node.IsSequence()) fail(seq, "expected a list, got " + describe(seq.node));
    std::vector<Item> out;
    for (const auto& element : seq.node) {
      out.push_back(Item{element, seq.path, lineOf(element, seq.line)});
    }
    return out;
  }

  // Any scalar is text: "name: 123" is the string "123". Null is refused so that an accidentally
  // empty value is not mistaken for an intended empty string (write "" for that).
  std::string text(const Item& item) const {
    if (!item.node.IsScalar()) {
      std::string got = describe(item.node);
      if (item.node.IsNull()) got += "; write \"\" for an empty string";
      fail(item, "expected a string, got " + got);
    }
    return item.node.Scalar();
  }

  // A plain decimal integer within [min, max]; quoted numbers are strings and refused.
  uint32_t integer(const Item& item, uint32_t min, uint32_t max) const {
    const std::string expected =
        "expected an integer in " + std::to_string(min) + ".." + std::to_string(max);
    if (!item.node.IsScalar() || (item.node.Tag() != "?" && item.node.Tag() != kIntTag)) {
      fail(item, expected + ", got " + describe(item.node));
    }
    const std::string& s = item.node.Scalar();
    size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    const bool negative = i == 1 && s[0] == '-';
    if (i == s.size() ||
        !std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(), isDigit)) {
      fail(item, expected + ", got " + describe(item.node));
    }
    while (i + 1 < s.size() && s[i] == '0') ++i;  // leading zeros do not count towards overflow
    const std::string digits = s.substr(i);
    // More than 10 digits is out of range anyway; stoull cannot overflow below that.
    const unsigned long long value = digits.size() > 10 ? ~0ULL : std::stoull(digits);
    if ((negative && value != 0) || value < min || value > max) {
      fail(item, expected + ", got " + s);
    }
    return static_cast<uint32_t>(value);
  }

  // true or false (YAML 1.2 core schema spellings); quoted values are strings and refused.
  bool boolean(const Item& item) const {
    if (item.node.IsScalar() && item.node.Tag() == "?") {
      const std::string v = item.node.Scalar();
      if (v == "true" || v == "True" || v == "TRUE") return true;
      if (v == "false" || v == "False" || v == "FALSE") return false;
    }
    fail(item, "expected true or false, got " + describe(item.node));
  }

  uint16_t port(const Item& item) const { return static_cast<uint16_t>(integer(item, 0, 65535)); }

  // Listening host for node:http or Sofia-SIP: a host name, IPv4 or bare IPv6 literal.
  std::string host(const Item& item) const {
    const std::string s = text(item);
    if (!s.empty() && s.front() == '[') {
      fail(item, "expected a host name or IP address; write IPv6 addresses without brackets, got " +
                     quote(s));
    }
    if (!isHostName(s) && !isIpv6Literal(s)) {
      fail(item, "expected a host name or IP address, got " + describe(item.node));
    }
    return s;
  }

  // A sip:/sips: URI as parsed by the address module (no user part needed, parameters allowed).
  std::string sipUri(const Item& item) const {
    const std::string s = text(item);
    const AddressParseResult r = parseAddress(s);
    if (!r.ok()) fail(item, "expected a sip: or sips: URI, got " + quote(s) + ": " + r.reason);
    if (r.address.scheme != AddressScheme::kSip && r.address.scheme != AddressScheme::kSips) {
      fail(item, "expected a sip: or sips: URI, got " + quote(s));
    }
    return s;
  }

  // Printable text of 1..maxChars characters (it ends up in headers and usage records).
  std::string label(const Item& item, size_t maxChars) const {
    const std::string s = text(item);
    const size_t n = charCount(s);
    if (n < 1 || n > maxChars || hasControl(s)) {
      fail(item, "expected 1.." + std::to_string(maxChars) +
                     " characters without control characters, got " + describe(item.node));
    }
    return s;
  }

  void readService(const Item& section, GatewayConfig& cfg) const {
    auto f = fields(section, {"name"});
    if (auto it = f.find("name"); it != f.end()) cfg.serviceName = label(it->second, 127);
  }

  void readHttp(const Item& section, HttpConfig& http) const {
    auto f = fields(section, {"host", "port", "basePath", "maxBodyBytes", "keepAliveTimeoutMs",
                              "requestTimeoutMs"});
    if (auto it = f.find("host"); it != f.end()) http.host = host(it->second);
    if (auto it = f.find("port"); it != f.end()) http.port = port(it->second);
    if (auto it = f.find("basePath"); it != f.end()) {
      const std::string p = text(it->second);
      if (const std::string problem = basePathProblem(p); !problem.empty()) {
        fail(it->second, "expected a URL path like \"/parlayx\": " + problem + ", got " + quote(p));
      }
      http.basePath = p;
    }
    if (auto it = f.find("maxBodyBytes"); it != f.end()) {
      http.maxBodyBytes = integer(it->second, 1024, 16777216);
    }
    if (auto it = f.find("keepAliveTimeoutMs"); it != f.end()) {
      http.keepAliveTimeoutMs = integer(it->second, 0, 600000);
    }
    if (auto it = f.find("requestTimeoutMs"); it != f.end()) {
      http.requestTimeoutMs = integer(it->second, 100, 600000);
    }
  }

  void readSip(const Item& section, SipConfig& sip) const {
    auto f = fields(section, {"bindHost", "port", "transports", "watcherUri", "presenceServerUri",
                              "telDomain", "userAgent"});
    if (auto it = f.find("bindHost"); it != f.end()) sip.bindHost = host(it->second);
    if (auto it = f.find("port"); it != f.end()) sip.port = port(it->second);
    if (auto it = f.find("transports"); it != f.end()) {
      std::vector<SipTransport> transports;
      for (const Item& e : list(it->second)) {
        const std::string name = e.node.IsScalar() ? lower(e.node.Scalar()) : "";
        if (name != "udp" && name != "tcp") {
          fail(e, "expected 'udp' or 'tcp', got " + describe(e.node));
        }
        const SipTransport t = name == "udp" ? SipTransport::kUdp : SipTransport::kTcp;
        if (std::find(transports.begin(), transports.end(), t) != transports.end()) {
          fail(e, "duplicate transport " + quote(name));
        }
        transports.push_back(t);
      }
      if (transports.empty()) fail(it->second, "expected at least one transport (udp, tcp)");
      sip.transports = std::move(transports);
    }
    if (auto it = f.find("watcherUri"); it != f.end()) sip.watcherUri = sipUri(it->second);
    if (auto it = f.find("presenceServerUri"); it != f.end()) {
      sip.presenceServerUri = sipUri(it->second);
    }
    if (auto it = f.find("telDomain"); it != f.end()) {
      const std::string d = text(it->second);
      const bool bracketedV6 = d.size() > 2 && d.front() == '[' && d.back() == ']' &&
                               isIpv6Literal(std::string_view(d).substr(1, d.size() - 2));
      if (!d.empty() && !isHostName(d) && !bracketedV6) {
        fail(it->second, "expected a domain name, IPv4 address, [IPv6] address or \"\", got " +
                             describe(it->second.node));
      }
      sip.telDomain = d;
    }
    if (auto it = f.find("userAgent"); it != f.end()) sip.userAgent = label(it->second, 255);
  }

  void readPresence(const Item& section, PresenceConfig& presence) const {
    auto f =
        fields(section, {"fetchTimeoutMs", "busyActivities", "subscriptionExpiresSec",
                         "subscribeTimeoutMs", "resubscribeBackoffMs", "resubscribeBackoffMaxMs",
                         "maxSubscribeFailures", "maxSubscribesInFlight"});
    if (auto it = f.find("fetchTimeoutMs"); it != f.end()) {
      presence.fetchTimeoutMs = integer(it->second, 50, 60000);
    }
    if (auto it = f.find("subscriptionExpiresSec"); it != f.end()) {
      presence.subscriptionExpiresSec = integer(it->second, 1, 86400);
    }
    if (auto it = f.find("subscribeTimeoutMs"); it != f.end()) {
      presence.subscribeTimeoutMs = integer(it->second, 100, 120000);
    }
    if (auto it = f.find("resubscribeBackoffMs"); it != f.end()) {
      presence.resubscribeBackoffMs = integer(it->second, 10, 3600000);
    }
    if (auto it = f.find("resubscribeBackoffMaxMs"); it != f.end()) {
      presence.resubscribeBackoffMaxMs = integer(it->second, 10, 3600000);
    }
    if (presence.resubscribeBackoffMaxMs < presence.resubscribeBackoffMs) {
      const auto it = f.find("resubscribeBackoffMaxMs");
      fail(it != f.end() ? it->second : f.at("resubscribeBackoffMs"),
           "resubscribeBackoffMaxMs must not be smaller than resubscribeBackoffMs");
    }
    if (auto it = f.find("maxSubscribeFailures"); it != f.end()) {
      presence.maxSubscribeFailures = integer(it->second, 1, 1000);
    }
    if (auto it = f.find("maxSubscribesInFlight"); it != f.end()) {
      presence.maxSubscribesInFlight = integer(it->second, 1, 100000);
    }
    if (auto it = f.find("busyActivities"); it != f.end()) {
      std::vector<std::string> names;
      for (const Item& e : list(it->second)) {
        const std::string name = e.node.IsScalar() ? e.node.Scalar() : "";
        if (!isNcName(name)) {
          fail(e, "expected an RPID activity element name (XML NCName), got " + describe(e.node));
        }
        if (std::find(names.begin(), names.end(), name) != names.end()) {
          fail(e, "duplicate activity " + quote(name));
        }
        names.push_back(name);
      }
      if (names.empty()) fail(it->second, "expected at least one activity name");
      presence.busyActivities = std::move(names);
    }
  }

  void readGroups(const Item& section, GroupsConfig& groups) const {
    auto f = fields(section, {"schemes", "members"});
    // Schemes first: member keys are checked against them whatever the order in the file.
    if (auto it = f.find("schemes"); it != f.end()) {
      std::vector<std::string> schemes;
      for (const Item& e : list(it->second)) {
        const std::string name = e.node.IsScalar() ? lower(e.node.Scalar()) : "";
        if (!isUriScheme(name)) fail(e, "expected a URI scheme name, got " + describe(e.node));
        if (name == "tel" || name == "sip" || name == "sips") {
          fail(e, quote(name) + " addresses terminals and cannot be a group scheme");
        }
        if (std::find(schemes.begin(), schemes.end(), name) != schemes.end()) {
          fail(e, "duplicate scheme " + quote(name));
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
    auto f = fields(section, {"database", "maxAddresses", "defaultDurationSec", "maxDurationSec",
                              "minFrequencyMs", "unlimitedCountAllowed", "maxCount",
                              "busyCriteriaAllowed", "delivery"});
    const auto database = f.find("database");
    n.database =
        database != f.end()
            ? resolvePath(database->second, filePath(database->second))
            : resolvePath(Item{YAML::Node(), child(section.path, "database"), 0}, n.database);
    if (auto it = f.find("maxAddresses"); it != f.end()) {
      n.maxAddresses = integer(it->second, 1, 100000);
    }
    if (auto it = f.find("maxDurationSec"); it != f.end()) {
      n.maxDurationSec = integer(it->second, 1, 31536000);
    }
    if (auto it = f.find("defaultDurationSec"); it != f.end()) {
      n.defaultDurationSec = integer(it->second, 1, 31536000);
    }
    if (n.defaultDurationSec > n.maxDurationSec) {
      const auto it = f.find("defaultDurationSec");
      fail(it != f.end() ? it->second : f.at("maxDurationSec"),
           "defaultDurationSec must not be larger than maxDurationSec");
    }
    if (auto it = f.find("minFrequencyMs"); it != f.end()) {
      n.minFrequencyMs = integer(it->second, 0, 86400000);
    }
    if (auto it = f.find("unlimitedCountAllowed"); it != f.end()) {
      n.unlimitedCountAllowed = boolean(it->second);
    }
    if (auto it = f.find("maxCount"); it != f.end()) {
      n.maxCount = integer(it->second, 1, 1000000000);
    }
    if (auto it = f.find("busyCriteriaAllowed"); it != f.end()) {
      n.busyCriteriaAllowed = boolean(it->second);
    }
    if (auto it = f.find("delivery"); it != f.end()) readDelivery(it->second, n.delivery);
  }

  void readDelivery(const Item& section, DeliveryConfig& d) const {
    auto f = fields(section, {"timeoutMs", "maxAttempts", "retryBackoffMs", "retryBackoffMaxMs",
                              "maxSocketsPerEndpoint"});
    if (auto it = f.find("timeoutMs"); it != f.end())
      d.timeoutMs = integer(it->second, 100, 120000);
    if (auto it = f.find("maxAttempts"); it != f.end()) d.maxAttempts = integer(it->second, 1, 100);
    if (auto it = f.find("retryBackoffMs"); it != f.end()) {
      d.retryBackoffMs = integer(it->second, 10, 3600000);
    }
    if (auto it = f.find("retryBackoffMaxMs"); it != f.end()) {
      d.retryBackoffMaxMs = integer(it->second, 10, 3600000);
    }
    if (d.retryBackoffMaxMs < d.retryBackoffMs) {
      const auto it = f.find("retryBackoffMaxMs");
      fail(it != f.end() ? it->second : f.at("retryBackoffMs"),
           "retryBackoffMaxMs must not be smaller than retryBackoffMs");
    }
    if (auto it = f.find("maxSocketsPerEndpoint"); it != f.end()) {
      d.maxSocketsPerEndpoint = integer(it->second, 1, 1024);
    }
  }

  void readUsage(const Item& section, UsageConfig& usage) const {
    auto f = fields(section, {"database", "durability", "flushIntervalMs", "queueCapacity",
                              "maxServiceDataBytes", "host"});
    // Where a key is, or just its path (line 0) when it is missing and the default is used.
    const auto at = [&](const std::string& key) {
      const auto it = f.find(key);
      return it != f.end() ? it->second : Item{YAML::Node(), child(section.path, key), 0};
    };
    const Item database = at("database");
    usage.database =
        resolvePath(database, f.count("database") != 0 ? filePath(database) : usage.database);
    if (auto it = f.find("durability"); it != f.end()) {
      const std::string name = it->second.node.IsScalar() ? lower(it->second.node.Scalar()) : "";
      if (name != "durable" && name != "batched") {
        fail(it->second, "expected 'durable' or 'batched', got " + describe(it->second.node));
      }
      usage.durability = name == "durable" ? UsageDurability::kDurable : UsageDurability::kBatched;
    }
    if (auto it = f.find("flushIntervalMs"); it != f.end()) {
      usage.flushIntervalMs = integer(it->second, 1, 10000);
    }
    if (auto it = f.find("queueCapacity"); it != f.end()) {
      usage.queueCapacity = integer(it->second, 100, 10000000);
    }
    if (auto it = f.find("maxServiceDataBytes"); it != f.end()) {
      usage.maxServiceDataBytes = integer(it->second, 64, 1048576);
    }
    const Item host = at("host");
    if (f.count("host") != 0) usage.host = text(host).empty() ? "" : label(host, 255);
    if (usage.host.empty()) usage.host = machineName(host);
  }

  // A path naming a file (not a directory); relative or absolute.
  std::string filePath(const Item& item) const {
    const std::string s = text(item);
    if (s.empty()) fail(item, "expected a file path, got \"\"");
    if (hasControl(s)) fail(item, "expected a file path without control characters");
    const std::string name = std::filesystem::path(s).filename().string();
    if (s.back() == '/' || name == "." || name == "..") {
      fail(item, "expected a file path, got the directory " + quote(s));
    }
    return s;
  }

  // Absolute form of `p`, relative to the config file's directory (the current directory for
  // text). The directory part is canonicalised as far as it exists so that '..' means what the
  // kernel would make of it even through symlinks; the file name itself is kept as configured.
  std::string resolvePath(const Item& at, const std::string& p) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path full(p);
    if (full.is_relative()) {
      const fs::path base =
          configPath_.empty() ? fs::current_path(ec) : fs::absolute(configPath_, ec).parent_path();
      if (ec) fail(at, "cannot resolve the relative path " + quote(p) + ": " + ec.message());
      full = base / full;
    }
    const fs::path dir = fs::weakly_canonical(full.parent_path(), ec);
    // Unresolvable (e.g. an unreadable directory): the joined absolute path means the same.
    return ec ? full.string() : (dir / full.filename()).string();
  }

  // This machine's host name, for the usage records' HOST column.
  std::string machineName(const Item& at) const {
    char buf[256] = {};  // POSIX host names are at most 255 bytes
    if (gethostname(buf, sizeof buf - 1) != 0) {
      fail(at, "cannot determine the host name (" + std::generic_category().message(errno) +
                   "); set it in the configuration");
    }
    if (buf[0] == '\0') fail(at, "this machine has no host name; set it in the configuration");
    return buf;
  }

  // "scheme:rest" with the scheme lower-cased when it is one of `schemes`, else "".
  static std::string asGroup(const std::string& uri, const std::vector<std::string>& schemes) {
    const size_t colon = uri.find(':');
    if (colon == std::string::npos) return "";
    const std::string scheme = lower(std::string_view(uri).substr(0, colon));
    if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) return "";
    return scheme + uri.substr(colon);
  }

  std::map<std::string, std::vector<std::string>> readMembers(
      const Item& section, const std::vector<std::string>& schemes) const {
    std::map<std::string, std::vector<std::string>> members;
    const std::string known = schemes.empty() ? "none configured" : join(schemes);
    for (auto& [uri, keyLine, item] : entries(section)) {
      const std::string group = asGroup(uri, schemes);
      const Item at{item.node, item.path, keyLine};
      if (group.empty()) {
        fail(at, "group URI " + quote(uri) + " does not use a group scheme (" + known + ")");
      }
      if (group.size() == group.find(':') + 1 || group.size() > 512 || hasControl(group) ||
          group.find(' ') != std::string::npos) {
        fail(at, "expected a group URI like \"" + schemes.front() + ":name\", got " + quote(uri));
      }
      if (members.count(group) != 0) {
        fail(at, "duplicate group " + quote(uri) + " (group schemes are case-insensitive)");
      }
      std::vector<std::string> addresses;
      std::set<std::string> canonical;
      for (const Item& e : list(item)) {
        if (!e.node.IsScalar()) {
          fail(e, "expected a tel:, sip: or sips: address, got " + describe(e.node));
        }
        const std::string& a = e.node.Scalar();
        if (!asGroup(a, schemes).empty()) {
          fail(e, "member " + quote(a) + " is a group: nested groups are not supported");
        }
        const AddressParseResult r = parseAddress(a);
        if (!r.ok()) {
          fail(e, "expected a tel:, sip: or sips: address, got " + quote(a) + ": " + r.reason);
        }
        if (!canonical.insert(r.address.canonical).second) {
          fail(e, "duplicate member " + quote(a));
        }
        addresses.push_back(a);
      }
      if (addresses.empty()) fail(item, "expected at least one member address");
      members.emplace(group, std::move(addresses));
    }
    return members;
  }

  std::string file_;
  std::string configPath_;
};

std::string formatWhat(const std::string& file, int line, const std::string& key,
                       const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

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

ConfigError::ConfigError(std::string file, int line, std::string key, const std::string& message)
    : std::runtime_error(formatWhat(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

namespace {

GatewayConfig loadText(const std::string& yaml, const std::string& name,
                       const std::string& configPath) {
  try {
    checkSingleDocument(yaml, name);
    // YAML::Load, not LoadAll: LoadAll of yaml-cpp 0.7 never returns on some malformed input.
    return Loader(name, configPath).load(YAML::Load(yaml));
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
