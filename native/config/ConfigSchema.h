// The configuration schema: every key of config/gateway.yaml declared once, with its type,
// range, default (the GatewayConfig member initialisers, read through the field), one line of
// documentation and the GatewayConfig member it fills. The loader reads and validates by it
// (GatewayConfig.cc), the binding converts GatewayConfig to JS by it (binding/Config.cc), and it
// is exported to JS as configSchema() for the CLI, docs/configuration.md and the tests that keep
// index.d.ts and config/gateway.yaml in step. Structured parts (groups.members, requesters,
// policy, outbound.allow) are one row each, of type kStructured, read by their own readers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/GatewayConfig.h"
#include "config/YamlReader.h"

namespace px::config {

enum class FieldType { kInteger, kBoolean, kString, kStringList, kEnum, kEnumList, kStructured };

// "integer", "boolean", "string", "string[]", "enum", "enum[]", "structured"
std::string_view fieldTypeName(FieldType type);

// A field's value as the binding and the schema export see it (enums as their names).
using FieldValue =
    std::variant<std::monostate, uint32_t, bool, std::string, std::vector<std::string>>;

// Where a field lives in GatewayConfig, for writing (loader) and reading (binding, defaults).
template <class T>
struct Member {
  T& (*ref)(GatewayConfig&);
  const T& (*get)(const GatewayConfig&);
};

template <class T>
Member<T> member(T& (*ref)(GatewayConfig&), const T& (*get)(const GatewayConfig&)) {
  return {ref, get};
}

// PX_CONFIG_MEMBER(http.port): both accessors of one member, from one spelling of its path.
#define PX_CONFIG_MEMBER(m)                                  \
  ::px::config::member(                                      \
      +[](::px::GatewayConfig & c) -> auto& { return c.m; }, \
      +[](const ::px::GatewayConfig& c) -> auto& { return c.m; })

using Access = std::variant<std::monostate, Member<uint32_t>, Member<uint16_t>, Member<bool>,
                            Member<std::string>, Member<std::vector<std::string>>>;

// What a field's reader and its cross-field rule see.
struct FieldInput {
  const YamlReader& yaml;
  const Item& at;  // the value; when the key is absent its path with line 0
  bool present;
  const std::map<std::string, Item>& siblings;  // the keys of its section found in the file
};

struct ConfigField {
  std::string_view key;  // dotted path, e.g. "sip.tcp.maxConnections"
  FieldType type;
  std::string_view doc;  // one line; config/gateway.yaml has the long form
  Access access;         // monostate: kStructured, or an enum with its own read/value
  uint32_t min = 0;      // kInteger: range
  uint32_t max = 0;
  std::string_view maxKey = {};                       // kInteger: max is this key's value
  uint32_t (*maxOf)(const GatewayConfig&) = nullptr;  // ... computed here
  std::vector<std::string_view> values = {};          // kEnum, kEnumList: accepted names
  // kString: validates and returns the text (every string has a format).
  std::string (*parse)(const YamlReader&, const Item&) = nullptr;
  // Replaces the generic read (lists, enums, paths); runs only for a present key unless
  // readWhenAbsent.
  void (*read)(const FieldInput&, GatewayConfig&) = nullptr;
  // Replaces the generic value (enums).
  FieldValue (*value)(const GatewayConfig&) = nullptr;
  // A rule between fields (a derived default, "must not exceed"); runs after the field is read,
  // also when it is absent.
  void (*after)(const FieldInput&, GatewayConfig&) = nullptr;
  bool readWhenAbsent = false;  // paths and the host name are resolved even when left default
  // Read before (negative) or after (positive) its siblings of rank 0, so that a file with
  // several mistakes reports the same one first as the hand-written readers did.
  int readRank = 0;
};

// Every field, in the order of config/gateway.yaml (which is also the order "known keys: ..."
// messages list a section's keys in).
const std::vector<ConfigField>& configFields();

// The field's value in `config`; monostate for kStructured.
FieldValue fieldValue(const ConfigField& field, const GatewayConfig& config);

// Reads a present (or readWhenAbsent) field the generic way or by its own reader, then its rule.
void readField(const ConfigField& field, const FieldInput& input, GatewayConfig& config);

}  // namespace px::config
