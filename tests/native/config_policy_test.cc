// GoogleTest suite of the policy, requesters and authentication sections of the configuration
// (native/config/PolicyConfigReader, RequesterConfigReader, OverrideRule).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "support/ConfigErrors.h"
#include "support/TempDir.h"

namespace px {
namespace {

namespace fs = std::filesystem;
using px::testing::ErrorCase;
using px::testing::expectErrors;
using px::testing::loadError;
using px::testing::TempDir;

// A valid hash as `npx parlayx-gateway hash-password` prints it (password "secret").
const std::string kHash =
    "$scrypt$ln=14,r=8,p=1$djVEhIq50GtxUg/P+dA0mQ$thZqf6KwSZbxMhqfV1lPOa5n1XMhmneNwX3s9EuhMlk";
const std::string kSalt = "djVEhIq50GtxUg/P+dA0mQ";
const std::string kDigest = "thZqf6KwSZbxMhqfV1lPOa5n1XMhmneNwX3s9EuhMlk";

void expectValid(const std::vector<std::string>& texts) {
  for (const auto& yaml : texts) {
    SCOPED_TRACE(yaml);
    EXPECT_NO_THROW(loadConfigText(yaml, "test.yaml"));
  }
}

// "requesters:\n  acme:\n    passwordHash: ...\n    policy:\n" followed by `policy` (indented
// by 6): the requester's policy keys start at line 5.
std::string acme(const std::string& policy) {
  return "requesters:\n  acme:\n    passwordHash: \"" + kHash + "\"\n    policy:\n" + policy;
}

// A requester whose password hash is `hash` (line 3).
std::string withHash(const std::string& hash) {
  return "requesters:\n  acme:\n    passwordHash: \"" + hash + "\"\n";
}

// ---------------------------------------------------------------------------------------------
// authentication

TEST(ConfigAuthentication, Defaults) {
  const GatewayConfig c = loadConfigText("", "a.yaml");
  EXPECT_TRUE(c.authentication.required);
  EXPECT_EQ(c.authentication.realm, "parlayx-gateway");
  EXPECT_EQ(c.authentication.tokenMaxAgeSec, 300u);
  EXPECT_EQ(c.authentication.verifiedCacheSec, 300u);
  EXPECT_EQ(c.authentication.throttle.windowSec, 60u);
  EXPECT_EQ(c.authentication.throttle.maxFailuresPerClient, 20u);
  EXPECT_EQ(c.authentication.throttle.maxFailuresPerRequester, 10u);
  EXPECT_EQ(c.authentication.throttle.lockoutSec, 10u);
  EXPECT_EQ(c.authentication.throttle.maxLockoutSec, 900u);
  EXPECT_EQ(c.authentication.throttle.trustedSourceSec, 86400u);
  EXPECT_EQ(c.authentication.throttle.verifyConcurrency, 2u);
  EXPECT_EQ(c.authentication.throttle.verifyQueueLength, 32u);
  EXPECT_TRUE(c.requesters.empty());
  EXPECT_FALSE(c.policy.defaults.rules.enabled.has_value());
  EXPECT_FALSE(c.policy.defaults.rules.maxTargets.has_value());
  EXPECT_TRUE(c.policy.trafficShaping.empty());
}

TEST(ConfigAuthentication, EveryKeyAndBounds) {
  const GatewayConfig lo = loadConfigText(
      "authentication:\n  required: false\n  realm: \"x\"\n  tokenMaxAgeSec: 1\n"
      "  verifiedCacheSec: 0\n",
      "a.yaml");
  EXPECT_FALSE(lo.authentication.required);
  EXPECT_EQ(lo.authentication.realm, "x");
  EXPECT_EQ(lo.authentication.tokenMaxAgeSec, 1u);
  EXPECT_EQ(lo.authentication.verifiedCacheSec, 0u);
  const std::string realm127(127, 'r');
  const GatewayConfig hi = loadConfigText("authentication: {required: TRUE, realm: " + realm127 +
                                              ", tokenMaxAgeSec: 3600, verifiedCacheSec: 86400}\n",
                                          "a.yaml");
  EXPECT_TRUE(hi.authentication.required);
  EXPECT_EQ(hi.authentication.realm, realm127);
  EXPECT_EQ(hi.authentication.tokenMaxAgeSec, 3600u);
  EXPECT_EQ(hi.authentication.verifiedCacheSec, 86400u);
  EXPECT_EQ(loadConfigText("authentication: {realm: PX Gateway (test) 1.0}\n", "a.yaml")
                .authentication.realm,
            "PX Gateway (test) 1.0");
}

TEST(ConfigAuthentication, Errors) {
  expectErrors({
      {"authentication:\n  required: yes\n", 2, "authentication.required",
       "expected true or false, got 'yes'"},
      {"authentication:\n  realm: \"\"\n", 2, "authentication.realm",
       "expected 1..127 printable ASCII characters without '\"' or '\\'"},
      {"authentication:\n  realm: " + std::string(128, 'r') + "\n", 2, "authentication.realm",
       "expected 1..127"},
      {"authentication:\n  realm: 'say \"hi\"'\n", 2, "authentication.realm", "without '\"'"},
      {"authentication:\n  realm: 'a\\b'\n", 2, "authentication.realm", "without '\"' or '\\'"},
      {"authentication:\n  realm: \"a\\tb\"\n", 2, "authentication.realm", "printable ASCII"},
      {"authentication:\n  realm: \"Gateway \xC3\x9C\"\n", 2, "authentication.realm",
       "printable ASCII"},
      {"authentication:\n  realm:\n", 2, "authentication.realm", "expected a string"},
      {"authentication:\n  tokenMaxAgeSec: 0\n", 2, "authentication.tokenMaxAgeSec",
       "expected an integer in 1..3600, got 0"},
      {"authentication:\n  tokenMaxAgeSec: 3601\n", 2, "authentication.tokenMaxAgeSec",
       "in 1..3600, got 3601"},
      {"authentication:\n  verifiedCacheSec: 86401\n", 2, "authentication.verifiedCacheSec",
       "in 0..86400, got 86401"},
      {"authentication:\n  verifiedCacheSec: \"60\"\n", 2, "authentication.verifiedCacheSec",
       "the quoted string '60'"},
      {"authentication:\n  tokenMaxAgeSecs: 60\n", 2, "authentication.tokenMaxAgeSecs",
       "unknown key 'tokenMaxAgeSecs' (did you mean 'tokenMaxAgeSec'?)"},
      {"authentication:\n  nonceCacheSec: 60\n", 2, "authentication.nonceCacheSec",
       "(known keys: required, realm, tokenMaxAgeSec, verifiedCacheSec, throttle)"},
      {"authentification:\n  required: true\n", 1, "authentification",
       "did you mean 'authentication'?"},
      {"authentication: true\n", 1, "authentication", "expected a mapping, got 'true'"},
  });
}

TEST(ConfigAuthentication, ThrottleKeysAndBounds) {
  const GatewayConfig lo = loadConfigText(
      "authentication:\n  throttle:\n    windowSec: 1\n    maxFailuresPerClient: 1\n"
      "    maxFailuresPerRequester: 1\n    lockoutSec: 1\n    maxLockoutSec: 1\n"
      "    trustedSourceSec: 0\n    verifyConcurrency: 1\n    verifyQueueLength: 0\n",
      "a.yaml");
  const AuthThrottleConfig& t = lo.authentication.throttle;
  EXPECT_EQ(t.windowSec, 1u);
  EXPECT_EQ(t.maxFailuresPerClient, 1u);
  EXPECT_EQ(t.maxFailuresPerRequester, 1u);
  EXPECT_EQ(t.lockoutSec, 1u);
  EXPECT_EQ(t.maxLockoutSec, 1u);
  EXPECT_EQ(t.trustedSourceSec, 0u);
  EXPECT_EQ(t.verifyConcurrency, 1u);
  EXPECT_EQ(t.verifyQueueLength, 0u);
  // A first lock-out longer than the default maximum raises the maximum with it.
  const GatewayConfig longFirst =
      loadConfigText("authentication: {throttle: {lockoutSec: 3600}}\n", "a.yaml");
  EXPECT_EQ(longFirst.authentication.throttle.maxLockoutSec, 3600u);
  // An empty throttle section keeps the defaults.
  EXPECT_EQ(loadConfigText("authentication:\n  throttle:\n", "a.yaml")
                .authentication.throttle.maxFailuresPerRequester,
            10u);
}

TEST(ConfigAuthentication, ThrottleErrors) {
  expectErrors({
      {"authentication:\n  throttle:\n    windowSec: 0\n", 3, "authentication.throttle.windowSec",
       "in 1..86400, got 0"},
      {"authentication:\n  throttle:\n    windowSec: 86401\n", 3,
       "authentication.throttle.windowSec", "in 1..86400"},
      {"authentication:\n  throttle:\n    maxFailuresPerClient: 0\n", 3,
       "authentication.throttle.maxFailuresPerClient", "in 1..1000000, got 0"},
      {"authentication:\n  throttle:\n    maxFailuresPerRequester: 1000001\n", 3,
       "authentication.throttle.maxFailuresPerRequester", "in 1..1000000"},
      {"authentication:\n  throttle:\n    lockoutSec: 0\n", 3, "authentication.throttle.lockoutSec",
       "in 1..86400, got 0"},
      {"authentication:\n  throttle:\n    lockoutSec: 60\n    maxLockoutSec: 59\n", 4,
       "authentication.throttle.maxLockoutSec",
       "must be at least authentication.throttle.lockoutSec (60), got 59"},
      {"authentication:\n  throttle:\n    maxLockoutSec: 5\n", 3,
       "authentication.throttle.maxLockoutSec", "at least authentication.throttle.lockoutSec (10)"},
      {"authentication:\n  throttle:\n    trustedSourceSec: 2592001\n", 3,
       "authentication.throttle.trustedSourceSec", "in 0..2592000"},
      {"authentication:\n  throttle:\n    verifyConcurrency: 0\n", 3,
       "authentication.throttle.verifyConcurrency", "in 1..64, got 0"},
      {"authentication:\n  throttle:\n    verifyConcurrency: 65\n", 3,
       "authentication.throttle.verifyConcurrency", "in 1..64"},
      {"authentication:\n  throttle:\n    verifyQueueLength: 100001\n", 3,
       "authentication.throttle.verifyQueueLength", "in 0..100000"},
      {"authentication:\n  throttle:\n    maxFailures: 5\n", 3,
       "authentication.throttle.maxFailures", "unknown key 'maxFailures'"},
      {"authentication:\n  throttle: 5\n", 2, "authentication.throttle", "expected a mapping"},
  });
}

// ---------------------------------------------------------------------------------------------
// requesters

TEST(ConfigRequesters, NamesHashesAndPolicies) {
  const GatewayConfig c = loadConfigText(
      "requesters:\n"
      "  acme:\n"
      "    passwordHash: \"" +
          kHash +
          "\"\n"
          "  app-2.example_x@corp:\n"
          "    passwordHash: \"$scrypt$ln=1,r=1,p=16$" +
          kSalt + "$" + kDigest +
          "\"\n"
          "    policy:\n"
          "      maxTargets: 5\n"
          "      services:\n"
          "        terminalStatus:\n"
          "          operations:\n"
          "            getStatus: {enabled: false}\n",
      "r.yaml");
  ASSERT_EQ(c.requesters.size(), 2u);
  const RequesterConfig& acmeReq = c.requesters.at("acme");
  EXPECT_EQ(acmeReq.name, "acme");
  EXPECT_EQ(acmeReq.passwordHash, kHash);
  EXPECT_EQ(acmeReq.digestSecret, "");
  EXPECT_FALSE(acmeReq.policy.rules.maxTargets.has_value());
  EXPECT_TRUE(acmeReq.policy.services.empty());
  const RequesterConfig& other = c.requesters.at("app-2.example_x@corp");
  EXPECT_EQ(other.name, "app-2.example_x@corp");
  EXPECT_EQ(other.policy.rules.maxTargets, 5u);
  EXPECT_EQ(other.policy.services.at("terminalStatus").operations.at("getStatus").enabled, false);
  const std::string name64(64, 'n');
  const std::string longName =
      "requesters:\n  " + name64 + ":\n    passwordHash: \"" + kHash + "\"\n";
  EXPECT_EQ(loadConfigText(longName, "r.yaml").requesters.count(name64), 1u);
  // An empty or null section means nobody.
  EXPECT_TRUE(loadConfigText("requesters: {}\n", "r.yaml").requesters.empty());
  EXPECT_TRUE(loadConfigText("requesters:\n", "r.yaml").requesters.empty());
}

TEST(ConfigRequesters, ShapeAndNameErrors) {
  expectErrors({
      {"requesters:\n  - acme\n", 2, "requesters", "expected a mapping, got a list"},
      {"requesters:\n  bad name:\n    passwordHash: x\n", 2, "requesters.bad name",
       "expected a requester name of 1..64 characters A-Z a-z 0-9 . _ @ -, got 'bad name'"},
      {"requesters:\n  \"a/b\": {}\n", 2, "requesters.a/b", "expected a requester name"},
      {"requesters:\n  \"\": {}\n", 2, "requesters.", "expected a requester name"},
      {"requesters:\n  " + std::string(65, 'n') + ": {}\n", 2, "requesters." + std::string(65, 'n'),
       "expected a requester name"},
      {"requesters:\n  acme:\n    policy: {}\n", 2, "requesters.acme",
       "missing key 'passwordHash' (npx parlayx-gateway hash-password prints one)"},
      {"requesters:\n  acme:\n", 2, "requesters.acme", "missing key 'passwordHash'"},
      {withHash(kHash) + "    passwordHsh: x\n", 4, "requesters.acme.passwordHsh",
       "did you mean 'passwordHash'?"},
      {withHash(kHash) + "    password: x\n", 4, "requesters.acme.password",
       "(known keys: passwordHash, digestSecretFile, policy)"},
      {withHash(kHash) + "    digestSecretFle: x\n", 4, "requesters.acme.digestSecretFle",
       "did you mean 'digestSecretFile'?"},
      {withHash(kHash) + "  acme:\n    passwordHash: x\n", 4, "requesters.acme",
       "duplicate key 'acme' (first at line 2)"},
      {"requesters:\n  acme:\n    passwordHash: [a]\n", 3, "requesters.acme.passwordHash",
       "expected a string, got a list"},
  });
}

TEST(ConfigRequesters, PasswordHashSyntax) {
  const std::string scrypt = "$scrypt$ln=14,r=8,p=1$";
  const std::string expected =
      "expected a scrypt hash \"$scrypt$ln=<1..20>,r=<1..32>,p=<1..16>"
      "$<salt>$<hash>\" as printed by npx parlayx-gateway "
      "hash-password, but ";
  const std::string key = "requesters.acme.passwordHash";
  expectErrors({
      {withHash("secret"), 3, key, expected + "it must start with \"$scrypt$\""},
      {withHash("$argon2id$v=19$m=65536,t=3,p=4$" + kSalt + "$" + kDigest), 3, key,
       "it must start with \"$scrypt$\""},
      {withHash(scrypt + kSalt), 3, key, "it must have the parameters, the salt and the hash"},
      {withHash(scrypt + kSalt + "$" + kDigest + "$x"), 3, key, "the parameters, the salt"},
      {withHash("$scrypt$r=8,ln=14,p=1$" + kSalt + "$" + kDigest), 3, key,
       "the parameters must be ln=<n>,r=<n>,p=<n>"},
      {withHash("$scrypt$ln=14,r=8$" + kSalt + "$" + kDigest), 3, key, "the parameters must be"},
      {withHash("$scrypt$ln=21,r=8,p=1$" + kSalt + "$" + kDigest), 3, key, "ln must be in 1..20"},
      {withHash("$scrypt$ln=0,r=8,p=1$" + kSalt + "$" + kDigest), 3, key, "ln must be in 1..20"},
      {withHash("$scrypt$ln=14,r=33,p=1$" + kSalt + "$" + kDigest), 3, key, "r must be in 1..32"},
      {withHash("$scrypt$ln=14,r=08,p=1$" + kSalt + "$" + kDigest), 3, key, "r must be in 1..32"},
      {withHash("$scrypt$ln=14,r=8,p=17$" + kSalt + "$" + kDigest), 3, key, "p must be in 1..16"},
      {withHash("$scrypt$ln=14,r=8,p=x$" + kSalt + "$" + kDigest), 3, key, "p must be in"},
      {withHash("$scrypt$ln=20,r=9,p=1$" + kSalt + "$" + kDigest), 3, key,
       "need more than 1 GiB of memory"},
      {withHash(scrypt + kSalt + "==$" + kDigest), 3, key,
       "the salt must be base64 without '=' padding"},
      {withHash(scrypt + kSalt + "$" + kDigest + "="), 3, key,
       "the hash must be base64 without '=' padding"},
      {withHash(scrypt + "djVEhIq50GtxUg_P-dA0mQ$" + kDigest), 3, key,
       "the salt must be standard base64"},
      {withHash(scrypt + kSalt + "AAA$" + kDigest), 3, key, "the salt must be standard base64"},
      // 22 characters leave 4 unused bits: 'R' (010001) sets one of them.
      {withHash(scrypt + "djVEhIq50GtxUg/P+dA0mR$" + kDigest), 3, key,
       "the salt must be canonical base64"},
      {withHash(scrypt + "djVEhIq50GtxUg/P+dA0$" + kDigest), 3, key,
       "the salt must be at least 16 bytes"},
      {withHash(scrypt + kSalt + "$" + kDigest.substr(0, 40)), 3, key,
       "the hash must be at least 32 bytes"},
  });
  // The hash is never repeated in the message.
  const ConfigError e = loadError(withHash(scrypt + kSalt + "$" + kDigest.substr(0, 40)));
  EXPECT_EQ(std::string(e.what()).find(kDigest.substr(0, 40)), std::string::npos) << e.what();
  expectValid({withHash("$scrypt$ln=20,r=8,p=16$" + kSalt + "$" + kDigest),
               withHash(scrypt + kSalt + "AAAA$" + kDigest + "AAAA")});
}

// ---------------------------------------------------------------------------------------------
// digestSecretFile

class ConfigDigestSecret : public ::testing::Test {
 protected:
  // Writes the secret file `name` with `content` and `perms`, and a config naming it (line 4)
  // in conf/gateway.yaml.
  std::string configWithSecret(const std::string& name, const std::string& content, fs::perms perms,
                               const std::string& configured) {
    const fs::path secret = dir_.write(name, content);
    fs::permissions(secret, perms);
    return dir_
        .write("conf/gateway.yaml", withHash(kHash) + "    digestSecretFile: " + configured + "\n")
        .string();
  }
  std::string secretOf(const std::string& content) {
    return loadConfigFile(configWithSecret("conf/acme.secret", content,
                                           fs::perms::owner_read | fs::perms::owner_write,
                                           "acme.secret"))
        .requesters.at("acme")
        .digestSecret;
  }
  ConfigError errorOf(const std::string& config) {
    try {
      loadConfigFile(config);
    } catch (const ConfigError& e) {
      return e;
    }
    ADD_FAILURE() << "no ConfigError";
    return ConfigError("", -1, "", "none");
  }

