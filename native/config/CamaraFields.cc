// camara.*: the CAMARA APIs (config/CamaraConfig.h, docs/camara.md).
#include "config/SectionFields.h"

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

#include "config/FieldBuilders.h"

namespace px::config {

namespace {

using namespace schema;

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

}  // namespace

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

}  // namespace px::config
