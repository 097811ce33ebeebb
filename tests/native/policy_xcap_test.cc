// The XCAP group source: RFC 4826 resource-lists parsing (nested lists, externals, malformed
// documents) and group resolution from cached documents (loops, depth cap, cache lifetime), and
// the nested-groups switch (nestedGroupsAllowed, POL0007) deciding on what the resolution met.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/GroupDirectory.h"
#include "policy/PolicyEngine.h"
#include "policy/ResourceLists.h"
#include "policy/XcapGroups.h"
#include "usage/UsageStatus.h"

namespace px::policy {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kRoot = "http://xdms.test/xcap-root";
constexpr const char* kDoc =
    "http://xdms.test/xcap-root/resource-lists/users/sip:gw@example.test/index";
constexpr const char* kOther =
    "http://xdms.test/xcap-root/resource-lists/users/sip:bob@example.test/index";

std::string doc(const std::string& lists) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">" +
         lists + "</resource-lists>";
}

XcapGroupsConfig xcapConfig(uint32_t cacheSec = 60, uint32_t maxDepth = 4) {
  XcapGroupsConfig c;
  c.root = kRoot;
  c.user = "sip:gw@example.test";
  c.cacheSec = cacheSec;
  c.maxDepth = maxDepth;
  return c;
}

TEST(ResourceListsTest, ParsesNestedListsExternalsAndSkipsTheRest) {
  const ResourceListsParse p = parseResourceLists(
      doc("<list name=\"friends\"><display-name>Friends</display-name>"
          "<entry uri=\"sip:alice@example.test\"><display-name>Alice</display-name></entry>"
          "<list name=\"close\"><entry uri=\"tel:+15550001\"/></list>"
          "<external anchor=\"http://x/y/~~/resource-lists/list%5b@name=%22z%22%5d\"/>"
          "<entry-ref ref=\"resource-lists/users/sip:a@b/index/~~/resource-lists/list/entry\"/>"
          "<ext:thing xmlns:ext=\"urn:example:ext\"><entry "
          "uri=\"sip:hidden@example.test\"/></ext:thing>"
          "</list><list name=\"empty\"/>"));
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.document.top.size(), 2u);
  const ResourceList& friends = p.document.lists[p.document.top[0]];
  EXPECT_EQ(friends.name, "friends");
  ASSERT_EQ(friends.items.size(), 4u);
  EXPECT_EQ(friends.items[0].kind, ResourceListItem::Kind::kEntry);
  EXPECT_EQ(friends.items[0].value, "sip:alice@example.test");
  EXPECT_EQ(friends.items[1].kind, ResourceListItem::Kind::kList);
  EXPECT_EQ(p.document.lists[friends.items[1].list].items[0].value, "tel:+15550001");
  EXPECT_EQ(friends.items[2].kind, ResourceListItem::Kind::kExternal);
  EXPECT_EQ(friends.items[3].kind, ResourceListItem::Kind::kEntryRef);
  EXPECT_EQ(p.document.find({"friends", "close"}), friends.items[1].list);
  EXPECT_FALSE(p.document.find({"close"}).has_value());  // nested lists are not top-level
  EXPECT_FALSE(p.document.find({"friends", "nope"}).has_value());
}

TEST(ResourceListsTest, RefusesMalformedDocuments) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>", "not well-formed"},
      {"", "not well-formed"},
      {"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>", "root element"},
      {"<resource-lists/>", "root element"},  // no namespace
      {doc("<list name=\"a\"><entry/></list>"), "<entry> without uri"},
      {doc("<list name=\"a\"><external/></list>"), "<external> without anchor"},
      {"<!DOCTYPE r [<!ENTITY e \"x\">]>" + doc(""), "DOCTYPE"},
      {std::string(1024 * 1024 + 1, ' '), "larger than 1 MiB"},
  };
  for (const auto& [xml, why] : cases) {
    const ResourceListsParse p = parseResourceLists(xml);
    EXPECT_FALSE(p.ok) << xml.substr(0, 80);
    EXPECT_NE(p.error.find(why), std::string::npos) << p.error;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<list name=\"l\">";
  for (int i = 0; i < 40; ++i) deep += "</list>";
  const ResourceListsParse p = parseResourceLists(doc(deep));
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("deeper than 32"), std::string::npos) << p.error;
}

