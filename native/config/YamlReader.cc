#include "config/YamlReader.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/Ascii.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

constexpr std::string_view kIntTag = "tag:yaml.org,2002:int";

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that the
// common "trasnports" typo counts as one edit.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string quote(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out = "'";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "'";
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return n.Tag() == "!" ? "the quoted string " + quote(n.Scalar()) : quote(n.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing (null)";
}

int lineOf(const YAML::Node& n, int fallback) {
  if (n.IsNull()) return fallback;  // a missing value's mark points at the next token
  const YAML::Mark m = n.Mark();
  return m.is_null() ? fallback : m.line + 1;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

YamlReader::YamlReader(std::string file, std::string configPath)
    : file_(std::move(file)), configPath_(std::move(configPath)) {}

void YamlReader::fail(const Item& at, const std::string& message) const {
  throw ConfigError(file_, at.line, at.path, message);
}

std::string YamlReader::child(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

Item YamlReader::absent(const Item& parent, const std::string& key) {
  return Item{YAML::Node(), child(parent.path, key), 0};
}

std::vector<Entry> YamlReader::entries(const Item& map) const {
  std::vector<Entry> out;
  if (map.node.IsNull()) return out;
  if (!map.node.IsMap()) fail(map, "expected a mapping, got " + describe(map.node));
  std::map<std::string, int> seen;  // key -> line
  // By value: yaml-cpp iterators yield temporaries, references into them dangle.
  for (const auto& kv : map.node) {
    const YAML::Node key = kv.first;
    const YAML::Node value = kv.second;
    const int keyLine = lineOf(key, map.line);
    if (!key.IsScalar()) {
      fail(Item{key, map.path, keyLine}, "keys must be strings, got " + describe(key));
    }
    const std::string name = key.Scalar();
    const std::string path = child(map.path, name);
    // yaml-cpp keeps duplicates in iteration, so they are caught here.
    if (auto [pos, fresh] = seen.emplace(name, keyLine); !fresh) {
      fail(Item{key, path, keyLine},
           "duplicate key " + quote(name) + " (first at line " + std::to_string(pos->second) + ")");
    }
    out.push_back(Entry{name, keyLine, Item{value, path, lineOf(value, keyLine)}});
  }
  return out;
}

std::map<std::string, Item> YamlReader::fields(const Item& map,
                                               const std::vector<std::string>& known) const {
  std::map<std::string, Item> out;
  for (auto& [name, keyLine, item] : entries(map)) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string best;
      size_t bestDistance = 3;
      for (const auto& k : known) {
        const size_t d = editDistance(ascii::lowered(name), ascii::lowered(k));
        if (d < bestDistance) {
          bestDistance = d;
          best = k;
        }
      }
      std::string message = "unknown key " + quote(name);
      message += best.empty() ? " (known keys: " + join(known) + ")"
                              : " (did you mean " + quote(best) + "?)";
      fail(Item{item.node, item.path, keyLine}, message);
    }
    out.emplace(name, std::move(item));
  }
  return out;
}

std::vector<Item> YamlReader::list(const Item& seq) const {
  if (!seq.node.IsSequence()) fail(seq, "expected a list, got " + describe(seq.node));
  std::vector<Item> out;
  for (const auto& element : seq.node) {
    out.push_back(Item{element, seq.path, lineOf(element, seq.line)});
  }
  return out;
}

std::string YamlReader::text(const Item& item) const {
  if (!item.node.IsScalar()) {
    std::string got = describe(item.node);
    if (item.node.IsNull()) got += "; write \"\" for an empty string";
    fail(item, "expected a string, got " + got);
  }
  return item.node.Scalar();
}

uint32_t YamlReader::integer(const Item& item, uint32_t min, uint32_t max) const {
  const std::string expected =
      "expected an integer in " + std::to_string(min) + ".." + std::to_string(max);
  if (!item.node.IsScalar() || (item.node.Tag() != "?" && item.node.Tag() != kIntTag)) {
    fail(item, expected + ", got " + describe(item.node));
  }
  const std::string& s = item.node.Scalar();
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  const bool negative = i == 1 && s[0] == '-';
  if (i == s.size() ||
      !std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(), ascii::isDigit)) {
    fail(item, expected + ", got " + describe(item.node));
  }
  while (i + 1 < s.size() && s[i] == '0') ++i;  // leading zeros do not count towards overflow
  const std::string digits = s.substr(i);
  // More than 10 digits is out of range anyway; stoull cannot overflow below that.
  const unsigned long long value = digits.size() > 10 ? ~0ULL : std::stoull(digits);
  if ((negative && value != 0) || value < min || value > max) {
    fail(item, expected + ", got " + s);
  }
  return static_cast<uint32_t>(value);
}

bool YamlReader::boolean(const Item& item) const {
  if (item.node.IsScalar() && item.node.Tag() == "?") {
    const std::string v = item.node.Scalar();
    if (v == "true" || v == "True" || v == "TRUE") return true;
    if (v == "false" || v == "False" || v == "FALSE") return false;
  }
  fail(item, "expected true or false, got " + describe(item.node));
}

std::string YamlReader::label(const Item& item, size_t maxChars) const {
  const std::string s = text(item);
  const size_t n = charCount(s);
  if (n < 1 || n > maxChars || hasControl(s)) {
    fail(item, "expected 1.." + std::to_string(maxChars) +
                   " characters without control characters, got " + describe(item.node));
  }
  return s;
}

std::string YamlReader::filePath(const Item& item) const {
  const std::string s = text(item);
  if (s.empty()) fail(item, "expected a file path, got \"\"");
  if (hasControl(s)) fail(item, "expected a file path without control characters");
  const std::string name = std::filesystem::path(s).filename().string();
  if (s.back() == '/' || name == "." || name == "..") {
    fail(item, "expected a file path, got the directory " + quote(s));
  }
  return s;
}

std::string YamlReader::resolvePath(const Item& at, const std::string& p) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path full(p);
  if (full.is_relative()) {
    const fs::path base =
        configPath_.empty() ? fs::current_path(ec) : fs::absolute(configPath_, ec).parent_path();
    if (ec) fail(at, "cannot resolve the relative path " + quote(p) + ": " + ec.message());
    full = base / full;
  }
  const fs::path dir = fs::weakly_canonical(full.parent_path(), ec);
  // Unresolvable (e.g. an unreadable directory): the joined absolute path means the same.
  return ec ? full.string() : (dir / full.filename()).string();
}

}  // namespace px::config