  TempDir dir_;
};

TEST_F(ConfigDigestSecret, OwnerOnlyFileRelativeToTheConfigIsRead) {
  EXPECT_EQ(secretOf("s3cr3t pass\n"), "s3cr3t pass");
  EXPECT_EQ(secretOf("s3cr3t\r\n"), "s3cr3t");
  EXPECT_EQ(secretOf("no newline"), "no newline");
  EXPECT_EQ(secretOf("p\xC3\xA4ss"), "p\xC3\xA4ss");  // UTF-8 is fine
  EXPECT_EQ(secretOf(std::string(1024, 'x') + "\n"), std::string(1024, 'x'));
  EXPECT_EQ(secretOf(std::string(1024, 'x') + "\r\n"), std::string(1024, 'x'));
  // Read-only for the owner, and relative paths going up from the config's directory.
  const std::string config =
      configWithSecret("secrets/a.secret", "top\n", fs::perms::owner_read, "../secrets/a.secret");
  EXPECT_EQ(loadConfigFile(config).requesters.at("acme").digestSecret, "top");
  // An absolute path.
  const std::string absolute =
      configWithSecret("abs.secret", "abs", fs::perms::owner_read,
                       (fs::canonical(dir_.path()) / "abs.secret").string());
  EXPECT_EQ(loadConfigFile(absolute).requesters.at("acme").digestSecret, "abs");
}

TEST_F(ConfigDigestSecret, FilesOthersCanAccessAreRefused) {
  for (const fs::perms extra : {fs::perms::group_read, fs::perms::group_write,
                                fs::perms::others_read, fs::perms::others_exec}) {
    const std::string config =
        configWithSecret("conf/acme.secret", "s3cr3t\n",
                         fs::perms::owner_read | fs::perms::owner_write | extra, "acme.secret");
    const ConfigError e = errorOf(config);
    EXPECT_EQ(e.file(), config);
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.key(), "requesters.acme.digestSecretFile");
    EXPECT_NE(std::string(e.what()).find("is accessible to group or others"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("(chmod 600)"), std::string::npos) << e.what();
  }
  const ConfigError e = errorOf(configWithSecret(
      "conf/acme.secret", "s3cr3t\n",
      fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read, "acme.secret"));
  EXPECT_NE(std::string(e.what()).find("(mode 0640)"), std::string::npos) << e.what();
}

TEST_F(ConfigDigestSecret, MissingDirectoriesAndBadContentAreRefused) {
  const fs::perms owner = fs::perms::owner_read | fs::perms::owner_write;
  const auto expectRefused = [&](const std::string& config, const std::string& message) {
    SCOPED_TRACE(message);
    const ConfigError e = errorOf(config);
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.key(), "requesters.acme.digestSecretFile");
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    // The content is never repeated.
    EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos) << e.what();
  };
  expectRefused(configWithSecret("conf/other.secret", "x", owner, "missing.secret"),
                "missing.secret': no such file");
  fs::create_directories(dir_.path() / "conf" / "dir.secret");
  expectRefused(configWithSecret("conf/other.secret", "x", owner, "dir.secret"),
                "is not a regular file");
  expectRefused(configWithSecret("conf/acme.secret", "", owner, "acme.secret"),
                "must hold 1..1024 bytes without control characters");
  expectRefused(configWithSecret("conf/acme.secret", "\n", owner, "acme.secret"),
                "must hold 1..1024 bytes");
  expectRefused(configWithSecret("conf/acme.secret", "s3cr3t\n\n", owner, "acme.secret"),
                "without control characters");
  expectRefused(configWithSecret("conf/acme.secret", "s3\tcr3t", owner, "acme.secret"),
                "without control characters");
  expectRefused(configWithSecret("conf/acme.secret", std::string(1025, 'x'), owner, "acme.secret"),
                "must hold 1..1024 bytes");
  expectRefused(configWithSecret("conf/acme.secret", "x", owner, "\"\""), "expected a file path");
}

