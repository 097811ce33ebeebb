// GoogleTest suite of the YAML configuration loader (native/config).
#include "config/GatewayConfig.h"

#include <gtest/gtest.h>

#include "support/ConfigErrors.h"
#include "support/TempDir.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace px {
namespace {

namespace fs = std::filesystem;

const std::string kDataDir = std::string(PX_TEST_DATA_DIR) + "/config";

std::string hostName() {
  char buf[256] = {};
  EXPECT_EQ(gethostname(buf, sizeof buf - 1), 0);
  return buf;
}

// What the loader should store for a database path: directory canonicalised, file name kept.
std::string resolved(const fs::path& p) {
  return (fs::weakly_canonical(p.parent_path()) / p.filename()).string();
}

using px::testing::ErrorCase;
using px::testing::expectErrors;
using px::testing::loadError;
using px::testing::TempDir;

void expectDefaults(const GatewayConfig& c) {
  const GatewayConfig d;
  EXPECT_EQ(c.serviceName, d.serviceName);
  EXPECT_EQ(c.http.host, d.http.host);
  EXPECT_EQ(c.http.port, d.http.port);
  EXPECT_EQ(c.http.basePath, d.http.basePath);
  EXPECT_EQ(c.http.maxBodyBytes, d.http.maxBodyBytes);
  EXPECT_EQ(c.http.keepAliveTimeoutMs, d.http.keepAliveTimeoutMs);
  EXPECT_EQ(c.http.requestTimeoutMs, d.http.requestTimeoutMs);
  EXPECT_EQ(c.http.headersTimeoutMs, d.http.headersTimeoutMs);
  EXPECT_EQ(c.http.idleTimeoutMs, d.http.idleTimeoutMs);
  EXPECT_EQ(c.http.maxConnections, d.http.maxConnections);
  EXPECT_EQ(c.http.maxConnectionsPerSource, d.http.maxConnectionsPerSource);
  // admin.enabled is left out: the shipped file turns it on (the run configuration).
  EXPECT_EQ(c.admin.host, d.admin.host);
  EXPECT_EQ(c.admin.port, d.admin.port);
  EXPECT_EQ(c.admin.shutdownDeadlineMs, d.admin.shutdownDeadlineMs);
  EXPECT_EQ(c.sip.bindHost, d.sip.bindHost);
  EXPECT_EQ(c.sip.port, d.sip.port);
  EXPECT_EQ(c.sip.transports, d.sip.transports);
  EXPECT_EQ(c.sip.watcherUri, d.sip.watcherUri);
  EXPECT_EQ(c.sip.presenceServerUri, d.sip.presenceServerUri);
  EXPECT_EQ(c.sip.telDomain, d.sip.telDomain);
  EXPECT_EQ(c.sip.userAgent, d.sip.userAgent);
  EXPECT_EQ(c.presence.fetchTimeoutMs, d.presence.fetchTimeoutMs);
  EXPECT_EQ(c.presence.busyActivities, d.presence.busyActivities);
  EXPECT_EQ(c.groups.schemes, d.groups.schemes);
  EXPECT_EQ(c.groups.members, d.groups.members);
  EXPECT_EQ(c.usage.durability, d.usage.durability);
  EXPECT_EQ(c.usage.flushIntervalMs, d.usage.flushIntervalMs);
  EXPECT_EQ(c.usage.queueCapacity, d.usage.queueCapacity);
  EXPECT_EQ(c.usage.maxServiceDataBytes, d.usage.maxServiceDataBytes);
  // database and host are resolved at load time; each test checks them against its base.
  EXPECT_EQ(c.usage.host, hostName());
}

void expectValid(const std::vector<const char*>& texts) {
  for (const char* yaml : texts) {
    SCOPED_TRACE(yaml);
    EXPECT_NO_THROW(loadConfigText(yaml, "test.yaml"));
  }
}

TEST(ConfigDefaults, EmptyCommentOnlyAndNullSectionsGiveDefaults) {
  for (const char* yaml : {"", "# nothing here\n\n   # at all\n", "---\n", "~\n",
                           "http:\nsip:\n  # all commented out\npresence:\n"}) {
    SCOPED_TRACE(yaml);
    const GatewayConfig c = loadConfigText(yaml, "empty.yaml");
    expectDefaults(c);
    EXPECT_EQ(c.sourcePath, "");
    EXPECT_EQ(c.usage.database, resolved(fs::current_path() / "var/usage.db"));
  }
}

TEST(ConfigDefaults, StructDefaultsAreTheDocumentedOnes) {
  const GatewayConfig d;
  EXPECT_EQ(d.http.port, 8080);
  EXPECT_FALSE(d.admin.enabled);  // library users and tests opt in
  EXPECT_EQ(d.admin.host, "127.0.0.1");
  EXPECT_EQ(d.admin.port, 9464);
  EXPECT_EQ(d.admin.shutdownDeadlineMs, 10000u);
  EXPECT_EQ(d.sip.port, 5070);
  EXPECT_EQ(d.sip.presenceServerUri, "sip:127.0.0.1:5060");
  EXPECT_EQ(d.sip.telDomain, "example.test");
  EXPECT_EQ(d.usage.database, "var/usage.db");  // unresolved until loaded
  EXPECT_EQ(d.usage.durability, UsageDurability::kDurable);
  EXPECT_EQ(d.usage.flushIntervalMs, 100u);
  EXPECT_EQ(d.usage.queueCapacity, 100000u);
  EXPECT_EQ(d.usage.maxServiceDataBytes, 1024u);
  EXPECT_EQ(d.usage.host, "");
}

TEST(ConfigDefaults, UsageDatabaseAndHostAreResolvedAtLoadTime) {
  const GatewayConfig c = loadConfigText("usage: {durability: durable}\n", "u.yaml");
  EXPECT_TRUE(fs::path(c.usage.database).is_absolute()) << c.usage.database;
  EXPECT_EQ(c.usage.database, resolved(fs::current_path() / "var" / "usage.db"));
  EXPECT_FALSE(c.usage.host.empty());
  EXPECT_EQ(c.usage.host, hostName());
  // An explicit "" also means the machine's name.
  EXPECT_EQ(loadConfigText("usage:\n  host: \"\"\n", "u.yaml").usage.host, hostName());
}

TEST(ConfigShipped, DefaultFileLoadsWithTheIntendedValues) {
  const std::string path = std::string(PX_SOURCE_DIR) + "/config/gateway.yaml";
  const GatewayConfig c = loadConfigFile(path);
  EXPECT_EQ(c.sourcePath, path);
  expectDefaults(c);             // the shipped file documents the defaults, so it must equal them
  EXPECT_TRUE(c.admin.enabled);  // except this one: the README's run serves /metrics
  EXPECT_EQ(c.serviceName, "PX_TS_SIP");
  EXPECT_EQ(c.http.host, "127.0.0.1");
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.http.basePath, "/parlayx");
  EXPECT_EQ(c.http.maxBodyBytes, 65536u);
  EXPECT_EQ(c.http.keepAliveTimeoutMs, 5000u);
  EXPECT_EQ(c.http.requestTimeoutMs, 10000u);
  EXPECT_EQ(c.http.headersTimeoutMs, 5000u);
  EXPECT_EQ(c.http.idleTimeoutMs, 5000u);
  EXPECT_EQ(c.http.maxConnections, 512u);
  EXPECT_EQ(c.http.maxConnectionsPerSource, 128u);
  EXPECT_EQ(c.sip.bindHost, "127.0.0.1");
  EXPECT_EQ(c.sip.port, 5070);
  EXPECT_EQ(c.sip.transports, (std::vector<SipTransport>{SipTransport::kUdp, SipTransport::kTcp}));
  EXPECT_EQ(c.sip.watcherUri, "sip:parlayx-gateway@127.0.0.1");
  EXPECT_EQ(c.sip.presenceServerUri, "sip:127.0.0.1:5060");
  EXPECT_EQ(c.sip.telDomain, "example.test");
  EXPECT_EQ(c.sip.userAgent, "parlayx-gateway");
  EXPECT_EQ(c.presence.fetchTimeoutMs, 1000u);
  EXPECT_EQ(c.presence.busyActivities, (std::vector<std::string>{"on-the-phone", "busy"}));
  EXPECT_EQ(c.groups.schemes, std::vector<std::string>{"glmgroup"});
  EXPECT_TRUE(c.groups.members.empty());
  EXPECT_TRUE(c.authentication.required);
  EXPECT_EQ(c.authentication.realm, "parlayx-gateway");
  EXPECT_EQ(c.authentication.tokenMaxAgeSec, 300u);
  EXPECT_EQ(c.authentication.verifiedCacheSec, 300u);
  EXPECT_TRUE(c.requesters.empty());
  // The documented defaults are written out; everything else is left unset.
  const PolicyRules& rules = c.policy.defaults.rules;
  EXPECT_EQ(rules.enabled, true);
  EXPECT_EQ(
      rules.allowedSchemes,
      (std::vector<AddressScheme>{AddressScheme::kTel, AddressScheme::kSip, AddressScheme::kSips}));
  EXPECT_EQ(rules.groupsAllowed, true);
  EXPECT_EQ(rules.maxTargets, 100u);
  EXPECT_FALSE(rules.processUpTo.has_value());
  EXPECT_FALSE(rules.maxInFlight.has_value());
  EXPECT_FALSE(rules.pacer.has_value());
  EXPECT_FALSE(rules.addressPlan.e164Only.has_value());
  EXPECT_TRUE(rules.addressPlan.telPatterns.empty());
  EXPECT_TRUE(rules.privacy.optedOut.empty());
  EXPECT_FALSE(rules.privacy.allowedTargets.has_value());
  EXPECT_TRUE(c.policy.defaults.services.empty());
  EXPECT_TRUE(c.policy.trafficShaping.empty());
  // ../var/usage.db relative to config/, i.e. the git-ignored <repo>/var/, not config/var/.
  EXPECT_EQ(c.usage.database, resolved(fs::path(PX_SOURCE_DIR) / "var" / "usage.db"));
  EXPECT_EQ(c.usage.durability, UsageDurability::kDurable);
  EXPECT_EQ(c.usage.flushIntervalMs, 100u);
  EXPECT_EQ(c.usage.queueCapacity, 100000u);
  EXPECT_EQ(c.usage.maxServiceDataBytes, 1024u);
  EXPECT_EQ(c.usage.host, hostName());
}

