// Character-level checks of configured values, shared by the section readers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace px::config {

bool isControl(char c);  // C0 controls and DEL
bool hasControl(std::string_view s);
// Code points of UTF-8 text (continuation bytes are not counted), so limits mean characters.
size_t charCount(std::string_view s);
// Host name (RFC 1123 labels) or dotted IPv4; IPv4 is a special case of the label syntax.
bool isHostName(std::string_view s);

}  // namespace px::config