// ---------------------------------------------------------------------------------------------
// policy: reading

TEST(ConfigPolicy, EveryKeyIsRead) {
  const GatewayConfig c = loadConfigText(
      "policy:\n"
      "  enabled: true\n"
      "  allowedSchemes: [TEL, sip]\n"
      "  addressPlan:\n"
      "    e164Only: true\n"
      "    countryCodes: [49, \"1\", 353]\n"
      "    telPatterns: ['^\\+49\\d+$', '^\\+1']\n"
      "    sipDomains: [Example.COM, b.test]\n"
      "  groupsAllowed: false\n"
      "  maxTargets: 1000\n"
      "  processUpTo: {limit: 500, mode: Partial}\n"
      "  maxInFlight: 200\n"
      "  privacy:\n"
      "    optedOut: [\"tel:+49-30-555*\", \"sip:Bob@EXAMPLE.com\"]\n"
      "    allowedTargets: [\"SIP:*@Example.COM;transport=tcp\", \"tel:+49.(30)-1234\"]\n"
      "  pacer: {limit: 100, windowMs: 60000}\n"
      "  services:\n"
      "    terminalStatus:\n"
      "      maxInFlight: 50\n"
      "      pacer: {limit: 1}\n"
      "      operations:\n"
      "        getStatusForGroup: {maxTargets: 100, processUpTo: {limit: 20}}\n"
      "        endNotification: {}\n"
      "    callNotification:\n"
      "      enabled: false\n"
      "      operations:\n"
      "        startCallNotification:\n"
      "        stopCallNotification: {privacy: {allowedTargets: []}}\n"
      "  trafficShaping:\n"
      "    presenceServer: {ratePerSec: 500, burst: 2000}\n",
      "p.yaml");
  const PolicyRules& g = c.policy.defaults.rules;
  EXPECT_EQ(g.enabled, true);
  EXPECT_EQ(g.allowedSchemes,
            (std::vector<AddressScheme>{AddressScheme::kTel, AddressScheme::kSip}));
  EXPECT_EQ(g.addressPlan.e164Only, true);
  EXPECT_EQ(g.addressPlan.countryCodes, (std::vector<std::string>{"49", "1", "353"}));
  EXPECT_EQ(g.addressPlan.telPatterns, (std::vector<std::string>{"^\\+49\\d+$", "^\\+1"}));
  EXPECT_EQ(g.addressPlan.sipDomains, (std::vector<std::string>{"example.com", "b.test"}));
  EXPECT_EQ(g.groupsAllowed, false);
  EXPECT_EQ(g.maxTargets, 1000u);
  ASSERT_TRUE(g.processUpTo.has_value());
  EXPECT_EQ(g.processUpTo->limit, 500u);
  EXPECT_EQ(g.processUpTo->mode, ProcessUpToMode::kPartial);
  EXPECT_EQ(g.maxInFlight, 200u);
  // Patterns in the canonical form of the addresses they are matched against.
  EXPECT_EQ(g.privacy.optedOut, (std::vector<std::string>{"tel:+4930555*", "sip:Bob@example.com"}));
  EXPECT_EQ(g.privacy.allowedTargets,
            (std::vector<std::string>{"sip:*@example.com;transport=tcp", "tel:+49301234"}));
  ASSERT_TRUE(g.pacer.has_value());
  EXPECT_EQ(g.pacer->limit, 100u);
  EXPECT_EQ(g.pacer->windowMs, 60000u);

  ASSERT_EQ(c.policy.defaults.services.size(), 2u);
  const ServicePolicy& ts = c.policy.defaults.services.at("terminalStatus");
  EXPECT_EQ(ts.rules.maxInFlight, 50u);
  ASSERT_TRUE(ts.rules.pacer.has_value());
  EXPECT_EQ(ts.rules.pacer->limit, 1u);
  EXPECT_EQ(ts.rules.pacer->windowMs, 1000u);  // default window
  EXPECT_FALSE(ts.rules.enabled.has_value());
  ASSERT_EQ(ts.operations.size(), 2u);
  const PolicyRules& group = ts.operations.at("getStatusForGroup");
  EXPECT_EQ(group.maxTargets, 100u);
  ASSERT_TRUE(group.processUpTo.has_value());
  EXPECT_EQ(group.processUpTo->limit, 20u);
  EXPECT_EQ(group.processUpTo->mode, ProcessUpToMode::kReject);  // default mode
  EXPECT_FALSE(ts.operations.at("endNotification").maxTargets.has_value());
  const ServicePolicy& cn = c.policy.defaults.services.at("callNotification");
  EXPECT_EQ(cn.rules.enabled, false);
  EXPECT_EQ(cn.operations.count("startCallNotification"), 1u);
  EXPECT_EQ(cn.operations.at("stopCallNotification").privacy.allowedTargets,
            std::vector<std::string>{});
  ASSERT_EQ(c.policy.trafficShaping.size(), 1u);
  EXPECT_EQ(c.policy.trafficShaping.at("presenceServer").ratePerSec, 500u);
  EXPECT_EQ(c.policy.trafficShaping.at("presenceServer").burst, 2000u);
}

