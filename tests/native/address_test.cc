// parseAddress / toSipRequestUri: tel (RFC 3966), sip/sips (RFC 3261), everything else.
#include "address/Address.h"

#include <gtest/gtest.h>

#include <string>

namespace px {
namespace {

Address parseOk(std::string_view text) {
  const AddressParseResult r = parseAddress(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.reason;
  EXPECT_TRUE(r.reason.empty()) << text;
  return r.address;
}

void expectInvalid(std::string_view text) {
  const AddressParseResult r = parseAddress(text);
  EXPECT_EQ(r.error, AddressError::kInvalid)
      << "'" << text << "' canonical=" << r.address.canonical;
  EXPECT_FALSE(r.ok()) << text;
  EXPECT_FALSE(r.reason.empty()) << text;
}

void expectUnknownScheme(std::string_view text) {
  const AddressParseResult r = parseAddress(text);
  EXPECT_EQ(r.error, AddressError::kUnknownScheme) << text << ": " << r.reason;
  EXPECT_FALSE(r.reason.empty()) << text;
}

// ---------------------------------------------------------------- tel: global numbers

TEST(TelAddress, GlobalNumber) {
  const Address a = parseOk("tel:+15551234567");
  EXPECT_EQ(a.scheme, AddressScheme::kTel);
  EXPECT_EQ(a.canonical, "tel:+15551234567");
  EXPECT_EQ(a.user, "+15551234567");
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, 0u);
}

TEST(TelAddress, VisualSeparatorsAreRemoved) {
  const Address a = parseOk("tel:+1-(555).123-4567");
  EXPECT_EQ(a.canonical, "tel:+15551234567");
  EXPECT_EQ(a.user, "+15551234567");
}

TEST(TelAddress, SchemeIsCaseInsensitive) {
  EXPECT_EQ(parseOk("TEL:+15551234567").canonical, "tel:+15551234567");
  EXPECT_EQ(parseOk("Tel:+4930123").canonical, "tel:+4930123");
}

TEST(TelAddress, DigitCountBoundaries) {
  EXPECT_EQ(parseOk("tel:+1").user, "+1");
  EXPECT_EQ(parseOk("tel:+123456789012345").user, "+123456789012345");  // 15 digits
  EXPECT_EQ(parseOk("tel:+1-2345-6789-0123-45").user,
            "+123456789012345");           // separators don't count
  expectInvalid("tel:+1234567890123456");  // 16 digits
  expectInvalid("tel:+1-2345-6789-0123-456");
}

TEST(TelAddress, EmptyOrMissingNumber) {
  expectInvalid("tel:");
  expectInvalid("tel:+");
  expectInvalid("tel:+--..()");
  expectInvalid("tel:;phone-context=example.com");
  expectInvalid("tel:+;ext=1");
}

TEST(TelAddress, LettersAndOtherCharactersRefused) {
  expectInvalid("tel:+1555CALLME");
  expectInvalid("tel:+1555a");
  expectInvalid("tel:abc;phone-context=example.com");
  expectInvalid("tel:12ab;phone-context=example.com");  // RFC 3966 HEXDIG not accepted
  expectInvalid("tel:+1555 1234");
  expectInvalid("tel:+1555*1234");  // * and # only in local numbers
  expectInvalid("tel:+1555#");
  expectInvalid("tel:+1555/1234");
  expectInvalid("tel:++15551234");
  expectInvalid("tel:1+5551234;phone-context=example.com");
}

TEST(TelAddress, ParametersKeptVerbatim) {
  Address a = parseOk("tel:+1-555-1234567;ext=12-3");
  EXPECT_EQ(a.canonical, "tel:+15551234567;ext=12-3");
  EXPECT_EQ(a.user, "+15551234567");
  a = parseOk("tel:+15551234567;isub=%41b:c;Foo=Bar;flag");
  EXPECT_EQ(a.canonical, "tel:+15551234567;isub=%41b:c;Foo=Bar;flag");
  EXPECT_EQ(a.host, "");
}

TEST(TelAddress, BadParameters) {
  expectInvalid("tel:+15551234567;");             // empty parameter
  expectInvalid("tel:+15551234567;;ext=1");       // empty parameter
  expectInvalid("tel:+15551234567;=1");           // empty name
  expectInvalid("tel:+15551234567;ext");          // ext needs digits
  expectInvalid("tel:+15551234567;ext=");         // empty value
  expectInvalid("tel:+15551234567;ext=12a");      // ext digits only
  expectInvalid("tel:+15551234567;ext=--");       // ext without digit
  expectInvalid("tel:+15551234567;isub");         // isub needs a value
  expectInvalid("tel:+15551234567;isub=a%2");     // broken escape
  expectInvalid("tel:+15551234567;isub=a%zz");    // broken escape
  expectInvalid("tel:+15551234567;fo_o=1");       // '_' not in pname
  expectInvalid("tel:+15551234567;foo=a\"b");     // '"' not a paramchar
  expectInvalid("tel:+15551234567;foo=a<b");      // '<' not a paramchar
  expectInvalid("tel:+15551234567;ext=1;EXT=2");  // repeated (names are case-insensitive)
}

TEST(TelAddress, PhoneContextNotAllowedOnGlobalNumber) {
  expectInvalid("tel:+15551234567;phone-context=example.com");
}

// ---------------------------------------------------------------- tel: local numbers

TEST(TelAddress, LocalNumberWithDomainContext) {
  const Address a = parseOk("tel:555-1234;phone-context=Example.COM");
  EXPECT_EQ(a.scheme, AddressScheme::kTel);
  EXPECT_EQ(a.user, "5551234");
  EXPECT_EQ(a.host, "example.com");
  EXPECT_EQ(a.canonical, "tel:5551234;phone-context=example.com");
}

TEST(TelAddress, LocalNumberWithGlobalNumberContext) {
  const Address a = parseOk("tel:*31#7;phone-context=+1-555");
  EXPECT_EQ(a.user, "*31#7");
  EXPECT_EQ(a.host, "+1555");
  EXPECT_EQ(a.canonical, "tel:*31#7;phone-context=+1555");
}

TEST(TelAddress, LocalNumberParametersAroundContext) {
  const Address a = parseOk("tel:1234;ext=5;PHONE-CONTEXT=example.com;x=y");
  EXPECT_EQ(a.host, "example.com");
  EXPECT_EQ(a.canonical, "tel:1234;ext=5;phone-context=example.com;x=y");
}

TEST(TelAddress, LocalNumberNeedsValidContext) {
  expectInvalid("tel:5551234");  // no phone-context
  expectInvalid("tel:5551234;ext=1");
  expectInvalid("tel:5551234;phone-context");
  expectInvalid("tel:5551234;phone-context=");
  expectInvalid("tel:5551234;phone-context=+");                  // global number without digits
  expectInvalid("tel:5551234;phone-context=+1234567890123456");  // 16 digits
  expectInvalid("tel:5551234;phone-context=-example.com");       // label starts with '-'
  expectInvalid("tel:5551234;phone-context=example.123");        // top label starts with digit
  expectInvalid("tel:5551234;phone-context=exa_mple.com");
  expectInvalid("tel:5551234;phone-context=a..b");
  expectInvalid("tel:5551234;phone-context=example.com;phone-context=example.org");
  expectInvalid("tel:--;phone-context=example.com");  // separators only
}

// ---------------------------------------------------------------- sip: / sips:

TEST(SipAddress, UserAtHost) {
  const Address a = parseOk("sip:alice@example.test");
  EXPECT_EQ(a.scheme, AddressScheme::kSip);
  EXPECT_EQ(a.canonical, "sip:alice@example.test");
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.host, "example.test");
  EXPECT_EQ(a.port, 0u);
}

TEST(SipAddress, Sips) {
  const Address a = parseOk("sips:bob@secure.example.test:5061");
  EXPECT_EQ(a.scheme, AddressScheme::kSips);
  EXPECT_EQ(a.canonical, "sips:bob@secure.example.test:5061");
  EXPECT_EQ(a.port, 5061u);
}

TEST(SipAddress, HostOnly) {
  const Address a = parseOk("sip:example.test");
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.host, "example.test");
  EXPECT_EQ(a.canonical, "sip:example.test");
  EXPECT_EQ(parseOk("sip:example.test.").host, "example.test.");  // FQDN with root dot
  EXPECT_EQ(parseOk("sip:localhost").host, "localhost");
}