TEST(ConfigFull, EveryKeySetRoundTrips) {
  const std::string path = kDataDir + "/full.yaml";
  const GatewayConfig c = loadConfigFile(path);
  EXPECT_EQ(c.sourcePath, path);
  EXPECT_EQ(c.serviceName, "Gateway \xC3\x9C 1");
  EXPECT_EQ(c.http.host, "::1");
  EXPECT_EQ(c.http.port, 0);
  EXPECT_EQ(c.http.basePath, "/api/px-1.0");
  EXPECT_EQ(c.http.maxBodyBytes, 1024u);
  EXPECT_EQ(c.http.keepAliveTimeoutMs, 0u);
  EXPECT_EQ(c.http.requestTimeoutMs, 600000u);
  EXPECT_EQ(c.http.headersTimeoutMs, 600000u);
  EXPECT_EQ(c.http.idleTimeoutMs, 600000u);
  EXPECT_EQ(c.http.maxConnections, 100000u);
  EXPECT_EQ(c.http.maxConnectionsPerSource, 100000u);
  EXPECT_EQ(c.sip.bindHost, "sip-gw.example.net");
  EXPECT_EQ(c.sip.port, 65535);
  EXPECT_EQ(c.sip.transports, std::vector<SipTransport>{SipTransport::kTcp});
  EXPECT_EQ(c.sip.watcherUri, "sips:watcher@gw.example.net:5061;transport=tcp");
  EXPECT_EQ(c.sip.presenceServerUri, "sip:127.0.0.1:5060;lr");
  EXPECT_EQ(c.sip.telDomain, "");
  EXPECT_EQ(c.sip.userAgent, "PX/2.0 (test)");
  EXPECT_EQ(c.presence.fetchTimeoutMs, 60000u);
  EXPECT_EQ(c.presence.busyActivities,
            (std::vector<std::string>{"meeting", "on-the-phone", "x.y_z-1"}));
  EXPECT_FALSE(c.authentication.required);
  EXPECT_EQ(c.authentication.realm, "PX test realm");
  EXPECT_EQ(c.authentication.tokenMaxAgeSec, 3600u);
  EXPECT_EQ(c.authentication.verifiedCacheSec, 0u);
  EXPECT_EQ(c.authentication.throttle.windowSec, 86400u);
  EXPECT_EQ(c.authentication.throttle.maxFailuresPerClient, 1000000u);
  EXPECT_EQ(c.authentication.throttle.maxFailuresPerRequester, 1000000u);
  EXPECT_EQ(c.authentication.throttle.lockoutSec, 86400u);
  EXPECT_EQ(c.authentication.throttle.maxLockoutSec, 86400u);
  EXPECT_EQ(c.authentication.throttle.trustedSourceSec, 2592000u);
  EXPECT_EQ(c.authentication.throttle.verifyConcurrency, 64u);
  EXPECT_EQ(c.authentication.throttle.verifyQueueLength, 100000u);
  EXPECT_EQ(c.policy.defaults.rules.maxTargets, 10000u);
  EXPECT_EQ(c.policy.defaults.rules.enabled, false);
  EXPECT_EQ(c.groups.schemes, (std::vector<std::string>{"grp", "team"}));
  const std::map<std::string, std::vector<std::string>> members = {
      {"grp:sales@example.net", {"tel:+15551234567", "sip:alice@example.net"}},
      {"team:dev", {"sips:bob@example.net"}}};
  EXPECT_EQ(c.groups.members, members);
  EXPECT_EQ(c.usage.database, resolved(fs::path(kDataDir) / "records" / "usage.sqlite"));
  EXPECT_EQ(c.usage.durability, UsageDurability::kBatched);
  EXPECT_EQ(c.usage.flushIntervalMs, 10000u);
  EXPECT_EQ(c.usage.queueCapacity, 100u);
  EXPECT_EQ(c.usage.maxServiceDataBytes, 1048576u);
  EXPECT_EQ(c.usage.host, "gw-1.example.net");
}

