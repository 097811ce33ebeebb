// RegInfoDocumentMapper: RFC 3680 reginfo documents (Kamailio presence_reginfo NOTIFY bodies, the
// RFC's own examples) to TerminalStatus, and the "both" combination rule.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "presence/RegInfoDocument.h"
#include "presence/StatusSource.h"

namespace px {
namespace {

constexpr const char* kRegInfo = "application/reginfo+xml";

std::string doc(const std::string& state, const std::string& inner) {
  return "<?xml version=\"1.0\"?>\n<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"0\" "
         "state=\"" +
         state + "\">" + inner + "</reginfo>";
}

std::string registration(const std::string& state, const std::string& contacts) {
  return "<registration aor=\"sip:user@example.com\" id=\"a7\" state=\"" + state + "\">" +
         contacts + "</registration>";
}

std::string contact(const std::string& state, const std::string& event = "registered") {
  return "<contact id=\"76\" state=\"" + state + "\" event=\"" + event +
         "\"><uri>sip:user@pc887.example.com</uri></contact>";
}

std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(PX_TEST_DATA_DIR) + "/reginfo/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class RegInfoMapperTest : public ::testing::Test {
 protected:
  PresenceMapping map(const std::string& body, const std::string& type = kRegInfo) {
    return mapper_.map(type, body);
  }
  void expectStatus(const std::string& body, TerminalStatus status) {
    const PresenceMapping m = map(body);
    ASSERT_TRUE(m.ok) << m.error << "\n" << body;
    EXPECT_FALSE(m.unchanged);
    EXPECT_EQ(status, m.status) << body;
  }
  void expectError(const std::string& body, const std::string& fragment,
                   const std::string& type = kRegInfo) {
    const PresenceMapping m = map(body, type);
    EXPECT_FALSE(m.ok) << body;
    EXPECT_EQ(TerminalStatus::kUnreachable, m.status);
    EXPECT_NE(std::string::npos, m.error.find(fragment)) << m.error;
  }
  RegInfoDocumentMapper mapper_;
};

TEST_F(RegInfoMapperTest, KamailioActiveRegistrationIsReachable) {
  expectStatus(readFixture("kamailio-active.xml"), TerminalStatus::kReachable);
}

TEST_F(RegInfoMapperTest, KamailioDeRegistrationIsUnreachable) {
  expectStatus(readFixture("kamailio-terminated.xml"), TerminalStatus::kUnreachable);
}

TEST_F(RegInfoMapperTest, EmptyBodyIsUnreachable) {
  const PresenceMapping m = map("", "");
  EXPECT_TRUE(m.ok);
  EXPECT_EQ(TerminalStatus::kUnreachable, m.status);
}

// RFC 3680 §6: the first NOTIFY, before the user registered: an "init" registration, no contact.
TEST_F(RegInfoMapperTest, Rfc3680InitialNotifyIsUnreachable) {
  expectStatus(doc("full", "<registration aor=\"sip:joe@example.com\" id=\"a7\" state=\"init\"/>"),
               TerminalStatus::kUnreachable);
}

// RFC 3680 §6: after the REGISTER, a partial notification with the new active contact.
TEST_F(RegInfoMapperTest, Rfc3680PartialRegisteredIsReachable) {
  expectStatus(doc("partial", registration("active", contact("active", "registered"))),
               TerminalStatus::kReachable);
}

// RFC 3680 example: a full document with two active contacts.
TEST_F(RegInfoMapperTest, Rfc3680FullTwoContactsIsReachable) {
  expectStatus(doc("full",
                   "<registration aor=\"sip:user@example.com\" id=\"as9\" state=\"active\">"
                   "<contact id=\"76\" state=\"active\" event=\"registered\" "
                   "duration-registered=\"7322\" q=\"0.8\"><uri>sip:user@pc887.example.com</uri>"
                   "</contact><contact id=\"778\" state=\"active\" event=\"created\" "
                   "duration-registered=\"0\" expires=\"3600\"><uri>sip:user@university.edu</uri>"
                   "</contact></registration>"),
               TerminalStatus::kReachable);
}

TEST_F(RegInfoMapperTest, FullActiveRegistrationWithoutActiveContactIsUnreachable) {
  expectStatus(doc("full", registration("active", contact("terminated", "expired"))),
               TerminalStatus::kUnreachable);
  expectStatus(doc("full", registration("active", "")), TerminalStatus::kUnreachable);
}

TEST_F(RegInfoMapperTest, FullWithoutRegistrationIsUnreachable) {
  expectStatus(doc("full", ""), TerminalStatus::kUnreachable);
}

TEST_F(RegInfoMapperTest, TerminatedRegistrationIsUnreachable) {
  expectStatus(doc("full", registration("terminated", contact("terminated", "unregistered"))),
               TerminalStatus::kUnreachable);
  expectStatus(doc("partial", registration("terminated", contact("terminated", "expired"))),
               TerminalStatus::kUnreachable);
}

// Partial state lists only the changed contact: one of two contacts expired, the registration
// stays active.
TEST_F(RegInfoMapperTest, PartialContactExpiredOfActiveRegistrationIsReachable) {
  expectStatus(doc("partial", registration("active", contact("terminated", "expired"))),
               TerminalStatus::kReachable);
}

TEST_F(RegInfoMapperTest, PartialWithoutRegistrationIsUnchanged) {
  const PresenceMapping m = map(doc("partial", ""));
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_TRUE(m.unchanged);
}

TEST_F(RegInfoMapperTest, AnyActiveRegistrationCounts) {
  expectStatus(doc("full", registration("terminated", contact("terminated")) +
                               registration("active", contact("active"))),
               TerminalStatus::kReachable);
}

TEST_F(RegInfoMapperTest, ContentTypeWithParametersAndCaseIsAccepted) {
  const PresenceMapping m =
      map(readFixture("kamailio-active.xml"), "Application/RegInfo+XML; charset=UTF-8");
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(TerminalStatus::kReachable, m.status);
}

TEST_F(RegInfoMapperTest, MalformedDocumentsAreErrors) {
  expectError("<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" state=\"full\">",
              "not well-formed");
  expectError("not xml at all", "not well-formed");
  expectError(readFixture("kamailio-active.xml"), "not application/reginfo+xml",
              "application/pidf+xml");
  expectError("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>", "root element");
  expectError("<reginfo xmlns=\"urn:other\" state=\"full\"/>", "root element");
  expectError("<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"0\"/>",
              "without a state attribute");
  expectError(doc("sometimes", ""), "expected full/partial");
  expectError(doc("full", registration("registered", "")), "expected init/active/terminated");
  expectError(doc("full", registration("active", contact("gone"))), "expected active/terminated");
  expectError(
      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]>"
      "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" state=\"full\">&a;</reginfo>",
      "DOCTYPE");
  expectError(std::string(1024 * 1024 + 1, ' '), "larger than 1 MiB");
}

