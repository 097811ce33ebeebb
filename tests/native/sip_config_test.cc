// The sip section's hardening keys (issue 12): sip.tcp.*, sip.checkNotifySource,
// sip.trustedNotifySources: defaults, accepted values and errors naming file, line and key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/IpCidr.h"
#include "config/GatewayConfig.h"
#include "support/ConfigErrors.h"

namespace px {
namespace {

TEST(SipHardeningConfig, Defaults) {
  const GatewayConfig c = loadConfigText("sip:\n  port: 5080\n", "x.yaml");
  EXPECT_EQ(c.sip.tcp.idleTimeoutMs, 30000u);
  EXPECT_EQ(c.sip.tcp.maxConnections, 256u);
  EXPECT_EQ(c.sip.tcp.maxConnectionsPerSource, 16u);
  EXPECT_TRUE(c.sip.checkNotifySource);
  EXPECT_TRUE(c.sip.trustedNotifySources.empty());
}

TEST(SipHardeningConfig, ShippedFileDocumentsTheDefaults) {
  const GatewayConfig c = loadConfigFile(std::string(PX_SOURCE_DIR) + "/config/gateway.yaml");
  const GatewayConfig d = loadConfigText("", "empty.yaml");
  EXPECT_EQ(c.sip.tcp.idleTimeoutMs, d.sip.tcp.idleTimeoutMs);
  EXPECT_EQ(c.sip.tcp.maxConnections, d.sip.tcp.maxConnections);
  EXPECT_EQ(c.sip.tcp.maxConnectionsPerSource, d.sip.tcp.maxConnectionsPerSource);
  EXPECT_EQ(c.sip.checkNotifySource, d.sip.checkNotifySource);
  EXPECT_EQ(c.sip.trustedNotifySources, d.sip.trustedNotifySources);
}

TEST(SipHardeningConfig, Values) {
  const GatewayConfig c = loadConfigText(
      "sip:\n"
      "  tcp: {idleTimeoutMs: 1000, maxConnections: 65536, maxConnectionsPerSource: 65536}\n"
      "  checkNotifySource: false\n"
      "  trustedNotifySources: [192.0.2.7, 10.0.0.0/8, \"2001:DB8::/32\", \"::1\", 0.0.0.0/0]\n",
      "x.yaml");
  EXPECT_EQ(c.sip.tcp.idleTimeoutMs, 1000u);
  EXPECT_EQ(c.sip.tcp.maxConnections, 65536u);
  EXPECT_EQ(c.sip.tcp.maxConnectionsPerSource, 65536u);
  EXPECT_FALSE(c.sip.checkNotifySource);
  EXPECT_EQ(
      c.sip.trustedNotifySources,
      (std::vector<std::string>{"192.0.2.7", "10.0.0.0/8", "2001:db8::/32", "::1", "0.0.0.0/0"}));
  // A total below the default per-source cap lowers that cap with it.
  const GatewayConfig small = loadConfigText("sip:\n  tcp: {maxConnections: 4}\n", "x.yaml");
  EXPECT_EQ(small.sip.tcp.maxConnectionsPerSource, 4u);
}

TEST(SipHardeningConfig, Errors) {
  testing::expectErrors({
      {"sip:\n  tcp:\n    idleTimeoutMs: 999\n", 3, "sip.tcp.idleTimeoutMs",
       "expected an integer in 1000..3600000"},
      {"sip:\n  tcp:\n    idleTimeoutMs: 3600001\n", 3, "sip.tcp.idleTimeoutMs", "1000..3600000"},
      {"sip:\n  tcp:\n    maxConnections: 0\n", 3, "sip.tcp.maxConnections", "1..65536"},
      {"sip:\n  tcp:\n    maxConnections: 10\n    maxConnectionsPerSource: 11\n", 4,
       "sip.tcp.maxConnectionsPerSource", "1..10"},
      {"sip:\n  tcp:\n    maxConections: 10\n", 3, "sip.tcp.maxConections",
       "did you mean 'maxConnections'?"},
      {"sip:\n  tcp: 5\n", 2, "sip.tcp", "mapping"},
      {"sip:\n  checkNotifySource: yes\n", 2, "sip.checkNotifySource", "true or false"},
      {"sip:\n  trustedNotifySources: [10.0.0.1, example.net]\n", 2, "sip.trustedNotifySources",
       "expected an IP address or CIDR block"},
      {"sip:\n  trustedNotifySources:\n    - 10.0.0.0/33\n", 3, "sip.trustedNotifySources",
       "got '10.0.0.0/33'"},
      {"sip:\n  trustedNotifySources: [\"::1/129\"]\n", 2, "sip.trustedNotifySources", "CIDR"},
      {"sip:\n  trustedNotifySources: [10.0.0.1/]\n", 2, "sip.trustedNotifySources", "CIDR"},
      {"sip:\n  trustedNotifySources: 10.0.0.1\n", 2, "sip.trustedNotifySources", "list"},
  });
}

TEST(IpCidr, Matching) {
  const auto block = IpCidr::parse("10.2.0.0/15");  // 10.2.0.0 .. 10.3.255.255
  ASSERT_TRUE(block);
  EXPECT_FALSE(block->contains(*IpCidr::parse("10.1.255.255")));
  EXPECT_TRUE(block->contains(*IpCidr::parse("10.2.0.0")));
  EXPECT_TRUE(block->contains(*IpCidr::parse("10.3.255.255")));
  EXPECT_FALSE(block->contains(*IpCidr::parse("10.4.0.0")));
  EXPECT_FALSE(block->contains(*IpCidr::parse("::ffff:10.2.2.3")));  // families differ
  const auto v6 = IpCidr::parse("2001:db8::/33");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpCidr::parse("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(*IpCidr::parse("2001:db8:8000::1")));
  EXPECT_TRUE(IpCidr::parse("0.0.0.0/0")->contains(*IpCidr::parse("192.0.2.1")));
  EXPECT_FALSE(IpCidr::parse("1.2.3"));
  EXPECT_FALSE(IpCidr::parse("1.2.3.4/x"));
}

}  // namespace
}  // namespace px