TEST(ConfigText, PartialSectionsKeepOtherDefaults) {
  const GatewayConfig c = loadConfigText("sip:\n  port: 5080\n", "x.yaml");
  EXPECT_EQ(c.sip.port, 5080);
  EXPECT_EQ(c.sip.bindHost, "127.0.0.1");
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.groups.schemes, std::vector<std::string>{"glmgroup"});
}

TEST(ConfigText, ValuesAtTheRangeBoundsAreAccepted) {
  const GatewayConfig lo = loadConfigText(
      "http: {port: 0, maxBodyBytes: 1024, keepAliveTimeoutMs: 0, requestTimeoutMs: 100}\n"
      "presence: {fetchTimeoutMs: 50}\npolicy: {maxTargets: 1}\n",
      "lo.yaml");
  EXPECT_EQ(lo.http.port, 0);
  EXPECT_EQ(lo.http.requestTimeoutMs, 100u);
  EXPECT_EQ(lo.presence.fetchTimeoutMs, 50u);
  EXPECT_EQ(lo.policy.defaults.rules.maxTargets, 1u);
  const GatewayConfig hi = loadConfigText(
      "http: {port: 65535, maxBodyBytes: 16777216, keepAliveTimeoutMs: 600000}\n"
      "presence: {fetchTimeoutMs: 60000}\npolicy: {maxTargets: 100000}\n"
      "sip: {port: !!int 007}\n",
      "hi.yaml");
  EXPECT_EQ(hi.http.port, 65535);
  EXPECT_EQ(hi.http.maxBodyBytes, 16777216u);
  EXPECT_EQ(hi.http.keepAliveTimeoutMs, 600000u);
  EXPECT_EQ(hi.sip.port, 7);
  EXPECT_EQ(hi.policy.defaults.rules.maxTargets, 100000u);
}

// Timeouts and connection caps of the SOAP endpoint (issue 12).
TEST(ConfigHttpLimits, DefaultsFollowTheLimitsTheyMustNotExceed) {
  const GatewayConfig small =
      loadConfigText("http: {requestTimeoutMs: 2000, maxConnections: 10}\n", "h.yaml");
  EXPECT_EQ(small.http.headersTimeoutMs, 2000u);
  EXPECT_EQ(small.http.maxConnectionsPerSource, 10u);
  const GatewayConfig set = loadConfigText(
      "http: {requestTimeoutMs: 2000, headersTimeoutMs: 2000, idleTimeoutMs: 100, "
      "maxConnections: 1, maxConnectionsPerSource: 1}\n",
      "h.yaml");
  EXPECT_EQ(set.http.headersTimeoutMs, 2000u);
  EXPECT_EQ(set.http.idleTimeoutMs, 100u);
  EXPECT_EQ(set.http.maxConnections, 1u);
  EXPECT_EQ(set.http.maxConnectionsPerSource, 1u);
  // Key order does not matter: the relation is checked after the whole section is read.
  const GatewayConfig reordered = loadConfigText(
      "http: {headersTimeoutMs: 100, requestTimeoutMs: 100, maxConnectionsPerSource: 3, "
      "maxConnections: 3}\n",
      "h.yaml");
  EXPECT_EQ(reordered.http.headersTimeoutMs, 100u);
  EXPECT_EQ(reordered.http.maxConnectionsPerSource, 3u);
}

TEST(ConfigHttpLimits, Errors) {
  expectErrors({
      {"http:\n  headersTimeoutMs: 99\n", 2, "http.headersTimeoutMs",
       "expected an integer in 100..600000, got 99"},
      {"http:\n  headersTimeoutMs: 10001\n", 2, "http.headersTimeoutMs",
       "must not exceed http.requestTimeoutMs (10000), got 10001"},
      {"http:\n  requestTimeoutMs: 1000\n  headersTimeoutMs: 1001\n", 3, "http.headersTimeoutMs",
       "must not exceed http.requestTimeoutMs (1000)"},
      {"http:\n  idleTimeoutMs: 99\n", 2, "http.idleTimeoutMs", "in 100..600000, got 99"},
      {"http:\n  idleTimeoutMs: 600001\n", 2, "http.idleTimeoutMs", "in 100..600000"},
      {"http:\n  maxConnections: 0\n", 2, "http.maxConnections", "in 1..100000, got 0"},
      {"http:\n  maxConnections: 100001\n", 2, "http.maxConnections", "in 1..100000"},
      {"http:\n  maxConnectionsPerSource: 0\n", 2, "http.maxConnectionsPerSource",
       "in 1..100000, got 0"},
      {"http:\n  maxConnectionsPerSource: 513\n", 2, "http.maxConnectionsPerSource",
       "must not exceed http.maxConnections (512), got 513"},
      {"http:\n  maxConnectionsPerSource: 5\n  maxConnections: 4\n", 2,
       "http.maxConnectionsPerSource", "must not exceed http.maxConnections (4)"},
      {"http:\n  maxConnection: 5\n", 2, "http.maxConnection", "did you mean 'maxConnections'?"},
      {"http:\n  idleTimeoutMs: \"5\"\n", 2, "http.idleTimeoutMs", "the quoted string '5'"},
  });
}

TEST(ConfigUsage, EveryKeySet) {
  const GatewayConfig c = loadConfigText(
      "usage:\n"
      "  database: /srv/px/usage.db\n"
      "  durability: batched\n"
      "  flushIntervalMs: 250\n"
      "  queueCapacity: 5000\n"
      "  maxServiceDataBytes: 4096\n"
      "  host: node-7 (rack 2)\n",
      "u.yaml");
  EXPECT_EQ(c.usage.database, resolved("/srv/px/usage.db"));
  EXPECT_EQ(c.usage.durability, UsageDurability::kBatched);
  EXPECT_EQ(c.usage.flushIntervalMs, 250u);
  EXPECT_EQ(c.usage.queueCapacity, 5000u);
  EXPECT_EQ(c.usage.maxServiceDataBytes, 4096u);
  EXPECT_EQ(c.usage.host, "node-7 (rack 2)");
  EXPECT_EQ(loadConfigText("usage: {durability: DURABLE}\n", "u.yaml").usage.durability,
            UsageDurability::kDurable);
  // Other sections keep their defaults.
  EXPECT_EQ(c.http.port, 8080);
}