TEST(ResourceListsTest, NodeSelectorsOfLists) {
  EXPECT_EQ(listPathOfNodeSelector("resource-lists/list[@name=\"a\"]"), Strings{"a"});
  EXPECT_EQ(listPathOfNodeSelector("resource-lists/list%5b@name=%22a%22%5d/list[@name='b/c']"),
            (Strings{"a", "b/c"}));
  EXPECT_EQ(listPathOfNodeSelector("rl:resource-lists/rl:list[@name=\"a\"]"), Strings{"a"});
  EXPECT_FALSE(listPathOfNodeSelector("resource-lists/list[1]").has_value());
  EXPECT_FALSE(listPathOfNodeSelector("resource-lists/list[@name=\"a\"]/entry").has_value());
  EXPECT_FALSE(listPathOfNodeSelector("rls-services/service").has_value());
  EXPECT_FALSE(listPathOfNodeSelector("resource-lists").has_value());
  EXPECT_FALSE(listPathOfNodeSelector("resource-lists/list%zz").has_value());
}

TEST(XcapGroupsTest, ResolvesNestedAndExternalListsOnceFetched) {
  XcapGroups x(xcapConfig());
  ASSERT_TRUE(x.enabled());
  EXPECT_EQ(x.documentUrl(), kDoc);
  EXPECT_EQ(x.needed({"friends"}, 0), Strings{kDoc});
  EXPECT_FALSE(x.resolve("friends").ok);

  const std::string anchor = std::string(kOther) + "/~~/resource-lists/list%5b@name=%22mates%22%5d";
  x.store(kDoc,
          doc("<list name=\"friends\"><entry uri=\"sip:a@example.test\"/>"
              "<list name=\"inner\"><entry uri=\"sip:b@example.test\"/></list>"
              "<external anchor=\"" +
              anchor + "\"/></list>"),
          "", 0);
  // One round per level: the external document is named once the first one is known.
  EXPECT_EQ(x.needed({"friends"}, 1), Strings{kOther});
  EXPECT_FALSE(x.resolve("friends").ok);
  x.store(kOther, doc("<list name=\"mates\"><entry uri=\"sip:c@example.test\"/></list>"), "", 1);
  EXPECT_TRUE(x.needed({"friends"}, 2).empty());
  const XcapGroups::Resolution r = x.resolve("friends");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.members, (Strings{"sip:a@example.test", "sip:b@example.test", "sip:c@example.test"}));
  EXPECT_FALSE(x.resolve("nobody").ok);
}

TEST(XcapGroupsTest, CacheLifetimeAndFailures) {
  XcapGroups x(xcapConfig(2));
  x.store(kDoc, doc("<list name=\"g\"><entry uri=\"sip:a@example.test\"/></list>"), "", 1000);
  EXPECT_TRUE(x.needed({"g"}, 2999).empty());
  EXPECT_EQ(x.needed({"g"}, 3000), Strings{kDoc});  // 2 s later: fetched again
  EXPECT_TRUE(x.resolve("g").ok);                   // ... but the old one still answers
  x.store(kDoc, std::nullopt, "timeout after 500 ms", 3000);
  EXPECT_EQ(x.needed({"g"}, 3001), Strings{kDoc});  // failures are never cached
  const XcapGroups::Resolution r = x.resolve("g");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("timeout after 500 ms"), std::string::npos) << r.error;
  x.store(kDoc, std::string_view("<html>not found</html>"), "", 3001);
  EXPECT_NE(x.resolve("g").error.find("not a resource-lists document"), std::string::npos);
}