TEST(SipAddress, CaseFoldingOfSchemeAndHostOnly) {
  const Address a = parseOk("SIP:Alice.Smith@EXAMPLE.Test;User=Phone");
  EXPECT_EQ(a.scheme, AddressScheme::kSip);
  EXPECT_EQ(a.user, "Alice.Smith");
  EXPECT_EQ(a.host, "example.test");
  EXPECT_EQ(a.canonical, "sip:Alice.Smith@example.test;User=Phone");
  EXPECT_EQ(parseOk("SiPs:x@Y.z").canonical, "sips:x@y.z");
}

TEST(SipAddress, UserPartCharacters) {
  // unreserved marks and user-unreserved & = + $ , ; ? /
  const Address a = parseOk("sip:a-b_c.d!e~f*g'h(i)&=+$,;?/@example.test");
  EXPECT_EQ(a.user, "a-b_c.d!e~f*g'h(i)&=+$,;?/");
  // telephone-subscriber as user, with user=phone
  const Address b = parseOk("sip:+1-555-123;phone-context=example.com@example.test;user=phone");
  EXPECT_EQ(b.user, "+1-555-123;phone-context=example.com");
  EXPECT_EQ(b.host, "example.test");
  EXPECT_EQ(b.canonical, "sip:+1-555-123;phone-context=example.com@example.test;user=phone");
}

