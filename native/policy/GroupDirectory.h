// Group addresses (config `groups`): an address whose URI scheme is one of the group schemes
// names a group. Its members are listed in the configuration (`groups.members`, which do not
// nest) or, for a group the YAML does not list, in the XDMS (`groups.xcap`, XcapGroups.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/GatewayConfig.h"
#include "policy/XcapGroups.h"

namespace px::policy {

class GroupDirectory {
 public:
  explicit GroupDirectory(const GroupsConfig& config);

  // True when the scheme of `address` (before ':', any case) is a group scheme.
  bool isGroup(std::string_view address) const;
  // The members of a group address: from the YAML when it lists the group, else from the XCAP
  // documents fetched (the list named by the part after the scheme). nullopt when the group is
  // unresolved. Group URIs are compared with the scheme in lower case and the rest as written.
  // `nested`, when given, is set to whether the group resolves through nested lists (an XCAP
  // <list> or <external> inside the group's list; YAML groups never nest), also when a nested
  // list is unresolved.
  std::optional<std::vector<std::string>> members(std::string_view address,
                                                  bool* nested = nullptr) const;

  // The XCAP documents to fetch before members() can answer for the groups among `addresses`
  // (XcapGroups::needed); empty without groups.xcap.
  std::vector<std::string> documentsNeeded(const std::vector<std::string>& addresses,
                                           int64_t nowMs) const;
  XcapGroups& xcap() { return xcap_; }
  const XcapGroups& xcap() const { return xcap_; }

 private:
  // The XCAP list name of a group address the YAML does not list; nullopt otherwise.
  std::optional<std::string> xcapName(std::string_view address) const;

  XcapGroups xcap_;
  std::vector<std::string> schemes_;  // lower-case
  std::map<std::string, std::vector<std::string>, std::less<>> members_;
};

}  // namespace px::policy