TEST(ConfigPolicy, DefaultsAndBoundsOfOptionalParts) {
  const GatewayConfig c = loadConfigText(
      "policy:\n"
      "  maxTargets: 100000\n"
      "  maxInFlight: 1000000\n"
      "  processUpTo: {limit: 100000}\n"
      "  pacer: {limit: 1000000000, windowMs: 86400000}\n"
      "  addressPlan: {telPatterns: []}\n"
      "  privacy: {optedOut: []}\n"
      "  trafficShaping:\n"
      "    presenceServer: {ratePerSec: 1000000}\n",
      "p.yaml");
  const PolicyRules& g = c.policy.defaults.rules;
  EXPECT_EQ(g.maxTargets, 100000u);
  EXPECT_EQ(g.maxInFlight, 1000000u);
  EXPECT_EQ(g.processUpTo->limit, 100000u);
  EXPECT_EQ(g.pacer->limit, 1000000000u);
  EXPECT_EQ(g.pacer->windowMs, 86400000u);
  EXPECT_TRUE(g.addressPlan.telPatterns.empty());
  EXPECT_FALSE(g.addressPlan.countryCodes.has_value());
  EXPECT_TRUE(g.privacy.optedOut.empty());
  EXPECT_FALSE(g.privacy.allowedTargets.has_value());
  EXPECT_EQ(c.policy.trafficShaping.at("presenceServer").burst, 1000000u);  // = ratePerSec
  const GatewayConfig lo = loadConfigText(
      "policy:\n  maxTargets: 1\n  maxInFlight: 1\n  processUpTo: {limit: 1, mode: reject}\n"
      "  pacer: {limit: 1, windowMs: 1}\n"
      "  trafficShaping: {presenceServer: {ratePerSec: 1, burst: 1}}\n",
      "p.yaml");
  EXPECT_EQ(lo.policy.defaults.rules.maxTargets, 1u);
  EXPECT_EQ(lo.policy.defaults.rules.pacer->windowMs, 1u);
  EXPECT_EQ(lo.policy.trafficShaping.at("presenceServer").burst, 1u);
  // Sections whose keys are all commented out keep the defaults.
  expectValid({"policy:\n", "policy:\n  services:\n", "policy:\n  services:\n    terminalStatus:\n",
               "policy:\n  services:\n    terminalStatus:\n      operations:\n",
               "policy:\n  addressPlan:\n  privacy:\n  trafficShaping:\n"});
}