TEST(ConfigUsage, RangeBoundsAreAcceptedAndOneBeyondRefused) {
  const GatewayConfig lo = loadConfigText(
      "usage: {flushIntervalMs: 1, queueCapacity: 100, maxServiceDataBytes: 64}\n", "lo.yaml");
  EXPECT_EQ(lo.usage.flushIntervalMs, 1u);
  EXPECT_EQ(lo.usage.queueCapacity, 100u);
  EXPECT_EQ(lo.usage.maxServiceDataBytes, 64u);
  const GatewayConfig hi = loadConfigText(
      "usage: {flushIntervalMs: 10000, queueCapacity: 10000000, maxServiceDataBytes: 1048576}\n",
      "hi.yaml");
  EXPECT_EQ(hi.usage.flushIntervalMs, 10000u);
  EXPECT_EQ(hi.usage.queueCapacity, 10000000u);
  EXPECT_EQ(hi.usage.maxServiceDataBytes, 1048576u);
  expectErrors({
      {"usage:\n  flushIntervalMs: 0\n", 2, "usage.flushIntervalMs", "in 1..10000, got 0"},
      {"usage:\n  flushIntervalMs: 10001\n", 2, "usage.flushIntervalMs", "in 1..10000, got 10001"},
      {"usage:\n  queueCapacity: 99\n", 2, "usage.queueCapacity", "in 100..10000000, got 99"},
      {"usage:\n  queueCapacity: 10000001\n", 2, "usage.queueCapacity",
       "in 100..10000000, got 10000001"},
      {"usage:\n  maxServiceDataBytes: 63\n", 2, "usage.maxServiceDataBytes",
       "in 64..1048576, got 63"},
      {"usage:\n  maxServiceDataBytes: 1048577\n", 2, "usage.maxServiceDataBytes",
       "in 64..1048576, got 1048577"},
      {"usage:\n  queueCapacity: \"5000\"\n", 2, "usage.queueCapacity", "the quoted string"},
  });
}

TEST(ConfigUsage, DurabilityMustBeDurableOrBatched) {
  expectErrors({
      {"usage:\n  queueCapacity: 100\n  durability: fast\n", 3, "usage.durability",
       "expected 'durable' or 'batched', got 'fast'"},
      {"usage:\n  durability:\n", 2, "usage.durability", "got nothing (null)"},
      {"usage:\n  durability: [durable]\n", 2, "usage.durability", "got a list"},
      {"usage:\n  durability: 1\n", 2, "usage.durability", "got '1'"},
  });
  const ConfigError e = loadError("usage:\n  durability: sync\n");
  EXPECT_STREQ(e.what(),
               "test.yaml:2: usage.durability: expected 'durable' or 'batched', got 'sync'");
}

TEST(ConfigUsage, DatabaseMustNameAFile) {
  expectErrors({
      {"usage:\n  database: \"\"\n", 2, "usage.database", "expected a file path, got \"\""},
      {"usage:\n  database:\n", 2, "usage.database", "write \"\" for an empty string"},
      {"usage:\n  database: var/\n", 2, "usage.database", "got the directory 'var/'"},
      {"usage:\n  database: /\n", 2, "usage.database", "got the directory '/'"},
      {"usage:\n  database: .\n", 2, "usage.database", "got the directory '.'"},
      {"usage:\n  database: var/..\n", 2, "usage.database", "got the directory"},
      {"usage:\n  database: \"a\\nb.db\"\n", 2, "usage.database", "control characters"},
      {"usage:\n  database: [a.db]\n", 2, "usage.database", "expected a string, got a list"},
  });
}

TEST(ConfigUsage, HostIsPrintableText) {
  expectErrors({
      {"usage:\n  host: \"a\\tb\"\n", 2, "usage.host", "without control characters"},
      {"usage:\n  host: " + std::string(256, 'h') + "\n", 2, "usage.host",
       "expected 1..255 characters"},
      {"usage:\n  host:\n", 2, "usage.host", "write \"\" for an empty string"},
  });
  const std::string h255(255, 'h');
  EXPECT_EQ(loadConfigText("usage: {host: " + h255 + "}\n", "h.yaml").usage.host, h255);
}

TEST(ConfigUsage, UnknownKeySuggestsTheKnownOne) {
  expectErrors({
      {"usage:\n  flushInterval: 50\n", 2, "usage.flushInterval",
       "unknown key 'flushInterval' (did you mean 'flushIntervalMs'?)"},
      {"usage:\n  durablity: batched\n", 2, "usage.durablity", "did you mean 'durability'?"},
      {"usage:\n  databse: x.db\n", 2, "usage.databse", "did you mean 'database'?"},
      {"usage:\n  path: x.db\n", 2, "usage.path",
       "known keys: database, durability, flushIntervalMs, queueCapacity, maxServiceDataBytes, "
       "host"},
      {"usgae:\n  host: x\n", 1, "usgae", "did you mean 'usage'?"},
      {"usage: batched\n", 1, "usage", "expected a mapping, got 'batched'"},
  });
}

TEST(ConfigUsage, RelativeDatabaseOfTextIsRelativeToTheCurrentDirectory) {
  const GatewayConfig c = loadConfigText("usage:\n  database: data/../rec/u.db\n", "t.yaml");
  EXPECT_EQ(c.usage.database, resolved(fs::current_path() / "rec" / "u.db"));
  EXPECT_TRUE(fs::path(c.usage.database).is_absolute());
}

TEST(ConfigUsage, RelativeDatabaseOfAFileIsRelativeToItsDirectory) {
  const TempDir tmp;
  const fs::path base = fs::canonical(tmp.path());
  const auto databaseOf = [&](const std::string& name, const std::string& database) {
    return loadConfigFile(tmp.write(name, "usage:\n  database: " + database + "\n").string())
        .usage.database;
  };
  EXPECT_EQ(databaseOf("gateway.yaml", "var/usage.db"), (base / "var" / "usage.db").string());
  EXPECT_EQ(databaseOf("conf/gateway.yaml", "../var/usage.db"),
            (base / "var" / "usage.db").string());
  EXPECT_EQ(databaseOf("conf/deep/g.yaml", "u.db"), (base / "conf" / "deep" / "u.db").string());
  // Absolute paths are only normalised.
  EXPECT_EQ(databaseOf("g.yaml", (base / "conf" / ".." / "abs.db").string()),
            (base / "abs.db").string());
  // Defaults resolve the same way: var/usage.db next to the file.
  EXPECT_EQ(loadConfigFile(tmp.write("conf/empty.yaml", "").string()).usage.database,
            (base / "conf" / "var" / "usage.db").string());

  // '..' goes up from where the config file really is, as the kernel would resolve it: here the
  // config directory is a symlink to real/conf, so ../var is real/var, not <tmp>/var.
  fs::create_directories(base / "real" / "conf");
  fs::create_directory_symlink(base / "real" / "conf", base / "link");
  EXPECT_EQ(databaseOf("link/g.yaml", "../var/u.db"), (base / "real" / "var" / "u.db").string());
  // The file name is kept even when it is a symlink itself.
  std::ofstream(base / "target.db") << "";
  fs::create_symlink(base / "target.db", base / "named.db");
  EXPECT_EQ(databaseOf("g.yaml", "named.db"), (base / "named.db").string());
}

