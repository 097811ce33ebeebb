// Usage-record vocabulary: status table, SERVICEDATA escaping, catalogue, segmentation, ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "usage/Catalogue.h"
#include "usage/RecordId.h"
#include "usage/Segmenter.h"
#include "usage/ServiceData.h"
#include "usage/UsageRecord.h"
#include "usage/UsageStatus.h"

namespace px {
namespace {

using servicedata::Pairs;

// ---------------------------------------------------------------- status table

TEST(UsageStatusTest, AllSeventeenNumbersAndNamesExactly) {
  const std::vector<std::pair<int, std::string>> expected = {
      {0, "VALID"},
      {1, "FAILED_PRIVACY"},
      {2, "FAILED_ADDRESS_PLAN_VALIDATION"},
      {3, "EXCEEDED_MAX_TARGETS"},
      {4, "FAILED_PACER"},
      {5, "FAILED_CALL_LEVEL_PRIVACY"},
      {6, "FAILED_PROCESS_UP_TO_LIMIT"},
      {7, "FAILED_ADMISSION_CONTROL"},
      {8, "FAILED_SERVICE_NOT_RUNNING"},
      {9, "FAILED_JMS_ENQUEUE"},
      {10, "UNKNOWN_SCHEME"},
      {11, "FAILED_OPERATION"},
      {12, "FAILED_OTHER"},
      {13, "INVALID"},
      {14, "GROUPS_NOT_ALLOWED"},
      {15, "UNRESOLVED_GROUPS"},
      {16, "FAILED_TRAFFIC_SHAPING"},
  };
  for (const auto& [code, name] : expected) {
    auto status = usageStatusFromInt(code);
    ASSERT_TRUE(status) << code;
    EXPECT_EQ(static_cast<int>(*status), code);
    EXPECT_STREQ(toString(*status), name.c_str());
    auto byName = usageStatusFromName(name);
    ASSERT_TRUE(byName) << name;
    EXPECT_EQ(*byName, *status);
  }
}

TEST(UsageStatusTest, EnumeratorsHaveTheDocumentedNumbers) {
  EXPECT_EQ(static_cast<int>(UsageStatus::kValid), 0);
  EXPECT_EQ(static_cast<int>(UsageStatus::kFailedJmsEnqueue), 9);
  EXPECT_EQ(static_cast<int>(UsageStatus::kUnknownScheme), 10);
  EXPECT_EQ(static_cast<int>(UsageStatus::kInvalid), 13);
  EXPECT_EQ(static_cast<int>(UsageStatus::kFailedTrafficShaping), 16);
}

TEST(UsageStatusTest, RefusesUnknownNumbersAndNames) {
  EXPECT_FALSE(usageStatusFromInt(-1));
  EXPECT_FALSE(usageStatusFromInt(17));
  EXPECT_FALSE(usageStatusFromName("valid"));
  EXPECT_FALSE(usageStatusFromName("VALID "));
  EXPECT_FALSE(usageStatusFromName(""));
  EXPECT_STREQ(toString(static_cast<UsageStatus>(17)), "UNKNOWN");
}

// ---------------------------------------------------------------- service data

TEST(ServiceDataTest, EncodesInOrderWithEscapes) {
  Pairs pairs = {{"B", "x;y=z\\"}, {"A", "1"}, {"EMPTY", ""}, {"k;=\\", "v"}};
  EXPECT_EQ(servicedata::encode(pairs), "B=x\\;y\\=z\\\\;A=1;EMPTY=;k\\;\\=\\\\=v");
  EXPECT_EQ(servicedata::encode({}), "");
}

TEST(ServiceDataTest, OnlyTheThreeSpecialCharactersAreEscaped) {
  const std::string value = "line1\nline2\r\t\x01 caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 ,:\"'";
  const std::string text = servicedata::encode({{"K", value}});
  EXPECT_EQ(text, "K=" + value);
  auto back = servicedata::decode(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, (Pairs{{"K", value}}));
}

TEST(ServiceDataTest, NulBytesRoundTrip) {
  const std::string value("a\0b", 3);
  auto back = servicedata::decode(servicedata::encode({{"K", value}}));
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)[0].second, value);
}

TEST(ServiceDataTest, DecodesWellFormedText) {
  EXPECT_EQ(servicedata::decode(""), Pairs{});
  EXPECT_EQ(servicedata::decode("A=1"), (Pairs{{"A", "1"}}));
  EXPECT_EQ(servicedata::decode("A=;B="), (Pairs{{"A", ""}, {"B", ""}}));
  EXPECT_EQ(servicedata::decode("\\==\\;"), (Pairs{{"=", ";"}}));
  EXPECT_EQ(servicedata::decode("REQUESTER=app\\\\1;TARGET=tel:+1"),
            (Pairs{{"REQUESTER", "app\\1"}, {"TARGET", "tel:+1"}}));
}

TEST(ServiceDataTest, RefusesMalformedText) {
  for (const char* bad : {
           "A",                // pair without '='
           "A=1;B",            // second pair without '='
           "=1",               // empty key
           "A=1;=2",           // empty key later
           "A=1;",             // trailing ';' (empty pair)
           ";A=1",             // leading empty pair
           ";",                //
           "A=1;;B=2",         // empty pair in the middle
           "A=\\",             // dangling backslash
           "A\\",              //
           "A=\\x",            // unknown escape
           "A=\\n",            // newlines are not escaped, so "\n" is unknown
           "A=b=c",            // second unescaped '='
           "A=1;A=2",          // repeated key
           "A\\=B=1;A\\=B=2",  // repeated escaped key
       }) {
    EXPECT_FALSE(servicedata::decode(bad)) << bad;
  }
}

TEST(ServiceDataTest, EncodeRefusesEmptyAndRepeatedKeys) {
  EXPECT_THROW(servicedata::encode({{"", "v"}}), std::invalid_argument);
  EXPECT_THROW(servicedata::encode({{"A", "1"}, {"B", "2"}, {"A", "3"}}), std::invalid_argument);
}

