// The table of every configuration key (see ConfigSchema.h). Ranges, formats and the rules
// between keys are here; defaults are the member initialisers of GatewayConfig.h, read through
// each field, so that no value is written twice.
#include "config/ConfigSchema.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "common/Ascii.h"
#include "config/ConfigValues.h"
#include "config/OutboundConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

ConfigField integer(std::string_view key, Member<uint32_t> m, uint32_t min, uint32_t max,
                    std::string_view doc) {
  ConfigField f{key, FieldType::kInteger, doc, m};
  f.min = min;
  f.max = max;
  return f;
}

ConfigField port(std::string_view key, Member<uint16_t> m, std::string_view doc) {
  ConfigField f{key, FieldType::kInteger, doc, m};
  f.max = 65535;
  return f;
}

ConfigField boolean(std::string_view key, Member<bool> m, std::string_view doc) {
  return ConfigField{key, FieldType::kBoolean, doc, m};
}

ConfigField text(std::string_view key, Member<std::string> m,
                 std::string (*parse)(const YamlReader&, const Item&), std::string_view doc) {
  ConfigField f{key, FieldType::kString, doc, m};
  f.parse = parse;
  return f;
}

ConfigField list(std::string_view key, Member<std::vector<std::string>> m,
                 void (*read)(const FieldInput&, GatewayConfig&), std::string_view doc) {
  ConfigField f{key, FieldType::kStringList, doc, m};
  f.read = read;
  return f;
}

ConfigField structured(std::string_view key, void (*read)(const FieldInput&, GatewayConfig&),
                       std::string_view doc) {
  ConfigField f{key, FieldType::kStructured, doc, std::monostate{}};
  f.read = read;
  return f;
}

ConfigField then(ConfigField f, void (*after)(const FieldInput&, GatewayConfig&)) {
  f.after = after;
  return f;
}

ConfigField ranked(ConfigField f, int rank) {
  f.readRank = rank;
  return f;
}

std::string label127(const YamlReader& yaml, const Item& item) {
  return yaml.label(item, 127);
}
std::string label255(const YamlReader& yaml, const Item& item) {
  return yaml.label(item, 255);
}

// "must not exceed <key> (<limit>), got <value>" at `at` when a present value is above limit.
void atMost(const FieldInput& in, uint32_t value, uint32_t limit, std::string_view limitKey) {
  if (in.present && value > limit) {
    in.yaml.fail(in.at, "must not exceed " + std::string(limitKey) + " (" + std::to_string(limit) +
                            "), got " + std::to_string(value));
  }
}

// A maximum smaller than its minimum, reported at the maximum or, when it is left default, at
// the minimum that was raised above it.
void notBelow(const FieldInput& in, uint32_t max, uint32_t min, const char* minKey,
              const std::string& message) {
  if (max < min) in.yaml.fail(in.present ? in.at : in.siblings.at(minKey), message);
}

// calls.*Codes: SIP final response codes 300..699, no duplicates ([] = the event never comes
// from a code).
std::vector<int> readSipCodes(const YamlReader& yaml, const Item& item) {
  std::vector<int> codes;
  for (const Item& e : yaml.list(item)) {
    const int code = static_cast<int>(yaml.integer(e, 300, 699));
    if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
      yaml.fail(e, "duplicate code " + std::to_string(code));
    }
    codes.push_back(code);
  }
  return codes;
}

// A no-answer timer: 0 (off) or 1000..600000 ms.
void zeroOrAtLeastOneSecond(const FieldInput& in, uint32_t value) {
  if (in.present && value != 0 && value < 1000) {
    in.yaml.fail(in.at, "expected 0 (off) or 1000..600000, got " + std::to_string(value));
  }
}

// presence.resourceLists.listUriTemplate: "" or a sip:/sips: URI with {user} (and maybe
// {host}), printable, no white space.
std::string readListUriTemplate(const YamlReader& yaml, const Item& item) {
  const std::string t = yaml.text(item);
  if (t.empty()) return t;
  const bool scheme = t.rfind("sip:", 0) == 0 || t.rfind("sips:", 0) == 0;
  const bool clean = t.size() <= 512 && !hasControl(t) && t.find(' ') == std::string::npos;
  if (!scheme || !clean || t.find("{user}") == std::string::npos) {
    yaml.fail(item, "expected \"\" or a sip:/sips: URI template with {user}, got " + quote(t));
  }
  return t;
}

// groups.xcap.root: "" or an http:// or https:// URL without a trailing '/'.
std::string readXcapRoot(const YamlReader& yaml, const Item& item) {
  const std::string url = yaml.text(item);
  if (url.empty()) return url;
  const bool scheme = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  const bool clean = url.size() <= 2048 && !hasControl(url) && url.find(' ') == std::string::npos;
  if (!scheme || !clean || url.back() == '/' || url.size() <= std::string_view("http://").size()) {
    yaml.fail(item, "expected \"\" or an http:// or https:// URL without a trailing '/', got " +
                        quote(url));
  }
  return url;
}

// groups.xcap.user / documentPath: "" or one URL path (segment) without spaces, '?', '#' or
// control characters; the user is one segment (no '/'), the path is relative (no leading '/').
std::string readXcapPathText(const YamlReader& yaml, const Item& item, bool segment) {
  const std::string text = yaml.text(item);
  const bool bad =
      text.size() > 1024 || hasControl(text) || text.find_first_of(" ?#") != std::string::npos ||
      (segment ? text.find('/') != std::string::npos : (!text.empty() && text.front() == '/'));
  if (bad) {
    yaml.fail(item, segment ? "expected \"\" or an XUI without '/', spaces, '?' or '#', got " +
                                  quote(text)
                            : "expected \"\" or a relative path (no leading '/', no spaces, "
                              "'?' or '#'), got " +
                                  quote(text));
  }
  return text;
}
std::string readXcapUser(const YamlReader& yaml, const Item& item) {
  return readXcapPathText(yaml, item, true);
}
std::string readXcapDocumentPath(const YamlReader& yaml, const Item& item) {
  return readXcapPathText(yaml, item, false);
}

// groups.xcap.username: "" or printable text without ':' (HTTP Basic), 1..127 characters.
std::string readXcapUsername(const YamlReader& yaml, const Item& item) {
  const std::string name = yaml.text(item);
  if (name.empty()) return name;
  if (name.find(':') != std::string::npos) yaml.fail(item, "must not contain ':'");
  return yaml.label(item, 127);
}

// groups.xcap.passwordFile: a regular file readable by its owner only, resolved against the
// config file's directory (the gateway reads it at start).
void readXcapPasswordFile(const FieldInput& in, GatewayConfig& c) {
  namespace fs = std::filesystem;
  if (in.yaml.text(in.at).empty()) {
    c.groups.xcap.passwordFile.clear();
    return;
  }
  const std::string path = in.yaml.resolvePath(in.at, in.yaml.filePath(in.at));
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || status.type() != fs::file_type::regular) {
    in.yaml.fail(in.at, "cannot read the password file " + quote(path) + ": no such regular file");
  }
  constexpr fs::perms kShared = fs::perms::group_all | fs::perms::others_all;
  if ((status.permissions() & kShared) != fs::perms::none) {
    in.yaml.fail(in.at, quote(path) +
                            " is accessible to group or others: it holds a secret, make it "
                            "readable by its owner only (chmod 600)");
  }
  c.groups.xcap.passwordFile = path;
}

