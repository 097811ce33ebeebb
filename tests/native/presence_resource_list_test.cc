// RFC 4662 list NOTIFY bodies (multipart/related + RLMI + PIDF) and the partial-state merge.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "presence/PresenceDocument.h"
#include "presence/ResourceListDocument.h"

namespace px {
namespace {

const PresenceDocumentMapper kPidf({"on-the-phone", "busy"});

std::string pidf(const std::string& entity, const std::string& basic, bool busy = false) {
  return "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
         "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"" +
         entity + "\"><tuple id=\"t\"><status><basic>" + basic + "</basic></status></tuple>" +
         (busy ? "<rpid:activities><rpid:on-the-phone/></rpid:activities>" : "") + "</presence>";
}

struct Resource {
  std::string uri;
  std::string state;  // "" = no instance
  std::string cid;
  std::string doc;  // "" = no part
};

std::string contentType(const std::string& boundary = "B0undary") {
  return "multipart/related;type=\"application/rlmi+xml\";start=\"<root@x>\";boundary=\"" +
         boundary + "\"";
}

std::string body(uint32_t version, bool full, const std::vector<Resource>& resources,
                 const std::string& boundary = "B0undary") {
  std::string rlmi =
      "<?xml version=\"1.0\"?>\n<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" "
      "uri=\"sip:big@example.test\" version=\"" +
      std::to_string(version) + "\" fullState=\"" + (full ? "true" : "false") + "\">";
  for (const Resource& r : resources) {
    rlmi += "<resource uri=\"" + r.uri + "\">";
    if (!r.state.empty()) {
      rlmi += "<instance id=\"i\" state=\"" + r.state + "\"" +
              (r.cid.empty() ? "" : " cid=\"" + r.cid + "\"") +
              (r.state == "terminated" ? " reason=\"rejected\"" : "") + "/>";
    }
    rlmi += "</resource>";
  }
  rlmi += "</list>";
  std::string out = "--" + boundary +
                    "\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root@x>\r\n"
                    "Content-Type: application/rlmi+xml;charset=\"UTF-8\"\r\n\r\n" +
                    rlmi + "\r\n";
  for (const Resource& r : resources) {
    if (r.doc.empty()) continue;
    out += "--" + boundary + "\r\nContent-ID: <" + r.cid +
           ">\r\nContent-Type: application/pidf+xml\r\n\r\n" + r.doc + "\r\n\r\n";
  }
  return out + "--" + boundary + "--\r\n";
}

TEST(ResourceListDocument, FullStateMapsEveryMemberWithThePidfMapper) {
  const auto n = parseListNotification(
      contentType(),
      body(1, true,
           {{"sip:a@example.test", "active", "a@x", pidf("sip:a@example.test", "open")},
            {"sip:b@example.test", "active", "b@x", pidf("sip:b@example.test", "open", true)},
            {"sip:c@example.test", "active", "c@x", pidf("sip:c@example.test", "closed")},
            {"sip:d@example.test", "terminated", "", ""},
            {"sip:e@example.test", "pending", "", ""},
            {"sip:f@example.test", "", "", ""}}),
      kPidf);
  ASSERT_TRUE(n.ok) << n.error;
  EXPECT_EQ(n.listUri, "sip:big@example.test");
  EXPECT_EQ(n.version, 1u);
  EXPECT_TRUE(n.fullState);
  ASSERT_EQ(n.members.size(), 6u);
  EXPECT_EQ(n.members[0].status, TerminalStatus::kReachable);
  EXPECT_EQ(n.members[1].status, TerminalStatus::kBusy);
  EXPECT_EQ(n.members[2].status, TerminalStatus::kUnreachable);
  EXPECT_EQ(n.members[3].kind, ListMemberState::Kind::kStatus);
  EXPECT_EQ(n.members[3].status, TerminalStatus::kUnreachable);
  EXPECT_EQ(n.members[4].kind, ListMemberState::Kind::kUnknown);
  EXPECT_EQ(n.members[5].kind, ListMemberState::Kind::kUnknown);
}

TEST(ResourceListDocument, MissingCidPartIsUnreachableWithoutDocument) {
  const auto n = parseListNotification(
      contentType(), body(1, true, {{"sip:a@example.test", "active", "gone@x", ""}}), kPidf);
  ASSERT_TRUE(n.ok) << n.error;
  EXPECT_EQ(n.members[0].kind, ListMemberState::Kind::kStatus);
  EXPECT_EQ(n.members[0].status, TerminalStatus::kUnreachable);
  EXPECT_NE(n.members[0].detail.find("cid part missing"), std::string::npos);
}

TEST(ResourceListDocument, BadMemberDocumentIsReportedForThatMemberOnly) {
  const auto n = parseListNotification(
      contentType(),
      body(1, true,
           {{"sip:a@example.test", "active", "a@x", "<not-pidf/>"},
            {"sip:b@example.test", "active", "b@x", pidf("sip:b@example.test", "open")}}),
      kPidf);
  ASSERT_TRUE(n.ok) << n.error;
  EXPECT_EQ(n.members[0].kind, ListMemberState::Kind::kBadDocument);
  EXPECT_EQ(n.members[1].status, TerminalStatus::kReachable);
}

TEST(ResourceListDocument, MalformedBodiesAreRefused) {
  const std::string good = body(1, true, {{"sip:a@example.test", "", "", ""}});
  EXPECT_FALSE(parseListNotification("application/pidf+xml", good, kPidf).ok);
  EXPECT_FALSE(parseListNotification("multipart/related", good, kPidf).ok);  // no boundary
  EXPECT_FALSE(parseListNotification(contentType("Other"), good, kPidf).ok);
  std::string unclosed = good.substr(0, good.rfind("--B0undary--"));
  EXPECT_FALSE(parseListNotification(contentType(), unclosed, kPidf).ok);
  std::string badStart = good;
  badStart.replace(badStart.find("<root@x>"), 8, "<else@x>");
  EXPECT_FALSE(parseListNotification(contentType(), badStart, kPidf).ok);
  std::string doctype = good;
  doctype.replace(doctype.find("<list"), 0, "<!DOCTYPE list [<!ENTITY x \"y\">]>");
  EXPECT_FALSE(parseListNotification(contentType(), doctype, kPidf).ok);
  std::string noVersion = good;
  noVersion.replace(noVersion.find(" version=\"1\""), 12, "");
  EXPECT_FALSE(parseListNotification(contentType(), noVersion, kPidf).ok);
}

TEST(ResourceListDocument, SizeLimitsAreEnforced) {
  std::vector<Resource> many;
  for (int i = 0; i < 30; ++i) many.push_back({"sip:u" + std::to_string(i) + "@x", "", "", ""});
  const std::string b = body(1, true, many);
  ListLimits limits;
  limits.maxResources = 10;
  EXPECT_FALSE(parseListNotification(contentType(), b, kPidf, limits).ok);
  limits = ListLimits{};
  limits.maxBodyBytes = 100;
  EXPECT_FALSE(parseListNotification(contentType(), b, kPidf, limits).ok);
  limits = ListLimits{};
  EXPECT_TRUE(parseListNotification(contentType(), b, kPidf, limits).ok);
}

TEST(ResourceListState, PartialStatesApplyInVersionOrder) {
  ResourceListState state;
  const auto full = parseListNotification(
      contentType(),
      body(1, true,
           {{"sip:a@example.test", "active", "a@x", pidf("sip:a@example.test", "open")},
            {"sip:b@Example.TEST", "", "", ""}}),
      kPidf);
  ASSERT_EQ(state.apply(full), ResourceListState::Applied::kApplied);
  EXPECT_EQ(state.changed().size(), 2u);
  const auto partial = parseListNotification(
      contentType(),
      body(2, false,
           {{"sip:b@example.test", "active", "b@x", pidf("sip:b@example.test", "open", true)}}),
      kPidf);
  ASSERT_EQ(state.apply(partial), ResourceListState::Applied::kApplied);
  ASSERT_EQ(state.changed(), std::vector<std::string>{"sip:b@example.test"});
  EXPECT_EQ(state.members().at("sip:a@example.test").status, TerminalStatus::kReachable);
  EXPECT_EQ(state.members().at("sip:b@example.test").status, TerminalStatus::kBusy);
  EXPECT_EQ(state.apply(partial), ResourceListState::Applied::kStale);
  // The same document again changes nothing.
  const auto same = parseListNotification(
      contentType(),
      body(3, false,
           {{"sip:b@example.test", "active", "b@x", pidf("sip:b@example.test", "open", true)}}),
      kPidf);
  ASSERT_EQ(state.apply(same), ResourceListState::Applied::kApplied);
  EXPECT_TRUE(state.changed().empty());
}

TEST(ResourceListState, VersionGapsAndPartialBeforeFullAreGaps) {
  ResourceListState state;
  const auto partial =
      parseListNotification(contentType(), body(1, false, {{"sip:a@x", "", "", ""}}), kPidf);
  EXPECT_EQ(state.apply(partial), ResourceListState::Applied::kGap);
  const auto full =
      parseListNotification(contentType(), body(1, true, {{"sip:a@x", "", "", ""}}), kPidf);
  ASSERT_EQ(state.apply(full), ResourceListState::Applied::kApplied);
  const auto skipped =
      parseListNotification(contentType(), body(3, false, {{"sip:a@x", "", "", ""}}), kPidf);
  EXPECT_EQ(state.apply(skipped), ResourceListState::Applied::kGap);
  EXPECT_EQ(state.version(), 1u);
  // A new full state (a re-SUBSCRIBE) recovers.
  const auto again = parseListNotification(
      contentType(), body(4, true, {{"sip:a@x", "terminated", "", ""}}), kPidf);
  EXPECT_EQ(state.apply(again), ResourceListState::Applied::kApplied);
  EXPECT_EQ(state.members().at("sip:a@x").status, TerminalStatus::kUnreachable);
}

TEST(ResourceListDocument, KamailioShapedBodyParses) {
  // As Kamailio 5.6 rls sends it (tests/js/resource-lists.test.js): LF-indented RLMI, an empty
  // line after each part.
  const std::string ct =
      "multipart/related;type=\"application/rlmi+xml\";start=\"<1.sip:g@x.1>\";"
      "boundary=\"UA6qOBO1\"";
  const std::string b =
      "--UA6qOBO1\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <1.sip:g@x.1>\r\n"
      "Content-Type: application/rlmi+xml;charset=\"UTF-8\"\r\n\r\n<?xml version=\"1.0\"?>\n"
      "<list uri=\"sip:g@x\" xmlns=\"urn:ietf:params:xml:ns:rlmi\" version=\"2\" "
      "fullState=\"false\"><resource uri=\"sip:m1@x\"><instance id=\"S\" state=\"active\" "
      "cid=\"1.sip:m1@x.2\"/></resource></list>\n\r\n--UA6qOBO1\r\n"
      "Content-Transfer-Encoding: binary\r\nContent-ID: <1.sip:m1@x.2>\r\n"
      "Content-Type: application/pidf+xml\r\n\r\n" +
      pidf("sip:m1@x", "open") + "\r\n\r\n--UA6qOBO1--\r\n";
  const auto n = parseListNotification(ct, b, kPidf);
  ASSERT_TRUE(n.ok) << n.error;
  EXPECT_FALSE(n.fullState);
  ASSERT_EQ(n.members.size(), 1u);
  EXPECT_EQ(n.members[0].status, TerminalStatus::kReachable);
}

}  // namespace
}  // namespace px

