// ASCII character classes for the grammars the core parses (SIP/tel URIs, YAML values).
// Locale-independent on purpose: <cctype> depends on the process locale.
#pragma once

#include <string>
#include <string_view>

namespace px::ascii {

constexpr bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isAlnum(char c) {
  return isAlpha(c) || isDigit(c);
}
constexpr bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr char toLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
// A lower-cased copy.
inline std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = toLower(c);
  return out;
}
constexpr bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

}  // namespace px::ascii