void addXcapGroupFields(std::vector<ConfigField>& f) {
  f.push_back(text("groups.xcap.root", PX_CONFIG_MEMBER(groups.xcap.root), &readXcapRoot,
                   "XCAP root URI of the XDMS holding resource-list groups; \"\" = no XCAP "
                   "groups."));
  f.push_back(text("groups.xcap.user", PX_CONFIG_MEMBER(groups.xcap.user), &readXcapUser,
                   "XUI of the document <root>/resource-lists/users/<user>/index."));
  f.push_back(
      then(text("groups.xcap.documentPath", PX_CONFIG_MEMBER(groups.xcap.documentPath),
                &readXcapDocumentPath,
                "Instead of user: the document's path below the root (no leading '/')."),
           [](const FieldInput& in, GatewayConfig& c) {
             const XcapGroupsConfig& x = c.groups.xcap;
             if (!x.user.empty() && !x.documentPath.empty()) {
               in.yaml.fail(in.at, "give groups.xcap.user or groups.xcap.documentPath, not both");
             }
             if (!x.root.empty() && x.user.empty() && x.documentPath.empty()) {
               in.yaml.fail(in.siblings.at("root"),
                            "groups.xcap.root needs groups.xcap.user or groups.xcap.documentPath");
             }
           }));
  f.push_back(
      then(integer("groups.xcap.timeoutMs", PX_CONFIG_MEMBER(groups.xcap.timeoutMs), 100, 60000,
                   "Longest wait for one request's XCAP documents, in ms; then "
                   "UNRESOLVED_GROUPS. Below http.requestTimeoutMs."),
           [](const FieldInput& in, GatewayConfig& c) {
             if (in.present && c.groups.xcap.timeoutMs >= c.http.requestTimeoutMs) {
               in.yaml.fail(in.at, "must be below http.requestTimeoutMs (" +
                                       std::to_string(c.http.requestTimeoutMs) + "), got " +
                                       std::to_string(c.groups.xcap.timeoutMs));
             }
           }));
  f.push_back(integer("groups.xcap.cacheSec", PX_CONFIG_MEMBER(groups.xcap.cacheSec), 0, 86400,
                      "How long a fetched XCAP document is used, in seconds; 0 = every request."));
  f.push_back(integer("groups.xcap.maxDepth", PX_CONFIG_MEMBER(groups.xcap.maxDepth), 0, 16,
                      "Most levels of nested lists and external references below a group."));
  f.push_back(text("groups.xcap.username", PX_CONFIG_MEMBER(groups.xcap.username),
                   &readXcapUsername,
                   "XCAP user name (HTTP Basic or Digest, as challenged); \"\" = none."));
  {
    ConfigField password{"groups.xcap.passwordFile", FieldType::kString,
                         "Owner-only file with the XCAP password, relative to the config file; "
                         "required with username.",
                         PX_CONFIG_MEMBER(groups.xcap.passwordFile)};
    password.read = &readXcapPasswordFile;
    password = then(std::move(password), [](const FieldInput& in, GatewayConfig& c) {
      const XcapGroupsConfig& x = c.groups.xcap;
      if (x.username.empty() != x.passwordFile.empty()) {
        in.yaml.fail(in.present ? in.at : in.siblings.at("username"),
                     "groups.xcap.username and groups.xcap.passwordFile go together");
      }
    });
    f.push_back(password);
  }
}

void addCallFields(std::vector<ConfigField>& f) {
  f.push_back(boolean("calls.enabled", PX_CONFIG_MEMBER(calls.enabled),
                      "Serve Call Notification / Call Direction: the AS SIP port; false = "
                      "their operations answer SVC0001."));
  f.push_back(text("calls.bindHost", PX_CONFIG_MEMBER(calls.bindHost), &readHost,
                   "Address of the application-server SIP port (UDP and TCP)."));
  f.push_back(port("calls.port", PX_CONFIG_MEMBER(calls.port),
                   "Application-server SIP port the S-CSCF's iFC points at; 0 = any free port."));
  f.push_back(structured(
      "calls.busyCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.busyCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as Busy; 300..699 each. Default [486, 600]."));
  f.push_back(structured(
      "calls.noAnswerCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.noAnswerCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as NoAnswer after an 18x; 300..699 each. Default [408, "
      "480]."));
  f.push_back(structured(
      "calls.notReachableCodes",
      [](const FieldInput& in, GatewayConfig& c) {
        c.calls.notReachableCodes = readSipCodes(in.yaml, in.at);
      },
      "Final response codes reported as NotReachable; 300..699 each. Default [404, 408, 410, "
      "480, 484, 485, 500..504, 604]."));
  f.push_back(
      then(integer("calls.noAnswerTimeoutMs", PX_CONFIG_MEMBER(calls.noAnswerTimeoutMs), 0, 600000,
                   "CANCEL a watched call this long after its first 18x and report "
                   "NoAnswer; 0 = off, else 1000..600000 ms."),
           [](const FieldInput& in, GatewayConfig& c) {
             zeroOrAtLeastOneSecond(in, c.calls.noAnswerTimeoutMs);
           }));
  f.push_back(then(integer("calls.directionNoAnswerTimeoutMs",
                           PX_CONFIG_MEMBER(calls.directionNoAnswerTimeoutMs), 0, 600000,
                           "The same timer for calls whose NoAnswer a Call Direction registration "
                           "decides; 0 = off, else 1000..600000 ms."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     zeroOrAtLeastOneSecond(in, c.calls.directionNoAnswerTimeoutMs);
                   }));
  f.push_back(integer("calls.decisionTimeoutMs", PX_CONFIG_MEMBER(calls.decisionTimeoutMs), 50,
                      20000,
                      "Longest wait for a Call Direction handle* answer, in ms; then "
                      "defaultAction."));
  {
    ConfigField action{"calls.defaultAction", FieldType::kEnum,
                       "Action when handle* fails or answers late: Continue or EndCall.",
                       std::monostate{}};
    action.values = {"Continue", "EndCall"};
    action.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name = in.at.node.IsScalar() ? in.at.node.Scalar() : "";
      if (name != "Continue" && name != "EndCall") {
        in.yaml.fail(in.at, "expected 'Continue' or 'EndCall', got '" + name + "'");
      }
      c.calls.defaultAction = name;
    };
    action.value = [](const GatewayConfig& c) -> FieldValue { return c.calls.defaultAction; };
    f.push_back(action);
  }
  f.push_back(integer("calls.endCallStatus", PX_CONFIG_MEMBER(calls.endCallStatus), 400, 699,
                      "Final response sent to the caller for EndCall."));
  f.push_back(integer("calls.maxCalls", PX_CONFIG_MEMBER(calls.maxCalls), 1, 1000000,
                      "Calls proxied at once; more are refused with 503."));
  f.push_back(text("calls.notificationServiceName", PX_CONFIG_MEMBER(calls.notificationServiceName),
                   &label127, "SERVICE of Call Notification usage records; 1..127 characters."));
  f.push_back(text("calls.directionServiceName", PX_CONFIG_MEMBER(calls.directionServiceName),
                   &label127, "SERVICE of Call Direction usage records; 1..127 characters."));
}

