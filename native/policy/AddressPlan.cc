// GCC 12 reports a false -Wmaybe-uninitialized inside <regex>'s std::function when built with
// -fsanitize (PX_SANITIZE; GCC bug 105562). Set before any include: the warning is located in the
// library headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "policy/AddressPlan.h"

#include <stdexcept>
#include <string_view>

#include "common/Ascii.h"

namespace px::policy {
namespace {

std::string lowerDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  return ascii::lowered(domain);
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// An IP literal has no subdomains: "[::1]" or a dotted quad (its last label is digits, which a
// host name's never is).
bool isIpHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') return true;
  const size_t dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  return !last.empty() && ascii::isDigit(last.front());
}

bool inDomain(std::string_view host, std::string_view domain) {
  if (host == domain) return true;
  if (isIpHost(host) || host.size() <= domain.size()) return false;
  return host.substr(host.size() - domain.size()) == domain &&
         host[host.size() - domain.size() - 1] == '.';
}

}  // namespace

AddressPlan::AddressPlan(const std::vector<const AddressPlanRules*>& levels) {
  for (const AddressPlanRules* rules : levels) {
    if (rules == nullptr) continue;
    if (rules->e164Only.value_or(false)) e164Only_ = true;
    if (rules->countryCodes) countryCodeLists_.push_back(*rules->countryCodes);
    for (const std::string& pattern : rules->telPatterns) {
      try {
        telPatterns_.emplace_back(pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        throw std::invalid_argument("address plan: bad telPattern '" + pattern + "': " + e.what());
      }
    }
    if (rules->sipDomains) {
      std::vector<std::string> domains;
      domains.reserve(rules->sipDomains->size());
      for (const std::string& d : *rules->sipDomains) domains.push_back(lowerDomain(d));
      sipDomainLists_.push_back(std::move(domains));
    }
  }
}

bool AddressPlan::empty() const {
  return !e164Only_ && countryCodeLists_.empty() && telPatterns_.empty() && sipDomainLists_.empty();
}

bool AddressPlan::allows(const Address& address) const {
  return address.scheme == AddressScheme::kTel ? allowsTel(address) : allowsSip(address);
}

bool AddressPlan::allowsTel(const Address& address) const {
  const std::string_view number = address.user;
  const bool global = !number.empty() && number.front() == '+';
  if (e164Only_ && !global) return false;

  if (!countryCodeLists_.empty()) {
    // The digits that say which country: the number's own, or a global phone-context's.
    std::string_view international;
    if (global) {
      international = number.substr(1);
    } else if (!address.host.empty() && address.host.front() == '+') {
      international = std::string_view(address.host).substr(1);
    } else {
      return false;
    }
    for (const std::vector<std::string>& codes : countryCodeLists_) {
      bool found = false;
      for (const std::string& code : codes) {
        if (!code.empty() && startsWith(international, code)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
  }

  for (const std::regex& pattern : telPatterns_) {
    try {
      if (!std::regex_match(number.begin(), number.end(), pattern)) return false;
    } catch (const std::regex_error&) {
      return false;  // too complex for this number: refuse rather than let it through
    }
  }
  return true;
}

bool AddressPlan::allowsSip(const Address& address) const {
  if (sipDomainLists_.empty()) return true;
  std::string_view host = address.host;  // already lower-case (address module)
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  for (const std::vector<std::string>& domains : sipDomainLists_) {
    bool found = false;
    for (const std::string& domain : domains) {
      if (inDomain(host, domain)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace px::policy
