// The gateway configuration, read from YAML by the core (yaml-cpp). Every key is documented in
// config/gateway.yaml; unknown keys and bad values are ConfigError naming file, line and key.
// The member initialisers are the defaults; each key's range, format and reader are its row in
// ConfigSchema.cc, which is what the loader enforces (ranges noted here are for the reader).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/CallsConfig.h"
#include "config/CamaraConfig.h"
#include "config/ConfigError.h"
#include "config/OutboundConfig.h"
#include "config/PolicyConfig.h"
#include "config/StoreConfig.h"

namespace px {

struct HttpConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                // 0 = any free port (tests)
  std::string basePath = "/parlayx";   // must start with '/', no trailing '/'
  uint32_t maxBodyBytes = 65536;       // 1 KiB .. 16 MiB
  uint32_t keepAliveTimeoutMs = 5000;  // 0 = close after each response
  uint32_t requestTimeoutMs = 10000;   // 100 .. 600000: whole request (headers + body) received
  // 100 .. requestTimeoutMs: request line and headers received. Absent: min(5000,
  // requestTimeoutMs).
  uint32_t headersTimeoutMs = 5000;
  // 100 .. 600000: silence (no byte received) tolerated while a request is being received,
  // including before the first byte of a new connection.
  uint32_t idleTimeoutMs = 5000;
  // Concurrent connections, total (1 .. 100000) and per remote IP address (1 .. maxConnections;
  // absent: min(128, maxConnections)); more are closed at once. Bounds the fds HTTP may use.
  uint32_t maxConnections = 512;
  uint32_t maxConnectionsPerSource = 128;
};

// The operations listener (/metrics, /healthz, /readyz), apart from the public SOAP port.
struct AdminConfig {
  bool enabled = false;  // off for library users and tests, which opt in
  std::string host = "127.0.0.1";
  uint16_t port = 9464;                 // 0 = any free port (tests)
  uint32_t shutdownDeadlineMs = 10000;  // 100 .. 600000: SIGTERM drain, then force-close
  // Who may open the admin page (/admin/): user name -> scrypt password hash (the requesters'
  // format, js/auth/passwordHash.js). Empty: no admin page.
  std::map<std::string, std::string> users;
  bool authenticateMetrics = false;  // /metrics needs an admin user's credentials too
};

// The gateway's log (js/logging/): pino's level, and how much of Sofia-SIP's own log reaches it.
struct LoggingConfig {
  std::string level = "info";  // trace, debug, info, warn, error or fatal
  uint32_t sofiaLevel = 0;     // 0 .. 9, Sofia's su_log level; 0 = Sofia's log is dropped
};

enum class SipTransport { kUdp, kTcp };

struct SipConfig {
  std::string bindHost = "127.0.0.1";  // IPv4/IPv6 literal or host name
  uint16_t port = 5070;                // 0 = any free port (tests)
  std::vector<SipTransport> transports = {SipTransport::kUdp, SipTransport::kTcp};  // not empty
  std::string watcherUri = "sip:parlayx-gateway@127.0.0.1";  // From of every SUBSCRIBE; sip/sips
  // Outbound route for SUBSCRIBE (top Route, ";lr" added when missing); TWSS PresenceServerSIPURI.
  std::string presenceServerUri = "sip:127.0.0.1:5060";
  // tel: addresses are subscribed as sip:<number>@telDomain;user=phone; empty = send tel: as is.
  std::string telDomain = "example.test";
  std::string userAgent = "parlayx-gateway";
  // Hardening (issue 12). Inbound TCP: Sofia accepts every connection, so the watcher closes
  // the ones beyond these caps and those idle too long (see native/sip/TcpGuard.h).
  struct Tcp {
    uint32_t idleTimeoutMs = 30000;         // 1000 .. 3600000: no complete message for this long
    uint32_t maxConnections = 256;          // 1 .. 65536 inbound connections in all
    uint32_t maxConnectionsPerSource = 16;  // 1 .. maxConnections from one remote IP
  } tcp;
  // An in-dialog NOTIFY (fetch or subscription) is taken only from the presence server's
  // address, the dialog's peers (2xx source, remote target, first route) or these; else 403.
  bool checkNotifySource = true;
  std::vector<std::string> trustedNotifySources;  // IP literals or CIDR blocks, canonical form
};