// camara.*: "" or printable text of at most 255 characters (issuer, audience).
std::string optionalLabel255(const YamlReader& yaml, const Item& item) {
  return yaml.text(item).empty() ? std::string() : yaml.label(item, 255);
}

// camara.auth.jwksUrl: "" or an http:// or https:// URL without spaces or control characters.
std::string readJwksUrl(const YamlReader& yaml, const Item& item) {
  const std::string url = yaml.text(item);
  if (url.empty()) return url;
  const bool scheme = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  const bool clean = url.size() <= 2048 && !hasControl(url) && url.find(' ') == std::string::npos;
  if (!scheme || !clean || url.size() <= std::string_view("http://").size()) {
    yaml.fail(item, "expected \"\" or an http:// or https:// URL, got " + quote(url));
  }
  return url;
}

// camara.auth.phoneNumberClaim: "" or a JWT claim name of 1..64 characters A-Z a-z 0-9 _ . : -
std::string readClaimName(const YamlReader& yaml, const Item& item) {
  const std::string name = yaml.text(item);
  const bool ok = name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
                  });
  if (!ok) {
    yaml.fail(item, "expected \"\" or a claim name of 1..64 characters A-Z a-z 0-9 _ . : -, got " +
                        quote(name));
  }
  return name;
}

// camara.auth.jwksFile: "" or a regular file, resolved against the config file's directory.
void readJwksFile(const FieldInput& in, GatewayConfig& c) {
  if (in.yaml.text(in.at).empty()) {
    c.camara.auth.jwksFile.clear();
    return;
  }
  const std::string path = in.yaml.resolvePath(in.at, in.yaml.filePath(in.at));
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    in.yaml.fail(in.at, "cannot read the JWKS file " + quote(path) + ": no such regular file");
  }
  c.camara.auth.jwksFile = path;
}

// camara.scopes.*: OAuth2 scope tokens (RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E), 1..255
// characters each, no duplicates; [] = no scope needed.
std::vector<std::string> readScopes(const YamlReader& yaml, const Item& item) {
  std::vector<std::string> scopes;
  for (const Item& e : yaml.list(item)) {
    const std::string scope = yaml.text(e);
    const bool ok = !scope.empty() && scope.size() <= 255 &&
                    std::all_of(scope.begin(), scope.end(), [](char ch) {
                      return ch >= 0x21 && ch <= 0x7e && ch != '"' && ch != '\\';
                    });
    if (!ok)
      yaml.fail(e, "expected an OAuth2 scope (printable ASCII, no space, '\"' or '\\'), got " +
                       quote(scope));
    if (std::find(scopes.begin(), scopes.end(), scope) != scopes.end()) {
      yaml.fail(e, "duplicate scope " + quote(scope));
    }
    scopes.push_back(scope);
  }
  return scopes;
}

// camara.connectivity.*: DATA and/or SMS, non-empty, no duplicates.
std::vector<std::string> readConnectivity(const YamlReader& yaml, const Item& item) {
  std::vector<std::string> types;
  for (const Item& e : yaml.list(item)) {
    const std::string type = yaml.text(e);
    if (type != "DATA" && type != "SMS") yaml.fail(e, "expected DATA or SMS, got " + quote(type));
    if (std::find(types.begin(), types.end(), type) != types.end()) {
      yaml.fail(e, "duplicate connectivity type " + quote(type));
    }
    types.push_back(type);
  }
  if (types.empty()) yaml.fail(item, "expected DATA, SMS or both, got an empty list");
  return types;
}

// camara.clients: token client -> a requester of the `requesters` section (read before).
void readCamaraClients(const FieldInput& in, GatewayConfig& c) {
  c.camara.clients.clear();
  for (const auto& [client, keyLine, value] : in.yaml.entries(in.at)) {
    const Item at{value.node, value.path, keyLine};
    if (client.empty() || client.size() > 255 || hasControl(client)) {
      in.yaml.fail(at, "expected a client id of 1..255 characters without control characters");
    }
    const std::string requester = in.yaml.text(value);
    if (c.requesters.find(requester) == c.requesters.end()) {
      std::vector<std::string> known;
      for (const auto& entry : c.requesters) known.push_back(entry.first);
      in.yaml.fail(value, "unknown requester " + quote(requester) + " (configured requesters: " +
                              (known.empty() ? std::string("none") : join(known)) + ")");
    }
    c.camara.clients.emplace(client, requester);
  }
}

// What camara.enabled: true needs: issuer, audience and one JWKS source. Reported at the
// missing key's section (camara.auth, or camara.enabled when there is no auth section).
void checkCamaraEnabled(const FieldInput& in, GatewayConfig& c) {
  if (!c.camara.enabled) return;
  const auto auth = in.siblings.find("auth");
  const Item& where = auth != in.siblings.end() ? auth->second : in.siblings.at("enabled");
  const auto key = [&](const char* name) {
    YAML::Node node;
    if (auth != in.siblings.end() && auth->second.node.IsMap()) {
      for (const auto& entry : auth->second.node) {
        if (entry.first.IsScalar() && entry.first.Scalar() == name) node = entry.second;
      }
    }
    return Item{node, std::string("camara.auth.") + name, lineOf(node, where.line)};
  };
  const CamaraConfig::Auth& a = c.camara.auth;
  if (a.issuer.empty()) in.yaml.fail(key("issuer"), "required when camara.enabled is true");
  if (a.audience.empty()) in.yaml.fail(key("audience"), "required when camara.enabled is true");
  if (a.jwksFile.empty() && a.jwksUrl.empty()) {
    in.yaml.fail(key("jwksFile"),
                 "camara.auth.jwksFile or camara.auth.jwksUrl is required when camara.enabled is "
                 "true");
  }
  if (!a.jwksFile.empty() && !a.jwksUrl.empty()) {
    in.yaml.fail(key("jwksUrl"), "give camara.auth.jwksFile or camara.auth.jwksUrl, not both");
  }
}

