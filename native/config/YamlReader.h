// Reading of a parsed YAML document with positions: every value is an Item that knows its dotted
// key path and line, and every accessor checks shape, type and range and throws ConfigError
// naming file, line and key. yaml-cpp only parses; everything it accepts silently (unknown and
// duplicate keys, quoted numbers, null values) is refused here.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/ConfigError.h"

namespace px::config {

// A value found in the document with where it was found.
struct Item {
  YAML::Node node;
  std::string path;  // dotted key path, "" for the document root
  int line = 0;      // 1-based; the key's line when the value itself has no position
};

// One key of a mapping: problems with the key itself are reported at keyLine, problems with
// the value at value.line (they differ when the value starts on the next line).
struct Entry {
  std::string name;
  int keyLine;
  Item value;
};

// 's' for messages, cut after 60 characters.
std::string quote(std::string_view s);
// What a node is, for "expected X, got Y" messages.
std::string describe(const YAML::Node& n);
// 1-based line of a node, or fallback when it has none (null values, nodes built in code).
int lineOf(const YAML::Node& n, int fallback);
// "a, b, c"
std::string join(const std::vector<std::string>& names);

class YamlReader {
 public:
  // file: name used in errors. configPath: the file relative paths are resolved against
  // ("" = the current directory).
  YamlReader(std::string file, std::string configPath);

  [[noreturn]] void fail(const Item& at, const std::string& message) const;

  static std::string child(const std::string& parent, const std::string& key);
  // An absent key of `parent`: its path, no node, line 0 (for defaults that still get checked).
  static Item absent(const Item& parent, const std::string& key);

  // Entries of a mapping in document order; null counts as empty so that a section whose keys
  // are all commented out keeps its defaults. Keys must be scalars and unique.
  std::vector<Entry> entries(const Item& map) const;
  // A mapping with a fixed set of keys: unknown keys are errors, with a suggestion when one of
  // the known keys is close (edit distance <= 2, case-insensitive).
  std::map<std::string, Item> fields(const Item& map, const std::vector<std::string>& known) const;
  // Elements of a list; they keep the list's path.
  std::vector<Item> list(const Item& seq) const;

  // Any scalar is text: "name: 123" is the string "123". Null is refused so that an accidentally
  // empty value is not mistaken for an intended empty string (write "" for that).
  std::string text(const Item& item) const;
  // A plain decimal integer within [min, max]; quoted numbers are strings and refused.
  uint32_t integer(const Item& item, uint32_t min, uint32_t max) const;
  // true or false (YAML 1.2 core schema spellings); quoted values are strings and refused.
  bool boolean(const Item& item) const;
  // Printable text of 1..maxChars characters (it ends up in headers and usage records).
  std::string label(const Item& item, size_t maxChars) const;

  // A path naming a file (not a directory); relative or absolute.
  std::string filePath(const Item& item) const;
  // Absolute form of `p`, relative to the config file's directory (the current directory for
  // text). The directory part is canonicalised as far as it exists so that '..' means what the
  // kernel would make of it even through symlinks; the file name itself is kept as configured.
  std::string resolvePath(const Item& at, const std::string& p) const;

 private:
  std::string file_;
  std::string configPath_;
};

}  // namespace px::config
