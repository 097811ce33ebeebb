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
#include "config/FieldBuilders.h"
#include "config/OutboundConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/SectionFields.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

using namespace schema;

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
