#include "policy/PrivacyList.h"

#include <optional>

#include "address/Address.h"
#include "policy/WildcardPattern.h"

namespace px::policy {
namespace {

std::string normalizePattern(const std::string& pattern) {
  const AddressParseResult parsed = parseAddress(pattern);
  return parsed.ok() ? parsed.address.canonical : pattern;
}

std::vector<std::string> normalizePatterns(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  out.reserve(patterns.size());
  for (const std::string& p : patterns) out.push_back(normalizePattern(p));
  return out;
}

// The canonical form without URI parameters; nullopt when it has none (same as canonical).
std::optional<std::string> identityOf(std::string_view canonical) {
  if (canonical.find(';') == std::string_view::npos) return std::nullopt;
  const AddressParseResult parsed = parseAddress(canonical);
  if (!parsed.ok()) return std::nullopt;
  const Address& a = parsed.address;
  std::string id;
  if (a.scheme == AddressScheme::kTel) {
    id = "tel:" + a.user;
    if (!a.host.empty()) id += ";phone-context=" + a.host;
  } else {
    id = a.scheme == AddressScheme::kSips ? "sips:" : "sip:";
    if (!a.user.empty()) id += a.user + "@";
    id += a.host;
    if (a.port != 0) id += ":" + std::to_string(a.port);
  }
  if (id == canonical) return std::nullopt;
  return id;
}

bool anyMatches(const std::vector<std::string>& patterns, std::string_view canonical,
                const std::optional<std::string>& identity) {
  for (const std::string& p : patterns) {
    if (matchesWildcard(p, canonical)) return true;
    if (identity && matchesWildcard(p, *identity)) return true;
  }
  return false;
}

}  // namespace

PrivacyList::PrivacyList(const std::vector<const PrivacyRules*>& levels) {
  for (const PrivacyRules* rules : levels) {
    if (rules == nullptr) continue;
    for (const std::string& p : rules->optedOut) optedOut_.push_back(normalizePattern(p));
    if (rules->allowedTargets) allowLists_.push_back(normalizePatterns(*rules->allowedTargets));
  }
}

bool PrivacyList::allows(std::string_view canonical) const {
  if (empty()) return true;
  const std::optional<std::string> identity = identityOf(canonical);
  if (anyMatches(optedOut_, canonical, identity)) return false;
  for (const std::vector<std::string>& allowed : allowLists_) {
    if (!anyMatches(allowed, canonical, identity)) return false;
  }
  return true;
}

}  // namespace px::policy
