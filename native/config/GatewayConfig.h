// The gateway configuration, read from YAML by the core (yaml-cpp). Every key is documented in
// config/gateway.yaml; unknown keys and bad values are ConfigError naming file, line and key.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace px {

struct HttpConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;               // 0 = any free port (tests)
  std::string basePath = "/parlayx";  // must start with '/', no trailing '/'
  uint32_t maxBodyBytes = 65536;      // 1 KiB .. 16 MiB
  uint32_t keepAliveTimeoutMs = 5000;
  uint32_t requestTimeoutMs = 10000;
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
};

struct PresenceConfig {
  uint32_t fetchTimeoutMs = 1000;  // 50 .. 60000; TWSS PresenceFetchTimeoutInMillis
  std::vector<std::string> busyActivities = {"on-the-phone", "busy"};  // RPID element names
};

struct TerminalStatusConfig {
  uint32_t maxTargets = 100;  // getStatusForGroup addresses after group expansion, 1 .. 10000
};

struct GroupsConfig {
  // URI schemes that denote a group; lower-case (matching is case-insensitive).
  std::vector<std::string> schemes = {"glmgroup"};
  // group URI (scheme lower-cased, rest as written) -> member addresses (tel/sip/sips terminal
  // addresses as written in the file, never groups).
  std::map<std::string, std::vector<std::string>> members;
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
  SipConfig sip;
  PresenceConfig presence;
  TerminalStatusConfig terminalStatus;
  GroupsConfig groups;
  UsageConfig usage;
};

// A configuration problem: what() is "<file>:<line>: <key.path>: <message>"; ":<line>" is left
// out when line is 0 and "<key.path>: " when key is empty (e.g. YAML syntax errors).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }               // 1-based; 0 when the file itself is the problem
  const std::string& key() const { return key_; }  // dotted path, e.g. "sip.port"

 private:
  std::string file_;
  int line_;
  std::string key_;
};

// Reads and validates a YAML file. Missing keys keep the defaults above (usage.database and
// usage.host are resolved, see UsageConfig); sourcePath = path.
// Throws ConfigError only (unreadable file: line 0, key "").
GatewayConfig loadConfigFile(const std::string& path);
// Same for YAML text; `name` is used as the file name in errors; sourcePath stays "".
GatewayConfig loadConfigText(const std::string& yaml, const std::string& name);

}  // namespace px
