// Privacy (FAILED_PRIVACY): which targets a requester may query. Built from the privacy rules of
// every level that applies to a request (global, service, operation, requester, requester's
// service, requester's operation):
// - optedOut lists are united: a target matching any of them is refused to everyone;
// - every level that sets allowedTargets must have a pattern matching the target.
//
// Patterns use '*' (WildcardPattern). A pattern that parses as an address is put in canonical
// form first, so "sip:Alice@EXAMPLE.test" matches the canonical "sip:Alice@example.test". A
// target matches when a pattern matches its canonical form or its identity: the canonical form
// without URI parameters (tel: keeps phone-context, which is part of a local number), so that
// ";transport=tcp" cannot slip an opted-out address past the list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/PolicyConfig.h"

namespace px::policy {

class PrivacyList {
 public:
  PrivacyList() = default;
  // Levels from the most general to the most specific; null entries are skipped.
  explicit PrivacyList(const std::vector<const PrivacyRules*>& levels);

  // `canonical`: the canonical form of a parsed address (Address::canonical).
  bool allows(std::string_view canonical) const;
  // True when no level has a rule (every target allowed).
  bool empty() const { return optedOut_.empty() && allowLists_.empty(); }

 private:
  std::vector<std::string> optedOut_;
  std::vector<std::vector<std::string>> allowLists_;
};

}  // namespace px::policy