TEST(SipAddress, PercentEscapes) {
  const Address a = parseOk("sip:al%20ice%40home%3a@example.test");
  EXPECT_EQ(a.user, "al%20ice%40home%3a");  // kept as given
  expectInvalid("sip:al%2@example.test");
  expectInvalid("sip:al%@example.test");
  expectInvalid("sip:al%g0@example.test");
  expectInvalid("sip:%@example.test");
  EXPECT_EQ(parseOk("sip:h;foo=%41%42").canonical, "sip:h;foo=%41%42");
  expectInvalid("sip:h;foo=%4");
}

TEST(SipAddress, PasswordRefused) {
  expectInvalid("sip:alice:secret@example.test");
  expectInvalid("sip:alice:@example.test");
}

TEST(SipAddress, HeadersRefused) {
  expectInvalid("sip:alice@example.test?subject=hi");
  expectInvalid("sip:alice@example.test;transport=tcp?x=y");
  expectInvalid("sip:example.test?");
}

// A terminal address becomes the SUBSCRIBE's Request-URI: parameters that choose the next hop,
// the transport or the method would let a requester steer the gateway's SIP (issue 12).
TEST(SipAddress, RoutingParametersRefusedInTerminalAddresses) {
  for (const char* text :
       {"sip:alice@example.test;maddr=10.0.0.1", "sip:alice@example.test;transport=tcp",
        "sip:alice@example.test;TRANSPORT=udp", "sip:alice@example.test;ttl=1",
        "sip:alice@example.test;lr", "sip:alice@example.test;user=phone;lr",
        "sip:alice@example.test;method=INVITE", "sips:alice@example.test;m%61ddr=10.0.0.1",
        "sip:alice@[::1]:5070;Transport=tls", "sip:example.test;maddr=[::1]"}) {
    const AddressParseResult r = parseAddress(text);
    EXPECT_EQ(r.error, AddressError::kInvalid) << text;
    EXPECT_NE(r.reason.find("not accepted in a terminal address"), std::string::npos)
        << text << ": " << r.reason;
  }
  // Names that merely contain a routing parameter's name are other parameters.
  EXPECT_EQ(parseOk("sip:alice@example.test;x-maddr=1;transports=2").canonical,
            "sip:alice@example.test;x-maddr=1;transports=2");
  // tel: parameters end up escaped inside the user part of the SIP URI: they route nothing.
  EXPECT_EQ(parseOk("tel:+15551234567;transport=tcp").canonical, "tel:+15551234567;transport=tcp");
}

