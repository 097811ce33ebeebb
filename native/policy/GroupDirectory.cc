#include "policy/GroupDirectory.h"

#include <utility>

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

GroupDirectory::GroupDirectory(const GroupsConfig& config) : xcap_(config.xcap) {
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

std::optional<std::vector<std::string>> GroupDirectory::members(std::string_view address,
                                                                bool* nested) const {
  if (nested != nullptr) *nested = false;
  const auto it = members_.find(groupKey(address));
  if (it != members_.end()) return it->second;
  const std::optional<std::string> name = xcapName(address);
  if (!name) return std::nullopt;
  XcapGroups::Resolution resolved = xcap_.resolve(*name);
  if (nested != nullptr) *nested = resolved.nested;
  if (!resolved.ok) return std::nullopt;
  return std::move(resolved.members);
}

std::optional<std::string> GroupDirectory::xcapName(std::string_view address) const {
  if (!xcap_.enabled() || !isGroup(address) || members_.count(groupKey(address)) != 0) {
    return std::nullopt;
  }
  const std::string_view name = address.substr(address.find(':') + 1);
  if (name.empty()) return std::nullopt;
  return std::string(name);
}

std::vector<std::string> GroupDirectory::documentsNeeded(const std::vector<std::string>& addresses,
                                                         int64_t nowMs) const {
  std::vector<std::string> names;
  for (const std::string& a : addresses) {
    if (std::optional<std::string> name = xcapName(a)) names.push_back(std::move(*name));
  }
  if (names.empty()) return {};
  return xcap_.needed(names, nowMs);
}

}  // namespace px::policy