std::string randomBytes(std::mt19937& rng, size_t maxLength) {
  // Biased towards the special characters so escapes are exercised often.
  static const char kSpecial[] = {'\\', ';', '=', '\n', '\0', '\xC3', '\xA9', '\x80', '\xFF'};
  std::uniform_int_distribution<size_t> len(0, maxLength);
  std::uniform_int_distribution<int> pick(0, 3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> special(0, sizeof(kSpecial) - 1);
  std::string s(len(rng), '\0');
  for (char& c : s) {
    c = pick(rng) == 0 ? kSpecial[special(rng)] : static_cast<char>(byte(rng));
  }
  return s;
}

TEST(ServiceDataTest, RandomPairsRoundTripExactly) {
  std::mt19937 rng(20261124);
  for (int iteration = 0; iteration < 5000; ++iteration) {
    Pairs pairs;
    std::set<std::string> keys;
    const int count = iteration % 7;
    while (static_cast<int>(pairs.size()) < count) {
      std::string key = randomBytes(rng, 12);
      if (key.empty() || !keys.insert(key).second) continue;
      pairs.emplace_back(std::move(key), randomBytes(rng, 40));
    }
    const std::string text = servicedata::encode(pairs);
    auto back = servicedata::decode(text);
    ASSERT_TRUE(back) << "iteration " << iteration;
    ASSERT_EQ(*back, pairs) << "iteration " << iteration;
  }
}

TEST(ServiceDataTest, WhatDecodesIsCanonical) {
  // Any text over the special alphabet either fails or is exactly the encoding of its result.
  std::mt19937 rng(7);
  const char alphabet[] = {'a', 'b', ';', '=', '\\'};
  std::uniform_int_distribution<size_t> len(0, 10);
  std::uniform_int_distribution<size_t> pick(0, sizeof(alphabet) - 1);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text(len(rng), 'a');
    for (char& c : text) c = alphabet[pick(rng)];
    if (auto pairs = servicedata::decode(text)) {
      ++decoded;
      EXPECT_EQ(servicedata::encode(*pairs), text);
    }
  }
  EXPECT_GT(decoded, 100);  // the property was actually exercised
}

// ---------------------------------------------------------------- catalogue

std::vector<std::string> namesOf(const EventSpec& spec) {
  std::vector<std::string> names;
  for (const auto& a : spec.attributes) names.emplace_back(a.name);
  return names;
}

TEST(CatalogueTest, EveryEventTypeWithTheSourceAttributeNames) {
  using V = std::vector<std::string>;
  const V ex = {"FAILURE_REASON", "FAILURE_DETAIL", "ERROR_TYPE"};
  auto plusEx = [&ex](V v) {
    v.insert(v.end(), ex.begin(), ex.end());
    return v;
  };
  const V getStatus =
      plusEx({"ASSIGNMENT_ID", "REQUESTER", "RESPONSE_TIME", "START_TIME", "SERVICE", "TARGET"});
  const V callAttempted = {"CORRELATOR", "CALLED_PARTY", "APP_CORRELATION_ID"};
  // Terminal Status deliveries: the table's attributes, then the optional SERVICE of the API.
  const V notificationAttempted = {"CORRELATOR", "TARGETS", "DELIVERY_STATUS", "APP_CORRELATION_ID",
                                   "SERVICE"};
  const V result = {"FAILURE_REASON", "FAILURE_DETAIL", "APP_CORRELATION_ID"};
  const V statusResult = {"FAILURE_REASON", "FAILURE_DETAIL", "APP_CORRELATION_ID", "SERVICE"};
  const V callEvent = {"CODE",   "CALL_NOTIFICATION", "CORRELATOR",
                       "CALLER", "CALLED_PARTY",      "NETWORK_EVENT"};
  const V directionEvent = {"CODE",         "CALL_DIRECTION", "CORRELATOR", "CALLER",
                            "CALLED_PARTY", "NETWORK_EVENT",  "ACTION"};
  const std::map<std::string, V> expected = {
      {"getStatus", getStatus},
      {"getStatusForGroup", getStatus},
      {"startNotification",
       plusEx({"REQUESTER", "SERVICE", "DURATION", "NOTIFICATION_EXPIRES_AT", "TARGET",
               "ASSIGNMENT_ID", "RESPONSE_TIME", "START_TIME", "CORRELATOR",
               "NOTIFICATION_ENDPOINT", "FREQUENCY", "NOTIFICATION LIMIT"})},
      {"endNotification", plusEx({"ASSIGNMENT_ID", "REQUESTER", "RESPONSE_TIME", "START_TIME",
                                  "CORRELATOR", "SERVICE"})},
      {"getNotification",
       plusEx({"REQUESTER", "RESPONSE_TIME", "START_TIME", "CORRELATOR", "SERVICE", "TARGET"})},
      {"listNotifications",
       plusEx({"REQUESTER", "RESPONSE_TIME", "START_TIME", "SERVICE", "NOTIFICATION_COUNT"})},
      {"statusNotification_DeliveryAttempted", notificationAttempted},
      {"statusNotification_DeliveryResult", statusResult},
      {"statusChanged_DeliveryAttempted", notificationAttempted},
      {"statusChanged_DeliveryResult", statusResult},
      {"statusError_DeliveryAttempted",
       {"CORRELATOR", "TARGET", "MESSAGE_ID", "REASON", "APP_CORRELATION_ID", "SERVICE"}},
      {"statusError_DeliveryResult", statusResult},
      {"statusEnd_DeliveryAttempted", {"CORRELATOR", "APP_CORRELATION_ID", "SERVICE"}},
      {"statusEnd_DeliveryResult", statusResult},
      {"startCallNotification",
       {"CODE", "REQUESTER", "METHOD", "CORRELATOR", "CALLED_PARTY", "CALL_EVENTS"}},
      {"stopCallNotification", {"CODE", "REQUESTER", "METHOD", "CORRELATOR", "CALL_EVENTS"}},
      {"notifyCalledNumber", callEvent},
      {"notifyBusy", callEvent},
      {"notifyNotReachable", callEvent},
      {"notifyNoAnswer", callEvent},
      {"startCallDirectionNotification",
       {"CODE", "REQUESTER", "METHOD", "CORRELATOR", "CALLED_PARTY", "CALL_EVENTS"}},
      {"stopCallDirectionNotification",
       {"CODE", "REQUESTER", "METHOD", "CORRELATOR", "CALL_EVENTS"}},
      {"handleCalledNumber", directionEvent},
      {"handleBusy", directionEvent},
      {"handleNotReachable", directionEvent},
      {"handleNoAnswer", directionEvent},
      {"notifyAnswer", callEvent},
      {"notifyCallEvent", callEvent},
      {"notifyCalledNumber_DeliveryAttempted", callAttempted},
      {"notifyCalledNumber_DeliveryResult", result},
      {"notifyBusy_DeliveryAttempted", callAttempted},
      {"notifyBusy_DeliveryResult", result},
      {"notifyNotReachable_DeliveryAttempted", callAttempted},
      {"notifyNotReachable_DeliveryResult", result},
      {"notifyNoAnswer_DeliveryAttempted", callAttempted},
      {"notifyNoAnswer_DeliveryResult", result},
      {"notifyAnswer_DeliveryAttempted", callAttempted},
      {"notifyAnswer_DeliveryResult", result},
      {"notifyCallEvent_DeliveryAttempted", callAttempted},
      {"notifyCallEvent_DeliveryResult", result},
  };
  const auto& catalogue = eventCatalogue();
  ASSERT_EQ(catalogue.size(), expected.size());
  for (size_t i = 0; i < catalogue.size(); ++i) {
    const EventSpec& spec = catalogue[i];
    EXPECT_EQ(static_cast<size_t>(spec.type), i);
    auto it = expected.find(std::string(spec.name));
    ASSERT_NE(it, expected.end()) << spec.name;
    EXPECT_EQ(namesOf(spec), it->second) << spec.name;
    EXPECT_EQ(eventTypeFromName(spec.name), spec.type);
    EXPECT_EQ(eventTypeName(spec.type), spec.name);
  }
  EXPECT_FALSE(eventTypeFromName("getstatus"));
  EXPECT_FALSE(eventTypeFromName("CallNotification"));
}