// The operator's own URIs (config: presenceServerUri, watcherUri) may carry them.
TEST(SipAddress, RoutingParametersAllowedInRoutingUris) {
  const AddressParseResult r =
      parseAddress("sip:ps.example.test;transport=tcp;lr;maddr=[::1]", AddressUse::kRouting);
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.address.canonical, "sip:ps.example.test;transport=tcp;lr;maddr=[::1]");
  // Headers inject header fields: refused for every use.
  EXPECT_FALSE(
      parseAddress("sip:ps.example.test?Route=%3Csip:evil.test%3E", AddressUse::kRouting).ok());
  EXPECT_FALSE(parseAddress("sip:alice@example.test?Route=%3Csip:10.0.0.1%3E").ok());
}

TEST(SipAddress, UserPartProblems) {
  expectInvalid("sip:@example.test");
  expectInvalid("sip:a@b@example.test");
  expectInvalid("sip:al ice@example.test");
  expectInvalid("sip:al<ice@example.test");
  expectInvalid("sip:al>ice@example.test");
  expectInvalid("sip:al\"ice@example.test");
  expectInvalid("sip:al[ice@example.test");
  expectInvalid("sip:al\xc3\xa9@example.test");  // non-ASCII must be escaped
}

TEST(SipAddress, EmptyHost) {
  expectInvalid("sip:");
  expectInvalid("sips:");
  expectInvalid("sip:alice@");
  expectInvalid("sip:alice@:5060");
  expectInvalid("sip:alice@;transport=udp");
  expectInvalid("sip::5060");
}

TEST(SipAddress, BadHostnames) {
  expectInvalid("sip:alice@-example.test");
  expectInvalid("sip:alice@example-.test");
  expectInvalid("sip:alice@example.-test");
  expectInvalid("sip:alice@exa_mple.test");
  expectInvalid("sip:alice@example..test");
  expectInvalid("sip:alice@.example.test");
  expectInvalid("sip:alice@example.test..");
  expectInvalid("sip:alice@example.1test");  // top label must start with a letter
  expectInvalid("sip:alice@exa mple.test");
  expectInvalid("sip:alice@<example.test>");
  expectInvalid("sip:alice@\"example.test\"");
  expectInvalid("sip:alice@" + std::string(64, 'a') + ".test");  // label over 63
  EXPECT_EQ(parseOk("sip:alice@" + std::string(63, 'a') + ".test").host,
            std::string(63, 'a') + ".test");
  EXPECT_EQ(parseOk("sip:alice@a-1.b2.test").host, "a-1.b2.test");
  EXPECT_EQ(parseOk("sip:alice@x").host, "x");
}

TEST(SipAddress, IPv4Hosts) {
  Address a = parseOk("sip:alice@192.0.2.1:5060");
  EXPECT_EQ(a.host, "192.0.2.1");
  EXPECT_EQ(a.port, 5060u);
  EXPECT_EQ(a.canonical, "sip:alice@192.0.2.1:5060");
  EXPECT_EQ(parseOk("sip:0.0.0.0").host, "0.0.0.0");
  EXPECT_EQ(parseOk("sip:255.255.255.255").host, "255.255.255.255");
  expectInvalid("sip:alice@256.0.0.1");
  expectInvalid("sip:alice@1.2.3");
  expectInvalid("sip:alice@1.2.3.4.5");
  expectInvalid("sip:alice@01.2.3.4");
  expectInvalid("sip:alice@1.2.3.1000");
  expectInvalid("sip:alice@1..3.4");
}