TEST(ConfigPolicy, ValueErrorsNameLineAndKey) {
  expectErrors({
      {"policy:\n  enabled: 1\n", 2, "policy.enabled", "expected true or false, got '1'"},
      {"policy:\n  allowedSchemes: []\n", 2, "policy.allowedSchemes",
       "expected at least one scheme (tel, sip, sips)"},
      {"policy:\n  allowedSchemes:\n    - tel\n    - mailto\n", 4, "policy.allowedSchemes",
       "expected 'tel', 'sip' or 'sips', got 'mailto'"},
      {"policy:\n  allowedSchemes: [sip, SIP]\n", 2, "policy.allowedSchemes",
       "duplicate scheme 'sip'"},
      {"policy:\n  allowedSchemes: tel\n", 2, "policy.allowedSchemes",
       "expected a list, got 'tel'"},
      {"policy:\n  addressPlan:\n    e164Only: 0\n", 3, "policy.addressPlan.e164Only",
       "expected true or false"},
      {"policy:\n  addressPlan:\n    countryCodes: []\n", 3, "policy.addressPlan.countryCodes",
       "expected at least one country code"},
      {"policy:\n  addressPlan:\n    countryCodes:\n      - 49\n      - \"+1\"\n", 5,
       "policy.addressPlan.countryCodes",
       "expected an E.164 country code of 1..3 digits without '+', not starting with 0, got the "
       "quoted string '+1'"},
      {"policy:\n  addressPlan:\n    countryCodes: [\"049\"]\n", 3,
       "policy.addressPlan.countryCodes", "not starting with 0"},
      {"policy:\n  addressPlan:\n    countryCodes: [1234]\n", 3, "policy.addressPlan.countryCodes",
       "1..3 digits"},
      {"policy:\n  addressPlan:\n    countryCodes: [4a]\n", 3, "policy.addressPlan.countryCodes",
       "got '4a'"},
      {"policy:\n  addressPlan:\n    countryCodes: [[49]]\n", 3, "policy.addressPlan.countryCodes",
       "got a list"},
      {"policy:\n  addressPlan:\n    countryCodes: [49, \"49\"]\n", 3,
       "policy.addressPlan.countryCodes", "duplicate country code '49'"},
      {"policy:\n  addressPlan:\n    countryCodes: \"49\"\n", 3, "policy.addressPlan.countryCodes",
       "expected a list"},
      {"policy:\n  addressPlan:\n    telPatterns: ['^\\+49(']\n", 3,
       "policy.addressPlan.telPatterns",
       "expected an ECMAScript regular expression, got '^\\+49('"},
      {"policy:\n  addressPlan:\n    telPatterns:\n      - '^\\+1'\n      - '[0-9'\n", 5,
       "policy.addressPlan.telPatterns", "expected an ECMAScript regular expression"},
      {"policy:\n  addressPlan:\n    telPatterns: [\"\"]\n", 3, "policy.addressPlan.telPatterns",
       "expected a regular expression, got \"\""},
      {"policy:\n  addressPlan:\n    telPatterns: ['^\\+1', '^\\+1']\n", 3,
       "policy.addressPlan.telPatterns", "duplicate pattern"},
      {"policy:\n  addressPlan:\n    telPatterns: '^\\+49'\n", 3, "policy.addressPlan.telPatterns",
       "expected a list"},
      {"policy:\n  addressPlan:\n    sipDomains: []\n", 3, "policy.addressPlan.sipDomains",
       "expected at least one domain"},
      {"policy:\n  addressPlan:\n    sipDomains: [\"bad domain\"]\n", 3,
       "policy.addressPlan.sipDomains", "expected a domain name, got the quoted string"},
      {"policy:\n  addressPlan:\n    sipDomains: [\"sip:example.com\"]\n", 3,
       "policy.addressPlan.sipDomains", "expected a domain name"},
      {"policy:\n  addressPlan:\n    sipDomains: [a.test, A.TEST]\n", 3,
       "policy.addressPlan.sipDomains", "duplicate domain 'a.test'"},
      {"policy:\n  addressPlan:\n    e164Onyl: true\n", 3, "policy.addressPlan.e164Onyl",
       "did you mean 'e164Only'?"},
      {"policy:\n  groupsAllowed: maybe\n", 2, "policy.groupsAllowed", "expected true or false"},
      {"policy:\n  maxTargets: 0\n", 2, "policy.maxTargets", "in 1..100000, got 0"},
      {"policy:\n  maxTargets: 100001\n", 2, "policy.maxTargets", "in 1..100000, got 100001"},
      {"policy:\n  processUpTo: 10\n", 2, "policy.processUpTo", "expected a mapping, got '10'"},
      {"policy:\n  processUpTo:\n", 2, "policy.processUpTo", "missing key 'limit' (1..100000)"},
      {"policy:\n  processUpTo:\n    mode: partial\n", 3, "policy.processUpTo",
       "missing key 'limit'"},
      {"policy:\n  processUpTo:\n    limit: 0\n", 3, "policy.processUpTo.limit",
       "in 1..100000, got 0"},
      {"policy:\n  processUpTo:\n    limit: 5\n    mode: some\n", 4, "policy.processUpTo.mode",
       "expected 'reject' or 'partial', got 'some'"},
      {"policy:\n  processUpTo: {limit: 5, mod: partial}\n", 2, "policy.processUpTo.mod",
       "did you mean 'mode'?"},
      {"policy:\n  maxInFlight: 0\n", 2, "policy.maxInFlight", "in 1..1000000, got 0"},
      {"policy:\n  maxInFlight: 1000001\n", 2, "policy.maxInFlight", "in 1..1000000"},
      {"policy:\n  pacer:\n    windowMs: 10\n", 3, "policy.pacer",
       "missing key 'limit' (1..1000000000)"},
      {"policy:\n  pacer: {limit: 0}\n", 2, "policy.pacer.limit", "in 1..1000000000, got 0"},
      {"policy:\n  pacer: {limit: 5, windowMs: 0}\n", 2, "policy.pacer.windowMs",
       "in 1..86400000, got 0"},
      {"policy:\n  pacer: {limit: 5, windowMs: 86400001}\n", 2, "policy.pacer.windowMs",
       "in 1..86400000"},
      {"policy:\n  pacer: {limit: 5, window: 10}\n", 2, "policy.pacer.window",
       "did you mean 'windowMs'?"},
      {"policy:\n  trafficShaping:\n    presenceSrver: {ratePerSec: 1}\n", 3,
       "policy.trafficShaping.presenceSrver", "did you mean 'presenceServer'?"},
      {"policy:\n  trafficShaping:\n    smsc: {ratePerSec: 1}\n", 3, "policy.trafficShaping.smsc",
       "known keys: presenceServer"},
      {"policy:\n  trafficShaping:\n    presenceServer:\n      burst: 5\n", 4,
       "policy.trafficShaping.presenceServer", "missing key 'ratePerSec' (1..1000000)"},
      {"policy:\n  trafficShaping:\n    presenceServer: {ratePerSec: 1000001}\n", 3,
       "policy.trafficShaping.presenceServer.ratePerSec", "in 1..1000000"},
      {"policy:\n  trafficShaping:\n    presenceServer: {ratePerSec: 5, burst: 0}\n", 3,
       "policy.trafficShaping.presenceServer.burst", "in 1..1000000, got 0"},
      {"policy:\n  maxTarget: 5\n", 2, "policy.maxTarget", "did you mean 'maxTargets'?"},
      {"policy:\n  enable: false\n", 2, "policy.enable", "did you mean 'enabled'?"},
      {"policy: [maxTargets]\n", 1, "policy", "expected a mapping, got a list"},
  });
}