TEST(CatalogueTest, ConstantsMatchTheTable) {
  EXPECT_EQ(attr::kNotificationLimit, "NOTIFICATION LIMIT");
  EXPECT_EQ(attr::kAppCorrelationId, "APP_CORRELATION_ID");
  EXPECT_EQ(eventTypeName(EventType::kStatusChangedDeliveryResult),
            event::kStatusChangedDeliveryResult);
  EXPECT_EQ(eventTypeName(EventType::kNotifyNoAnswer), event::kNotifyNoAnswer);
  EXPECT_EQ(eventTypeName(EventType::kGetNotification), "getNotification");
  EXPECT_EQ(eventTypeName(EventType::kListNotifications), "listNotifications");
  EXPECT_EQ(attr::kNotificationCount, "NOTIFICATION_COUNT");
}

TEST(CatalogueTest, ExceptionAttributesOnlyOnTerminalStatusOperations) {
  for (const auto& spec : eventCatalogue()) {
    const bool hasFailureOnly =
        std::any_of(spec.attributes.begin(), spec.attributes.end(),
                    [](const AttributeSpec& a) { return a.presence == Presence::kFailureOnly; });
    const bool tsOperation =
        spec.type == EventType::kGetStatus || spec.type == EventType::kGetStatusForGroup ||
        spec.type == EventType::kStartNotification || spec.type == EventType::kEndNotification ||
        spec.type == EventType::kGetNotification || spec.type == EventType::kListNotifications;
    EXPECT_EQ(hasFailureOnly, tsOperation) << spec.name;
  }
}

ServiceDataBuilder validGetStatus() {
  ServiceDataBuilder b(EventType::kGetStatus);
  b.set(attr::kRequester, "app1")
      .setDurationMs(attr::kResponseTime, 42)
      .setTime(attr::kStartTime, 1795536062345)
      .set(attr::kService, "PX_TS_SIP")
      .set(attr::kTarget, "tel:+15551234567");
  return b;
}

TEST(CatalogueTest, BuildsInCatalogueOrder) {
  ServiceDataBuilder b = validGetStatus();
  b.set(attr::kAssignmentId, "a;1");  // set last, written first
  EXPECT_EQ(b.build(UsageStatus::kValid),
            "ASSIGNMENT_ID=a\\;1;REQUESTER=app1;RESPONSE_TIME=42;"
            "START_TIME=2026-11-24T16:01:02.345Z;SERVICE=PX_TS_SIP;TARGET=tel:+15551234567");
}

TEST(CatalogueTest, BuiltTextPassesTheCheckAfterDecoding) {
  const std::string text = validGetStatus().build(UsageStatus::kValid);
  auto pairs = servicedata::decode(text);
  ASSERT_TRUE(pairs);
  EXPECT_EQ(checkServiceData(EventType::kGetStatus, *pairs, UsageStatus::kValid), std::nullopt);
  pairs->emplace_back("TARGETS", "x");
  auto error = checkServiceData(EventType::kGetStatus, *pairs, UsageStatus::kValid);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("TARGETS"), std::string::npos);
}

TEST(CatalogueTest, MisspeltAttributeThrowsNamingEventAndAttribute) {
  ServiceDataBuilder b(EventType::kGetStatus);
  try {
    b.set("REQUESTOR", "app1");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("getStatus"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("REQUESTOR"), std::string::npos) << e.what();
  }
  EXPECT_THROW(b.set("NOTIFICATION_LIMIT", "1"), std::invalid_argument);
  EXPECT_THROW(ServiceDataBuilder(EventType::kStartNotification).set("NOTIFICATION_LIMIT", "1"),
               std::invalid_argument);
  EXPECT_NO_THROW(ServiceDataBuilder(EventType::kStartNotification).set("NOTIFICATION LIMIT", "1"));
  // An attribute of another event type is a misspelling too.
  EXPECT_THROW(b.set(attr::kTargets, "x"), std::invalid_argument);
  EXPECT_THROW(ServiceDataBuilder(EventType::kStopCallNotification).set(attr::kCalledParty, "x"),
               std::invalid_argument);
  EXPECT_THROW(ServiceDataBuilder(EventType::kNotifyBusy).set(attr::kService, "x"),
               std::invalid_argument);
}

