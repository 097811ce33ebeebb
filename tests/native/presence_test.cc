// PresenceDocumentMapper: PIDF/RPID documents (as Kamailio's NOTIFY bodies) to TerminalStatus.
#include "presence/PresenceDocument.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace px {
namespace {

constexpr const char* kPidf = "application/pidf+xml";
const std::vector<std::string> kDefaultBusy = {"on-the-phone", "busy"};

// A document with the usual prefixes; `inner` goes inside <presence>.
std::string doc(const std::string& inner) {
  return "<?xml version='1.0' encoding='UTF-8'?>"
         "<presence xmlns='urn:ietf:params:xml:ns:pidf'"
         " xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'"
         " xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:alice@example.test'>" +
         inner + "</presence>";
}

std::string tuple(const std::string& basic, const std::string& extra = "") {
  return "<tuple id='t'><status><basic>" + basic + "</basic></status>" + extra + "</tuple>";
}

std::string person(const std::string& activities) {
  return "<dm:person id='p1'><rpid:activities>" + activities + "</rpid:activities></dm:person>";
}

std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(PX_TEST_DATA_DIR) + "/pidf/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class PresenceMapperTest : public ::testing::Test {
 protected:
  PresenceDocumentMapper mapper_{kDefaultBusy};

  TerminalStatus statusOf(const std::string& body) const {
    const PresenceMapping m = mapper_.map(kPidf, body);
    EXPECT_TRUE(m.ok) << m.error << "\n" << body.substr(0, 300);
    EXPECT_TRUE(m.error.empty());
    return m.status;
  }

  // Returns the error text so callers can check why.
  std::string errorOf(const std::string& body, std::string_view contentType = kPidf) const {
    const PresenceMapping m = mapper_.map(contentType, body);
    EXPECT_FALSE(m.ok) << body.substr(0, 200);
    EXPECT_FALSE(m.error.empty());
    EXPECT_EQ(m.status, TerminalStatus::kUnreachable);
    return m.error;
  }
};

// ---------------------------------------------------------------- basic states

TEST_F(PresenceMapperTest, EmptyBodyIsUnreachable) {
  for (const char* type : {kPidf, "", "application/xpidf+xml"}) {
    const PresenceMapping m = mapper_.map(type, "");
    EXPECT_TRUE(m.ok) << type;
    EXPECT_EQ(m.status, TerminalStatus::kUnreachable) << type;
    EXPECT_TRUE(m.error.empty());
  }
}