TEST(ConfigPolicy, PrivacyPatterns) {
  expectErrors({
      {"policy:\n  privacy:\n    optedOut: [\"mailto:a@b.test\"]\n", 3, "policy.privacy.optedOut",
       "expected a tel:, sip: or sips: address, or one with '*' for any characters (e.g. "
       "\"tel:+4930*\"), got the quoted string 'mailto:a@b.test'"},
      {"policy:\n  privacy:\n    optedOut: [\"+4930*\"]\n", 3, "policy.privacy.optedOut",
       "expected a tel:, sip: or sips: address"},
      {"policy:\n  privacy:\n    optedOut: [\"tel:+49 30*\"]\n", 3, "policy.privacy.optedOut",
       "without spaces or control characters"},
      {"policy:\n  privacy:\n    optedOut: [\"sip:*\\tx\"]\n", 3, "policy.privacy.optedOut",
       "without spaces or control characters"},
      {"policy:\n  privacy:\n    allowedTargets:\n      - tel:+4930\n      - tel:abc\n", 5,
       "policy.privacy.allowedTargets", "got 'tel:abc': "},
      {"policy:\n  privacy:\n    allowedTargets: [\"sip:\"]\n", 3, "policy.privacy.allowedTargets",
       "expected a tel:, sip: or sips: address"},
      {"policy:\n  privacy:\n    allowedTargets: [[tel:+1]]\n", 3, "policy.privacy.allowedTargets",
       "got a list"},
      {"policy:\n  privacy:\n    optedOut: [\"tel:+49-30\", \"TEL:+4930\"]\n", 3,
       "policy.privacy.optedOut", "duplicate pattern 'tel:+4930'"},
      {"policy:\n  privacy:\n    optedOut: tel:+4930\n", 3, "policy.privacy.optedOut",
       "expected a list"},
      {"policy:\n  privacy:\n    optedout: []\n", 3, "policy.privacy.optedout",
       "did you mean 'optedOut'?"},
  });
  const GatewayConfig c = loadConfigText(
      "policy:\n  privacy:\n    optedOut: [\"tel:*\", \"sips:*\", \"Sip:Alice*@*.Example.org\"]\n",
      "p.yaml");
  EXPECT_EQ(c.policy.defaults.rules.privacy.optedOut,
            (std::vector<std::string>{"tel:*", "sips:*", "sip:Alice*@*.example.org"}));
}

TEST(ConfigPolicy, ServiceAndOperationNamesAreChecked) {
  expectErrors({
      {"policy:\n  services:\n    terminalStatu: {}\n", 3, "policy.services.terminalStatu",
       "unknown key 'terminalStatu' (did you mean 'terminalStatus'?)"},
      {"policy:\n  services:\n    presence: {}\n", 3, "policy.services.presence",
       "(known keys: terminalStatus, callNotification, callDirection)"},
      {"policy:\n  services:\n    terminalStatus:\n      operations:\n        getStatsu: {}\n", 5,
       "policy.services.terminalStatus.operations.getStatsu", "did you mean 'getStatus'?"},
      {"policy:\n  services:\n    terminalStatus:\n      operations:\n        getstatusforgroup: {}"
       "\n",
       5, "policy.services.terminalStatus.operations.getstatusforgroup",
       "did you mean 'getStatusForGroup'?"},
      // An operation of another service.
      {"policy:\n  services:\n    callNotification:\n      operations:\n        getStatus: {}\n", 5,
       "policy.services.callNotification.operations.getStatus",
       "(known keys: startCallNotification, stopCallNotification)"},
      {"policy:\n  services:\n    terminalStatus:\n      operations:\n        startNotification:\n"
       "          operations: {}\n",
       6, "policy.services.terminalStatus.operations.startNotification.operations",
       "unknown key 'operations'"},
      {"policy:\n  services:\n    terminalStatus:\n      trafficShaping: {}\n", 4,
       "policy.services.terminalStatus.trafficShaping", "unknown key 'trafficShaping'"},
      {"policy:\n  services:\n    terminalStatus:\n      operation: {}\n", 4,
       "policy.services.terminalStatus.operation", "did you mean 'operations'?"},
      {"policy:\n  service:\n    terminalStatus: {}\n", 2, "policy.service",
       "did you mean 'services'?"},
      {"policy:\n  getStatus: {}\n", 2, "policy.getStatus", "unknown key 'getStatus'"},
      // Traffic shaping is global only.
      {acme("      trafficShaping: {presenceServer: {ratePerSec: 1}}\n"), 5,
       "requesters.acme.policy.trafficShaping", "unknown key 'trafficShaping'"},
      {acme("      services:\n        callNotifcation: {}\n"), 6,
       "requesters.acme.policy.services.callNotifcation", "did you mean 'callNotification'?"},
      {acme("      maxTargets: 0\n"), 5, "requesters.acme.policy.maxTargets", "in 1..100000"},
  });
}

// ---------------------------------------------------------------------------------------------
// policy: the override rule

TEST(ConfigOverrideRule, TheIssueExampleHasTheDocumentedMessage) {
  const ConfigError e = loadError("policy:\n  maxTargets: 100\n" +
                                  acme("      maxInFlight: 5\n      maxTargets: 500\n"));
  EXPECT_EQ(e.file(), "test.yaml");
  EXPECT_EQ(e.line(), 8);
  EXPECT_EQ(e.key(), "requesters.acme.policy.maxTargets");
  EXPECT_STREQ(e.what(),
               "test.yaml:8: requesters.acme.policy.maxTargets: 500 is looser than "
               "policy.maxTargets (100); an override may only be more restrictive");
}

TEST(ConfigOverrideRule, RequestersMayComeBeforeThePolicy) {
  const ConfigError e = loadError(acme("      maxTargets: 500\n") + "policy:\n  maxTargets: 100\n");
  EXPECT_EQ(e.line(), 5);
  EXPECT_EQ(e.key(), "requesters.acme.policy.maxTargets");
}