void addCamaraFields(std::vector<ConfigField>& f) {
  f.push_back(boolean("camara.enabled", PX_CONFIG_MEMBER(camara.enabled),
                      "Serve the CAMARA Device Reachability Status API (docs/camara.md)."));
  f.push_back(text("camara.basePath", PX_CONFIG_MEMBER(camara.basePath), &readBasePath,
                   "URL path prefix of the CAMARA APIs (their apiRoot's path); \"/\" = the root."));
  f.push_back(text("camara.serviceName", PX_CONFIG_MEMBER(camara.serviceName), &label127,
                   "SERVICE of CAMARA usage records; 1..127 characters."));
  f.push_back(text("camara.auth.issuer", PX_CONFIG_MEMBER(camara.auth.issuer), &optionalLabel255,
                   "Issuer (iss) every access token must have; required when enabled."));
  f.push_back(text("camara.auth.audience", PX_CONFIG_MEMBER(camara.auth.audience),
                   &optionalLabel255,
                   "Audience (aud) every access token must name; required when enabled."));
  {
    ConfigField file{"camara.auth.jwksFile", FieldType::kString,
                     "JWKS file of the issuer's keys, relative to the config file; \"\" = none.",
                     PX_CONFIG_MEMBER(camara.auth.jwksFile)};
    file.read = &readJwksFile;
    f.push_back(file);
  }
  f.push_back(text("camara.auth.jwksUrl", PX_CONFIG_MEMBER(camara.auth.jwksUrl), &readJwksUrl,
                   "http(s) URL of the issuer's JWKS (instead of jwksFile); \"\" = none."));
  f.push_back(integer("camara.auth.clockToleranceSec",
                      PX_CONFIG_MEMBER(camara.auth.clockToleranceSec), 0, 300,
                      "Clock skew allowed when checking exp and nbf, in seconds."));
  f.push_back(text("camara.auth.phoneNumberClaim", PX_CONFIG_MEMBER(camara.auth.phoneNumberClaim),
                   &readClaimName,
                   "Claim of a 3-legged token naming the device's phone number; \"\" = none."));
  f.push_back(list(
      "camara.scopes.getReachabilityStatus", PX_CONFIG_MEMBER(camara.scopes.getReachabilityStatus),
      [](const FieldInput& in, GatewayConfig& c) {
        c.camara.scopes.getReachabilityStatus = readScopes(in.yaml, in.at);
      },
      "Scopes a token needs for POST .../retrieve; [] = none."));
  f.push_back(list(
      "camara.scopes.createDeviceReachabilityStatusSubscription",
      PX_CONFIG_MEMBER(camara.scopes.createDeviceReachabilityStatusSubscription),
      [](const FieldInput& in, GatewayConfig& c) {
        c.camara.scopes.createDeviceReachabilityStatusSubscription = readScopes(in.yaml, in.at);
      },
      "Scopes a token needs for POST .../subscriptions (one naming an event type: only for that "
      "type); [] = none."));
  f.push_back(list(
      "camara.scopes.retrieveDeviceReachabilityStatusSubscriptionList",
      PX_CONFIG_MEMBER(camara.scopes.retrieveDeviceReachabilityStatusSubscriptionList),
      [](const FieldInput& in, GatewayConfig& c) {
        c.camara.scopes.retrieveDeviceReachabilityStatusSubscriptionList =
            readScopes(in.yaml, in.at);
      },
      "Scopes a token needs for GET .../subscriptions; [] = none."));
  f.push_back(list(
      "camara.scopes.retrieveDeviceReachabilityStatusSubscription",
      PX_CONFIG_MEMBER(camara.scopes.retrieveDeviceReachabilityStatusSubscription),
      [](const FieldInput& in, GatewayConfig& c) {
        c.camara.scopes.retrieveDeviceReachabilityStatusSubscription = readScopes(in.yaml, in.at);
      },
      "Scopes a token needs for GET .../subscriptions/{id}; [] = none."));
  f.push_back(list(
      "camara.scopes.deleteDeviceReachabilityStatusSubscription",
      PX_CONFIG_MEMBER(camara.scopes.deleteDeviceReachabilityStatusSubscription),
      [](const FieldInput& in, GatewayConfig& c) {
        c.camara.scopes.deleteDeviceReachabilityStatusSubscription = readScopes(in.yaml, in.at);
      },
      "Scopes a token needs for DELETE .../subscriptions/{id}; [] = none."));
  f.push_back(integer("camara.subscriptions.maxPerRequester",
                      PX_CONFIG_MEMBER(camara.subscriptions.maxPerRequester), 1, 1000000,
                      "Most active reachability subscriptions of one requester (429 beyond)."));
  f.push_back(integer("camara.subscriptions.maxExpirySec",
                      PX_CONFIG_MEMBER(camara.subscriptions.maxExpirySec), 60, 31536000,
                      "Longest subscription life, in s; a later subscriptionExpireTime is cut."));
  {
    ConfigField expiry = then(
        integer("camara.subscriptions.defaultExpirySec",
                PX_CONFIG_MEMBER(camara.subscriptions.defaultExpirySec), 60, 31536000,
                "Life of a subscription without subscriptionExpireTime, in s; <= maxExpirySec."),
        [](const FieldInput& in, GatewayConfig& c) {
          atMost(in, c.camara.subscriptions.defaultExpirySec, c.camara.subscriptions.maxExpirySec,
                 "camara.subscriptions.maxExpirySec");
        });
    expiry.maxKey = "camara.subscriptions.maxExpirySec";
    f.push_back(expiry);
  }
  f.push_back(then(structured("camara.clients", &readCamaraClients,
                              "Token client (client_id, azp or sub) -> requester; others get "
                              "403."),
                   &checkCamaraEnabled));
  for (const bool busy : {false, true}) {
    ConfigField types{busy ? "camara.connectivity.busy" : "camara.connectivity.reachable",
                      FieldType::kEnumList,
                      busy ? "Connectivity of an open presence with a busy activity: DATA, SMS."
                           : "Connectivity of an open presence (registered): DATA, SMS.",
                      busy ? Access{PX_CONFIG_MEMBER(camara.connectivity.busy)}
                           : Access{PX_CONFIG_MEMBER(camara.connectivity.reachable)}};
    types.values = {"DATA", "SMS"};
    types.read = busy
                     ? +[](const FieldInput& in,
                           GatewayConfig&
                               c) { c.camara.connectivity.busy = readConnectivity(in.yaml, in.at); }
                     : +[](const FieldInput& in, GatewayConfig& c) {
                         c.camara.connectivity.reachable = readConnectivity(in.yaml, in.at);
                       };
    f.push_back(types);
  }
}

// store.*: where the usage records go (config/StoreConfig.h).
void addStoreFields(std::vector<ConfigField>& f) {
  {
    ConfigField backend{"store.backend", FieldType::kEnum,
                        "Database of the usage records: sqlite (usage.database) or postgresql "
                        "(store.url).",
                        std::monostate{}};
    backend.values = {"sqlite", "postgresql"};
    backend.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name = in.at.node.IsScalar() ? in.at.node.Scalar() : "";
      if (name != "sqlite" && name != "postgresql") {
        in.yaml.fail(in.at, "expected 'sqlite' or 'postgresql', got " + quote(name));
      }
      c.store.backend = name == "postgresql" ? StoreBackend::kPostgresql : StoreBackend::kSqlite;
    };
    backend.value = [](const GatewayConfig& c) -> FieldValue {
      return std::string(c.store.backend == StoreBackend::kPostgresql ? "postgresql" : "sqlite");
    };
    f.push_back(backend);
  }
  {
    ConfigField url{"store.url", FieldType::kString,
                    "libpq connection URI or string of the PostgreSQL database; required for "
                    "postgresql.",
                    PX_CONFIG_MEMBER(store.url)};
    url.readWhenAbsent = true;
    url.read = [](const FieldInput& in, GatewayConfig& c) {
      if (in.present) {
        const std::string value = in.yaml.text(in.at);
        if (value.size() > 4096 || hasControl(value)) {
          in.yaml.fail(in.at,
                       "expected a connection string of at most 4096 characters without "
                       "control characters");
        }
        c.store.url = value;
      }
      if (c.store.backend == StoreBackend::kPostgresql && c.store.url.empty()) {
        in.yaml.fail(in.present ? in.at : in.siblings.at("backend"),
                     "store.url is required when store.backend is postgresql");
      }
    };
    f.push_back(url);
  }
  {
    ConfigField spool{"store.spool", FieldType::kString,
                      "postgresql, batched: SQLite file of the rows spooled while PostgreSQL is "
                      "unreachable, relative to the config file.",
                      PX_CONFIG_MEMBER(store.spool)};
    spool.readWhenAbsent = true;
    spool.read = [](const FieldInput& in, GatewayConfig& c) {
      c.store.spool =
          in.yaml.resolvePath(in.at, in.present ? in.yaml.filePath(in.at) : c.store.spool);
    };
    f.push_back(spool);
  }
  f.push_back(integer("store.spoolCapacity", PX_CONFIG_MEMBER(store.spoolCapacity), 1000, 100000000,
                      "Most rows in the spool; beyond, batched appends fail (counted)."));
  f.push_back(integer("store.connectTimeoutSec", PX_CONFIG_MEMBER(store.connectTimeoutSec), 2, 60,
                      "Longest wait for a PostgreSQL connection, in seconds."));
  f.push_back(
      integer("store.reconnectBackoffMs", PX_CONFIG_MEMBER(store.reconnectBackoffMs), 10, 60000,
              "First delay before reconnecting to PostgreSQL, doubled per failure, in ms."));
  f.push_back(then(integer("store.reconnectBackoffMaxMs",
                           PX_CONFIG_MEMBER(store.reconnectBackoffMaxMs), 10, 600000,
                           "Longest delay between reconnection attempts, in ms; at least "
                           "reconnectBackoffMs."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     notBelow(in, c.store.reconnectBackoffMaxMs, c.store.reconnectBackoffMs,
                              "reconnectBackoffMs",
                              "reconnectBackoffMaxMs must not be smaller than reconnectBackoffMs");
                   }));
}

