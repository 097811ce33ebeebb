#include "usage/ServiceData.h"

#include <stdexcept>
#include <unordered_set>

namespace px::servicedata {

void appendEscaped(std::string& out, std::string_view text) {
  // Runs without a special character are appended whole (most text has none).
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' || c == ';' || c == '=') {
      out.append(text.data() + start, i - start);
      out.push_back('\\');
      start = i;  // the character itself starts the next run
    }
  }
  out.append(text.data() + start, text.size() - start);
}

std::string encode(const Pairs& pairs) {
  std::unordered_set<std::string_view> seen;
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (key.empty()) throw std::invalid_argument("service data: empty key");
    if (!seen.insert(key).second) {
      throw std::invalid_argument("service data: repeated key '" + key + "'");
    }
    if (!out.empty()) out.push_back(';');
    appendEscaped(out, key);
    out.push_back('=');
    appendEscaped(out, value);
  }
  return out;
}

std::optional<Pairs> decode(std::string_view text) {
  Pairs pairs;
  if (text.empty()) return pairs;
  std::unordered_set<std::string> seen;
  std::string key;
  std::string value;
  bool inValue = false;  // an unescaped '=' of the current pair has been read
  // Closes the current pair; false when it is malformed.
  auto finishPair = [&]() {
    if (!inValue || key.empty() || !seen.insert(key).second) return false;
    pairs.emplace_back(std::move(key), std::move(value));
    key.clear();
    value.clear();
    inValue = false;
    return true;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size()) return std::nullopt;  // dangling escape
      c = text[++i];
      if (c != '\\' && c != ';' && c != '=') return std::nullopt;
    } else if (c == ';') {
      if (!finishPair()) return std::nullopt;
      continue;
    } else if (c == '=') {
      if (inValue) return std::nullopt;  // encode never writes a bare second '='
      inValue = true;
      continue;
    }
    (inValue ? value : key).push_back(c);
  }
  if (!finishPair()) return std::nullopt;
  return pairs;
}

}  // namespace px::servicedata