TEST(ConfigOverrideRule, EveryKindOfLooseningIsRefusedAtTheRequesterLevel) {
  const std::string tail = "; an override may only be more restrictive";
  const std::string key = "requesters.acme.policy.";
  expectErrors({
      {"policy:\n  enabled: false\n" + acme("      enabled: true\n"), 7, key + "enabled",
       "true is looser than policy.enabled (false)" + tail},
      {"policy:\n  allowedSchemes: [sip, sips]\n" + acme("      allowedSchemes: [tel, sip]\n"), 7,
       key + "allowedSchemes",
       "[tel, sip] is looser than policy.allowedSchemes ([sip, sips])" + tail},
      {"policy:\n  groupsAllowed: false\n" + acme("      groupsAllowed: true\n"), 7,
       key + "groupsAllowed", "true is looser than policy.groupsAllowed (false)" + tail},
      {"policy:\n  maxTargets: 10\n" + acme("      maxTargets: 11\n"), 7, key + "maxTargets",
       "11 is looser than policy.maxTargets (10)" + tail},
      {"policy:\n  maxInFlight: 10\n" + acme("      maxInFlight: 11\n"), 7, key + "maxInFlight",
       "11 is looser than policy.maxInFlight (10)" + tail},
      {"policy:\n  processUpTo: {limit: 10}\n" + acme("      processUpTo: {limit: 11}\n"), 7,
       key + "processUpTo.limit", "11 is looser than policy.processUpTo.limit (10)" + tail},
      {"policy:\n  processUpTo: {limit: 10, mode: reject}\n" +
           acme("      processUpTo:\n        limit: 5\n        mode: partial\n"),
       9, key + "processUpTo.mode",
       "partial is looser than policy.processUpTo.mode (reject)" + tail},
      // 20 per second under 10 per second.
      {"policy:\n  pacer: {limit: 10}\n" + acme("      pacer: {limit: 20}\n"), 7, key + "pacer",
       "20 per 1000 ms is looser than policy.pacer (10 per 1000 ms)" + tail},
      // Same limit in a shorter window is a higher rate.
      {"policy:\n  pacer: {limit: 600, windowMs: 60000}\n" +
           acme("      pacer: {limit: 600, windowMs: 59999}\n"),
       7, key + "pacer", "600 per 59999 ms is looser than policy.pacer (600 per 60000 ms)"},
      // Largest values: the comparison must not overflow (1e9 * 86400000 > 2^32).
      {"policy:\n  pacer: {limit: 999999999, windowMs: 86400000}\n" +
           acme("      pacer: {limit: 1000000000, windowMs: 86400000}\n"),
       7, key + "pacer", "is looser than policy.pacer"},
      {"policy:\n  addressPlan: {e164Only: true}\n" +
           acme("      addressPlan:\n        e164Only: false\n"),
       8, key + "addressPlan.e164Only",
       "false is looser than policy.addressPlan.e164Only (true)" + tail},
      {"policy:\n  addressPlan: {countryCodes: [49]}\n" +
           acme("      addressPlan:\n        countryCodes: [49, 1]\n"),
       8, key + "addressPlan.countryCodes",
       "[49, 1] is looser than policy.addressPlan.countryCodes ([49])" + tail},
      {"policy:\n  addressPlan: {sipDomains: [example.com]}\n" +
           acme("      addressPlan:\n        sipDomains: [a.example.com, badexample.com]\n"),
       8, key + "addressPlan.sipDomains",
       "[a.example.com, badexample.com] is looser than policy.addressPlan.sipDomains "
       "([example.com])" +
           tail},
      {"policy:\n  addressPlan: {sipDomains: [a.example.com]}\n" +
           acme("      addressPlan:\n        sipDomains: [example.com]\n"),
       8, key + "addressPlan.sipDomains", "is looser than"},
  });
}

// NestedGroupSupport: read at every level, default true (unset), true -> false only.
TEST(ConfigOverrideRule, NestedGroupsAllowedMayOnlyBeTurnedOff) {
  const std::string tail = "; an override may only be more restrictive";
  const GatewayConfig c = loadConfigText(
      "policy:\n  nestedGroupsAllowed: true\n  services:\n    terminalStatus:\n"
      "      operations:\n        getStatusForGroup: {nestedGroupsAllowed: false}\n" +
          acme("      nestedGroupsAllowed: false\n"),
      "test.yaml");
  EXPECT_EQ(c.policy.defaults.rules.nestedGroupsAllowed, true);
  EXPECT_EQ(c.policy.defaults.services.at("terminalStatus")
                .operations.at("getStatusForGroup")
                .nestedGroupsAllowed,
            false);
  EXPECT_FALSE(c.policy.defaults.services.at("terminalStatus").rules.nestedGroupsAllowed);
  EXPECT_EQ(c.requesters.at("acme").policy.rules.nestedGroupsAllowed, false);
  EXPECT_FALSE(loadConfigText("", "test.yaml").policy.defaults.rules.nestedGroupsAllowed);

  const std::string ts = "policy.services.terminalStatus";
  const std::string rop = "requesters.acme.policy.services.terminalStatus.operations.";
  expectErrors({
      {"policy:\n  nestedGroupsAllowed: maybe\n", 2, "policy.nestedGroupsAllowed",
       "expected true or false"},
      // requester under global
      {"policy:\n  nestedGroupsAllowed: false\n" + acme("      nestedGroupsAllowed: true\n"), 7,
       "requesters.acme.policy.nestedGroupsAllowed",
       "true is looser than policy.nestedGroupsAllowed (false)" + tail},
      // global operation under global service
      {"policy:\n  services:\n    terminalStatus:\n      nestedGroupsAllowed: false\n"
       "      operations:\n        getStatusForGroup: {nestedGroupsAllowed: true}\n",
       6, ts + ".operations.getStatusForGroup.nestedGroupsAllowed",
       "true is looser than " + ts + ".nestedGroupsAllowed (false)" + tail},
      // requester operation under the requester's own level
      {acme("      nestedGroupsAllowed: false\n      services:\n        terminalStatus:\n"
            "          operations:\n            startNotification: {nestedGroupsAllowed: true}\n"),
       9, rop + "startNotification.nestedGroupsAllowed",
       "true is looser than requesters.acme.policy.nestedGroupsAllowed (false)" + tail},
      // requester service under the global operation's service
      {"policy:\n  services:\n    terminalStatus: {nestedGroupsAllowed: false}\n" +
           acme("      services:\n        terminalStatus:\n          nestedGroupsAllowed: true\n"),
       10, "requesters.acme.policy.services.terminalStatus.nestedGroupsAllowed",
       "true is looser than " + ts + ".nestedGroupsAllowed (false)" + tail},
  });
  expectValid({
      "policy:\n  nestedGroupsAllowed: false\n" + acme("      nestedGroupsAllowed: false\n"),
      acme("      nestedGroupsAllowed: true\n"),                         // default: true
      "policy:\n  groupsAllowed: false\n  nestedGroupsAllowed: true\n",  // independent switches
  });
}

TEST(ConfigOverrideRule, TighteningAndEqualValuesAreAccepted) {
  expectValid({
      "policy:\n  enabled: false\n" + acme("      enabled: false\n"),
      acme("      enabled: false\n"),
      "policy:\n  enabled: true\n" + acme("      enabled: false\n"),
      "policy:\n  allowedSchemes: [sip, sips]\n" + acme("      allowedSchemes: [SIPS]\n"),
      "policy:\n  allowedSchemes: [sip, sips]\n" + acme("      allowedSchemes: [sips, sip]\n"),
      acme("      allowedSchemes: [tel, sip, sips]\n"),  // default: all
      "policy:\n  groupsAllowed: true\n" + acme("      groupsAllowed: false\n"),
      acme("      groupsAllowed: true\n"),  // default: true
      "policy:\n  maxTargets: 10\n" + acme("      maxTargets: 10\n"),
      "policy:\n  maxTargets: 10\n" + acme("      maxTargets: 1\n"),
      acme("      maxTargets: 100\n"),  // default 100
      "policy:\n  maxTargets: 5000\n" + acme("      maxTargets: 500\n"),
      "policy:\n  maxInFlight: 10\n" + acme("      maxInFlight: 10\n"),
      acme("      maxInFlight: 1000000\n"),  // no default: unlimited above
      "policy:\n  processUpTo: {limit: 10, mode: partial}\n" +
          acme("      processUpTo: {limit: 10, mode: reject}\n"),
      "policy:\n  processUpTo: {limit: 10, mode: partial}\n" +
          acme("      processUpTo: {limit: 3, mode: partial}\n"),
      acme("      processUpTo: {limit: 100000, mode: partial}\n"),
      "policy:\n  pacer: {limit: 10}\n" + acme("      pacer: {limit: 10, windowMs: 1000}\n"),
      // 1 per 100 ms == 10 per second.
      "policy:\n  pacer: {limit: 10}\n" + acme("      pacer: {limit: 1, windowMs: 100}\n"),
      "policy:\n  pacer: {limit: 10}\n" + acme("      pacer: {limit: 600, windowMs: 60000}\n"),
      acme("      pacer: {limit: 1000000000, windowMs: 1}\n"),
      "policy:\n  addressPlan: {e164Only: false}\n" + acme("      addressPlan: {e164Only: true}\n"),
      "policy:\n  addressPlan: {e164Only: true}\n" + acme("      addressPlan: {e164Only: true}\n"),
      acme("      addressPlan: {e164Only: false}\n"),
      "policy:\n  addressPlan: {countryCodes: [49, 1]}\n" +
          acme("      addressPlan: {countryCodes: [\"1\"]}\n"),
      acme("      addressPlan: {countryCodes: [44]}\n"),
      "policy:\n  addressPlan: {sipDomains: [example.com, b.test]}\n" +
          acme("      addressPlan: {sipDomains: [EXAMPLE.com, x.y.example.com, b.test]}\n"),
      // Cumulative lists are never compared: every level applies on top of the others.
      "policy:\n  addressPlan: {telPatterns: ['^\\+49']}\n  privacy:\n    optedOut: [tel:+4930*]\n"
      "    allowedTargets: [tel:+49*]\n" +
          acme("      addressPlan: {telPatterns: ['^\\+1']}\n      privacy:\n"
               "        optedOut: [tel:+1*]\n        allowedTargets: [tel:+1*, sip:*]\n"),
  });
}

