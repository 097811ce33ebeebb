// Address plan validation (FAILED_ADDRESS_PLAN_VALIDATION): the rules of every level that applies
// to a request, all of which must hold.
// - e164Only (any level): tel: numbers must be global ("+" and 1..15 digits).
// - countryCodes (each level that sets it): a global tel: number's digits must start with one of
//   the codes. A local number is accepted only when its phone-context is a global number prefix
//   ("+49") that starts with one of them; a domain phone-context tells no country and is refused.
// - telPatterns (all of all levels): ECMAScript regular expressions that the whole tel: number
//   ("+4930123456", or the local digits) must match; compiled once, here.
// - sipDomains (each level that sets it): sip:/sips: hosts must be one of the domains or a
//   subdomain of one, case-insensitively; IP address hosts only match a domain equal to them.
// tel: rules do not look at sip: addresses and the other way round.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "address/Address.h"
#include "config/PolicyConfig.h"

namespace px::policy {

class AddressPlan {
 public:
  AddressPlan() = default;
  // Levels from the most general to the most specific; null entries are skipped. Throws
  // std::invalid_argument naming the pattern when a telPattern is not a valid regular expression.
  explicit AddressPlan(const std::vector<const AddressPlanRules*>& levels);

  bool allows(const Address& address) const;
  bool empty() const;  // no rule at all

 private:
  bool allowsTel(const Address& address) const;
  bool allowsSip(const Address& address) const;

  bool e164Only_ = false;
  std::vector<std::vector<std::string>> countryCodeLists_;
  std::vector<std::regex> telPatterns_;
  std::vector<std::vector<std::string>> sipDomainLists_;  // lower-case, no trailing dot
};

}  // namespace px::policy