TEST(StatusSourceTest, PackagesNameTheirEventAndAccept) {
  const EventPackage reg = regPackage();
  EXPECT_EQ("reg", reg.event);
  EXPECT_EQ("application/reginfo+xml", reg.accept);
  ASSERT_TRUE(reg.mapper);
  EXPECT_EQ(TerminalStatus::kReachable,
            reg.mapper->map(kRegInfo, readFixture("kamailio-active.xml")).status);
  const EventPackage presence = presencePackage({"busy"});
  EXPECT_EQ("presence", presence.event);
  EXPECT_EQ("application/pidf+xml", presence.accept);
  ASSERT_TRUE(presence.mapper);
}

TEST(StatusSourceTest, CombineTakesReachabilityFromRegAndBusyFromPresence) {
  using S = TerminalStatus;
  EXPECT_EQ(S::kUnreachable, combineStatus(S::kUnreachable, S::kBusy));
  EXPECT_EQ(S::kUnreachable, combineStatus(S::kUnreachable, S::kReachable));
  EXPECT_EQ(S::kUnreachable, combineStatus(S::kUnreachable, std::nullopt));
  EXPECT_EQ(S::kBusy, combineStatus(S::kReachable, S::kBusy));
  EXPECT_EQ(S::kReachable, combineStatus(S::kReachable, S::kReachable));
  // Registered but presence closed (or nothing published): registered means reachable.
  EXPECT_EQ(S::kReachable, combineStatus(S::kReachable, S::kUnreachable));
  EXPECT_EQ(S::kReachable, combineStatus(S::kReachable, std::nullopt));
}

}  // namespace
}  // namespace px