TEST(ConfigText, OtherAcceptedForms) {
  expectValid({
      "http: {basePath: /}\n",
      "http: {basePath: \"/a/b%2Fc/~x;v=1\"}\n",
      "http: {host: 0.0.0.0}\n",
      "http: {host: \"::\"}\n",
      "sip: {bindHost: localhost}\n",
      "sip: {presenceServerUri: \"sip:127.0.0.1:5060;lr\"}\n",
      "sip: {presenceServerUri: \"sips:pres.example.test\"}\n",
      "sip: {telDomain: \"[2001:db8::1]\"}\n",
      "sip: {transports: [udp]}\n",
      "service: {name: 123}\n",
      "groups: {schemes: []}\n",
      "groups: {schemes: [x-grp+1.a]}\n",
      "groups:\n  members:\n    GLMGROUP:a: [tel:+1555, sip:b@example.test]\n",
  });
  const std::string name127(127, 'n');
  EXPECT_EQ(loadConfigText("service: {name: " + name127 + "}\n", "n.yaml").serviceName, name127);
  // Group keys get a lower-case scheme so that lookups can normalise the same way.
  const GatewayConfig c =
      loadConfigText("groups:\n  members:\n    GlmGroup:Sales: [tel:+1555]\n", "g.yaml");
  ASSERT_EQ(c.groups.members.count("glmgroup:Sales"), 1u);
}

TEST(ConfigErrors, UnknownKeysNameLineAndPathAndSuggest) {
  expectErrors({
      {"htpp:\n  port: 1\n", 1, "htpp", "did you mean 'http'?"},
      {"sip:\n  port: 5070\n  trasnports: [udp]\n", 3, "sip.trasnports",
       "unknown key 'trasnports' (did you mean 'transports'?)"},
      // two adjacent swaps: 2 edits when transpositions count as one
      {"sip:\n  tarnsprots: [udp]\n", 2, "sip.tarnsprots", "did you mean 'transports'?"},
      {"http:\n  basepath: /x\n", 2, "http.basepath", "did you mean 'basePath'?"},
      {"policy:\n  maxTarget: 5\n", 2, "policy.maxTarget", "did you mean 'maxTargets'?"},
      {"# c\nfoo: 1\n", 2, "foo",
       "unknown key 'foo' (known keys: service, http, admin, logging, sip, presence, groups, "
       "authentication, requesters, policy, notifications, outbound, calls, usage, store, camara)"},
      // Moved to policy.maxTargets (and its per service/operation/requester overrides).
      {"terminalStatus:\n  maxTargets: 5\n", 1, "terminalStatus", "unknown key 'terminalStatus'"},
      {"presence:\n  fetchTimeout:\n    1000\n", 2, "presence.fetchTimeout",
       "did you mean 'fetchTimeoutMs'?"},
      {"service: {name: a, nmae2x: b}\n", 1, "service.nmae2x", "known keys: name"},
  });
}

TEST(ConfigErrors, DuplicateKeys) {
  expectErrors({
      {"http:\n  port: 1\n  port: 2\n", 3, "http.port", "duplicate key 'port' (first at line 2)"},
      {"sip: {}\nhttp: {}\nsip: {}\n", 3, "sip", "duplicate key 'sip' (first at line 1)"},
      {"groups:\n  members:\n    g:a: [tel:+1]\n    g:a: [tel:+2]\n", 4, "groups.members.g:a",
       "duplicate key"},
  });
}

TEST(ConfigErrors, Ports) {
  expectErrors({
      {"http:\n  port: -1\n", 2, "http.port", "expected an integer in 0..65535, got -1"},
      {"http:\n  port: 70000\n", 2, "http.port", "expected an integer in 0..65535, got 70000"},
      {"sip:\n  port: 50.5\n", 2, "sip.port", "expected an integer in 0..65535, got '50.5'"},
      {"sip:\n  port: abc\n", 2, "sip.port", "got 'abc'"},
      {"sip:\n  port: \"5060\"\n", 2, "sip.port", "got the quoted string '5060'"},
      {"sip:\n  port:\n", 2, "sip.port", "got nothing (null)"},
      {"sip:\n  port: [1]\n", 2, "sip.port", "got a list"},
      {"sip:\n  port: 99999999999999999999999\n", 2, "sip.port", "expected an integer"},
      {"sip:\n  port: 0x10\n", 2, "sip.port", "expected an integer"},
  });
}

TEST(ConfigErrors, IntegerRanges) {
  expectErrors({
      {"presence: {fetchTimeoutMs: 49}\n", 1, "presence.fetchTimeoutMs", "in 50..60000, got 49"},
      {"presence: {fetchTimeoutMs: 60001}\n", 1, "presence.fetchTimeoutMs", "in 50..60000"},
      {"policy: {maxTargets: 0}\n", 1, "policy.maxTargets", "in 1..100000, got 0"},
      {"policy: {maxTargets: 100001}\n", 1, "policy.maxTargets", "in 1..100000"},
      {"http: {maxBodyBytes: 1023}\n", 1, "http.maxBodyBytes", "in 1024..16777216"},
      {"http: {maxBodyBytes: 16777217}\n", 1, "http.maxBodyBytes", "in 1024..16777216"},
      {"http: {keepAliveTimeoutMs: 600001}\n", 1, "http.keepAliveTimeoutMs", "in 0..600000"},
      {"http: {keepAliveTimeoutMs: -5}\n", 1, "http.keepAliveTimeoutMs", "got -5"},
      {"http: {requestTimeoutMs: 99}\n", 1, "http.requestTimeoutMs", "in 100..600000, got 99"},
      {"http: {requestTimeoutMs: 1e5}\n", 1, "http.requestTimeoutMs", "got '1e5'"},
  });
}

TEST(ConfigErrors, StringsAndHosts) {
  expectErrors({
      {"service:\n  name: \"\"\n", 2, "service.name", "expected 1..127 characters"},
      {"service:\n  name: " + std::string(128, 'n') + "\n", 2, "service.name",
       "expected 1..127 characters"},
      {"service:\n  name: \"a\\tb\"\n", 2, "service.name", "without control characters"},
      {"service:\n  name: ~\n", 2, "service.name", "write \"\" for an empty string"},
      {"service:\n  name: {a: 1}\n", 2, "service.name", "expected a string, got a mapping"},
      {"http:\n  host: \"[::1]\"\n", 2, "http.host", "without brackets"},
      {"http:\n  host: bad host\n", 2, "http.host", "expected a host name or IP address"},
      {"sip:\n  bindHost: -x.example\n", 2, "sip.bindHost", "expected a host name"},
      {"sip:\n  bindHost: \"\"\n", 2, "sip.bindHost", "expected a host name"},
      {"sip:\n  telDomain: a b\n", 2, "sip.telDomain", "expected a domain name"},
      {"sip:\n  telDomain: example.test:5060\n", 2, "sip.telDomain", "expected a domain name"},
      {"sip:\n  userAgent: \"\"\n", 2, "sip.userAgent", "expected 1..255 characters"},
      {"sip:\n  userAgent: \"x\\r\\nVia: evil\"\n", 2, "sip.userAgent",
       "without control characters"},
  });
}