TEST_F(PresenceMapperTest, BriefExampleIsBusy) {
  const std::string body =
      "<?xml version='1.0' encoding='UTF-8'?><presence xmlns='urn:ietf:params:xml:ns:pidf' "
      "xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' "
      "xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:alice@example.test'><tuple "
      "id='t1'><status><basic>open</basic></status></tuple><dm:person "
      "id='p1'><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person></presence>";
  EXPECT_EQ(statusOf(body), TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, OpenIsReachable) {
  EXPECT_EQ(statusOf(doc(tuple("open"))), TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, ClosedIsUnreachable) {
  EXPECT_EQ(statusOf(doc(tuple("closed"))), TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, WhitespaceAroundBasicIsTrimmed) {
  EXPECT_EQ(statusOf(doc(tuple(" \r\n\t open \n"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("\n  closed  "))), TerminalStatus::kUnreachable);
  // Character data split by a comment and a CDATA section still reads as one value.
  EXPECT_EQ(statusOf(doc(tuple("op<!-- x -->en"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("<![CDATA[open]]>"))), TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, AnyOpenTupleWins) {
  EXPECT_EQ(statusOf(doc(tuple("closed") + tuple("open"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + tuple("closed"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("closed") + tuple("closed"))), TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, NoTupleIsUnreachable) {
  EXPECT_EQ(statusOf(doc("")), TerminalStatus::kUnreachable);
  EXPECT_EQ(statusOf("<presence xmlns='urn:ietf:params:xml:ns:pidf'/>"),
            TerminalStatus::kUnreachable);
  // Activities alone say nothing about reachability.
  EXPECT_EQ(statusOf(doc(person("<rpid:on-the-phone/>"))), TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, TupleWithoutBasicIsNotOpen) {
  EXPECT_EQ(statusOf(doc("<tuple id='a'><status/></tuple>")), TerminalStatus::kUnreachable);
  EXPECT_EQ(statusOf(doc("<tuple id='a'><contact>sip:a@b</contact></tuple>")),
            TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, BasicOutsideTupleStatusIsIgnored) {
  // Only presence/tuple/status/basic counts; a stray <basic> elsewhere does not open anything.
  EXPECT_EQ(statusOf(doc("<basic>open</basic>")), TerminalStatus::kUnreachable);
  EXPECT_EQ(statusOf(doc("<tuple id='a'><basic>open</basic></tuple>")),
            TerminalStatus::kUnreachable);
  EXPECT_EQ(statusOf(doc("<dm:person id='p'><status><basic>open</basic></status></dm:person>")),
            TerminalStatus::kUnreachable);
  // <basic> from another namespace inside a real status is not PIDF basic either.
  EXPECT_EQ(statusOf(doc("<tuple id='a'><status><dm:basic>open</dm:basic></status></tuple>")),
            TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, BasicOtherThanOpenOrClosedIsAnError) {
  EXPECT_NE(errorOf(doc(tuple("maybe"))).find("'maybe'"), std::string::npos);
  errorOf(doc(tuple("")));
  errorOf(doc(tuple("Open")));  // the PIDF schema enumeration is case-sensitive
  errorOf(doc(tuple("open closed")));
  errorOf(doc(tuple("open") + tuple("maybe")));  // an error anywhere spoils the document
  const std::string err = errorOf(doc(tuple(std::string(100, 'x'))));
  EXPECT_LT(err.size(), 100u) << "long values are shortened in the error: " << err;
}

// ---------------------------------------------------------------- busy detection

TEST_F(PresenceMapperTest, BusyViaPerson) {
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:on-the-phone/>"))), TerminalStatus::kBusy);
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:busy/>"))), TerminalStatus::kBusy);
  // Busy among other activities, and the person before the tuple.
  EXPECT_EQ(statusOf(doc(person("<rpid:meal/><rpid:busy/>") + tuple("open"))),
            TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, BusyViaTuple) {
  EXPECT_EQ(statusOf(doc(tuple("open", "<rpid:activities><rpid:on-the-phone/></rpid:activities>"))),
            TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, BusyViaDevice) {
  EXPECT_EQ(statusOf(doc(tuple("open") +
                         "<dm:device id='d'><rpid:activities><rpid:busy/></rpid:activities>"
                         "</dm:device>")),
            TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, BusyViaRpidOther) {
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:other>on-the-phone</rpid:other>"))),
            TerminalStatus::kBusy);
  EXPECT_EQ(
      statusOf(doc(tuple("open") + person("<rpid:other xml:lang='en'>\n busy \t</rpid:other>"))),
      TerminalStatus::kBusy);
  // Free text that is not a configured activity, or differs in case, is not busy.
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:other>in a meeting</rpid:other>"))),
            TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:other>Busy</rpid:other>"))),
            TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:other/>"))), TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, RpidOtherOutsideActivitiesIsNotAnActivity) {
  // <rpid:other> also exists in mood, place-type, ...; only activities count.
  EXPECT_EQ(statusOf(doc(tuple("open") +
                         "<dm:person id='p'><rpid:mood><rpid:other>busy</rpid:other></rpid:mood>"
                         "</dm:person>")),
            TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, BusyNameOnlyCountsAsChildOfRpidActivities) {
  // Not a direct child of rpid:activities.
  EXPECT_EQ(statusOf(doc(tuple("open") + "<dm:person id='p'><rpid:busy/></dm:person>")),
            TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:away><rpid:busy/></rpid:away>"))),
            TerminalStatus::kReachable);
  // <activities> in a namespace other than RPID.
  EXPECT_EQ(
      statusOf(doc(tuple("open") + "<dm:person id='p'><dm:activities><rpid:busy/></dm:activities>"
                                   "</dm:person>")),
      TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, ExtensionActivityMatchesByLocalName) {
  EXPECT_EQ(
      statusOf(doc(tuple("open") + person("<x:on-the-phone xmlns:x='urn:example:activities'/>"))),
      TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, BusyWithAllTuplesClosedIsUnreachable) {
  EXPECT_EQ(statusOf(doc(tuple("closed") + person("<rpid:on-the-phone/>"))),
            TerminalStatus::kUnreachable);
  EXPECT_EQ(statusOf(doc(tuple("closed", "<rpid:activities><rpid:busy/></rpid:activities>") +
                         tuple("closed"))),
            TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, NonBusyActivityWithOpenIsReachable) {
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:away/>"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:meeting/>"))), TerminalStatus::kReachable);
  EXPECT_EQ(statusOf(doc(tuple("open") + person(""))), TerminalStatus::kReachable);
}

TEST(PresenceMapperConfig, CustomBusyActivities) {
  const PresenceDocumentMapper mapper({"meeting", "away"});
  const auto status = [&](const std::string& activities) {
    const PresenceMapping m = mapper.map(kPidf, doc(tuple("open") + person(activities)));
    EXPECT_TRUE(m.ok) << m.error;
    return m.status;
  };
  EXPECT_EQ(status("<rpid:meeting/>"), TerminalStatus::kBusy);
  EXPECT_EQ(status("<rpid:away/>"), TerminalStatus::kBusy);
  EXPECT_EQ(status("<rpid:other>meeting</rpid:other>"), TerminalStatus::kBusy);
  EXPECT_EQ(status("<rpid:on-the-phone/>"), TerminalStatus::kReachable);  // not configured
  EXPECT_EQ(status("<rpid:busy/>"), TerminalStatus::kReachable);
  EXPECT_EQ(status("<rpid:Meeting/>"), TerminalStatus::kReachable);  // exact, case-sensitive
}

TEST(PresenceMapperConfig, EmptyBusyListNeverBusy) {
  const PresenceDocumentMapper mapper({});
  const PresenceMapping m =
      mapper.map(kPidf, doc(tuple("open") + person("<rpid:on-the-phone/><rpid:busy/>")));
  EXPECT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.status, TerminalStatus::kReachable);
}

TEST(PresenceMapperConfig, ConfiguredOtherMatchesTheElementToo) {
  const PresenceDocumentMapper mapper({"other"});
  EXPECT_EQ(mapper.map(kPidf, doc(tuple("open") + person("<rpid:other>x</rpid:other>"))).status,
            TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, NoStateLeaksBetweenDocuments) {
  EXPECT_EQ(statusOf(doc(tuple("open") + person("<rpid:busy/>"))), TerminalStatus::kBusy);
  EXPECT_EQ(statusOf(doc(tuple("open"))), TerminalStatus::kReachable);
  errorOf(doc(tuple("maybe")));
  EXPECT_EQ(statusOf(doc(tuple("closed"))), TerminalStatus::kUnreachable);
}

// ---------------------------------------------------------------- namespaces and prefixes

TEST_F(PresenceMapperTest, PrefixedPidfNamespace) {
  const std::string body =
      "<p:presence xmlns:p='urn:ietf:params:xml:ns:pidf' "
      "xmlns:r='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:a@b'>"
      "<p:tuple id='1'><p:status><p:basic>open</p:basic></p:status></p:tuple>"
      "<x:person xmlns:x='urn:ietf:params:xml:ns:pidf:data-model' id='p'>"
      "<r:activities><r:busy/></r:activities></x:person></p:presence>";
  EXPECT_EQ(statusOf(body), TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, DefaultNamespacesEverywhere) {
  const std::string body =
      "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'>"
      "<tuple id='1'><status><basic>open</basic></status></tuple>"
      "<person xmlns='urn:ietf:params:xml:ns:pidf:data-model' id='p'>"
      "<activities xmlns='urn:ietf:params:xml:ns:pidf:rpid'><on-the-phone/></activities>"
      "</person></presence>";
  EXPECT_EQ(statusOf(body), TerminalStatus::kBusy);
}

TEST_F(PresenceMapperTest, PidfElementsInTheWrongNamespaceAreIgnored) {
  const std::string body =
      "<presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:o='urn:example:other'>"
      "<o:tuple id='1'><status><basic>open</basic></status></o:tuple></presence>";
  EXPECT_EQ(statusOf(body), TerminalStatus::kUnreachable);
}

TEST_F(PresenceMapperTest, KamailioAggregatedFixture) {
  EXPECT_EQ(statusOf(readFixture("kamailio-aggregated-busy.xml")), TerminalStatus::kBusy);
}

// ---------------------------------------------------------------- content type

TEST_F(PresenceMapperTest, ContentTypeVariantsAccepted) {
  const std::string body = doc(tuple("open"));
  for (const char* type :
       {"application/pidf+xml", "APPLICATION/PIDF+XML", "Application/Pidf+Xml",
        "application/pidf+xml;charset=UTF-8", "application/pidf+xml ; charset=\"utf-8\"",
        " application/pidf+xml\t", "application/pidf+xml;"}) {
    const PresenceMapping m = mapper_.map(type, body);
    EXPECT_TRUE(m.ok) << type << ": " << m.error;
    EXPECT_EQ(m.status, TerminalStatus::kReachable) << type;
  }
}

TEST_F(PresenceMapperTest, WrongContentTypeIsAnError) {
  const std::string body = doc(tuple("open"));
  for (const char* type :
       {"application/xpidf+xml", "multipart/related;type=\"application/rlmi+xml\"", "", "text/xml",
        "application/xml", "application/pidf+xml2", "application/pidf", "application / pidf+xml",
        "application/pidf-diff+xml"}) {
    const std::string err = errorOf(body, type);
    EXPECT_NE(err.find("content type"), std::string::npos) << type << ": " << err;
  }
}

// ---------------------------------------------------------------- malformed documents

TEST_F(PresenceMapperTest, MalformedXml) {
  const std::string good = doc(tuple("open"));
  for (const std::string& body : {
           good.substr(0, good.size() - 5),                                    // truncated
           good.substr(0, good.size() / 2),                                    // truncated mid-way
           doc("<tuple id='t'><status><basic>open</status></basic></tuple>"),  // mismatched
           std::string("garbage"),
           std::string("<"),
           std::string("   "),
           doc(tuple("open")) + "<presence/>",  // second root
           doc(tuple("open")) + "trailing text",
           doc("<tuple id='t' id='u'/>"),    // duplicate attribute
           doc("<x:tuple/>"),                // unbound prefix
           doc("<note>&undefined;</note>"),  // undeclared entity
           doc("<note>a < b</note>"),
       }) {
    const std::string err = errorOf(body);
    EXPECT_NE(err.find("not well-formed XML"), std::string::npos) << body << " -> " << err;
  }
}

TEST_F(PresenceMapperTest, Utf8Errors) {
  // Each document is valid except for its bytes; the open tuple shows it is not ignored.
  for (const std::string& bad : {
           std::string("\xff"),
           std::string("\xc3\x28"),          // bad continuation byte
           std::string("\xc0\xaf"),          // overlong encoding of '/'
           std::string("\xed\xa0\x80"),      // UTF-16 surrogate
           std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string("truncated \xe2\x82"),
       }) {
    const std::string err = errorOf(doc("<note>" + bad + "</note>" + tuple("open")));
    EXPECT_NE(err.find("invalid token"), std::string::npos) << err;
  }
  EXPECT_NE(errorOf(doc(tuple("open")) + "\xe2").find("not well-formed XML"), std::string::npos);
  // Well-formed multi-byte text is fine.
  EXPECT_EQ(statusOf(doc("<note>caf\xc3\xa9 \xe2\x82\xac</note>" + tuple("open"))),
            TerminalStatus::kReachable);
}

TEST_F(PresenceMapperTest, PredefinedEntitiesAndCharRefsAreFine) {
  EXPECT_EQ(statusOf(doc("<note>&lt;&amp;&#233;</note>" + tuple("&#111;pen"))),
            TerminalStatus::kReachable);
}

// ---------------------------------------------------------------- hostile documents

TEST_F(PresenceMapperTest, DoctypeRefused) {
  const std::string body =
      "<?xml version='1.0'?><!DOCTYPE presence>"
      "<presence xmlns='urn:ietf:params:xml:ns:pidf'>" +
      tuple("open") + "</presence>";
  EXPECT_NE(errorOf(body).find("DOCTYPE"), std::string::npos);
}

TEST_F(PresenceMapperTest, InternalEntityRefused) {
  const std::string body =
      "<!DOCTYPE presence [<!ENTITY s 'open'>]>"
      "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='t'><status><basic>&s;</basic>"
      "</status></tuple></presence>";
  EXPECT_NE(errorOf(body).find("DOCTYPE"), std::string::npos);
}

TEST_F(PresenceMapperTest, ExternalEntityRefused) {
  const std::string body =
      "<!DOCTYPE presence [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
      "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='t'><status><basic>open</basic>"
      "</status><note>&xxe;</note></tuple></presence>";
  EXPECT_NE(errorOf(body).find("DOCTYPE"), std::string::npos);
  const std::string external =
      "<!DOCTYPE presence SYSTEM 'http://example.test/pidf.dtd'>"
      "<presence xmlns='urn:ietf:params:xml:ns:pidf'>" +
      tuple("open") + "</presence>";
  EXPECT_NE(errorOf(external).find("DOCTYPE"), std::string::npos);
}

TEST_F(PresenceMapperTest, BillionLaughsRefused) {
  const std::string body = readFixture("billion-laughs.xml");
  ASSERT_NE(body.find("<!ENTITY lol9"), std::string::npos);
  EXPECT_NE(errorOf(body).find("DOCTYPE"), std::string::npos);
}

TEST_F(PresenceMapperTest, WrongRootElement) {
  EXPECT_NE(errorOf("<presences xmlns='urn:ietf:params:xml:ns:pidf'/>").find("root element"),
            std::string::npos);
  EXPECT_NE(errorOf("<tuple xmlns='urn:ietf:params:xml:ns:pidf' id='t'><status><basic>open"
                    "</basic></status></tuple>")
                .find("root element"),
            std::string::npos);
  errorOf("<html><body>presence</body></html>");
}

TEST_F(PresenceMapperTest, WrongRootNamespace) {
  EXPECT_NE(errorOf("<presence><tuple id='t'><status><basic>open</basic></status></tuple>"
                    "</presence>")
                .find("root element"),
            std::string::npos);  // no namespace at all
  errorOf("<presence xmlns='urn:ietf:params:xml:ns:pidf:rpid'/>");
  errorOf("<presence xmlns='urn:ietf:params:xml:ns:PIDF'/>");  // namespace names are exact
  errorOf("<presence xmlns='urn:ietf:params:xml:ns:cpim-pidf'/>");
  errorOf("<dm:presence xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'/>");
}

TEST_F(PresenceMapperTest, SizeLimit) {
  constexpr std::size_t kMiB = 1024 * 1024;
  const std::string base = doc(tuple("open"));
  // A trailing comment keeps the document well-formed at any size.
  const auto padded = [&](std::size_t total) {
    const std::string open = "<!--", close = "-->";
    return base + open + std::string(total - base.size() - open.size() - close.size(), 'x') + close;
  };
  const std::string exactly = padded(kMiB);
  ASSERT_EQ(exactly.size(), kMiB);
  EXPECT_EQ(statusOf(exactly), TerminalStatus::kReachable);
  EXPECT_NE(errorOf(padded(kMiB + 1)).find("1 MiB"), std::string::npos);
  EXPECT_NE(errorOf(padded(2 * kMiB)).find("1 MiB"), std::string::npos);
}

}  // namespace
}  // namespace px
