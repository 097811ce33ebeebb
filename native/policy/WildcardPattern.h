// Patterns in which '*' matches any run of characters (including none); every other character
// matches itself, case-sensitively. Used for privacy lists ("tel:+4930*", "sip:*@example.test").
#pragma once

#include <string_view>

namespace px::policy {

bool matchesWildcard(std::string_view pattern, std::string_view text);

}  // namespace px::policy