TEST(ConfigErrors, BasePath) {
  expectErrors({
      {"http:\n  basePath: parlayx\n", 2, "http.basePath", "must start with '/'"},
      {"http:\n  basePath: \"\"\n", 2, "http.basePath", "must start with '/'"},
      {"http:\n  basePath: /parlayx/\n", 2, "http.basePath", "must not end with '/'"},
      {"http:\n  basePath: /a b\n", 2, "http.basePath", "not allowed in a URL path"},
      {"http:\n  basePath: /a?b\n", 2, "http.basePath", "not allowed in a URL path"},
      {"http:\n  basePath: /a//b\n", 2, "http.basePath", "empty segments"},
      {"http:\n  basePath: /a/../b\n", 2, "http.basePath", "'..' segments"},
      {"http:\n  basePath: /a%2\n", 2, "http.basePath", "percent escape"},
  });
}

TEST(ConfigErrors, Transports) {
  expectErrors({
      {"sip:\n  transports: []\n", 2, "sip.transports", "at least one transport"},
      {"sip:\n  transports:\n    - udp\n    - tls\n", 4, "sip.transports",
       "expected 'udp' or 'tcp', got 'tls'"},
      {"sip:\n  transports:\n    - udp\n    - UDP\n", 4, "sip.transports",
       "duplicate transport 'udp'"},
      {"sip:\n  transports: udp\n", 2, "sip.transports", "expected a list, got 'udp'"},
      {"sip:\n  transports: [[udp]]\n", 2, "sip.transports", "got a list"},
  });
}

TEST(ConfigErrors, SipUris) {
  expectErrors({
      {"sip:\n  watcherUri: tel:+15551234567\n", 2, "sip.watcherUri",
       "expected a sip: or sips: URI, got 'tel:+15551234567'"},
      {"sip:\n  watcherUri: http://example.test/\n", 2, "sip.watcherUri",
       "expected a sip: or sips: URI"},
      {"sip:\n  watcherUri: \"sip:\"\n", 2, "sip.watcherUri", "expected a sip: or sips: URI"},
      {"sip:\n  presenceServerUri: 127.0.0.1:5060\n", 2, "sip.presenceServerUri",
       "expected a sip: or sips: URI"},
      {"sip:\n  presenceServerUri: \"\"\n", 2, "sip.presenceServerUri",
       "expected a sip: or sips: URI"},
      {"sip:\n  presenceServerUri: sip:127.0.0.1:99999\n", 2, "sip.presenceServerUri",
       "expected a sip: or sips: URI"},
  });
}

TEST(ConfigErrors, BusyActivities) {
  expectErrors({
      {"presence:\n  busyActivities: []\n", 2, "presence.busyActivities", "at least one"},
      {"presence:\n  busyActivities:\n    - busy\n    - 1busy\n", 4, "presence.busyActivities",
       "XML NCName), got '1busy'"},
      {"presence:\n  busyActivities: [\"rpid:busy\"]\n", 2, "presence.busyActivities",
       "XML NCName"},
      {"presence:\n  busyActivities: [busy, busy]\n", 2, "presence.busyActivities",
       "duplicate activity 'busy'"},
      {"presence:\n  busyActivities: busy\n", 2, "presence.busyActivities", "expected a list"},
  });
}

TEST(ConfigErrors, Groups) {
  expectErrors({
      {"groups:\n  schemes: [sip]\n", 2, "groups.schemes", "cannot be a group scheme"},
      {"groups:\n  schemes: [TEL]\n", 2, "groups.schemes", "'tel' addresses terminals"},
      {"groups:\n  schemes: [\"1grp\"]\n", 2, "groups.schemes", "expected a URI scheme name"},
      {"groups:\n  schemes: [\"grp:\"]\n", 2, "groups.schemes", "expected a URI scheme name"},
      {"groups:\n  schemes: [a, A]\n", 2, "groups.schemes", "duplicate scheme 'a'"},
      {"groups:\n  schemes: glmgroup\n", 2, "groups.schemes", "expected a list"},
      {"groups:\n  members:\n    team:x: [tel:+1555]\n", 3, "groups.members.team:x",
       "does not use a group scheme (glmgroup)"},
      {"groups:\n  schemes: []\n  members:\n    glmgroup:x: [tel:+1555]\n", 4,
       "groups.members.glmgroup:x", "(none configured)"},
      {"groups:\n  members:\n    \"glmgroup:\": [tel:+1555]\n", 3,
       "groups.members.glmgroup:", "expected a group URI"},
      {"groups:\n  members:\n    glmgroup:a:\n      - tel:+1555\n      - GLMGROUP:b\n", 5,
       "groups.members.glmgroup:a", "nested groups are not supported"},
      {"groups:\n  members:\n    glmgroup:a:\n      - tel:+1555\n      - mailto:x@y\n", 5,
       "groups.members.glmgroup:a", "expected a tel:, sip: or sips: address, got 'mailto:x@y'"},
      {"groups:\n  members:\n    glmgroup:a:\n      - \"tel:+1555 \"\n", 4,
       "groups.members.glmgroup:a", "expected a tel:, sip: or sips: address"},
      {"groups:\n  members:\n    glmgroup:a: []\n", 3, "groups.members.glmgroup:a",
       "at least one member"},
      {"groups:\n  members:\n    glmgroup:a:\n", 3, "groups.members.glmgroup:a",
       "expected a list, got nothing"},
      {"groups:\n  members:\n    glmgroup:a: [tel:+1-555, \"tel:+1555\"]\n", 3,
       "groups.members.glmgroup:a", "duplicate member 'tel:+1555'"},
      {"groups:\n  members:\n    glmgroup:a: [tel:+1555]\n    GLMGROUP:a: [tel:+1556]\n", 4,
       "groups.members.GLMGROUP:a", "duplicate group"},
      {"groups:\n  members:\n    - glmgroup:a\n", 3, "groups.members",
       "expected a mapping, got a list"},
  });
}

TEST(ConfigErrors, WrongShapes) {
  expectErrors({
      {"http: 5\n", 1, "http", "expected a mapping, got '5'"},
      {"sip:\n  - port\n", 2, "sip", "expected a mapping, got a list"},
      {"- http\n", 1, "", "expected a mapping of sections"},
      {"just text\n", 1, "", "expected a mapping of sections"},
      {"http:\n  ? [a, b]\n  : 1\n", 2, "http", "keys must be strings"},
      {"a: 1\n---\nb: 2\n", 2, "", "expected one YAML document, found another one here"},
      {"---\na: 1\n---\n", 3, "", "expected one YAML document"},
  });
}