TEST(CatalogueTest, MissingRequiredAttributeThrows) {
  ServiceDataBuilder b(EventType::kGetStatus);
  b.set(attr::kRequester, "app1").set(attr::kResponseTime, "1").set(attr::kService, "S");
  b.set(attr::kStartTime, "2026-11-24T16:01:02.345Z");
  try {
    b.build(UsageStatus::kValid);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TARGET"), std::string::npos) << e.what();
  }
  // Missing stays missing on failure too: the key must be written, if only empty.
  EXPECT_THROW(b.build(UsageStatus::kInvalid), std::invalid_argument);
  b.set(attr::kTarget, "");
  EXPECT_THROW(b.build(UsageStatus::kValid), std::invalid_argument);  // empty on success
  EXPECT_NO_THROW(b.build(UsageStatus::kInvalid));  // a refused target may be empty
  EXPECT_TRUE(b.has(attr::kTarget));
  EXPECT_FALSE(b.has(attr::kAssignmentId));
  EXPECT_FALSE(b.has("NOPE"));
}

TEST(CatalogueTest, RequesterMayBeEmptyOptionalMayBeAbsent) {
  ServiceDataBuilder b = validGetStatus();
  b.set(attr::kRequester, "");
  EXPECT_NO_THROW(b.build(UsageStatus::kValid));
  ServiceDataBuilder s(EventType::kStartNotification);
  s.set(attr::kRequester, "app").set(attr::kService, "S").set(attr::kTarget, "sip:a@b");
  s.setTime(attr::kNotificationExpiresAt, 0).setTime(attr::kStartTime, 0);
  s.setDurationMs(attr::kResponseTime, 3).set(attr::kCorrelator, "c1");
  EXPECT_THROW(s.build(UsageStatus::kValid), std::invalid_argument);  // no endpoint yet
  s.set(attr::kNotificationEndpoint, "http://app/notify");
  EXPECT_EQ(s.build(UsageStatus::kValid),
            "REQUESTER=app;SERVICE=S;NOTIFICATION_EXPIRES_AT=1970-01-01T00:00:00.000Z;"
            "TARGET=sip:a@b;RESPONSE_TIME=3;START_TIME=1970-01-01T00:00:00.000Z;CORRELATOR=c1;"
            "NOTIFICATION_ENDPOINT=http://app/notify");
  s.set(attr::kNotificationLimit, "10");
  EXPECT_NE(s.build(UsageStatus::kValid).find(";NOTIFICATION LIMIT=10"), std::string::npos);
}

TEST(CatalogueTest, ExceptionAttributesOnlyWithAFailedStatus) {
  ServiceDataBuilder b = validGetStatus();
  b.set(attr::kFailureReason, "SVC0002").set(attr::kFailureDetail, "Invalid input value");
  b.set(attr::kErrorType, "ServiceException");
  EXPECT_THROW(b.build(UsageStatus::kValid), std::invalid_argument);
  const std::string text = b.build(UsageStatus::kInvalid);
  EXPECT_NE(text.find(";FAILURE_REASON=SVC0002;FAILURE_DETAIL=Invalid input value;"
                      "ERROR_TYPE=ServiceException"),
            std::string::npos)
      << text;
  // Delivery events carry no table-6 attributes.
  EXPECT_THROW(
      ServiceDataBuilder(EventType::kStatusEndDeliveryAttempted).set(attr::kErrorType, "x"),
      std::invalid_argument);
}

TEST(CatalogueTest, DeliveryResultFailureFieldsEmptyOnSuccess) {
  ServiceDataBuilder b(EventType::kStatusNotificationDeliveryResult);
  b.set(attr::kAppCorrelationId, "42");
  EXPECT_THROW(b.build(UsageStatus::kValid), std::invalid_argument);  // always written
  b.set(attr::kFailureReason, "").set(attr::kFailureDetail, "");
  EXPECT_EQ(b.build(UsageStatus::kValid), "FAILURE_REASON=;FAILURE_DETAIL=;APP_CORRELATION_ID=42");
  b.set(attr::kFailureReason, "HTTP 503");
  EXPECT_THROW(b.build(UsageStatus::kValid), std::invalid_argument);
  EXPECT_NO_THROW(b.build(UsageStatus::kFailedOperation));
  // A delivery does not relax required attributes on failure.
  b.set(attr::kAppCorrelationId, "");
  EXPECT_THROW(b.build(UsageStatus::kFailedOperation), std::invalid_argument);
}

TEST(CatalogueTest, ReadingNotifications) {
  ServiceDataBuilder get(EventType::kGetNotification);
  get.set(attr::kRequester, "acme").setDurationMs(attr::kResponseTime, 1);
  get.setTime(attr::kStartTime, 0).set(attr::kCorrelator, "s-1").set(attr::kService, "CAMARA");
  // TARGET is written only when the notification was found.
  EXPECT_EQ(get.build(UsageStatus::kValid),
            "REQUESTER=acme;RESPONSE_TIME=1;START_TIME=1970-01-01T00:00:00.000Z;CORRELATOR=s-1;"
            "SERVICE=CAMARA");
  get.set(attr::kTarget, "tel:+1555");
  EXPECT_NE(get.build(UsageStatus::kValid).find(";TARGET=tel:+1555"), std::string::npos);
  // An unknown id: INVALID with the table-6 attributes.
  ServiceDataBuilder unknown(EventType::kGetNotification);
  unknown.set(attr::kRequester, "acme").setDurationMs(attr::kResponseTime, 1);
  unknown.setTime(attr::kStartTime, 0).set(attr::kCorrelator, "nope").set(attr::kService, "C");
  unknown.set(attr::kFailureReason, "SVC0002").set(attr::kFailureDetail, "x");
  unknown.set(attr::kErrorType, "ServiceException");
  EXPECT_NO_THROW(unknown.build(UsageStatus::kInvalid));
  EXPECT_THROW(unknown.build(UsageStatus::kValid), std::invalid_argument);

  ServiceDataBuilder list(EventType::kListNotifications);
  list.set(attr::kRequester, "acme").setDurationMs(attr::kResponseTime, 0);
  list.setTime(attr::kStartTime, 0).set(attr::kService, "CAMARA");
  EXPECT_THROW(list.build(UsageStatus::kValid), std::invalid_argument);  // no count
  list.set(attr::kNotificationCount, "0");
  EXPECT_NE(list.build(UsageStatus::kValid).find(";NOTIFICATION_COUNT=0"), std::string::npos);
  EXPECT_THROW(list.set(attr::kCorrelator, "c"), std::invalid_argument);
}