TEST(ConfigOverrideRule, ServiceAndOperationLevelsOfThePolicy) {
  const std::string tail = "; an override may only be more restrictive";
  const std::string ts = "policy.services.terminalStatus";
  const std::string op = ts + ".operations.getStatusForGroup";
  expectErrors({
      // service under global
      {"policy:\n  maxInFlight: 100\n  services:\n    terminalStatus:\n      maxInFlight: 101\n", 5,
       ts + ".maxInFlight", "101 is looser than policy.maxInFlight (100)" + tail},
      // service under the global default of maxTargets
      {"policy:\n  services:\n    callNotification:\n      maxTargets: 101\n", 4,
       "policy.services.callNotification.maxTargets",
       "101 is looser than policy.maxTargets (100, the default)" + tail},
      // operation under its service
      {"policy:\n  services:\n    terminalStatus:\n      enabled: false\n      operations:\n"
       "        getStatusForGroup:\n          enabled: true\n",
       7, op + ".enabled", "true is looser than " + ts + ".enabled (false)" + tail},
      // operation under global when the service does not set the value
      {"policy:\n  processUpTo: {limit: 50, mode: reject}\n  services:\n    terminalStatus:\n"
       "      operations:\n        getStatusForGroup: {processUpTo: {limit: 50, mode: partial}}\n",
       6, op + ".processUpTo.mode", "partial is looser than policy.processUpTo.mode (reject)"},
      {"policy:\n  services:\n    terminalStatus:\n      operations:\n        getStatusForGroup:\n"
       "          maxTargets: 1000\n",
       6, op + ".maxTargets", "1000 is looser than policy.maxTargets (100, the default)"},
  });
  expectValid({
      "policy:\n  maxTargets: 1000\n  services:\n    terminalStatus:\n      maxTargets: 500\n"
      "      operations:\n        getStatusForGroup: {maxTargets: 200}\n"
      "        getStatus: {maxTargets: 500}\n",
      "policy:\n  services:\n    terminalStatus:\n      enabled: true\n      operations:\n"
      "        getStatus: {enabled: false}\n",
  });
}

TEST(ConfigOverrideRule, RequesterServiceAndOperationLevels) {
  const std::string tail = "; an override may only be more restrictive";
  const std::string rts = "requesters.acme.policy.services.terminalStatus";
  const std::string rop = rts + ".operations.getStatus";
  expectErrors({
      // requester service under the global service
      {"policy:\n  services:\n    terminalStatus: {enabled: false}\n" +
           acme("      services:\n        terminalStatus:\n          enabled: true\n"),
       10, rts + ".enabled",
       "true is looser than policy.services.terminalStatus.enabled (false)" + tail},
      // requester service under the requester's own level
      {acme("      maxInFlight: 5\n      services:\n        terminalStatus:\n"
            "          maxInFlight: 6\n"),
       8, rts + ".maxInFlight", "6 is looser than requesters.acme.policy.maxInFlight (5)" + tail},
      // requester service under global
      {"policy:\n  pacer: {limit: 5}\n" +
           acme("      services:\n        terminalStatus:\n          pacer: {limit: 6}\n"),
       9, rts + ".pacer", "6 per 1000 ms is looser than policy.pacer (5 per 1000 ms)" + tail},
      // requester operation under the global operation
      {"policy:\n  services:\n    terminalStatus:\n      operations:\n"
       "        getStatus: {groupsAllowed: false}\n" +
           acme("      services:\n        terminalStatus:\n          operations:\n"
                "            getStatus: {groupsAllowed: true}\n"),
       13, rop + ".groupsAllowed",
       "true is looser than policy.services.terminalStatus.operations.getStatus.groupsAllowed "
       "(false)" +
           tail},
      // requester operation under the global service
      {"policy:\n  services:\n    terminalStatus: {allowedSchemes: [sip]}\n" +
           acme("      services:\n        terminalStatus:\n          operations:\n"
                "            getStatus:\n              allowedSchemes: [sip, tel]\n"),
       12, rop + ".allowedSchemes",
       "[sip, tel] is looser than policy.services.terminalStatus.allowedSchemes ([sip])"},
      // requester operation under the requester's service
      {acme("      services:\n        terminalStatus:\n          maxTargets: 10\n"
            "          operations:\n            getStatus: {maxTargets: 20}\n"),
       9, rop + ".maxTargets",
       "20 is looser than requesters.acme.policy.services.terminalStatus.maxTargets (10)"},
      // requester operation under the requester's level
      {acme("      addressPlan: {e164Only: true}\n      services:\n        terminalStatus:\n"
            "          operations:\n            getStatus:\n"
            "              addressPlan: {e164Only: false}\n"),
       10, rop + ".addressPlan.e164Only",
       "false is looser than requesters.acme.policy.addressPlan.e164Only (true)"},
      // requester operation under global
      {"policy:\n  addressPlan: {countryCodes: [\"49\"]}\n" +
           acme("      services:\n        terminalStatus:\n          operations:\n"
                "            getStatus: {addressPlan: {countryCodes: [\"44\"]}}\n"),
       10, rop + ".addressPlan.countryCodes",
       "[44] is looser than policy.addressPlan.countryCodes ([49])"},
      // requester operation under the global default
      {acme("      services:\n        terminalStatus:\n          operations:\n"
            "            getStatus: {maxTargets: 101}\n"),
       8, rop + ".maxTargets", "101 is looser than policy.maxTargets (100, the default)"},
  });
  expectValid({
      // A requester's service level is not below a global operation: the engine applies both.
      "policy:\n  services:\n    terminalStatus:\n      operations:\n"
      "        getStatus: {maxTargets: 5}\n" +
          acme("      services:\n        terminalStatus: {maxTargets: 50}\n"),
      // Nor is a requester's operation below another requester's values or another operation.
      "policy:\n  services:\n    terminalStatus:\n      operations:\n"
      "        getStatusForGroup: {maxInFlight: 5}\n" +
          acme("      services:\n        terminalStatus:\n          operations:\n"
               "            getStatus: {maxInFlight: 50}\n") +
          "  other:\n    passwordHash: \"" + kHash + "\"\n    policy: {maxInFlight: 1}\n",
      // Tightening at every level.
      "policy:\n  maxTargets: 1000\n  pacer: {limit: 100}\n  services:\n    terminalStatus:\n"
      "      maxTargets: 500\n      operations:\n        getStatus: {maxTargets: 200}\n" +
          acme("      maxTargets: 400\n      pacer: {limit: 50}\n      services:\n"
               "        terminalStatus:\n          maxTargets: 300\n          pacer: {limit: 10}\n"
               "          operations:\n"
               "            getStatus: {maxTargets: 200, pacer: {limit: 1, windowMs: 200}}\n"),
  });
}

}  // namespace
}  // namespace px