TEST(ConfigErrors, YamlSyntaxErrorsCarryTheLine) {
  const ConfigError e = loadError("http:\n  port: 1\nsip: [udp\n");
  EXPECT_EQ(e.file(), "test.yaml");
  EXPECT_EQ(e.line(), 4);
  EXPECT_EQ(e.key(), "");
  EXPECT_NE(std::string(e.what()).find("end of sequence flow not found"), std::string::npos)
      << e.what();
  const ConfigError bad = loadError("http:\n  port: 1\n   host: x\n");
  EXPECT_EQ(bad.line(), 3);
  EXPECT_EQ(bad.key(), "");
  const ConfigError tab = loadError("http:\n\tport: 1\n");
  EXPECT_GT(tab.line(), 0);
  // yaml-cpp 0.7 cannot consume a stray ',' in block context (LoadAll loops forever, Load
  // returns an empty document): it must be a syntax error, quickly.
  expectErrors({
      {",\n", 1, "", "unexpected ',' (YAML syntax error)"},
      {",http:\n  port: 1\n", 1, "", "unexpected ','"},
      {"# x\n\n  ,a\n", 3, "", "unexpected ','"},
  });
}

TEST(ConfigErrors, WhatHasFileLineKeyAndMessage) {
  const ConfigError e = loadError("http:\n  port: 70000\n");
  EXPECT_STREQ(e.what(), "test.yaml:2: http.port: expected an integer in 0..65535, got 70000");
  EXPECT_STREQ(ConfigError("f.yaml", 0, "", "cannot read file: x").what(),
               "f.yaml: cannot read file: x");
}

TEST(ConfigFile, ErrorsNameThePathAndLine) {
  const std::string path = kDataDir + "/bad-port.yaml";
  try {
    loadConfigFile(path);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.line(), 5);
    EXPECT_EQ(e.key(), "http.port");
  }
}

TEST(ConfigFile, MissingAndUnreadableFiles) {
  const std::string missing = kDataDir + "/does-not-exist.yaml";
  try {
    loadConfigFile(missing);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), missing);
    EXPECT_EQ(e.line(), 0);
    EXPECT_EQ(e.key(), "");
    EXPECT_STREQ(e.what(), (missing + ": cannot read file: No such file or directory").c_str());
  }
  try {
    loadConfigFile(kDataDir);  // a directory opens but cannot be read
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), kDataDir);
    EXPECT_EQ(e.line(), 0);
    EXPECT_NE(std::string(e.what()).find("cannot read file: Is a directory"), std::string::npos)
        << e.what();
  }
}

TEST(ConfigNotifications, DefaultsAndDatabaseResolvedAtLoadTime) {
  const GatewayConfig c = loadConfigText("", "n.yaml");
  EXPECT_EQ(c.notifications.database, resolved(fs::current_path() / "var" / "notifications.db"));
  EXPECT_EQ(c.notifications.defaultDurationSec, 3600u);
  EXPECT_EQ(c.notifications.maxDurationSec, 86400u);
  EXPECT_EQ(c.notifications.minFrequencyMs, 1000u);
  EXPECT_TRUE(c.notifications.unlimitedCountAllowed);
  EXPECT_EQ(c.notifications.maxCount, 100000u);
  EXPECT_TRUE(c.notifications.busyCriteriaAllowed);
  EXPECT_EQ(c.notifications.delivery.timeoutMs, 5000u);
  EXPECT_EQ(c.notifications.delivery.maxAttempts, 5u);
  EXPECT_EQ(c.notifications.delivery.retryBackoffMs, 500u);
  EXPECT_EQ(c.notifications.delivery.retryBackoffMaxMs, 30000u);
  EXPECT_EQ(c.notifications.delivery.maxSocketsPerEndpoint, 16u);
  EXPECT_EQ(c.notifications.delivery.maxConnections, 1024u);
  EXPECT_EQ(c.presence.subscriptionExpiresSec, 3600u);
  EXPECT_EQ(c.presence.subscribeTimeoutMs, 5000u);
  EXPECT_EQ(c.presence.resubscribeBackoffMs, 1000u);
  EXPECT_EQ(c.presence.resubscribeBackoffMaxMs, 60000u);
  EXPECT_EQ(c.presence.maxSubscribeFailures, 5u);
  EXPECT_EQ(c.presence.maxSubscribesInFlight, 200u);
}

TEST(ConfigNotifications, EveryKeySet) {
  const GatewayConfig c = loadConfigText(
      "presence:\n"
      "  subscriptionExpiresSec: 120\n"
      "  subscribeTimeoutMs: 2500\n"
      "  resubscribeBackoffMs: 10\n"
      "  resubscribeBackoffMaxMs: 20\n"
      "  maxSubscribeFailures: 3\n"
      "  maxSubscribesInFlight: 7\n"
      "notifications:\n"
      "  database: /srv/px/n.db\n"
      "  defaultDurationSec: 60\n"
      "  maxDurationSec: 600\n"
      "  minFrequencyMs: 0\n"
      "  unlimitedCountAllowed: false\n"
      "  maxCount: 9\n"
      "  busyCriteriaAllowed: False\n"
      "  delivery:\n"
      "    timeoutMs: 100\n"
      "    maxAttempts: 1\n"
      "    retryBackoffMs: 10\n"
      "    retryBackoffMaxMs: 10\n"
      "    maxSocketsPerEndpoint: 1024\n"
      "    maxConnections: 65535\n",
      "n.yaml");
  EXPECT_EQ(c.presence.subscriptionExpiresSec, 120u);
  EXPECT_EQ(c.presence.subscribeTimeoutMs, 2500u);
  EXPECT_EQ(c.presence.resubscribeBackoffMs, 10u);
  EXPECT_EQ(c.presence.resubscribeBackoffMaxMs, 20u);
  EXPECT_EQ(c.presence.maxSubscribeFailures, 3u);
  EXPECT_EQ(c.presence.maxSubscribesInFlight, 7u);
  EXPECT_EQ(c.notifications.database, resolved("/srv/px/n.db"));
  EXPECT_EQ(c.notifications.defaultDurationSec, 60u);
  EXPECT_EQ(c.notifications.maxDurationSec, 600u);
  EXPECT_EQ(c.notifications.minFrequencyMs, 0u);
  EXPECT_FALSE(c.notifications.unlimitedCountAllowed);
  EXPECT_EQ(c.notifications.maxCount, 9u);
  EXPECT_FALSE(c.notifications.busyCriteriaAllowed);
  EXPECT_EQ(c.notifications.delivery.timeoutMs, 100u);
  EXPECT_EQ(c.notifications.delivery.maxAttempts, 1u);
  EXPECT_EQ(c.notifications.delivery.retryBackoffMs, 10u);
  EXPECT_EQ(c.notifications.delivery.retryBackoffMaxMs, 10u);
  EXPECT_EQ(c.notifications.delivery.maxSocketsPerEndpoint, 1024u);
  EXPECT_EQ(c.notifications.delivery.maxConnections, 65535u);
}