namespace px {
namespace {
TEST(ResourceListDocument, KamailioInitialFullStateParses) {
  const std::string ct =
      "multipart/related;type=\"application/rlmi+xml\";start=\"<1796582432.sip:grp1@example.test."
      "1790740375>\";boundary=\"UA6qOBO1XgyFsFfxQnrtWfep\"";
  const std::string b =
      "--UA6qOBO1XgyFsFfxQnrtWfep\r\nContent-Transfer-Encoding: binary\r\nContent-ID: "
      "<1796582432.sip:grp1@example.test.1790740375>\r\nContent-Type: "
      "application/rlmi+xml;charset=\"UTF-8\"\r\n\r\n<?xml version=\"1.0\"?>\n<list "
      "uri=\"sip:grp1@example.test\" xmlns=\"urn:ietf:params:xml:ns:rlmi\" version=\"1\" "
      "fullState=\"true\">\n  <resource uri=\"sip:m1@example.test\"/>\n</list>\n\r\n"
      "--UA6qOBO1XgyFsFfxQnrtWfep--\r\n";
  const auto n = parseListNotification(ct, b, kPidf);
  ASSERT_TRUE(n.ok) << n.error;
  ASSERT_EQ(n.members.size(), 1u);
  EXPECT_EQ(normalizeMemberUri(n.members[0].uri), "sip:m1@example.test");
}
}  // namespace
}  // namespace px