// Where terminal statuses come from: the presence event package (PIDF), the registration
// state (RFC 3680 "reg", reginfo), or both (reachability from reg, Busy from presence).
enum class PresenceSource { kPresence, kReg, kBoth };

struct PresenceConfig {
  PresenceSource source = PresenceSource::kPresence;  // presence.source
  uint32_t fetchTimeoutMs = 1000;  // 50 .. 60000; TWSS PresenceFetchTimeoutInMillis
  std::vector<std::string> busyActivities = {"on-the-phone", "busy"};  // RPID element names
  // Long-lived subscriptions (startNotification).
  uint32_t subscriptionExpiresSec = 3600;  // 1 .. 86400: Expires asked for; refreshed before it
  uint32_t subscribeTimeoutMs = 5000;      // 100 .. 120000: SUBSCRIBE final answer + first NOTIFY
  uint32_t resubscribeBackoffMs = 1000;    // 10 .. 3600000: first retry delay, doubled per failure
  uint32_t resubscribeBackoffMaxMs = 60000;  // resubscribeBackoffMs .. 3600000
  uint32_t maxSubscribeFailures = 5;         // 1 .. 1000 consecutive failures, then statusError
  uint32_t maxSubscribesInFlight = 200;      // 1 .. 100000 SUBSCRIBE transactions at once (pacing)
  // getStatus of a terminal a running subscription watches: answered from its last NOTIFY.
  bool answerFromSubscriptions = true;
  // RFC 4662 resource lists (presence.resourceLists; README "Resource lists").
  struct ResourceLists {
    bool enabled = false;
    // Group URI -> list URI: "{user}" and "{host}" are the group URI's (glmgroup:user@host);
    // "" = no group has a list.
    std::string listUriTemplate;
    uint32_t fetchTimeoutMs = 5000;  // 100 .. 60000: one group's list fetch
    uint32_t settleMs = 1500;        // 0 .. 60000: quiet time after the last list NOTIFY
  } resourceLists;
};

// Groups from an XDMS: RFC 4826 resource lists fetched over XCAP (docs/policy.md, Group sources).
struct XcapGroupsConfig {
  std::string root;           // XCAP root URI (http:// or https://, no trailing '/'); "" = off
  std::string user;           // XUI of the document: <root>/resource-lists/users/<user>/index
  std::string documentPath;   // instead of user: the document's path below the root
  uint32_t timeoutMs = 2000;  // 100 .. 60000: longest wait for one request's group documents
  uint32_t cacheSec = 60;     // 0 .. 86400: a fetched document is used this long
  uint32_t maxDepth = 4;      // 0 .. 16: nested lists / external references below a group
  std::string username;       // "" = no XCAP authentication; else Basic or Digest as challenged
  std::string passwordFile;   // with username: owner-only file holding the password (resolved)
};

struct GroupsConfig {
  // URI schemes that denote a group; lower-case (matching is case-insensitive).
  std::vector<std::string> schemes = {"glmgroup"};
  // group URI (scheme lower-cased, rest as written) -> member addresses (tel/sip/sips terminal
  // addresses as written in the file, never groups).
  std::map<std::string, std::vector<std::string>> members;
  XcapGroupsConfig xcap;
};