TEST(CatalogueTest, TerminalStatusDeliveriesMayNameTheirService) {
  ServiceDataBuilder attempted(EventType::kStatusNotificationDeliveryAttempted);
  attempted.set(attr::kCorrelator, "c").set(attr::kTargets, "tel:+1");
  attempted.set(attr::kDeliveryStatus, "Reachable").set(attr::kAppCorrelationId, "7");
  EXPECT_EQ(attempted.build(UsageStatus::kValid),
            "CORRELATOR=c;TARGETS=tel:+1;DELIVERY_STATUS=Reachable;APP_CORRELATION_ID=7");
  attempted.set(attr::kService, "CAMARA_DRS_SIP");
  EXPECT_EQ(attempted.build(UsageStatus::kValid),
            "CORRELATOR=c;TARGETS=tel:+1;DELIVERY_STATUS=Reachable;APP_CORRELATION_ID=7;"
            "SERVICE=CAMARA_DRS_SIP");
  ServiceDataBuilder result(EventType::kStatusEndDeliveryResult);
  result.set(attr::kFailureReason, "").set(attr::kFailureDetail, "");
  result.set(attr::kAppCorrelationId, "7").set(attr::kService, "CAMARA_DRS_SIP");
  EXPECT_EQ(result.build(UsageStatus::kValid),
            "FAILURE_REASON=;FAILURE_DETAIL=;APP_CORRELATION_ID=7;SERVICE=CAMARA_DRS_SIP");
  // Call notification deliveries do not: a call registration is Parlay X only.
  EXPECT_THROW(ServiceDataBuilder(EventType::kNotifyBusyDeliveryResult).set(attr::kService, "x"),
               std::invalid_argument);
}

TEST(CatalogueTest, StatusErrorTargetMayBeEmpty) {
  ServiceDataBuilder b(EventType::kStatusErrorDeliveryAttempted);
  b.set(attr::kCorrelator, "c").set(attr::kTarget, "").set(attr::kMessageId, "SVC0001");
  b.set(attr::kReason, "x").set(attr::kAppCorrelationId, "7");
  EXPECT_NO_THROW(b.build(UsageStatus::kValid));
}

TEST(CatalogueTest, CallNotificationCodesAndEvents) {
  ServiceDataBuilder b(EventType::kNotifyBusy);
  b.set(attr::kCode, "0").set(attr::kCallNotification, "Sending").set(attr::kCorrelator, "c");
  b.set(attr::kCaller, "")
      .set(attr::kCalledParty, "tel:+1555")
      .set(attr::kNetworkEvent, "NotifyBusy");
  EXPECT_EQ(b.build(UsageStatus::kValid),
            "CODE=0;CALL_NOTIFICATION=Sending;CORRELATOR=c;CALLER=;CALLED_PARTY=tel:+1555;"
            "NETWORK_EVENT=NotifyBusy");
  EXPECT_THROW(b.build(UsageStatus::kFailedOther), std::invalid_argument);  // CODE 0 on failure
  b.set(attr::kCode, "1").set(attr::kCallNotification, "Error");
  EXPECT_NO_THROW(b.build(UsageStatus::kFailedOther));
  EXPECT_THROW(b.build(UsageStatus::kValid), std::invalid_argument);  // CODE 1 on success
  b.set(attr::kCode, "2");
  EXPECT_THROW(b.build(UsageStatus::kFailedOther), std::invalid_argument);
  b.set(attr::kCode, "1").set(attr::kNetworkEvent, "NotifyNoAnswer");  // not this event
  EXPECT_THROW(b.build(UsageStatus::kFailedOther), std::invalid_argument);
  b.set(attr::kNetworkEvent, "NotifyBusy").set(attr::kCallNotification, "sending");
  EXPECT_THROW(b.build(UsageStatus::kFailedOther), std::invalid_argument);
}

TEST(CatalogueTest, StopCallNotificationNeedsNoCallEvents) {
  ServiceDataBuilder b(EventType::kStopCallNotification);
  b.set(attr::kCode, "1").set(attr::kRequester, "app").set(attr::kCorrelator, "c");
  b.set(attr::kMethod, "stopCallNotification:UnknownCorrelator");
  EXPECT_NO_THROW(b.build(UsageStatus::kFailedOperation));
  ServiceDataBuilder s(EventType::kStartCallNotification);
  s.set(attr::kCode, "0").set(attr::kRequester, "app").set(attr::kCorrelator, "c");
  s.set(attr::kMethod, "startCallNotification").set(attr::kCalledParty, "tel:+1");
  EXPECT_THROW(s.build(UsageStatus::kValid), std::invalid_argument);  // CALL_EVENTS missing
  s.set(attr::kCallEvents, "busy,no_answer");
  EXPECT_NO_THROW(s.build(UsageStatus::kValid));
}

TEST(CatalogueTest, OutOfRangeStatusRefused) {
  EXPECT_THROW(validGetStatus().build(static_cast<UsageStatus>(17)), std::invalid_argument);
  EXPECT_TRUE(checkServiceData(EventType::kStatusEndDeliveryAttempted,
                               {{"CORRELATOR", "c"}, {"APP_CORRELATION_ID", "1"}},
                               static_cast<UsageStatus>(-1)));
}

TEST(CatalogueTest, CheckReportsRepeatedAttribute) {
  auto error = checkServiceData(
      EventType::kStatusEndDeliveryAttempted,
      {{"CORRELATOR", "c"}, {"APP_CORRELATION_ID", "1"}, {"CORRELATOR", "d"}}, UsageStatus::kValid);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("repeated"), std::string::npos);
}

// ---------------------------------------------------------------- time helpers

