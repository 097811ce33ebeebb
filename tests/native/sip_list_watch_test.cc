// Notifications on a group through a list subscription: which per-member status events one
// applied list NOTIFY means (ListWatchRole's listStatusEvents).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "presence/PresenceDocument.h"
#include "presence/ResourceListDocument.h"
#include "sip/ListWatchRole.h"

namespace px {
namespace {

const PresenceDocumentMapper kPidf({"on-the-phone", "busy"});

struct Resource {
  std::string uri;
  std::string state;  // "" = no instance
  std::string basic;  // "" = no document
};

const char* kType =
    "multipart/related;type=\"application/rlmi+xml\";start=\"<root@x>\";boundary=\"B\"";

std::string body(uint32_t version, bool full, const std::vector<Resource>& resources) {
  std::string rlmi =
      "<?xml version=\"1.0\"?>\n<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" "
      "uri=\"sip:g@example.test\" version=\"" +
      std::to_string(version) + "\" fullState=\"" + (full ? "true" : "false") + "\">";
  std::string parts;
  int n = 0;
  for (const Resource& r : resources) {
    rlmi += "<resource uri=\"" + r.uri + "\">";
    const std::string cid = "c" + std::to_string(n++) + "@x";
    if (!r.state.empty()) {
      rlmi += "<instance id=\"i\" state=\"" + r.state + "\"" +
              (r.basic.empty() ? "" : " cid=\"" + cid + "\"") + "/>";
    }
    rlmi += "</resource>";
    if (!r.basic.empty()) {
      parts += "--B\r\nContent-ID: <" + cid +
               ">\r\nContent-Type: application/pidf+xml\r\n\r\n"
               "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
               "entity=\"" +
               r.uri + "\"><tuple id=\"t\"><status><basic>" + r.basic +
               "</basic></status></tuple></presence>\r\n";
    }
  }
  rlmi += "</list>";
  return "--B\r\nContent-ID: <root@x>\r\nContent-Type: application/rlmi+xml\r\n\r\n" + rlmi +
         "\r\n" + parts + "--B--\r\n";
}

std::map<std::string, TerminalStatus> apply(
    ResourceListState& state, uint32_t version, bool full, const std::vector<Resource>& resources,
    const std::map<std::string, std::vector<std::string>>& members) {
  const ListNotification n = parseListNotification(kType, body(version, full, resources), kPidf);
  EXPECT_TRUE(n.ok) << n.error;
  EXPECT_EQ(state.apply(n), ResourceListState::Applied::kApplied);
  std::map<std::string, TerminalStatus> out;
  for (const SubscriptionEvent& event : listStatusEvents(state, n.fullState, members)) {
    EXPECT_EQ(event.kind, SubscriptionEvent::Kind::kStatus);
    EXPECT_TRUE(out.emplace(event.requestUri, event.status).second) << event.requestUri;
  }
  return out;
}

const std::map<std::string, std::vector<std::string>> kMembers = {
    {"sip:a@example.test", {"sip:a@example.test"}},
    {"sip:b@example.test", {"sip:b@example.test"}},
    {"sip:c@example.test", {"sip:c@example.test"}},
};

TEST(ListStatusEvents, FullStateReportsEveryWatchedMemberWithAState) {
  ResourceListState state;
  const auto events = apply(state, 0, true,
                            {{"sip:a@example.test", "active", "open"},
                             {"sip:b@example.test", "", ""},
                             {"sip:c@example.test", "pending", ""},
                             {"sip:other@example.test", "active", "open"}},
                            kMembers);
  const std::map<std::string, TerminalStatus> expected = {
      {"sip:a@example.test", TerminalStatus::kReachable}};
  EXPECT_EQ(events, expected);
}

TEST(ListStatusEvents, PartialStateReportsOnlyTheMembersItNames) {
  ResourceListState state;
  apply(state, 0, true,
        {{"sip:a@example.test", "active", "open"},
         {"sip:b@example.test", "active", "open"},
         {"sip:c@example.test", "active", "closed"}},
        kMembers);
  const auto events =
      apply(state, 1, false, {{"sip:b@example.test", "active", "closed"}}, kMembers);
  const std::map<std::string, TerminalStatus> expected = {
      {"sip:b@example.test", TerminalStatus::kUnreachable}};
  EXPECT_EQ(events, expected);
  // A partial state naming a member with no state yet (pending) reports nothing for it.
  EXPECT_TRUE(apply(state, 2, false, {{"sip:a@example.test", "pending", ""}}, kMembers).empty());
}

TEST(ListStatusEvents, MembersOfTheListNobodyWatchesAreNotReported) {
  ResourceListState state;
  const auto events = apply(state, 0, true, {{"sip:x@example.test", "active", "open"}}, kMembers);
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace px