// Notification delivery to the application's TerminalStatusNotification endpoint.
struct DeliveryConfig {
  uint32_t timeoutMs = 5000;            // 100 .. 120000 per attempt
  uint32_t maxAttempts = 5;             // 1 .. 100
  uint32_t retryBackoffMs = 500;        // 10 .. 3600000: delay before the 2nd attempt, doubled
  uint32_t retryBackoffMaxMs = 30000;   // retryBackoffMs .. 3600000
  uint32_t maxSocketsPerEndpoint = 16;  // 1 .. 1024 keep-alive connections per endpoint
  uint32_t maxConnections = 1024;       // 1 .. 65535 open connections to all endpoints together
};

// startNotification limits (the service policy of TWSS: MaximumNotificationDuration, ...) at the
// global level, and where active notifications are kept. Requesters, services and operations
// may tighten the limits under their policy's `notifications:` (PolicyConfig.h).
struct NotificationsConfig {
  // SQLite file of the active notifications; relative paths as usage.database.
  std::string database = "var/notifications.db";
  uint32_t defaultDurationSec = 3600;  // 1 .. maxDurationSec: when duration is absent or 0
  uint32_t maxDurationSec = 86400;     // 1 .. 31536000
  uint32_t minFrequencyMs = 1000;      // 0 .. 86400000: shortest frequency accepted
  bool unlimitedCountAllowed = true;   // count absent = unlimited; else POL0004
  uint32_t maxCount = 100000;          // 1 .. 1000000000; larger count: POL0005
  bool busyCriteriaAllowed = true;     // TWSS BusyAvailable: Busy as a criterion
  DeliveryConfig delivery;

  // The global level of the notification limits (policy levels tighten it: PolicyConfig.h).
  NotificationLimits limits() const {
    return NotificationLimits{maxDurationSec,        defaultDurationSec, minFrequencyMs,
                              unlimitedCountAllowed, maxCount,           busyCriteriaAllowed};
  }
};

enum class UsageDurability { kDurable, kBatched };

// Usage records (seeds/004): where they are written and how hard the writer tries to keep them.
struct UsageConfig {
  // SQLite file. The loader resolves a relative path against the config file's directory
  // (loadConfigText: the current directory) and stores the absolute result; never "" or ".../".
  std::string database = "var/usage.db";
  // kDurable: a request's records are committed before its answer is sent. kBatched: committed
  // within flushIntervalMs, so the records of the last flushIntervalMs can be lost on a crash.
  UsageDurability durability = UsageDurability::kDurable;
  uint32_t flushIntervalMs = 100;       // 1 .. 10000; commit interval of kBatched
  uint32_t queueCapacity = 100000;      // 100 .. 10000000 rows waiting for the writer
  uint32_t maxServiceDataBytes = 1024;  // 64 .. 1048576; longer SERVICEDATA continues in segments
  // HOST column. "" = this machine's name: the loader stores gethostname() here, so a loaded
  // config never has it empty.
  std::string host;
};

struct GatewayConfig {
  std::string sourcePath;                 // file it was read from ("" when built in code)
  std::string serviceName = "PX_TS_SIP";  // service implementation name, 1..127 chars
  HttpConfig http;
  AdminConfig admin;
  LoggingConfig logging;
  SipConfig sip;
  PresenceConfig presence;
  GroupsConfig groups;
  AuthenticationConfig authentication;
  std::map<std::string, RequesterConfig> requesters;  // name -> requester
  PolicyConfig policy;
  NotificationsConfig notifications;
  OutboundConfig outbound;
  UsageConfig usage;
  StoreConfig store;  // where usage records go: SQLite (usage.database) or PostgreSQL
  CallsConfig calls;
  CamaraConfig camara;
};

// Reads and validates a YAML file. Missing keys keep the defaults above (usage.database and
// usage.host are resolved, see UsageConfig); sourcePath = path.
// Throws ConfigError only (unreadable file: line 0, key "").
GatewayConfig loadConfigFile(const std::string& path);
// Same for YAML text; `name` is used as the file name in errors; sourcePath stays "".
GatewayConfig loadConfigText(const std::string& yaml, const std::string& name);

}  // namespace px
