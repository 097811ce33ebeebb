// store/PackedUsageEntries: the one-string form of a record() call's entries (js/usage.js packs
// them) decodes to the same entries, any text included, and anything else is a clear error.
#include "store/PackedUsageEntries.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace px {
namespace {

// What js/usage.js field() writes: the length in UTF-16 code units, ':', the text.
std::u16string field(const std::u16string& text) {
  const std::string n = std::to_string(text.size());
  return std::u16string(n.begin(), n.end()) + u":" + text;
}

std::string errorOf(const std::u16string& packed) {
  try {
    unpackUsageEntries(packed);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(PackedUsageEntries, DecodesEntriesWithAnyTextAsUtf8) {
  const std::u16string packed =
      field(u"g-1") + field(u"getStatus") + field(u"0") + field(u"1795536062345") + field(u"3") +
      field(u"REQUESTER") + field(u"caf\u00e9 12:34") +                 // non-ASCII, digits, colon
      field(u"TARGET") + field(u"tel:+1555\U0001F600") +                // a surrogate pair
      field(u"FAILURE_DETAIL") + field(std::u16string(u"a\0b\n", 4)) +  // NUL and a newline
      field(u"g-2") + field(u"statusNotification_DeliveryResult") + field(u"16") + field(u"-5") +
      field(u"1") + field(u"X") + field(std::u16string(1, char16_t{0xD800}));
  const std::vector<UsageEntry> entries = unpackUsageEntries(packed);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].globalId, "g-1");
  EXPECT_EQ(entries[0].eventType, "getStatus");
  EXPECT_EQ(entries[0].statusCode, 0);
  EXPECT_EQ(entries[0].recordTimeMs, 1795536062345);
  ASSERT_EQ(entries[0].attributes.size(), 3u);
  EXPECT_EQ(entries[0].attributes[0].first, "REQUESTER");
  EXPECT_EQ(entries[0].attributes[0].second, "caf\xC3\xA9 12:34");
  EXPECT_EQ(entries[0].attributes[1].second, "tel:+1555\xF0\x9F\x98\x80");
  EXPECT_EQ(entries[0].attributes[2].second, std::string("a\0b\n", 4));
  EXPECT_EQ(entries[1].statusCode, 16);
  EXPECT_EQ(entries[1].recordTimeMs, -5);
  ASSERT_EQ(entries[1].attributes.size(), 1u);
  EXPECT_EQ(entries[1].attributes[0].second, "\xEF\xBF\xBD");  // unpaired surrogate -> U+FFFD
  EXPECT_TRUE(unpackUsageEntries(u"").empty());
}

TEST(PackedUsageEntries, AnythingElseIsAnErrorNamingTheEntryAndField) {
  const std::u16string first =
      field(u"g") + field(u"getStatus") + field(u"0") + field(u"1") + field(u"0");
  EXPECT_EQ(errorOf(first + u"1g"), "usage entry 1: globalId: expected <length>:");
  EXPECT_EQ(errorOf(first + u"9:g"), "usage entry 1: globalId: field runs past the end");
  EXPECT_EQ(errorOf(field(u"g") + field(u"e") + field(u"x")),
            "usage entry 0: statusCode: not an integer");
  EXPECT_EQ(errorOf(field(u"g") + field(u"e") + field(u"")),
            "usage entry 0: statusCode: not an integer");
  EXPECT_EQ(errorOf(field(u"g") + field(u"e") + field(u"99999999999")),
            "usage entry 0: statusCode: out of range");
  EXPECT_EQ(errorOf(field(u"g") + field(u"e") + field(u"0") + field(u"1") + field(u"-1")),
            "usage entry 0: attribute count: out of range");
  EXPECT_EQ(errorOf(field(u"g") + field(u"e") + field(u"0") + field(u"1") + field(u"2") +
                    field(u"A") + field(u"a")),
            "usage entry 0: attribute name: expected <length>:");
  EXPECT_EQ(errorOf(u"1234567890123456:x"), "usage entry 0: globalId: length too long");
}

}  // namespace
}  // namespace px