TEST(XcapGroupsTest, LoopsDepthExternalsOutsideTheRootAndEntryRefsAreUnresolved) {
  XcapGroups x(xcapConfig(60, 2));
  const std::string self = std::string(kDoc) + "/~~/resource-lists/list%5b@name=%22a%22%5d";
  x.store(kDoc,
          doc("<list name=\"a\"><entry uri=\"sip:a@example.test\"/><list name=\"b\">"
              "<external anchor=\"" +
              self +
              "\"/></list></list>"
              "<list name=\"deep\"><list name=\"1\"><list name=\"2\"><list name=\"3\">"
              "<entry uri=\"sip:z@example.test\"/></list></list></list></list>"
              "<list name=\"ok\"><list name=\"1\"><list name=\"2\">"
              "<entry uri=\"sip:y@example.test\"/></list></list></list>"
              "<list name=\"out\"><external anchor=\"http://evil.test/x/~~/resource-lists/"
              "list%5b@name=%22a%22%5d\"/></list>"
              "<list name=\"pos\"><external anchor=\"" +
              std::string(kDoc) +
              "/~~/resource-lists/list%5b1%5d\"/></list>"
              "<list name=\"ref\"><entry-ref ref=\"resource-lists/users/x/index/~~/e\"/></list>"
              "<list name=\"twice\"><list name=\"x\"><entry uri=\"sip:q@example.test\"/></list>"
              "<external anchor=\"" +
              std::string(kDoc) +
              "/~~/resource-lists/list%5b@name=%22ok%22%5d/list%5b@name=%221%22%5d\"/></list>"),
          "", 0);
  const auto error = [&](const char* name) {
    const XcapGroups::Resolution r = x.resolve(name);
    EXPECT_FALSE(r.ok) << name;
    return r.error;
  };
  EXPECT_NE(error("a").find("contains itself"), std::string::npos);
  EXPECT_NE(error("deep").find("maxDepth (2)"), std::string::npos);
  EXPECT_NE(error("out").find("not below the XCAP root"), std::string::npos);
  EXPECT_NE(error("pos").find("does not select a list by name"), std::string::npos);
  EXPECT_NE(error("ref").find("entry-ref"), std::string::npos);
  EXPECT_EQ(x.resolve("ok").members, Strings{"sip:y@example.test"});  // depth 2 is allowed
  // The same list reached twice, not through itself, is no loop.
  const XcapGroups::Resolution twice = x.resolve("twice");
  ASSERT_TRUE(twice.ok) << twice.error;
  EXPECT_EQ(twice.members, (Strings{"sip:q@example.test", "sip:y@example.test"}));
  // needed() never loops either, and asks for nothing it has.
  EXPECT_TRUE(x.needed({"a", "deep", "out"}, 1).empty());
}

TEST(XcapGroupsTest, GroupDirectoryPrefersYamlAndAsksOnlyForXcapGroups) {
  GroupsConfig g;
  g.members["glmgroup:team"] = {"sip:t@example.test"};
  g.xcap = xcapConfig();
  g.xcap.user.clear();
  g.xcap.documentPath = "lists/groups.xml";
  GroupDirectory groups(g);
  EXPECT_EQ(groups.xcap().documentUrl(), std::string(kRoot) + "/lists/groups.xml");
  EXPECT_TRUE(groups.documentsNeeded({"glmgroup:team", "sip:x@example.test"}, 0).empty());
  EXPECT_EQ(groups.documentsNeeded({"glmgroup:friends"}, 0).size(), 1u);
  EXPECT_EQ(groups.members("glmgroup:team"), Strings{"sip:t@example.test"});
  EXPECT_FALSE(groups.members("glmgroup:friends").has_value());
  groups.xcap().store(groups.xcap().documentUrl(),
                      doc("<list name=\"friends\"><entry uri=\"sip:f@example.test\"/></list>"
                          "<list name=\"team\"><entry uri=\"sip:never@example.test\"/></list>"),
                      "", 0);
  EXPECT_EQ(groups.members("GlmGroup:friends"), Strings{"sip:f@example.test"});
  EXPECT_EQ(groups.members("glmgroup:team"), Strings{"sip:t@example.test"});  // YAML wins

  GroupsConfig off;
  GroupDirectory yamlOnly(off);
  EXPECT_FALSE(yamlOnly.xcap().enabled());
  EXPECT_TRUE(yamlOnly.documentsNeeded({"glmgroup:friends"}, 0).empty());
}

