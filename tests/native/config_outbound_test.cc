// The `outbound` section: the SSRF guard's allow-list (native/config/OutboundConfigReader).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "config/OutboundConfigReader.h"
#include "support/ConfigErrors.h"

namespace px {
namespace {

using testing::expectErrors;

TEST(ConfigOutbound, DefaultAllowsNothing) {
  const GatewayConfig c = loadConfigText("", "test.yaml");
  EXPECT_TRUE(c.outbound.allowCidrs.empty());
  EXPECT_TRUE(c.outbound.allowHosts.empty());
  EXPECT_FALSE(c.outbound.allowOwnListeners);
}

TEST(ConfigOutbound, EntriesAreNormalised) {
  const GatewayConfig c = loadConfigText(
      "outbound:\n"
      "  allow: [\"10.20.0.0/16\", \"192.0.2.7\", \"::1\", \"FD00:0:0::/8\", Apps.Internal.Example,"
      " \"0.0.0.0/0\"]\n"
      "  allowOwnListeners: true\n",
      "test.yaml");
  EXPECT_EQ(c.outbound.allowCidrs, (std::vector<std::string>{"10.20.0.0/16", "192.0.2.7/32",
                                                             "::1/128", "fd00::/8", "0.0.0.0/0"}));
  EXPECT_EQ(c.outbound.allowHosts, (std::vector<std::string>{"apps.internal.example"}));
  EXPECT_TRUE(c.outbound.allowOwnListeners);
}

TEST(ConfigOutbound, ErrorsNameLineAndKey) {
  expectErrors({
      {"outbound:\n  allow: [\"10.0.0.1/8\"]\n", 2, "outbound.allow", "beyond the prefix"},
      {"outbound:\n  allow: [\"10.0.0.0/33\"]\n", 2, "outbound.allow", "0..32"},
      {"outbound:\n  allow: [\"fd00::/129\"]\n", 2, "outbound.allow", "0..128"},
      {"outbound:\n  allow: [\"10.0.0.0/\"]\n", 2, "outbound.allow", "must be a number in 0..32"},
      {"outbound:\n  allow: [\"10.0.0.0/x\"]\n", 2, "outbound.allow", "must be a number in 0..32"},
      {"outbound:\n  allow: [\"999.1.1.1\"]\n", 2, "outbound.allow", "expected a CIDR"},
      {"outbound:\n  allow: [\"http://x\"]\n", 2, "outbound.allow", "expected a CIDR"},
      {"outbound:\n  allow: [\"bad_host\"]\n", 2, "outbound.allow", "expected a CIDR"},
      {"outbound:\n  allow:\n    - 10.0.0.0/8\n    - \"10.0.0.0/8\"\n", 4, "outbound.allow",
       "duplicate"},
      {"outbound:\n  allow: [a.example, A.EXAMPLE]\n", 2, "outbound.allow", "duplicate"},
      {"outbound:\n  allow: 10.0.0.0/8\n", 2, "outbound.allow", "expected a list"},
      {"outbound:\n  allowOwnListeners: yes\n", 2, "outbound.allowOwnListeners", "true or false"},
      {"outbound:\n  alow: []\n", 2, "outbound.alow", "did you mean 'allow'"},
  });
}

TEST(ConfigOutbound, NormaliseCidrDirectly) {
  std::string problem;
  EXPECT_EQ(config::normaliseCidr("127.0.0.1", &problem), "127.0.0.1/32");
  EXPECT_EQ(config::normaliseCidr("::ffff:127.0.0.1", &problem), "::ffff:127.0.0.1/128");
  EXPECT_EQ(config::normaliseCidr("2001:DB8::/32", &problem), "2001:db8::/32");
  EXPECT_EQ(config::normaliseCidr("example.com", &problem), "");
  EXPECT_TRUE(problem.empty());
}

}  // namespace
}  // namespace px