TEST(ConfigNotifications, RelativeDatabaseOfAFileIsRelativeToItsDirectory) {
  TempDir dir;
  const fs::path file = dir.write("etc/px.yaml", "notifications:\n  database: ../var/n.db\n");
  EXPECT_EQ(loadConfigFile(file.string()).notifications.database,
            resolved(dir.path() / "var" / "n.db"));
}

TEST(ConfigNotifications, ErrorsNameLineAndKey) {
  expectErrors({
      // Moved to policy.services.terminalStatus.operations.startNotification.maxTargets.
      {"notifications:\n  maxAddresses: 5\n", 2, "notifications.maxAddresses",
       "unknown key 'maxAddresses'"},
      {"notifications:\n  maxDurationSec: 60\n  defaultDurationSec: 61\n", 3,
       "notifications.defaultDurationSec", "must not be larger than maxDurationSec"},
      {"notifications:\n  maxDurationSec: 60\n", 2, "notifications.maxDurationSec",
       "must not be larger than maxDurationSec"},
      {"notifications:\n  unlimitedCountAllowed: yes\n", 2, "notifications.unlimitedCountAllowed",
       "expected true or false, got 'yes'"},
      {"notifications:\n  busyCriteriaAllowed: \"true\"\n", 2, "notifications.busyCriteriaAllowed",
       "expected true or false"},
      {"notifications:\n  database: \"\"\n", 2, "notifications.database", "expected a file path"},
      {"notifications:\n  delivery:\n    maxAttempts: 101\n", 3,
       "notifications.delivery.maxAttempts", "in 1..100, got 101"},
      {"notifications:\n  delivery:\n    retryBackoffMs: 100\n    retryBackoffMaxMs: 99\n", 4,
       "notifications.delivery.retryBackoffMaxMs", "must not be smaller than retryBackoffMs"},
      {"notifications:\n  delivery:\n    maxConnections: 0\n", 3,
       "notifications.delivery.maxConnections", "in 1..65535, got 0"},
      {"notifications:\n  delivery:\n    retrys: 1\n", 3, "notifications.delivery.retrys",
       "unknown key 'retrys'"},
      {"notifications:\n  maxcount: 1\n", 2, "notifications.maxcount", "did you mean 'maxCount'?"},
      {"presence:\n  subscriptionExpiresSec: 0\n", 2, "presence.subscriptionExpiresSec",
       "in 1..86400, got 0"},
      {"presence:\n  resubscribeBackoffMs: 70000\n", 2, "presence.resubscribeBackoffMs",
       "must not be smaller than resubscribeBackoffMs"},
      {"presence:\n  maxSubscribeFailures: 0\n", 2, "presence.maxSubscribeFailures",
       "in 1..1000, got 0"},
  });
}

}  // namespace
}  // namespace px

namespace px {
namespace {

// calls.*: the code lists are read with file/line/key errors, defaultAction is an enum, the
// no-answer timers are 0 or at least one second.
TEST(CallsConfig, ReadsEveryKeyAndRefusesBadValues) {
  const GatewayConfig c = loadConfigText(
      "calls:\n  enabled: true\n  port: 0\n  busyCodes: [486, 600, 603]\n  noAnswerCodes: []\n"
      "  defaultAction: EndCall\n  decisionTimeoutMs: 300\n  noAnswerTimeoutMs: 1000\n"
      "  endCallStatus: 480\n  notificationServiceName: CN\n",
      "calls.yaml");
  EXPECT_EQ(c.calls.port, 0);
  EXPECT_EQ(c.calls.busyCodes, (std::vector<int>{486, 600, 603}));
  EXPECT_TRUE(c.calls.noAnswerCodes.empty());
  EXPECT_EQ(c.calls.notReachableCodes, CallsConfig{}.notReachableCodes);
  EXPECT_EQ(c.calls.defaultAction, "EndCall");
  EXPECT_EQ(c.calls.decisionTimeoutMs, 300u);
  EXPECT_EQ(c.calls.noAnswerTimeoutMs, 1000u);
  EXPECT_EQ(c.calls.endCallStatus, 480u);
  EXPECT_EQ(c.calls.notificationServiceName, "CN");

  const struct {
    const char* yaml;
    const char* key;
    int line;
  } bad[] = {
      {"calls:\n  busyCodes: [486, 200]\n", "calls.busyCodes", 2},
      {"calls:\n  notReachableCodes:\n    - 404\n    - 404\n", "calls.notReachableCodes", 4},
      {"calls:\n  noAnswerCodes: 408\n", "calls.noAnswerCodes", 2},
      {"calls:\n  defaultAction: Route\n", "calls.defaultAction", 2},
      {"calls:\n  noAnswerTimeoutMs: 500\n", "calls.noAnswerTimeoutMs", 2},
      {"calls:\n  decisionTimeoutMs: 10\n", "calls.decisionTimeoutMs", 2},
      {"calls:\n  endCallStatus: 200\n", "calls.endCallStatus", 2},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.yaml);
    try {
      loadConfigText(b.yaml, "calls.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), b.key) << e.what();
      EXPECT_EQ(e.line(), b.line) << e.what();
      EXPECT_NE(std::string(e.what()).find("calls.yaml"), std::string::npos) << e.what();
    }
  }
}

TEST(CamaraConfig, EnabledNeedsIssuerAudienceAndOneJwksSource) {
  const GatewayConfig defaults = loadConfigText("", "camara.yaml");
  EXPECT_FALSE(defaults.camara.enabled);
  EXPECT_EQ(defaults.camara.scopes.getReachabilityStatus,
            std::vector<std::string>{"device-reachability-status:read"});
  EXPECT_EQ(defaults.camara.connectivity.busy, (std::vector<std::string>{"DATA", "SMS"}));

  const GatewayConfig c = loadConfigText(
      "camara:\n  enabled: true\n  auth:\n    issuer: https://i.test\n    audience: gw\n"
      "    jwksUrl: https://i.test/jwks\n  connectivity:\n    busy: [SMS]\n",
      "camara.yaml");
  EXPECT_TRUE(c.camara.enabled);
  EXPECT_EQ(c.camara.auth.jwksUrl, "https://i.test/jwks");
  EXPECT_EQ(c.camara.connectivity.busy, std::vector<std::string>{"SMS"});

  const struct {
    const char* yaml;
    const char* key;
    int line;
  } bad[] = {
      {"camara:\n  enabled: true\n", "camara.auth.issuer", 2},
      {"camara:\n  enabled: true\n  auth:\n    issuer: https://i.test\n    audience: gw\n",
       "camara.auth.jwksFile", 4},
      {"camara:\n  clients:\n    app: nobody\n", "camara.clients.app", 3},
      {"camara:\n  connectivity:\n    reachable: [VOICE]\n", "camara.connectivity.reachable", 3},
      {"camara:\n  auth:\n    jwksUrl: ftp://x\n", "camara.auth.jwksUrl", 3},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.yaml);
    try {
      loadConfigText(b.yaml, "camara.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), b.key) << e.what();
      EXPECT_EQ(e.line(), b.line) << e.what();
    }
  }
}

}  // namespace
}  // namespace px
