// Group addresses (config `groups`): an address whose URI scheme is one of the group schemes
// names a group, whose members are listed in the configuration. Groups do not nest.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/GatewayConfig.h"

namespace px::policy {

class GroupDirectory {
 public:
  explicit GroupDirectory(const GroupsConfig& config);

  // True when the scheme of `address` (before ':', any case) is a group scheme.
  bool isGroup(std::string_view address) const;
  // The members of a group address as configured; nullptr for a group that is not configured.
  // Group URIs are compared with the scheme in lower case and the rest as written.
  const std::vector<std::string>* members(std::string_view address) const;

 private:
  std::vector<std::string> schemes_;  // lower-case
  std::map<std::string, std::vector<std::string>, std::less<>> members_;
};

}  // namespace px::policy
