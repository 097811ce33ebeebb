// The schema table (native/config/ConfigSchema) drives the loader: every row is read from its
// key path, checked against its range, and reports its value; the loader's sections and their
// known keys are the table's.
#include "config/ConfigSchema.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <variant>

#include "support/ConfigErrors.h"

namespace px {
namespace {

using config::ConfigField;
using config::configFields;
using config::FieldType;
using config::FieldValue;
using px::testing::loadError;

// "a.b.c: v" as block YAML: the value on line 1 + depth.
std::string yamlAt(std::string_view key, const std::string& value) {
  std::string out;
  std::string indent;
  for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.')) {
    out += indent + std::string(key.substr(0, dot)) + ":\n";
    indent += "  ";
    key.remove_prefix(dot + 1);
  }
  return out + indent + std::string(key) + ": " + value + "\n";
}

int depth(std::string_view key) {
  return static_cast<int>(std::count(key.begin(), key.end(), '.'));
}

TEST(ConfigSchema, KeysAreUniqueAndDocumented) {
  std::set<std::string_view> keys;
  for (const ConfigField& field : configFields()) {
    EXPECT_TRUE(keys.insert(field.key).second) << field.key;
    EXPECT_FALSE(field.doc.empty()) << field.key;
    if (field.type == FieldType::kInteger) {
      EXPECT_LE(field.min, field.max) << field.key;
    }
    if (field.type == FieldType::kString) {
      EXPECT_TRUE(field.parse != nullptr || field.read != nullptr) << field.key;
    }
    if (field.type == FieldType::kStringList || field.type == FieldType::kEnum ||
        field.type == FieldType::kEnumList) {
      EXPECT_NE(field.read, nullptr) << field.key;
    }
    if (!field.maxKey.empty()) {
      EXPECT_EQ(keys.count(field.maxKey), 1U) << field.key;
    }
  }
}

// Each integer row's range is what the loader enforces at that key (a row the loader did not
// read would load the out-of-range value silently).
TEST(ConfigSchema, LoaderEnforcesEveryIntegerRange) {
  const GatewayConfig defaults;
  for (const ConfigField& field : configFields()) {
    if (field.type != FieldType::kInteger) continue;
    SCOPED_TRACE(std::string(field.key));
    const uint32_t max = field.maxOf ? field.maxOf(defaults) : field.max;
    const std::string range = std::to_string(field.min) + ".." + std::to_string(max);
    const ConfigError above = loadError(yamlAt(field.key, std::to_string(uint64_t{max} + 1)));
    EXPECT_EQ(above.key(), field.key);
    EXPECT_EQ(above.line(), 1 + depth(field.key));
    EXPECT_NE(std::string(above.what()).find("expected an integer in " + range), std::string::npos)
        << above.what();
    if (field.min > 0) {
      const ConfigError below = loadError(yamlAt(field.key, std::to_string(field.min - 1)));
      EXPECT_EQ(below.key(), field.key);
    }
  }
}

// Keys that a rule ties to others: the section lines a flipped value needs beside it (appended
// under the key's own section, one level deep).
const std::map<std::string_view, std::string>& companions() {
  static const std::map<std::string_view, std::string> kCompanions = {
      {"camara.enabled",
       "  auth:\n    issuer: https://issuer.test\n    audience: gateway\n"
       "    jwksUrl: https://issuer.test/jwks\n"},
      {"store.backend", "  url: postgresql://gateway@127.0.0.1/usage\n"},
  };
  return kCompanions;
}

// A value set in the file is the value the table reports for the field (the binding and
// configSchema() read it through the same row).
TEST(ConfigSchema, ReadValueIsReportedValue) {
  for (const ConfigField& field : configFields()) {
    SCOPED_TRACE(std::string(field.key));
    std::string text;
    FieldValue expected;
    if (field.type == FieldType::kInteger) {
      // The minimum, or the maximum where a rule ties the key to a larger one (a backoff or
      // lock-out maximum).
      bool loaded = false;
      for (const uint32_t value : {field.min, field.max}) {
        try {
          const GatewayConfig c = loadConfigText(yamlAt(field.key, std::to_string(value)), "t");
          EXPECT_EQ(config::fieldValue(field, c), FieldValue(value));
          loaded = true;
          break;
        } catch (const ConfigError&) {
        }
      }
      EXPECT_TRUE(loaded);
      continue;
    } else if (field.type == FieldType::kBoolean) {
      const bool flipped = !std::get<bool>(config::fieldValue(field, GatewayConfig{}));
      text = flipped ? "true" : "false";
      expected = flipped;
    } else if (field.type == FieldType::kEnum) {
      text = std::string(field.values.back());
      expected = text;
    } else if (field.type == FieldType::kEnumList) {
      text = "[" + std::string(field.values.back()) + "]";
      expected = std::vector<std::string>{std::string(field.values.back())};
    } else {
      continue;  // formats are covered by the section tests
    }
    const auto companion = companions().find(field.key);
    const GatewayConfig loaded = loadConfigText(
        yamlAt(field.key, text) + (companion == companions().end() ? "" : companion->second),
        "test.yaml");
    EXPECT_EQ(config::fieldValue(field, loaded), expected);
  }
}

TEST(ConfigSchema, UnknownKeyListsTheTableKeysOfItsSection) {
  const ConfigError e = loadError("presence:\n  zzzzzzzzzz: 1\n");
  EXPECT_NE(std::string(e.what()).find(
                "known keys: source, fetchTimeoutMs, busyActivities, subscriptionExpiresSec, "
                "subscribeTimeoutMs, resubscribeBackoffMs, resubscribeBackoffMaxMs, "
                "maxSubscribeFailures, maxSubscribesInFlight, answerFromSubscriptions, "
                "resourceLists"),
            std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace px