TEST(TimeFormatTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(formatUtcTime(1795536062345), "2026-11-24T16:01:02.345Z");
  EXPECT_EQ(formatUtcTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatUtcTime(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(formatUtcTime(1709251199999), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(formatUtcTime(-2203891200000), "1900-03-01T00:00:00.000Z");
  EXPECT_EQ(formatUtcTime(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(formatUtcTime(-62167219200000), "0000-01-01T00:00:00.000Z");
  EXPECT_THROW(formatUtcTime(253402300800000), std::out_of_range);
  EXPECT_THROW(formatUtcTime(-62167219200001), std::out_of_range);
}

TEST(TimeFormatTest, ParsesWhatItFormats) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> ms(-62167219200000, 253402300799999);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = ms(rng);
    EXPECT_EQ(parseUtcTime(formatUtcTime(t)), t);
  }
  EXPECT_EQ(parseUtcTime("2026-11-24T16:01:02.345Z"), 1795536062345);
}

TEST(TimeFormatTest, ParseRefusesOtherShapes) {
  for (const char* bad :
       {"2026-11-24T16:01:02Z", "2026-11-24T16:01:02.345", "2026-11-24 16:01:02.345Z",
        "2026-11-24T16:01:02.345z", "2023-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z",
        "2026-00-01T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "2026-11-24T24:00:00.000Z",
        "2026-11-24T23:60:00.000Z", "2026-11-24T23:59:60.000Z", "+026-11-24T16:01:02.345Z", ""}) {
    EXPECT_FALSE(parseUtcTime(bad)) << bad;
  }
}

TEST(TimeFormatTest, BufferFormIsTheSameText) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> ms(-62167219200000, 253402300799999);
  char text[kUtcTimeLength];
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = ms(rng);
    formatUtcTime(t, text);
    ASSERT_EQ(std::string(text, kUtcTimeLength), formatUtcTime(t)) << t;
  }
  EXPECT_THROW(formatUtcTime(253402300800000, text), std::out_of_range);
}

TEST(TimeFormatTest, DurationsInMilliseconds) {
  EXPECT_EQ(formatDurationMs(0), "0");
  EXPECT_EQ(formatDurationMs(1500), "1500");
  EXPECT_THROW(formatDurationMs(-1), std::invalid_argument);
}

// ---------------------------------------------------------------- segmentation

UsageRecord recordWith(std::string serviceData) {
  UsageRecord r;
  r.recordId = "01JD0000000000000000000000";
  r.globalId = "g-1";
  r.service = "PX_TS_SIP";
  r.host = "gw1";
  r.eventType = "getStatusForGroup";
  r.recordTimeMs = 1795536062345;
  r.status = UsageStatus::kFailedProcessUpToLimit;
  r.serviceData = std::move(serviceData);
  return r;
}

std::vector<std::string> parts(const std::vector<UsageRow>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row.serviceData);
  return out;
}

void expectSameRecord(const UsageRecord& a, const UsageRecord& b) {
  EXPECT_EQ(a.recordId, b.recordId);
  EXPECT_EQ(a.globalId, b.globalId);
  EXPECT_EQ(a.service, b.service);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.eventType, b.eventType);
  EXPECT_EQ(a.recordTimeMs, b.recordTimeMs);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.serviceData, b.serviceData);
}

TEST(SegmenterTest, ExactlyMaxBytesIsOneRow) {
  for (size_t max : {size_t{16}, size_t{100}, kDefaultSegmentBytes}) {
    auto rows = segment(recordWith(std::string(max, 'a')), max);
    ASSERT_EQ(rows.size(), 1u) << max;
    EXPECT_EQ(rows[0].segment, 0);
    EXPECT_EQ(rows[0].serviceData.size(), max);
  }
}

TEST(SegmenterTest, OneByteMoreIsTwoRows) {
  for (size_t max : {size_t{16}, size_t{100}, kDefaultSegmentBytes}) {
    auto rows = segment(recordWith(std::string(max + 1, 'a')), max);
    ASSERT_EQ(rows.size(), 2u) << max;
    EXPECT_EQ(rows[0].segment, 0);
    EXPECT_EQ(rows[1].segment, 1);
    EXPECT_EQ(rows[0].serviceData.size(), max);
    EXPECT_EQ(rows[1].serviceData, "a");
  }
}

TEST(SegmenterTest, DefaultIs1024Bytes) {
  EXPECT_EQ(segment(recordWith(std::string(1024, 'x'))).size(), 1u);
  EXPECT_EQ(segment(recordWith(std::string(1025, 'x'))).size(), 2u);
  EXPECT_EQ(segment(recordWith(std::string(3 * 1024, 'x'))).size(), 3u);
}

TEST(SegmenterTest, EveryColumnRepeatedOnEveryRow) {
  const UsageRecord r = recordWith(std::string(50, 'a'));
  auto rows = segment(r, 16);
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].recordId, r.recordId);
    EXPECT_EQ(rows[i].segment, static_cast<int>(i));
    EXPECT_EQ(rows[i].globalId, r.globalId);
    EXPECT_EQ(rows[i].service, r.service);
    EXPECT_EQ(rows[i].host, r.host);
    EXPECT_EQ(rows[i].eventType, r.eventType);
    EXPECT_EQ(rows[i].recordTimeMs, r.recordTimeMs);
    EXPECT_EQ(rows[i].statusCode, 6);
  }
  EXPECT_EQ(parts(rows), (std::vector<std::string>{std::string(16, 'a'), std::string(16, 'a'),
                                                   std::string(16, 'a'), "aa"}));
}

TEST(SegmenterTest, EmptyServiceDataIsOneEmptyRow) {
  auto rows = segment(recordWith(""), 16);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].segment, 0);
  EXPECT_EQ(rows[0].serviceData, "");
}

TEST(SegmenterTest, MultiByteCharacterStraddlingTheBoundaryMovesOn) {
  const std::string e2 = "\xC3\xA9";          // é
  const std::string e3 = "\xE2\x82\xAC";      // €
  const std::string e4 = "\xF0\x9F\x98\x80";  // 😀
  for (const std::string& ch : {e2, e3, e4}) {
    for (size_t before = 16 - ch.size() + 1; before < 16; ++before) {
      auto rows = segment(recordWith(std::string(before, 'a') + ch + "b"), 16);
      ASSERT_EQ(rows.size(), 2u);
      EXPECT_EQ(rows[0].serviceData, std::string(before, 'a'));
      EXPECT_EQ(rows[1].serviceData, ch + "b");
    }
    // Ending exactly on the boundary: it stays.
    auto rows = segment(recordWith(std::string(16 - ch.size(), 'a') + ch + "b"), 16);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].serviceData, std::string(16 - ch.size(), 'a') + ch);
    EXPECT_EQ(rows[1].serviceData, "b");
  }
}