TEST(SipAddress, IPv6Hosts) {
  Address a = parseOk("sip:alice@[2001:DB8::1]:5070;user=ip");
  EXPECT_EQ(a.host, "[2001:db8::1]");
  EXPECT_EQ(a.port, 5070u);
  EXPECT_EQ(a.canonical, "sip:alice@[2001:db8::1]:5070;user=ip");
  EXPECT_EQ(parseOk("sip:[::1]").host, "[::1]");
  EXPECT_EQ(parseOk("sip:bob@[::ffff:192.0.2.1]").host, "[::ffff:192.0.2.1]");
  EXPECT_EQ(parseOk("sip:[1:2:3:4:5:6:7:8]").host, "[1:2:3:4:5:6:7:8]");
  expectInvalid("sip:alice@[2001:db8::1");   // unterminated
  expectInvalid("sip:alice@[]");             // empty
  expectInvalid("sip:alice@[2001:db8::g]");  // not hex
  expectInvalid("sip:alice@[1:2:3:4:5:6:7:8:9]");
  expectInvalid("sip:alice@[fe80::1%25eth0]");  // zone ids have no place in SIP
  expectInvalid("sip:alice@2001:db8::1");       // must be bracketed
  expectInvalid("sip:alice@[::1]x");
  expectInvalid("sip:alice@[::1]:");
}

TEST(SipAddress, PortBoundaries) {
  EXPECT_EQ(parseOk("sip:alice@example.test:1").port, 1u);
  EXPECT_EQ(parseOk("sip:alice@example.test:65535").port, 65535u);
  EXPECT_EQ(parseOk("sip:alice@example.test:65535").canonical, "sip:alice@example.test:65535");
  EXPECT_EQ(parseOk("sip:alice@example.test:05060").canonical, "sip:alice@example.test:5060");
  expectInvalid("sip:alice@example.test:0");
  expectInvalid("sip:alice@example.test:00");
  expectInvalid("sip:alice@example.test:65536");
  expectInvalid("sip:alice@example.test:99999999999999999999");  // no overflow wrap-around
  expectInvalid("sip:alice@example.test:");
  expectInvalid("sip:alice@example.test:-1");
  expectInvalid("sip:alice@example.test:+5060");
  expectInvalid("sip:alice@example.test:50a");
  expectInvalid("sip:alice@example.test:5060:5061");
}

TEST(SipAddress, Parameters) {
  const Address a = parseOk("sip:alice@example.test;user=phone;x-foo;gr=urn:uuid:1");
  EXPECT_EQ(a.canonical, "sip:alice@example.test;user=phone;x-foo;gr=urn:uuid:1");
  EXPECT_EQ(a.host, "example.test");
  expectInvalid("sip:alice@example.test;");
  expectInvalid("sip:alice@example.test;;lr");
  expectInvalid("sip:alice@example.test;=x");
  expectInvalid("sip:alice@example.test;transport=");
  expectInvalid("sip:alice@example.test;a=b c");
  expectInvalid("sip:alice@example.test;a=<b>");
}

// ---------------------------------------------------------------- other schemes / no scheme

TEST(OtherSchemes, SyntacticSchemesAreUnknown) {
  expectUnknownScheme("mailto:alice@example.test");
  expectUnknownScheme("http://example.test/x");
  expectUnknownScheme("glmgroup:friends");
  expectUnknownScheme("im:alice@example.test");
  expectUnknownScheme("pres:alice@example.test");
  expectUnknownScheme("x-Custom+1.v2:anything at all");
  expectUnknownScheme("sipx:alice@example.test");
  expectUnknownScheme("tel2:+15551234567");
  expectUnknownScheme("mailto:");
  EXPECT_EQ(parseAddress("HTTP://x").reason, "unsupported URI scheme 'http'");
}

