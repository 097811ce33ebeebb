#include "policy/GroupDirectory.h"

#include "common/Ascii.h"

namespace px::policy {
namespace {

// "GlmGroup:Team" -> "glmgroup:Team"; text without ':' is returned as it is.
std::string groupKey(std::string_view address) {
  std::string key(address);
  const size_t colon = key.find(':');
  if (colon == std::string::npos) return key;
  for (size_t i = 0; i < colon; ++i) key[i] = ascii::toLower(key[i]);
  return key;
}

}  // namespace

GroupDirectory::GroupDirectory(const GroupsConfig& config) {
  for (const std::string& scheme : config.schemes) schemes_.push_back(ascii::lowered(scheme));
  for (const auto& [uri, list] : config.members) members_.emplace(groupKey(uri), list);
}

bool GroupDirectory::isGroup(std::string_view address) const {
  const size_t colon = address.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view scheme = address.substr(0, colon);
  for (const std::string& s : schemes_) {
    if (ascii::equalsNoCase(scheme, s)) return true;
  }
  return false;
}

const std::vector<std::string>* GroupDirectory::members(std::string_view address) const {
  const auto it = members_.find(groupKey(address));
  return it == members_.end() ? nullptr : &it->second;
}

}  // namespace px::policy