TEST(SegmenterTest, EscapePairStraddlingTheBoundaryMovesOn) {
  for (const char* pair : {"\\;", "\\=", "\\\\"}) {
    auto rows = segment(recordWith(std::string(15, 'a') + pair + "b"), 16);
    EXPECT_EQ(parts(rows),
              (std::vector<std::string>{std::string(15, 'a'), pair + std::string("b")}))
        << pair;
    rows = segment(recordWith(std::string(14, 'a') + pair + "b"), 16);
    EXPECT_EQ(parts(rows), (std::vector<std::string>{std::string(14, 'a') + pair, "b"})) << pair;
  }
  // A run of escaped backslashes: pairs are counted from the start, not from the cut.
  auto rows = segment(recordWith("a" + std::string(40, '\\')), 16);
  EXPECT_EQ(parts(rows), (std::vector<std::string>{"a" + std::string(14, '\\'),
                                                   std::string(16, '\\'), std::string(10, '\\')}));
}

TEST(SegmenterTest, RefusesTooSmallSegments) {
  EXPECT_THROW(segment(recordWith("x"), 15), std::invalid_argument);
  EXPECT_NO_THROW(segment(recordWith("x"), 16));
  const UsageRecord r = recordWith("x");
  EXPECT_THROW(segment(r, 15), std::invalid_argument);
}

// segment(record&&) moves a one-segment record's text instead of copying it: the same rows.
TEST(SegmenterTest, MovingTheRecordGivesTheSameRows) {
  for (size_t size : {size_t{0}, size_t{15}, size_t{16}, size_t{17}, size_t{100}}) {
    const UsageRecord r = recordWith(std::string(size, 'm') + "\\;");
    UsageRecord moved = r;
    const std::vector<UsageRow> copied = segment(r, 16);
    const std::vector<UsageRow> taken = segment(std::move(moved), 16);
    ASSERT_EQ(taken.size(), copied.size()) << size;
    for (size_t i = 0; i < taken.size(); ++i) {
      EXPECT_EQ(taken[i].segment, copied[i].segment);
      EXPECT_EQ(taken[i].serviceData, copied[i].serviceData);
      EXPECT_EQ(taken[i].recordId, r.recordId);
      EXPECT_EQ(taken[i].globalId, r.globalId);
      EXPECT_EQ(taken[i].service, r.service);
      EXPECT_EQ(taken[i].host, r.host);
      EXPECT_EQ(taken[i].eventType, r.eventType);
      EXPECT_EQ(taken[i].recordTimeMs, r.recordTimeMs);
      EXPECT_EQ(taken[i].statusCode, 6);
    }
  }
}

// Positions a cut must never fall on: UTF-8 continuation bytes and the character after an
// escaping backslash (computed from the start of the text).
std::vector<bool> forbiddenCuts(const std::string& s) {
  std::vector<bool> forbidden(s.size() + 1, false);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) forbidden[i] = true;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) forbidden[++i] = true;
  }
  return forbidden;
}

TEST(SegmenterTest, RandomEncodedDataSplitsSafelyAndReassembles) {
  std::mt19937 rng(1024);
  const std::vector<std::string> pieces = {
      "a", "Z", ";", "=", "\\", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", " ", ","};
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<size_t> max(16, 64);
  std::uniform_int_distribution<int> count(0, 8);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    Pairs pairs;
    const int n = count(rng);
    for (int k = 0; k < n; ++k) {
      std::string value;
      for (int j = count(rng) * 4; j > 0; --j) value += pieces[pick(rng)];
      pairs.emplace_back("K" + std::to_string(k), value);
    }
    const UsageRecord r = recordWith(servicedata::encode(pairs));
    const size_t maxBytes = max(rng);
    auto rows = segment(r, maxBytes);
    const auto forbidden = forbiddenCuts(r.serviceData);
    size_t at = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const size_t len = rows[i].serviceData.size();
      ASSERT_LE(len, maxBytes);
      if (i + 1 < rows.size()) {
        ASSERT_GT(len + 5, maxBytes);  // cut only when the next unit (<= 5 bytes) did not fit
        ASSERT_FALSE(forbidden[at + len]) << "cut at " << at + len;
      }
      at += len;
    }
    std::shuffle(rows.begin(), rows.end(), rng);
    auto back = reassemble(rows);
    ASSERT_TRUE(back);
    expectSameRecord(*back, r);
    ASSERT_EQ(servicedata::decode(back->serviceData), pairs);
  }
}

TEST(SegmenterTest, ReassemblesShuffledRows) {
  const UsageRecord r = recordWith(std::string(100, 'q') + "\xE2\x82\xAC" + std::string(30, 'w'));
  auto rows = segment(r, 16);
  ASSERT_GT(rows.size(), 5u);
  std::reverse(rows.begin(), rows.end());
  std::swap(rows[1], rows[4]);
  auto back = reassemble(rows);
  ASSERT_TRUE(back);
  expectSameRecord(*back, r);
}

TEST(SegmenterTest, ReassembleRefusesIncompleteOrInconsistentRows) {
  const UsageRecord r = recordWith(std::string(60, 'a'));
  const auto rows = segment(r, 16);
  ASSERT_EQ(rows.size(), 4u);

  EXPECT_FALSE(reassemble({}));

  auto missingMiddle = rows;
  missingMiddle.erase(missingMiddle.begin() + 2);
  EXPECT_FALSE(reassemble(missingMiddle));

  auto missingFirst = rows;
  missingFirst.erase(missingFirst.begin());
  EXPECT_FALSE(reassemble(missingFirst));

  auto duplicated = rows;
  duplicated.push_back(rows[1]);
  EXPECT_FALSE(reassemble(duplicated));

  auto renumbered = rows;
  renumbered[3].segment = 5;
  EXPECT_FALSE(reassemble(renumbered));

  auto otherRecord = rows;
  otherRecord[2].recordId = "01JD0000000000000000000001";
  EXPECT_FALSE(reassemble(otherRecord));

  auto otherHost = rows;
  otherHost[1].host = "gw2";
  EXPECT_FALSE(reassemble(otherHost));

  auto otherTime = rows;
  otherTime[3].recordTimeMs += 1;
  EXPECT_FALSE(reassemble(otherTime));

  auto otherStatus = rows;
  otherStatus[0].statusCode = 0;
  EXPECT_FALSE(reassemble(otherStatus));

  auto badStatus = rows;
  for (auto& row : badStatus) row.statusCode = 17;
  EXPECT_FALSE(reassemble(badStatus));

  // Dropping only the last segment is detectable only through the data: the numbering is
  // still 0..n-1, so reassembly succeeds with shorter text. The caller checks with decode.
  auto lastDropped = rows;
  lastDropped.pop_back();
  auto partial = reassemble(lastDropped);
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->serviceData.size(), 48u);
}