std::vector<ConfigField> buildFields() {
  std::vector<ConfigField> f;
  f.push_back(text("service.name", PX_CONFIG_MEMBER(serviceName), &label127,
                   "Service implementation name in usage records and logs; 1..127 characters."));

  // http
  f.push_back(text("http.host", PX_CONFIG_MEMBER(http.host), &readHost,
                   "Address the SOAP endpoint listens on: host name, IPv4 or IPv6 without "
                   "brackets."));
  f.push_back(port("http.port", PX_CONFIG_MEMBER(http.port),
                   "TCP port of the SOAP endpoint; 0 = any free port."));
  f.push_back(text("http.basePath", PX_CONFIG_MEMBER(http.basePath), &readBasePath,
                   "URL path prefix of the services: starts with '/', no trailing '/'."));
  f.push_back(integer("http.maxBodyBytes", PX_CONFIG_MEMBER(http.maxBodyBytes), 1024, 16777216,
                      "Largest accepted SOAP request body, in bytes."));
  f.push_back(integer("http.keepAliveTimeoutMs", PX_CONFIG_MEMBER(http.keepAliveTimeoutMs), 0,
                      600000, "Idle keep-alive time after a response; 0 = close after each."));
  f.push_back(then(integer("http.requestTimeoutMs", PX_CONFIG_MEMBER(http.requestTimeoutMs), 100,
                           600000, "Longest time to receive a whole request, in ms."),
                   [](const FieldInput&, GatewayConfig& c) {
                     // The headers are part of the request: a larger headers timeout could
                     // never apply.
                     c.http.headersTimeoutMs = std::min<uint32_t>(5000, c.http.requestTimeoutMs);
                   }));
  {
    ConfigField headers = then(
        integer("http.headersTimeoutMs", PX_CONFIG_MEMBER(http.headersTimeoutMs), 100, 600000,
                "Longest time to receive the request line and headers, in ms; default "
                "min(5000, requestTimeoutMs)."),
        [](const FieldInput& in, GatewayConfig& c) {
          atMost(in, c.http.headersTimeoutMs, c.http.requestTimeoutMs, "http.requestTimeoutMs");
        });
    headers.maxKey = "http.requestTimeoutMs";
    f.push_back(headers);
  }
  f.push_back(integer("http.idleTimeoutMs", PX_CONFIG_MEMBER(http.idleTimeoutMs), 100, 600000,
                      "Longest silence while a request is being received, in ms."));
  f.push_back(then(integer("http.maxConnections", PX_CONFIG_MEMBER(http.maxConnections), 1, 100000,
                           "Most SOAP connections open at once."),
                   [](const FieldInput&, GatewayConfig& c) {
                     c.http.maxConnectionsPerSource =
                         std::min<uint32_t>(128, c.http.maxConnections);
                   }));
  {
    ConfigField perSource = then(
        integer("http.maxConnectionsPerSource", PX_CONFIG_MEMBER(http.maxConnectionsPerSource), 1,
                100000,
                "Most SOAP connections from one remote IP address; default min(128, "
                "maxConnections)."),
        [](const FieldInput& in, GatewayConfig& c) {
          atMost(in, c.http.maxConnectionsPerSource, c.http.maxConnections, "http.maxConnections");
        });
    perSource.maxKey = "http.maxConnections";
    f.push_back(perSource);
  }

  // admin
  f.push_back(boolean("admin.enabled", PX_CONFIG_MEMBER(admin.enabled),
                      "Start the admin listener (/metrics, /healthz, /readyz) with listen()."));
  f.push_back(text("admin.host", PX_CONFIG_MEMBER(admin.host), &readHost,
                   "Address the admin listener listens on: host name, IPv4 or IPv6 without "
                   "brackets."));
  f.push_back(port("admin.port", PX_CONFIG_MEMBER(admin.port),
                   "TCP port of the admin listener; 0 = any free port."));
  f.push_back(integer("admin.shutdownDeadlineMs", PX_CONFIG_MEMBER(admin.shutdownDeadlineMs), 100,
                      600000,
                      "On SIGTERM, longest wait for in-flight requests before closing, in ms."));
  f.push_back(structured(
      "admin.users",
      [](const FieldInput& in, GatewayConfig& c) {
        c.admin.users = RequesterConfigReader(in.yaml).readAdminUsers(in.at);
      },
      "Admin page users: name -> passwordHash (scrypt, as requesters'); none = no admin page."));
  f.push_back(boolean("admin.authenticateMetrics", PX_CONFIG_MEMBER(admin.authenticateMetrics),
                      "GET /metrics needs an admin user's credentials too (HTTP Basic)."));

  // logging
  {
    ConfigField level{"logging.level", FieldType::kEnum,
                      "Least severe log level written: trace, debug, info, warn, error or fatal.",
                      std::monostate{}};
    level.values = {"trace", "debug", "info", "warn", "error", "fatal"};
    level.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name = in.at.node.IsScalar() ? in.at.node.Scalar() : "";
      static constexpr std::string_view kLevels[] = {"trace", "debug", "info",
                                                     "warn",  "error", "fatal"};
      if (std::find(std::begin(kLevels), std::end(kLevels), name) == std::end(kLevels)) {
        in.yaml.fail(in.at,
                     "expected one of trace, debug, info, warn, error, fatal, got '" + name + "'");
      }
      c.logging.level = name;
    };
    level.value = [](const GatewayConfig& c) -> FieldValue { return c.logging.level; };
    f.push_back(level);
  }
  f.push_back(integer("logging.sofiaLevel", PX_CONFIG_MEMBER(logging.sofiaLevel), 0, 9,
                      "Sofia-SIP's own log level (su_log, 0..9) sent to the gateway's log; "
                      "0 = off."));

  // sip
  f.push_back(text("sip.bindHost", PX_CONFIG_MEMBER(sip.bindHost), &readHost,
                   "Local address of the SIP stack: host name, IPv4 or IPv6 without brackets."));
  f.push_back(port("sip.port", PX_CONFIG_MEMBER(sip.port),
                   "Local SIP port of all transports; 0 = any free port."));
  {
    ConfigField transports{"sip.transports", FieldType::kEnumList,
                           "Transports to listen on; non-empty, no duplicates.", std::monostate{}};
    transports.values = {"udp", "tcp"};
    transports.read = [](const FieldInput& in, GatewayConfig& c) {
      c.sip.transports = readTransports(in.yaml, in.at);
    };
    transports.value = [](const GatewayConfig& c) -> FieldValue {
      std::vector<std::string> names;
      for (SipTransport t : c.sip.transports)
        names.emplace_back(t == SipTransport::kUdp ? "udp" : "tcp");
      return names;
    };
    f.push_back(transports);
  }
  f.push_back(text("sip.watcherUri", PX_CONFIG_MEMBER(sip.watcherUri), &readSipUri,
                   "From URI of every SUBSCRIBE: a sip: or sips: URI."));
  f.push_back(text("sip.presenceServerUri", PX_CONFIG_MEMBER(sip.presenceServerUri), &readSipUri,
                   "Presence server every SUBSCRIBE is routed through (top Route)."));
  f.push_back(text("sip.telDomain", PX_CONFIG_MEMBER(sip.telDomain), &readTelDomain,
                   "Domain tel: numbers are subscribed in; \"\" sends tel: URIs unchanged."));
  f.push_back(text("sip.userAgent", PX_CONFIG_MEMBER(sip.userAgent), &label255,
                   "User-Agent of outgoing requests; 1..255 characters."));
  f.push_back(integer("sip.tcp.idleTimeoutMs", PX_CONFIG_MEMBER(sip.tcp.idleTimeoutMs), 1000,
                      3600000,
                      "Inbound SIP TCP connection closed after this long without a message."));
  f.push_back(integer("sip.tcp.maxConnections", PX_CONFIG_MEMBER(sip.tcp.maxConnections), 1, 65536,
                      "Inbound SIP TCP connections in all."));
  {
    ConfigField perSource =
        then(integer("sip.tcp.maxConnectionsPerSource",
                     PX_CONFIG_MEMBER(sip.tcp.maxConnectionsPerSource), 1, 65536,
                     "Inbound SIP TCP connections from one remote IP address."),
             [](const FieldInput& in, GatewayConfig& c) {
               // The default never exceeds the total.
               if (!in.present) {
                 c.sip.tcp.maxConnectionsPerSource =
                     std::min(c.sip.tcp.maxConnectionsPerSource, c.sip.tcp.maxConnections);
               }
             });
    perSource.maxKey = "sip.tcp.maxConnections";
    perSource.maxOf = [](const GatewayConfig& c) { return c.sip.tcp.maxConnections; };
    f.push_back(perSource);
  }
  f.push_back(boolean("sip.checkNotifySource", PX_CONFIG_MEMBER(sip.checkNotifySource),
                      "Take an in-dialog NOTIFY only from the presence server, the dialog's "
                      "peers or trustedNotifySources."));
  f.push_back(list(
      "sip.trustedNotifySources", PX_CONFIG_MEMBER(sip.trustedNotifySources),
      [](const FieldInput& in, GatewayConfig& c) {
        c.sip.trustedNotifySources = readTrustedSources(in.yaml, in.at);
      },
      "More NOTIFY sources: IP addresses or CIDR blocks."));

  // presence
  {
    ConfigField source{"presence.source", FieldType::kEnum,
                       "Status source: presence (PIDF), reg (registration state, RFC 3680) or "
                       "both (reachability from reg, Busy from presence).",
                       std::monostate{}};
    source.values = {"presence", "reg", "both"};
    source.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name =
          in.at.node.IsScalar() ? ascii::lowered(in.at.node.Scalar()) : std::string();
      if (name == "presence") {
        c.presence.source = PresenceSource::kPresence;
      } else if (name == "reg") {
        c.presence.source = PresenceSource::kReg;
      } else if (name == "both") {
        c.presence.source = PresenceSource::kBoth;
      } else {
        in.yaml.fail(in.at, "expected 'presence', 'reg' or 'both', got " + describe(in.at.node));
      }
    };
    source.value = [](const GatewayConfig& c) -> FieldValue {
      switch (c.presence.source) {
        case PresenceSource::kReg:
          return std::string("reg");
        case PresenceSource::kBoth:
          return std::string("both");
        case PresenceSource::kPresence:
          break;
      }
      return std::string("presence");
    };
    f.push_back(source);
  }
  f.push_back(integer("presence.fetchTimeoutMs", PX_CONFIG_MEMBER(presence.fetchTimeoutMs), 50,
                      60000, "Longest time one presence fetch may take, in ms."));
  f.push_back(ranked(list(
                         "presence.busyActivities", PX_CONFIG_MEMBER(presence.busyActivities),
                         [](const FieldInput& in, GatewayConfig& c) {
                           c.presence.busyActivities = readBusyActivities(in.yaml, in.at);
                         },
                         "RPID activities that make an open tuple Busy; non-empty."),
                     1));
  f.push_back(integer("presence.subscriptionExpiresSec",
                      PX_CONFIG_MEMBER(presence.subscriptionExpiresSec), 1, 86400,
                      "Expires asked for in each long-lived SUBSCRIBE, in seconds."));
  f.push_back(integer("presence.subscribeTimeoutMs", PX_CONFIG_MEMBER(presence.subscribeTimeoutMs),
                      100, 120000,
                      "Longest wait for a SUBSCRIBE's answer and first NOTIFY, in ms."));
  f.push_back(integer(
      "presence.resubscribeBackoffMs", PX_CONFIG_MEMBER(presence.resubscribeBackoffMs), 10, 3600000,
      "Delay before subscribing again after a failure, doubled per failure, in ms."));
  {
    ConfigField backoffMax =
        then(integer("presence.resubscribeBackoffMaxMs",
                     PX_CONFIG_MEMBER(presence.resubscribeBackoffMaxMs), 10, 3600000,
                     "Longest resubscribe delay, in ms; at least resubscribeBackoffMs."),
             [](const FieldInput& in, GatewayConfig& c) {
               notBelow(in, c.presence.resubscribeBackoffMaxMs, c.presence.resubscribeBackoffMs,
                        "resubscribeBackoffMs",
                        "resubscribeBackoffMaxMs must not be smaller than resubscribeBackoffMs");
             });
    f.push_back(backoffMax);
  }
  f.push_back(integer("presence.maxSubscribeFailures",
                      PX_CONFIG_MEMBER(presence.maxSubscribeFailures), 1, 1000,
                      "Consecutive failures before a terminal is given up (statusError)."));
  f.push_back(integer("presence.maxSubscribesInFlight",
                      PX_CONFIG_MEMBER(presence.maxSubscribesInFlight), 1, 100000,
                      "Most SUBSCRIBE transactions in progress at once."));
  f.push_back(boolean(
      "presence.answerFromSubscriptions", PX_CONFIG_MEMBER(presence.answerFromSubscriptions),
      "Answer a fetch of a terminal whose subscription runs from its last NOTIFY."));
  f.push_back(boolean(
      "presence.resourceLists.enabled", PX_CONFIG_MEMBER(presence.resourceLists.enabled),
      "getStatusForGroup of a group with a list URI: one RFC 4662 list SUBSCRIBE (Supported: "
      "eventlist) instead of one fetch per member; per-member fetches when the server refuses."));
  f.push_back(text("presence.resourceLists.listUriTemplate",
                   PX_CONFIG_MEMBER(presence.resourceLists.listUriTemplate), &readListUriTemplate,
                   "The list URI of a group: {user} and {host} of the group URI "
                   "(glmgroup:user@host) substituted, e.g. sip:{user}@{host}; \"\" = none."));
  f.push_back(integer("presence.resourceLists.fetchTimeoutMs",
                      PX_CONFIG_MEMBER(presence.resourceLists.fetchTimeoutMs), 100, 60000,
                      "Longest time one group's list fetch may take, in ms."));
  f.push_back(integer("presence.resourceLists.settleMs",
                      PX_CONFIG_MEMBER(presence.resourceLists.settleMs), 0, 60000,
                      "Quiet time after the last list NOTIFY, in ms, after which listed members "
                      "without state are Unreachable; above the server's NOTIFY buffering "
                      "(Kamailio rls waitn_time)."));

  // groups
  f.push_back(list(
      "groups.schemes", PX_CONFIG_MEMBER(groups.schemes),
      [](const FieldInput& in, GatewayConfig& c) {
        c.groups.schemes = readGroupSchemes(in.yaml, in.at);
      },
      "URI schemes that name a group; not tel, sip or sips."));
  f.push_back(structured(
      "groups.members",
      [](const FieldInput& in, GatewayConfig& c) {
        // After groups.schemes: member keys are checked against them.
        c.groups.members = readGroupMembers(in.yaml, in.at, c.groups.schemes);
      },
      "Group URI -> member addresses (tel:, sip:, sips:)."));
  addXcapGroupFields(f);

  // authentication
  f.push_back(boolean("authentication.required", PX_CONFIG_MEMBER(authentication.required),
                      "Refuse requests without credentials (HTTP 401)."));
  f.push_back(text("authentication.realm", PX_CONFIG_MEMBER(authentication.realm), &readRealm,
                   "HTTP Basic realm; 1..127 printable ASCII characters without '\"' or '\\'."));
  f.push_back(integer("authentication.tokenMaxAgeSec",
                      PX_CONFIG_MEMBER(authentication.tokenMaxAgeSec), 1, 3600,
                      "UsernameToken: largest clock difference of wsu:Created and nonce memory, "
                      "in seconds."));
  f.push_back(integer("authentication.verifiedCacheSec",
                      PX_CONFIG_MEMBER(authentication.verifiedCacheSec), 0, 86400,
                      "How long a checked password is remembered, in seconds; 0 = never."));
  f.push_back(integer("authentication.throttle.windowSec",
                      PX_CONFIG_MEMBER(authentication.throttle.windowSec), 1, 86400,
                      "Window failed logins are counted in, in seconds."));
  f.push_back(integer("authentication.throttle.maxFailuresPerClient",
                      PX_CONFIG_MEMBER(authentication.throttle.maxFailuresPerClient), 1, 1000000,
                      "Failures from one IP address per window before it is locked out."));
  f.push_back(integer("authentication.throttle.maxFailuresPerRequester",
                      PX_CONFIG_MEMBER(authentication.throttle.maxFailuresPerRequester), 1, 1000000,
                      "Failures for one requester name per window before it is locked out."));
  f.push_back(then(integer("authentication.throttle.lockoutSec",
                           PX_CONFIG_MEMBER(authentication.throttle.lockoutSec), 1, 86400,
                           "First lock-out, in seconds; doubled for each further one."),
                   [](const FieldInput&, GatewayConfig& c) {
                     // Absent maxLockoutSec: its default, raised to lockoutSec so that a long
                     // first lock-out alone is valid.
                     auto& t = c.authentication.throttle;
                     t.maxLockoutSec = std::max(t.maxLockoutSec, t.lockoutSec);
                   }));
  f.push_back(then(integer("authentication.throttle.maxLockoutSec",
                           PX_CONFIG_MEMBER(authentication.throttle.maxLockoutSec), 1, 86400,
                           "Longest lock-out, in seconds; at least lockoutSec."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     const auto& t = c.authentication.throttle;
                     if (in.present && t.maxLockoutSec < t.lockoutSec) {
                       in.yaml.fail(in.at, "must be at least authentication.throttle.lockoutSec (" +
                                               std::to_string(t.lockoutSec) + "), got " +
                                               std::to_string(t.maxLockoutSec));
                     }
                   }));
  f.push_back(integer("authentication.throttle.trustedSourceSec",
                      PX_CONFIG_MEMBER(authentication.throttle.trustedSourceSec), 0, 2592000,
                      "How long an authenticated address passes its requester's lock-out; 0 = "
                      "never."));
  f.push_back(integer("authentication.throttle.verifyConcurrency",
                      PX_CONFIG_MEMBER(authentication.throttle.verifyConcurrency), 1, 64,
                      "scrypt verifications at once."));
  f.push_back(integer("authentication.throttle.verifyQueueLength",
                      PX_CONFIG_MEMBER(authentication.throttle.verifyQueueLength), 0, 100000,
                      "Verifications waiting for a slot; more are refused (HTTP 503)."));

  // The loader reads these two itself: the override rule needs both (RequesterConfigReader,
  // PolicyConfigReader, OverrideRule).
  f.push_back(structured("requesters", nullptr,
                         "Requester name -> passwordHash, digestSecretFile, policy overrides."));
  f.push_back(
      structured("policy", nullptr,
                 "Service policy: global rules, services, operations (their notification limits), "
                 "trafficShaping."));

  // notifications: database and maxDurationSec are read first, as before the table.
  {
    ConfigField database{"notifications.database", FieldType::kString,
                         "SQLite file of the active notifications, relative to the config file.",
                         PX_CONFIG_MEMBER(notifications.database)};
    database.readWhenAbsent = true;
    database.read = [](const FieldInput& in, GatewayConfig& c) {
      c.notifications.database = in.yaml.resolvePath(
          in.at, in.present ? in.yaml.filePath(in.at) : c.notifications.database);
    };
    f.push_back(ranked(database, -1));
  }
  f.push_back(then(integer("notifications.defaultDurationSec",
                           PX_CONFIG_MEMBER(notifications.defaultDurationSec), 1, 31536000,
                           "Duration of a notification that asks for none, in seconds; at most "
                           "maxDurationSec. Global; policy levels may shorten it (policy.md)."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     const auto& n = c.notifications;
                     if (n.defaultDurationSec > n.maxDurationSec) {
                       in.yaml.fail(in.present ? in.at : in.siblings.at("maxDurationSec"),
                                    "defaultDurationSec must not be larger than maxDurationSec");
                     }
                   }));
  f.push_back(
      ranked(integer("notifications.maxDurationSec", PX_CONFIG_MEMBER(notifications.maxDurationSec),
                     1, 31536000,
                     "Longest duration a request may ask for, in seconds (POL0001). Global; "
                     "policy levels may lower it (policy.md)."),
             -1));
  f.push_back(integer("notifications.minFrequencyMs",
                      PX_CONFIG_MEMBER(notifications.minFrequencyMs), 0, 86400000,
                      "Shortest frequency a request may ask for, in ms (POL0009). Global; policy "
                      "levels may raise it (policy.md)."));
  f.push_back(boolean("notifications.unlimitedCountAllowed",
                      PX_CONFIG_MEMBER(notifications.unlimitedCountAllowed),
                      "Accept requests without count (else POL0004). Global; policy levels may "
                      "forbid it (policy.md)."));
  f.push_back(integer("notifications.maxCount", PX_CONFIG_MEMBER(notifications.maxCount), 1,
                      1000000000,
                      "Largest count a request may ask for (POL0005). Global; policy levels may "
                      "lower it (policy.md)."));
  f.push_back(boolean("notifications.busyCriteriaAllowed",
                      PX_CONFIG_MEMBER(notifications.busyCriteriaAllowed),
                      "Accept Busy as a criterion (else POL0001). Global; policy levels may forbid "
                      "it (policy.md)."));
  f.push_back(integer("notifications.delivery.timeoutMs",
                      PX_CONFIG_MEMBER(notifications.delivery.timeoutMs), 100, 120000,
                      "Longest time of one delivery attempt, in ms."));
  f.push_back(integer("notifications.delivery.maxAttempts",
                      PX_CONFIG_MEMBER(notifications.delivery.maxAttempts), 1, 100,
                      "Attempts per delivery before it is given up."));
  f.push_back(integer("notifications.delivery.retryBackoffMs",
                      PX_CONFIG_MEMBER(notifications.delivery.retryBackoffMs), 10, 3600000,
                      "Delay before the second attempt, doubled for each further one, in ms."));
  f.push_back(then(integer("notifications.delivery.retryBackoffMaxMs",
                           PX_CONFIG_MEMBER(notifications.delivery.retryBackoffMaxMs), 10, 3600000,
                           "Longest delay between attempts, in ms; at least retryBackoffMs."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     notBelow(in, c.notifications.delivery.retryBackoffMaxMs,
                              c.notifications.delivery.retryBackoffMs, "retryBackoffMs",
                              "retryBackoffMaxMs must not be smaller than retryBackoffMs");
                   }));
  f.push_back(integer("notifications.delivery.maxSocketsPerEndpoint",
                      PX_CONFIG_MEMBER(notifications.delivery.maxSocketsPerEndpoint), 1, 1024,
                      "Most keep-alive connections to one application endpoint."));
  f.push_back(integer("notifications.delivery.maxConnections",
                      PX_CONFIG_MEMBER(notifications.delivery.maxConnections), 1, 65535,
                      "Most connections to all application endpoints together."));

  // outbound
  f.push_back(structured(
      "outbound.allow",
      [](const FieldInput& in, GatewayConfig& c) {
        OutboundConfigReader(in.yaml).readAllow(in.at, c.outbound);
      },
      "SSRF guard exceptions: CIDRs, IP addresses or host names (JS: "
      "allowCidrs, allowHosts)."));
  f.push_back(boolean("outbound.allowOwnListeners", PX_CONFIG_MEMBER(outbound.allowOwnListeners),
                      "Allow the gateway's own HTTP and SIP ports as destinations."));

  addCallFields(f);

  // usage
  {
    ConfigField database{"usage.database", FieldType::kString,
                         "SQLite file of the usage records, relative to the config file.",
                         PX_CONFIG_MEMBER(usage.database)};
    database.readWhenAbsent = true;
    database.read = [](const FieldInput& in, GatewayConfig& c) {
      c.usage.database =
          in.yaml.resolvePath(in.at, in.present ? in.yaml.filePath(in.at) : c.usage.database);
    };
    f.push_back(database);
  }
  {
    ConfigField durability{"usage.durability", FieldType::kEnum,
                           "durable: committed before the answer; batched: within flushIntervalMs.",
                           std::monostate{}};
    durability.values = {"durable", "batched"};
    durability.read = [](const FieldInput& in, GatewayConfig& c) {
      c.usage.durability = readDurability(in.yaml, in.at);
    };
    durability.value = [](const GatewayConfig& c) -> FieldValue {
      return std::string(c.usage.durability == UsageDurability::kDurable ? "durable" : "batched");
    };
    f.push_back(durability);
  }
  f.push_back(integer("usage.flushIntervalMs", PX_CONFIG_MEMBER(usage.flushIntervalMs), 1, 10000,
                      "batched: longest wait of a record for its commit, in ms."));
  f.push_back(integer("usage.queueCapacity", PX_CONFIG_MEMBER(usage.queueCapacity), 100, 10000000,
                      "Most records waiting for the database writer."));
  f.push_back(integer("usage.maxServiceDataBytes", PX_CONFIG_MEMBER(usage.maxServiceDataBytes), 64,
                      1048576, "Longest SERVICEDATA of one record row, in bytes."));
  {
    ConfigField host{"usage.host", FieldType::kString,
                     "HOST column of every record; \"\" = this machine's host name.",
                     PX_CONFIG_MEMBER(usage.host)};
    host.readWhenAbsent = true;
    host.read = [](const FieldInput& in, GatewayConfig& c) {
      if (in.present) c.usage.host = in.yaml.text(in.at).empty() ? "" : in.yaml.label(in.at, 255);
      if (c.usage.host.empty()) c.usage.host = machineName(in.yaml, in.at);
    };
    f.push_back(host);
  }

  addStoreFields(f);
  addCamaraFields(f);
  return f;
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