TEST(OtherSchemes, NoValidSchemeIsInvalid) {
  expectInvalid("");
  expectInvalid("+15551234567");
  expectInvalid("alice@example.test");
  expectInvalid(":alice");
  expectInvalid("1tel:+1555");
  expectInvalid("-sip:alice@example.test");
  expectInvalid("s_p:alice@example.test");
  expectInvalid("si p:alice@example.test");
  expectInvalid("\xc3\xa9:x");
}

// ---------------------------------------------------------------- whole-text rules

TEST(AddressText, WhitespaceAndControlCharacters) {
  expectInvalid(" sip:alice@example.test");
  expectInvalid("sip:alice@example.test ");
  expectInvalid("\tsip:alice@example.test");
  expectInvalid("sip:alice@example.test\n");
  expectInvalid("sip:alice@example.test\r\n");
  expectInvalid(" tel:+15551234567");
  expectInvalid(" mailto:x");  // whitespace beats the scheme check
  expectInvalid(
      "sip:ali\x01"
      "ce@example.test");
  expectInvalid("sip:alice@example.test;a=\x7f");
  expectInvalid("mailto:a\tb");  // control character, even in a scheme we do not parse
  expectInvalid(std::string("sip:alice\0@example.test", 23));
  expectInvalid(" ");
}

TEST(AddressText, LengthLimit) {
  const std::string suffix = "@example.test";
  const std::string user512(512 - 4 - suffix.size(), 'a');
  const std::string exactly512 = "sip:" + user512 + suffix;
  ASSERT_EQ(exactly512.size(), 512u);
  EXPECT_EQ(parseOk(exactly512).canonical, exactly512);
  const std::string over = "sip:" + user512 + "b" + suffix;
  ASSERT_EQ(over.size(), 513u);
  expectInvalid(over);
  expectInvalid("mailto:" + std::string(600, 'a'));  // the limit applies to every scheme
}

// ---------------------------------------------------------------- toSipRequestUri

std::string requestUri(std::string_view text, std::string_view telDomain) {
  const AddressParseResult r = parseAddress(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.reason;
  return toSipRequestUri(r.address, telDomain);
}

TEST(RequestUri, TelGlobalNumber) {
  EXPECT_EQ(requestUri("tel:+1-555-123-4567", "example.test"),
            "sip:+15551234567@example.test;user=phone");
}

TEST(RequestUri, TelGlobalNumberWithParameters) {
  EXPECT_EQ(requestUri("tel:+15551234567;ext=12", "ims.example.test"),
            "sip:+15551234567;ext=12@ims.example.test;user=phone");
  // ':' '[' ']' are fine in a tel parameter but not in a SIP user part.
  EXPECT_EQ(requestUri("tel:+1555;x=[a:b]", "example.test"),
            "sip:+1555;x=%5Ba%3Ab%5D@example.test;user=phone");
}

TEST(RequestUri, TelLocalNumber) {
  EXPECT_EQ(requestUri("tel:555-1234;phone-context=Home.Example", "example.test"),
            "sip:5551234;phone-context=home.example@example.test;user=phone");
  EXPECT_EQ(requestUri("tel:*31#;phone-context=+1555", "example.test"),
            "sip:*31%23;phone-context=+1555@example.test;user=phone");
}

TEST(RequestUri, TelWithoutDomainStaysTel) {
  EXPECT_EQ(requestUri("tel:+1-555-123-4567", ""), "tel:+15551234567");
  EXPECT_EQ(requestUri("tel:1234;phone-context=example.com", ""),
            "tel:1234;phone-context=example.com");
}

TEST(RequestUri, SipIsCanonical) {
  EXPECT_EQ(requestUri("SIP:Alice@Example.TEST:5060;user=phone", "ignored.test"),
            "sip:Alice@example.test:5060;user=phone");
  EXPECT_EQ(requestUri("sips:bob@[::1]", ""), "sips:bob@[::1]");
}

}  // namespace
}  // namespace px
