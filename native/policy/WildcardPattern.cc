#include "policy/WildcardPattern.h"

#include <cstddef>

namespace px::policy {

bool matchesWildcard(std::string_view pattern, std::string_view text) {
  // Greedy match with backtracking to the last '*' only: O(pattern * text) at worst, no
  // recursion, because a later '*' can always absorb what an earlier one would have.
  size_t p = 0;
  size_t t = 0;
  size_t starP = std::string_view::npos;
  size_t starT = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      starP = p++;
      starT = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (starP != std::string_view::npos) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace px::policy