TEST(XcapGroupsTest, ResolutionSaysWhetherItWentThroughNesting) {
  XcapGroups x(xcapConfig());
  const std::string anchor = std::string(kOther) + "/~~/resource-lists/list%5b@name=%22mates%22%5d";
  x.store(kDoc,
          doc("<list name=\"flat\"><entry uri=\"sip:a@example.test\"/></list>"
              "<list name=\"inner\"><list name=\"in\"><entry uri=\"sip:b@example.test\"/></list>"
              "</list>"
              "<list name=\"ext\"><external anchor=\"" +
              anchor + "\"/></list>"),
          "", 0);
  EXPECT_FALSE(x.resolve("flat").nested);
  EXPECT_TRUE(x.resolve("flat").ok);
  EXPECT_TRUE(x.resolve("inner").nested);
  EXPECT_TRUE(x.resolve("inner").ok);
  // The external document is not fetched: unresolved, yet known to nest.
  EXPECT_FALSE(x.resolve("ext").ok);
  EXPECT_TRUE(x.resolve("ext").nested);
  EXPECT_FALSE(x.resolve("nobody").nested);
}

// nestedGroupsAllowed false (here at the requester level): a group resolved through a nested
// <list> or an <external> is POL0007 with GROUPS_NOT_ALLOWED; a flat list and YAML groups pass.
TEST(XcapGroupsTest, NestedGroupsNotAllowedRefusesNestedListsOnly) {
  GatewayConfig config;
  config.groups.xcap = xcapConfig();
  config.groups.members["glmgroup:yaml"] = {"sip:y@example.test"};
  config.requesters["strict"].name = "strict";
  config.requesters["strict"].policy.rules.nestedGroupsAllowed = false;
  config.requesters["open"].name = "open";
  PolicyEngine engine(config);
  using Op = PolicyOperation;
  // Nesting is only known from the documents: they are fetched for a strict requester too.
  EXPECT_EQ(engine.groupDocumentsNeeded("strict", Op::kGetStatusForGroup, {"glmgroup:flat"}, 0),
            Strings{kDoc});
  const std::string anchor = std::string(kOther) + "/~~/resource-lists/list%5b@name=%22mates%22%5d";
  engine.groupDocumentFetched(
      kDoc,
      doc("<list name=\"flat\"><entry uri=\"sip:a@example.test\"/>"
          "<entry uri=\"sip:b@example.test\"/></list>"
          "<list name=\"nested\"><entry uri=\"sip:a@example.test\"/>"
          "<list name=\"in\"><entry uri=\"sip:b@example.test\"/></list></list>"
          "<list name=\"ext\"><external anchor=\"" +
          anchor + "\"/></list>"),
      "", 0);
  engine.groupDocumentFetched(
      kOther, doc("<list name=\"mates\"><entry uri=\"sip:c@example.test\"/></list>"), "", 0);

  for (const char* group : {"glmgroup:nested", "glmgroup:ext"}) {
    SCOPED_TRACE(group);
    for (Op op : {Op::kGetStatusForGroup, Op::kStartNotification}) {
      const Decision d = engine.evaluate("strict", op, {"tel:+4930123", group}, 0);
      EXPECT_TRUE(d.refused);
      EXPECT_EQ(d.status, UsageStatus::kGroupsNotAllowed);
      EXPECT_EQ(d.fault.messageId, "POL0007");
      EXPECT_EQ(d.fault.variables, Strings{"addresses"});
      EXPECT_TRUE(d.targets.empty());
      EXPECT_EQ(d.admission, 0u);
    }
    const Decision open = engine.evaluate("open", Op::kGetStatusForGroup, {group}, 0);
    EXPECT_FALSE(open.refused) << open.fault.messageId;
    engine.release(open.admission);
  }
  for (const char* group : {"glmgroup:flat", "glmgroup:yaml"}) {
    SCOPED_TRACE(group);
    const Decision d = engine.evaluate("strict", Op::kGetStatusForGroup, {group}, 0);
    EXPECT_FALSE(d.refused) << d.fault.messageId;
    EXPECT_EQ(d.status, UsageStatus::kValid);
    EXPECT_FALSE(d.targets.empty());
    engine.release(d.admission);
  }
  // Groups not allowed answers first (POL0006), before any nesting is looked at.
  config.requesters["strict"].policy.rules.groupsAllowed = false;
  PolicyEngine noGroups(config);
  EXPECT_EQ(
      noGroups.evaluate("strict", Op::kGetStatusForGroup, {"glmgroup:nested"}, 0).fault.messageId,
      "POL0006");
}

}  // namespace
}  // namespace px::policy
