// The row builders of the configuration table (ConfigSchema.cc and the section files beside it):
// one function per field type, and the range checks several sections share. Internal to
// native/config.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/ConfigSchema.h"

namespace px::config::schema {

inline ConfigField integer(std::string_view key, Member<uint32_t> m, uint32_t min, uint32_t max,
                           std::string_view doc) {
  ConfigField f{key, FieldType::kInteger, doc, m};
  f.min = min;
  f.max = max;
  return f;
}

inline ConfigField port(std::string_view key, Member<uint16_t> m, std::string_view doc) {
  ConfigField f{key, FieldType::kInteger, doc, m};
  f.max = 65535;
  return f;
}

inline ConfigField boolean(std::string_view key, Member<bool> m, std::string_view doc) {
  return ConfigField{key, FieldType::kBoolean, doc, m};
}

inline ConfigField text(std::string_view key, Member<std::string> m,
                        std::string (*parse)(const YamlReader&, const Item&),
                        std::string_view doc) {
  ConfigField f{key, FieldType::kString, doc, m};
  f.parse = parse;
  return f;
}

inline ConfigField list(std::string_view key, Member<std::vector<std::string>> m,
                        void (*read)(const FieldInput&, GatewayConfig&), std::string_view doc) {
  ConfigField f{key, FieldType::kStringList, doc, m};
  f.read = read;
  return f;
}

inline ConfigField structured(std::string_view key, void (*read)(const FieldInput&, GatewayConfig&),
                              std::string_view doc) {
  ConfigField f{key, FieldType::kStructured, doc, std::monostate{}};
  f.read = read;
  return f;
}

inline ConfigField then(ConfigField f, void (*after)(const FieldInput&, GatewayConfig&)) {
  f.after = after;
  return f;
}

inline ConfigField ranked(ConfigField f, int rank) {
  f.readRank = rank;
  return f;
}

inline std::string label127(const YamlReader& yaml, const Item& item) {
  return yaml.label(item, 127);
}
// "" (the field's computed default) or a label of 1..127 characters.
inline std::string optionalLabel127(const YamlReader& yaml, const Item& item) {
  return yaml.text(item).empty() ? std::string() : yaml.label(item, 127);
}
inline std::string label255(const YamlReader& yaml, const Item& item) {
  return yaml.label(item, 255);
}

// "must not exceed <key> (<limit>), got <value>" at `at` when a present value is above limit.
inline void atMost(const FieldInput& in, uint32_t value, uint32_t limit,
                   std::string_view limitKey) {
  if (in.present && value > limit) {
    in.yaml.fail(in.at, "must not exceed " + std::string(limitKey) + " (" + std::to_string(limit) +
                            "), got " + std::to_string(value));
  }
}

// A maximum smaller than its minimum, reported at the maximum or, when it is left default, at
// the minimum that was raised above it.
inline void notBelow(const FieldInput& in, uint32_t max, uint32_t min, const char* minKey,
                     const std::string& message) {
  if (max < min) in.yaml.fail(in.present ? in.at : in.siblings.at(minKey), message);
}

}  // namespace px::config::schema