// ---------------------------------------------------------------- record ids

bool isCrockford(const std::string& id) {
  return id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos;
}

TEST(RecordIdTest, ShapeAndTimestamp) {
  RecordIdGenerator gen(1);
  const std::string id = gen.newRecordId(1795536062345);
  EXPECT_EQ(id.size(), RecordIdGenerator::kLength);
  EXPECT_TRUE(isCrockford(id)) << id;
  EXPECT_EQ(RecordIdGenerator::timestampMs(id), 1795536062345);

  RecordIdGenerator zero(1);
  EXPECT_EQ(zero.newRecordId(0).substr(0, 10), "0000000000");
  RecordIdGenerator top(1);
  const std::string last = top.newRecordId((int64_t{1} << 48) - 1);
  EXPECT_EQ(last.substr(0, 10), "7ZZZZZZZZZ");
  EXPECT_EQ(RecordIdGenerator::timestampMs(last), (int64_t{1} << 48) - 1);
}

TEST(RecordIdTest, RefusesTimesOutside48Bits) {
  RecordIdGenerator gen(1);
  EXPECT_THROW(gen.newRecordId(-1), std::out_of_range);
  EXPECT_THROW(gen.newRecordId(int64_t{1} << 48), std::out_of_range);
}

TEST(RecordIdTest, TimestampOfMalformedIds) {
  EXPECT_FALSE(RecordIdGenerator::timestampMs(""));
  EXPECT_FALSE(RecordIdGenerator::timestampMs("01JD000000000000000000000"));    // 25
  EXPECT_FALSE(RecordIdGenerator::timestampMs("01JD00000000000000000000000"));  // 27
  EXPECT_FALSE(RecordIdGenerator::timestampMs("01jd0000000000000000000000"));   // lower case
  EXPECT_FALSE(RecordIdGenerator::timestampMs("01JI0000000000000000000000"));   // I not used
  EXPECT_FALSE(RecordIdGenerator::timestampMs("81JD0000000000000000000000"));   // > 128 bits
}

TEST(RecordIdTest, SortByTimeAndStrictlyIncreaseWithinAMillisecond) {
  RecordIdGenerator gen(99);
  std::vector<std::string> ids;
  for (int64_t t : {1000, 1000, 1000, 1001, 1001, 5000, 4000 /* clock stepped back */, 5000}) {
    ids.push_back(gen.newRecordId(t));
  }
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]) << i;
  EXPECT_EQ(RecordIdGenerator::timestampMs(ids[6]), 5000);  // kept the later time
  for (int i = 0; i < 1000; ++i) {
    std::string next = gen.newRecordId(5000);
    ASSERT_LT(ids.back(), next);
    ids.push_back(std::move(next));
  }
}

TEST(RecordIdTest, GeneratorsDiffer) {
  RecordIdGenerator a;
  RecordIdGenerator b;
  EXPECT_NE(a.newRecordId(1), b.newRecordId(1));
  RecordIdGenerator c(5);
  RecordIdGenerator d(5);
  EXPECT_EQ(c.newRecordId(1), d.newRecordId(1));  // seeded: reproducible
  const std::string now = a.newRecordId();
  const auto ms = RecordIdGenerator::timestampMs(now);
  ASSERT_TRUE(ms);
  EXPECT_GT(*ms, 1700000000000);  // after 2023: the system clock was used
}

TEST(RecordIdTest, UniqueAcrossThreads) {
  RecordIdGenerator gen;
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::vector<std::string>> perThread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&gen, &out = perThread[t]] {
      for (int i = 0; i < kEach; ++i) out.push_back(gen.newRecordId());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& ids : perThread) {
    for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace px

namespace px {
namespace {

// handle*: CALL_DIRECTION and ACTION, CODE agreeing with the status; NETWORK_EVENT per type.
TEST(CatalogueTest, CallDirectionRecords) {
  ServiceDataBuilder sending(EventType::kHandleBusy);
  sending.set(attr::kCode, "0")
      .set(attr::kCallDirection, "Sending")
      .set(attr::kCorrelator, "d1")
      .set(attr::kCaller, "")
      .set(attr::kCalledParty, "tel:+1")
      .set(attr::kNetworkEvent, "HandleBusy");
  EXPECT_NO_THROW(sending.build(UsageStatus::kValid));
  ServiceDataBuilder routed = sending;
  routed.set(attr::kCallDirection, "Decided").set(attr::kAction, "Route:tel:+2");
  EXPECT_NE(routed.build(UsageStatus::kValid).find("ACTION=Route:tel:+2"), std::string::npos);
  ServiceDataBuilder late = sending;
  late.set(attr::kCode, "1")
      .set(attr::kCallDirection, "Error")
      .set(attr::kAction, "Default:Continue");
  EXPECT_NO_THROW(late.build(UsageStatus::kFailedOther));
  EXPECT_THROW(late.build(UsageStatus::kValid), std::invalid_argument);  // CODE 1 but VALID
  ServiceDataBuilder wrong = sending;
  wrong.set(attr::kNetworkEvent, "HandleNoAnswer");
  EXPECT_THROW(wrong.build(UsageStatus::kValid), std::invalid_argument);
  EXPECT_THROW(ServiceDataBuilder(EventType::kNotifyAnswer).set(attr::kAction, "Continue"),
               std::invalid_argument);
  EXPECT_EQ(eventTypeFromName("notifyCallEvent_DeliveryResult"),
            EventType::kNotifyCallEventDeliveryResult);
}

}  // namespace
}  // namespace px