std::string_view fieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kInteger:
      return "integer";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kString:
      return "string";
    case FieldType::kStringList:
      return "string[]";
    case FieldType::kEnum:
      return "enum";
    case FieldType::kEnumList:
      return "enum[]";
    case FieldType::kStructured:
      break;
  }
  return "structured";
}

const std::vector<ConfigField>& configFields() {
  static const std::vector<ConfigField> fields = buildFields();
  return fields;
}

FieldValue fieldValue(const ConfigField& field, const GatewayConfig& config) {
  if (field.value != nullptr) return field.value(config);
  return std::visit(
      Overloaded{[](std::monostate) -> FieldValue { return std::monostate{}; },
                 [&](Member<uint16_t> m) -> FieldValue { return uint32_t{m.get(config)}; },
                 [&](auto m) -> FieldValue { return m.get(config); }},
      field.access);
}

void readField(const ConfigField& field, const FieldInput& in, GatewayConfig& config) {
  if (field.read != nullptr) {
    if (in.present || field.readWhenAbsent) field.read(in, config);
  } else if (in.present) {
    const YamlReader& yaml = in.yaml;
    std::visit(Overloaded{[&](std::monostate) {
                            throw std::logic_error(std::string(field.key) + " has no reader");
                          },
                          [&](Member<uint32_t> m) {
                            const uint32_t max = field.maxOf ? field.maxOf(config) : field.max;
                            m.ref(config) = yaml.integer(in.at, field.min, max);
                          },
                          [&](Member<uint16_t> m) {
                            m.ref(config) =
                                static_cast<uint16_t>(yaml.integer(in.at, field.min, field.max));
                          },
                          [&](Member<bool> m) { m.ref(config) = yaml.boolean(in.at); },
                          [&](Member<std::string> m) { m.ref(config) = field.parse(yaml, in.at); },
                          [&](Member<std::vector<std::string>>) {
                            throw std::logic_error(std::string(field.key) + " has no reader");
                          }},
               field.access);
  }
  if (field.after != nullptr) field.after(in, config);
}

}  // namespace px::config
